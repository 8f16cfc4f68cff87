"""A week's plan: the baseline engine, run on the patient's picture as of the week.

The adaptation rules of the rule base (kind `adaptation`) are evaluated over the week's
adaptation features; the most cautious decision wins (stop > step_back > hold > advance). The
decision sets only the position in the 12-week progression (and a red flag's stop, an
HRV-suppressed first day, missed weeks' resistance step-back); the plan itself is written by
the baseline's prescription engine and plan builder (precex.prescription.engine.prescribe_one)
on the patient's clinical picture as of the week: the prescription's picture with every newer
dated value (the weekly counts). So a week keeps every invariant of the baseline (caps,
exercises, modes, heart-rate guidance, supervision and triage, infusion recovery days), a cap
lifts when its value recovers and a new low value adds one. A stop (a red flag) schedules
nothing and holds status clearance_required from that week on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from precex.adaptation.features import issue_date
from precex.json_data import json_copy
from precex.modality_outputs import CENSORED_SUFFIX
from precex.prescription.engine import EngineSettings, prescribe_one, stricter
from precex.prescription.model import EMPTY, Adaptation, Prescription
from precex.prescription.model import Decision as DecisionName
from precex.prescription.plan import WEEKS, PlanPosition
from precex.prescription.rules import STATUSES, Rule, RuleBase, evaluate_all
from precex.prescription.signoff import prescription_digest
from precex.problems import InputError, Problem
from precex.profile.host import json_value
from precex.profile.safety_inputs import BLOOD_COLUMNS, with_safety_inputs

DECISIONS = ("advance", "hold", "step_back", "stop")  # ascending caution


def _decide(fired: list[Any], features: dict[str, Any]) -> tuple[DecisionName, list[str]]:
    decisions = [(r.effect["decision"], r) for r in fired if "decision" in r.effect]
    if not decisions:
        reason = ("no wearable data since the prescription" if not features.get("followup_days")
                  else "no adaptation rule applied")
        return "hold", [reason]
    # The rule base's schema allows only DECISIONS here.
    decision: DecisionName = max((d for d, _ in decisions), key=DECISIONS.index)
    reasons = [f"{r.id}: {r.title}" for d, r in decisions if d == decision]
    if decision == "stop" and features.get("red_flags"):  # which symptom, which day
        reasons.insert(0, f"red flag: {features['red_flags']}")
    return decision, reasons


def fired_rules(rulebase: RuleBase, features: Mapping[str, dict[str, Any]]
                ) -> dict[str, list[Rule]]:
    """The adaptation rules each patient's features fire ({patient: features}): every rule
    is evaluated once on the whole shard's frame. Columns stay Python objects, so a value
    compares the same whatever the other patients' values are."""
    rules = rulebase.of_kind("adaptation")
    ids = list(features)
    if not ids:
        return {}
    frame = pd.DataFrame([features[pid] for pid in ids], index=ids, dtype=object)
    masks = evaluate_all([rule.when for rule in rules], frame)
    return {pid: [rule for rule, hit in zip(rules, masks[i], strict=True) if hit]
            for i, pid in enumerate(ids)}


@dataclass(frozen=True)
class WeekInput:
    """One patient's week: the plan it followed, what the week's data say, and the newest
    dated values that arrived during it."""
    prescription: Prescription  # the plan of the week before (the baseline for week 1)
    features: dict[str, Any]  # the week's adaptation features
    data_through: dt.date  # the last day of the week's data; the new plan starts the day after
    fired: list[Rule] | None = None  # the adaptation rules the features fire (computed if None)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)  # newest_counts' entries


@dataclass(frozen=True)
class Decision:
    decision: DecisionName
    reasons: list[str]
    position: PlanPosition  # its held_status is the week's held status


def _stopped_since(prescription: Prescription) -> int:
    """The update whose red flag began the run of stops the plan is in."""
    since = int((prescription.get("adaptation") or EMPTY).get("week", 1))
    for entry in reversed(prescription.get("adaptation_history") or []):
        if entry["decision"] != "stop":
            break
        since = int(entry["week"])
    return since


