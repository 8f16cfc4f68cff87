"""precex adapt for one patient, and the batch job behind the Snakemake `adapt` target."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pandas as pd

from precex.adaptation.engine import adapt, fired_rules
from precex.adaptation.features import (
    SOURCE_ROW,
    adaptation_features,
    issue_date,
    require_day_columns,
    shard_adaptation_features,
    shard_hrv_readiness,
    validate_days,
)
from precex.io.files import (
    json_dumps,
    read_delimited,
    write_text,
    write_text_if_changed,
    write_tsv,
)
from precex.io.stage_output import write_stage_outputs
from precex.prescription.rules import load_rulebase
from precex.prescription.schema import read_prescription
from precex.problems import InputError, Problem
from precex.profile.host import known_features

SUMMARY = ["patient_id", "week", "decision", "current_week", "status", "data_through", "file"]


def read_table(path: str, what: str) -> pd.DataFrame:
    return read_delimited(path, "adaptation", what)


def last_days(*frames: pd.DataFrame | None) -> dict[str, dt.date]:
    """Each patient's last follow-up day over the validated tables, in one grouping."""
    days = pd.concat([f[["patient_id", "day"]] for f in frames if f is not None and len(f)]
                     or [pd.DataFrame(columns=["patient_id", "day"])])
    return days.dropna(subset=["day"]).groupby("patient_id")["day"].max().to_dict()


def read_followup(wearables_path: str, symptoms_path: str | None, issued: dict[str, dt.date],
                  wearables_source: str | None = None, symptoms_source: str | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None, list[Problem]]:
    """The follow-up wearable (and symptom) days, validated against each patient's date.
    Problems name the *_source files (default: the paths read), e.g. the user's file when a
    shard's slice of it is read."""
    wear, problems = validate_days(read_table(wearables_path, "wearables"),
                                   wearables_source or wearables_path, issued, "wearables")
    sym = None
    if symptoms_path:
        sym, found = validate_days(read_table(symptoms_path, "symptoms"),
                                   symptoms_source or symptoms_path, issued, "symptoms")
        problems += found
    return wear, sym, problems


def adapt_one(prescription_path: str, wearables_path: str, symptoms_path: str | None,
              out_path: str, rulebase_path: str) -> dict[str, Any]:
    """CLI use: every problem in the inputs is an error (nothing silently ignored)."""
    prescription = read_prescription(prescription_path, "adaptation")
    issued = {prescription["patient_id"]: issue_date(prescription)}
    wear, sym, problems = read_followup(wearables_path, symptoms_path, issued)
    if problems:
        raise InputError(problems)
    rulebase = load_rulebase(rulebase_path, known_features())
    features = adaptation_features(prescription, wear, sym, symptoms_path or "", wearables_path)
    through = last_days(wear, sym).get(prescription["patient_id"]) or issue_date(prescription)
    adapted = adapt(prescription, features, rulebase, through)
    write_text(out_path, json_dumps(adapted))
    fhir_path = out_path[:-5] + ".fhir.json" if out_path.endswith(".json") else (
        out_path + ".fhir.json")
    write_text(fhir_path, json_dumps(adapted_bundle(adapted)))
    return adapted


def adapted_bundle(adapted: dict[str, Any]) -> dict[str, Any]:
    """The adapted prescription's own FHIR bundle; its status follows the adaptation (a stop
    leaves the CarePlan in draft until cleared)."""
    from precex.prescription.fhir import prescription_bundle, validate_bundle

    bundle = prescription_bundle(adapted)
    validate_bundle(bundle)
    return bundle


def split_followup(wearables_path: str, symptoms_path: str | None,
                   shard_ids: dict[str, list[str]], out_paths: dict[str, dict[str, str]],
                   out_exclusions: str, out_problems: str) -> None:
    """Read the follow-up tables once and write each shard's rows (with the user's row
    numbers) to out_paths[what][shard], what in wearables/symptoms, so shard jobs read only their
    own patients (reading the whole table in every shard would cost patients x shards).
    Rows for a patient in no shard are reported here."""
    shard_of = {pid: shard for shard, ids in shard_ids.items() for pid in ids}
    problems: list[Problem] = []
    tables = {"wearables": wearables_path, "symptoms": symptoms_path}
    for what, path in tables.items():
        frame = read_table(path, what) if path else pd.DataFrame(columns=["patient_id", "date"])
        frame = require_day_columns(frame, path or "", what)
        frame = frame.assign(**{SOURCE_ROW: range(1, len(frame) + 1)})
        ids = frame["patient_id"].astype(str).str.strip()
        shard = ids.map(shard_of)
        for r, pid in zip(frame.loc[shard.isna(), SOURCE_ROW], ids[shard.isna()], strict=True):
            problems.append(Problem(path or "", f"patient '{pid}' is not in the patient sheet.",
                                    "check the ID or the sheet.", row=int(r),
                                    column="patient_id", stage="adaptation"))
        groups = dict(tuple(frame.groupby(shard, sort=False))) if len(frame) else {}
        for name in shard_ids:
            part = groups.get(name, frame.iloc[0:0])
            write_tsv_if_changed(Path(out_paths[what][name]), part)
    write_stage_outputs(problems, "adaptation", out_exclusions, out_problems)


def remove_stale_weeks(patient_ids: list[str], folders: tuple[tuple[Path, str], ...]) -> None:
    """Delete every `{patient}.week-*{suffix}` file of these patients, so no stale week
    survives a rerun. Each folder is listed once: a glob per patient would read the whole
    batch's folder once per patient (patients x batch size)."""
    mine = set(patient_ids)
    for folder, suffix in folders:
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                pid, sep, rest = entry.name.rpartition(".week-")
                if sep and pid in mine and rest.endswith(suffix):
                    os.unlink(entry.path)


