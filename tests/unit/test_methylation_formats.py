"""Methylation matrices as GEO and array cores hand them over
(fixtures in tests/data/formats/methylation)."""

from pathlib import Path

import numpy as np
import pytest
from precex.config import config_default
from precex.epigenetics.matrix import array_type, read_beta_matrix
from precex.epigenetics.stage import name_by_title

DATA = Path(__file__).parents[1] / "data" / "formats" / "methylation"
CPGS = {"cg00000029", "cg00000108", "cg00000109", "cg00000165"}



def read_matrix(path, probes, value_type=None, detection_p=None):
    """read_beta_matrix with the config schema's defaults for what a test leaves unset."""
    return read_beta_matrix(path, probes, value_type or config_default("methylation_values"),
                            config_default("methylation_detection_p") if detection_p is None
                            else detection_p)

def test_geo_series_matrix_is_read_as_its_table():
    m = read_matrix(str(DATA / "GSE000001_series_matrix.txt"), CPGS)
    assert list(m.beta.columns) == ["GSM900001", "GSM900002"]  # never one bogus sample
    assert m.beta.loc["cg00000108", "GSM900001"] == pytest.approx(0.901)
    assert m.n_probe_rows == 4
    assert m.sample_titles == {"GSM900001": "P501", "GSM900002": "P502"}
    name_by_title(m, {"P501", "P502"})  # the sheet uses the titles
    assert list(m.beta.columns) == ["P501", "P502"]


def test_supplementary_matrix_space_delimited_with_detection_p_and_clipping():
    m = read_matrix(str(DATA / "GSE000001_matrix_processed.txt"), CPGS, detection_p=0.01)
    assert list(m.beta.columns) == ["P501", "P502"]  # p columns paired, not samples
    assert np.isnan(m.beta.loc["cg00000029", "P502"])  # detection p 0.2 > 0.01: masked
    assert m.beta.loc["cg00000029", "P501"] == pytest.approx(0.51)
    assert m.beta.loc["cg00000108", "P501"] == 1.0 and m.beta.loc["cg00000109", "P501"] == 0.0
    text = " ".join(msg for _, msg in m.notes)
    assert "1 of 4 needed probes masked (detection p > 0.01)" in text
    assert "2 beta values within 0.01 of [0, 1] clipped" in text
    assert m.bad_samples == {}


def test_epic_v2_suffixed_ids_collapse_to_the_cpg_and_several_matrices_join():
    m = read_matrix([str(DATA / "GSE000001_matrix_processed.txt"),
                          str(DATA / "epic_v2_plate2.tsv")], CPGS)
    assert set(m.beta.columns) == {"P501", "P502", "P601", "P602"}
    assert m.beta.loc["cg00000029", "P601"] == pytest.approx(0.55)  # mean of two replicates
    assert "EPIC v2" in m.array_type


def test_array_type_from_probe_rows():
    assert array_type(27_578, False) == "27K"
    assert array_type(485_577, False) == "450K"
    assert array_type(866_091, False) == "EPIC v1"
    assert array_type(100, True) == "EPIC v2"


def test_larger_excursions_reject_that_sample_only(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("probe\tA\tB\n" + "".join(f"cg{i}\t0.5\t0.4\n" for i in range(40))
                    + "cgX\t0.5\t1.2\n")
    m = read_matrix(str(path), {f"cg{i}" for i in range(40)} | {"cgX"}, "beta")
    assert list(m.beta.columns) == ["A"] and "1.2 is outside [0, 1]" in m.bad_samples["B"].message


def test_an_unreadable_matrix_of_several_stops_with_its_name(tmp_path):
    """A matrix holds a whole plate: it is not one bad sample, so the file is named and the
    stage stops (a bad *sample* in a readable matrix only excludes that sample)."""
    from precex.problems import InputError

    broken = tmp_path / "plate3.tsv"
    broken.write_text("probe_id\tP701\tP701\ncg00000029\t0.5\t0.4\n")  # duplicate sample
    with pytest.raises(InputError, match="plate3.tsv"):
        read_matrix([str(DATA / "epic_v2_plate2.tsv"), str(broken)], CPGS)
