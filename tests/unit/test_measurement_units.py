"""One unit mechanism for every reader (issue 37): the EHR's vitals and body size, the sheet's
temperatures and the follow-up temperatures all convert through precex.blood.units (pint, UCUM
codes through ucumvert), and a unit that is unknown or of another kind is a data issue."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from builders import ehr_row
from hypothesis import given
from hypothesis import strategies as st
from precex.blood.units import UnitError, celsius, convert

LOINC = "http://loinc.org"
REFERENCE = dt.date(2026, 12, 1)


@pytest.mark.parametrize("value,unit,target,expected", [
    (150, "[lb_av]", "kg", 68.0388555),  # UCUM, as Synthea and US EHRs write pounds
    (150, "lbs", "kg", 68.0388555),  # valueQuantity.unit as typed
    (65, "[in_i]", "cm", 165.1),
    (1.65, "m", "cm", 165.0),
    (72, "/min", "1/min", 72.0),
    (72, "{beats}/min", "1/min", 72.0),
    (120, "mm[Hg]", "mmHg", 120.0),
    (0.55, "1", "percent", 55.0),  # an ejection fraction sent as a fraction
    (5, "[ft_i]", "cm", 152.4),  # any UCUM code of the right kind
])
def test_measurements_convert_from_the_units_ehrs_write(value, unit, target, expected):
    assert convert(value, unit, target) == pytest.approx(expected)


def test_a_unit_of_another_kind_or_an_unknown_one_is_refused():
    with pytest.raises(UnitError, match="mass"):
        convert(70, "cm", "kg")
    with pytest.raises(UnitError, match="unknown unit"):
        convert(70, "stonez", "kg")


def test_fahrenheit_at_the_fever_threshold_is_the_threshold():
    """pint converts through kelvin: 100.4 F came out as 38.00000000000006 (a hair under
    would miss a fever); converted temperatures are kept to 0.01 C."""
    assert celsius(100.4, "[degF]") == 38.0
    assert celsius(100.4) == 38.0  # no unit, above 45: Fahrenheit
    assert celsius(38.123) == 38.123  # Celsius kept as given
    assert celsius(37.5, "Cel") == 37.5
    assert list(celsius(np.array([38.0, 100.4, np.nan]))[:2]) == [38.0, 38.0]


@given(st.floats(min_value=90, max_value=110, allow_nan=False))
def test_celsius_is_monotonic_in_fahrenheit(f):
    """A higher Fahrenheit reading is never a lower Celsius one (rounding included)."""
    assert celsius(f + 0.1, "[degF]") >= celsius(f, "[degF]")


def _vitals_bundle(weight: dict, height: dict) -> dict:
    subject = {"reference": "Patient/E9"}

    def observation(oid: str, code: str, quantity: dict) -> dict:
        return {"resourceType": "Observation", "id": oid, "status": "final", "subject": subject,
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "effectiveDateTime": "2026-11-20", "valueQuantity": quantity}

    patient = {"resourceType": "Patient", "id": "E9", "gender": "female",
               "birthDate": "1960-01-01"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": patient}, {"resource": observation("w", "29463-7", weight)},
        {"resource": observation("h", "8302-2", height)}]}


def _read(tmp_path, bundle: dict):
    return ehr_row(tmp_path, bundle, REFERENCE)


def test_ehr_body_size_in_any_unit_of_its_kind_is_converted(tmp_path):
    """'lbs' and 'ft' were silently dropped (only kg, [lb_av], g, cm, [in_i] and m were
    known)."""
    row = _read(tmp_path, _vitals_bundle({"value": 150, "unit": "lbs"},
                                         {"value": 5.5, "unit": "ft", "code": "[ft_i]"}))
    assert float(row["weight_kg"]) == pytest.approx(68.04)
    assert float(row["height_cm"]) == pytest.approx(167.64)


def test_ehr_body_size_in_a_wrong_or_unknown_unit_is_a_data_issue(tmp_path):
    row = _read(tmp_path, _vitals_bundle({"value": 70, "unit": "cm"},
                                         {"value": 165, "unit": "Zoll-Einheit"}))
    assert pd.isna(row.get("weight_kg")) and pd.isna(row.get("height_cm"))  # not filled
    issues = row["sheet_data_issues"]
    assert "29463-7" in issues and "'cm'" in issues and "not used" in issues
    assert "8302-2" in issues and "'Zoll-Einheit'" in issues


@pytest.mark.parametrize("metric,value,unit,expected", [
    ("resting_hr", 58, "beats/min", 58.0),
    ("resting_hr", 58, "{beats}/min", 58.0),
    ("hrv_sdnn_ms", 0.045, "s", 45.0),
    ("sleep_h", 420, "min", 7.0),
    ("sleep_h", 25200, "s", 7.0),
    ("steps", 8000, "{steps}/d", 8000.0),
    ("resting_hr", 58, "mm[Hg]", None),  # another kind: not read (counted as skipped)
    ("sleep_h", 7, "furlongs-ish", None),
])
def test_wearable_fhir_values_go_through_the_same_units(metric, value, unit, expected):
    from precex.wearables.exports import _fhir_value

    got = _fhir_value(metric, value, unit)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_a_sheet_value_in_another_unit_of_its_kind_is_converted(tmp_path):
    """US clinics write '154 lb' in a weight column: it was refused (only 'kg' was accepted);
    a unit of another kind is still refused, naming the accepted units."""
    from precex.clinical.sheet import read_patient_sheet

    sheet = tmp_path / "sheet.tsv"
    sheet.write_text("patient_id\tage\tsex\tweight_kg\theight_cm\tcycle_length_days\n"
                     "A1\t60\tF\t154 lb\t5.5 ft\t3 weeks\n"
                     "A2\t60\tF\t70 cm\t165\t21\n", encoding="utf-8")
    read = read_patient_sheet(sheet, reference_date=REFERENCE)
    a1 = read.patients.loc["A1"]
    assert float(a1["weight_kg"]) == pytest.approx(69.85)
    assert float(a1["height_cm"]) == pytest.approx(167.64)
    assert int(a1["cycle_length_days"]) == 21
    assert pd.isna(read.patients.loc["A2"].get("weight_kg"))
    assert "'70 cm' is not a number (units accepted: kg" in read.patients.loc[
        "A2", "sheet_data_issues"]


def test_vitals_under_the_other_codes_ehrs_use_are_read(tmp_path):
    """Older Synthea exports code the blood-pressure panel 55284-4; some EHRs send systolic and
    diastolic as Observations of their own, the resting heart rate as 40443-4, a measured weight
    as 3141-9 and LVEF by echo as 18043-0. All were ignored without a word."""
    subject = {"reference": "Patient/E9"}

    def observation(oid: str, code: str, **value) -> dict:
        return {"resourceType": "Observation", "id": oid, "status": "final", "subject": subject,
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "effectiveDateTime": "2026-11-20", **value}

    def quantity(value: float, unit: str) -> dict:
        return {"valueQuantity": {"value": value, "unit": unit, "code": unit,
                                  "system": "http://unitsofmeasure.org"}}

    panel = observation("bp1", "55284-4", component=[
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, **quantity(142, "mm[Hg]")},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, **quantity(91, "mm[Hg]")}])
    patient = {"resourceType": "Patient", "id": "E9", "gender": "female",
               "birthDate": "1960-01-01"}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (
        patient, panel, observation("hr", "40443-4", **quantity(64, "/min")),
        observation("w", "3141-9", **quantity(154, "[lb_av]")),
        observation("ef", "18043-0", **quantity(48, "%")))]}
    row = _read(tmp_path, bundle)
    assert (float(row["systolic_bp"]), float(row["diastolic_bp"])) == (142.0, 91.0)
    assert float(row["resting_hr"]) == 64.0
    assert float(row["weight_kg"]) == pytest.approx(69.85)
    assert float(row["lvef_pct"]) == 48.0
    assert "Observation 55284-4" in row["sheet_value_sources"]

    alone = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (
        patient, observation("s", "8480-6", **quantity(150, "mm[Hg]")),
        observation("d", "8462-4", **quantity(95, "mm[Hg]")))]}
    row = _read(tmp_path, alone)
    assert (float(row["systolic_bp"]), float(row["diastolic_bp"])) == (150.0, 95.0)


def test_pint_is_loaded_only_when_a_unit_is_converted():
    """The unit module imports pint at the first conversion, not with itself: a value in its
    marker's own unit or a temperature already in Celsius (most jobs' only units) costs no
    0.08 s import; a conversion still goes through pint."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from precex.blood.catalogue import load_catalogue\n"
            "from precex.blood import units\n"
            "crp = load_catalogue()['crp']\n"
            "assert units.to_canonical(4.0, crp.canonical_unit, crp) == 4.0\n"
            "assert units.celsius(37.2, 'Cel') == 37.2\n"
            "print('pint' in sys.modules)\n"
            "print(round(units.convert(154.0, 'lbs', 'kg'), 2), 'pint' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "69.85", "True"]
