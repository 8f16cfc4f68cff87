"""The validated patient sheet written by the validate stage, read back with its types."""

from __future__ import annotations

import os

import pandas as pd

from precex.clinical.sheet import DERIVED_COLUMNS, sheet_schema
from precex.io.tokens import parse_bools

# Booleans as write_validated writes them.
_WRITTEN_TRUE = frozenset({"true"})
_WRITTEN_FALSE = frozenset({"false"})


def read_validated(path: str | os.PathLike[str]) -> pd.DataFrame:
    props = sheet_schema()["properties"]
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame = pd.DataFrame(index=pd.Index(raw["patient_id"], name="patient_id"))
    for col, spec in props.items():
        if col == "patient_id":
            continue
        values = raw[col] if col in raw.columns else pd.Series([""] * len(raw))
        values = values.set_axis(frame.index)
        kind = spec.get("type")
        if kind in ("number", "integer"):
            frame[col] = pd.to_numeric(values.replace("", None), errors="coerce").astype(float)
        elif kind == "boolean":
            frame[col] = parse_bools(values, _WRITTEN_TRUE, _WRITTEN_FALSE)
        else:
            frame[col] = values.replace("", pd.NA).astype("string")
    for col in DERIVED_COLUMNS:  # rejected safety cells and data issues found by validate
        values = raw[col] if col in raw.columns else pd.Series([""] * len(raw))
        frame[col] = values.set_axis(frame.index).replace("", pd.NA).astype("string")
    return frame


def write_validated(path: str | os.PathLike[str], patients: pd.DataFrame) -> None:
    from precex.io.files import write_tsv

    out = patients.copy()
    for col in out.columns:
        if pd.api.types.is_bool_dtype(out[col]) or str(out[col].dtype) == "boolean":
            out[col] = out[col].map({True: "true", False: "false"}).fillna("")
    write_tsv(path, out, index=True, spreadsheet=True)
