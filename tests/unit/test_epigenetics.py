import gzip

import numpy as np
import pandas as pd
import pytest
from precex.config import config_default
from precex.epigenetics.clocks import (
    HORVATH_INTERCEPT,
    horvath_inverse_transform,
    horvath_transform,
    load_clocks,
)
from precex.epigenetics.features import (
    assign_probes,
    clock_ages,
    gene_methylation,
    gene_regions,
    normalise_contig,
)
from precex.epigenetics.genome import load_genome
from precex.epigenetics.matrix import BetaMatrix, read_beta_matrix
from precex.paths import resource_path
from precex.problems import InputError


def read_matrix(path, probes, value_type=None, detection_p=None):
    """read_beta_matrix with the config schema's defaults for what a test leaves unset."""
    return read_beta_matrix(path, probes, value_type or config_default("methylation_values"),
                            config_default("methylation_detection_p") if detection_p is None
                            else detection_p)


def ages_of(matrix, age, max_missing, **settings):
    """clock_ages with the config schema's defaults for what a test leaves unset."""
    settings.setdefault("min_batch_for_residual", config_default("clock_residual_min_batch"))
    settings.setdefault("max_abs_acceleration", config_default("clock_max_abs_acceleration"))
    return clock_ages(matrix, age, max_missing, **settings)

def test_clock_tables_have_published_sizes():
    clocks = load_clocks()
    assert len(clocks["horvath2013"].weights) == 353
    assert len(clocks["hannum2013"].weights) == 71
    assert len(clocks["phenoage2018"].weights) == 513
    assert clocks["phenoage2018"].intercept == pytest.approx(60.664)
    assert clocks["horvath2013"].intercept == pytest.approx(0.695507258)


def test_horvath_transform_by_hand():
    # F^-1(x) = 21 exp(x) - 1 for x < 0, 21 x + 20 otherwise
    assert horvath_inverse_transform(np.array([-1.0]))[0] == pytest.approx(21 * np.exp(-1) - 1)
    assert horvath_inverse_transform(np.array([1.5]))[0] == pytest.approx(51.5)
    ages = np.array([5.0, 20.0, 45.0, 80.0])
    np.testing.assert_allclose(horvath_inverse_transform(horvath_transform(ages)), ages)


def test_clock_ages_equal_hand_computed_linear_models():
    clocks = load_clocks()
    rng = np.random.default_rng(0)
    cpgs = sorted(set().union(*(c.weights.index for c in clocks.values())))
    beta = pd.DataFrame(rng.uniform(0.1, 0.9, (len(cpgs), 3)), index=cpgs,
                        columns=["A", "B", "C"])
    out, problems = ages_of(BetaMatrix(beta, False, "m.tsv"),
                               pd.Series([50.0, 60.0, 70.0], index=["A", "B", "C"]), 0.2,
                               max_abs_acceleration=np.inf, plausible_years=(-np.inf, np.inf))
    assert problems == []
    for sample in "ABC":
        b = beta[sample]
        h = clocks["horvath2013"].weights
        lin = HORVATH_INTERCEPT + float((h * b.reindex(h.index)).sum())
        expected = 21 * np.exp(lin) - 1 if lin < 0 else 21 * lin + 20
        assert out.loc[sample, "horvath2013_age"] == pytest.approx(expected)
        hn = clocks["hannum2013"].weights
        assert out.loc[sample, "hannum2013_age"] == pytest.approx(float((hn * b[hn.index]).sum()))
        ph = clocks["phenoage2018"].weights
        assert out.loc[sample, "phenoage2018_age"] == pytest.approx(
            60.664 + float((ph * b[ph.index]).sum()))
    assert (out["age_accel_method"] == "difference").all()  # batch of 3 is too small
    np.testing.assert_allclose(out["hannum2013_accel_diff"],
                               out["hannum2013_age"] - out["chronological_age"])


def test_missing_cpgs_are_imputed_counted_and_limited():
    clocks = load_clocks()
    h = clocks["horvath2013"].weights.index
    beta = pd.DataFrame({"A": 0.5, "B": 0.5}, index=h)
    beta.loc[h[:10], "A"] = np.nan
    beta.loc[h[:200], "B"] = np.nan
    out, problems = ages_of(BetaMatrix(beta, False, "m.tsv"),
                               pd.Series([50.0, 50.0], index=["A", "B"]), 0.2)
    assert out.loc["A", "horvath2013_missing_cpgs"] == 10
    assert np.isfinite(out.loc["A", "horvath2013_age"])
    assert np.isnan(out.loc["B", "horvath2013_age"])
    assert [p.patient_id for p in problems] == ["A", "B"]  # Hannum/PhenoAge CpGs absent too
    assert "horvath2013: 57% of 353 CpGs missing" in problems[1].message


