"""Every bad input that must stop a run stops `precex validate`, in-process, with a clear error.

`precex validate` reads the config, the rule base, the sheet and every configured input with
the readers and checks that a run's jobs use, so the corpus's 37 stopping cases are checked
here in about 0.3 s each; tests/e2e/test_bad_inputs.py runs one case per layer (and the few
that only a run finds) through `precex run` as well.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bad_inputs import apply_case, load_cases
from precex import cli
from precex.demo.cohort import generate_cohort, write_cohort

STOPS = [c for c in load_cases() if "error" in c["expect"]]
IN_PROCESS = [c for c in STOPS if c.get("validate", True)]


@pytest.fixture(scope="module")
def base_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus's cohort, as `precex demo --patients 60 --seed 5` writes it."""
    out = tmp_path_factory.mktemp("bad_input_stops") / "base"
    write_cohort(generate_cohort(60, 5), out)
    return out


@pytest.mark.parametrize("case", IN_PROCESS, ids=[c["id"] for c in IN_PROCESS])
def test_case_stops_validate_with_a_clear_error(case, base_cohort, tmp_path, monkeypatch,
                                                capsys):
    cohort = tmp_path / "cohort"
    shutil.copytree(base_cohort, cohort)
    apply_case(case, cohort)
    monkeypatch.chdir(cohort)
    code = cli.main(["validate", "--configfile", "config.yaml"])
    err = capsys.readouterr().err
    assert code == 1, err[-3000:]
    assert "Traceback" not in err and "internal error" not in err, err[-3000:]
    for message in case["expect"]["error"]["messages"]:
        assert message in err, (message, err[-3000:])


def test_the_unbroken_cohort_is_valid(base_cohort, monkeypatch, capsys):
    """The same cohort without the case's edit passes: the stops above are the edits'."""
    monkeypatch.chdir(base_cohort)
    assert cli.main(["validate", "--configfile", "config.yaml"]) == 0, capsys.readouterr().err
