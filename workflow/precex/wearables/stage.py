"""The wearables stage: daily device data -> activity and HRV readiness features."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from precex.io.columns import resolve_columns
from precex.io.files import read_delimited
from precex.io.stage_output import write_features, write_stage_outputs
from precex.io.validated import read_sheet_exclusions, read_validated
from precex.problems import InputError, Problem
from precex.wearables.adherence import read_previous
from precex.wearables.features import wearable_features

WEARABLE_COLUMNS = ("patient_id", "date", "steps", "mvpa_min", "resting_hr", "hrv_rmssd_ms",
                    "sleep_h")
# Device exports name the same columns many ways (Fitbit, Garmin, Apple Health summaries).
WEARABLE_ALIASES = {
    "patient_id": ["patient", "participant_id", "subject_id", "user_id", "patientid"],
    "date": ["day", "date_time", "activity_date", "calendar_date", "summary_date"],
    "steps": ["step_count", "total_steps", "stepcount", "daily_steps"],
    "mvpa_min": ["mvpa", "mvpa_minutes", "active_minutes", "moderate_vigorous_minutes",
                 "intensity_minutes", "exercise_minutes"],
    "resting_hr": ["resting_heart_rate", "restingheartrate", "rhr", "resting_hr_bpm"],
    "hrv_rmssd_ms": ["hrv", "rmssd", "hrv_rmssd", "hrv_ms", "daily_rmssd"],
    "sleep_h": ["sleep_hours", "sleep", "hours_asleep", "total_sleep_hours"],
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


def run(wearables_path: str, patients_tsv: str, sheet_exclusions: str, reference_date: str,
        out_features: str, out_exclusions: str, out_problems: str,
        previous_prescriptions: str | None = None) -> None:
    patients = set(read_validated(patients_tsv).index)
    excluded = frozenset(read_sheet_exclusions(sheet_exclusions))
    previous, prev_problems = (read_previous(previous_prescriptions, sorted(patients))
                               if previous_prescriptions else ({}, []))
    daily = read_wearables(wearables_path)
    features, problems = wearable_features(daily, wearables_path,
                                           dt.date.fromisoformat(reference_date), patients,
                                           excluded, previous)
    problems = prev_problems + problems
    write_features(out_features, features)
    write_stage_outputs(problems, "wearables", out_exclusions, out_problems)
