"""The blood stage: long table or FHIR Bundle -> harmonised markers and indices."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from precex.blood.fhir_input import is_fhir_bundle, read_fhir_observations
from precex.blood.markers import blood_features
from precex.io.files import read_delimited, write_tsv
from precex.io.stage_output import write_features, write_stage_outputs
from precex.io.validated import read_sheet_exclusions, read_validated
from precex.problems import InputError, Problem


def read_blood_input(path: str) -> tuple[pd.DataFrame, list[Problem]]:
    if is_fhir_bundle(path):
        return read_fhir_observations(path)
    frame = read_delimited(path, "blood", "blood")
    missing = [c for c in ("patient_id", "value", "unit", "date") if c not in frame.columns]
    if missing or not ({"marker", "loinc"} & set(frame.columns)):
        need = missing + ([] if {"marker", "loinc"} & set(frame.columns) else ["marker or loinc"])
        raise InputError([Problem(path, f"missing column(s): {', '.join(need)}.",
                                  "columns: patient_id, marker or loinc, value, unit, date[, "
                                  "fasting].", stage="blood")])
    return frame, []


def run(blood_path: str, patients_tsv: str, sheet_exclusions: str, reference_date: str,
        window_days: int, out_features: str, out_provenance: str, out_exclusions: str,
        out_problems: str) -> None:
    sheet = read_validated(patients_tsv)
    excluded = frozenset(read_sheet_exclusions(sheet_exclusions))
    long, problems = read_blood_input(blood_path)
    result = blood_features(long, blood_path, dt.date.fromisoformat(reference_date),
                            window_days, sheet["age"], excluded)
    write_features(out_features, result.markers)
    write_tsv(out_provenance, result.provenance.assign(date=result.provenance["date"].astype(str)))
    write_stage_outputs(problems + result.problems, "blood", out_exclusions, out_problems)
