"""Alternative plans for the responder model's "what if" predictions.

Every alternative is derived from the patient's own prescription and never exceeds it: the
prescription already respects every safety cap the patient's data triggered, and a plan with
no more weekly MET-minutes and no more resistance sessions (none when resistance is excluded)
at the same intensity cannot break one. A deferred patient gets no plans.
"""

from __future__ import annotations

from typing import Any

PLAN_LABELS = {
    "prescribed": "the prescribed plan (its 12-week target)",
    "week1": "the plan's first week, held",
    "half_dose": "half the prescribed aerobic volume",
    "aerobic_only": "the prescribed aerobic volume without resistance training",
}


def resistance_sessions(prescription: dict[str, Any]) -> float:
    if "resistance" in prescription.get("excluded", []):
        return 0.0
    res = prescription.get("resistance") or {}
    return float(res.get("sessions_per_week") or 0)


def alternative_plans(prescription: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """plan -> (weekly MET-minutes, resistance sessions per week); {} when deferred."""
    if prescription.get("status") == "deferred":
        return {}
    met = float(prescription.get("weekly_met_minutes") or 0)
    res = resistance_sessions(prescription)
    first = (prescription.get("progression") or [{}])[0]
    week1_met = min(float(first.get("weekly_met_minutes", met) or 0), met)
    plans = {"prescribed": (met, res), "week1": (week1_met, res),
             "half_dose": (met / 2, res), "aerobic_only": (met, 0.0)}
    # An alternative identical to the prescribed plan adds nothing, and a first week that is
    # exactly half the dose is the half dose (one plan, not two rows with the same numbers).
    out = {k: v for k, v in plans.items() if k == "prescribed" or v != plans["prescribed"]}
    if "week1" in out and out["week1"] == out.get("half_dose"):
        del out["week1"]
    return out
