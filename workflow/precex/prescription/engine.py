"""The prescription engine.

Order (DESIGN.md): safety screen -> base prescription (treatment phase and goals) ->
evidence-graded modifiers -> annotations -> caps applied last -> concrete plan.

- Safety rules always apply, whatever their grade; their caps combine by "most restrictive wins"
  (status, maximum intensity, exclusions, supervision, triage).
- The base rule with the highest priority among those that fire sets the starting dose.
- A modifier changes the dose only when its grade is at or above `evidence_floor`; an H
  (hypothesis-generating) modifier changes it only in research_mode and only when marked
  research_eligible. Otherwise it is recorded as an annotation that did not change the dose.
- Caps are applied after every modifier, so no modifier can raise a dose above a cap; when a
  cap lowers a component's intensity, its weekly volume is re-derived so it never falls below
  the base prescription's volume (at the capped intensity).
- High triage means clearance before starting: status is at least clearance_required; and
  conversely a plan that needs clearance or is deferred is at least moderate triage and
  supervised (the report never shows "clearance required" beside "low" and "unsupervised").
- Safety inputs that are missing, stale, rejected or conflicting are listed in the prescription
  (`safety_inputs`, `data_issues`) and every rule that capped because of them adds an "obtain
  X" item with what was capped meanwhile (`data_to_obtain`).
Conditions are evaluated for all patients at once; assembly per patient is plain Python.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pandas as pd

from precex.config import config_default
from precex.json_data import json_copy
from precex.paths import threshold
from precex.prescription.model import (
    EMPTY,
    DataToObtainItem,
    ExcludedItem,
    Intensity,
    IntensityGuidance,
    Prescription,
    Status,
    Supervision,
    Triage,
)
from precex.prescription.plan import PlanPosition, build_plan, highest_intensity
from precex.prescription.rules import (
    INTENSITIES,
    STATUSES,
    SUPERVISION,
    TRIAGE,
    Rule,
    RuleBase,
    evaluate_all,
    grade_allows,
)
from precex.prescription.schema import typed_prescription
from precex.profile.host import json_value
from precex.profile.safety_inputs import SAFETY_INPUTS, with_safety_inputs


@dataclass(frozen=True)
class EngineSettings:
    reference_date: dt.date
    # Unset: the config schema's defaults (the workflow always passes the batch's values).
    evidence_floor: str = field(default_factory=lambda: config_default("evidence_floor"))
    research_mode: bool = field(default_factory=lambda: config_default("research_mode"))
    # A trial arm (precex trial allocate): "standard" uses the ACSM base prescription without
    # precision base rules or modifiers; "precision" (or None, no trial) uses every rule.
    trial_arm: str | None = None

    @classmethod
    def of_prescription(cls, prescription: Prescription) -> EngineSettings:
        """The settings a prescription was written with (its `engine` block): its weekly
        plans are prescribed with the same ones."""
        engine = prescription["engine"]
        return cls(dt.date.fromisoformat(engine["reference_date"]), engine["evidence_floor"],
                   bool(engine["research_mode"]), engine.get("trial_arm"))


@dataclass
class Caps:
    status: Status = "prescribed"
    max_intensity: Intensity = "vigorous"
    exclude: set[ExcludedItem] = field(default_factory=set)
    supervision: Supervision = "unsupervised"
    triage: Triage = "low"
    referrals: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)
    monitoring: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    add_components: set[str] = field(default_factory=set)
    intensity_guidance: IntensityGuidance = "heart_rate"
    progression: str = "standard"
    obtain: list[DataToObtainItem] = field(default_factory=list)


# One of an ordered set of levels (a status, an intensity): `order.index` has checked that
# the other value is one of them, so it is of the same kind.
Level = TypeVar("Level", bound=str)


def stricter(order: tuple[str, ...], a: Level, b: Level | str) -> Level:
    return a if order.index(a) >= order.index(b) else cast(Level, b)


def _lower(order: tuple[str, ...], a: Level, b: Level | str) -> Level:
    return a if order.index(a) <= order.index(b) else cast(Level, b)


def _add_unique(items: list[str], value: str | None) -> None:
    if value and value not in items:
        items.append(value)


def _cap_summary(effect: dict[str, Any]) -> str:
    parts = []
    if effect.get("status") and effect["status"] != "prescribed":
        parts.append(effect["status"].replace("_", " "))
    if "max_intensity" in effect:
        parts.append(f"maximum intensity {effect['max_intensity']}")
    if effect.get("exclude"):
        parts.append("no " + ", ".join(e.replace("_", " ") for e in effect["exclude"]))
    return "; ".join(parts) or "monitoring only"


def apply_effect_caps(caps: Caps, effect: dict[str, Any], rule: Rule | None = None) -> None:
    """Fold one rule's restrictions into the caps; most restrictive wins."""
    for item in effect.get("obtain", []):
        caps.obtain.append({"item": item, "why": rule.title if rule else "",
                            "rule_id": rule.id if rule else "",
                            "capped_meanwhile": _cap_summary(effect)})
    if "status" in effect:
        caps.status = stricter(STATUSES, caps.status, effect["status"])
    if "max_intensity" in effect:
        caps.max_intensity = _lower(INTENSITIES, caps.max_intensity, effect["max_intensity"])
    caps.exclude |= set(effect.get("exclude", []))
    _merge_non_dose(caps, effect)