def decide(item: WeekInput, fired: list[Rule]) -> Decision:
    """Where the plan goes this week (advance, hold, step back, stop) and why: the position
    the engine prescribes at. The adaptation never edits a plan by hand."""
    prescription, features = item.prescription, item.features
    decision, reasons = _decide(fired, features)
    previous = prescription.get("adaptation") or EMPTY
    week = int(previous.get("current_week", 1))
    # A red flag's stop lasts until the care team clears the patient (a new baseline from an
    # updated sheet): a quiet week after it schedules nothing and still names the symptom.
    stopped = (previous.get("position") or EMPTY).get("stop")
    if stopped and decision != "stop":
        decision = "stop"
        reasons = [f"stopped since update {_stopped_since(prescription)} ({stopped}): no"
                   " sessions until the care team clears the patient"]
    if prescription["status"] == "deferred" and decision != "stop":
        decision, reasons = "hold", ["prescription is deferred: no sessions to adapt"]
    elif prescription["status"] == "clearance_required" and decision == "advance":
        decision, reasons = "hold", ["awaiting medical clearance: the plan does not advance"]
    new_week = {"advance": min(WEEKS, week + 1), "hold": week,
                "step_back": max(1, week - 1), "stop": week}[decision]
    step_back = max((r.effect.get("resistance_step_back_weeks_per_missed_week", 0)
                     for r in fired), default=0)
    missed = int(features.get("weeks_missed") or 0)
    held = str(previous.get("held_status", "prescribed"))
    for rule in fired:
        if "status" in rule.effect:
            held = stricter(STATUSES, held, rule.effect["status"])
    flags = [text for text in (stopped, features.get("red_flags")) if text]
    stop = "; ".join(dict.fromkeys(flags)) or "red-flag symptom" if decision == "stop" else None
    position = PlanPosition(
        week=new_week, resistance_week=max(1, new_week - step_back * missed),
        start=item.data_through + dt.timedelta(days=1), held_status=held, stop=stop,
        easy_first_day=any(r.effect.get("swap_vigorous_today") for r in fired))
    return Decision(decision, reasons, position)


def last_infusion_by(calendar: Mapping[str, Any] | None, day: dt.date, given: str) -> str:
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


def picture_place(name: str) -> tuple[str, str, str | None]:
    """Where a follow-up value goes in the picture: its column, its date column, and the
    safety input whose state it sets (None for a marker without one)."""
    from precex.blood.catalogue import load_catalogue

    if name in BLOOD_COLUMNS:
        return BLOOD_COLUMNS[name], f"{name}_date", name
    if name == "lvef":
        return "lvef_pct", "lvef_date", "lvef"
    if name == "temperature":
        return "temperature_c", "temperature_date", "fever"
    marker = load_catalogue()[name]
    return f"{name}_{marker.column_unit}", f"{name}_date", None


