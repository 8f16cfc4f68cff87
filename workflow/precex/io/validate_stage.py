"""The validate stage: the patient sheet checked row by row (stage 'sheet'), and the roster."""

from __future__ import annotations

from dataclasses import dataclass

from precex.io.sheet import read_patient_sheet
from precex.io.validated import write_validated
from precex.problems import InputError, write_problems
from precex.roster import roster_frame, write_roster


@dataclass(frozen=True)
class Inputs:
    sheet: str


@dataclass(frozen=True)
class Outputs:
    patients: str
    roster: str
    exclusions: str
    problems: str


@dataclass(frozen=True)
class Params:
    strict: bool


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    sheet = read_patient_sheet(inputs.sheet)
    if params.strict and sheet.problems:
        raise InputError(sheet.problems)
    write_validated(outputs.patients, sheet.patients)
    excluded = write_problems(sheet.problems, "sheet", outputs.exclusions, outputs.problems)
    write_roster(outputs.roster, roster_frame(sheet.all_ids, sheet.patients["age"],
                                              set(excluded["patient_id"])))
