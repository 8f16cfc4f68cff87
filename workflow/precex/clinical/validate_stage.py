"""The validate stage: the patient sheet checked row by row (stage 'sheet'), and the roster."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from precex.clinical.sheet import Sheet, read_patient_sheet
from precex.clinical.validated import write_validated
from precex.io.problem_tables import write_problems
from precex.problems import InputError
from precex.roster import roster_frame, write_roster


@dataclass(frozen=True)
class Inputs:
    sheet: str
    clinical_fhir: str | list[str] | None = None


@dataclass(frozen=True)
class Outputs:
    patients: str
    roster: str
    exclusions: str
    problems: str


@dataclass(frozen=True)
class Params:
    strict: bool
    reference_date: str = ""
    window_days: int = 90  # how old an EHR vital sign may be and still count (blood_window_days)


def read_sheet_with_ehr(sheet: str, clinical_fhir: str | list[str] | None,
                        reference_date: str, window_days: int = 90) -> Sheet:
    """The patient sheet, its blanks filled from the EHR's FHIR export when one is given."""
    reference = dt.date.fromisoformat(reference_date) if reference_date else None
    if not clinical_fhir:
        return read_patient_sheet(sheet, reference_date=reference)
    from precex.clinical.fhir_input import read_clinical_fhir

    paths = [clinical_fhir] if isinstance(clinical_fhir, str) else list(clinical_fhir)
    records, found = read_clinical_fhir(paths, dt.date.fromisoformat(reference_date),
                                        window_days)
    read = read_patient_sheet(sheet, records, ", ".join(paths), reference_date=reference)
    read.problems.extend(found)
    return read


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    sheet = read_sheet_with_ehr(inputs.sheet, inputs.clinical_fhir, params.reference_date,
                                params.window_days)
    if params.strict and sheet.problems:
        raise InputError(sheet.problems)
    write_validated(outputs.patients, sheet.patients)
    excluded = write_problems(sheet.problems, "sheet", outputs.exclusions, outputs.problems)
    write_roster(outputs.roster, roster_frame(sheet.all_ids, sheet.patients["age"],
                                              set(excluded["patient_id"])))
