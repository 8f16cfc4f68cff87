"""The patient sheet: parse each cell by its schema type, validate every row, collect every problem.

A bad row excludes that patient (stage `sheet`), with one reason per bad cell; it never stops
the batch unless strict mode is on. Duplicate IDs exclude every row that carries them, since
precex cannot know which row is right.

Cells are read as clinics write them: missing-value tokens (NA, n/a, -, not done, pending, ...)
are blanks; numbers may carry the column's unit ("45%", "72 bpm", "101.3 F"); coded columns
accept the synonyms of resources/clinical/sheet_terms.tsv; list columns (agents, comorbidities)
go through the controlled vocabularies and an unrecognised term is a data issue naming the
patient and the term. A bad cell in a safety input (schema `x-on-error: reject`: fever,
temperature, LVEF, blood pressure, resting HR, bone status, treatment phase, stage, neuropathy,
lymphoedema) does not exclude the patient: the value is *rejected*,
listed in the derived column `sheet_rejected`, and handled like a missing value by the
prescription (conservatively, and visibly).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from precex.blood.units import UnitError, convert, unit_of
from precex.clinical.context import MAX_TEXT, mixed_scripts
from precex.clinical.facts import latest_surgery, read_comorbidities
from precex.clinical.vocabulary import (
    code_agents,
    code_comorbidities,
    coded_value,
    normalise_text,
    split_terms,
    surgery_side,
)
from precex.config import schema_message, sheet_schema
from precex.io.columns import resolve_columns
from precex.io.dates import iso_date
from precex.io.schema_check import SchemaCheck
from precex.io.tokens import CLINICAL_FALSE, CLINICAL_MISSING, CLINICAL_TRUE, parse_bool
from precex.problems import InputError, Problem

_VOCABULARIES = {"agents": code_agents, "comorbidities": code_comorbidities}

LIST_SEPARATOR = ";"
_TRUE = CLINICAL_TRUE
_FALSE = CLINICAL_FALSE
MISSING_TOKENS = CLINICAL_MISSING  # "not recorded", unless a valid value of the column
# IDs whose per-patient files would overwrite a batch output (any case: some file systems
# ignore it): results/reports/{patient}.html is a patient's report.
RESERVED_IDS = {"cohort": "results/reports/cohort.html is the batch report"}
# Derived columns written by the validate stage next to the schema's columns.
REJECTED_COLUMN = "sheet_rejected"
ISSUES_COLUMN = "sheet_data_issues"
# Where each value the EHR gave came from ('systolic_bp: EHR Observation 85354-9 (a.json,
# 2025-12-30) | ...'): the report shows it beside the value.
SOURCES_COLUMN = "sheet_value_sources"
DERIVED_COLUMNS = (REJECTED_COLUMN, ISSUES_COLUMN, SOURCES_COLUMN)
_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+(?:[.,]\d+)?|[.,]\d+))\s*(.*?)\s*$")


@dataclass
class Sheet:
    patients: pd.DataFrame  # valid rows, typed, indexed by patient_id, sorted
    problems: list[Problem] = field(default_factory=list)
    all_ids: list[str] = field(default_factory=list)  # every non-empty ID in the file, in order


@cache
def _sheet_checks() -> tuple[SchemaCheck, dict[str, SchemaCheck]]:
    """The sheet's validator, and each rejectable column's own (checked cell by cell), built
    once per process."""
    schema = sheet_schema()
    return SchemaCheck(schema, formats=True), {
        col: SchemaCheck(spec, formats=True)
        for col, spec in schema["properties"].items() if spec.get("x-on-error") == "reject"}


class _CellError(ValueError):
    pass


def _cycle_days(cell: str) -> str:
    low = normalise_text(cell)
    if low in ("weekly", "q1w", "qw", "every week"):
        return "7"
    match = re.fullmatch(r"(?:q|every\s*)?(\d)\s*-?\s*(?:w|wk|wks|week|weeks|weekly)", low)
    return str(int(match.group(1)) * 7) if match else cell


def _is_temperature(cell: str) -> bool:
    """A body temperature (35-45 C or 95-113 F, with or without the unit) in a fever cell."""
    match = _NUMBER_WITH_UNIT.match(cell.strip())
    if not match or match.group(2).strip().lower().lstrip("°") not in ("", "c", "f", "degc",
                                                                      "degf"):
        return False
    value = float(match.group(1).replace(",", "."))
    return 35 <= value <= 45 or 95 <= value <= 113


def is_missing_token(raw: str, spec: dict[str, Any]) -> bool:
    """A 'not recorded' token that is not itself a valid value of the column."""
    text = normalise_text(raw)
    if text not in MISSING_TOKENS:
        return False
    allowed = {str(v).lower() for v in spec.get("enum", [])}
    return text not in allowed and not (spec.get("type") == "boolean" and text in _FALSE)


def _number(raw: str, spec: dict[str, Any], what: str) -> float:
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        match = _NUMBER_WITH_UNIT.match(text)
        units = spec.get("x-units", [])
        unit = match.group(2).strip() if match else ""
        hint = f" (units accepted: {', '.join(units)}, or another unit of the kind)" if (
            units) else ""
        if not match or not unit or not units:
            raise _CellError(f"'{raw}' is not {what}{hint}") from None
        value = float(match.group(1).replace(",", "."))
        if unit_of(unit) != unit_of(units[0]):
            # a unit other than the column's own ('101 F' in temperature_c, '154 lb' in
            # weight_kg, '5.5 ft' in height_cm) converts through the one unit mechanism
            # (precex.blood.units), to 0.01 of the column's unit
            try:
                value = round(float(convert(value, unit, unit_of(units[0]))), 2)
            except UnitError:
                raise _CellError(f"'{raw}' is not {what}{hint}") from None
    if not np.isfinite(value):
        raise _CellError(f"'{raw}' is not a finite number")
    return value


def _parse_cell(raw: str, spec: dict[str, Any], column: str = "") -> Any:
    kind = spec.get("type")
    text = raw.strip()
    if kind == "number":
        return _number(raw, spec, "a number")
    if kind == "integer":
        value = _number(raw, spec, "a whole number")
        if value != int(value):
            raise _CellError(f"'{raw}' is not a whole number")
        return int(value)
    if kind == "boolean":
        truth = parse_bool(text, _TRUE, _FALSE)
        if truth is None:
            raise _CellError(f"'{raw}' is not true/false")
        return truth
    if kind == "array":
        return split_terms(text)
    if spec.get("format") == "date":
        day = iso_date(text)  # 2026-01-12, 2026/01/12, 20260112 or an ISO date-time
        if day is None:
            raise _CellError(f"'{raw}' is not a date in YYYY-MM-DD form (day-first and "
                             "month-first dates are ambiguous)") from None
        return day
    if "enum" in spec:
        return _coded(text, spec, column)
    return text


def _coded(text: str, spec: dict[str, Any], column: str) -> str:
    """The enum value for a synonym or a case variant ('Stable' -> 'stable', 'IIIA' -> 'III')."""
    by_lower = {str(v).lower(): v for v in spec["enum"]}
    if text.lower() in by_lower:
        return by_lower[text.lower()]
    return coded_value(column, text)


def _expected(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        return "one of " + ", ".join(map(str, spec["enum"]))
    if spec.get("type") == "array" and "enum" in spec.get("items", {}):
        return "';'-separated values from " + ", ".join(spec["items"]["enum"])
    parts = [spec.get("type", "value")]
    if "minimum" in spec or "maximum" in spec:
        parts.append(f"from {spec.get('minimum', '-inf')} to {spec.get('maximum', 'inf')}")
    if "description" in spec:
        parts.append(f"({spec['description']})")
    return " ".join(parts)


def _same_value(sheet_cell: str, ehr_cell: str, spec: dict[str, Any], col: str) -> bool:
    """Whether the sheet and the EHR say the same thing (compared as parsed, coded values)."""
    try:
        a, b = _parse_cell(sheet_cell, spec, col), _parse_cell(ehr_cell, spec, col)
    except _CellError:
        return sheet_cell.strip().lower() == ehr_cell.strip().lower()
    if col in _VOCABULARIES:
        return set(_VOCABULARIES[col](";".join(a)).codes) == set(
            _VOCABULARIES[col](";".join(b)).codes)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 0.5
    return a == b


def sheet_separator(path: str | os.PathLike[str]) -> tuple[str, str]:
    """The sheet's column separator and, when it was not the name's, what was seen: a .csv
    is comma-separated; a sheet whose header has commas and no tab (a spreadsheet's 'CSV'
    export saved under another name) is read as comma-separated and says so."""
    name = str(path).lower()
    if name.endswith((".csv", ".csv.gz")):
        return ",", ""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            header = handle.readline()
    except OSError:
        return "\t", ""
    if "\t" not in header and header.count(",") >= 2:
        return ",", (f"read as comma-separated: its header has {header.count(',')} commas "
                     "and no tab (name it .csv, or save it as tab-separated)")
    return "\t", ""


def _read_table(path: str | os.PathLike[str], schema: dict[str, Any]
                ) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The sheet as text with precex's column names: (table, respelling notes, unread
    columns). A file that cannot be read, lacks a required column or has no row is an
    InputError."""
    source = str(path)
    sep, seen = sheet_separator(path)
    try:
        raw, notes = _read_delimited(path, sep)
        seen = "; ".join(filter(None, [seen, *notes]))
    except FileNotFoundError:
        raise InputError([Problem(source, "file not found.", "check the 'patients' path.",
                                  stage="sheet")]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        kind = "comma" if sep == "," else "tab"
        raise InputError([Problem(source, f"cannot be read as a {kind}-separated table ({err}).",
                                  "save the sheet as UTF-8 TSV (or CSV) with a header row.",
                                  stage="sheet")]) from None
    raw.columns = [c.strip() for c in raw.columns]
    props = schema["properties"]
    # 'Patient ID', 'LVEF', 'Gender': read as precex's columns, each respelling noted.
    lists = [c for c, spec in props.items() if spec.get("type") == "array"]
    mapping, respelled = resolve_columns(list(raw.columns), list(props),
                                         schema.get("x-aliases", {}), several=lists)
    respelled = ([seen] if seen else []) + list(respelled)
    unused = [c for c in raw.columns if c not in mapping]
    raw = _joined_columns(raw[list(mapping)], mapping)
    missing_cols = [c for c in schema["required"] if c not in raw.columns]
    if missing_cols:
        raise InputError([Problem(source, f"required column(s) missing: {', '.join(missing_cols)}.",
                                  "add the column(s) to the header row.", stage="sheet")])
    if raw.empty:
        raise InputError([Problem(source, "the sheet has no patients.",
                                  "add one row per patient below the header.", stage="sheet")])
    return raw, respelled, unused


def _read_delimited(path: str | os.PathLike[str], sep: str) -> tuple[pd.DataFrame, list[str]]:
    """The sheet's cells as text, and what was done to read it. Excel on Windows saves 'Text
    (Tab delimited)' in Windows-1252 (an accent in a name or a note must not refuse the whole
    sheet), and a tab-separated cell typed with an opening quote it never closes ('"knee
    pain, left') made every later row one cell: such a sheet is read without quote handling,
    a cell wholly in quotes unquoted. Each is said, never silent."""
    notes: list[str] = []
    encoding = "utf-8"
    try:
        try:
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment=None)
        except UnicodeDecodeError:  # read again, once, only when it is not UTF-8
            encoding = "cp1252"
            notes.append("not UTF-8: read as Windows-1252 (Excel's default on Windows); save "
                         "it as UTF-8 to be sure of accented text")
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment=None,
                                encoding=encoding)
        # a cell holding the separator swallowed a row boundary: an unclosed quote
        swallowed = sep == "\t" and bool(frame.apply(
            lambda col: col.str.contains("\t", regex=False)).to_numpy().any())
    except pd.errors.ParserError:
        if sep != "\t":
            raise
        swallowed = True
    if swallowed:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment=None,
                            encoding=encoding, quoting=csv.QUOTE_NONE)
        quoted = frame.apply(lambda col: col.str.fullmatch(r'"(?:[^"]|"")*"'))
        frame = frame.mask(quoted, frame.apply(lambda col: col.str[1:-1].str.replace(
            '""', '"', regex=False)))
        notes.append("a cell opens a quote it never closes: the sheet is read without quote "
                     "handling (a cell wholly in quotes is unquoted); check the cells that "
                     "start with a quote")
    return frame, notes


