"""The FHIR bundles meet what the profiles they claim ask (HL7 Physical Activity IG STU1 on
US Core: pa-servicerequest, pa-careplan, pa-goal), rule by rule, and validate with the
package's R4-family models (fhir.resources 8 ships R4B and STU3, no R4 module; R4B is R4 for
every resource written here)."""

from __future__ import annotations

import datetime as dt
import importlib.util

import pandas as pd
import pytest
from builders import RB
from fhir.resources.R4B.bundle import Bundle
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.fhir import FhirOptions, prescription_bundle, validate_bundle
from precex.prescription.signoff import prescription_digest, signoff_block, with_signoff

PA = "http://hl7.org/fhir/us/physical-activity/"


def make(signed: bool = False, **changes) -> dict:
    row = {"age": 60.0, "hr_max_bpm": 166.0, "resting_hr": 70.0, **changes}
    p = prescribe(pd.DataFrame([row], index=["P1"]), RB, EngineSettings(dt.date(2026, 1, 5)))[0]
    latest = {"decision": "approve", "signed_by": "dr.x", "signed_at": "2026-01-05T09:00:00",
              "note": "", "prescription_digest": prescription_digest(p)} if signed else None
    return with_signoff(p, signoff_block(latest, prescription_digest(p)))


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_there_is_no_r4_module_so_r4b_validates():
    assert importlib.util.find_spec("fhir.resources.R4B") is not None
    assert importlib.util.find_spec("fhir.resources.R4") is None  # said so in the README


@pytest.mark.parametrize("changes", [{}, {"platelets_10e9_l": 10.0}, {"fever": True},
                                     {"neutrophils_10e9_l": 1.0}])
def test_the_exercise_order_meets_pa_servicerequest(changes):
    p = make(**changes)
    bundle = prescription_bundle(p)
    validate_bundle(bundle)
    Bundle.model_validate(bundle)
    order = resources(bundle, "ServiceRequest")[0]
    assert order["meta"]["profile"] == [PA + "StructureDefinition/pa-servicerequest"]
    assert order["category"][0]["coding"][0] == {
        "system": PA + "CodeSystem/pa-temporary-codes", "code": "PhysicalActivity",
        "display": "Physical Activity"}
    assert order["requester"]["display"]  # unsigned: the care team, named
    assert order["performer"] == [order["subject"]]  # the patient does the exercise
    timing = order["occurrenceTiming"]["repeat"]
    assert timing["periodUnit"] == "wk" and timing["period"] == 1 and timing["frequency"] >= 1
    assert timing["boundsPeriod"] == {"start": "2026-01-05", "end": "2026-03-30"}
    assert "occurrencePeriod" not in order  # one occurrence[x] only
    text = order["patientInstruction"]
    week = p["this_week"]
    if p["status"] == "clearance_required":
        assert text.startswith("Do not start until cleared by the care team")
    if p["status"] == "deferred":
        assert text.startswith("Do not exercise")
    elif week and week.get("aerobic"):
        a = week["aerobic"]
        assert f"aerobic {a['sessions_per_week']}x/week, {a['minutes_per_session']} min" in text
        assert "week 1 of 12" in text


def test_the_careplan_is_pa_careplan_with_narrative_and_a_reference_to_the_order():
    bundle = prescription_bundle(make())
    plan = resources(bundle, "CarePlan")[0]
    order = resources(bundle, "ServiceRequest")[0]
    assert plan["meta"]["profile"] == [PA + "StructureDefinition/pa-careplan"]
    assert plan["text"]["status"] == "generated"
    assert plan["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    codes = {c["coding"][0]["code"] for c in plan["category"]}
    assert {"assess-plan", "PhysicalActivity"} <= codes  # US Core slice and the PA slice
    order_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is order)
    assert plan["activity"][0] == {"reference": {"reference": order_url}}
    assert all(("reference" in a) != ("detail" in a) for a in plan["activity"])


def test_the_strength_goal_is_in_days_per_week():
    goal = resources(prescription_bundle(make()), "Goal")[0]
    strength = [t for t in goal["target"] if t["measure"].get("coding")
                and t["measure"]["coding"][0]["code"] == "82291-6"]
    assert strength[0]["detailQuantity"]["code"] == "d/wk"
    assert strength[0]["detailQuantity"]["system"] == "http://unitsofmeasure.org"


def test_referrals_are_coded():
    p = make(neuropathy_grade=1)
    assert p["referrals"]
    referrals = [r for r in resources(prescription_bundle(p), "ServiceRequest")
                 if r["intent"] == "proposal"]
    assert len(referrals) == len(p["referrals"])
    for referral, text in zip(referrals, p["referrals"], strict=True):
        coding = referral["code"]["coding"][0]
        assert coding["system"] == "http://snomed.info/sct"
        assert coding["code"] == ("390893007" if "exercise" in text.lower() else "3457005")
        assert referral["code"]["text"] == text


def test_clearance_orders_are_drafts_until_signed():
    unsigned = prescription_bundle(make(platelets_10e9_l=10.0))
    clearance = [r for r in resources(unsigned, "ServiceRequest") if r["id"].endswith(
        "clearance")]
    assert clearance and clearance[0]["status"] == "draft"
    signed = prescription_bundle(make(signed=True, platelets_10e9_l=10.0))
    clearance = [r for r in resources(signed, "ServiceRequest") if r["id"].endswith(
        "clearance")]
    assert clearance[0]["status"] == "active"
    order = resources(signed, "ServiceRequest")[0]
    assert order["requester"] == {"identifier": {"value": "dr.x"}, "display": "dr.x"}


def test_a_configured_organisation_requests_unsigned_orders():
    bundle = prescription_bundle(make(), FhirOptions(requester="Oncology Exercise Service"))
    assert resources(bundle, "ServiceRequest")[0]["requester"] == {
        "display": "Oncology Exercise Service"}


def test_a_transaction_bundle_references_the_patient_by_identifier_and_puts_each_resource():
    options = FhirOptions(bundle_type="transaction",
                          identifier_system="http://hospital.example.org/mrn")
    bundle = prescription_bundle(make(), options)
    validate_bundle(bundle)
    assert bundle["type"] == "transaction"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert resource["subject"] == {
            "reference": "Patient?identifier=http://hospital.example.org/mrn|P1"}
        assert entry["request"]["method"] == "PUT"
        identifier = resource["identifier"][0]
        assert entry["request"]["url"] == (f"{resource['resourceType']}?identifier="
                                           f"{identifier['system']}|{identifier['value']}")
    assert prescription_bundle(make(), options) == bundle  # a rerun PUTs the same resources