def weekly_picture(prescription: Prescription, counts: dict[str, dict[str, Any]],
                   week_end: dt.date) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The patient's clinical picture as of the week's end: the plan's own picture (the
    baseline values and every newer value so far) with the week's newer counts, and the
    last infusion rolled on by the calendar (counts before it are stale in a cycle). Returns
    the row for the engine and the counts now in force."""
    picture = prescription.get("picture")
    if picture is None:
        raise InputError([Problem("", "this prescription has no clinical picture (written by "
                                  "an older precex), so its week cannot be prescribed again.",
                                  "run precex run again to rewrite the prescriptions.",
                                  patient_id=prescription["patient_id"], stage="adaptation")])
    in_force = json_copy((prescription.get("adaptation") or EMPTY).get("counts") or EMPTY)
    newer = {name: entry for name, entry in counts.items()
             if name not in in_force or entry["date"] >= in_force[name]["date"]}
    in_force.update(newer)
    places = {name: picture_place(name) for name in newer}
    restated = {f"{state}_state" for _, _, state in places.values() if state}
    row = {k: v for k, v in picture.items() if k not in restated}
    for name, entry in newer.items():
        column, date_column, state = places[name]
        value = entry.get("value")
        row[column] = np.nan if value is None else value
        row[date_column] = entry["date"]
        row.pop(column + CENSORED_SUFFIX, None)  # an older result's '<' is not this one's
        if entry.get("censored"):
            row[column + CENSORED_SUFFIX] = entry["censored"]
        if state and entry.get("state") == "rejected":
            row[f"{state}_state"] = "rejected"
    given = str(picture.get("last_infusion_date") or "")
    rolled = last_infusion_by(prescription.get("treatment_calendar"), week_end, given)
    if rolled:
        row["last_infusion_date"] = rolled
    return row, in_force


def prescribe_weeks(items: Mapping[str, WeekInput], rulebase: RuleBase
                    ) -> dict[str, Prescription]:
    """The week's plan of every patient of a shard ({patient: WeekInput}): each patient's
    picture as of the week, every prescription rule evaluated once on the shard's frame, and
    the baseline engine (prescribe_one) at the position the week's decision set."""
    if not items:
        return {}
    ids = list(items)
    adaptation_rules = (fired_rules(rulebase, {pid: items[pid].features for pid in ids})
                        if any(items[pid].fired is None for pid in ids) else {})
    rows, in_force = {}, {}
    for pid in ids:
        rows[pid], in_force[pid] = weekly_picture(items[pid].prescription, items[pid].counts,
                                                  items[pid].data_through)
    frame = with_safety_inputs(pd.DataFrame([rows[pid] for pid in ids], index=ids))
    for pid in ids:  # a same-day conflict is flagged, as in the baseline table
        for name, entry in in_force[pid].items():
            state = picture_place(name)[2]
            if entry.get("state") == "conflicting" and state:
                frame.loc[pid, f"{state}_state"] = "conflicting"
    frame = rulebase.derive(frame)  # the rule base's derived flags, from the week's values
    rule_list = rulebase.prescription_rules()
    masks = evaluate_all([r.when for r in rule_list], frame)
    records = frame.to_dict("records")
    out = {}
    for i, pid in enumerate(ids):
        item = items[pid]
        fired = item.fired if item.fired is not None else adaptation_rules[pid]
        now = [r for r, hit in zip(rule_list, masks[i], strict=True) if hit]
        decision = decide(item, fired)
        plan = prescribe_one(pid, records[i], now, EngineSettings.of_prescription(
            item.prescription), decision.position)
        out[pid] = _with_adaptation(plan, item, fired, decision, rulebase, records[i],
                                    in_force[pid])
    return out


def adapt(prescription: Prescription, features: dict[str, Any], rulebase: RuleBase,
          data_through: dt.date, fired: list[Rule] | None = None,
          counts: dict[str, dict[str, Any]] | None = None) -> Prescription:
    """One patient's plan for the week after `data_through` (prescribe_weeks for one)."""
    pid = prescription["patient_id"]
    item = WeekInput(prescription, features, data_through, fired, counts or {})
    return prescribe_weeks({pid: item}, rulebase)[pid]


def _in_force(prescription: Prescription) -> set[str]:
    """The safety rules the previous plan's caps rested on."""
    return {t["rule_id"] for t in prescription.get("trace") or []
            if t.get("kind") == "safety" and t.get("applied")}


def _count_text(name: str, entry: dict[str, Any]) -> str:
    value = entry.get("value")
    shown = "unreadable" if value is None else f"{value:g}"
    return f"{name} {shown} on {entry['date']} ({entry.get('state')}; {entry.get('source')})"