def _joined_columns(raw: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """The sheet with precex's names; several columns naming one list column ('PMH',
    'Medications', 'Comments') are joined into it, clause by clause ('; '), so none is lost."""
    out = {}
    for target in dict.fromkeys(mapping.values()):
        sources = [c for c, t in mapping.items() if t == target]
        joined = raw[sources[0]]
        for col in sources[1:]:
            more = raw[col]
            joined = joined.where(more.str.strip().eq(""), joined.where(
                joined.str.strip().eq(""), joined + "; ") + more)
        out[target] = joined
    return pd.DataFrame(out, index=raw.index)


@dataclass
class _Row:
    """One sheet row being read: its cells, the record parsed so far and what was found."""

    source: str
    number: int
    values: dict[str, str]
    pid: str
    record: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # excluding the patient
    issues: list[Problem] = field(default_factory=list)  # data issues: named, never excluding
    rejected: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # column -> where the EHR had it

    @property
    def label(self) -> str | None:
        return self.pid or None

    def problem(self, message: str, fix: str, column: str | None, *,
                excludes: bool = True) -> Problem:
        return Problem(self.source, message, fix, row=self.number, column=column,
                       patient_id=self.label, stage="sheet", excludes=excludes)

    def reject(self, col: str, message: str, fix: str) -> None:
        self.rejected.append(col)
        self.issues.append(self.problem(f"{message} The value is rejected and handled as "
                                        "missing (conservatively).", fix, col, excludes=False))


def _fill_from_ehr(row: _Row, from_ehr: dict[str, tuple[str, str]], props: dict[str, Any],
                   ehr_source: str) -> None:
    """The EHR fills what the sheet leaves blank; where both give a value the sheet wins and a
    disagreement is a data issue naming both."""
    for col, (ehr_cell, where) in from_ehr.items():
        if col not in props:
            continue
        cell = row.values.get(col, "")
        if cell.strip() == "" or is_missing_token(cell, props[col]):
            row.values[col] = ehr_cell
            row.sources[col] = f"EHR {where}"
        elif not _same_value(cell, ehr_cell, props[col], col):
            row.issues.append(row.problem(
                f"{col} is '{cell.strip()}' in the sheet but '{ehr_cell}' in the EHR ({where}"
                f"{', ' + ehr_source if ehr_source else ''}); the sheet's value is used.",
                "correct whichever is wrong.", col, excludes=False))


def _parse_cells(row: _Row, known: list[str], props: dict[str, Any],
                 rejectable: dict[str, SchemaCheck]) -> None:
    """Each cell parsed by its column's schema; an unreadable value of a rejectable column
    is rejected (handled as missing), of any other column a problem excluding the patient."""
    record = row.record
    for col in known:
        cell = row.values.get(col, "")
        if cell.strip() == "" or is_missing_token(cell, props[col]):
            continue
        if col == "fever" and "temperature_c" not in record and _is_temperature(cell):
            # a temperature written in the fever column
            record["temperature_c"] = _number(cell, props["temperature_c"], "a number")
            continue
        if col == "neuropathy_grade":  # 'grade 2', 'G2', 'CTCAE 2'
            cell = re.sub(r"^\s*(?:ctcae\s*)?(?:grade|gr|g)\s*", "", cell, flags=re.I)
        if col == "cycle_length_days":  # 'q3w', 'every 2 weeks', 'weekly'
            cell = _cycle_days(cell)
        try:
            record[col] = _parse_cell(cell, props[col], col)
        except _CellError as err:
            if col in rejectable:
                row.reject(col, f"{err}.", f"expected {_expected(props[col])}.")
            else:
                row.problems.append(row.problem(f"{err}.", f"expected {_expected(props[col])}.",
                                                col))
            continue
        if col in rejectable:
            errors = list(rejectable[col].iter_errors(record[col]))
            if errors:
                del record[col]
                row.reject(col, f"'{cell.strip()}': {schema_message(errors[0])}.",
                           f"expected {_expected(props[col])}.")


MAX_TERM_ISSUES = 20  # unrecognised terms named one by one per cell


def _code_terms(row: _Row, reference: dt.date | None, ehr: Any = None) -> None:
    """Agents, comorbidities and bone sites coded by their vocabularies; an unknown term is
    kept as written and named as a data issue. The history (comorbidities) is read in
    context: a denied, family, planned or too old mention does not count, and how it was
    read is a data issue the report shows; a possible one counts and asks to be confirmed."""
    record = row.record
    ehr_facts = list(getattr(ehr, "facts", []))
    for text in getattr(ehr, "stale", []):
        row.issues.append(row.problem(f"the EHR's {text}.", "measure it again, or enter a "
                                      "current value in the sheet.", None, excludes=False))
    for text in getattr(ehr, "dates", []):
        row.issues.append(row.problem(f"the EHR's {text}.", "enter the exact date in the sheet "
                                      "if it is known.", None, excludes=False))
    for text in getattr(ehr, "units", []):
        row.issues.append(row.problem(f"the EHR's {text}.", "enter the value in the sheet (in "
                                      "the column's unit), or ask for the unit to be added.",
                                      None, excludes=False))
    for text in getattr(ehr, "unread", []):
        row.issues.append(row.problem(
            f"the EHR lists '{text}', which no vocabulary reads; no rule can use it.",
            "check whether it matters for exercise (a heart-rate or bleeding medicine, a "
            "heart or bone condition) and add it to the sheet's history in words precex "
            "knows, or ask for the term to be added.", "comorbidities", excludes=False))
    if ehr_facts and "comorbidities" not in record:
        record["comorbidities"] = []
    for col, code in _VOCABULARIES.items():
        if col not in record:
            continue
        if col == "comorbidities":
            coded, reading = read_comorbidities(row.values.get(col, ""), reference,
                                                more=ehr_facts)
            for item in reading.confirm:
                row.issues.append(row.problem(f"{item}.", "confirm it in the sheet.", col,
                                              excludes=False))
            surgery = latest_surgery(reading.facts)
            if surgery is not None and "surgery_date" not in record and (
                    reference is None or surgery.date <= reference.isoformat()):
                record["surgery_date"] = surgery.date
                row.issues.append(row.problem(
                    f"surgery_date is taken from '{surgery.text}' ({surgery.date}"
                    + (", the latest day it can mean" if surgery.date.endswith("-12-31")
                       else "") + ").", "enter the surgery date if it is known more exactly.",
                    "surgery_date", excludes=False))
            for item in reading.not_counted:
                row.issues.append(row.problem(f"{item}.", "nothing to do if this reading is "
                                              "right; else correct the sheet.", col,
                                              excludes=False))
        else:
            coded = code(";".join(record[col]))
        raw_cell = row.values.get(col, "")
        if len(raw_cell) > MAX_TEXT:
            row.issues.append(row.problem(
                f"the cell has {len(raw_cell):,} characters; only the first {MAX_TEXT:,} are "
                "read for context.", "keep the history to the conditions, medicines and "
                "procedures that matter; move notes elsewhere.", col, excludes=False))
        if mixed_scripts(raw_cell):
            row.issues.append(row.problem(
                f"'{raw_cell.strip()[:80]}' mixes Latin with Cyrillic or Greek letters (a "
                "look-alike such as a Cyrillic 'Т' in 'T8'); such words are not read.",
                "retype the value in Latin letters.", col, excludes=False))
        side = surgery_side(";".join(record[col])) if col == "comorbidities" else ""
        record[col] = list(coded.codes) + list(coded.unrecognised) + (
            [f"operated_side_{side}"] if side else [])
        for term in coded.unrecognised[:MAX_TERM_ISSUES]:
            row.issues.append(row.problem(
                f"'{term}' is not in the {col} vocabulary; it is kept as written but no rule "
                "can read it.", f"use a name from resources/clinical/{col}.tsv, or ask for the "
                "term to be added.", col, excludes=False))
        if len(coded.unrecognised) > MAX_TERM_ISSUES:  # one line for the rest, not thousands
            row.issues.append(row.problem(
                f"{len(coded.unrecognised) - MAX_TERM_ISSUES:,} more terms are not in the {col} "
                "vocabulary.", "check the cell: it may hold notes rather than a list.", col,
                excludes=False))


def _schema_problems(row: _Row, validator: SchemaCheck, props: dict[str, Any]) -> None:
    unparsed = {p.column for p in row.problems}
    for err in validator.iter_errors(row.record):
        if err.validator == "required":
            col = err.message.split("'")[1]
            if col in unparsed:  # already reported as unparseable
                continue
            msg, fix = "required value is empty.", f"enter {_expected(props[col])}."
        else:
            col = str(err.absolute_path[0]) if err.absolute_path else None
            msg = f"{schema_message(err)}."
            fix = f"expected {_expected(props[col])}." if col in props else ""
        row.problems.append(row.problem(msg, fix, col))


# An ID that another patient's file name or FHIR identifier could produce: '<id>.fhir.json'
# is a patient's FHIR bundle, '<id>.week-1.json' and the identifier '<id>-week-1' an adapted
# week. Such IDs, and IDs that differ only in case (one file on macOS and Windows), are refused.
_COLLIDING_ID = re.compile(r"(?i)[._-]week[._-]?\d+|\.(?:fhir|json|html|ics|pdf|tsv|csv|xml)$")


@dataclass(frozen=True)
class _SheetIds:
    """The sheet's patient IDs indexed once (row numbers from 1), so that checking a row's ID
    against every other row costs the same at 10,000 rows as at 10 (a scan of the column per
    row made the sheet's read grow with the square of its rows)."""

    rows: dict[str, list[int]]  # ID -> the rows that hold it
    folded: dict[str, list[int]]  # ID case-folded -> the rows whose ID folds to it

    @classmethod
    def of(cls, ids: pd.Series) -> _SheetIds:
        rows: dict[str, list[int]] = {}
        folded: dict[str, list[int]] = {}
        for number, pid in enumerate(ids.tolist(), start=1):
            rows.setdefault(pid, []).append(number)
            folded.setdefault(pid.casefold(), []).append(number)
        return cls(rows, folded)


def _id_problems(row: _Row, ids: _SheetIds) -> None:
    """A duplicate, empty or reserved patient ID excludes the row, and so does one that could
    collide with another patient's files or identifiers."""
    pid = row.pid
    if pid and _COLLIDING_ID.search(pid):
        row.problems.append(row.problem(
            f"patient_id '{pid}' ends like a precex file name or identifier ('.fhir', "
            "'.week-N', '-week-N'): another patient's files or FHIR identifiers could take its "
            "name.", "give the patient an ID without such an ending (letters, digits, '_').",
            "patient_id"))
    own = set(ids.rows.get(pid, ()))
    same_but_case = [str(j) for j in ids.folded.get(pid.casefold(), ())
                     if j not in own] if pid else []
    if same_but_case:
        row.problems.append(row.problem(
            f"patient_id '{pid}' differs only in case from the ID in row(s) "
            f"{', '.join(same_but_case)}: their files would be one file on macOS and Windows.",
            "give each patient an ID that differs in more than case.", "patient_id"))
    if pid and len(own) > 1:
        rows = [str(j) for j in ids.rows[pid]]
        row.problems.append(row.problem(f"patient_id appears in rows {', '.join(rows)}.",
                                        "give each patient one row.", "patient_id"))
    if not pid:
        row.problems.append(row.problem("row has no patient_id and cannot be processed.",
                                        "enter the patient's ID.", "patient_id"))
    elif pid.lower() in RESERVED_IDS:
        row.problems.append(row.problem(f"patient_id '{pid}' is the name of a batch output "
                                        f"({RESERVED_IDS[pid.lower()]}).",
                                        "give the patient another ID.", "patient_id"))


def read_patient_sheet(path: str | os.PathLike[str],
                       ehr: dict[str, Any] | None = None, ehr_source: str = "",
                       reference_date: dt.date | None = None) -> Sheet:
    """Read and validate the sheet. Raises InputError only when the file itself is unusable.

    `ehr` ({patient: precex.clinical.fhir_input.ClinicalRecord}) fills the sheet's blank
    cells from the EHR; where both give a value the sheet wins and a disagreement is a data
    issue naming both (`ehr_source`: the clinical_fhir file, for the message).
    `reference_date` dates the history: 'mastectomy 2015' is not recent surgery."""
    source = str(path)
    schema = sheet_schema()
    props = schema["properties"]
    raw, respelled, unused = _read_table(path, schema)
    validator, rejectable = _sheet_checks()
    ids = raw["patient_id"].str.strip()
    column_problems = [Problem(source, f"{note}.", "", stage="sheet", excludes=False)
                       for note in respelled] + unknown_columns(source, unused, list(props))
    id_index = _SheetIds.of(ids)
    problems: list[Problem] = []
    records: list[dict[str, Any]] = []
    ehr = ehr or {}
    ehr_columns = sorted({c for r in ehr.values() for c in r.values} & set(props))
    known = [c for c in raw.columns if c in props] + [c for c in ehr_columns
                                                      if c not in raw.columns]
    for i, cells in enumerate(raw.itertuples(index=False), start=1):
        values = dict(zip(raw.columns, cells, strict=True))
        row = _Row(source, i, values, values["patient_id"].strip())
        if row.pid in ehr:
            _fill_from_ehr(row, ehr[row.pid].values, props, ehr_source)
        _parse_cells(row, known, props, rejectable)
        _code_terms(row, reference_date, ehr.get(row.pid))
        _check_blood_pressure(row.record, row.reject)
        _schema_problems(row, validator, props)
        _id_problems(row, id_index)
        problems.extend(row.problems)
        problems.extend(row.issues)
        if not row.problems:
            row.record[REJECTED_COLUMN] = ";".join(dict.fromkeys(row.rejected))
            row.record[ISSUES_COLUMN] = " | ".join(p.describe(full_path=False)
                                                   for p in row.issues)
            row.record[SOURCES_COLUMN] = " | ".join(
                f"{col}: {where}" for col, where in sorted(row.sources.items())
                if col in row.record)
            records.append(row.record)

    patients = _typed_frame(records, props)
    return Sheet(patients=patients, problems=column_problems + problems,
                 all_ids=[p for p in ids if p])


def unknown_columns(source: str, columns: list[str], known: list[str]) -> list[Problem]:
    """A column precex does not know is dropped (a name or record number never reaches an
    output); a likely misspelling ('vo2peak') says which column was meant."""
    import difflib

    problems = []
    for col in columns:
        low = col.lower().strip()
        close = [k for k in known if low and (k.startswith(low) or low.startswith(k))] or \
            difflib.get_close_matches(low, known, n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        problems.append(Problem(source, f"column '{col}' is not a precex column and is not "
                                f"used.{hint}", f"rename it to '{close[0]}'." if close else
                                "nothing to do if it holds identifiers or notes (they are "
                                "dropped).", column=col, stage="sheet", excludes=False))
    return problems


def _check_blood_pressure(record: dict[str, Any], reject: Any) -> None:
    """Fill systolic/diastolic from blood_pressure; disagreeing readings keep the higher
    (more adverse) value; a systolic at or below the diastolic is rejected."""
    pair = record.get("blood_pressure")
    if isinstance(pair, str) and "/" in pair:
        sys_bp, dia_bp = (float(x) for x in pair.split("/"))
        for col, value in (("systolic_bp", sys_bp), ("diastolic_bp", dia_bp)):
            record[col] = max(record.get(col, value), value)
    if "systolic_bp" in record and "diastolic_bp" in record and \
            record["systolic_bp"] <= record["diastolic_bp"]:
        text = f"{record['systolic_bp']:g}/{record['diastolic_bp']:g}"
        for col in ("systolic_bp", "diastolic_bp"):
            del record[col]
        reject("systolic_bp", f"blood pressure {text}: the systolic is not above the "
               "diastolic.", "check the order of the two readings.")
        reject("diastolic_bp", f"blood pressure {text} is implausible.", "")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _typed_column(values: list[Any], kind: str | None) -> Any:
    if kind == "array":
        return np.array([LIST_SEPARATOR.join(sorted(v)) if isinstance(v, list) else ""
                         for v in values], dtype=object)
    if kind in ("number", "integer"):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan)
    if kind == "boolean":
        return pd.array(values, dtype="boolean")
    return pd.array(values, dtype="string")


def _typed_frame(records: list[dict[str, Any]], props: dict[str, Any]) -> pd.DataFrame:
    """The accepted rows, each column of its schema type (built column by column in one
    frame: assigning ~40 columns to a frame one at a time cost ~15 ms a sheet)."""
    columns = {col: _typed_column([r.get(col) for r in records], spec.get("type"))
               for col, spec in props.items()}
    columns |= {col: pd.array(["" if _blank(r.get(col)) else r.get(col) for r in records],
                              dtype="string")
                for col in DERIVED_COLUMNS}
    frame = pd.DataFrame(columns, columns=list(props) + list(DERIVED_COLUMNS))
    return frame.set_index("patient_id", drop=True).sort_index()
