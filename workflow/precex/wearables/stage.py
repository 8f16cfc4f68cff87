"""The wearables stage: daily device data -> activity and HRV readiness features."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from precex.io.columns import resolve_columns
from precex.io.files import read_delimited
from precex.io.tables import write_features
from precex.modalities import ModalityOutputs
from precex.problems import InputError, Problem, write_problems
from precex.roster import read_roster
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


@dataclass(frozen=True)
class Inputs:
    wearables: str
    roster: str


Outputs = ModalityOutputs


@dataclass(frozen=True)
class Params:
    reference_date: str
    previous_prescriptions: str | None


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    roster = read_roster(inputs.roster)
    patients = roster.valid
    previous, prev_problems = (read_previous(params.previous_prescriptions, sorted(patients))
                               if params.previous_prescriptions else ({}, []))
    daily = read_wearables(inputs.wearables)
    features, problems = wearable_features(daily, inputs.wearables,
                                           dt.date.fromisoformat(params.reference_date),
                                           patients, roster.excluded, previous)
    write_features(outputs.features, features)
    write_problems(prev_problems + problems, "wearables", outputs.exclusions, outputs.problems)


def check_inputs(config: dict, patients: set[str], excluded: frozenset[str]) -> list[Problem]:
    """Every problem `precex validate` finds in the wearable table (nothing written)."""
    from precex.problems import attempt

    problems: list[Problem] = []
    daily = attempt(problems, read_wearables, config["wearables"])
    if daily is not None:
        problems.extend(wearable_features(daily, config["wearables"], dt.date.fromisoformat(
            config["reference_date"]), patients, excluded)[1])
    return problems
