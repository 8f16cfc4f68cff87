"""precex adapt for one patient, and the jobs behind the Snakemake `adapt` target: the
follow-up tables split by shard, each shard adapted, the shards' tables merged."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precex.adaptation.engine import WeekInput, adapt, fired_rules, prescribe_weeks
from precex.adaptation.features import (
    SOURCE_ROW,
    adaptation_features,
    issue_date,
    require_day_columns,
    shard_adaptation_features,
    shard_hrv_readiness,
    validate_days,
)
from precex.adaptation.followup import normalise_followup
from precex.adaptation.week_report import render_reports, write_handouts
from precex.io.dates import iso_days
from precex.io.files import (
    job_folder,
    json_dumps,
    optional_job_folder,
    read_delimited,
    write_in_job_folder,
    write_text,
    write_text_if_changed,
    write_tsv,
)
from precex.io.problem_tables import write_problems
from precex.io.tables import merge_sorted, read_text_table
from precex.prescription.rules import load_rulebase
from precex.prescription.schema import read_prescription
from precex.problems import (
    EXCLUSION_COLUMNS,
    PROBLEM_COLUMNS,
    PROBLEM_ORDER,
    InputError,
    Problem,
)
from precex.rule_features import rule_features

SUMMARY = ["patient_id", "week", "decision", "current_week", "status", "data_through",
           "signoff", "changes", "file"]


def read_table(path: str, what: str) -> pd.DataFrame:
    return read_delimited(path, "adaptation", what)


def last_days(*frames: pd.DataFrame | None) -> dict[str, dt.date]:
    """Each patient's last follow-up day over the validated tables, in one grouping."""
    days = pd.concat([f[["patient_id", "day"]] for f in frames if f is not None and len(f)]
                     or [pd.DataFrame(columns=["patient_id", "day"])])
    return days.dropna(subset=["day"]).groupby("patient_id")["day"].max().to_dict()


def read_normalised(path: str, what: str, source: str | None = None,
                    date_format: str = "ISO") -> tuple[pd.DataFrame, list[Problem]]:
    """A follow-up table with precex's headers, IDs and dates (precex.adaptation.followup),
    and a data issue for each column it does not read. A shard's slice is read again the same
    way (already normalised: nothing changes)."""
    return normalise_followup(read_table(path, what), source or path, what, date_format)


def read_followup(wearables_path: str, symptoms_path: str | None, issued: dict[str, dt.date],
                  wearables_source: str | None = None, symptoms_source: str | None = None,
                  date_format: str = "ISO"
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None, list[Problem]]:
    """The follow-up wearable (and symptom) days, validated against each patient's date.
    Problems name the *_source files (default: the paths read), e.g. the user's file when a
    shard's slice of it is read."""
    frame, problems = read_normalised(wearables_path, "wearables", wearables_source,
                                      date_format)
    wear, found = validate_days(frame, wearables_source or wearables_path, issued, "wearables")
    problems += found
    sym = None
    if symptoms_path:
        frame, found = read_normalised(symptoms_path, "symptoms", symptoms_source, date_format)
        problems += found
        sym, found = validate_days(frame, symptoms_source or symptoms_path, issued, "symptoms")
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
    from precex.prescription.coherence import check_coherence

    check_coherence(adapted)
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
    blood: str | None = None


@dataclass(frozen=True)
class SplitOutputs:
    # shards/{shard}/followup/week-{week}.{kind}.tsv for every shard, week and FOLLOWUP_KINDS
    tables: list[str]
    problems: str  # rows of patients outside the batch or beyond the last week; none excludes


@dataclass(frozen=True)
class SplitParams:
    shards: dict[str, list[str]]
    reference_date: str = ""  # the batch's: week N is days 7(N-1)+1 .. 7N after it
    weeks: int = 12
    date_format: str = "ISO"  # the site's order for month- or day-first dates (config)


FOLLOWUP_KINDS = ("wearables", "symptoms", "blood", "patients")
WEEK_TABLE = re.compile(r"(?P<shard>[^/\\]+)[/\\]followup[/\\]week-(?P<week>\d+)\."
                        r"(?P<kind>[a-z]+)\.tsv$")
PATIENT_COLUMNS = ["patient_id", "through"]


def follow_up_days(dates: pd.Series) -> pd.Series:
    """Each date text as a day (NaT when not YYYY-MM-DD, as validate_days reads it)."""
    return iso_days(dates)


