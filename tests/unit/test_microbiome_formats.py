"""Microbiome files as MetaPhlAn, Kraken2, Bracken and taxpasta write them
(fixtures in tests/data/formats/microbiome, values checked by hand-computed expectations)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from precex.microbiome.features import compute_features, map_samples
from precex.microbiome.readers import read_microbiome
from precex.problems import InputError

DATA = Path(__file__).parents[1] / "data" / "formats" / "microbiome"


def profile(names, patients):
    tables = [read_microbiome(str(DATA / n)) for n in names]
    mapped, problems = [], []
    for t in tables:
        values, found = map_samples(t, None, set(patients))
        mapped.append((t, values))
        problems += found
    result = compute_features(mapped, min_depth=100)
    return tables, result.features, problems + result.problems


def test_metaphlan_sample_id_line_names_the_sample_else_the_file():
    assert list(read_microbiome(str(DATA / "run42_lane1.txt")).values.index) == ["P302"]
    assert list(read_microbiome(str(DATA / "P301.txt")).values.index) == ["P301"]


def test_per_sample_profiles_are_pooled_before_batch_features():
    _, f, problems = profile(["P301.txt", "run42_lane1.txt"], ["P301", "P302"])
    assert problems == []
    # Genus shares (the four genus rows sum to 100): P301 .2 .3 .4 .1, P302 .05 .15 .7 .1
    a = np.array([0.2, 0.3, 0.4, 0.1])
    b = np.array([0.05, 0.15, 0.7, 0.1])
    centroid = (a + b) / 2
    expected = [np.abs(x - centroid).sum() / (x.sum() + centroid.sum()) for x in (a, b)]
    np.testing.assert_allclose(f.loc[["P301", "P302"], "bray_curtis_to_centroid"], expected)
    assert (f["bray_curtis_to_centroid"] > 0).all()  # never 0 per file


def test_phyla_from_the_profile_rows_and_species_level_guilds():
    _, f, _ = profile(["P301.txt"], ["P301"])
    assert f.loc["P301", "bacillota_pct"] == pytest.approx(50.0)  # p__Firmicutes row
    assert f.loc["P301", "bacteroidota_pct"] == pytest.approx(40.0)
    # Faecalibacterium prausnitzii 30 + Eubacterium rectale 20 (under an unclassified genus)
    assert f.loc["P301", "guild_butyrate_producers_pct"] == pytest.approx(50.0)


def test_a_profile_without_detections_excludes_that_sample_only():
    tables, f, problems = profile(["P301.txt", "P303.txt"], ["P301", "P303"])
    assert list(f.index) == ["P301"]
    mine = [p for p in problems if p.patient_id == "P303"]
    assert len(mine) == 1 and "no detections" in mine[0].message and mine[0].excludes


@pytest.mark.parametrize("name", ["P401.kreport2", "P402.kreport2"])
def test_kraken2_report_direct_reads_and_lineage(name):
    table = read_microbiome(str(DATA / name))
    assert table.format == "kraken2" and table.relative is False
    sample = name.split(".")[0]
    # Direct reads of bacterial taxa: 5+60+240+20+100+20+100+200 = 745 (unclassified reads,
    # and the 5 reads placed only at the root, are not bacteria: left out, and noted)
    assert table.values.loc[sample].sum() == pytest.approx(745)
    assert "no domain (root) 0.7 %" in table.left_out[sample]
    assert table.lineage["853"].endswith("g__Faecalibacterium|s__Faecalibacterium_prausnitzii")
    assert "s__Roseburia_intestinalis" in table.lineage["999999"]  # a strain keeps its species
    _, f, _ = profile([name], [sample])
    # Phylum shares of bacterial reads: Bacillota 440/745, Bacteroidota 300/745
    assert f.loc[sample, "bacillota_pct"] == pytest.approx(100 * 440 / 745)
    assert f.loc[sample, "bacteroidota_pct"] == pytest.approx(100 * 300 / 745)
    # Butyrate producers: Faecalibacterium 60 + F. prausnitzii 240 + Roseburia 20
    # + R. intestinalis 100 + its strain 20 (direct reads, no read counted twice)
    assert f.loc[sample, "guild_butyrate_producers_pct"] == pytest.approx(100 * 440 / 745)


def test_bracken_table():
    table = read_microbiome(str(DATA / "P403.bracken"))
    assert table.format == "bracken"
    np.testing.assert_allclose(table.values.loc["P403", ["853", "166486", "820"]],
                               [295, 125, 300])
    _, f, problems = profile(["P403.bracken"], ["P403"])
    assert f.loc["P403", "guild_butyrate_producers_pct"] == pytest.approx(100 * 420 / 720)
    # one rank, no phylum information: phylum shares are missing, not 0, and it is said
    assert pd.isna(f.loc["P403", "bacillota_pct"]) and pd.isna(f.loc["P403", "bacteroidota_pct"])
    assert any("no phylum information" in p.message and not p.excludes for p in problems)


def test_taxpasta_merged_table_with_lineages():
    table = read_microbiome(str(DATA / "taxpasta_merged.tsv"))
    assert table.format == "taxpasta"
    assert list(table.values.index) == ["S501", "S502", "S503"]
    assert "0" not in table.values.columns  # unclassified reads are left out
    _, f, _ = profile(["taxpasta_merged.tsv"], ["S501", "S502", "S503"])
    # S501: F. prausnitzii 400, Bacteroides 100, [E.] rectale 300, Bacillota (phylum only) 200
    total = 1000
    assert f.loc["S501", "bacillota_pct"] == pytest.approx(100 * 900 / total)
    assert f.loc["S501", "guild_butyrate_producers_pct"] == pytest.approx(100 * 700 / total)
    # S502 and S503 from the same table
    assert f.loc["S503", "bacteroidota_pct"] == pytest.approx(100 * 200 / 350)


def test_taxpasta_without_ranks_says_how_to_rerun(tmp_path):
    path = tmp_path / "plain.tsv"
    path.write_text("taxonomy_id\tS1\n853\t10\n816\t5\n")
    with pytest.raises(Exception) as err:
        read_microbiome(str(path))
    assert "--add-rank-lineage" in str(err.value)
    assert isinstance(pd.DataFrame(), pd.DataFrame)


def test_one_unreadable_per_sample_file_excludes_its_patient_only(tmp_path):
    import shutil

    from precex.microbiome import stage

    shutil.copy(DATA / "P301.txt", tmp_path / "P301.txt")
    (tmp_path / "P304.txt").write_text("this is not a profile\n")
    (tmp_path / "roster.tsv").write_text("patient_id\tstatus\tage\nP301\tvalid\t60\n"
                                         "P304\tvalid\t61\n")
    out = {k: str(tmp_path / f"{k}.tsv") for k in ("features", "clr", "exclusions", "problems")}
    stage.run(inputs=stage.Inputs(tables=[str(tmp_path / "P301.txt"),
                                          str(tmp_path / "P304.txt")],
                                  roster=str(tmp_path / "roster.tsv")),
              outputs=stage.Outputs(features=out["features"], genus_clr=out["clr"],
                                    exclusions=out["exclusions"], problems=out["problems"]),
              params=stage.Params(min_depth=100))
    features = pd.read_csv(out["features"], sep="\t", index_col=0)
    assert list(features.index) == ["P301"]
    excl = pd.read_csv(out["exclusions"], sep="\t")
    assert list(excl["patient_id"]) == ["P304"] and "left out" in excl["reason"].iloc[0]


def _mapped(names, sample_map, patients):
    from precex.roster import read_sample_map

    mapping = read_sample_map(str(DATA / sample_map), "microbiome")
    mapped, problems = [], []
    for name in names:
        table = read_microbiome(str(DATA / name))
        values, found = map_samples(table, mapping, set(patients))
        mapped.append((table, values))
        problems += found
    result = compute_features(mapped, min_depth=100)
    return result.features, problems + result.problems


# Shares written in the profiles' own phylum rows (checked by hand): MetaPhlAn 4 (vOct22,
# SGB rows, UNCLASSIFIED 12.5) and MetaPhlAn 3 (v30), under the old names Firmicutes and
# Bacteroidetes, named by run accessions and mapped to patients by the sample map.
PHYLA = {"P501": (27.90168, 31.03622), "P502": (55.2, 30.1)}


@pytest.mark.parametrize("names", [["SRS014476.txt", "SRS015989.txt"],
                                   ["merged_abundance_table.txt"]])
def test_metaphlan_phylum_shares_come_from_the_profiles_own_rows_through_a_sample_map(names):
    features, problems = _mapped(names, "metaphlan_sample_map.tsv", {"P501", "P502"})
    assert not [p for p in problems if p.excludes], problems
    for pid, (bacillota, bacteroidota) in PHYLA.items():
        row = features.loc[pid]
        assert row["bacillota_pct"] == pytest.approx(bacillota, abs=1e-6)
        assert row["bacteroidota_pct"] == pytest.approx(bacteroidota, abs=1e-6)
        assert row["bacillota_bacteroidota_ratio"] == pytest.approx(bacillota / bacteroidota)
    # species rows (not the SGB t__ rows, not the genus rows) make the butyrate guild
    assert features.loc["P501", "guild_butyrate_producers_pct"] > 0


def test_samples_outside_the_sample_map_are_one_line_not_an_error():
    from precex.microbiome.features import map_samples as mapper
    from precex.roster import read_sample_map

    mapping = read_sample_map(str(DATA / "metaphlan_sample_map.tsv"), "microbiome")
    table = read_microbiome(str(DATA / "merged_abundance_table.txt"))
    many = pd.concat([table.values] + [table.values.rename(index=lambda s, i=i: f"{s}_{i}")
                                       for i in range(40)])
    table.values = many
    values, problems = mapper(table, mapping, {"P501", "P502"})
    assert sorted(values.index) == ["P501", "P502"]
    outside = [p for p in problems if "sample map" in p.message]
    assert len(outside) == 1 and not outside[0].excludes
    assert "80 samples" in outside[0].message


def test_validate_a_study_wide_table_with_a_sample_map_is_one_line_and_exit_0(
        tmp_path, monkeypatch, capsys):
    """763 samples in the study's table, 40 of them this batch's (the reported case, smaller:
    60 samples, the demo's 30 patients mapped)."""
    from precex.cli import main
    from precex.paths import resource_path

    samples = [f"SRR{100000 + i}" for i in range(60)]
    rows = ["# Constructed from biom file", "#OTU ID\t" + "\t".join(samples) + "\ttaxonomy"]
    for j, genus in enumerate(("Faecalibacterium", "Bacteroides", "Roseburia")):
        rows.append(f"OTU{j}\t" + "\t".join(str(500 + 10 * i + j) for i in range(60))
                    + f"\tk__Bacteria; p__{'Bacteroidetes' if j == 1 else 'Firmicutes'}; "
                      f"g__{genus}")
    (tmp_path / "study_table.tsv").write_text("\n".join(rows) + "\n")
    patients = [f"P{i:03d}" for i in range(1, 31)]
    (tmp_path / "map.tsv").write_text("sample_id\tpatient_id\n" + "".join(
        f"{s}\t{p}\n" for s, p in zip(samples, patients, strict=False)))
    (tmp_path / "config.yaml").write_text(
        f"patients: {resource_path('demo', 'patients.tsv')}\nreference_date: 2026-01-05\n"
        "microbiome: study_table.tsv\nmicrobiome_sample_map: map.tsv\n")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--configfile", "config.yaml"]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert text.count("not in the sample map") == 1 and "30 samples" in text


def test_kraken2_shares_are_of_bacteria_with_what_was_left_out_noted(tmp_path):
    """Human (150) and phage (140) reads, and 10 at the root, are not bacteria: Bacillota is
    300 of 1,500 bacterial reads (20 %), not 300 of 1,800 classified (16.7 %)."""
    table = read_microbiome(str(DATA / "P404.kreport2"))
    assert table.values.loc["P404"].sum() == pytest.approx(1500)
    assert not any("Homo" in lineage for lineage in table.lineage)
    _, f, problems = profile(["P404.kreport2"], ["P404"])
    assert f.loc["P404", "bacillota_pct"] == pytest.approx(20.0)
    assert f.loc["P404", "bacteroidota_pct"] == pytest.approx(80.0)
    note = next(p for p in problems if p.patient_id == "P404" and "left out" in p.message)
    assert "Eukaryota 8.3 %, Viruses 7.8 %, no domain (root) 0.6 %" in note.message
    assert not note.excludes


def test_a_gzipped_kraken2_report_is_read(tmp_path):
    import gzip

    path = tmp_path / "P404.kreport2.gz"
    path.write_bytes(gzip.compress((DATA / "P404.kreport2").read_bytes()))
    table = read_microbiome(str(path))
    assert table.format == "kraken2" and table.values.loc["P404"].sum() == pytest.approx(1500)


@pytest.mark.parametrize("text,what,fix", [
    # centrifuge --report kraken-style output: '-' as the rank of taxa without one
    (" 95.00\t950\t0\t-\t1\troot\n 90.00\t900\t0\t-\t131567\t  cellular organisms\n",
     "a centrifuge-kreport (rank '-' for taxa without a rank)",
     "taxpasta standardise -p centrifuge"),
    # KrakenUniq's report: comment lines, then its own header
    ("# KrakenUniq v1.0.4\n# Database: /db\n%\treads\ttaxReads\tkmers\tdup\tcov\ttaxID\t"
     "rank\ttaxName\n10.0\t100\t100\t500\t1.1\tNA\t0\tno rank\tunclassified\n",
     "a KrakenUniq report", "taxpasta standardise -p krakenuniq"),
    # mOTUs profiler output: version lines, then #consensus_taxonomy
    ("# git tag version 3.0.3 |  motus version 3.0.3 | map_tax 3.0.3\n"
     "# call: python motus profile -s reads.fq\n#consensus_taxonomy\tunnamed sample\n"
     "Faecalibacterium prausnitzii [ref_mOTU_v3_00861]\t0.25\n",
     "raw mOTUs profiler output", "taxpasta standardise -p motus"),
])
def test_profiler_outputs_precex_does_not_read_are_refused_with_what_they_are(tmp_path, text,
                                                                             what, fix):
    path = tmp_path / "S1.report"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_microbiome(str(path))
    problem = err.value.problems[0]
    assert problem.message == f"is {what}, which precex does not read directly."
    assert fix in problem.fix


def test_percentiles_rank_each_profilers_samples_among_their_own():
    """Kraken2 reads and Bracken re-estimates are not ranked against each other: each
    sample's percentile is within its own profiler's samples, and the mix is said."""
    _, f, problems = profile(["P401.kreport2", "P402.kreport2", "P403.bracken"],
                             ["P401", "P402", "P403"])
    assert f.loc["P403", "shannon_percentile"] == pytest.approx(100.0)  # alone in its group
    kraken = f.loc[["P401", "P402"], "shannon_percentile"]
    assert sorted(kraken.round(6).tolist()) in ([50.0, 100.0], [75.0, 75.0])
    assert any("mixes profiles (bracken: 1 sample, kraken2: 2 samples)" in p.message
               for p in problems)
