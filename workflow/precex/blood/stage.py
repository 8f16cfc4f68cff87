"""The blood stage: long tables and FHIR (Bundles, NDJSON) -> harmonised markers and indices."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from precex.blood.fhir_input import is_fhir_bundle, read_fhir_files
from precex.blood.markers import blood_features
from precex.io.columns import resolve_columns
from precex.io.files import expand_inputs, read_delimited, write_tsv
from precex.io.problem_tables import write_problems
from precex.io.tables import write_features
from precex.modality_outputs import ModalityOutputs
from precex.problems import InputError, Problem
from precex.roster import read_roster

BLOOD_COLUMNS = ("patient_id", "marker", "loinc", "value", "unit", "date", "fasting")
# Lab exports name the same columns many ways; each respelling is noted in problems.tsv.
BLOOD_ALIASES = {
    "patient_id": ["patient", "patient_identifier", "subject_id", "patientid", "study_id", "mrn",
                   "medical_record_number", "patient_number"],
    "marker": ["test", "test_name", "analyte", "component", "lab_test", "observation", "name",
               "parameter"],
    "loinc": ["loinc_code", "loinc_num", "loinc_id"],
    "value": ["result", "result_value", "value_numeric", "observation_value", "value_num"],
    "unit": ["units", "result_unit", "uom", "unit_of_measure", "result_units"],
    "date": ["collection_date", "collected", "specimen_date", "result_date", "observation_date",
             "effective_date", "sample_date", "date_collected", "collection_datetime",
             "drawn", "datetime"],
    "fasting": ["fasting_status", "fasted"],
}


def read_blood_input(paths: str | list[str], identifier_system: str | None = None
                     ) -> tuple[pd.DataFrame, list[Problem]]:
    """Every blood file (a path, a list, or folders of files): long tables and FHIR (Bundles
    of any type, bulk-export NDJSON) into one long table; each row keeps its file and row."""
    files = expand_inputs(paths)
    if not files:
        raise InputError([Problem(str(paths), "no blood files found.",
                                  "give a file, a list of files or a folder of them.",
                                  stage="blood")])
    fhir = [f for f in files if is_fhir_bundle(f)]
    frames, problems = [], []
    if fhir:
        # One broken bundle of many (often one per patient) is left out, named; not the batch.
        long, found = read_fhir_files(fhir, identifier_system, tolerate=len(files) > 1)
        frames.append(long)
        problems += found
    for path in (f for f in files if f not in fhir):
        try:
            frame = read_delimited(path, "blood", "blood")
        except InputError as err:
            if len(files) == 1:
                raise
            problems += [Problem(p.file, f"{p.message} This file is left out; the others are "
                                 "used.", p.fix, row=p.row, stage="blood") for p in err.problems]
            continue
        mapping, respelled = resolve_columns(list(frame.columns), list(BLOOD_COLUMNS),
                                             BLOOD_ALIASES)
        frame = frame.rename(columns=mapping)
        problems += [Problem(path, f"{note}.", "", stage="blood", excludes=False)
                     for note in respelled]
        missing = [c for c in ("patient_id", "value", "unit", "date") if c not in frame.columns]
        if missing or not ({"marker", "loinc"} & set(frame.columns)):
            need = missing + ([] if {"marker", "loinc"} & set(frame.columns)
                              else ["marker or loinc"])
            raise InputError([Problem(path, f"missing column(s): {', '.join(need)}.",
                                      "columns: patient_id, marker or loinc, value, unit, "
                                      "date[, fasting].", stage="blood")])
        frames.append(frame.assign(_file=path, _row=range(1, len(frame) + 1)))
    if not frames:
        raise InputError(problems)
    long = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return long, problems


@dataclass(frozen=True)
class Inputs:
    blood: list[str]
    roster: str


@dataclass(frozen=True)
class Outputs(ModalityOutputs):
    provenance: str


@dataclass(frozen=True)
class Params:
    reference_date: str
    window_days: int
    identifier_system: str | None
    date_format: str = "ISO"  # ISO, or MDY / DMY: the site's order for 12/29/2025-style dates


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    roster = read_roster(inputs.roster)
    paths = inputs.blood
    long, problems = read_blood_input(paths, params.identifier_system)
    source = ", ".join(paths)
    result = blood_features(long, source, dt.date.fromisoformat(params.reference_date),
                            params.window_days, roster.ages, roster.excluded,
                            params.date_format)
    write_features(outputs.features, result.markers)
    write_tsv(outputs.provenance,
              result.provenance.assign(date=result.provenance["date"].astype(str)))
    write_problems(problems + result.problems, "blood", outputs.exclusions, outputs.problems)


def lost_every_row(long: pd.DataFrame, canon: pd.DataFrame, patients: set[str],
                   source: str) -> list[Problem]:
    """For `precex validate`: a patient of the sheet whose every lab row was rejected (a date
    or unit the reader does not take) would be prescribed with no blood count at all, which is
    an input problem (exit 1), not a detail: it names the patient, the rows and the fix."""
    if long.empty or "patient_id" not in long.columns:
        return []
    given = long["patient_id"].astype(str).str.strip()
    rows = given[given.isin(patients)].value_counts()
    usable = set(canon["patient_id"]) if "patient_id" in canon.columns else set()
    return [Problem(source, f"every lab row of patient {pid} ({n}) was rejected, so the run "
                    "would have no blood count for this patient (see the rows above).",
                    "fix those rows' dates or units (for a US export, set date_format: MDY "
                    "in the config).", patient_id=pid, stage="blood")
            for pid, n in sorted(rows.items()) if pid not in usable]


def check_inputs(config: dict, patients: set[str], excluded: frozenset[str]) -> list[Problem]:
    """Every problem `precex validate` finds in the blood files (nothing written)."""
    from precex.blood.markers import harmonise
    from precex.problems import attempt

    problems: list[Problem] = []
    loaded = attempt(problems, read_blood_input, config["blood"],
                     config.get("blood_patient_identifier_system"))
    if loaded is not None:
        long, found = loaded
        problems.extend(found)
        source = config["blood"] if isinstance(config["blood"], str) else ", ".join(
            config["blood"])
        canon, found, _ = harmonise(long, source, dt.date.fromisoformat(
            config["reference_date"]), patients, excluded, config.get("date_format", "ISO"))
        problems.extend(found)
        problems.extend(lost_every_row(long, canon, patients, source))
    return problems