def week_numbers(dates: pd.Series, reference: dt.date) -> np.ndarray:
    """The follow-up week of each date text (1 = the 7 days after the reference date); a date
    that is not YYYY-MM-DD or not after the reference date is put in week 1, whose job reports
    it with the patient and row (as a single week's adaptation did)."""
    offset = (follow_up_days(dates) - pd.Timestamp(reference)).dt.days.to_numpy(dtype=float)
    week = np.floor((offset - 1) / 7) + 1
    return np.where(np.isnan(offset) | (offset < 1), 1, week).astype(int)


def block_end(reference: dt.date, week: int) -> dt.date:
    return reference + dt.timedelta(days=7 * week)


def split_followup(*, inputs: SplitInputs, outputs: SplitOutputs, params: SplitParams) -> None:
    """Read the follow-up tables once and write each shard's rows week by week (with the
    user's row numbers), so that each week's job reads only its own patients and days, and a
    week's table is rewritten only when its rows changed: new data for week 4 reruns week 4's
    jobs, not weeks 1-3. Each week's patients table lists who is adapted that week (everyone
    whose data reach that week or later; a week without data is adapted as such) and the day
    the week's data run through (its last day, or the last day with data in the newest week).
    Rows for a patient in no shard, or after the last adapted week, are reported here."""
    shard_of = {pid: shard for shard, ids in params.shards.items() for pid in ids}
    reference = dt.date.fromisoformat(params.reference_date)
    problems: list[Problem] = []
    parts: dict[tuple[str, int, str], pd.DataFrame] = {}
    marks = []  # (patient, week, day) of every wearable and symptom row kept
    tables = {"wearables": inputs.wearables, "symptoms": inputs.symptoms,
              "blood": inputs.blood}
    headers: dict[str, list[str]] = {}  # a week without rows keeps the table's columns
    for what, path in tables.items():
        if path:
            frame, found = read_normalised(path, what, date_format=params.date_format)
            problems += found
        else:
            frame = pd.DataFrame(columns=["patient_id", "date"])
        frame = require_day_columns(frame, path or "", what)
        frame = frame.assign(**{SOURCE_ROW: range(1, len(frame) + 1)})
        headers[what] = list(frame.columns)
        ids = frame["patient_id"].astype(str).str.strip()
        shard = ids.map(shard_of)
        for r, pid in zip(frame.loc[shard.isna(), SOURCE_ROW], ids[shard.isna()], strict=True):
            problems.append(Problem(path or "", f"patient '{pid}' is not in the patient sheet.",
                                    "check the ID or the sheet.", row=int(r),
                                    column="patient_id", stage="adaptation"))
        week = pd.Series(week_numbers(frame["date"], reference), index=frame.index)
        beyond = week > params.weeks
        for r in frame[beyond & shard.notna()].itertuples():
            problems.append(Problem(path or "", f"date {r.date} is after week {params.weeks}, "
                                    "the last week adapted; the row is not used.",
                                    "raise adaptation_weeks in the config to adapt later weeks.",
                                    row=int(getattr(r, SOURCE_ROW)), column="date",
                                    patient_id=str(r.patient_id).strip(), stage="adaptation",
                                    excludes=False))
        keep = shard.notna() & ~beyond
        frame, shard, week, ids = frame[keep], shard[keep], week[keep], ids[keep]
        if what != "blood":  # blood alone does not make a week to adapt
            marks.append(pd.DataFrame({"patient_id": ids, "week": week,
                                       "day": follow_up_days(frame["date"])}))
        for (name, number), part in frame.groupby([shard, week], sort=False):
            parts[(name, int(number), what)] = part
    # Each patient's last week, and the newest readable day in it (an unreadable date is in
    # week 1, and its job reports it): one sort over the rows, not a loop over them.
    last = (pd.concat(marks).sort_values(["week", "day"], na_position="first")
            .drop_duplicates("patient_id", keep="last").sort_values("patient_id"))
    week_patients: dict[tuple[str, int], list[dict[str, str]]] = {}
    for pid, final, day in zip(last["patient_id"], last["week"], last["day"], strict=True):
        for number in range(1, int(final) + 1):
            end = block_end(reference, number)
            through = day.date() if number == final and not pd.isna(day) else end
            week_patients.setdefault((shard_of[pid], number), []).append(
                {"patient_id": pid, "through": through.isoformat()})
    for path in outputs.tables:
        match = WEEK_TABLE.search(path)
        if match is None:
            raise ValueError(f"not a weekly follow-up table path: {path}")
        key = (match["shard"], int(match["week"]), match["kind"])
        if key[2] == "patients":
            part = pd.DataFrame(week_patients.get(key[:2], []), columns=PATIENT_COLUMNS)
        else:
            part = parts.get(key, pd.DataFrame(columns=headers[key[2]]))
        write_text_if_changed(path, part.to_csv(sep="\t", index=False, lineterminator="\n"))
    write_problems(problems, "adaptation", None, outputs.problems)