def test_residual_acceleration_for_large_batches():
    clocks = load_clocks()
    cpgs = sorted(set().union(*(c.weights.index for c in clocks.values())))
    rng = np.random.default_rng(1)
    n = 40
    beta = pd.DataFrame(rng.uniform(0.2, 0.8, (len(cpgs), n)), index=cpgs,
                        columns=[f"S{i}" for i in range(n)])
    age = pd.Series(rng.uniform(40, 80, n), index=beta.columns)
    out, _ = ages_of(BetaMatrix(beta, False, "m"), age, 0.2, min_batch_for_residual=30,
                        max_abs_acceleration=np.inf, plausible_years=(-np.inf, np.inf))
    assert (out["age_accel_method"] == "residual").all()
    assert abs(out["phenoage2018_accel_resid"].mean()) < 1e-8  # least-squares residuals


def test_streaming_reader_keeps_only_wanted_probes_and_handles_gzip(tmp_path):
    path = tmp_path / "m.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("probe,S1,S2\n")
        for i in range(1000):
            f.write(f"cg{i:05d},0.{i % 9 + 1},NA\n")
    m = read_matrix(str(path), {"cg00002", "cg00500", "cgABSENT"})
    assert list(m.beta.index) == ["cg00002", "cg00500"]
    assert m.beta.loc["cg00002", "S1"] == pytest.approx(0.3)
    assert m.beta["S2"].isna().all()


def test_m_values_are_converted_and_out_of_range_betas_rejected(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("probe\tS1\ncg1\t2.0\ncg2\t-1.5\ncg3\t0\n")
    m = read_matrix(str(path), {"cg1", "cg2", "cg3"})
    assert m.converted_from_m
    assert m.beta.loc["cg1", "S1"] == pytest.approx(4 / 5)  # 2^2 / (2^2 + 1)
    bad = tmp_path / "b.tsv"
    bad.write_text("probe\tS1\tS2\n" + "".join(f"cg{i}\t0.5\t0.4\n" for i in range(30))
                   + "cgX\t0.5\t1.7\n")
    # One bad sample is left out (its patient excluded by the stage), the others are kept.
    m = read_matrix(str(bad), {f"cg{i}" for i in range(30)} | {"cgX"}, "beta")
    assert list(m.beta.columns) == ["S1"]
    assert "probe 'cgX', sample 'S2': 1.7 is outside" in m.bad_samples["S2"].message


def test_matrix_bad_inputs(tmp_path):
    dup = tmp_path / "d.tsv"
    dup.write_text("probe\tS1\ncg1\t0.5\ncg1\t0.4\n")
    with pytest.raises(InputError, match="probe 'cg1' appears on lines 2 and 3"):
        read_matrix(str(dup), {"cg1"})
    short = tmp_path / "s.tsv"
    short.write_text("probe\tS1\tS2\ncg1\t0.5\n")
    with pytest.raises(InputError, match="line 2 .* has 2 fields"):
        read_matrix(str(short), {"cg1"})
    text = tmp_path / "t.tsv"
    text.write_text("probe\tS1\tS2\ncg1\thigh\t0.5\n")
    m = read_matrix(str(text), {"cg1"})
    assert list(m.beta.columns) == ["S2"]
    assert "'high' is not a number" in m.bad_samples["S1"].message


def test_contig_names_are_normalised():
    assert normalise_contig("chr1") == "1"
    assert normalise_contig("1") == "1"
    assert normalise_contig("chrM") == "MT"
    assert normalise_contig("chrx") == "X"


def test_gene_level_methylation_with_pyensembl(tmp_path):
    genome = load_genome(str(resource_path("genome", "ensembl_human_chr1_subset.gtf.gz")),
                         str(tmp_path / "cache"))
    regions, absent = gene_regions(genome, ["SAMD11", "NOTAGENE"])
    assert absent == ["NOTAGENE"]
    body = regions[regions.region == "body"].iloc[0]
    assert (body.start, body.end) == (923928, 944581)  # Ensembl SAMD11
    manifest = pd.DataFrame({"probe_id": ["p1", "p2", "p3", "p4"],
                             "chrom": ["chr1", "1", "1", "2"],
                             "pos": [923928 - 1000, 935000, 5_000_000, 935000]})
    assignment = assign_probes(manifest, regions)
    pairs = set(zip(assignment.probe_id, assignment.region, strict=True))
    assert ("p1", "promoter") in pairs and ("p2", "body") in pairs
    assert not {p for p, _ in pairs} & {"p3", "p4"}  # outside the gene / other contig
    beta = pd.DataFrame({"S1": [0.1, 0.8, 0.5, 0.5]}, index=["p1", "p2", "p3", "p4"])
    genes = gene_methylation(beta, assignment)
    assert genes.loc["S1", "SAMD11_promoter_beta"] == pytest.approx(0.1)
    assert genes.loc["S1", "SAMD11_body_beta"] == pytest.approx(0.8)
    assert (tmp_path / "cache").exists()


def test_broken_gtf_is_a_clear_error(tmp_path):
    gtf = tmp_path / "bad.gtf"
    gtf.write_text("this is not a gtf\n")
    with pytest.raises(InputError, match="GTF"):
        load_genome(str(gtf), str(tmp_path / "cache"))


def test_parquet_matrix_is_read_and_filtered(tmp_path):
    frame = pd.DataFrame({"S1": [0.1, 0.2, 0.3], "S2": [0.4, np.nan, 0.6]},
                         index=pd.Index(["cgA", "cgB", "cgC"], name="probe_id"))
    path = tmp_path / "m.parquet"
    frame.to_parquet(path)
    m = read_matrix(str(path), {"cgA", "cgC", "cgZ"})
    assert list(m.beta.index) == ["cgA", "cgC"] and list(m.beta.columns) == ["S1", "S2"]
    assert m.beta.loc["cgC", "S2"] == pytest.approx(0.6)
    plain = frame.reset_index()  # probe IDs as the first column, no pandas index
    plain.to_parquet(tmp_path / "p.parquet", index=False)
    assert list(read_matrix(str(tmp_path / "p.parquet"), {"cgB"}).beta.index) == ["cgB"]


def test_value_type_can_be_forced(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("probe\tS1\ncg1\t0.0\ncg2\t1.0\n")
    m = read_matrix(str(path), {"cg1", "cg2"}, "m")
    assert m.converted_from_m and m.beta.loc["cg1", "S1"] == pytest.approx(0.5)
    assert read_matrix(str(path), {"cg1"}, "beta").beta.loc["cg1", "S1"] == 0.0


def naive_scan(text: bytes, wanted: set[bytes]) -> list[tuple[int, bytes]]:
    out = []
    for n, line in enumerate(text.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if line and line.split(b"\t", 1)[0].strip(b'"') in wanted:
            out.append((n, line))
    return out


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"cg1", b"cg22", b"cg333", b"other", b'"cg1"', b"x"]),
                          st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(
                              b"\r", b""))), min_size=1, max_size=40),
       st.sampled_from([1, 3, 7, 64]), st.booleans(), st.booleans())