def _merge_non_dose(caps: Caps, effect: dict[str, Any]) -> None:
    if "supervision" in effect:
        caps.supervision = stricter(SUPERVISION, caps.supervision, effect["supervision"])
    if "triage" in effect:
        caps.triage = stricter(TRIAGE, caps.triage, effect["triage"])
    _add_unique(caps.referrals, effect.get("referral"))
    _add_unique(caps.settings, effect.get("setting"))
    _add_unique(caps.notes, effect.get("note"))
    for item in effect.get("monitoring", []):
        _add_unique(caps.monitoring, item)
    caps.add_components |= set(effect.get("add_components", []))
    if effect.get("intensity_guidance") == "rpe":
        caps.intensity_guidance = "rpe"
    if effect.get("progression") == "slow":
        caps.progression = "slow"


def _dose_change(dose: dict[str, Any], effect: dict[str, Any]) -> dict[str, Any]:
    changed = {}
    for component in ("aerobic", "resistance"):
        for key, value in effect.get(component, {}).items():
            if dose.get(component) is not None:
                dose[component][key] = value
                changed[f"{component}.{key}"] = value
    return changed


def enforce_caps(dose: dict[str, Any], caps: Caps,
                 base: dict[str, Any] | None = None) -> None:
    """Clamp the dose to the caps in place; the last step, so caps win every conflict.

    A component whose intensity a cap lowers keeps at least the base prescription's weekly
    minutes (and sessions): a modifier's shorter vigorous sessions must not leave less volume
    than the base once they are capped to moderate.
    """
    if caps.triage == "high":  # high triage: medical evaluation and clearance before starting
        caps.status = stricter(STATUSES, caps.status, "clearance_required")
    if caps.status != "prescribed":  # coherent: needing clearance is never low-risk, unsupervised
        caps.triage = stricter(TRIAGE, caps.triage, "moderate")
        caps.supervision = stricter(SUPERVISION, caps.supervision, "supervised")
    if "vigorous" in caps.exclude:
        caps.max_intensity = _lower(INTENSITIES, caps.max_intensity, "moderate")
    if caps.max_intensity != "vigorous":
        caps.exclude.add("vigorous")
    if caps.status == "deferred" or caps.max_intensity == "none":
        caps.max_intensity = "none"
        dose["aerobic"] = None
        dose["resistance"] = None
        caps.add_components = set()
        return
    if "resistance" in caps.exclude:
        dose["resistance"] = None
    for component in ("aerobic", "resistance"):
        part = dose.get(component)
        if part is None:
            continue
        before = part["intensity"]
        part["intensity"] = _lower(INTENSITIES, part["intensity"], caps.max_intensity)
        if component == "resistance" and "isometric_heavy" in caps.exclude:
            part["intensity"] = _lower(INTENSITIES, part["intensity"], "moderate")
        floor = (base or {}).get(component)
        if component == "aerobic" and part["intensity"] != before and floor:
            weekly = part["sessions_per_week"] * part["minutes_per_session"]
            if weekly < floor["sessions_per_week"] * floor["minutes_per_session"]:
                part["sessions_per_week"] = floor["sessions_per_week"]
                part["minutes_per_session"] = floor["minutes_per_session"]
        if part.get("sessions_per_week", 0) == 0:
            dose[component] = None


