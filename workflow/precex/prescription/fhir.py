"""FHIR R4 Bundle for a prescription: CarePlan, ServiceRequest, Goal and referral resources.

Follows the HL7 Physical Activity Implementation Guide (STU1) where it applies:

- the exercise ServiceRequest claims the PA ServiceRequest profile: coded SNOMED CT 229065009
  (Exercise therapy), category PhysicalActivity, intent 'order', a reasonCode (the profile's
  invariant pa-sr-1), authoredOn (the reference date), occurrencePeriod (the 12 weeks), based on
  the CarePlan and pertaining to the Goal;
- the Goal claims the PA Goal profile (category PhysicalActivity) and matches the prescribed
  intensity: weekly minutes of moderate-to-vigorous activity (LOINC 82290-8) for a moderate or
  vigorous plan, light-activity minutes (text only: the IG's value set has no light-activity
  code) for a light plan, and muscle-strengthening days (LOINC 82291-6) when resistance is
  prescribed, each due at week 12;
- statuses follow the prescription's and its clinician sign-off (precex.prescription.signoff):
  prescribed -> draft until a clinician approves exactly this content, then active with the
  signer as CarePlan author; rejected -> revoked; clearance required -> draft; deferred ->
  on-hold; a clearance requirement is a ServiceRequest of its own with the safety
  rules that asked for it as its reason; each referral is a ServiceRequest (intent proposal);
  data to obtain and monitoring are CarePlan activities.

Every entry's fullUrl is a deterministic urn:uuid (uuid5 of the patient and resource), and
references inside the bundle use those fullUrls. Validated with fhir.resources' R4B models (its
default models are R5).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from precex.io.dates import patient_dates
from precex.prescription.fhir_check import BundleCheck
from precex.prescription.model import EMPTY, Prescription
from precex.prescription.signoff import SIGNED_STATES, effective_signoff

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PA_CODES = "http://hl7.org/fhir/us/physical-activity/CodeSystem/pa-temporary-codes"
PA_CATEGORY = PA_CODES  # kept for callers of the earlier name
PA_PROFILE = "http://hl7.org/fhir/us/physical-activity/StructureDefinition/"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://precex.invalid/fhir")
PLAN_WEEKS = 12
PA_CATEGORY_CONCEPT = {"coding": [{"system": PA_CODES, "code": "PhysicalActivity",
                                   "display": "Physical Activity"}]}
REASON = {"coding": [{"system": SNOMED, "code": "254837009",
                      "display": "Malignant neoplasm of breast"}],
          "text": "Exercise during and after breast cancer treatment (precex prescription)"}


def _status(p: Prescription, signoff: Mapping[str, Any]) -> tuple[str, str]:
    """(CarePlan status, ServiceRequest status): a prescribed plan is active only once a
    clinician approved exactly this content; a rejected one is revoked."""
    if signoff["state"] == "rejected":
        return "revoked", "revoked"
    if (p.get("adaptation") or EMPTY).get("decision") == "stop":  # a red flag holds the order
        return "on-hold", "on-hold"
    if p["status"] == "prescribed":
        return ("active", "active") if signoff["state"] in SIGNED_STATES else ("draft", "draft")
    return {"clearance_required": ("draft", "draft"),
            "deferred": ("on-hold", "on-hold")}[p["status"]]


def _signer(signoff: Mapping[str, Any]) -> dict[str, Any] | None:
    """The clinician who approved (or amended) this content, as the CarePlan's author."""
    if signoff["state"] not in SIGNED_STATES:
        return None
    return {"identifier": {"value": signoff["by"]}, "display": signoff["by"]}


def _signoff_notes(signoff: Mapping[str, Any]) -> list[str]:
    state = signoff["state"]
    if state == "draft":
        return ["Draft: not yet reviewed and signed by a clinician."]
    said = f"{signoff['decision']} by {signoff['by']} at {signoff['at']}" + (
        f": {signoff['note']}" if signoff.get("note") else "")
    if state == "changed_since_signoff":
        return [f"Changed since sign-off ({said}); to be reviewed again."]
    return [f"Sign-off: {said}."]


FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def fhir_id(text: str) -> str:
    """`text` as a FHIR id (letters, digits, '-' and '.', at most 64): unchanged when it is
    one; otherwise every other character becomes '-', and 8 hex digits of the text's SHA-256
    keep different texts apart (patient IDs such as 'BC_0001' are common, and a bundle naming
    'BC_0001-careplan' would be invalid FHIR)."""
    if FHIR_ID.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9\-.]", "-", text)[:55] + "-" + digest


