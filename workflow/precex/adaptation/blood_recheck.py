"""The weekly re-check of blood-count caps against the newest dated counts (`followup_blood`).

A count taken after the prescription (platelets, haemoglobin, neutrophils, WBC) is read like
the baseline `blood` table: the marker by name or LOINC from the catalogue, the unit converted
with pint to the canonical unit, implausible values rejected. Each week the newest count of
each marker up to the week's last day replaces the one the caps were built on; same-day values
that differ conflict (the lowest, most adverse, is used and flagged); a newest row that could not
be read leaves the marker `rejected` (read like missing: the data policy's cap and an "obtain"
item, never as normal). The safety rules of the rule base are then evaluated again on the
patient's features with those counts: a rule that no longer fires (a recovered count) lifts its
cap, a rule that newly fires (a new low count) adds one; both are written to the trace with the
count, its date and its source row. A lifted cap never raises the plan above the prescription's
own progression (built under the original caps): it lifts a status or an exclusion, and says
that a re-prescription is needed to progress beyond it.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from precex.blood.catalogue import find_marker, load_catalogue
from precex.blood.markers import parse_values
from precex.blood.units import UnitError, to_canonical
from precex.io.dates import parse_dates
from precex.json_data import json_copy
from precex.prescription.engine import Caps, apply_effect_caps, stricter
from precex.prescription.rules import STATUSES, SUPERVISION, TRIAGE, RuleBase, evaluate
from precex.problems import Problem
from precex.profile.host import json_value
from precex.profile.safety_inputs import BLOOD_COLUMNS, with_safety_inputs

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


@dataclass
class Recheck:
    """The week's caps after the re-check, what changed and the counts now in force."""
    caps: Caps
    safety_rules: list[str]
    counts: dict[str, dict[str, Any]]
    changed: bool = True  # False: the same rules fire, the plan's caps carry over
    trace: list[dict[str, Any]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def last_infusion_by(calendar: dict[str, Any] | None, day: dt.date, given: str) -> str:
    """The latest infusion on or before `day`, rolling the calendar on by its cycle length
    (the sheet's last infusion when none is later): counts before it are stale."""
    if not calendar or not calendar.get("next_infusion_date"):
        return given
    nxt = dt.date.fromisoformat(calendar["next_infusion_date"])
    cycle = calendar.get("cycle_length_days")
    last = None
    while nxt <= day:
        last = nxt
        if not cycle:
            break
        nxt += dt.timedelta(days=int(cycle))
    if last is None:
        return given
    return max(given or "", last.isoformat())


def _count_text(name: str, entry: dict[str, Any]) -> str:
    value = entry.get("value")
    shown = "unreadable" if value is None else f"{value:g}"
    return f"{name} {shown} on {entry['date']} ({entry.get('state')}; {entry.get('source')})"


@dataclass(frozen=True)
class RecheckInput:
    prescription: dict[str, Any]  # the plan of the week before
    features: dict[str, Any]  # the patient's host features (the profile's flat row)
    counts: dict[str, dict[str, Any]]  # the newest count per marker so far (newest_counts)
    week_end: dt.date
    held_status: str  # the strictest status weekly adaptations set so far (never lifted here)


def _recheck_row(item: RecheckInput) -> tuple[dict[str, Any], str]:
    """The features row with the newest counts, and the sheet's last infusion date."""
    # The profile's states are kept (a stale or rejected count stays so) but for the counts
    # replaced; without safety_data_gaps, with_safety_inputs derives the safety features again.
    replaced = {f"{n}_state" for n in item.counts}
    row = {k: v for k, v in item.features.items()
           if k != "safety_data_gaps" and k not in replaced}
    for name, entry in item.counts.items():
        row[BLOOD_COLUMNS[name]] = np.nan if entry.get("value") is None else entry["value"]
        row[f"{name}_date"] = entry["date"]
        row[f"{name}_state"] = "rejected" if entry.get("state") == "rejected" else ""
    given = json_value(item.features.get("last_infusion_date"))
    given = str(given) if given else ""
    row["last_infusion_date"] = last_infusion_by(item.prescription.get("treatment_calendar"),
                                                 item.week_end, given) or np.nan
    return row, given


def recheck_shard(items: dict[str, RecheckInput], rulebase: RuleBase, week: int
                  ) -> dict[str, Recheck]:
    """The week's re-check of every patient of a shard ({patient: RecheckInput}): the safety
    rules are evaluated once on the shard's frame. Each patient's Recheck has the caps from the
    safety rules that fire now (with the held status, and supervision and triage never below
    the plan's), and the trace entries and changes of the rules that newly fire or no longer
    fire; `changed` is False when the same rules fire (the plan's caps then carry over)."""
    if not items:
        return {}
    ids = list(items)
    rows, given = zip(*(_recheck_row(items[pid]) for pid in ids), strict=True)
    frame = with_safety_inputs(pd.DataFrame(list(rows), index=ids))
    for pid in ids:  # a same-day conflict is flagged, as in the baseline table
        for name, entry in items[pid].counts.items():
            if entry.get("state") == "conflicting":
                frame.loc[pid, f"{name}_state"] = "conflicting"
    safety = rulebase.of_kind("safety")
    masks = {r.id: evaluate(r.when, frame) for r in safety}
    records = frame.to_dict("records")
    out = {}
    for i, pid in enumerate(ids):
        item = items[pid]
        now = {r.id for r in safety if masks[r.id][i]}
        before = _in_force(item.prescription)
        caps = Caps()
        for rule in (r for r in safety if r.id in now):
            apply_effect_caps(caps, rule.effect, rule)
        caps.status = stricter(STATUSES, caps.status, item.held_status)
        # Supervision and triage also carry the base's modifiers: never lowered by a re-check.
        caps.supervision = stricter(SUPERVISION, caps.supervision,
                                    item.prescription["supervision"])
        caps.triage = stricter(TRIAGE, caps.triage, item.prescription["triage"])
        record = records[i]
        counts_text = "; ".join(_count_text(n, e) for n, e in sorted(item.counts.items()))
        counts_text = counts_text or "no count since the prescription"
        infusion = json_value(record.get("last_infusion_date")) or ""
        if infusion != given[i]:
            counts_text += (f"; counts before the infusion of {infusion} are stale (the "
                            "treatment calendar)")
        result = Recheck(caps=caps, safety_rules=sorted(now), counts=json_copy(item.counts),
                         changed=now != before)
        for rule in safety:
            if rule.id in now and rule.id not in before:
                what, applied = "cap added", True
            elif rule.id in before and rule.id not in now:
                what, applied = "cap lifted", False
            else:
                continue
            shown = ", ".join(f"{f} {json_value(record.get(f))}" for f in rule.features)
            result.changes.append(f"{what}: {rule.title} ({shown})")
            result.trace.append({
                "rule_id": rule.id, "kind": rule.kind, "title": rule.title,
                "grade": rule.grade, "citation": rule.citation, "rationale": rule.rationale,
                "effect": json_copy(rule.effect),
                "inputs": {f: json_value(record.get(f)) for f in rule.features},
                "applied": applied,
                "note": f"weekly re-check {week} ({item.week_end.isoformat()}): {what} by the "
                        f"newest counts: {counts_text}"})
        out[pid] = result
    return out


def _in_force(prescription: dict[str, Any]) -> set[str]:
    """The safety rules the prescription's caps rest on now: the last re-check's, else the
    rules its engine applied."""
    adaptation = prescription.get("adaptation") or {}
    if "safety_rules" in adaptation:
        return set(adaptation["safety_rules"])
    return {t["rule_id"] for t in prescription.get("trace") or []
            if t.get("kind") == "safety" and t.get("applied")}
