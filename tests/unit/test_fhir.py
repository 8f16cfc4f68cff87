import datetime as dt

import pandas as pd
import pytest
from builders import RB
from fhir.resources.R4B.bundle import Bundle
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.fhir import prescription_bundle, validate_bundle
from pydantic import ValidationError


# Unsigned: a prescribed plan is a draft until a clinician signs it (tests/unit/test_signoff.py).
@pytest.mark.parametrize("changes,careplan_status", [({}, "draft"), ({"fever": True}, "on-hold"),
                                                     ({"platelets_10e9_l": 10}, "draft")])
def test_bundle_is_valid_r4_with_exercise_therapy(changes, careplan_status):
    row = {"age": 60.0, "hr_max_bpm": 166.0, **changes}
    p = prescribe(pd.DataFrame([row], index=["P1"]), RB, EngineSettings(dt.date(2026, 1, 5)))[0]
    bundle = prescription_bundle(p)
    validate_bundle(bundle)
    parsed = Bundle.model_validate(bundle)
    kinds = [e.resource.__resource_type__ for e in parsed.entry]
    # A clearance or deferral is a ServiceRequest with its reasons; each referral one more.
    extra = (1 if p["status"] != "prescribed" else 0) + len(p["referrals"])
    assert kinds == ["CarePlan", "ServiceRequest", "Goal"] + ["ServiceRequest"] * extra
    assert all(e.resource.intent == "proposal" for e in parsed.entry[3 + extra
                                                                     - len(p["referrals"]):])
    request = parsed.entry[1].resource
    assert request.code.coding[0].system == "http://snomed.info/sct"
    assert request.code.coding[0].code == "229065009"
    # References inside the bundle are the entries' fullUrls (deterministic urn:uuid).
    full_urls = {e.resource.id: e.fullUrl for e in parsed.entry}
    assert request.basedOn[0].reference == full_urls["P1-careplan"]
    assert all(u.startswith("urn:uuid:") and len(u) == 45 for u in full_urls.values())
    assert request.meta.profile[0].endswith("/pa-servicerequest") and request.reasonCode
    assert str(request.authoredOn) == "2026-01-05"
    assert str(request.occurrenceTiming.repeat.boundsPeriod.end) == "2026-03-30"
    assert parsed.entry[0].resource.status == careplan_status
    assert request.status == parsed.entry[0].resource.status  # statuses agree
    goal = parsed.entry[2].resource
    if p["aerobic"]:
        assert goal.target[0].detailQuantity.value == p["aerobic"]["minutes_per_week"]
        coded = p["aerobic"]["intensity"] in ("moderate", "vigorous")
        assert (goal.target[0].measure.coding is not None) is coded  # 82290-8 only for MVPA
    else:
        assert not goal.target or all(t.measure.coding[0].code == "82291-6" for t in goal.target)
    strengthening = [t for t in goal.target or [] if t.measure.coding
                     and t.measure.coding[0].code == "82291-6"]
    assert len(strengthening) == (1 if p["resistance"] else 0)


def test_invalid_bundle_is_rejected():
    # fhir.resources checks structure and datatypes (not value-set membership)
    with pytest.raises(ValidationError):
        validate_bundle({"resourceType": "Bundle", "type": "collection", "total": "many"})
    with pytest.raises(ValidationError):
        validate_bundle({"resourceType": "Bundle", "type": "collection",
                         "entry": [{"resource": {"resourceType": "ServiceRequest",
                                                 "intent": "order"}}]})  # status is required


def test_bundle_round_trips_through_the_models_to_identical_json():
    import json

    row = {"age": 60.0, "hr_max_bpm": 166.0, "platelets_10e9_l": 35.0, "fever": False}
    p = prescribe(pd.DataFrame([row], index=["P1"]), RB, EngineSettings(dt.date(2026, 1, 5)))[0]
    bundle = prescription_bundle(p)
    again = json.loads(Bundle.model_validate(bundle).model_dump_json(exclude_none=True))
    assert again == json.loads(json.dumps(bundle))
    assert prescription_bundle(p) == bundle  # deterministic


def test_goal_has_due_dates_and_the_pa_category():
    row = {"age": 60.0, "hr_max_bpm": 166.0}
    p = prescribe(pd.DataFrame([row], index=["P1"]), RB, EngineSettings(dt.date(2026, 1, 5)))[0]
    goal = prescription_bundle(p)["entry"][2]["resource"]
    assert goal["meta"]["profile"][0].endswith("/pa-goal")
    assert goal["category"][0]["coding"][0]["code"] == "PhysicalActivity"
    assert {t["dueDate"] for t in goal["target"]} == {"2026-03-30"}


@pytest.mark.parametrize("pid", ["BC_0001", "P 7", "Pat/ient", "A" * 64, "P.1-x"])
def test_any_valid_patient_id_gives_valid_fhir_ids(pid):
    """Patient IDs may hold '_' (and the sheet allows 64 characters); FHIR ids may not: the
    bundle uses FHIR-safe ids, distinct for distinct patients, and stays valid."""
    import re

    from precex.prescription.fhir import fhir_id

    row = {"age": 60.0, "hr_max_bpm": 166.0, "fever": True}
    p = prescribe(pd.DataFrame([row], index=["P1"]), RB, EngineSettings(dt.date(2026, 1, 5)))[0]
    # The engine refuses an ID its schema does not allow ("P 7", "Pat/ient"); the bundle
    # builder still makes FHIR-safe ids of whatever it is given.
    p["patient_id"] = pid
    bundle = prescription_bundle(p)
    validate_bundle(bundle)
    ids = [bundle["id"]] + [e["resource"]["id"] for e in bundle["entry"]]
    assert all(re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    subject = bundle["entry"][0]["resource"]["subject"]["reference"]
    assert re.fullmatch(r"Patient/[A-Za-z0-9\-.]{1,64}", subject)
    assert fhir_id("BC_0001") != fhir_id("BC-0001")  # no two patients share a FHIR id
    assert fhir_id("P001-careplan") == "P001-careplan"  # FHIR-safe IDs are kept as they are
