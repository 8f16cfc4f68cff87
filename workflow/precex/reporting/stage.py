"""Report jobs: one warm kernel renders a whole shard; the batch report is one notebook run."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from precex.io.files import job_folder, write_in_job_folder, write_tsv
from precex.io.problem_tables import write_problems
from precex.problems import Problem
from precex.reporting.patient import environment_error
from precex.reporting.pdf import print_pdf, require_chromium
from precex.reporting.runner import RenderJob, render_batch, render_many


@dataclass(frozen=True)
class ShardInputs:
    summary: str
    profiles: str  # the shard's folders of profile and prescription JSON
    prescriptions: str
    provenance: str
    notebook: str
    research: str | None = None


@dataclass(frozen=True)
class ShardOutputs:
    reports: str = job_folder()  # folder: {patient}.html (and .pdf)
    handouts: str = job_folder()  # folder: {patient}.html and {patient}.ics
    index: str
    exclusions: str
    problems: str


@dataclass(frozen=True)
class ShardParams:
    pdf: bool
    care_team_phone: str = ""


def run_shard(*, inputs: ShardInputs, outputs: ShardOutputs, params: ShardParams) -> None:
    """Render the shard's reports, and each patient's handout and session calendar, into the
    shard's report and handout folders (registered for `snakemake --report`; precex.publish
    puts them at results/reports/ and results/handouts/)."""
    # pandas here, not at the top: the batch report's job (on the batch's critical path) does
    # not need it
    import pandas as pd

    from precex.io.tables import read_text_table

    chromium = require_chromium("config (report_pdf)") if params.pdf else ""
    os.makedirs(outputs.reports, exist_ok=True)
    summary = read_text_table(inputs.summary)
    jobs = [RenderJob(pid, {
        "profile_path": os.path.abspath(Path(inputs.profiles) / f"{pid}.json"),
        "prescription_path": os.path.abspath(Path(inputs.prescriptions) / f"{pid}.json"),
        "provenance_path": os.path.abspath(inputs.provenance),
        "research_path": os.path.abspath(inputs.research) if inputs.research else "",
    }, str(Path(outputs.reports) / f"{pid}.html")) for pid in summary["patient_id"]]
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The kernel renders the reports while this process writes the handouts and calendars
        # (each about a second per 1,000 patients), so the job takes the longer of the two,
        # not their sum; the handouts of patients whose report fails are removed below.
        rendering = pool.submit(render_batch, inputs.notebook, jobs) if jobs else None
        write_handouts(summary["patient_id"], inputs.prescriptions, outputs.handouts,
                       params.care_team_phone)
        failures = rendering.result() if rendering else {}
    if params.pdf:
        reference = json.loads(Path(inputs.provenance).read_text(encoding="utf-8"))["config"][
            "reference_date"]
        for job in jobs:
            if job.key in failures:
                continue
            try:
                print_pdf(job.out_html, Path(job.out_html).with_suffix(".pdf"), reference,
                          chromium)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
                if environment_error(err):
                    raise  # the machine's problem: the job fails, nobody is excluded
                # a requested output is missing: the report fails as a whole (an exclusion
                # with the reason), never a silent HTML-only patient, and leaves no part of
                # itself to publish (render_batch already removed failed renders' HTML)
                failures[job.key] = f"report PDF could not be printed ({err})"
                Path(job.out_html).unlink(missing_ok=True)
                Path(job.out_html).with_suffix(".pdf").unlink(missing_ok=True)
    remove_handouts(outputs.handouts, failures)
    rows = [{"patient_id": j.key, "report": f"reports/{j.key}.html"} for j in jobs
            if j.key not in failures]
    write_tsv(outputs.index, pd.DataFrame(rows, columns=["patient_id", "report"]))
    problems = [Problem(os.path.basename(inputs.notebook), f"{reason}.", "see the job log.",
                        patient_id=pid, stage="report") for pid, reason in sorted(failures.items())]
    write_problems(problems, "report", outputs.exclusions, outputs.problems)


def write_handouts(patient_ids: Iterable[str], prescriptions: str, handout_dir: str,
                   care_team_phone: str = "") -> None:
    """A one-page handout and a calendar of week 1 per patient."""
    from precex.reporting.handout import render_handout, session_calendar

    os.makedirs(handout_dir, exist_ok=True)
    for pid in patient_ids:
        prescription = json.loads((Path(prescriptions) / f"{pid}.json").read_text(
            encoding="utf-8"))
        html = render_handout(prescription, care_team_phone)
        write_in_job_folder(Path(handout_dir) / f"{pid}.html", html)
        write_in_job_folder(Path(handout_dir) / f"{pid}.ics", session_calendar(prescription))


def remove_handouts(handout_dir: str, failures: Iterable[str]) -> None:
    """A patient whose report failed is excluded and gets no handout or calendar either."""
    for pid in failures:
        for suffix in (".html", ".ics"):
            (Path(handout_dir) / f"{pid}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True)
class CohortInputs:
    profiles: str
    prescriptions: str
    exclusions: str
    problems: list[str]
    provenance: str
    reports: list[str]  # the shards' report indexes
    notebook: str
    rulebase: str
    trial: str | None = None
    adaptations: str | None = None
    model_card: str | None = None


@dataclass(frozen=True)
class CohortOutputs:
    html: str


@dataclass(frozen=True)
class CohortParams:
    pass


def run_cohort(*, inputs: CohortInputs, outputs: CohortOutputs, params: CohortParams) -> None:
    """The batch report: the cohort notebook rendered like a patient report (papermill
    parameters, one kernel on private IPC sockets, the kernel's own stderr in the job log)."""
    def absolute(path: str | None) -> str:
        return os.path.abspath(path) if path else ""

    parameters = {
        "profiles_path": absolute(inputs.profiles),
        "prescriptions_path": absolute(inputs.prescriptions),
        "exclusions_path": absolute(inputs.exclusions),
        "problems_paths": [absolute(p) for p in inputs.problems],
        "provenance_path": absolute(inputs.provenance),
        "report_index_paths": [absolute(p) for p in inputs.reports],
        "trial_path": absolute(inputs.trial),
        "adaptations_path": absolute(inputs.adaptations),
        "rulebase_path": absolute(inputs.rulebase),
        "model_card_path": absolute(inputs.model_card),
    }
    failures = render_many(inputs.notebook, [RenderJob("batch report", parameters,
                                                       outputs.html)])
    if failures:
        raise RuntimeError(failures["batch report"])
