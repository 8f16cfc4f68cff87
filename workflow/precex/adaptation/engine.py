"""Adapt a prescription to the week that followed it.

The adaptation rules of the rule base (kind `adaptation`) are evaluated over the patient's
adaptation features; the most cautious decision wins (stop > step_back > hold > advance). The
plan moves along the prescription's own 12-week progression, whose every week already respects
the patient's caps; the caps are applied again at the end, so an adaptation can never raise a
dose above them. `stop` (a red flag) never progresses and returns status clearance_required.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from precex.adaptation.features import issue_date
from precex.json_data import json_copy
from precex.prescription.engine import Caps, enforce_caps, stricter
from precex.prescription.plan import (
    INTENSITY_TABLE,
    heart_rate_band,
    highest_intensity,
    resistance_targets,
    this_week,
    weekly_met_minutes,
    weekly_schedule,
)
from precex.prescription.rules import INTENSITIES, STATUSES, Rule, RuleBase, evaluate
from precex.prescription.signoff import prescription_digest
from precex.profile.host import json_value

if TYPE_CHECKING:  # only a type here: the re-check's blood units (pint) load where it runs
    from precex.adaptation.blood_recheck import Recheck

DECISIONS = ("advance", "hold", "step_back", "stop")  # ascending caution
_REBUILT = frozenset({"status", "max_intensity", "max_intensity_planned", "excluded",
                      "aerobic", "resistance",
                      "weekly_met_minutes", "schedule", "this_week", "referrals", "notes",
                      "adaptation", "adaptation_history", "trace"})
WEEKS = 12


def _decide(fired: list[Any], features: dict[str, Any]) -> tuple[str, list[str]]:
    decisions = [(r.effect["decision"], r) for r in fired if "decision" in r.effect]
    if not decisions:
        reason = ("no wearable data since the prescription" if not features.get("followup_days")
                  else "no adaptation rule applied")
        return "hold", [reason]
    decision = max((d for d, _ in decisions), key=DECISIONS.index)
    reasons = [f"{r.id}: {r.title}" for d, r in decisions if d == decision]
    if decision == "stop" and features.get("red_flags"):  # which symptom, which day
        reasons.insert(0, f"red flag: {features['red_flags']}")
    return decision, reasons


def _week_dose(prescription: dict[str, Any], week: int, resistance_week: int
               ) -> dict[str, Any]:
    plan = prescription.get("progression") or []
    dose: dict[str, Any] = {"aerobic": None, "resistance": None}
    if not plan:
        return dose
    aer = plan[week - 1].get("aerobic")
    if aer and prescription.get("aerobic"):
        dose["aerobic"] = {"sessions_per_week": aer["sessions_per_week"],
                           "minutes_per_session": aer["minutes_per_session"],
                           "intensity": aer["intensity"]}
        if aer.get("modes"):  # the modes that suit this week's intensity
            dose["aerobic"]["modes"] = list(aer["modes"])
    res = plan[resistance_week - 1].get("resistance")
    if res and prescription.get("resistance"):
        dose["resistance"] = {"sessions_per_week": res["sessions_per_week"], "sets": res["sets"],
                              "reps_min": res["reps"][0], "reps_max": res["reps"][1],
                              "intensity": res["intensity"]}
    return dose


def _component(original: dict[str, Any] | None, dose: dict[str, Any] | None, kind: str
               ) -> dict[str, Any] | None:
    """The original component with the week's dose and the targets of its intensity."""
    if original is None or dose is None:
        return None
    out = json_copy(original)
    out.update(dose)
    intensity = dose["intensity"]
    table = INTENSITY_TABLE[intensity]
    if kind == "aerobic":
        out["minutes_per_week"] = dose["sessions_per_week"] * dose["minutes_per_session"]
        out["rpe"] = list(table["rpe"])
        out["percent_hr_max"] = list(table["pct_hr_max"])
        # The same bands as the plan's: the reserve above rest when it was used, so no band
        # falls at or below rest; an RPE-guided plan keeps heart rate for information only.
        rest = out.get("resting_hr_bpm") if "heart_rate_reserve_bpm" in out else None
        band = heart_rate_band(out.get("hr_max_bpm"), rest, intensity)
        if out.get("hr_max_bpm") is not None:
            out["heart_rate_max_pct_bpm"] = heart_rate_band(out["hr_max_bpm"], None, intensity)
        for key in ("heart_rate_bpm", "heart_rate_info_bpm", "heart_rate_reserve_bpm"):
            if key in out and band is not None:
                out[key] = band
    else:
        out.update(resistance_targets([dose["reps_min"], dose["reps_max"]], intensity))
    return out