def full_url(patient_id: str, resource_id: str) -> str:
    """A deterministic urn:uuid for one resource of one patient's bundle."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{patient_id}/{resource_id}')}"


def _lines(p: Prescription) -> list[str]:
    aer, res = p.get("aerobic"), p.get("resistance")
    lines = []
    if aer:
        hr = aer.get("heart_rate_bpm")
        lines.append(f"Aerobic {aer['sessions_per_week']}x/week, {aer['minutes_per_session']} "
                     f"min, {aer['intensity']}" + (f", HR {hr[0]}-{hr[1]} bpm" if hr else "")
                     + f", RPE {aer['rpe'][0]}-{aer['rpe'][1]}")
    if res:
        lines.append(f"Resistance {res['sessions_per_week']}x/week, {res['sets']} "
                     f"set{'s' if res['sets'] != 1 else ''} of "
                     f"{res['reps_min']}-{res['reps_max']} reps at {res['load_pct_1rm'][0]}-"
                     f"{res['load_pct_1rm'][1]}% 1RM")
    if not lines:
        lines.append("No exercise sessions: " + p["status"].replace("_", " "))
    stop = p.get("adaptation") or EMPTY
    if stop.get("decision") == "stop":
        flag = patient_dates((stop.get("features") or EMPTY).get("red_flags")
                             or "a red-flag symptom")
        lines = [f"STOP - do not exercise: {flag}. Call the oncology team today; no session "
                 "until the treating team has cleared the patient"]
    return lines


def _targets(p: Prescription, due: str) -> list[dict[str, Any]]:
    aer, res = p.get("aerobic"), p.get("resistance")
    targets = []
    minutes = {"value": aer["minutes_per_week"] if aer else 0, "unit": "min/wk",
               "system": UCUM, "code": "min/wk"}
    if aer and aer["intensity"] in ("moderate", "vigorous"):
        targets.append({"measure": {"coding": [{
            "system": LOINC, "code": "82290-8",
            "display": "Frequency of moderate to vigorous aerobic physical activity"}]},
            "detailQuantity": minutes, "dueDate": due})
    elif aer:
        targets.append({"measure": {"text": "Light-intensity aerobic physical activity "
                                            "(minutes per week)"},
                        "detailQuantity": minutes, "dueDate": due})
    if res:
        targets.append({"measure": {"coding": [{
            "system": LOINC, "code": "82291-6",
            "display": "Frequency of muscle-strengthening physical activity"}]},
            "detailQuantity": {"value": res["sessions_per_week"], "unit": "days/week",
                               "system": UCUM, "code": "d/wk"}, "dueDate": due})
    return targets


def _clearance_reasons(p: Prescription) -> list[str]:
    return [t["title"] for t in p.get("trace", []) if t.get("kind") == "safety"
            and t.get("applied") and (t.get("effect") or EMPTY).get("status")
            in ("clearance_required", "deferred")]


@dataclass(frozen=True)
class FhirOptions:
    """How bundles are addressed (config): the requester of an unsigned order (an
    organisation's name; a signed order's requester is its signer), the bundle type
    (`collection`, or `transaction` with conditional, identifier-based references and
    PUTs), and the identifier system of patient IDs for those references."""

    requester: str = ""
    bundle_type: str = "collection"
    identifier_system: str = "urn:precex:patient-id"

    @classmethod
    def from_params(cls, params: Any) -> FhirOptions:
        """From a stage's params (config fhir_requester, fhir_bundle_type,
        fhir_identifier_system)."""
        return cls(params.fhir_requester, params.fhir_bundle_type,
                   params.fhir_identifier_system)


UNSIGNED_REQUESTER = "Care team (unsigned draft: the signing clinician becomes the requester)"
US_CORE_ASSESS_PLAN = {"coding": [{
    "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
    "code": "assess-plan", "display": "Assessment and Plan of Treatment"}]}
REFERRAL_PA = {"system": SNOMED, "code": "390893007",
               "display": "Referral to physical activity program"}
REFERRAL_OTHER = {"system": SNOMED, "code": "3457005", "display": "Patient referral"}
PRECEX_IDS = "urn:precex:resource-id"


def _week_lines(p: Prescription) -> list[str]:
    """This week's dose in words (the patient's instruction), with what must come first."""
    if (p.get("adaptation") or EMPTY).get("decision") == "stop":
        return _lines(p)
    if p["status"] == "deferred":
        return ["Do not exercise for now: exercise is deferred until the care team has "
                "reviewed the plan"]
    week = p.get("this_week") or EMPTY
    aer, res = week.get("aerobic"), week.get("resistance")
    lines = []
    if aer:
        hr = aer.get("heart_rate_bpm")
        lines.append(f"This week (week {week.get('week', 1)} of 12): aerobic "
                     f"{aer['sessions_per_week']}x/week, {aer['minutes_per_session']} min, "
                     f"{aer['intensity']}" + (f", HR {hr[0]}-{hr[1]} bpm" if hr else "")
                     + f" ({', '.join(aer.get('modes') or [])})")
    if res:
        reps = res["reps"]
        lines.append(f"resistance {res['sessions_per_week']}x/week, {res['sets']} "
                     f"set{'s' if res['sets'] != 1 else ''} of {reps[0]}-{reps[1]} reps at "
                     f"{res['load_pct_1rm'][0]}-{res['load_pct_1rm'][1]}% 1RM")
    if not lines:
        lines.append("No exercise sessions this week")
    if p["status"] == "clearance_required":
        lines.insert(0, "Do not start until cleared by the care team")
    return lines


def _narrative(lines: list[str]) -> dict[str, str]:
    """The resource's human-readable text (escaped XHTML), as US Core CarePlan requires."""
    import html

    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return {"status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><ul>{items}</ul></div>'}


def _timing(p: Prescription, period: dict[str, str]) -> dict[str, Any]:
    """The order's frequency: the days with sessions in a week of the plan, over 12 weeks."""
    days = sum(1 for d in p.get("schedule") or [] if d.get("sessions"))
    if not days:
        aer, res = p.get("aerobic") or EMPTY, p.get("resistance") or EMPTY
        days = min(7, max(1, aer.get("sessions_per_week", 0) + res.get("sessions_per_week",
                                                                        0)))
    return {"repeat": {"boundsPeriod": period, "frequency": days, "period": 1,
                       "periodUnit": "wk"}}


def prescription_bundle(p: Prescription, options: FhirOptions = FhirOptions()
                        ) -> dict[str, Any]:
    # An adapted prescription (precex adapt) gets resource ids of its own week.
    week = (p.get("adaptation") or EMPTY).get("week")
    patient = p["patient_id"]
    pid = patient + (f"-week-{week}" if week else "")
    transaction = options.bundle_type == "transaction"
    subject = ({"reference": f"Patient?identifier={options.identifier_system}|{patient}"}
               if transaction else {"reference": f"Patient/{fhir_id(patient)}"})
    signoff = effective_signoff(p)
    signed = signoff["state"] in SIGNED_STATES
    plan_status, request_status = _status(p, signoff)
    start = dt.date.fromisoformat(p["engine"]["reference_date"])
    due = (start + dt.timedelta(weeks=PLAN_WEEKS)).isoformat()
    period = {"start": start.isoformat(), "end": due}
    ids = {k: fhir_id(f"{pid}-{k}") for k in ("careplan", "goal", "exercise")}
    ref = {k: {"reference": full_url(patient, v)} for k, v in ids.items()}
    lines = _lines(p)
    instruction = _week_lines(p)
    requester = _signer(signoff) or {"display": options.requester or UNSIGNED_REQUESTER}
    goal = {
        "resourceType": "Goal",
        "id": ids["goal"],
        "meta": {"profile": [PA_PROFILE + "pa-goal"]},
        "lifecycleStatus": {"active": "active", "on-hold": "on-hold", "revoked": "cancelled"}
        .get(plan_status, "proposed"),
        "category": [PA_CATEGORY_CONCEPT],
        "description": {"text": p.get("goal") or "Exercise per precex prescription"},
        "subject": subject,
        "startDate": start.isoformat(),
        **({"target": t} if (t := _targets(p, due)) else {}),
    }
    careplan = {
        "resourceType": "CarePlan",
        "id": ids["careplan"],
        "meta": {"profile": [PA_PROFILE + "pa-careplan"]},
        "text": _narrative(["Precision exercise prescription (12 weeks): " + "; ".join(lines),
                            *instruction]),
        "status": plan_status,
        "intent": "plan",
        "category": [US_CORE_ASSESS_PLAN, PA_CATEGORY_CONCEPT],
        "title": "Precision exercise prescription",
        "description": "; ".join(lines),
        "subject": subject,
        "period": period,
        "created": start.isoformat(),
        "goal": [ref["goal"]],
        "author": _signer(signoff),
        "note": [{"text": n} for n in (p.get("notes") or []) + _signoff_notes(signoff)]
        or None,
        # the exercise order first (by reference), then what the care team does around it
        "activity": [{"reference": ref["exercise"]}]
        + [{"detail": {"status": "not-started", "description": text}}
           for text in _activities(p)],
    }
    request = {
        "resourceType": "ServiceRequest",
        "id": ids["exercise"],
        "meta": {"profile": [PA_PROFILE + "pa-servicerequest"]},
        "status": request_status,
        "intent": "order",
        "category": [PA_CATEGORY_CONCEPT],
        "code": {"coding": [{"system": SNOMED, "code": "229065009",
                             "display": "Exercise therapy"}]},
        "subject": subject,
        "occurrenceTiming": _timing(p, period),
        "authoredOn": start.isoformat(),
        "requester": requester,
        "performer": [subject],  # the patient does the exercise
        "reasonCode": [REASON],
        "basedOn": [ref["careplan"]],
        "patientInstruction": "; ".join(instruction),
        "note": [{"text": f"Supervision: {p['supervision']}; triage: {p['triage']}; maximum "
                          f"intensity: {p['max_intensity']}; excluded: "
                          f"{', '.join(p['excluded']) or 'none'}. 12-week target: "
                          + "; ".join(lines)}],
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/resource-pertainsToGoal",
                       "valueReference": ref["goal"]}],
    }
    careplan = {k: v for k, v in careplan.items() if v is not None}
    extra = []
    reasons = _clearance_reasons(p)
    if p["status"] != "prescribed":
        extra.append({
            "resourceType": "ServiceRequest",
            "id": fhir_id(f"{pid}-clearance"),
            # an unsigned bundle orders nothing yet: its clearance order is a draft too
            "status": "active" if signed else "draft",
            "intent": "order",
            "code": {"text": "Medical clearance before starting exercise"
                     if p["status"] == "clearance_required"
                     else "Medical review: exercise deferred"},
            "subject": subject,
            "authoredOn": start.isoformat(),
            "requester": requester,
            "reasonCode": [{"text": r} for r in reasons] or [{"text": p["status"]}],
            "basedOn": [ref["careplan"]],
        })
    for i, text in enumerate(p.get("referrals") or [], start=1):
        coding = REFERRAL_PA if "exercise" in text.lower() else REFERRAL_OTHER
        extra.append({
            "resourceType": "ServiceRequest",
            "id": fhir_id(f"{pid}-referral-{i}"),
            "status": request_status,
            "intent": "proposal",
            "code": {"coding": [coding], "text": text},
            "subject": subject,
            "authoredOn": start.isoformat(),
            "requester": requester,
            "basedOn": [ref["careplan"]],
            "patientInstruction": text,
        })
    resources: list[dict[str, Any]] = [careplan, request, goal, *extra]
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": full_url(patient, r["id"]), "resource": r}
        if transaction:  # idempotent: a rerun updates the same resources, never duplicates
            r["identifier"] = [{"system": PRECEX_IDS, "value": r["id"]}]
            entry["request"] = {"method": "PUT", "url": f"{r['resourceType']}?identifier="
                                                        f"{PRECEX_IDS}|{r['id']}"}
        entries.append(entry)
    return {
        "resourceType": "Bundle",
        "id": fhir_id(f"{pid}-exercise-prescription"),
        "type": "transaction" if transaction else "collection",
        "entry": entries,
    }


def _activities(p: Prescription) -> list[str]:
    """Data to obtain first, then monitoring: what the care team does around the sessions."""
    items = [f"Obtain: {d['item']} (capped meanwhile: {d['capped_meanwhile']})"
             for d in p.get("data_to_obtain") or []]
    return items + [f"Monitor: {m}" for m in p.get("monitoring") or []]


def validate_bundle(bundle: dict[str, Any]) -> None:
    """Raise pydantic.ValidationError if the bundle is not valid FHIR R4 (fhir.resources' R4B
    models; a bundle shaped like one validated before has its values checked by the same
    models' field types: precex.prescription.fhir_check)."""
    _bundle_check().validate(bundle)


@cache
def _bundle_check() -> BundleCheck:
    return BundleCheck()  # one per process: it remembers the shapes it validated
