import json
import zipfile

import biom
import h5py
import numpy as np
import pandas as pd
import pytest
from precex.microbiome.features import compute_features, map_samples
from precex.microbiome.readers import detect_format, read_microbiome
from precex.microbiome.taxonomy import genus_of, parse_lineage, phylum_of
from precex.problems import InputError

COUNTS = np.array([[120, 0, 30, 50], [10, 200, 0, 90], [60, 60, 60, 20]], dtype=float)
FEATURES = ["f1", "f2", "f3", "f4"]
SAMPLES = ["P1", "P2", "P3"]
TAXA = [
    "d__Bacteria; p__Firmicutes; c__Clostridia; o__Oscillospirales; f__Ruminococcaceae; "
    "g__Faecalibacterium",
    "d__Bacteria; p__Bacteroidota; c__Bacteroidia; o__Bacteroidales; f__Bacteroidaceae; "
    "g__Bacteroides",
    "d__Bacteria; p__Firmicutes; c__Clostridia; o__Lachnospirales; f__Lachnospiraceae; "
    "g__Roseburia",
    "d__Bacteria; p__Verrucomicrobiota; c__Verrucomicrobiae; o__Verrucomicrobiales; "
    "f__Akkermansiaceae; g__Akkermansia",
]


def biom_table() -> biom.Table:
    return biom.Table(COUNTS.T, FEATURES, SAMPLES,
                      observation_metadata=[{"taxonomy": t.split("; ")} for t in TAXA])


def write_hdf5(path):
    with h5py.File(path, "w") as handle:
        biom_table().to_hdf5(handle, "test")
    return path