def test_block_scanner_matches_a_naive_scan(rows, block, trailing_newline, crlf):
    import io as _io

    from precex.epigenetics import matrix

    eol = b"\r\n" if crlf else b"\n"
    text = eol.join(p + b"\t" + rest for p, rest in rows)
    if trailing_newline:
        text += eol
    wanted = {b"cg1", b"cg333"}
    old = matrix.BLOCK_BYTES
    matrix.BLOCK_BYTES = block  # tiny blocks: lines cross blocks and outgrow the buffer
    try:
        got = list(matrix.scan_lines(_io.BytesIO(text), b"\t", wanted, first_line=1))
    finally:
        matrix.BLOCK_BYTES = old
    assert got == naive_scan(text.replace(b"\r\n", b"\n"), wanted)


def _index_in(args):
    from precex.epigenetics.genome import load_genome

    gtf, cache = args
    genome = load_genome(gtf, cache)
    return len(genome.genes_by_name("SAMD11"))


def test_concurrent_jobs_share_one_genome_cache(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    gtf = str(resource_path("genome", "ensembl_human_chr1_subset.gtf.gz"))
    with ProcessPoolExecutor(4) as pool:
        counts = list(pool.map(_index_in, [(gtf, str(tmp_path / "cache"))] * 4))
    assert counts == [1, 1, 1, 1]


def test_implausible_clocks_are_withheld_and_never_used():
    """A 27K-like sample (most CpGs absent, imputed) or a non-blood sample can give a
    negative PhenoAge: withheld with a problem, no age and no acceleration."""
    clocks = load_clocks()
    cpgs = sorted(set().union(*(c.weights.index for c in clocks.values())))
    beta = pd.DataFrame({"A": 0.5, "B": 0.5}, index=cpgs)
    ph = clocks["phenoage2018"].weights
    # Push B's PhenoAge far below 0: set each CpG to the extreme that lowers the sum.
    beta.loc[ph.index, "B"] = np.where(ph > 0, 0.0, 1.0)
    out, problems = ages_of(BetaMatrix(beta, False, "gse.txt"),
                               pd.Series([55.0, 55.0], index=["A", "B"]), 0.2)
    assert np.isnan(out.loc["B", "phenoage2018_age"])
    assert np.isnan(out.loc["B", "phenoage2018_accel_diff"])
    assert "withheld" in out.loc["B", "phenoage2018_withheld"]
    mine = [p for p in problems if p.patient_id == "B" and "phenoage2018" in p.message]
    assert len(mine) == 1 and not mine[0].excludes and "tissue or array" in mine[0].message
    assert out.loc["A", "phenoage2018_withheld"] == ""
