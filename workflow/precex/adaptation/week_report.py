"""One shard's adapted week rendered (rule adapt_report): the reports and the handouts.

A job of its own, so week N+1's plans are prescribed while week N's reports render. It imports
no pandas and none of the engine (about 0.6 s of each week's job): it reads the week's table
with the csv module and renders what the plans job wrote.
"""

from __future__ import annotations

import csv
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from precex.io.files import job_folder, write_in_job_folder
from precex.io.problem_tables import write_problems
from precex.prescription.schema import read_prescription
from precex.problems import Problem


@dataclass(frozen=True)
class WeekReportInputs:
    table: str  # the week's adaptations.tsv (who was adapted, and their files)
    adaptations: str  # the week's adapted prescriptions
    profiles: str
    provenance: str
    notebook: str


@dataclass(frozen=True)
class WeekReportOutputs:
    reports: str = job_folder()
    handouts: str = job_folder()
    problems: str


@dataclass(frozen=True)
class WeekReportParams:
    care_team_phone: str = ""


def week_rows(path: str) -> list[dict[str, str]]:
    """The rows of a week's adaptations.tsv (as precex wrote it), every cell as text."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def render_week(*, inputs: WeekReportInputs, outputs: WeekReportOutputs,
                params: WeekReportParams) -> None:
    """The reports and handouts of one shard's adapted week. The kernel renders the reports
    while this process writes the handouts, as the baseline's report job does: the job takes
    the longer of the two, not their sum."""
    rows = week_rows(inputs.table)
    os.makedirs(outputs.reports, exist_ok=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        rendering = pool.submit(render_reports, rows, inputs.profiles, inputs.adaptations,
                                outputs.reports, inputs.notebook, inputs.provenance)
        write_handouts(rows, inputs.adaptations, outputs.handouts, params.care_team_phone)
        problems = rendering.result()
    write_problems(problems, "adaptation", None, outputs.problems)


def write_handouts(rows: list[dict[str, Any]], adaptations: str, handouts: str,
                   care_team_phone: str) -> None:
    """Each adapted week's patient page (a stop says so first)."""
    from precex.reporting.handout import render_handout

    os.makedirs(handouts, exist_ok=True)  # a declared output: there even when nobody is
    for row in rows:
        name = Path(row["file"]).name
        adapted = read_prescription(str(Path(adaptations) / name), "adaptation",
                                    str(row["patient_id"]))
        write_in_job_folder(Path(handouts) / name.replace(".json", ".html"),
                            render_handout(adapted, care_team_phone))


def render_reports(rows: list[dict[str, Any]], profiles: str, out_dir: str, report_dir: str,
                   notebook: str, provenance: str) -> list[Problem]:
    """Each adapted prescription rendered with the batch report notebook (one run for the
    shard) into the shard's report_dir; the report shows the plan for the coming week and the
    history of adaptations."""
    from precex.reporting.runner import RenderJob, render_batch

    os.makedirs(report_dir, exist_ok=True)
    jobs = [RenderJob(r["patient_id"], {
        "profile_path": os.path.abspath(Path(profiles) / f"{r['patient_id']}.json"),
        "prescription_path": os.path.abspath(Path(out_dir) / Path(r["file"]).name),
        "provenance_path": os.path.abspath(provenance),
        "research_path": "",
    }, str(Path(report_dir) / Path(r["file"]).with_suffix(".html").name)) for r in rows]
    # a full disk raises OSError in render_batch: the job fails and nobody is excluded
    failures = render_batch(notebook, jobs) if jobs else {}  # failed: no HTML left
    return [Problem(notebook, message, "see the job log.", patient_id=pid, stage="adaptation")
            for pid, message in sorted(failures.items())]
