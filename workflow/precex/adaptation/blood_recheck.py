"""The week's dated values (`followup_blood`): read like the baseline blood table, newest first.

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
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from precex.blood.catalogue import load_catalogue
from precex.blood.markers import harmonise, parse_values
from precex.blood.units import UnitError, celsius
from precex.config import plausible_range
from precex.io.dates import parse_dates
from precex.paths import resource_path
from precex.problems import Problem

COUNT_COLUMNS = ["patient_id", "marker", "value", "date", "state", "row", "censored"]
# Any catalogue marker re-checks like the baseline's; LVEF and body temperature are follow-up
# measures of their own (resources/adaptation/followup_measures.tsv).
FAR_FUTURE = dt.date(9999, 12, 31)  # follow-up dates are checked against each patient's week


@dataclass(frozen=True)
class Measure:
    name: str
    synonyms: frozenset[str]
    loinc: frozenset[str]
    column: str  # the picture's column (lvef_pct, temperature_c)
    state: str  # the safety input whose state it sets (lvef, fever)
    adverse: str
    plausible: tuple[float, float]


@cache
def followup_measures() -> dict[str, Measure]:
    table = pd.read_csv(resource_path("adaptation", "followup_measures.tsv"), sep="\t",
                        dtype=str, keep_default_na=False)
    return {r.measure: Measure(r.measure, frozenset(s.strip().lower() for s in
                                                      r.synonyms.split(";")),
                               frozenset(r.loinc.split(";")), r.column, r.state, r.adverse,
                               plausible_range(r.column))
            for r in table.itertuples(index=False)}


def _measure_of(marker: str, loinc: str) -> Measure | None:
    for measure in followup_measures().values():
        if marker.strip().lower() in measure.synonyms or loinc.strip() in measure.loinc:
            return measure
    return None


def _measure_value(measure: Measure, value: float, unit: str) -> float:
    """The value in the picture's unit: LVEF in % (a fraction of 1 or less times 100),
    temperature in degrees C (degF converted with pint; blank above 45 read as F)."""
    key = unit.strip().lower().replace("°", "deg").replace("[", "").replace("]", "")
    if measure.name == "lvef":
        if key not in ("", "%", "percent", "pct"):
            raise UnitError(f"unit '{unit}' is not a percentage")
        return value * 100 if value <= 1 else value
    try:
        return float(celsius(value, unit))  # precex.blood.units: the one unit mechanism
    except UnitError:
        raise UnitError(f"unit '{unit}' is not a temperature unit (C or F)") from None


def read_followup_counts(frame: pd.DataFrame, source: str, issued: dict[str, dt.date],
                         date_format: str = "ISO") -> tuple[pd.DataFrame, list[Problem]]:
    """The dated values of a follow-up lab or measurement table (patient_id, marker or loinc,
    value, unit, date), read by the baseline's blood reader (precex.blood.markers.harmonise:
    catalogue markers by name or LOINC, units with pint, percent differentials from the same
    day's WBC, plausibility, same-day conflicts), plus LVEF and body temperature. One row per
    usable value, or a `rejected` row (NaN) for one that could not be read (a rejected count
    caps like a missing one, never reads as normal). Rows that cannot be used at all (unknown
    patient or marker, no date, before the prescription) are problems; none excludes."""
    df = frame.copy()
    df.columns = [str(c).strip() for c in df.columns]
    for col in ("patient_id", "marker", "loinc", "value", "unit", "date"):
        if col not in df.columns:
            df[col] = ""
    df = df.fillna("").astype(str)
    rows = (df.pop("source_row").astype(int).to_numpy() if "source_row" in df
            else np.arange(1, len(df) + 1))
    df = df.assign(_row=rows, _file=source)
    measured = np.array([_measure_of(m, lc) is not None
                         for m, lc in zip(df["marker"], df["loinc"], strict=True)], dtype=bool)
    canon, found, rejected = harmonise(df[~measured], source, FAR_FUTURE, set(issued),
                                       date_format=date_format)
    problems = [replace(p, stage="adaptation", excludes=False) for p in found]
    out = [{"patient_id": r.patient_id, "marker": r.marker, "value": float(r.value),
            "date": r.date.isoformat(), "row": int(r.row),
            "state": "conflicting" if r.conflicting else "measured", "censored": r.censored}
           for r in canon.itertuples()]
    out += [{"patient_id": r.patient_id, "marker": r.marker, "value": np.nan,
             "date": r.date.isoformat(), "row": int(r.row), "state": "rejected",
             "censored": ""}
            for r in rejected.itertuples() if not pd.isna(r.date) and r.marker]
    more, found = _read_measures(df[measured], source, issued, date_format)
    out += more
    problems += found
    table = pd.DataFrame(out, columns=COUNT_COLUMNS)
    early = [d <= issued[p].isoformat() for p, d in zip(table["patient_id"], table["date"],
                                                         strict=True)]
    for r in table[early].itertuples():
        problems.append(Problem(source, f"date {r.date} is not after the prescription's date "
                                f"{issued[r.patient_id].isoformat()}.", "give earlier values "
                                "in the baseline tables.", row=int(r.row), column="date",
                                patient_id=r.patient_id, stage="adaptation", excludes=False))
    return table[[not e for e in early]].reset_index(drop=True), problems


def _read_measures(df: pd.DataFrame, source: str, issued: dict[str, dt.date],
                   date_format: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """LVEF and temperature rows: value in the picture's unit, or rejected."""
    out, problems = [], []
    days = parse_dates(df["date"], date_format)
    parsed = parse_values(df["value"])
    for i, r in enumerate(df.itertuples(index=False)):
        pid, row = r.patient_id.strip(), int(df["_row"].iloc[i])
        if pid not in issued:
            problems.append(Problem(source, f"patient '{pid}' has no prescription here.",
                                    "check the ID or the prescriptions given.", row=row,
                                    column="patient_id", stage="adaptation", excludes=False))
            continue
        day = days.iloc[i]
        if pd.isna(day):
            problems.append(Problem(source, f"date '{r.date}' is not a date precex reads.",
                                    "write dates as YYYY-MM-DD.", row=row, column="date",
                                    patient_id=pid, stage="adaptation", excludes=False))
            continue
        measure = _measure_of(r.marker, r.loinc)
        assert measure is not None
        value, state = parsed["value"].iloc[i], "measured"
        try:
            if pd.isna(value):
                raise UnitError(f"value '{r.value}' is not a number")
            value = _measure_value(measure, float(value), r.unit or parsed["unit"].iloc[i])
            low, high = measure.plausible
            if not low <= value <= high:
                raise UnitError(f"{measure.name} {value:.4g} is outside the plausible range "
                                f"{low:g}-{high:g}")
        except UnitError as err:
            problems.append(Problem(source, f"{err}: this value is rejected, and {measure.name} "
                                    "is read as unknown until a newer one.", "check the value "
                                    "and its unit.", row=row, column="value", patient_id=pid,
                                    stage="adaptation", excludes=False))
            value, state = np.nan, "rejected"
        out.append({"patient_id": pid, "marker": measure.name, "value": value,
                    "date": day.date().isoformat(), "row": row, "state": state,
                    "censored": parsed["sign"].iloc[i] if state == "measured" else ""})
    return out, problems


