"""The validated patient sheet written by the validate stage, read back with its types."""

from __future__ import annotations

import os

import pandas as pd

from precex.io.sheet import DERIVED_COLUMNS, sheet_schema
from precex.problems import Problem


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
            frame[col] = values.str.lower().map({"true": True, "false": False}).astype("boolean")
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
    write_tsv(path, out, index=True)


def read_sheet_exclusions(path: str | os.PathLike[str]) -> set[str]:
    """IDs excluded at the sheet stage (results/validated/exclusions.tsv)."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return set(frame["patient_id"])


def report_unmatched(source: str, ids: pd.Series | list[str], patients: set[str],
                     excluded: set[str], stage: str, what: str = "rows") -> list[Problem]:
    """Problems for data whose patient is unknown or was excluded at the sheet stage.

    Data of sheet-excluded patients is summarised in one line per file (the patient's own
    exclusion already says why); unknown IDs get one line each, with the number of items.
    """
    counts = pd.Series(list(ids), dtype=object).value_counts().sort_index()
    problems: list[Problem] = []
    dropped = [p for p in counts.index if p in excluded and p not in patients]
    if dropped:
        shown = ", ".join(dropped[:5]) + (" ..." if len(dropped) > 5 else "")
        problems.append(Problem(source, f"{what} of {len(dropped)} patient(s) excluded at the "
                                f"sheet stage are not used ({shown}).",
                                "fix those patients' rows in the sheet (see exclusions.tsv).",
                                stage=stage))
    for pid, n in counts.items():
        if pid not in patients and pid not in excluded:
            problems.append(Problem(source, f"{n} {what} for '{pid}', who is not in the patient "
                                    "sheet; not used.", "check the ID, or add the patient to "
                                    "the sheet.", stage=stage))
    return problems