@dataclass(frozen=True)
class ShardInputs:
    summary: str
    # the plans adapted from: week 1, the shard's prescriptions ({patient}.json); week N, the
    # shard's adaptations of week N-1 ({patient}.week-{N-1}.json)
    prescriptions: str
    followup_wearables: str
    followup_symptoms: str
    rulebase: str
    patients: str | None = None  # the week's patients table (who is adapted after week 1)
    followup_blood: str | None = None  # the week's follow-up values (counts, LVEF, ...)
    signoff: str | None = None  # the sign-off log: each week is signed on its own
    signoff_users: str | None = None  # the public keys its signatures are checked with
    signoff_head: str | None = None  # the signed head beside the log (its number of decisions)
    # In-process reports only (the pipeline renders them in render_week):
    profiles: str = ""  # the shard's profile JSON folder
    provenance: str = ""
    notebook: str | None = None  # None: adapted prescriptions only, no reports


@dataclass(frozen=True)
class ShardOutputs:
    adaptations: str = job_folder()  # folder: {patient}.week-N.json and .week-N.fhir.json
    table: str
    exclusions: str
    problems: str
    # In-process use (tests, benchmarks): the reports and handouts in the same call. The
    # pipeline renders them in their own job (render_week), so the next week's plans need
    # not wait for this week's reports.
    reports: str | None = optional_job_folder()  # folder: {patient}.week-N.html
    handouts: str | None = optional_job_folder()  # folder: the patient's week-N.html


@dataclass(frozen=True)
class ShardParams:
    wearables_source: str  # the user's files, named in problems (the shard reads its slice)
    symptoms_source: str | None = None
    fhir_requester: str = ""
    fhir_bundle_type: str = "collection"
    fhir_identifier_system: str = "urn:precex:patient-id"
    care_team_phone: str = ""
    week: int = 1
    blood_source: str | None = None
    date_format: str = "ISO"


def _previous_name(pid: str, week: int) -> str:
    return f"{pid}.json" if week == 1 else f"{pid}.week-{week - 1}.json"


