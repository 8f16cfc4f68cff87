"""FHIR R4 Bundle for a prescription: CarePlan, ServiceRequest and Goal resources.

Follows the HL7 Physical Activity Implementation Guide where it applies: the ServiceRequest is
coded SNOMED CT 229065009 (Exercise therapy), intent 'order', based on the CarePlan and
pertaining to the Goal. The Goal matches the prescribed intensity: weekly minutes of
moderate-to-vigorous activity (LOINC 82290-8) for a moderate or vigorous plan, light-activity
minutes (text only: LOINC has no light-activity code in the IG's value set) for a light plan,
and muscle-strengthening days (LOINC 82291-6) when resistance is prescribed. Statuses follow the
prescription's (prescribed -> active; clearance required -> draft; deferred -> on-hold); each
referral is a ServiceRequest (intent proposal) and the monitoring and data to obtain are
CarePlan activities. Validated with fhir.resources' R4B models (its default models are R5).
"""

from __future__ import annotations

from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
PA_CATEGORY = "http://hl7.org/fhir/us/physical-activity/CodeSystem/pa-temporary-codes"


def _status(p: dict[str, Any]) -> tuple[str, str]:
    """(CarePlan status, ServiceRequest status) for the prescription status."""
    return {"prescribed": ("active", "active"),
            "clearance_required": ("draft", "draft"),
            "deferred": ("on-hold", "on-hold")}[p["status"]]


def prescription_bundle(p: dict[str, Any]) -> dict[str, Any]:
    # An adapted prescription (precex adapt) gets resource ids of its own week.
    week = (p.get("adaptation") or {}).get("week")
    pid = p["patient_id"] + (f"-week-{week}" if week else "")
    subject = {"reference": f"Patient/{p['patient_id']}"}
    plan_status, request_status = _status(p)
    aer, res = p.get("aerobic"), p.get("resistance")
    minutes = aer["minutes_per_week"] if aer else 0
    lines = []
    if aer:
        lines.append(f"Aerobic {aer['sessions_per_week']}x/week, {aer['minutes_per_session']} "
                     f"min, {aer['intensity']}" + (f", HR {aer['heart_rate_bpm'][0]}-"
                                                   f"{aer['heart_rate_bpm'][1]} bpm"
                                                   if aer.get("heart_rate_bpm") else "")
                     + f", RPE {aer['rpe'][0]}-{aer['rpe'][1]}")
    if res:
        lines.append(f"Resistance {res['sessions_per_week']}x/week, {res['sets']} sets of "
                     f"{res['reps_min']}-{res['reps_max']} reps at {res['load_pct_1rm'][0]}-"
                     f"{res['load_pct_1rm'][1]}% 1RM")
    if not lines:
        lines.append("No exercise sessions: " + p["status"].replace("_", " "))
    targets = []
    if aer and aer["intensity"] in ("moderate", "vigorous"):
        targets.append({
            "measure": {"coding": [{"system": LOINC, "code": "82290-8",
                                    "display": "Frequency of moderate to vigorous aerobic "
                                               "physical activity"}]},
            "detailQuantity": {"value": minutes, "unit": "min/wk",
                               "system": "http://unitsofmeasure.org", "code": "min/wk"}})
    elif aer:
        targets.append({
            "measure": {"text": "Light-intensity aerobic physical activity (minutes per week)"},
            "detailQuantity": {"value": minutes, "unit": "min/wk",
                               "system": "http://unitsofmeasure.org", "code": "min/wk"}})
    if res:
        targets.append({
            "measure": {"coding": [{"system": LOINC, "code": "82291-6",
                                    "display": "Frequency of muscle-strengthening physical "
                                               "activity"}]},
            "detailQuantity": {"value": res["sessions_per_week"], "unit": "/wk",
                               "system": "http://unitsofmeasure.org", "code": "/wk"}})
    goal = {
        "resourceType": "Goal",
        "id": f"{pid}-goal",
        "lifecycleStatus": "active" if p["status"] == "prescribed" else (
            "on-hold" if p["status"] == "deferred" else "proposed"),
        "description": {"text": p.get("goal") or "Exercise per precex prescription"},
        "subject": subject,
        **({"target": targets} if targets else {}),
    }
    careplan = {
        "resourceType": "CarePlan",
        "id": f"{pid}-careplan",
        "status": plan_status,
        "intent": "plan",
        "title": "Precision exercise prescription",
        "description": "; ".join(lines),
        "subject": subject,
        "goal": [{"reference": f"Goal/{pid}-goal"}],
        "note": [{"text": n} for n in (p.get("notes") or [])] or None,
        "activity": [{"detail": {"status": "not-started", "description": text}}
                     for text in _activities(p)] or None,
    }
    request = {
        "resourceType": "ServiceRequest",
        "id": f"{pid}-exercise",
        "status": request_status,
        "intent": "order",
        "category": [{"coding": [{"system": PA_CATEGORY, "code": "PhysicalActivity",
                                  "display": "Physical Activity"}]}],
        "code": {"coding": [{"system": SNOMED, "code": "229065009",
                             "display": "Exercise therapy"}]},
        "subject": subject,
        "basedOn": [{"reference": f"CarePlan/{pid}-careplan"}],
        "patientInstruction": "; ".join(lines),
        "note": [{"text": f"Supervision: {p['supervision']}; triage: {p['triage']}; maximum "
                          f"intensity: {p['max_intensity']}; excluded: "
                          f"{', '.join(p['excluded']) or 'none'}"}],
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/resource-pertainsToGoal",
                       "valueReference": {"reference": f"Goal/{pid}-goal"}}],
    }
    careplan = {k: v for k, v in careplan.items() if v is not None}
    referrals = [{
        "resourceType": "ServiceRequest",
        "id": f"{pid}-referral-{i}",
        "status": request_status,
        "intent": "proposal",
        "code": {"text": "Referral"},
        "subject": subject,
        "basedOn": [{"reference": f"CarePlan/{pid}-careplan"}],
        "patientInstruction": text,
    } for i, text in enumerate(p.get("referrals") or [], start=1)]
    resources = [careplan, request, goal, *referrals]
    return {
        "resourceType": "Bundle",
        "id": f"{pid}-exercise-prescription",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:precex-{r['id']}", "resource": r} for r in resources],
    }


def _activities(p: dict[str, Any]) -> list[str]:
    """Data to obtain first, then monitoring: what the care team does around the sessions."""
    items = [f"Obtain: {d['item']} (capped meanwhile: {d['capped_meanwhile']})"
             for d in p.get("data_to_obtain") or []]
    return items + [f"Monitor: {m}" for m in p.get("monitoring") or []]


def validate_bundle(bundle: dict[str, Any]) -> None:
    """Raise pydantic.ValidationError if the bundle is not valid FHIR R4."""
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)
