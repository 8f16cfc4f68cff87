"""The lines a finished `precex run` ends with: plans by status, patients without a plan,
plans resting on data with issues, problems per stage, where to look (issue 42)."""

from __future__ import annotations

from pathlib import Path

from precex.run_summary import run_summary


def table(path: Path, header: list[str], *rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")


def test_a_batch_with_exclusions_and_problems_says_so(tmp_path):
    results = tmp_path / "results"
    table(results / "validated/roster.tsv", ["patient_id", "status", "age"],
          ["P1", "valid", "50"], ["P2", "valid", "60"], ["P3", "excluded", ""],
          ["P4", "valid", "70"])
    table(results / "prescriptions/prescriptions.tsv", ["patient_id", "status"],
          ["P1", "prescribed"], ["P2", "clearance_required"], ["P4", "prescribed"])
    table(results / "exclusions.tsv", ["patient_id", "stage", "reason"],
          ["P3", "sheet", "age 'sixty'"], ["P4", "epigenetics", "sample unmatched"])
    problem = ["stage", "file", "row", "column", "patient_id", "message", "fix"]
    table(results / "blood/problems.tsv", problem,
          ["blood", "blood.tsv", "3", "date", "P2", "date '12/29/2025'", "write ISO dates"],
          ["blood", "blood.tsv", "4", "unit", "P2", "unit 'gm/dL'", "a UCUM unit"])
    table(results / "shards/shard0001/report_problems.tsv", problem)
    text = run_summary(results)
    first = text.splitlines()[0]
    assert "3 of 4 patients have a plan (1 clearance required, 2 prescribed)" in first
    assert "1 have none (P3: reasons in" in first and "exclusions.tsv" in first
    assert "2 plans rest on data with issues or data left out" in first  # P2 and P4
    assert "Problems by stage: blood 2" in text
    assert str(results / "reports" / "cohort.html") in text and "precex review" in text


def test_a_clean_batch_says_no_problem_and_an_empty_folder_says_nothing(tmp_path):
    results = tmp_path / "results"
    assert run_summary(results) is None
    table(results / "prescriptions/prescriptions.tsv", ["patient_id", "status"],
          ["P1", "prescribed"])
    table(results / "exclusions.tsv", ["patient_id", "stage", "reason"])
    text = run_summary(results)
    assert "1 of 1 patients have a plan" in text and "0 have none" in text
    assert "No input problem in any stage." in text
