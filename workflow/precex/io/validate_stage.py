"""The validate stage: the patient sheet checked row by row (stage 'sheet')."""

from __future__ import annotations

from precex.io.sheet import read_patient_sheet
from precex.io.stage_output import write_stage_outputs
from precex.io.validated import write_validated
from precex.problems import InputError


def run(sheet_path: str, out_patients: str, out_exclusions: str, out_problems: str,
        strict: bool) -> None:
    sheet = read_patient_sheet(sheet_path)
    if strict and sheet.problems:
        raise InputError(sheet.problems)
    write_validated(out_patients, sheet.patients)
    write_stage_outputs(sheet.problems, "sheet", out_exclusions, out_problems)
