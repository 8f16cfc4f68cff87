"""The wearables stage: daily device data -> activity and HRV readiness features."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import pandas as pd

from precex.io.columns import resolve_columns
from precex.io.files import read_delimited
from precex.io.problem_tables import write_problems
from precex.io.tables import write_features
from precex.modality_outputs import ModalityOutputs
from precex.problems import InputError, Problem
from precex.roster import read_roster
from precex.wearables.adherence import read_previous
from precex.wearables.daily import DAILY_METRICS, DailyExport
from precex.wearables.exports import detect_export, read_export, read_id_map
from precex.wearables.features import wearable_features

WEARABLE_COLUMNS = ("patient_id", "date", "steps", "mvpa_min", "light_min", "resting_hr",
                    "hrv_rmssd_ms", "hrv_sdnn_ms", "sleep_h", "worn", "wear_min")
# Device exports name the same columns many ways (Fitbit, Garmin, Apple Health summaries).
WEARABLE_ALIASES = {
    "patient_id": ["patient", "participant_id", "subject_id", "user_id", "patientid"],
    "date": ["day", "date_time", "activity_date", "calendar_date", "summary_date"],
    "steps": ["step_count", "total_steps", "stepcount", "daily_steps"],
    "mvpa_min": ["mvpa", "mvpa_minutes", "active_minutes", "moderate_vigorous_minutes",
                 "intensity_minutes", "exercise_minutes"],
    "resting_hr": ["resting_heart_rate", "restingheartrate", "rhr", "resting_hr_bpm"],
    "light_min": ["light_minutes", "lightly_active_minutes", "light_activity_minutes"],
    "hrv_rmssd_ms": ["hrv", "rmssd", "hrv_rmssd", "hrv_ms", "daily_rmssd"],
    "hrv_sdnn_ms": ["sdnn", "hrv_sdnn", "heart_rate_variability_sdnn"],
    "sleep_h": ["sleep_hours", "sleep", "hours_asleep", "total_sleep_hours"],
    # the device's own wear signal (precex.wearables.wear)
    "worn": ["wear_flag", "device_worn", "valid_day", "worn_flag", "is_worn"],
    "wear_min": ["wear_minutes", "wear_time_min", "wear_time", "wear_time_minutes",
                 "hr_minutes", "minutes_with_heart_rate", "heart_rate_minutes"],
}


def read_wearables(path: str) -> pd.DataFrame:
    """The daily table, checked for its key columns (empty cells as missing); headers as
    device exports write them are read as precex's columns."""
    daily = read_delimited(path, "wearables", "wearables")
    mapping, _ = resolve_columns(list(daily.columns), list(WEARABLE_COLUMNS), WEARABLE_ALIASES)
    daily = daily.rename(columns=mapping)
    if not {"patient_id", "date"} <= set(daily.columns):
        raise InputError([Problem(path, "needs columns patient_id and date.",
                                  "add them to the header row.", stage="wearables")])
    return daily.replace("", None)


def _as_list(paths: str | list[str]) -> list[str]:
    return [paths] if isinstance(paths, str) else list(paths)