def write_classic(path):
    lines = ["# Constructed from biom file", "#OTU ID\t" + "\t".join(SAMPLES) + "\ttaxonomy"]
    for j, f in enumerate(FEATURES):
        lines.append("\t".join([f, *(f"{v:g}" for v in COUNTS[:, j]), TAXA[j]]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_qza(tmp_path):
    table = write_hdf5(tmp_path / "feature-table.biom")
    qza = tmp_path / "table.qza"
    with zipfile.ZipFile(qza, "w") as z:
        z.write(table, "3f1a/data/feature-table.biom")
        z.writestr("3f1a/metadata.yaml", "uuid: 3f1a\ntype: FeatureTable[Frequency]\n")
    tax = tmp_path / "taxonomy.qza"
    rows = "Feature ID\tTaxon\tConfidence\n" + "".join(
        f"{f}\t{t}\t0.99\n" for f, t in zip(FEATURES, TAXA, strict=True))
    with zipfile.ZipFile(tax, "w") as z:
        z.writestr("9c2e/data/taxonomy.tsv", rows)
    return qza, tax


@pytest.mark.parametrize("kind", ["hdf5", "json", "classic", "qza"])
def test_count_formats_read_identically(tmp_path, kind):
    if kind == "hdf5":
        path, tax = write_hdf5(tmp_path / "t.biom"), None
    elif kind == "json":
        path, tax = tmp_path / "t.json", None
        path.write_text(biom_table().to_json("test"))
    elif kind == "classic":
        path, tax = write_classic(tmp_path / "t.tsv"), None
    else:
        path, tax = write_qza(tmp_path)
    table = read_microbiome(str(path), str(tax) if tax else None)
    assert table.relative is False
    np.testing.assert_allclose(table.values.loc[SAMPLES, FEATURES].to_numpy(), COUNTS)
    assert genus_of(table.lineage["f1"]) == "Faecalibacterium"


def test_metaphlan4_per_sample_merged_and_v3(tmp_path):
    clades = ["k__Bacteria|p__Firmicutes|c__Clostridia|o__Eubacteriales|f__Oscillospiraceae|"
              "g__Faecalibacterium",
              "k__Bacteria|p__Bacteroidetes|c__Bacteroidia|o__Bacteroidales|f__Bacteroidaceae|"
              "g__Bacteroides"]
    single = tmp_path / "P7_profile.txt"
    single.write_text("#mpa_vJun23_CHOCOPhlAnSGB_202307\n#/usr/bin/metaphlan x.fq\n"
                      "#1000 reads processed\n#SampleID\tMetaphlan_Analysis\n"
                      "#clade_name\tNCBI_tax_id\trelative_abundance\tadditional_species\n"
                      "k__Bacteria\t2\t100.0\t\n"
                      f"{clades[0]}\t2|1|2|3|4|5\t60.0\t\n{clades[1]}\t2|9|8|7|6|5\t40.0\t\n")
    t = read_microbiome(str(single))
    assert t.relative and list(t.values.index) == ["P7"]
    np.testing.assert_allclose(t.values.loc["P7"].to_numpy(), [0.6, 0.4])
    merged = tmp_path / "merged.tsv"
    merged.write_text("#mpa_vJun23_CHOCOPhlAnSGB_202307\nclade_name\tS1\tS2\n"
                      f"k__Bacteria\t100\t100\n{clades[0]}\t70\t10\n{clades[1]}\t30\t90\n")
    t = read_microbiome(str(merged))
    assert list(t.values.index) == ["S1", "S2"]
    v3 = tmp_path / "merged3.tsv"
    v3.write_text("#mpa_v30_CHOCOPhlAn_201901\nclade_name\tNCBI_tax_id\tS1\n"
                  f"k__Bacteria\t2\t100\n{clades[0]}\t2|1\t55\n{clades[1]}\t2|9\t45\n")
    t = read_microbiome(str(v3))
    np.testing.assert_allclose(t.values.loc["S1"].to_numpy(), [0.55, 0.45])
    assert phylum_of(t.lineage.iloc[1]) == "Bacteroidota"


def test_taxonomy_normalisation():
    assert phylum_of("k__Bacteria; p__Firmicutes; c__Clostridia") == "Bacillota"
    assert phylum_of("d__Bacteria; p__Bacillota_A; c__Clostridia") == "Bacillota"
    assert genus_of("k__Bacteria; p__Firmicutes; g__[Eubacterium]") == "Eubacterium"
    assert genus_of("d__Bacteria; p__Firmicutes; g__") == "unclassified"
    assert genus_of("Unassigned") == "unclassified"
    assert parse_lineage("d__Bacteria; p__Proteobacteria")["phylum"] == "Pseudomonadota"
    assert genus_of("d__Bacteria;p__Firmicutes_A;g__Faecalibacterium") == "Faecalibacterium"


def test_features_match_independent_calculation(tmp_path):
    table = read_microbiome(str(write_hdf5(tmp_path / "t.biom")))
    values, problems = map_samples(table, None, set(SAMPLES))
    assert problems == []
    feats = compute_features([(table, values)], min_depth=100).features
    p = COUNTS / COUNTS.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        shannon = -np.nansum(np.where(p > 0, p * np.log(p), 0), axis=1)
    np.testing.assert_allclose(feats.loc[SAMPLES, "shannon"], shannon)
    np.testing.assert_allclose(feats.loc[SAMPLES, "simpson"], 1 - (p**2).sum(axis=1))
    np.testing.assert_array_equal(feats.loc[SAMPLES, "observed_features"], (COUNTS > 0).sum(1))
    # butyrate producers: Faecalibacterium + Roseburia
    np.testing.assert_allclose(feats.loc[SAMPLES, "guild_butyrate_producers_pct"],
                               100 * (p[:, 0] + p[:, 2]))
    np.testing.assert_allclose(feats.loc[SAMPLES, "bacillota_bacteroidota_ratio"],
                               np.where(p[:, 1] > 0, (p[:, 0] + p[:, 2]) / np.where(
                                   p[:, 1] > 0, p[:, 1], 1), np.nan), equal_nan=True)
    centroid = p.mean(axis=0)
    bc = np.abs(p - centroid).sum(axis=1) / (p.sum(axis=1) + centroid.sum())
    np.testing.assert_allclose(feats.loc[SAMPLES, "bray_curtis_to_centroid"], bc)
    assert feats.loc["P3", "shannon_percentile"] == pytest.approx(100.0)  # most even sample
    assert (feats["reference"] == "batch").all()


def test_relative_inputs_have_no_count_metrics(tmp_path):
    merged = tmp_path / "m.tsv"
    merged.write_text("#mpa_v4\nclade_name\tS1\nk__Bacteria|p__Firmicutes|c__C|o__O|f__F|"
                      "g__Roseburia\t100\n")
    t = read_microbiome(str(merged))
    feats = compute_features([(t, t.values)], min_depth=1000).features
    assert np.isnan(feats.loc["S1", "observed_features"]) and np.isnan(feats.loc["S1", "chao1"])
    assert np.isnan(feats.loc["S1", "depth_reads"])


def test_low_depth_sample_is_excluded_not_dropped(tmp_path):
    table = read_microbiome(str(write_hdf5(tmp_path / "t.biom")))
    result = compute_features([(table, table.values)], min_depth=250)
    assert list(result.features.index) == ["P2"]  # P1 and P3 have 200 reads, P2 has 300
    assert [p.patient_id for p in result.problems] == ["P1", "P3"]
    assert "below microbiome_min_depth" in result.problems[0].message


def test_sample_map_and_unmatched_samples(tmp_path):
    table = read_microbiome(str(write_hdf5(tmp_path / "t.biom")))
    mapping = pd.Series(["A", "B"], index=["P1", "P2"])
    values, problems = map_samples(table, mapping, {"A"})
    assert list(values.index) == ["A"]
    messages = " ".join(p.message for p in problems)
    assert "1 sample of this table is not in the sample map" in messages and "'P3'" in messages
    assert "'B'" in messages
    assert not [p for p in problems if "sample map" in p.message and p.excludes]


@pytest.mark.parametrize("name,content,message", [
    ("c.biom", b"\x89HDF\r\n\x1a\n" + b"\x00" * 200, "cannot be read as a BIOM table"),
    ("dup.tsv", b"#OTU ID\tS1\tS1\nf1\t5\t3\n", "duplicate sample IDs"),
    ("dupf.tsv", b"#OTU ID\tS1\nf1\t5\nf1\t3\n", "duplicate feature IDs"),
    ("empty.json", biom.Table(np.zeros((0, 0)), [], []).to_json("t").encode(), "empty"),
    ("what.txt", b"hello\tworld\n", "format not recognised"),
    ("absent.biom", None, "file not found"),
])
def test_bad_inputs_give_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_microbiome(str(path))
    assert name in str(err.value)  # the error names the file


@pytest.mark.parametrize("content,message", [
    (b"#OTU ID\tS1\tS2\nf1\t5\t-3\nf2\t1\t1\n", "negative value -3"),
    (b"#OTU ID\tS1\tS2\nf1\t5\tmany\nf2\t1\t1\n", "'many' is not a number"),
])
def test_a_bad_sample_is_left_out_and_named(tmp_path, content, message):
    path = tmp_path / "t.tsv"
    path.write_bytes(content)
    table = read_microbiome(str(path))
    assert list(table.values.index) == ["S1"] and message in table.bad_samples["S2"].message
    values, problems = map_samples(table, None, {"S1", "S2"})
    assert list(values.index) == ["S1"]
    assert [(p.patient_id, p.stage) for p in problems] == [("S2", "microbiome")]


def test_taxonomy_that_does_not_cover_the_table(tmp_path):
    qza, _ = write_qza(tmp_path)
    partial = tmp_path / "taxonomy.tsv"
    partial.write_text("Feature ID\tTaxon\tConfidence\nf1\tk__Bacteria\t0.9\n")
    with pytest.raises(InputError, match="does not cover 3 of the table's 4 features"):
        read_microbiome(str(qza), str(partial))


def test_json_detection(tmp_path):
    path = tmp_path / "t.biom"
    path.write_text(json.dumps(json.loads(biom_table().to_json("x"))))
    assert detect_format(str(path)) == "biom-json"


def test_faith_pd_with_a_newick_or_qza_tree(tmp_path):
    from precex.microbiome.readers import read_tree

    newick = "((f1:1,f2:2):0.5,(f3:1,f4:1):1)root;"
    (tmp_path / "tree.nwk").write_text(newick)
    with zipfile.ZipFile(tmp_path / "rooted-tree.qza", "w") as z:
        z.writestr("77aa/data/tree.nwk", newick)
    table = read_microbiome(str(write_hdf5(tmp_path / "t.biom")))
    for tree_path in ("tree.nwk", "rooted-tree.qza"):
        tree = read_tree(str(tmp_path / tree_path))
        feats = compute_features([(table, table.values)], 100, tree=tree).features
        # P1 has f1, f3, f4: tips 1 + 1 + 1 plus internal edges 0.5 + 1 (by hand)
        assert feats.loc["P1", "faith_pd"] == pytest.approx(4.5)
        # P2 has f1, f2, f4: 1 + 2 + 1 + 0.5 + 1
        assert feats.loc["P2", "faith_pd"] == pytest.approx(5.5)
    (tmp_path / "small.nwk").write_text("(f1:1,f2:1)root;")
    result = compute_features([(table, table.values)], 100,
                              tree=read_tree(str(tmp_path / "small.nwk")))
    assert result.features["faith_pd"].isna().all()
    assert any("not tips of the microbiome_tree" in p.message for p in result.problems)
    (tmp_path / "bad.nwk").write_text("((f1:1,f2:")
    with pytest.raises(InputError, match="Newick"):
        read_tree(str(tmp_path / "bad.nwk"))


def test_percentiles_and_centroid_against_a_reference_table(tmp_path):
    from precex.microbiome.features import percentile_against

    table = read_microbiome(str(write_hdf5(tmp_path / "t.biom")))
    ref_counts = np.array([[100, 100, 100, 100], [400, 0, 0, 0]], dtype=float)
    ref = biom.Table(ref_counts.T, FEATURES, ["R1", "R2"],
                     observation_metadata=[{"taxonomy": t.split("; ")} for t in TAXA])
    (tmp_path / "ref.json").write_text(ref.to_json("ref"))
    reference = read_microbiome(str(tmp_path / "ref.json"))
    feats = compute_features([(table, table.values)], 100, reference=reference).features
    assert (feats["reference"] == "reference:ref.json").all()
    ref_shannon = np.array([np.log(4), 0.0])
    expected = percentile_against(feats["shannon"], ref_shannon)
    np.testing.assert_allclose(feats["shannon_percentile"], expected)
    assert percentile_against(pd.Series([0.0, 1.0, 2.0]), ref_shannon).tolist() == [25.0, 50.0,
                                                                                   100.0]
    p = COUNTS / COUNTS.sum(axis=1, keepdims=True)
    centroid = (ref_counts / ref_counts.sum(axis=1, keepdims=True)).mean(axis=0)
    bc = np.abs(p - centroid).sum(axis=1) / (p.sum(axis=1) + centroid.sum())
    np.testing.assert_allclose(feats.loc[SAMPLES, "bray_curtis_to_centroid"], bc)