def run_shard(*, inputs: ShardInputs, outputs: ShardOutputs, params: ShardParams) -> None:
    """One shard's adapted prescriptions of one follow-up week (params.week) and their reports,
    each from the patient's plan of the week before. A patient whose data has a problem is
    excluded (stage adaptation). Problems name the user's file and row, not the shard's slice
    of it."""
    week = params.week
    out_dir = Path(outputs.adaptations)
    summary_ids = read_text_table(inputs.summary)["patient_id"].tolist()
    through_of: dict[str, str] = {}
    if inputs.patients:
        listed = read_text_table(inputs.patients)
        through_of = dict(zip(listed["patient_id"], listed["through"], strict=True))
    # Week 1 adapts every prescribed patient: one without follow-up data holds, and says so
    # ("no wearable data since the prescription"); later weeks, those whose data reach them.
    ids = summary_ids if week == 1 else [pid for pid in summary_ids if pid in through_of]
    rx_dir = Path(inputs.prescriptions)
    # A patient excluded in an earlier week has no plan to adapt from (and is excluded).
    ids = [pid for pid in ids if (rx_dir / _previous_name(pid, week)).exists()]
    prescriptions = {pid: read_prescription(str(rx_dir / _previous_name(pid, week)),
                                            "adaptation") for pid in ids}
    issued = {pid: issue_date(p) for pid, p in prescriptions.items()}
    symptoms = inputs.followup_symptoms if params.symptoms_source else None
    wear, sym, problems = read_followup(inputs.followup_wearables, symptoms, issued,
                                        params.wearables_source, params.symptoms_source,
                                        params.date_format)
    counts: dict[str, dict[str, Any]] = {}
    if inputs.followup_blood and params.blood_source:
        from precex.adaptation.blood_recheck import newest_counts, read_followup_counts

        table, _ = read_normalised(inputs.followup_blood, "blood", params.blood_source,
                                   params.date_format)
        rows, found = read_followup_counts(table, params.blood_source, issued,
                                           params.date_format)
        problems += found
        counts = newest_counts(rows, params.blood_source)
    rulebase = load_rulebase(inputs.rulebase, rule_features())
    excluded = {p.patient_id for p in problems if p.patient_id and p.excludes}
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    features_by, failed = shard_adaptation_features(
        {pid: p for pid, p in prescriptions.items() if pid not in excluded}, wear, sym,
        params.symptoms_source or "", params.wearables_source, shard_hrv_readiness(wear))
    last_day = last_days(wear, sym)
    for pid, found in failed.items():
        problems += [Problem(q.file, q.message, q.fix, q.row, q.column, pid, "adaptation")
                     for q in found]
    fired = fired_rules(rulebase, features_by)  # each rule once for the shard
    weeks = {pid: WeekInput(prescriptions[pid], features, _week_end(pid, through_of, last_day,
                                                                      prescriptions[pid]),
                            fired[pid], counts.get(pid, {}))
             for pid, features in features_by.items()}
    plans = prescribe_weeks(weeks, rulebase)  # the baseline engine, every rule once
    decisions = {}
    if inputs.signoff:
        from precex.prescription.signoff import latest_decisions, verify_signoff_log

        log = verify_signoff_log(inputs.signoff, inputs.signoff_users, inputs.signoff_head)
        decisions = latest_decisions(log.rows)  # none from a log that does not verify
        problems += [replace(q, excludes=False, stage="adaptation") for q in log.problems]
    from precex.prescription.coherence import check_coherence
    from precex.prescription.fhir import FhirOptions
    from precex.prescription.signoff import signed_document, signoff_key

    options = FhirOptions.from_params(params)
    for pid, adapted in plans.items():
        through = weeks[pid].data_through
        check_coherence(adapted)  # an incoherent plan fails the job: never a file
        number = adapted["adaptation"]["week"]
        adapted, text = signed_document(adapted, decisions.get(signoff_key(pid, number)))
        name = f"{pid}.week-{number}.json"
        write_in_job_folder(out_dir / name, text)
        write_in_job_folder(out_dir / f"{pid}.week-{number}.fhir.json",
                            json_dumps(adapted_bundle(adapted, options)))
        rows.append({"patient_id": pid, "week": number,
                     "decision": adapted["adaptation"]["decision"],
                     "current_week": adapted["adaptation"]["current_week"],
                     "status": adapted["status"], "data_through": through.isoformat(),
                     "signoff": adapted["signoff"]["state"],
                     "changes": "; ".join(adapted["adaptation"]["changes"]),
                     "file": f"adaptations/prescriptions/{name}"})
    if outputs.handouts:
        write_handouts(rows, str(out_dir), outputs.handouts, params.care_team_phone)
    if outputs.reports:
        os.makedirs(outputs.reports, exist_ok=True)
        if inputs.notebook:
            problems += render_reports(rows, inputs.profiles, str(out_dir), outputs.reports,
                                       inputs.notebook, inputs.provenance)
    write_tsv(outputs.table, pd.DataFrame(rows, columns=SUMMARY), spreadsheet=True)
    write_problems(problems, "adaptation", outputs.exclusions, outputs.problems)


def _week_end(pid: str, through_of: dict[str, str], last_day: dict[str, dt.date],
              prescription: dict[str, Any]) -> dt.date:
    if pid in through_of:
        return dt.date.fromisoformat(through_of[pid])
    return last_day.get(pid) or issue_date(prescription)


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
    write_tsv(outputs.table, merge_sorted(inputs.tables, ["patient_id", "week"], numeric=["week"],
                                         columns=SUMMARY))
    write_tsv(outputs.exclusions, merge_sorted(inputs.exclusions,
                                               ["patient_id", "stage", "reason"],
                                               columns=EXCLUSION_COLUMNS))
    write_tsv(outputs.problems, merge_sorted(inputs.problems, PROBLEM_ORDER, numeric=["row"],
                                             columns=PROBLEM_COLUMNS))