def _cap_changes(plan: Prescription, previous: Prescription, rulebase: RuleBase,
                 record: Mapping[str, Any], counts: dict[str, dict[str, Any]], week: int,
                 week_end: dt.date) -> tuple[list[str], list[dict[str, Any]]]:
    """What the week's values changed in the safety rules: a cap added (a rule that now
    fires) or lifted (one that no longer does), with the values and their dates."""
    now = {t["rule_id"] for t in plan["trace"] if t["kind"] == "safety" and t["applied"]}
    before = _in_force(previous)
    if now == before:
        return [], []
    counts_text = ("; ".join(_count_text(n, e) for n, e in sorted(counts.items()))
                   or "no count since the prescription")
    changes, trace = [], []
    for rule in rulebase.of_kind("safety"):
        if rule.id in now and rule.id not in before:
            what, applied = "cap added", True
        elif rule.id in before and rule.id not in now:
            what, applied = "cap lifted", False
        else:
            continue
        shown = ", ".join(f"{f} {json_value(record.get(f))}" for f in rule.features)
        changes.append(f"{what}: {rule.title} ({shown})")
        trace.append({
            "rule_id": rule.id, "kind": rule.kind, "title": rule.title, "grade": rule.grade,
            "citation": rule.citation, "rationale": rule.rationale,
            "effect": json_copy(rule.effect),
            "inputs": {f: json_value(record.get(f)) for f in rule.features},
            "applied": applied,
            "note": f"weekly re-check {week} ({week_end.isoformat()}): {what} by the week's "
                    f"values: {counts_text}"})
    return changes, trace


def _with_adaptation(plan: Prescription, item: WeekInput, fired: list[Rule],
                     decision: Decision, rulebase: RuleBase, record: Mapping[str, Any],
                     counts: dict[str, dict[str, Any]]) -> Prescription:
    """The engine's plan with the week's decision, its reasons and its history."""
    prescription, features = item.prescription, item.features
    previous = prescription.get("adaptation") or EMPTY
    number = int(previous.get("week", 0)) + 1
    for rule in fired:  # the adaptation rules' referrals and notes (never a dose)
        if rule.effect.get("referral") and rule.effect["referral"] not in plan["referrals"]:
            plan["referrals"].append(rule.effect["referral"])
        if rule.effect.get("note") and rule.effect["note"] not in plan["notes"]:
            plan["notes"].append(rule.effect["note"])
    for name, count in counts.items():  # each value with its own date and source
        state = picture_place(name)[2]
        if state in plan["safety_inputs"]:
            plan["safety_inputs"][state].update(
                {"date": count["date"], "source": count.get("source", "")})
    changes, recheck_trace = _cap_changes(plan, prescription, rulebase, record, counts,
                                          number, item.data_through)
    entry: Adaptation = {
        "week": number,
        "decision": decision.decision,
        "current_week": decision.position.week,
        "resistance_week": decision.position.resistance_week,
        "previous_week": int(previous.get("current_week", 1)),
        "data_from": (issue_date(prescription) + dt.timedelta(days=1)).isoformat(),
        "data_through": item.data_through.isoformat(),
        "reasons": decision.reasons,
        "changes": list(decision.reasons) + changes,
        "held_status": decision.position.held_status,
        # Where the engine prescribed this week (a red flag's stop, an easy first day).
        "position": {"week": decision.position.week,
                     "resistance_week": decision.position.resistance_week,
                     "start": (decision.position.start or item.data_through).isoformat(),
                     "stop": decision.position.stop,
                     "easy_first_day": decision.position.easy_first_day},
        # The content this week was adapted from (the sign-off digest of the previous plan):
        # a change to any past week changes every later week, so their sign-offs lapse.
        # (its sign-off block holds it, written with it; computed for a plan without one)
        "based_on": (prescription.get("signoff") or EMPTY).get("digest")
        or prescription_digest(prescription),
        "features": {k: json_value(v) for k, v in sorted(features.items())},
        "safety_rules": sorted(t["rule_id"] for t in plan["trace"]
                               if t["kind"] == "safety" and t["applied"]),
        "counts": counts,
    }
    plan["adaptation"] = entry
    plan["adaptation_history"] = [*prescription.get("adaptation_history", []), {
        "week": entry["week"], "decision": entry["decision"],
        "current_week": entry["current_week"], "data_from": entry["data_from"],
        "data_through": entry["data_through"], "changes": entry["changes"]}]
    plan["trace"] = plan["trace"] + [{
        "rule_id": r.id, "kind": r.kind, "title": r.title, "grade": r.grade,
        "citation": r.citation, "rationale": r.rationale, "effect": json_copy(r.effect),
        "inputs": {f: json_value(features.get(f)) for f in r.features},
        "applied": True, "note": f"weekly adaptation {number}: {decision.decision}",
    } for r in fired] + recheck_trace
    return plan