GUIDELINE_NOTE = "NOTE_BELOW_ACTIVITY_GUIDELINE"
HABITUAL = "keep_habitual_activity"  # the effect of the rule base's plan rule that keeps it


def keep_habitual_activity(dose: dict[str, Any], row: Mapping[str, Any], fired: list[Rule],
                           settings: EngineSettings) -> dict[str, Any] | None:
    """A patient already doing more moderate-to-vigorous activity than the aerobic target is
    not told to do less without a safety reason. The rule base's PLAN_HABITUAL_ACTIVITY rule
    (its `keep_habitual_activity` effect: the cap, how a vigorous minute counts, the session
    limits) says how; for a moderate or vigorous aerobic target and no safety rule limiting
    the dose (status, intensity, exclusions or progression), the weekly aerobic minutes rise
    to the habitual level and start there. Returns the trace entry, or None when it does not
    apply (the rule did not fire, is below the evidence floor, or the dose is not below the
    habit)."""
    rule = next((r for r in fired if r.kind == "modifier" and HABITUAL in r.effect), None)
    aerobic = dose.get("aerobic")
    habitual = json_value(row.get("mvpa_min_per_week"))
    if rule is None or not grade_allows(rule.grade, settings.evidence_floor):
        return None
    keep = rule.effect[HABITUAL]
    # Moderate and vigorous plans (a light plan has its reasons); a vigorous minute counts as
    # more than one moderate (PAG 2018: 75 vigorous minutes are equivalent to 150 moderate),
    # so a triathlete's 385 minutes are not cut to 75 minutes of vigorous work.
    if not aerobic or not isinstance(habitual, int | float) or aerobic["intensity"] not in (
            "moderate", "vigorous"):
        return None
    per_minute = keep["vigorous_minute_counts"] if aerobic["intensity"] == "vigorous" else 1
    weekly = aerobic["sessions_per_week"] * aerobic["minutes_per_session"] * per_minute
    limiting = [r.id for r in fired if r.kind == "safety" and (
        r.effect.get("status", "prescribed") != "prescribed" or "max_intensity" in r.effect
        or r.effect.get("exclude") or r.effect.get("progression") == "slow")]
    if habitual <= weekly or limiting:
        return None
    # Minutes at the plan's intensity, in whole 5-minute steps, spread over sessions of at
    # most max_minutes_per_session.
    longest = keep["max_minutes_per_session"]
    target = 5 * int(min(habitual, keep["max_min_per_week"]) // 5) // per_minute
    sessions = max(aerobic["sessions_per_week"], -(-target // longest))
    aerobic["sessions_per_week"] = min(keep["max_sessions_per_week"], sessions)
    aerobic["minutes_per_session"] = min(longest, 5 * round(
        target / aerobic["sessions_per_week"] / 5))
    changed = {"aerobic.sessions_per_week": aerobic["sessions_per_week"],
               "aerobic.minutes_per_session": aerobic["minutes_per_session"]}
    return _trace_entry(rule, row, True,
                        f"habitual {habitual:.0f} min/week is above the target of {weekly} "
                        "min/week " + ("(moderate-equivalent: a vigorous minute counts as "
                                       f"{_counts_as(per_minute)}) " if per_minute > 1 else "")
                        + "and no safety rule limits the dose: aerobic volume kept, from week 1",
                        changed)


def _counts_as(minutes: int) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(minutes, str(minutes))


def _drop_guideline_note_below_target(plan: dict[str, Any], annotations: list[dict[str, Any]],
                                      trace: list[dict[str, Any]]) -> None:
    """'Below 150 min/week' is not said to a patient whose own target is below 150."""
    aerobic = plan.get("aerobic") or EMPTY
    if aerobic.get("minutes_per_week", 0) >= threshold("guideline_mvpa_min_per_week"):
        return
    annotations[:] = [a for a in annotations if a["rule_id"] != GUIDELINE_NOTE]
    for entry in trace:
        if entry["rule_id"] == GUIDELINE_NOTE:
            entry["applied"] = False
            entry["note"] = ("not shown: this plan's aerobic target is below 150 min/week, so "
                             "the guideline is not the patient's target yet")


def _trace_entry(rule: Rule, row: Mapping[str, Any], applied: bool, note: str,
                 changed: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "rule_id": rule.id,
        "kind": rule.kind,
        "title": rule.title,
        "grade": rule.grade,
        "citation": rule.citation,
        "rationale": rule.rationale,
        "effect": json_copy(rule.effect) if changed is None else changed,
        "inputs": {f: json_value(row.get(f)) for f in rule.features},
        "applied": applied,
        "note": note,
    }


def treatment_calendar(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """Infusion dates as given and rolled forward over the 12 weeks (weekly adaptation too)."""
    nxt = row.get("next_infusion_date")
    if not isinstance(nxt, str) or not nxt:
        return None
    cycle = json_value(row.get("cycle_length_days"))
    projected = row.get("infusion_dates_12w")
    dates = projected.split(";") if isinstance(projected, str) and projected else []
    return {"next_infusion_date": nxt,
            "cycle_length_days": int(cycle) if isinstance(cycle, int | float) else None,
            "next_infusion_rolled_forward": dates[0] if dates else None,
            "infusions_in_plan": dates,
            "schedule_unknown": bool(json_value(row.get("infusion_schedule_unknown")))}


def safety_input_summary(row: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each safety input's state, with the value and source the rules read."""
    values = {"platelets": "platelets_10e9_l", "hemoglobin": "hemoglobin_g_dl",
              "neutrophils": "neutrophils_10e9_l", "wbc": "wbc_10e9_l",
              "fever": "fever_effective", "lvef": "lvef_pct", "blood_pressure": "systolic_bp",
              "resting_hr": "resting_hr_bpm", "bone": "bone_status"}
    out = {}
    for name in SAFETY_INPUTS:
        entry: dict[str, Any] = {"state": str(row.get(f"{name}_state") or "missing"),
                                 "value": json_value(row.get(values[name]))}
        if name == "blood_pressure" and entry["value"] is not None:
            dia = json_value(row.get("diastolic_bp"))
            entry["value"] = f"{entry['value']:g}/{dia:g}" if dia is not None else entry["value"]
        date = json_value(row.get(f"{name}_date"))
        if date:
            entry["date"] = date
        if name == "resting_hr" and row.get("resting_hr_source"):
            entry["source"] = str(row.get("resting_hr_source"))
        out[name] = entry
    return out


# Derived by with_safety_inputs from the rest of the row: not part of the stored picture, so
# a weekly plan derives them again from the week's values.
_RECOMPUTED = frozenset({"safety_data_gaps"})


def picture_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's inputs as the prescription records them: every known value of the row
    (JSON values, sorted), from which a weekly plan is prescribed again with newer values."""
    out = {}
    for key, value in row.items():
        kind = type(value)
        if kind is float:  # most values: checked here, not through json_value (10,000s a shard)
            if value != value or value in (math.inf, -math.inf):
                continue
            value = round(value, 6)
        elif kind is not str and kind is not bool and kind is not int:
            value = json_value(value)
        if value is None or value == "" or key in _RECOMPUTED:
            continue
        out[str(key)] = value
    return out


def prescribe_one(pid: str, row: Mapping[str, Any], fired: list[Rule],
                  settings: EngineSettings, position: PlanPosition | None = None
                  ) -> Prescription:
    """One patient's prescription from their features (a dict or pandas row) and fired rules,
    at `position` in the progression (week 1 from the reference date when not given: the
    baseline; a weekly plan passes the week its adaptation decided)."""
    position = position or PlanPosition()
    caps = Caps()
    trace: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for rule in (r for r in fired if r.kind == "safety"):
        apply_effect_caps(caps, rule.effect, rule)
        trace.append(_trace_entry(rule, row, True, "safety rule: always applied"))

    standard_arm = settings.trial_arm == "standard"
    bases = sorted((r for r in fired if r.kind == "base"), key=lambda r: -r.priority)
    if standard_arm:
        for rule in (r for r in bases if r.precision):
            trace.append(_trace_entry(rule, row, False, "trial arm 'standard': precision base "
                                      "rules are not used"))
        bases = [r for r in bases if not r.precision]
    base = bases[0]
    dose = {"aerobic": json_copy(base.effect.get("aerobic")),
            "resistance": json_copy(base.effect.get("resistance"))}
    base_dose = json_copy(dose)
    goal = base.effect.get("goal", "")
    _merge_non_dose(caps, {k: v for k, v in base.effect.items() if k == "note"})
    for rule in bases:  # every fired base's guidance: RPE in chemotherapy, slow progression
        _merge_non_dose(caps, {k: v for k, v in rule.effect.items()
                               if k in ("intensity_guidance", "progression")})
    trace.append(_trace_entry(base, row, True, f"base prescription (priority {base.priority})"))
    for other in bases[1:]:
        trace.append(_trace_entry(other, row, False,
                                  f"base rule fired but {base.id} has higher priority"))

    for rule in (r for r in fired if r.kind == "modifier" and HABITUAL not in r.effect):
        if standard_arm:
            trace.append(_trace_entry(rule, row, False, "trial arm 'standard': no precision "
                                      "modifiers"))
            continue
        if rule.grade == "H":
            allowed = settings.research_mode and rule.research_eligible
            why = ("research_mode: hypothesis-generating rule applied" if allowed else
                   "hypothesis-generating: annotation only (research_mode off or not eligible)")
        else:
            allowed = grade_allows(rule.grade, settings.evidence_floor)
            why = (f"grade {rule.grade} meets evidence_floor {settings.evidence_floor}"
                   if allowed else
                   f"grade {rule.grade} below evidence_floor {settings.evidence_floor}: "
                   "annotation only")
        if allowed:
            changed = _dose_change(dose, rule.effect)
            _merge_non_dose(caps, rule.effect)
            trace.append(_trace_entry(rule, row, True, why, changed or None))
        else:
            trace.append(_trace_entry(rule, row, False, why))
            annotations.append({"rule_id": rule.id, "grade": rule.grade, "title": rule.title,
                                "text": f"{rule.rationale} (not applied: {why})",
                                "citation": rule.citation, "changes_dose": False})

    for rule in (r for r in fired if r.kind == "annotation"):
        trace.append(_trace_entry(rule, row, True, "annotation: never changes the dose"))
        annotations.append({"rule_id": rule.id, "grade": rule.grade, "title": rule.title,
                            "text": rule.effect.get("note", rule.rationale),
                            "citation": rule.citation, "changes_dose": False})
        for item in rule.effect.get("monitoring", []):
            _add_unique(caps.monitoring, item)

    # A weekly decision's status (a red flag holds the plan until cleared) is a cap like any
    # other, so triage and supervision follow it in enforce_caps.
    caps.status = stricter(STATUSES, caps.status, position.held_status)
    enforce_caps(dose, caps, base_dose)
    # The standard arm of a trial is the ACSM base dose alone: no modifier, this one included.
    habitual = None if standard_arm else keep_habitual_activity(dose, row, fired, settings)
    if habitual is not None:
        trace.append(habitual)
    plan = build_plan(row, dose, caps, settings.reference_date,
                      aerobic_ramp=habitual is None, position=position)
    _drop_guideline_note_below_target(plan, annotations, trace)
    issues = row.get("data_issues")
    return typed_prescription({
        "patient_id": pid,
        "status": caps.status,
        "triage": caps.triage,
        "supervision": caps.supervision,
        "max_intensity": caps.max_intensity,
        # What the capped plan asks for at most (its week-12 target), never above the cap;
        # the report shows this, and this_week.max_intensity, not the cap alone.
        "max_intensity_planned": highest_intensity(plan["aerobic"], plan["resistance"]),
        "excluded": sorted(caps.exclude),
        "goal": goal,
        "intensity_guidance": caps.intensity_guidance,
        "setting": caps.settings,
        "referrals": caps.referrals,
        "notes": caps.notes,
        **plan,
        "annotations": annotations,
        "data_to_obtain": caps.obtain,
        "safety_inputs": safety_input_summary(row),
        "data_issues": [t for t in issues.split(" | ") if t] if isinstance(issues, str) else [],
        "treatment_calendar": treatment_calendar(row),
        "trace": trace,
        "engine": {"evidence_floor": settings.evidence_floor,
                   "research_mode": settings.research_mode,
                   "reference_date": settings.reference_date.isoformat(),
                   **({"trial_arm": settings.trial_arm} if settings.trial_arm else {})},
        "picture": picture_of(row),
    })


def prescribe(features: pd.DataFrame, rulebase: RuleBase, settings: EngineSettings
              ) -> list[Prescription]:
    """Prescriptions for every row of `features` (indexed by patient_id), in index order."""
    features = rulebase.derive(with_safety_inputs(features))
    rule_list = rulebase.prescription_rules()
    fired = evaluate_all([r.when for r in rule_list], features)
    out = []
    for i, (pid, row) in enumerate(zip(features.index, features.to_dict("records"),
                                       strict=True)):
        rules = [r for r, hit in zip(rule_list, fired[i], strict=True) if hit]
        out.append(prescribe_one(str(pid), row, rules, settings))
    return out


SUMMARY_COLUMNS = [
    "patient_id", "status", "triage", "supervision", "max_intensity", "max_intensity_planned",
    "max_intensity_now", "excluded",
    "aerobic_sessions_per_week", "aerobic_minutes_per_session", "aerobic_intensity",
    "resistance_sessions_per_week", "resistance_sets", "resistance_intensity",
    "weekly_met_minutes", "safety_rules_fired", "rules_applied", "data_to_obtain",
    "data_issues", "signoff",
]


def summary_row(p: Prescription) -> dict[str, Any]:
    aer, res = p.get("aerobic") or EMPTY, p.get("resistance") or EMPTY
    return {
        "patient_id": p["patient_id"],
        "status": p["status"],
        "triage": p["triage"],
        "supervision": p["supervision"],
        "max_intensity": p["max_intensity"],
        "max_intensity_planned": p.get("max_intensity_planned", p["max_intensity"]),
        "max_intensity_now": (p.get("this_week") or EMPTY).get("max_intensity", "none"),
        "excluded": ";".join(p["excluded"]),
        "aerobic_sessions_per_week": aer.get("sessions_per_week", 0),
        "aerobic_minutes_per_session": aer.get("minutes_per_session", 0),
        "aerobic_intensity": aer.get("intensity", "none"),
        "resistance_sessions_per_week": res.get("sessions_per_week", 0),
        "resistance_sets": res.get("sets", 0),
        "resistance_intensity": res.get("intensity", "none"),
        "weekly_met_minutes": p["weekly_met_minutes"],
        "safety_rules_fired": ";".join(t["rule_id"] for t in p["trace"]
                                       if t["kind"] == "safety"),
        "rules_applied": ";".join(t["rule_id"] for t in p["trace"] if t["applied"]),
        "data_to_obtain": len(p.get("data_to_obtain") or []),
        "data_issues": len(p.get("data_issues") or []),
        "signoff": (p.get("signoff") or EMPTY).get("state", "draft"),
    }
