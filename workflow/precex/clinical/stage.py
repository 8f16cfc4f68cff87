"""The clinical stage: body composition, fitness and treatment context from the sheet."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from precex.clinical.features import clinical_features
from precex.clinical.validated import read_validated
from precex.io.tables import write_features


@dataclass(frozen=True)
class Inputs:
    patients: str


@dataclass(frozen=True)
class Outputs:
    features: str


@dataclass(frozen=True)
class Params:
    reference_date: str


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    sheet = read_validated(inputs.patients)
    write_features(outputs.features,
                   clinical_features(sheet, dt.date.fromisoformat(params.reference_date)))