def write_tsv_if_changed(path: Path, frame: pd.DataFrame) -> None:
    # Unchanged shards keep their timestamps, so only the shards whose follow-up data changed
    # are adapted again.
    write_text_if_changed(path, frame.to_csv(sep="\t", index=False, lineterminator="\n"))


def run_shard(summary_tsv: str, shard_ids: list[str], results: str, wearables_path: str,
              symptoms_path: str | None, wearables_source: str, symptoms_source: str | None,
              rulebase_path: str, out_table: str, out_exclusions: str, out_problems: str,
              report_dir: str, notebook: str | None, provenance: str) -> None:
    """One shard's adapted prescriptions (results/adaptations/prescriptions/) and reports
    (none without a notebook). A patient whose data has a problem is excluded (stage
    adaptation). Problems name the user's file (wearables_source) and row, not the shard's
    slice of it."""
    out_dir = Path(results) / "adaptations" / "prescriptions"
    published = Path(results) / "adaptations" / "reports"
    remove_stale_weeks(shard_ids, ((out_dir, ".json"), (published, ".html")))
    ids = pd.read_csv(summary_tsv, sep="\t", dtype=str, keep_default_na=False)[
        "patient_id"].tolist()
    rx_dir = Path(results) / "prescriptions"
    prescriptions = {pid: read_prescription(str(rx_dir / f"{pid}.json"), "adaptation")
                     for pid in ids}
    issued = {pid: issue_date(p) for pid, p in prescriptions.items()}
    wear, sym, problems = read_followup(wearables_path, symptoms_path, issued,
                                        wearables_source, symptoms_source)
    rulebase = load_rulebase(rulebase_path, known_features())
    excluded = {p.patient_id for p in problems if p.patient_id}
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    features_by, failed = shard_adaptation_features(
        {pid: p for pid, p in prescriptions.items() if pid not in excluded}, wear, sym,
        symptoms_source or "", wearables_source, shard_hrv_readiness(wear))
    last_day = last_days(wear, sym)
    for pid, found in failed.items():
        problems += [Problem(q.file, q.message, q.fix, q.row, q.column, pid, "adaptation")
                     for q in found]
    fired = fired_rules(rulebase, features_by)  # each rule once for the shard
    for pid, features in features_by.items():
        prescription = prescriptions[pid]
        through = last_day.get(pid) or issue_date(prescription)
        adapted = adapt(prescription, features, rulebase, through, fired[pid])
        week = adapted["adaptation"]["week"]
        name = f"{pid}.week-{week}.json"
        write_text(out_dir / name, json_dumps(adapted))
        write_text(out_dir / f"{pid}.week-{week}.fhir.json", json_dumps(adapted_bundle(adapted)))
        rows.append({"patient_id": pid, "week": week,
                     "decision": adapted["adaptation"]["decision"],
                     "current_week": adapted["adaptation"]["current_week"],
                     "status": adapted["status"], "data_through": through.isoformat(),
                     "file": f"adaptations/prescriptions/{name}"})
    if notebook:
        problems += render_reports(rows, results, str(out_dir), report_dir, notebook, provenance)
    write_tsv(out_table, pd.DataFrame(rows, columns=SUMMARY))
    write_stage_outputs(problems, "adaptation", out_exclusions, out_problems)


def merge_shards(tables: list[str], exclusions: list[str], problems: list[str],
                 out_table: str, out_exclusions: str, out_problems: str) -> None:
    """The batch's adaptations.tsv, exclusions.tsv and problems.tsv from the shards' (and the
    split job's) tables, sorted so the result does not depend on the shard size."""
    def concat(paths: list[str], by: list[str]) -> pd.DataFrame:
        frames = [pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in paths]
        frame = pd.concat(frames, ignore_index=True)
        return frame.sort_values(by, kind="stable") if len(frame) else frame

    write_tsv(out_table, concat(tables, ["patient_id"]))
    write_tsv(out_exclusions, concat(exclusions, ["patient_id", "stage", "reason"]))
    table = concat(problems, ["file", "row", "patient_id", "message"])
    if len(table):  # rows sort as numbers (as write_stage_outputs does), blanks first
        key = pd.to_numeric(table["row"], errors="coerce")
        table = table.assign(_row=key).sort_values(["file", "_row", "patient_id", "message"],
                                                   na_position="first", kind="stable")
        table = table.drop(columns="_row")
    write_tsv(out_problems, table)


def render_reports(rows: list[dict[str, Any]], results: str, out_dir: str, report_dir: str,
                   notebook: str, provenance: str) -> list[Problem]:
    """Each adapted prescription rendered with the patient-report notebook (one batch notebook run)
    into the shard's report_dir and linked to results/adaptations/reports/; the report then
    shows the plan for the coming week and the history of adaptations."""
    from precex.reporting.runner import RenderJob, render_batch
    from precex.reporting.stage import publish

    os.makedirs(report_dir, exist_ok=True)
    jobs = [RenderJob(r["patient_id"], {
        "profile_path": os.path.abspath(Path(results) / "profiles" / f"{r['patient_id']}.json"),
        "prescription_path": os.path.abspath(Path(out_dir) / Path(r["file"]).name),
        "provenance_path": os.path.abspath(provenance),
        "research_path": "",
    }, str(Path(report_dir) / Path(r["file"]).with_suffix(".html").name)) for r in rows]
    failures = render_batch(notebook, jobs) if jobs else {}
    published = Path(results) / "adaptations" / "reports"
    for job in jobs:
        if job.key not in failures:
            publish(job.out_html, published / Path(job.out_html).name)
    return [Problem(notebook, message, "see the job log.", patient_id=pid, stage="adaptation")
            for pid, message in sorted(failures.items())]
