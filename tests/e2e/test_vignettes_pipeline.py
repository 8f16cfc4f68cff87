"""The clinical vignettes (tests/vignettes.py) through the whole pipeline (precex run): every
vignette patient is prescribed, with the expected decision, the Data to obtain box in the
report when safety data is missing or unusable, and the problems named in problems.tsv."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from vignettes import REF, VIGNETTES, check_vignette, write_inputs

from .conftest import precex_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vignette_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("vignettes")
    write_inputs(cwd)
    (cwd / "config.yaml").write_text(
        f"patients: patients.tsv\nblood: blood.tsv\nwearables: wearables.tsv\n"
        f"reference_date: '{REF.isoformat()}'\n")
    precex_run(cwd, "--configfile", "config.yaml")
    return cwd / "results"


def test_every_vignette_through_the_pipeline(vignette_run):
    summary = pd.read_csv(vignette_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    assert set(summary["patient_id"]) == set(VIGNETTES)  # nobody excluded
    for pid in sorted(VIGNETTES):
        p = json.loads((vignette_run / f"prescriptions/{pid}.json").read_text())
        check_vignette(pid, p)
        html = (vignette_run / f"reports/{pid}.html").read_text()
        assert ('id="data-to-obtain"' in html) is bool(
            p["data_to_obtain"] or p["data_issues"]
            or any(v["state"] in ("conflicting", "stale", "rejected")
                   for v in p["safety_inputs"].values())), pid


def test_rejected_values_are_named_with_their_patient(vignette_run):
    problems = pd.concat([pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False)
                          for p in sorted(vignette_run.glob("**/problems.tsv"))])
    furlongs = problems[problems["message"].str.contains("furlongs")]
    assert set(furlongs["patient_id"]) == {"V39"}
