"""The clinical stage: body composition, fitness and treatment context from the sheet."""

from __future__ import annotations

import datetime as dt

from precex.clinical.features import clinical_features
from precex.io.stage_output import write_features
from precex.io.validated import read_validated


def run(patients_tsv: str, reference_date: str, out_features: str) -> None:
    sheet = read_validated(patients_tsv)
    write_features(out_features, clinical_features(sheet, dt.date.fromisoformat(reference_date)))
