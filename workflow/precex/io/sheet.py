"""The patient sheet: parse each cell by its schema type, validate every row, collect every problem.

A bad row excludes that patient (stage `sheet`), with one reason per bad cell; it never stops
the batch unless strict mode is on. Duplicate IDs exclude every row that carries them, since
precex cannot know which row is right.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from jsonschema import Draft202012Validator

from precex.config import load_yaml
from precex.paths import schema_path
from precex.problems import InputError, Problem

LIST_SEPARATOR = ";"
_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}


@dataclass
class Sheet:
    patients: pd.DataFrame  # valid rows, typed, indexed by patient_id, sorted
    problems: list[Problem] = field(default_factory=list)
    all_ids: list[str] = field(default_factory=list)  # every non-empty ID in the file, in order


def sheet_schema() -> dict[str, Any]:
    return load_yaml(schema_path("patients.schema.yaml"))


class _CellError(ValueError):
    pass


def _parse_cell(raw: str, spec: dict[str, Any]) -> Any:
    kind = spec.get("type")
    text = raw.strip()
    if kind == "number":
        try:
            value = float(text)
        except ValueError:
            raise _CellError(f"'{raw}' is not a number") from None
        if not np.isfinite(value):
            raise _CellError(f"'{raw}' is not a finite number")
        return value
    if kind == "integer":
        try:
            value = float(text)
        except ValueError:
            raise _CellError(f"'{raw}' is not a whole number") from None
        if not np.isfinite(value) or value != int(value):
            raise _CellError(f"'{raw}' is not a whole number")
        return int(value)
    if kind == "boolean":
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _CellError(f"'{raw}' is not true/false")
    if kind == "array":
        return [item.strip() for item in text.split(LIST_SEPARATOR) if item.strip()]
    if spec.get("format") == "date":
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise _CellError(f"'{raw}' is not a date in YYYY-MM-DD form") from None
    return text


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


def read_patient_sheet(path: str | os.PathLike[str]) -> Sheet:
    """Read and validate the sheet. Raises InputError only when the file itself is unusable."""
    source = str(path)
    try:
        raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    except FileNotFoundError:
        raise InputError([Problem(source, "file not found.", "check the 'patients' path.",
                                  stage="sheet")]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError([Problem(source, f"cannot be read as a tab-separated table ({err}).",
                                  "save the sheet as UTF-8 TSV with a header row.",
                                  stage="sheet")]) from None
    raw.columns = [c.strip() for c in raw.columns]
    schema = sheet_schema()
    props = schema["properties"]
    missing_cols = [c for c in schema["required"] if c not in raw.columns]
    if missing_cols:
        raise InputError([Problem(source, f"required column(s) missing: {', '.join(missing_cols)}.",
                                  "add the column(s) to the header row.", stage="sheet")])
    if raw.empty:
        raise InputError([Problem(source, "the sheet has no patients.",
                                  "add one row per patient below the header.", stage="sheet")])

    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    ids = raw["patient_id"].str.strip()
    counts = ids.value_counts()
    problems: list[Problem] = []
    records: list[dict[str, Any]] = []
    known = [c for c in raw.columns if c in props]
    for i, row in enumerate(raw.itertuples(index=False), start=1):
        values = dict(zip(raw.columns, row, strict=True))
        pid = values["patient_id"].strip()
        label = pid or None
        row_problems: list[Problem] = []
        record: dict[str, Any] = {}
        for col in known:
            cell = values[col]
            if cell.strip() == "":
                continue
            try:
                record[col] = _parse_cell(cell, props[col])
            except _CellError as err:
                row_problems.append(Problem(source, f"{err}.", f"expected {_expected(props[col])}.",
                                            row=i, column=col, patient_id=label, stage="sheet"))
        unparsed = {p.column for p in row_problems}
        for err in validator.iter_errors(record):
            if err.validator == "required":
                col = err.message.split("'")[1]
                if col in unparsed:  # already reported as unparseable
                    continue
                msg, fix = "required value is empty.", f"enter {_expected(props[col])}."
            else:
                col = str(err.absolute_path[0]) if err.absolute_path else None
                msg = f"{err.message}."
                fix = f"expected {_expected(props[col])}." if col in props else ""
            row_problems.append(Problem(source, msg, fix, row=i, column=col, patient_id=label,
                                        stage="sheet"))
        if pid and counts.get(pid, 0) > 1:
            rows = [str(j + 1) for j in np.flatnonzero(ids.to_numpy() == pid)]
            row_problems.append(Problem(source, f"patient_id appears in rows {', '.join(rows)}.",
                                        "give each patient one row.", row=i, column="patient_id",
                                        patient_id=pid, stage="sheet"))
        if not pid:
            row_problems.append(Problem(source, "row has no patient_id and cannot be processed.",
                                        "enter the patient's ID.", row=i, column="patient_id",
                                        stage="sheet"))
        problems.extend(row_problems)
        if not row_problems:
            records.append(record)

    patients = _typed_frame(records, props)
    return Sheet(patients=patients, problems=problems, all_ids=[p for p in ids if p])


def _typed_frame(records: list[dict[str, Any]], props: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=list(props))
    for col, spec in props.items():
        kind = spec.get("type")
        if kind == "array":
            frame[col] = frame[col].map(
                lambda v: LIST_SEPARATOR.join(sorted(v)) if isinstance(v, list) else ""
            )
        elif kind in ("number", "integer"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        elif kind == "boolean":
            frame[col] = frame[col].astype("boolean")
        else:
            frame[col] = frame[col].astype("string")
    return frame.set_index("patient_id", drop=True).sort_index()
