"""precex adapt for one patient, and the jobs behind the Snakemake `adapt` target: the
follow-up tables split by shard, each shard adapted, the shards' tables merged."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
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
    write_in_job_folder,
    write_text,
    write_text_if_changed,
    write_tsv,
)
from precex.io.tables import merge_sorted, read_text_table
from precex.prescription.rules import load_rulebase
from precex.prescription.schema import read_prescription
from precex.problems import (
    EXCLUSION_COLUMNS,
    PROBLEM_COLUMNS,
    PROBLEM_ORDER,
    InputError,
    Problem,
    write_problems,
)
from precex.rule_features import rule_features

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
    rulebase = load_rulebase(rulebase_path, rule_features())
    features = adaptation_features(prescription, wear, sym, symptoms_path or "", wearables_path)
    through = last_days(wear, sym).get(prescription["patient_id"]) or issue_date(prescription)
    adapted = adapt(prescription, features, rulebase, through)
    write_text(out_path, json_dumps(adapted))
    fhir_path = out_path[:-5] + ".fhir.json" if out_path.endswith(".json") else (
        out_path + ".fhir.json")
    write_text(fhir_path, json_dumps(adapted_bundle(adapted)))
    return adapted


def adapted_bundle(adapted: dict[str, Any], options: Any = None) -> dict[str, Any]:
    """The adapted prescription's own FHIR bundle; its status follows the adaptation (a stop
    holds the CarePlan and the exercise order until cleared). `options`: FhirOptions."""
    from precex.prescription.fhir import FhirOptions, prescription_bundle, validate_bundle

    bundle = prescription_bundle(adapted, options or FhirOptions())
    validate_bundle(bundle)
    return bundle


@dataclass(frozen=True)
class SplitInputs:
    wearables: str
    symptoms: str | None = None


@dataclass(frozen=True)
class SplitOutputs:
    wearables: list[str]  # one table per shard, in the order of params.shards
    symptoms: list[str]
    problems: str  # rows of patients outside the batch; they exclude nobody


@dataclass(frozen=True)
class SplitParams:
    shards: dict[str, list[str]]


def split_followup(*, inputs: SplitInputs, outputs: SplitOutputs, params: SplitParams) -> None:
    """Read the follow-up tables once and write each shard's rows (with the user's row
    numbers), so shard jobs read only their own patients (reading the whole table in every
    shard would cost patients x shards). Rows for a patient in no shard are reported here.
    A shard's table is rewritten only when its rows changed, so only the shards whose
    follow-up data changed are adapted again."""
    shard_of = {pid: shard for shard, ids in params.shards.items() for pid in ids}
    problems: list[Problem] = []
    tables = {"wearables": inputs.wearables, "symptoms": inputs.symptoms}
    for what, path in tables.items():
        out_paths = dict(zip(params.shards, getattr(outputs, what), strict=True))
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
        for name in params.shards:
            part = groups.get(name, frame.iloc[0:0])
            write_text_if_changed(out_paths[name], part.to_csv(sep="\t", index=False,
                                                               lineterminator="\n"))
    write_problems(problems, "adaptation", None, outputs.problems)


@dataclass(frozen=True)
class ShardInputs:
    summary: str
    profiles: str  # the shard's folders of profile and prescription JSON
    prescriptions: str
    followup_wearables: str
    followup_symptoms: str
    rulebase: str
    provenance: str
    notebook: str | None = None  # None: adapted prescriptions only, no reports (benchmarks)


@dataclass(frozen=True)
class ShardOutputs:
    adaptations: str  # folder: {patient}.week-N.json and .week-N.fhir.json
    reports: str  # folder: {patient}.week-N.html
    table: str
    exclusions: str
    problems: str
    handouts: str | None = None  # folder: {patient}.week-N.html, the patient's week


@dataclass(frozen=True)
class ShardParams:
    wearables_source: str  # the user's files, named in problems (the shard reads its slice)
    symptoms_source: str | None = None
    fhir_requester: str = ""
    fhir_bundle_type: str = "collection"
    fhir_identifier_system: str = "urn:precex:patient-id"
    care_team_phone: str = ""


def run_shard(*, inputs: ShardInputs, outputs: ShardOutputs, params: ShardParams) -> None:
    """One shard's adapted prescriptions and their reports. A patient whose data has a
    problem is excluded (stage adaptation). Problems name the user's file and row, not the
    shard's slice of it."""
    out_dir = Path(outputs.adaptations)
    ids = read_text_table(inputs.summary)["patient_id"].tolist()
    rx_dir = Path(inputs.prescriptions)
    prescriptions = {pid: read_prescription(str(rx_dir / f"{pid}.json"), "adaptation")
                     for pid in ids}
    issued = {pid: issue_date(p) for pid, p in prescriptions.items()}
    symptoms = inputs.followup_symptoms if params.symptoms_source else None
    wear, sym, problems = read_followup(inputs.followup_wearables, symptoms, issued,
                                        params.wearables_source, params.symptoms_source)
    rulebase = load_rulebase(inputs.rulebase, rule_features())
    excluded = {p.patient_id for p in problems if p.patient_id}
    os.makedirs(out_dir, exist_ok=True)
    if outputs.handouts:  # a declared output: there even when no patient is adapted
        os.makedirs(outputs.handouts, exist_ok=True)
    rows = []
    features_by, failed = shard_adaptation_features(
        {pid: p for pid, p in prescriptions.items() if pid not in excluded}, wear, sym,
        params.symptoms_source or "", params.wearables_source, shard_hrv_readiness(wear))
    last_day = last_days(wear, sym)
    for pid, found in failed.items():
        problems += [Problem(q.file, q.message, q.fix, q.row, q.column, pid, "adaptation")
                     for q in found]
    fired = fired_rules(rulebase, features_by)  # each rule once for the shard
    from precex.prescription.fhir import FhirOptions

    options = FhirOptions.from_params(params)
    for pid, features in features_by.items():
        prescription = prescriptions[pid]
        through = last_day.get(pid) or issue_date(prescription)
        adapted = adapt(prescription, features, rulebase, through, fired[pid])
        week = adapted["adaptation"]["week"]
        name = f"{pid}.week-{week}.json"
        write_in_job_folder(out_dir / name, json_dumps(adapted))
        write_in_job_folder(out_dir / f"{pid}.week-{week}.fhir.json",
                            json_dumps(adapted_bundle(adapted, options)))
        if outputs.handouts:  # the patient's own page for the week (a stop says so first)
            from precex.reporting.handout import render_handout

            write_in_job_folder(Path(outputs.handouts) / f"{pid}.week-{week}.html",
                                render_handout(adapted, params.care_team_phone))
        rows.append({"patient_id": pid, "week": week,
                     "decision": adapted["adaptation"]["decision"],
                     "current_week": adapted["adaptation"]["current_week"],
                     "status": adapted["status"], "data_through": through.isoformat(),
                     "file": f"adaptations/prescriptions/{name}"})
    os.makedirs(outputs.reports, exist_ok=True)
    if inputs.notebook:
        problems += render_reports(rows, inputs.profiles, str(out_dir), outputs.reports,
                                   inputs.notebook, inputs.provenance)
    write_tsv(outputs.table, pd.DataFrame(rows, columns=SUMMARY))
    write_problems(problems, "adaptation", outputs.exclusions, outputs.problems)


@dataclass(frozen=True)
class MergeInputs:
    tables: list[str]
    exclusions: list[str]
    problems: list[str]


@dataclass(frozen=True)
class MergeOutputs:
    table: str
    exclusions: str
    problems: str


@dataclass(frozen=True)
class MergeParams:
    pass


def merge_shards(*, inputs: MergeInputs, outputs: MergeOutputs, params: MergeParams) -> None:
    """The batch's adaptations.tsv, exclusions.tsv and problems.tsv from the shards' (and the
    split job's) tables, sorted so the result does not depend on the shard size."""
    write_tsv(outputs.table, merge_sorted(inputs.tables, ["patient_id"], columns=SUMMARY))
    write_tsv(outputs.exclusions, merge_sorted(inputs.exclusions,
                                               ["patient_id", "stage", "reason"],
                                               columns=EXCLUSION_COLUMNS))
    write_tsv(outputs.problems, merge_sorted(inputs.problems, PROBLEM_ORDER, numeric=["row"],
                                             columns=PROBLEM_COLUMNS))


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
    failures = render_batch(notebook, jobs) if jobs else {}  # failed: no HTML left
    return [Problem(notebook, message, "see the job log.", patient_id=pid, stage="adaptation")
            for pid, message in sorted(failures.items())]
