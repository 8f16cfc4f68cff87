"""What a finished `precex run` tells the core at the end: patients prescribed (by status),
excluded, with data issues, problems per stage, and where the reports and the review queue
are. Snakemake's own last line ("Complete log") says nothing about any of that, and a batch
with 16 blood problems and every methylation sample unmatched looked like a clean run.

Read from the results folder's tables with the csv module (the CLI does not load pandas).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t"))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def problem_tables(results: Path) -> list[Path]:
    """Every stage's problems table (batch stages, then the shards' own)."""
    return sorted(results.glob("*/problems.tsv")) + sorted(results.glob("shards/*/*problems.tsv"))


def run_summary(results: str | Path) -> str | None:
    """The summary lines of a finished batch, or None when the folder holds no batch."""
    results = Path(results)
    prescribed = _rows(results / "prescriptions" / "prescriptions.tsv")
    if not prescribed and not (results / "exclusions.tsv").is_file():
        return None
    excluded = _rows(results / "exclusions.tsv")
    by_status = Counter(r.get("status", "") for r in prescribed)
    planned = {r.get("patient_id", "") for r in prescribed}
    roster = {r.get("patient_id", "") for r in _rows(results / "validated" / "roster.tsv")}
    everyone = roster | planned | {r.get("patient_id", "") for r in excluded}
    no_plan = sorted(everyone - planned)
    problems_by_stage: Counter[str] = Counter()
    issue_patients = {r.get("patient_id", "") for r in excluded}  # a stage left data out
    for table in problem_tables(results):
        for row in _rows(table):
            problems_by_stage[row.get("stage") or table.parent.name] += 1
            if row.get("patient_id"):
                issue_patients.add(row["patient_id"])
    with_issues = issue_patients & planned
    statuses = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in
                         sorted(by_status.items()))
    lines = [f"precex: batch finished: {len(planned)} of {len(everyone)} patients have a plan"
             + (f" ({statuses})" if statuses else "") + f"; {len(no_plan)} have none"
             + (f" ({', '.join(no_plan[:5])}{' ...' if len(no_plan) > 5 else ''}: reasons in "
                f"{results / 'exclusions.tsv'})" if no_plan else "")
             + f"; {len(with_issues)} plans rest on data with issues or data left out."]
    if problems_by_stage:
        listed = ", ".join(f"{stage} {n}" for stage, n in sorted(problems_by_stage.items()))
        lines.append(f"  Problems by stage: {listed} (each with file, row, patient and fix in "
                     "the stage's problems.tsv and the batch report).")
    else:
        lines.append("  No input problem in any stage.")
    lines.append(f"  Batch report: {results / 'reports' / 'cohort.html'}; patient reports in "
                 f"{results / 'reports'}; the plans awaiting sign-off: precex review.")
    return "\n".join(lines)