def days_to_infusion(prescription: dict[str, Any], start: dt.date) -> int | None:
    """Days from `start` to the next infusion, rolling the calendar on by the cycle length."""
    calendar = prescription.get("treatment_calendar") or {}
    if not calendar.get("next_infusion_date"):
        return None
    nxt = dt.date.fromisoformat(calendar["next_infusion_date"])
    cycle = calendar.get("cycle_length_days")
    while nxt < start and cycle:
        nxt += dt.timedelta(days=int(cycle))
    return (nxt - start).days if nxt >= start else None


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
    masks = [evaluate(rule.when, frame) for rule in rules]
    return {pid: [rule for rule, mask in zip(rules, masks, strict=True) if mask[i]]
            for i, pid in enumerate(ids)}


def adapt(prescription: dict[str, Any], features: dict[str, Any], rulebase: RuleBase,
          data_through: dt.date, fired: list[Rule] | None = None,
          recheck: Recheck | None = None) -> dict[str, Any]:
    """The adapted prescription (same schema) with what changed and why in its trace.
    `fired` is the patient's entry of fired_rules for the shard (computed here when absent).
    `recheck`: the week's blood-count re-check (precex.adaptation.blood_recheck), whose caps
    replace the prescription's; without one the caps carry over unchanged."""
    pid = prescription["patient_id"]
    if fired is None:
        fired = fired_rules(rulebase, {pid: features})[pid]
    decision, reasons = _decide(fired, features)
    previous = prescription.get("adaptation") or {}
    week = int(previous.get("current_week", 1))
    if recheck is not None and recheck.changed:
        caps = recheck.caps
    else:
        caps = Caps(status=prescription["status"], max_intensity=prescription["max_intensity"],
                    exclude=set(prescription["excluded"]),
                    supervision=prescription["supervision"], triage=prescription["triage"])
    no_plan = not prescription.get("progression")
    if recheck is not None and recheck.changed and no_plan and caps.status == "prescribed":
        # A recovered count cannot start a plan that was never built: re-prescribe.
        caps.status = "clearance_required"
        recheck.changes.append("the counts now allow exercise, but this prescription has no "
                               "plan: re-prescribe (precex run with the new counts in blood)")
    if caps.status == "deferred":
        decision, reasons = "hold", ["prescription is deferred: no sessions to adapt"]
    elif caps.status == "clearance_required" and decision == "advance":
        decision, reasons = "hold", ["awaiting medical clearance: the plan does not advance"]
    new_week = {"advance": min(WEEKS, week + 1), "hold": week,
                "step_back": max(1, week - 1), "stop": week}[decision]
    step_back = max((r.effect.get("resistance_step_back_weeks_per_missed_week", 0)
                     for r in fired), default=0)
    missed = int(features.get("weeks_missed") or 0)
    resistance_week = max(1, new_week - step_back * missed)

    held = str(previous.get("held_status", "prescribed"))
    for rule in fired:
        if "status" in rule.effect:
            caps.status = stricter(STATUSES, caps.status, rule.effect["status"])
            held = stricter(STATUSES, held, rule.effect["status"])
    dose = _week_dose(prescription, new_week, resistance_week)
    enforce_caps(dose, caps)
    aerobic = _component(prescription.get("aerobic"), dose["aerobic"], "aerobic")
    resistance = _component(prescription.get("resistance"), dose["resistance"], "resistance")

    start = data_through + dt.timedelta(days=1)
    extras = [k for k in ("balance", "flexibility") if prescription.get(k)]
    schedule = weekly_schedule({"days_to_next_infusion": days_to_infusion(prescription, start)},
                               aerobic, resistance, extras, start)
    if decision == "stop":  # a red flag: no session is scheduled until the team has cleared
        flag = features.get("red_flags") or "red-flag symptom"
        for day in schedule:
            day["sessions"] = []
            day["note"] = f"stopped ({flag}): no exercise until the treating team clears"
    swap = any(r.effect.get("swap_vigorous_today") for r in fired)
    if swap and schedule:
        today = schedule[0]
        for session in today["sessions"]:
            if session["type"] == "aerobic" and INTENSITIES.index(session["intensity"]) > \
                    INTENSITIES.index("moderate"):
                session["intensity"] = "moderate"
        today["note"] = "HRV below the 7-day band: no vigorous session today"

    # Keys rebuilt below are not copied (the trace alone is half the prescription).
    out = {k: v if k in _REBUILT else json_copy(v) for k, v in prescription.items()}
    out.update({
        "status": caps.status,
        "max_intensity": caps.max_intensity,
        "max_intensity_planned": highest_intensity(aerobic, resistance),
        "excluded": sorted(caps.exclude),
        "aerobic": aerobic,
        "resistance": resistance,
        "weekly_met_minutes": weekly_met_minutes(aerobic, resistance),
        "schedule": schedule,
        # The week the plan is now at; none while stopped for a red flag.
        "this_week": None if decision == "stop" else this_week(
            {"aerobic": aerobic, "resistance": resistance,
             "weekly_met_minutes": weekly_met_minutes(aerobic, resistance)}, new_week),
    })
    referrals = list(out.get("referrals", []))
    notes = list(out.get("notes", []))
    for rule in fired:
        if rule.effect.get("referral") and rule.effect["referral"] not in referrals:
            referrals.append(rule.effect["referral"])
        if rule.effect.get("note") and rule.effect["note"] not in notes:
            notes.append(rule.effect["note"])
    if recheck is not None:  # what a newly triggered count rule asks for
        for item in recheck.caps.referrals:
            if item not in referrals:
                referrals.append(item)
        for item in recheck.caps.notes:
            if item not in notes:
                notes.append(item)
        lifted = {t["rule_id"] for t in recheck.trace if not t["applied"]}
        obtain = [o for o in out.get("data_to_obtain") or [] if o.get("rule_id") not in lifted]
        known = {o["item"] for o in obtain}
        obtain += [o for o in recheck.caps.obtain if o["item"] not in known]
        out["data_to_obtain"] = obtain
        inputs = json_copy(out.get("safety_inputs") or {})
        for name, count in recheck.counts.items():
            inputs[name] = {"state": count["state"], "value": count.get("value"),
                            "date": count["date"], "source": count["source"]}
        out["safety_inputs"] = inputs
    out["referrals"], out["notes"] = referrals, notes
    out.pop("signoff", None)  # the week is signed on its own (precex signoff --week)
    number = int(previous.get("week", 0)) + 1
    changes = list(reasons) + (recheck.changes if recheck is not None else [])
    entry = {
        "week": number,
        "decision": decision,
        "current_week": new_week,
        "resistance_week": resistance_week,
        "previous_week": week,
        "data_from": (issue_date(prescription) + dt.timedelta(days=1)).isoformat(),
        "data_through": data_through.isoformat(),
        "reasons": reasons,
        "changes": changes,
        "held_status": held,
        # The content this week was adapted from (the sign-off digest of the previous plan):
        # a change to any past week changes every later week, so their sign-offs lapse.
        "based_on": prescription_digest(prescription),
        "features": {k: json_value(v) for k, v in sorted(features.items())},
    }
    if recheck is not None:
        entry["safety_rules"] = recheck.safety_rules
        entry["counts"] = recheck.counts
    elif "safety_rules" in previous:
        entry["safety_rules"] = previous["safety_rules"]
        entry["counts"] = previous.get("counts", {})
    out["adaptation"] = entry
    out["adaptation_history"] = list(prescription.get("adaptation_history", [])) + [
        {k: entry[k] for k in ("week", "decision", "current_week", "data_from", "data_through",
                               "changes")}]
    out["trace"] = list(prescription["trace"]) + [{
        "rule_id": r.id, "kind": r.kind, "title": r.title, "grade": r.grade,
        "citation": r.citation, "rationale": r.rationale, "effect": json_copy(r.effect),
        "inputs": {f: json_value(features.get(f)) for f in r.features},
        "applied": True, "note": f"weekly adaptation {number}: {decision}",
    } for r in fired] + (recheck.trace if recheck is not None else [])
    return out
