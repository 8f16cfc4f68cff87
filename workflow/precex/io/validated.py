"""The validated patient sheet written by the validate stage, read back with its types."""

from __future__ import annotations

import os

import pandas as pd

from precex.io.sheet import DERIVED_COLUMNS, sheet_schema
from precex.io.tokens import parse_bools
from precex.problems import Problem

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
    write_tsv(path, out, index=True)


def report_unmatched(source: str, ids: pd.Series | list[str], patients: set[str],
                     excluded: set[str], stage: str, what: str = "rows") -> list[Problem]:
    """Problems for data whose patient is unknown or was excluded at the sheet stage.

    Study-wide tables are common (a QIIME 2 table of 763 samples for a 40-patient batch), so
    data of IDs outside this batch is summarised in one line per file with counts and a few
    examples; it is not an error. Data of sheet-excluded patients gets one line too (the
    patient's own exclusion already says why).
    """
    counts = pd.Series(list(ids), dtype=object).value_counts().sort_index()
    problems: list[Problem] = []
    dropped = [p for p in counts.index if p in excluded and p not in patients]
    if dropped:
        shown = ", ".join(dropped[:5]) + (" ..." if len(dropped) > 5 else "")
        problems.append(Problem(source, f"{what} of {len(dropped)} patient(s) excluded at the "
                                f"sheet stage are not used ({shown}).",
                                "fix those patients' rows in the sheet (see exclusions.tsv).",
                                stage=stage, excludes=False))
    unknown = [p for p in counts.index if p not in patients and p not in excluded]
    if unknown:
        shown = ", ".join(f"'{p}'" for p in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        n = int(counts[unknown].sum())
        problems.append(Problem(source, f"{n} {what} of {len(unknown)} ID(s) not in this "
                                f"batch's patient sheet are not used (e.g. {shown}).",
                                "nothing to do for a study-wide table; otherwise check the IDs "
                                "or add the patients to the sheet.", stage=stage,
                                excludes=False))
    return problems
