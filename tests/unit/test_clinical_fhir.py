"""Clinical context from the EHR (config clinical_fhir): an mCODE-style, Synthea-shaped
transaction Bundle (tests/data/formats/fhir/mcode_clinical_bundle.json, written from the
mCODE profiles and Synthea's output layout) read into the sheet's columns, values checked by
hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import REF
from precex.clinical.fhir_input import read_clinical_fhir, subtype_of
from precex.clinical.validate_stage import read_sheet_with_ehr
from precex.problems import InputError

DATA = Path(__file__).parents[1] / "data" / "formats" / "fhir"
BUNDLE = str(DATA / "mcode_clinical_bundle.json")


def test_the_bundle_gives_the_sheet_columns():
    records, problems = read_clinical_fhir(BUNDLE, REF)
    assert problems == []
    values = {k: v for k, (v, _) in records["P901"].values.items()}  # found by the MRN
    assert values["sex"] == "F" and values["age"] == "61"  # born 1964-03-15
    assert values["stage"] == "Stage IIA"
    assert values["subtype"] == "HR+/HER2-"  # ER positive, PR negative, HER2 negative
    assert float(values["lvef_pct"]) == 58 and values["lvef_date"] == "2025-12-01"  # latest
    assert (float(values["systolic_bp"]), float(values["diastolic_bp"])) == (132, 84)
    assert float(values["weight_kg"]) == pytest.approx(154 * 0.45359237, abs=0.01)
    assert float(values["height_cm"]) == pytest.approx(64 * 2.54)
    # three administrations 21 days apart: the last is the infusion date, 21 the cycle
    assert values["next_infusion_date"] == "2025-12-29" and values["cycle_length_days"] == "21"
    assert "Doxorubicin" in values["agents"] and "PACLitaxel" in values["agents"]
    assert "Letrozole" not in values["agents"]  # a stopped request is not a current agent
    assert values["surgery_date"] == "2025-10-20"
    assert values["comorbidities"] == "axillary dissection"


def test_the_sheet_wins_and_every_disagreement_is_a_data_issue(tmp_path):
    sheet = tmp_path / "patients.tsv"
    sheet.write_text("patient_id\tage\tsex\ttreatment_phase\tlvef_pct\n"
                     "P901\t62\tF\tadjuvant chemotherapy\t\nP902\t50\tF\tsurvivorship\t60\n")
    read = read_sheet_with_ehr(str(sheet), BUNDLE, REF.isoformat())
    row = read.patients.loc["P901"]
    assert row["age"] == 62  # the sheet's value
    assert row["lvef_pct"] == 58 and row["stage"] == "II"  # blanks filled from the EHR
    assert row["subtype"] == "HR+/HER2-" and row["cycle_length_days"] == 21
    assert "anthracycline" in row["agents"] or "doxorubicin" in ";".join(row["agents"])
    assert "axillary_dissection" in row["comorbidities"]
    issues = [p for p in read.problems if p.patient_id == "P901"]
    age = [p for p in issues if p.column == "age"]
    assert len(age) == 1 and "'62' in the sheet but '61' in the EHR" in age[0].message
    assert not age[0].excludes
    assert "P902" in read.patients.index and read.patients.loc["P902", "lvef_pct"] == 60


def test_the_prescription_reads_the_ehr_agents_and_calendar(tmp_path):
    from precex.clinical.features import clinical_features

    sheet = tmp_path / "patients.tsv"
    sheet.write_text("patient_id\tage\tsex\ttreatment_phase\nP901\t61\tF\tadjuvant_chemo\n")
    read = read_sheet_with_ehr(str(sheet), BUNDLE, REF.isoformat())
    features = clinical_features(read.patients, REF)
    assert bool(features.loc["P901", "cardiotoxic_exposure"])  # doxorubicin
    assert features.loc["P901", "days_to_next_infusion"] == 14  # 2025-12-29 + 21 = 2026-01-19


def test_a_file_that_is_not_fhir_names_itself(tmp_path):
    bad = tmp_path / "export.ndjson"
    bad.write_text('{"resourceType": "Patient", "id": "a"}\nnot json\n')
    with pytest.raises(InputError) as err:
        read_clinical_fhir(str(bad), REF)
    problem = err.value.problems[0]
    assert problem.file == str(bad) and problem.row == 2 and "NDJSON" in problem.fix


def test_bulk_ndjson_reads_like_the_bundle(tmp_path):
    bundle = json.loads(Path(BUNDLE).read_text())
    lines = [json.dumps(e["resource"]) for e in bundle["entry"]]
    (tmp_path / "all.ndjson").write_text("\n".join(lines) + "\n")
    records, _ = read_clinical_fhir(str(tmp_path / "all.ndjson"), REF)
    values = {k: v for k, (v, _) in records["P901"].values.items()}
    assert values == {k: v for k, (v, _) in read_clinical_fhir(BUNDLE, REF)[0][
        "P901"].values.items()}


@pytest.mark.parametrize("er,pr,her2,subtype", [
    ("positive", "negative", "negative", "HR+/HER2-"), (None, "positive", "negative",
                                                         "HR+/HER2-"),
    ("negative", "negative", "negative", "TNBC"), ("negative", None, "positive", "HER2+"),
    ("positive", "positive", None, None), (None, None, "negative", None),
])
def test_subtype_from_receptors(er, pr, her2, subtype):
    assert subtype_of(er, pr, her2) == subtype


def test_ehr_vitals_go_stale_like_counts_and_a_versioned_subject_is_its_patient(tmp_path):
    """Blood pressure, heart rate and weight count within the window before the reference
    date; older ones are not used and say so (LVEF keeps its date for its own rule; height does
    not go stale). A subject written Patient/<id>/_history/<n> is patient <id>, not <n>."""
    import datetime as dt

    later = dt.date(2026, 12, 1)
    records, _ = read_clinical_fhir(BUNDLE, later, 90)
    record = records["P901"]
    assert not {"systolic_bp", "diastolic_bp", "weight_kg"} & set(record.values)
    assert "height_cm" in record.values and "lvef_pct" in record.values
    stale = " ".join(record.stale)
    assert "systolic_bp 132" in stale and "2025-12-29" in stale and "over 90" in stale
    data = json.loads(Path(BUNDLE).read_text())
    for entry in data["entry"]:
        subject = (entry["resource"].get("subject") or {})
        if subject.get("reference", "").startswith("Patient/"):
            subject["reference"] += "/_history/3"
    versioned = tmp_path / "versioned.json"
    versioned.write_text(json.dumps(data))
    again, _ = read_clinical_fhir(str(versioned), REF)
    assert "3" not in again
    assert again["P901"].values["stage"][0] == records["P901"].values["stage"][0]


def test_every_value_the_ehr_gave_shows_where_and_when_in_the_report(tmp_path):
    """Blanks the EHR fills carry their resource and date (validated table ->
    sheet_value_sources) to the report's key measurements; the sheet's own values do not."""
    from builders import RB
    from precex.clinical.features import clinical_features
    from precex.clinical.validated import read_validated, write_validated
    from precex.io.tables import write_features
    from precex.prescription.engine import EngineSettings, prescribe
    from precex.profile.host import merge_modalities
    from precex.profile.stage import _read
    from precex.reporting.patient import key_measurements

    sheet = tmp_path / "patients.tsv"
    sheet.write_text("patient_id\tage\tsex\ttreatment_phase\tresting_hr\n"
                     "P901\t61\tF\tadjuvant chemotherapy\t\nP902\t50\tF\tsurvivorship\t70\n")
    read = read_sheet_with_ehr(str(sheet), BUNDLE, REF.isoformat())
    write_validated(tmp_path / "validated.tsv", read.patients)
    validated = read_validated(tmp_path / "validated.tsv")
    sources = validated.loc["P901", "sheet_value_sources"]
    assert "lvef_pct: EHR Observation" in sources and "2025-12-01" in sources
    assert "systolic_bp: EHR Observation 85354-9" in sources and "2025-12-29" in sources
    assert "age" not in {part.split(": ")[0] for part in sources.split(" | ")}  # the sheet's
    write_features(tmp_path / "clinical.tsv", clinical_features(validated, REF))
    flat = merge_modalities(validated, {"clinical": _read(str(tmp_path / "clinical.tsv"))})
    plans = {p["patient_id"]: p for p in prescribe(flat, RB, EngineSettings(REF))}
    shown = dict(key_measurements(flat.loc["P901"].to_dict(), plans["P901"]))
    assert "132/84 mmHg (EHR Observation 85354-9" in shown["Blood pressure"]
    assert "2025-12-29" in shown["Blood pressure"]
    assert "2025-12-01" in shown["LVEF"] and "EHR Observation" in shown["LVEF"]
    assert "EHR Observation" in shown["BMI"]
    sheet_only = dict(key_measurements(flat.loc["P902"].to_dict(), plans["P902"]))
    assert "EHR" not in " ".join(sheet_only.values())
    # the resting HR the EHR gave is named so in the prescription itself, not only the report
    assert "resting_hr: " in sources
    source = plans["P901"]["safety_inputs"]["resting_hr"]["source"]
    assert source.startswith("EHR Observation") and source in shown["Resting HR"]
    assert plans["P902"]["safety_inputs"]["resting_hr"]["source"] == "patient sheet"