def read_wearable_inputs(paths: str | list[str], id_map: str | None, time_zone: str
                         ) -> tuple[pd.DataFrame, dict[str, dict[str, str]], list[Problem]]:
    """Every configured wearable input (daily tables, Fitabase folders or files, Apple Health
    export.xml, Oura CSV, FHIR device Observations) as one daily table, with the source of
    each patient's metrics. An unreadable export is left out with its file and (for a
    per-person export) the patient named, and the batch goes on; only an unreadable daily
    table given alone stops the stage, with the file named.
    Where several inputs give a patient the same metric, the first listed is used and the
    others are named in one line."""
    ids = read_id_map(id_map, time_zone)
    listed = _as_list(paths)
    exports: list[DailyExport] = []
    problems: list[Problem] = []
    for path in listed:
        kind = None
        try:
            kind = detect_export(path)
            if kind == "daily":
                daily = read_wearables(path)
                daily["patient_id"] = daily["patient_id"].astype(str).str.strip().map(ids.patient)
                metrics = [c for c in DAILY_METRICS if c in daily.columns]
                name = f"daily table {os.path.basename(path)}"
                exports.append(DailyExport(daily, {str(pid): dict.fromkeys(metrics, name)
                                                   for pid in daily["patient_id"].unique()}))
            else:
                exports.append(read_export(path, ids))
        except InputError as err:
            if len(listed) == 1 and kind in (None, "daily"):
                raise  # the batch's one table, or no such file: it stops with the file named
            owner = ids.patient(os.path.basename(path).split("_")[0].split(".")[0])
            problems += [Problem(p.file, f"{p.message} This export is left out; the other "
                                 "inputs are used.", p.fix, row=p.row, column=p.column,
                                 patient_id=owner, stage="wearables", excludes=False)
                         for p in err.problems]
            continue
        problems += exports[-1].problems
    sources: dict[str, dict[str, str]] = {}
    frames = []
    for export in exports:
        daily = export.daily.copy()
        for pid, metrics in export.sources.items():
            mine = sources.setdefault(pid, {})
            for metric, source in metrics.items():
                if metric in mine and mine[metric] != source:
                    problems.append(Problem(source, f"{metric} of patient '{pid}' is also in "
                                            f"{mine[metric]}, which is used.", "give each "
                                            "metric from one export.", stage="wearables",
                                            excludes=False))
                    daily.loc[daily["patient_id"].eq(pid), metric] = None
                else:
                    mine[metric] = source
        frames.append(daily)
    if not frames:
        return pd.DataFrame(columns=["patient_id", "date"]), sources, problems
    daily = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1:  # one row per patient and day, each metric from its own export
        daily = daily.groupby(["patient_id", "date"], sort=True).first().reset_index()
    return daily, sources, problems


METRIC_NAMES = {"steps": "steps", "mvpa_min": "MVPA", "light_min": "light minutes",
                "resting_hr": "resting HR", "hrv_rmssd_ms": "HRV (RMSSD)",
                "hrv_sdnn_ms": "HRV (SDNN)", "sleep_h": "sleep"}


def sources_text(sources: dict[str, dict[str, str]]) -> pd.Series:
    """Per patient, which metrics came from which export ('Fitbit dailyActivity_merged.csv
    (steps, MVPA, light minutes); Apple Health export.xml (resting HR)')."""
    def text(metrics: dict[str, str]) -> str:
        by_source: dict[str, list[str]] = {}
        for metric in METRIC_NAMES:
            if metric in metrics:
                by_source.setdefault(metrics[metric], []).append(METRIC_NAMES[metric])
        return "; ".join(f"{source} ({', '.join(names)})" for source, names in
                         sorted(by_source.items()))

    return pd.Series({pid: text(metrics) for pid, metrics in sources.items()}, dtype=object,
                     name="wearable_sources")


@dataclass(frozen=True)
class Inputs:
    wearables: str | list[str]
    roster: str
    id_map: str | None = None


Outputs = ModalityOutputs


@dataclass(frozen=True)
class Params:
    reference_date: str
    previous_prescriptions: str | None
    time_zone: str = "UTC"


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    roster = read_roster(inputs.roster)
    patients = roster.valid
    previous, prev_problems = (read_previous(params.previous_prescriptions, sorted(patients))
                               if params.previous_prescriptions else ({}, []))
    daily, sources, read_problems = read_wearable_inputs(inputs.wearables, inputs.id_map or None,
                                                         params.time_zone)
    features, problems = wearable_features(daily, ", ".join(_as_list(inputs.wearables)),
                                           dt.date.fromisoformat(params.reference_date),
                                           patients, roster.excluded, previous)
    named = sources_text(sources)
    features = features.join(named[named.index.isin(features.index)])
    write_features(outputs.features, features)
    write_problems(prev_problems + read_problems + problems, "wearables", outputs.exclusions,
                   outputs.problems)


def check_inputs(config: dict, patients: set[str], excluded: frozenset[str]) -> list[Problem]:
    """Every problem `precex validate` finds in the wearable inputs (nothing written)."""
    from precex.problems import attempt

    problems: list[Problem] = []
    read = attempt(problems, read_wearable_inputs, config["wearables"],
                   config.get("wearables_id_map"), config.get("wearables_time_zone", "UTC"))
    if read is not None:
        daily, _, found = read
        problems += found
        problems.extend(wearable_features(daily, ", ".join(_as_list(config["wearables"])),
                                          dt.date.fromisoformat(config["reference_date"]),
                                          patients, excluded)[1])
    return problems