def adverse_direction(name: str) -> str:
    """'low' or 'high': which value of a same-day disagreement is the most adverse."""
    if name in followup_measures():
        return followup_measures()[name].adverse
    return load_catalogue()[name].adverse


def newest_counts(counts: pd.DataFrame, source: str) -> dict[str, dict[str, dict[str, Any]]]:
    """patient -> marker -> the newest count {value, date, state, source}: on the newest day,
    differing values conflict (the lowest is used) and a rejected row without a usable value
    that day leaves the marker rejected."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if counts.empty:
        return out
    for (pid, name), group in counts.groupby(["patient_id", "marker"], sort=True):
        last = group[group["date"] == group["date"].max()]
        usable = last[last["state"] != "rejected"]
        rows = ", ".join(str(r) for r in sorted(last["row"]))
        # the file's name only: an output never depends on where the batch lives
        entry: dict[str, Any] = {"date": last["date"].iloc[0],
                                 "source": f"{os.path.basename(source)} row {rows}"}
        if usable.empty:
            entry.update(value=None, state="rejected")
        else:
            values = usable["value"].astype(float)
            at = values.idxmax() if adverse_direction(str(name)) == "high" else values.idxmin()
            flagged = values.nunique() > 1 or (usable["state"] == "conflicting").any()
            entry.update(value=round(float(values[at]), 3),
                         state="conflicting" if flagged else "measured")
            sign = usable["censored"].fillna("")[at] if "censored" in usable else ""
            if sign:  # '<20': the limit, read as just below it (precex.prescription.rules)
                entry["censored"] = sign
        out.setdefault(str(pid), {})[str(name)] = entry
    return out
