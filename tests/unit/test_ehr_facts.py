"""EHR conditions and medicines reach the safety rules as facts with their FHIR status, through
the same policy as the sheet's history: the sheet and the EHR mean the same thing (issue 37)."""

from __future__ import annotations

import datetime as dt
import json

from precex.clinical.sheet import read_patient_sheet
from precex.clinical.validate_stage import read_sheet_with_ehr

REFERENCE = dt.date(2026, 12, 1)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"


def _concept(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _status(code: str, system: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def synthea_like_bundle() -> dict:
    """Written as Synthea writes a patient: urn:uuid references, SNOMED conditions with
    '(disorder)' displays, RxNorm medication requests, a stopped statement, a refuted and a
    resolved condition, a medicine no vocabulary reads."""
    pid = "b2c7a8e0-5d5e-4a0b-9a57-0f5e8f7f1a11"
    subject = {"reference": f"urn:uuid:{pid}"}
    resources = [
        {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1958-04-02",
         "identifier": [{"system": "https://github.com/synthetichealth/synthea", "value": "E1"}]},
        {"resourceType": "Condition", "id": "c1", "subject": subject,
         "clinicalStatus": _status("active", CLINICAL),
         "verificationStatus": _status("confirmed", VERIFICATION),
         "code": _concept(SNOMED, "49436004", "Atrial fibrillation (disorder)"),
         "onsetDateTime": "2019-03-02T10:00:00+00:00"},
        {"resourceType": "Condition", "id": "c2", "subject": subject,
         "clinicalStatus": _status("resolved", CLINICAL),
         "verificationStatus": _status("confirmed", VERIFICATION),
         "code": _concept(SNOMED, "128053003", "Deep venous thrombosis (disorder)"),
         "onsetDateTime": "2015-01-10", "abatementDateTime": "2015-06-01"},
        {"resourceType": "Condition", "id": "c3", "subject": subject,
         "clinicalStatus": _status("active", CLINICAL),
         "verificationStatus": _status("refuted", VERIFICATION),
         "code": _concept(SNOMED, "84114007", "Heart failure (disorder)")},
        {"resourceType": "MedicationRequest", "id": "m1", "subject": subject,
         "status": "active", "intent": "order", "authoredOn": "2019-03-02",
         "medicationCodeableConcept": _concept(RXNORM, "855332",
                                               "Warfarin Sodium 5 MG Oral Tablet")},
        {"resourceType": "MedicationRequest", "id": "m2", "subject": subject,
         "status": "active", "intent": "order", "authoredOn": "2019-03-02",
         "medicationCodeableConcept": _concept(RXNORM, "897722",
                                               "verapamil hydrochloride 80 MG Oral Tablet")},
        {"resourceType": "MedicationStatement", "id": "m3", "subject": subject,
         "status": "stopped", "effectivePeriod": {"start": "2012-01-01", "end": "2019-02-01"},
         "medicationCodeableConcept": _concept(RXNORM, "197381", "atenolol 50 MG Oral Tablet")},
        {"resourceType": "MedicationRequest", "id": "m4", "subject": subject,
         "status": "active", "intent": "order", "authoredOn": "2026-10-01",
         "medicationCodeableConcept": _concept(RXNORM, "313782",
                                               "Acetaminophen 325 MG Oral Tablet")},
        {"resourceType": "MedicationRequest", "id": "m5", "subject": subject,
         "status": "active", "intent": "order", "authoredOn": "2026-10-01",
         "medicationCodeableConcept": _concept(RXNORM, "583218", "PACLitaxel 6 MG/ML")},
    ]
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}


def test_ehr_conditions_and_medicines_reach_the_history_with_their_status(tmp_path):
    bundle = tmp_path / "E1.json"
    bundle.write_text(json.dumps(synthea_like_bundle()), encoding="utf-8")
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text("patient_id\tage\tsex\tcomorbidities\nE1\t68\tF\t\n", encoding="utf-8")
    read = read_sheet_with_ehr(str(sheet), str(bundle), REFERENCE.isoformat())
    row = read.patients.loc["E1"]
    # Active AF, warfarin and verapamil count; the refuted heart failure, the DVT resolved in
    # 2015 and the atenolol stopped in 2019 do not; paclitaxel is a cancer agent, not history.
    assert row["comorbidities"] == "anticoagulation;atrial_fibrillation;rate_control"
    assert row["agents"] == "taxane"
    issues = row["sheet_data_issues"]
    assert "Acetaminophen 325 MG Oral Tablet" in issues  # unread, never silent
    assert "Condition/c3" in issues and "negated" in issues
    assert "MedicationStatement/m3" in issues


def test_the_sheet_and_the_ehr_give_the_same_history(tmp_path):
    """The same facts typed into the sheet give the same codes as the EHR's resources."""
    bundle = tmp_path / "E1.json"
    bundle.write_text(json.dumps(synthea_like_bundle()), encoding="utf-8")
    blank = tmp_path / "blank.tsv"
    blank.write_text("patient_id\tage\tsex\nE1\t68\tF\n", encoding="utf-8")
    typed = tmp_path / "typed.tsv"
    typed.write_text("patient_id\tage\tsex\tcomorbidities\n"
                     "E1\t68\tF\tAF; on warfarin; verapamil 80 mg; no heart failure; "
                     "DVT 2015 resolved; atenolol stopped 2019\n", encoding="utf-8")
    from_ehr = read_sheet_with_ehr(str(blank), str(bundle), REFERENCE.isoformat())
    from_sheet = read_patient_sheet(typed, reference_date=REFERENCE)
    assert (from_ehr.patients.loc["E1", "comorbidities"]
            == from_sheet.patients.loc["E1", "comorbidities"])
