"""The weekly counts (`followup_blood`): read like the baseline blood table, newest first.

A count taken after the prescription (platelets, haemoglobin, neutrophils, WBC) is read like
the baseline `blood` table: the marker by name or LOINC from the catalogue, the unit converted
with pint to the canonical unit, implausible values rejected. Each week the newest count of
each marker up to the week's last day replaces the one in the patient's picture; same-day values
that differ conflict (the lowest, most adverse, is used and flagged); a newest row that could not
be read leaves the marker `rejected` (read like missing: the data policy's cap and an "obtain"
item, never as normal). The week's plan is then prescribed again by the baseline engine on that
picture (precex.adaptation.engine): a recovered count lifts its cap, a new low count adds one.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import numpy as np
import pandas as pd

from precex.blood.catalogue import find_marker, load_catalogue
from precex.blood.markers import parse_values
from precex.blood.units import UnitError, to_canonical
from precex.io.dates import parse_dates
from precex.problems import Problem
from precex.profile.safety_inputs import BLOOD_COLUMNS

COUNT_COLUMNS = ["patient_id", "marker", "value", "date", "state", "row"]


def read_followup_counts(frame: pd.DataFrame, source: str, issued: dict[str, dt.date]
                         ) -> tuple[pd.DataFrame, list[Problem]]:
    """The safety counts of a follow-up blood table (patient_id, marker or loinc, value, unit,
    date), one row per input row that names a patient with a prescription: value in the
    canonical unit, or NaN with state `rejected` when it could not be read. Rows that cannot be
    used at all (unknown patient or marker, no date, before the prescription) are problems; none
    excludes the patient (a rejected count caps instead)."""
    df = frame.copy()
    df.columns = [str(c).strip() for c in df.columns]
    for col in ("patient_id", "marker", "loinc", "value", "unit", "date"):
        if col not in df.columns:
            df[col] = ""
    df = df.fillna("").astype(str)
    rows = (df.pop("source_row").astype(int).to_numpy() if "source_row" in df
            else np.arange(1, len(df) + 1))
    problems: list[Problem] = []
    out = []
    catalogue = load_catalogue()
    days = parse_dates(df["date"])
    parsed = parse_values(df["value"])
    for i, r in enumerate(df.itertuples(index=False)):
        pid, row = r.patient_id.strip(), int(rows[i])

        def problem(message: str, fix: str, column: str, who: str | None = pid,
                    row: int = row) -> None:
            problems.append(Problem(source, message, fix, row=row, column=column,
                                    patient_id=who or None, stage="adaptation",
                                    excludes=False))

        if pid not in issued:
            problem(f"patient '{pid}' has no prescription here.",
                    "check the ID or the prescriptions given.", "patient_id", None)
            continue
        name = find_marker(r.marker.strip() or None, r.loinc.strip() or None)
        if name not in BLOOD_COLUMNS:
            problem(f"marker '{r.marker or r.loinc}' is not a count the weekly re-check reads "
                    "(platelets, haemoglobin, neutrophils, WBC); the row is not used.",
                    "give other markers in the baseline blood table.", "marker")
            continue
        day = days.iloc[i]
        if pd.isna(day):
            problem(f"date '{r.date}' is not a YYYY-MM-DD date.", "write dates as YYYY-MM-DD.",
                    "date")
            continue
        day = day.date()
        if day <= issued[pid]:
            problem(f"date {day.isoformat()} is not after the prescription's date "
                    f"{issued[pid].isoformat()}.", "give earlier counts in the blood table.",
                    "date")
            continue
        marker = catalogue[name]
        value, state = parsed["value"].iloc[i], "measured"
        unit = r.unit.strip() or parsed["unit"].iloc[i]
        try:
            if pd.isna(value):
                raise UnitError(f"value '{r.value}' is not a number")
            value = to_canonical(float(value), unit, marker)
            if not marker.plausible[0] <= value <= marker.plausible[1]:
                raise UnitError(f"{name} {value:g} {marker.canonical_unit} is outside the "
                                f"plausible range {marker.plausible[0]:g}-"
                                f"{marker.plausible[1]:g}")
        except (UnitError, ValueError) as err:
            problem(f"{err}: this count is rejected, and {name} is read as unknown (capped "
                    "as missing) until a newer count.", "check the value and its unit "
                    f"(canonical {marker.canonical_unit}).", "value")
            value, state = np.nan, "rejected"
        out.append({"patient_id": pid, "marker": name, "value": value,
                    "date": day.isoformat(), "state": state, "row": row})
    return pd.DataFrame(out, columns=COUNT_COLUMNS), problems


def newest_counts(counts: pd.DataFrame, source: str) -> dict[str, dict[str, dict[str, Any]]]:
    """patient -> marker -> the newest count {value, date, state, source}: on the newest day,
    differing values conflict (the lowest is used) and a rejected row without a usable value
    that day leaves the marker rejected."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if counts.empty:
        return out
    for (pid, name), group in counts.groupby(["patient_id", "marker"], sort=True):
        last = group[group["date"] == group["date"].max()]
        usable = last[last["state"] == "measured"]
        rows = ", ".join(str(r) for r in sorted(last["row"]))
        # the file's name only: an output never depends on where the batch lives
        entry: dict[str, Any] = {"date": last["date"].iloc[0],
                                 "source": f"{os.path.basename(source)} row {rows}"}
        if usable.empty:
            entry.update(value=None, state="rejected")
        else:
            values = usable["value"].astype(float)
            entry.update(value=round(float(values.min()), 3),
                         state="conflicting" if values.nunique() > 1 else "measured")
        out.setdefault(str(pid), {})[str(name)] = entry
    return out
