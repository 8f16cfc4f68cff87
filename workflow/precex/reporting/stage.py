"""Report jobs: one warm kernel renders a whole shard; the batch report is one notebook run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from precex.io.files import write_bytes, write_text, write_tsv
from precex.problems import EXCLUSION_COLUMNS
from precex.reporting.pdf import print_pdf, require_chromium
from precex.reporting.runner import RenderJob, render_batch, render_many


def run_shard(summary_tsv: str, shard_ids: list[str], results: str, provenance: str,
              notebook: str, out_index: str, out_exclusions: str, shard_dir: str,
              research: str = "", handout_dir: str = "", pdf: bool = False) -> None:
    """Render the shard's reports into shard_dir (tracked by Snakemake, registered for
    `snakemake --report`) and link each to the contract path results/reports/{patient}.html;
    each patient's handout and session calendar likewise into handout_dir and
    results/handouts/{patient}.html and .ics."""
    report_dir = Path(results) / "reports"
    handouts = Path(results) / "handouts"
    chromium = require_chromium("config (report_pdf)") if pdf else ""
    for pid in shard_ids:  # no stale report, PDF or handout survives a rerun
        for stale in (report_dir / f"{pid}.html", report_dir / f"{pid}.pdf",
                      handouts / f"{pid}.html", handouts / f"{pid}.ics"):
            if stale.exists():
                os.unlink(stale)
    os.makedirs(shard_dir, exist_ok=True)
    summary = pd.read_csv(summary_tsv, sep="\t", dtype=str, keep_default_na=False)
    jobs = [RenderJob(pid, {
        "profile_path": os.path.abspath(Path(results) / "profiles" / f"{pid}.json"),
        "prescription_path": os.path.abspath(Path(results) / "prescriptions" / f"{pid}.json"),
        "provenance_path": os.path.abspath(provenance),
        "research_path": os.path.abspath(research) if research else "",
    }, str(Path(shard_dir) / f"{pid}.html")) for pid in summary["patient_id"]]
    failures = render_batch(notebook, jobs) if jobs else {}
    for job in jobs:
        if job.key not in failures:
            publish(job.out_html, report_dir / f"{job.key}.html")
    if handout_dir:
        write_handouts(summary["patient_id"], results, handout_dir, failures)
    if pdf:
        reference = json.loads(Path(provenance).read_text(encoding="utf-8"))["config"][
            "reference_date"]
        for job in jobs:
            if job.key in failures:
                continue
            out = Path(job.out_html).with_suffix(".pdf")
            try:
                print_pdf(job.out_html, out, reference, chromium)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
                # a requested output is missing: the report fails as a whole (an exclusion
                # with the reason), never a silent HTML-only patient
                failures[job.key] = f"report PDF could not be printed ({err})"
                (report_dir / f"{job.key}.html").unlink(missing_ok=True)
                continue
            publish(out, report_dir / out.name)
    rows = [{"patient_id": j.key, "report": f"reports/{j.key}.html"} for j in jobs
            if j.key not in failures]
    write_tsv(out_index, pd.DataFrame(rows, columns=["patient_id", "report"]))
    excl = [{"patient_id": k, "stage": "report", "reason": v} for k, v in sorted(failures.items())]
    write_tsv(out_exclusions, pd.DataFrame(excl, columns=EXCLUSION_COLUMNS))


def write_handouts(patient_ids: Iterable[str], results: str, handout_dir: str,
                   failures: dict[str, str]) -> None:
    """A one-page handout and a calendar of week 1 per patient whose report rendered."""
    from precex.reporting.handout import render_handout, session_calendar

    os.makedirs(handout_dir, exist_ok=True)
    for pid in patient_ids:
        if pid in failures:  # an excluded patient gets no handout either
            continue
        path = Path(results) / "prescriptions" / f"{pid}.json"
        prescription = json.loads(path.read_text(encoding="utf-8"))
        html, ics = Path(handout_dir) / f"{pid}.html", Path(handout_dir) / f"{pid}.ics"
        write_text(html, render_handout(prescription))
        write_bytes(ics, session_calendar(prescription))
        publish(html, Path(results) / "handouts" / html.name)
        publish(ics, Path(results) / "handouts" / ics.name)


def publish(source: str | os.PathLike[str], target: Path) -> None:
    """Hard-link (same bytes, no copy) or, across file systems, copy; atomically replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.link")
    if tmp.exists():
        os.unlink(tmp)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def run_cohort(notebook: str, parameters: dict, out_html: str) -> None:
    """The batch report: the cohort notebook rendered like a patient report (papermill
    parameters, one kernel on private IPC sockets, the kernel's own stderr in the job log)."""
    failures = render_many(notebook, [RenderJob("batch report", parameters, out_html)])
    if failures:
        raise RuntimeError(failures["batch report"])
