"""EHR conditions and medicines reach the safety rules as facts with their FHIR status, through
the same policy as the sheet's history: the sheet and the EHR mean the same thing (issue 37)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from builders import ehr_row
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


def _request(rid: str, subject: dict, code: str, display: str, authored: str) -> dict:
    """An active MedicationRequest order as Synthea writes one (RxNorm coded)."""
    return {"resourceType": "MedicationRequest", "id": rid, "subject": subject,
            "status": "active", "intent": "order", "authoredOn": authored,
            "medicationCodeableConcept": _concept(RXNORM, code, display)}


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
        _request("m1", subject, "855332", "Warfarin Sodium 5 MG Oral Tablet", "2019-03-02"),
        _request("m2", subject, "897722", "verapamil hydrochloride 80 MG Oral Tablet",
                 "2019-03-02"),
        {"resourceType": "MedicationStatement", "id": "m3", "subject": subject,
         "status": "stopped", "effectivePeriod": {"start": "2012-01-01", "end": "2019-02-01"},
         "medicationCodeableConcept": _concept(RXNORM, "197381", "atenolol 50 MG Oral Tablet")},
        _request("m4", subject, "313782", "Acetaminophen 325 MG Oral Tablet", "2026-10-01"),
        _request("m5", subject, "583218", "PACLitaxel 6 MG/ML", "2026-10-01"),
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


# One fact class per row: (code it must give, the EHR resource, the sheet's words).
CLASSES = [
    ("beta_blocker", ("MedicationStatement", RXNORM, "197381", "atenolol 50 MG Oral Tablet"),
     "atenolol 50 mg"),
    ("rate_control", ("MedicationRequest", RXNORM, "897722",
                      "verapamil hydrochloride 80 MG Oral Tablet"), "verapamil 80 mg"),
    ("rate_control", ("MedicationRequest", RXNORM, "197604", "digoxin 0.125 MG Oral Tablet"),
     "digoxin"),
    ("anticoagulation", ("MedicationRequest", RXNORM, "1364430", "apixaban 5 MG Oral Tablet"),
     "on apixaban"),
    ("antiplatelet", ("MedicationStatement", RXNORM, "243670", "aspirin 81 MG Oral Tablet"),
     "aspirin 81 mg"),
    ("insulin", ("MedicationRequest", RXNORM, "311041", "insulin glargine 100 UNT/ML"),
     "insulin glargine"),
    ("sulfonylurea", ("MedicationRequest", RXNORM, "310488", "glipizide 5 MG Oral Tablet"),
     "glipizide"),
    ("atrial_fibrillation", ("Condition", SNOMED, "49436004", "Atrial fibrillation (disorder)"),
     "AF"),
    ("heart_failure", ("Condition", SNOMED, "88805009",
                       "Chronic congestive heart failure (disorder)"), "heart failure"),
    ("coronary_artery_disease", ("Condition", SNOMED, "53741008",
                                 "Coronary arteriosclerosis (disorder)"), "IHD"),
    ("venous_thromboembolism", ("Condition", SNOMED, "128053003",
                                "Deep venous thrombosis (disorder)"), "DVT"),
    ("osteoporosis", ("Condition", SNOMED, "64859006", "Osteoporosis (disorder)"),
     "osteoporosis"),
    ("diabetes_type2", ("Condition", SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"),
     "T2DM"),
    ("bone_metastases", ("Condition", SNOMED, "94222008",
                         "Secondary malignant neoplasm of bone (disorder)"), "bone mets"),
    ("pulmonary_hypertension", ("Condition", SNOMED, "70995007",
                                "Pulmonary hypertension (disorder)"), "pulmonary hypertension"),
]


def _ehr_bundle(kind: str, system: str, code: str, display: str, status: str) -> dict:
    subject = {"reference": "Patient/E9"}
    if kind == "Condition":
        resource = {"resourceType": "Condition", "id": "x1", "subject": subject,
                    "clinicalStatus": _status(status, CLINICAL),
                    "verificationStatus": _status("confirmed", VERIFICATION),
                    "code": _concept(system, code, display)}
    else:
        resource = {"resourceType": kind, "id": "x1", "subject": subject, "status": status,
                    "medicationCodeableConcept": _concept(system, code, display)}
        if kind == "MedicationRequest":
            resource["intent"] = "order"
    patient = {"resourceType": "Patient", "id": "E9", "gender": "female",
               "birthDate": "1960-01-01"}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": patient}, {"resource": resource}]}


def _codes_of(tmp_path, *, sheet_words: str = "", bundle: dict | None = None) -> str:
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text(f"patient_id\tage\tsex\tcomorbidities\nE9\t66\tF\t{sheet_words}\n",
                     encoding="utf-8")
    if bundle is None:
        read = read_patient_sheet(sheet, reference_date=REFERENCE)
    else:
        path = tmp_path / "ehr.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        read = read_sheet_with_ehr(str(sheet), str(path), REFERENCE.isoformat())
    return read.patients.loc["E9", "comorbidities"]


@pytest.mark.parametrize("code,resource,words", CLASSES, ids=[c[0] + ":" + c[2] for c in CLASSES])
def test_each_fact_class_means_the_same_from_the_sheet_and_the_ehr(tmp_path, code, resource,
                                                                     words):
    """A medicine or condition of each class gives the same codes typed into the sheet or sent
    by the EHR; stopped (a medicine) or resolved (a condition) in the EHR counts like
    'stopped ...' or '... resolved' in the sheet (a lasting condition still counts)."""
    kind = resource[0]
    active = "active"
    ended = "resolved" if kind == "Condition" else "stopped"
    from_sheet = _codes_of(tmp_path, sheet_words=words)
    from_ehr = _codes_of(tmp_path, bundle=_ehr_bundle(*resource, active))
    assert code in from_sheet.split(";")
    assert from_ehr == from_sheet
    sheet_ended = _codes_of(tmp_path, sheet_words=f"{words} {ended}")
    ehr_ended = _codes_of(tmp_path, bundle=_ehr_bundle(*resource, ended))
    assert sheet_ended == ehr_ended


ATC = "http://www.whocc.no/atc"


def _coded(kind: str, rid: str, codings: list[tuple[str, str]], text: str = "",
           status: str = "active", **more) -> dict:
    """A medicine resource as European and US EHRs send one: coded by ATC or RxNorm, its text
    in the local language or none at all."""
    concept: dict = {"coding": [{"system": s, "code": c} for s, c in codings]}
    if text:
        concept["text"] = text
    resource = {"resourceType": kind, "id": rid, "subject": {"reference": "Patient/E9"},
                "status": status, "medicationCodeableConcept": concept, **more}
    if kind == "MedicationRequest":
        resource["intent"] = "order"
    return resource


def _bundle(*resources: dict) -> dict:
    patient = {"resourceType": "Patient", "id": "E9", "gender": "female",
               "birthDate": "1960-01-01"}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in (patient, *resources)]}


def _read(tmp_path, bundle: dict):
    return ehr_row(tmp_path, bundle, REFERENCE)


@pytest.mark.parametrize("codings,text,code", [
    # A German statement: the brand name is in no vocabulary, the ATC code says beta-blocker.
    ([(ATC, "C07AB07")], "Concor COR 2,5 mg Filmtabletten", "beta_blocker"),
    # Verapamil is under C08D (rate control); amlodipine under C08C (blood pressure only).
    ([(ATC, "C08DA01")], "Isoptin 80 mg", "rate_control"),
    ([(ATC, "C08CA01")], "Norvasc 5 mg", "antihypertensive"),
    ([(ATC, "B01AF01")], "Rivaroxaban-Mepha 20 mg", "anticoagulation"),
    ([(ATC, "A10AE04")], "Abasaglar KwikPen 100 E/ml", "insulin"),
    # An RxNorm ingredient code with no text at all (a bulk export that sends codes only).
    ([(RXNORM, "11289")], "", "anticoagulation"),
    ([(RXNORM, "3407")], "", "rate_control"),
])
def test_a_medicine_coded_by_atc_or_rxnorm_is_read_whatever_its_words(tmp_path, codings, text,
                                                                       code):
    row = _read(tmp_path, _bundle(_coded("MedicationStatement", "m1", codings, text)))
    assert code in row["comorbidities"].split(";")
    assert "no vocabulary reads" not in row["sheet_data_issues"]


def test_longest_atc_class_decides(tmp_path):
    """Amlodipine (C08CA01) is not rate control, though C08 holds both kinds of blocker."""
    row = _read(tmp_path, _bundle(_coded("MedicationStatement", "m1", [(ATC, "C08CA01")],
                                         "Norvasc 5 mg")))
    assert "rate_control" not in row["comorbidities"].split(";")


def test_a_cancer_agent_coded_by_atc_is_an_agent_not_history(tmp_path):
    """Capecitabine by its ATC code under a generic's brand name: an oral agent (no infusion
    date to ask for), not an unread medicine."""
    row = _read(tmp_path, _bundle(_coded("MedicationRequest", "a1", [(ATC, "L01BC06")],
                                         "Capecitabin-Generikum 500 mg")))
    assert row["agents"] == "capecitabine"
    assert "Capecitabin" not in row["sheet_data_issues"]
    row = _read(tmp_path, _bundle(_coded("MedicationRequest", "a1", [(ATC, "L01EF01")],
                                         "Palbociclib-ratiopharm 125 mg")))
    assert row["agents"] == "cdk46_inhibitor"


def test_a_medicine_named_by_reference_is_read_from_its_medication_resource(tmp_path):
    """Epic-style bulk exports name the drug through medicationReference: to a Medication in
    the bundle, or one contained in the request. One the files do not hold is a data issue."""
    medication = {"resourceType": "Medication", "id": "med-7", "code": {"coding": [
        {"system": RXNORM, "code": "897722",
         "display": "verapamil hydrochloride 80 MG Oral Tablet"}]}}
    by_id = {"resourceType": "MedicationRequest", "id": "r1", "status": "active",
             "intent": "order", "subject": {"reference": "Patient/E9"},
             "medicationReference": {"reference": "Medication/med-7"}}
    contained = {"resourceType": "MedicationRequest", "id": "r2", "status": "active",
                 "intent": "order", "subject": {"reference": "Patient/E9"},
                 "contained": [{"resourceType": "Medication", "id": "m",
                                "code": {"coding": [{"system": ATC, "code": "B01AA03"}]}}],
                 "medicationReference": {"reference": "#m"}}
    missing = {"resourceType": "MedicationRequest", "id": "r3", "status": "active",
               "intent": "order", "subject": {"reference": "Patient/E9"},
               "medicationReference": {"reference": "Medication/not-sent"}}
    row = _read(tmp_path, _bundle(medication, by_id, contained, missing))
    codes = row["comorbidities"].split(";")
    assert "rate_control" in codes and "anticoagulation" in codes
    assert "Medication/not-sent" in row["sheet_data_issues"]


def test_facts_carry_their_standard_code():
    """An EHR fact keeps the code it came with; a phrase in the sheet gets its code's SNOMED
    CT concept (conditions) or ATC class (medicines) from the vocabulary."""
    from precex.clinical.facts import comorbidity_facts
    from precex.clinical.fhir_input import _medication_fact

    fact = _medication_fact(_coded("MedicationStatement", "m1", [(ATC, "C07AB07")],
                                   "Concor COR 2,5 mg"), "ehr.json")[0][0]
    assert (fact.code, fact.kind, fact.concept) == ("beta_blocker", "medicine", f"{ATC}|C07AB07")
    typed = {f.code: (f.kind, f.concept)
             for f in comorbidity_facts("AF; on bisoprolol; PICC line", "comorbidities")}
    assert typed == {"atrial_fibrillation": ("condition", f"{SNOMED}|49436004"),
                     "beta_blocker": ("medicine", f"{ATC}|C07"), "central_line": ("device", "")}


def test_every_history_code_has_a_kind():
    from precex.clinical.facts import FACT_KINDS, code_kinds
    from precex.clinical.vocabulary import comorbidity_table

    kinds = code_kinds()
    assert set(kinds) == set(comorbidity_table().index)
    assert set(kinds.values()) <= set(FACT_KINDS)
    # a medicine class is what ATC and RxNorm codes lead to, and nothing else is
    table = comorbidity_table()
    coded = set(table.index[(table["atc"] != "") | (table["rxnorm"] != "")])
    assert coded <= {c for c, k in kinds.items() if k == "medicine"}


def test_partial_fhir_dates_are_read_the_cautious_way_and_named(tmp_path):
    """FHIR allows YYYY and YYYY-MM. '2026-11' on a heart rate crashed the reader (a traceback
    for a legal file). Now a partial date is read as the day that is more cautious where it is
    used: a vital's first day (older, so less current), a surgery's or a condition's end last
    day (more recent, so it counts longer), a birth year's first day (the older age); each is
    named."""
    subject = {"reference": "Patient/E9"}
    resources = [
        {"resourceType": "Condition", "id": "c2", "subject": subject,
         "clinicalStatus": _status("resolved", CLINICAL),
         "verificationStatus": _status("confirmed", VERIFICATION),
         "code": _concept(SNOMED, "128053003", "Deep venous thrombosis (disorder)"),
         "onsetDateTime": "2026", "abatementDateTime": "2026-10"},
        {"resourceType": "Observation", "id": "o1", "status": "final", "subject": subject,
         "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
         "effectiveDateTime": "2026-08", "valueQuantity": {"value": 70, "unit": "/min"}},
        {"resourceType": "Procedure", "id": "p1", "subject": subject, "status": "completed",
         "code": {"text": "Mastectomy"}, "performedDateTime": "2026-10"},
    ]
    bundle = _bundle(*resources)
    bundle["entry"][0]["resource"]["birthDate"] = "1960"
    row = _read(tmp_path, bundle)
    # DVT ended in October 2026: within its 13-week window (read as 31 October).
    assert "venous_thromboembolism" in row["comorbidities"].split(";")
    assert row["surgery_date"] == "2026-10-31"
    # The August heart rate is read as 1 August: over 90 days before 1 December, not current.
    assert pd.isna(row.get("resting_hr"))
    issues = row["sheet_data_issues"]
    for named in ("Patient/E9 birthDate gives only '1960'", "Condition/c2 gives only '2026-10'",
                  "Procedure/p1 gives only '2026-10'", "Observation/o1 gives only '2026-08'"):
        assert named in issues, named
