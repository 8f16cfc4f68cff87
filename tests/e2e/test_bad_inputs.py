"""Every case of the bad-input corpus gets its expected outcome, and nothing is lost.

Cases that exclude a patient or report a problem are applied together (each to its own
patient) to one cohort and checked after one run. Every case that must stop is checked
in-process by tests/unit/test_bad_input_stops.py; those marked `real_run` (one per layer where
a run stops, and those only a run finds) each get a run here.
In every run no Python traceback or internal error reaches the user, and every patient of the
sheet is in the prescriptions or in results/exclusions.tsv.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from bad_inputs import apply_case, load_cases

pytestmark = pytest.mark.slow
CASES = load_cases()
RUNS_THROUGH = [c for c in CASES if "error" not in c["expect"]]
STOPS = [c for c in CASES if "error" in c["expect"]]
REAL_RUNS = [c for c in STOPS if c.get("real_run")]


def run(cohort: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", "2",
                           "--configfile", "config.yaml"], cwd=cohort, capture_output=True,
                          text=True)


def assert_clean_failure_output(result: subprocess.CompletedProcess) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text and "internal error" not in text, text[-4000:]


def table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def base_cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad_inputs") / "base"
    subprocess.run([sys.executable, "-m", "precex.cli", "demo", "--patients", "60", "--seed",
                    "5", "--out", str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def combined_run(base_cohort, tmp_path_factory):
    cohort = tmp_path_factory.mktemp("combined") / "cohort"
    shutil.copytree(base_cohort, cohort)
    for case in RUNS_THROUGH:
        apply_case(case, cohort)
    return cohort, run(cohort)


def test_the_corpus_covers_every_input():
    assert len(CASES) >= 60
    assert len({c["id"] for c in CASES}) == len(CASES)
    targets = {c["target"] for c in CASES}
    assert {"config", "patients", "blood", "wearables", "methylation", "methylation_manifest",
            "variants", "microbiome", "followup_wearables", "followup_symptoms",
            "rulebase"} <= targets
    patients = [c["expect"][k]["patient"] for c in RUNS_THROUGH for k in c["expect"]
                if "patient" in c["expect"][k]]
    assert len(patients) == len(set(patients)), "combined cases must use distinct patients"


def test_combined_cases_exclude_or_report_and_lose_nobody(combined_run):
    cohort, result = combined_run
    assert result.returncode == 0, result.stderr[-4000:]
    assert_clean_failure_output(result)
    # the run ends saying what went wrong, not just "Complete log" (issue 42)
    assert "precex: batch finished:" in result.stderr and "Problems by stage:" in result.stderr
    results = cohort / "results"
    exclusions = pd.concat([table(results / "exclusions.tsv"),
                            table(results / "adaptations/exclusions.tsv")])
    problems = pd.concat([table(p) for p in sorted(results.glob("**/problems.tsv"))])
    prescribed = set(table(results / "prescriptions/prescriptions.tsv")["patient_id"])
    sheet = table(cohort / "patients.tsv")
    lost = set(sheet["patient_id"]) - prescribed - set(exclusions["patient_id"])
    assert not lost, f"patients neither prescribed nor excluded: {sorted(lost)}"
    failures = []
    for case in RUNS_THROUGH:
        kind, want = next(iter(case["expect"].items()))
        if kind == "exclusion":
            rows = exclusions[(exclusions["patient_id"] == want["patient"])
                              & (exclusions["stage"] == want["stage"])]
            ok = rows["reason"].str.contains(want["reason"], regex=False).any()
        else:
            rows = problems[problems["file"] == want["file"]]
            if "row" in want:
                rows = rows[rows["row"] == str(want["row"])]
            ok = rows["message"].str.contains(want["message"], regex=False).any()
            if ok and "patient" in want:  # the patient keeps the rest of its data
                ok = want["patient"] in prescribed
        if not ok:
            failures.append(case["id"])
    assert failures == []
    # an ID that is a path (sheet_id_path_traversal) has no file anywhere
    assert not [p for p in cohort.rglob("*escape*")], "a file was written for '../escape'"
    # every stage's problems reach the batch report (adaptation and research included)
    report = (results / "reports/cohort.html").read_text()
    for stage, file in problems[["stage", "file"]].drop_duplicates().itertuples(index=False):
        assert f"<tr><td>{stage}</td><td>{file}</td>" in report, (stage, file)


@pytest.fixture(scope="module")
def stopped_runs(base_cohort, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """The stopping cases run for real, three at a time: most of a failed run's time is
    start-up (Snakemake's SLURM plugin queries the cluster on import), not CPU."""
    def one(case: dict) -> tuple[str, subprocess.CompletedProcess]:
        cohort = tmp_path_factory.mktemp(case["id"]) / "cohort"
        shutil.copytree(base_cohort, cohort)
        apply_case(case, cohort)
        return case["id"], run(cohort)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, REAL_RUNS))


def test_every_stop_is_checked_in_process_or_by_a_run_and_each_layer_by_a_run():
    assert all(c.get("validate", True) or c.get("real_run") for c in STOPS)
    layers = {"config", "rulebase", "patients"}
    assert layers <= {c["target"] for c in REAL_RUNS}
    assert {c["target"] for c in REAL_RUNS} - layers, "a modality stop through a real run"


@pytest.mark.parametrize("case", REAL_RUNS, ids=[c["id"] for c in REAL_RUNS])
def test_case_stops_with_a_clear_error(case, stopped_runs):
    result = stopped_runs[case["id"]]
    assert result.returncode != 0
    assert_clean_failure_output(result)
    for message in case["expect"]["error"]["messages"]:
        assert message in result.stderr, (message, result.stderr[-3000:])


def test_a_batch_where_every_patient_is_excluded_stops_with_the_reasons(base_cohort,
                                                                        tmp_path_factory):
    """Found in review: with every patient excluded the empty shard crashed the safety-input
    and agent-flag code (an internal error). It must end non-zero with the clear message, each
    patient's row and the fix, and nothing that looks like a healthy batch."""
    cohort = tmp_path_factory.mktemp("all_excluded") / "cohort"
    shutil.copytree(base_cohort, cohort)
    sheet = table(cohort / "patients.tsv")
    sheet["age"] = "sixty"
    sheet.to_csv(cohort / "patients.tsv", sep="\t", index=False)
    result = run(cohort)
    assert result.returncode != 0
    assert_clean_failure_output(result)
    assert f"no patient of {len(sheet)} could be prescribed" in result.stderr, \
        result.stderr[-3000:]
    assert "sixty" in result.stderr
