import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from builders import REF
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.blood.catalogue import find_marker, load_catalogue
from precex.blood.fhir_input import read_fhir_observations
from precex.blood.markers import blood_features, crp_status, harmonise, phenoage_clinical
from precex.blood.units import UnitError, to_canonical

CAT = load_catalogue()


@pytest.mark.parametrize("marker,value,unit,expected", [
    ("glucose", 100.0, "mg/dL", 100 / 18.0156),       # molar mass 180.156 g/mol
    ("glucose", 5.5, "mmol/L", 5.5),
    ("crp", 1.2, "mg/dL", 12.0),                      # CRP mg/L = 10 x mg/dL
    ("insulin", 60.0, "pmol/L", 10.0),                # 1 uIU/mL = 6.0 pmol/L
    ("insulin", 10.0, "mIU/L", 10.0),
    ("hemoglobin", 125.0, "g/L", 12.5),
    ("platelets", 150.0, "K/uL", 150.0),              # 10^3/uL == 10^9/L
    ("platelets", 150e9, "1/L", 150.0),
    ("triglycerides", 150.0, "mg/dL", 150 / 88.57),
    ("total_cholesterol", 200.0, "mg/dL", 200 / 38.665),
    ("creatinine", 1.0, "mg/dL", 88.4),               # 1 mg/dL = 88.4 umol/L
    ("vitamin_d", 20.0, "ng/mL", 20 * 2.496),         # 25(OH)D ng/mL -> nmol/L
    ("nt_probnp", 300.0, "ng/L", 300.0),
    ("hba1c", 48.0, "mmol/mol", 48 / 10.929 + 2.15),  # IFCC -> NGSP
    ("albumin", 4.2, "g/dL", 42.0),
])
def test_unit_conversions(marker, value, unit, expected):
    assert to_canonical(value, unit, CAT[marker]) == pytest.approx(expected, rel=2e-3)


@pytest.mark.parametrize("marker,unit", [("glucose", "furlongs"), ("glucose", "g"),
                                         ("wbc", "parsecs"), ("glucose", "zorkmids"),
                                         ("platelets", "mg/dL"), ("hba1c", "mg/dL"),
                                         ("crp", "")])
def test_wrong_or_unknown_units_raise(marker, unit):
    with pytest.raises(UnitError):
        to_canonical(1.0, unit, CAT[marker])


def test_marker_lookup_by_synonym_and_loinc():
    assert find_marker("Hb") == "hemoglobin"
    assert find_marker("C-reactive protein") == "crp"
    assert find_marker(None, "777-3") == "platelets"
    assert find_marker("not a marker") is None


def long_table(rows):
    return pd.DataFrame(rows, columns=["patient_id", "marker", "value", "unit", "date",
                                       "fasting"]).astype(str)


def test_bad_rows_are_reported_and_the_patient_keeps_valid_values():
    rows = [
        ["P1", "glucose", "99", "mg/dL", "2026-01-02", "true"],
        ["P1", "unobtainium", "1", "mg/L", "2026-01-02", ""],
        ["P1", "crp", "high", "mg/L", "2026-01-02", ""],
        ["P1", "hemoglobin", "13", "g/dL", "2026-02-30", ""],
        ["P1", "platelets", "250", "10^9/L", "2026-03-01", ""],
        ["P1", "wbc", "5", "zorkmids", "2026-01-01", ""],
        ["P1", "platelets", "99999", "10^9/L", "2026-01-01", ""],
        ["P1", "insulin", "8", "uIU/mL", "2026-01-02", "true"],
        ["P1", "insulin", "12", "uIU/mL", "2026-01-02", "true"],
        ["P9", "crp", "1", "mg/L", "2026-01-02", ""],
    ]
    canon, problems, rejected = harmonise(long_table(rows), "blood.tsv", REF, {"P1"})
    by_row = {p.row: p.message for p in problems if p.row}
    # An unknown marker is one line per marker (with counts) and a note for the patient.
    assert any("marker 'unobtainium' (1 rows, 1 patients, e.g. row 2)" in p.message
               for p in problems)
    assert any(p.patient_id == "P1" and "unobtainium" in p.message for p in problems)
    assert "'high' is not a number" in by_row[3]
    assert "not a YYYY-MM-DD date" in by_row[4]
    assert "after the reference date" in by_row[5]
    assert "unknown unit 'zorkmids'" in by_row[6]
    assert "plausible range" in by_row[7]
    # Conflicting insulin 8 and 12 on one day: the more adverse (higher) is kept and flagged.
    assert "conflicting values" in by_row[9] and "rows 9, 8" in by_row[9]
    assert any("'P9'" in p.message for p in problems)
    # Every rejected row names its patient (a data issue: shown, never excluding).
    row_problems = [p for p in problems if p.row]
    assert all(p.patient_id == "P1" and not p.excludes for p in row_problems)
    assert all(not p.excludes for p in problems if p.column == "marker")
    assert set(rejected["marker"].dropna()) == {"crp", "hemoglobin", "platelets", "wbc"}
    assert list(canon["marker"]) == ["glucose", "insulin"]
    assert canon["value"].iloc[0] == pytest.approx(99 / 18.0156, rel=1e-3)
    assert canon["original_unit"].iloc[0] == "mg/dL" and canon["row"].iloc[0] == 1
    assert canon["value"].iloc[1] == 12 and bool(canon["conflicting"].iloc[1])


def test_selection_indices_and_provenance():
    rows = [
        ["P1", "glucose", "5.0", "mmol/L", "2026-01-01", "true"],
        ["P1", "glucose", "7.0", "mmol/L", "2025-06-01", "true"],  # outside the 90-day window
        ["P1", "insulin", "10", "uIU/mL", "2026-01-01", "true"],
        ["P1", "triglycerides", "1.5", "mmol/L", "2026-01-01", "true"],
        ["P1", "neutrophils", "4", "10^9/L", "2026-01-01", ""],
        ["P1", "lymphocytes", "2", "10^9/L", "2026-01-01", ""],
        ["P1", "monocytes", "0.5", "10^9/L", "2026-01-01", ""],
        ["P1", "platelets", "250", "10^9/L", "2026-01-01", ""],
        ["P1", "platelets", "200", "10^9/L", "2025-12-01", ""],
    ]
    result = blood_features(long_table(rows), "b.tsv", REF, 90, pd.Series({"P1": 60.0}))
    m = result.markers.loc["P1"]
    assert m["glucose_mmol_l"] == 5.0 and m["platelets_10e9_l"] == 250  # latest in window
    assert m["homa_ir"] == pytest.approx(5.0 * 10 / 22.5)
    assert m["tyg"] == pytest.approx(math.log(1.5 * 88.57 * 5.0 * 18.016 / 2))
    assert m["nlr"] == pytest.approx(2.0) and m["plr"] == pytest.approx(125.0)
    assert m["sii"] == pytest.approx(250 * 4 / 2) and m["siri"] == pytest.approx(4 * 0.5 / 2)
    prov = result.provenance.set_index("marker")
    assert prov.loc["platelets", "row"] == 8 and prov.loc["glucose", "original_unit"] == "mmol/L"


@pytest.mark.parametrize("rows", [
    [],  # a one-patient batch whose patient has no blood rows
    [["P9", "glucose", "5.0", "mmol/L", "2026-01-01", "true"]],  # rows of other patients only
])
def test_a_patient_without_blood_values_is_not_an_error(rows):
    # Regression: a boolean mask built from an empty list was an object Series, which pandas
    # takes as a column selection; the blood job then crashed with KeyError 'canonical'.
    result = blood_features(long_table(rows), "b.tsv", REF, 90, pd.Series({"P1": 60.0}))
    assert result.problems == [] or all(p.patient_id != "P1" for p in result.problems)
    assert "P1" not in result.markers.index or result.markers.loc["P1"].isna().all()


def test_homa_needs_fasting_values():
    rows = [["P1", "glucose", "5.0", "mmol/L", "2026-01-01", ""],
            ["P1", "insulin", "10", "uIU/mL", "2026-01-01", "true"]]
    result = blood_features(long_table(rows), "b.tsv", REF, 90, pd.Series({"P1": 60.0}))
    assert np.isnan(result.markers.loc["P1", "homa_ir"])


def test_crp_status_rules():
    canon = pd.DataFrame({
        "patient_id": ["A", "A", "B", "C", "C", "D", "D"],
        "marker": ["crp"] * 7,
        "value": [4.0, 5.0, 2.0, 0.5, 0.7, 2.0, 15.0],
        "date": [dt.date(2025, 12, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 2),
                 dt.date(2025, 12, 30), dt.date(2026, 1, 2), dt.date(2025, 12, 1),
                 dt.date(2026, 1, 2)],
    })
    s = crp_status(canon, REF, 90)["crp_status"]
    assert s["A"] == "high"                 # two values >= 14 days apart, mean 4.5
    assert s["B"] == "provisional_average"  # one value
    assert s["C"] == "provisional_low"      # two values only 3 days apart
    assert s["D"] == "possible_acute"       # > 10 mg/L is never chronic


def _crp_status_per_group(canon, reference_date, window_days):
    """The per-patient pandas form crp_status had before it was vectorised: the oracle."""
    from precex.blood.markers import CRP_ACUTE_MG_L, CRP_CHRONIC_MIN_DAYS

    start = reference_date - dt.timedelta(days=window_days)
    crp = canon[canon["marker"].isin(["crp", "hs_crp"]) & (canon["date"] >= start)
                & (canon["date"] <= reference_date)]
    rows = []
    for pid, grp in crp.sort_values("date").groupby("patient_id", sort=True):
        latest = grp.iloc[-1]
        if latest["value"] > CRP_ACUTE_MG_L:
            status, mean = "possible_acute", latest["value"]
        else:
            usable = grp[grp["value"] <= CRP_ACUTE_MG_L]
            span = (usable["date"].max() - usable["date"].min()).days if len(usable) > 1 else 0
            if len(usable) >= 2 and span >= CRP_CHRONIC_MIN_DAYS:
                mean, prefix = usable["value"].tail(2).mean(), ""
            else:
                mean, prefix = latest["value"], "provisional_"
            status = prefix + ("low" if mean < 1 else "average" if mean <= 3 else "high")
        rows.append({"patient_id": pid, "crp_status": status, "crp_mean_mg_l": mean,
                     "crp_n_measurements": len(grp)})
    return pd.DataFrame(rows, columns=["patient_id", "crp_status", "crp_mean_mg_l",
                                       "crp_n_measurements"]).set_index("patient_id")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C", "D.1"]),
                          st.sampled_from(["crp", "hs_crp", "glucose"]),
                          st.sampled_from([0.2, 0.9, 1.0, 2.5, 3.0, 3.1, 9.9, 10.0, 10.5, 40.0]),
                          st.integers(-120, 3)), max_size=30))
def test_crp_status_equals_the_per_patient_computation(rows):
    canon = pd.DataFrame({"patient_id": [r[0] for r in rows], "marker": [r[1] for r in rows],
                          "value": [r[2] for r in rows],
                          "date": [REF + dt.timedelta(days=r[3]) for r in rows]},
                         columns=["patient_id", "marker", "value", "date"])
    canon["value"] = canon["value"].astype(float)
    pd.testing.assert_frame_equal(crp_status(canon, REF, 90),
                                  _crp_status_per_group(canon, REF, 90), check_dtype=False,
                                  check_exact=True)


def test_phenoage_clinical_matches_published_formula():
    wide = pd.DataFrame({"albumin_g_l": [40.0], "creatinine_umol_l": [70.0],
                         "glucose_mmol_l": [5.0], "crp_mg_l": [2.0],
                         "lymphocytes_10e9_l": [2.0], "wbc_10e9_l": [6.0], "mcv_fl": [90.0],
                         "rdw_pct": [13.0], "alp_u_l": [70.0]}, index=["P"])
    xb = (-19.907 - 0.0336 * 40 + 0.0095 * 70 + 0.1953 * 5 + 0.0954 * math.log(0.2)
          - 0.0120 * (2 / 6 * 100) + 0.0268 * 90 + 0.3306 * 13 + 0.00188 * 70 + 0.0554 * 6
          + 0.0804 * 55)
    g = 0.0076927
    mort = 1 - math.exp(-math.exp(xb) * (math.exp(120 * g) - 1) / g)
    expected = 141.50225 + math.log(-0.00553 * math.log(1 - mort)) / 0.090165
    got = phenoage_clinical(wide, pd.Series({"P": 55.0}))["P"]
    assert got == pytest.approx(expected)
    assert 40 < got < 70


def test_fhir_bundle(tmp_path):
    def obs(pid, code, value, unit, date="2026-01-02"):
        return {"resource": {"resourceType": "Observation", "status": "final",
                             "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                             "subject": {"reference": f"Patient/{pid}"},
                             "effectiveDateTime": date,
                             "valueQuantity": {"value": value, "unit": unit}}}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        obs("P1", "777-3", 180, "10*9/L"), obs("P1", "718-7", 12.1, "g/dL"),
        {"resource": {"resourceType": "Patient", "id": "P1"}}]}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    long, problems = read_fhir_observations(str(path))
    assert list(long["loinc"]) == ["777-3", "718-7"]
    assert problems == []  # a Patient entry resolves subjects; it is not a problem
    canon, _, _ = harmonise(long, str(path), REF, {"P1"})
    assert sorted(canon["marker"]) == ["hemoglobin", "platelets"]


@pytest.mark.parametrize("marker,value,unit,expected", [
    ("platelets", 150, "x10E3/uL", 150), ("platelets", 150, "10*3/uL", 150),
    ("platelets", 150, "G/L", 150), ("platelets", 150000, "cells/mm3", 150),
    ("platelets", 150000, "/mm3", 150), ("platelets", 150, "K/µL", 150),
    ("platelets", 150, "×10⁹/L", 150), ("platelets", 150, "x 10^3/mcL", 150),
    ("wbc", 5, "Gpt/L", 5), ("neutrophils", 2, "10*9/L", 2),
    ("hemoglobin", 6.2, "mmol/L", 6.2 * 1.61145), ("hemoglobin", 120, "g/L", 12),
    ("albumin", 40, "G/L", 40),  # a concentration: G/L is grams, not giga
    ("insulin", 10, "u[IU]/mL", 10), ("insulin", 10, "m[IU]/L", 10),
    ("glucose", 100, "mg/dL", 100 / 18.0156),
    # US lab exports (issue 42); 'x1000/uL' was read as 10^00 per uL, a thousandth
    ("hemoglobin", 12.1, "gm/dL", 12.1), ("hemoglobin", 11, "g%", 11),
    ("platelets", 180, "cells/uL x1000", 180), ("platelets", 180, "x1000/uL", 180),
    ("neutrophils", 1.2, "thous/uL", 1.2), ("platelets", 180, "x10³/µL", 180),
])
def test_laboratory_and_ucum_unit_spellings(marker, value, unit, expected):
    from precex.blood.catalogue import load_catalogue
    from precex.blood.units import to_canonical

    assert to_canonical(value, unit, load_catalogue()[marker]) == pytest.approx(expected,
                                                                                 rel=1e-3)


@pytest.mark.parametrize("text,value,sign", [("<20", 20, "<"), ("> 1000", 1000, ">"),
                                              ("1,5", 1.5, ""), ("150,000", 150000, ""),
                                              ("≤0.5", 0.5, "<"), ("12.3", 12.3, "")])
def test_censored_values_decimal_commas_and_thousands(text, value, sign):
    from precex.blood.markers import parse_values

    parsed = parse_values(pd.Series([text])).iloc[0]
    assert parsed["sign"] == sign
    assert parsed["value"] == value  # the limit itself; the sign says which side (issue 42)


def test_a_censored_result_is_stored_as_its_limit_and_read_as_beyond_it():
    """hs-CRP '<0.3 mg/dL' was stored as 2.9997 mg/L (issue 42): the features hold the limit
    in the canonical unit and its sign; the rules read '<20' as below 20, never equal."""
    from precex.prescription.rules import evaluate

    rows = [["P1", "hs-CRP", "<0.3", "mg/dL", "2026-01-02", ""],
            ["P1", "platelets", "<20", "10^9/L", "2026-01-02", ""],
            ["P2", "platelets", "20", "10^9/L", "2026-01-02", ""],
            ["P2", "CRP", ">160", "mg/L", "2026-01-02", ""]]
    m = blood_features(long_table(rows), "b.tsv", REF, 90,
                       pd.Series({"P1": 60.0, "P2": 60.0})).markers
    assert m.loc["P1", "hs_crp_mg_l"] == 3.0 and m.loc["P1", "hs_crp_mg_l_censored"] == "<"
    assert m.loc["P1", "platelets_10e9_l"] == 20.0
    assert m.loc["P1", "platelets_10e9_l_censored"] == "<"
    assert pd.isna(m.loc["P2", "platelets_10e9_l_censored"])
    assert m.loc["P2", "crp_mg_l"] == 160.0 and m.loc["P2", "crp_mg_l_censored"] == ">"
    below = evaluate({"feature": "platelets_10e9_l", "op": "lt", "value": 20}, m)
    assert below.tolist() == [True, False]  # '<20' is below 20; a measured 20 is not
    at_least = evaluate({"feature": "platelets_10e9_l", "op": "ge", "value": 20}, m)
    assert at_least.tolist() == [False, True]
    above = evaluate({"feature": "crp_mg_l", "op": "gt", "value": 160}, m)
    assert above.tolist() == [False, True]  # '>160' is above 160


def test_states_rejected_stale_conflicting_and_percent_differential():
    rows = [
        ["P1", "platelets", "200", "10^9/L", "2025-12-20", ""],
        ["P1", "platelets", "150", "furlongs", "2026-01-02", ""],  # newer and unusable
        ["P2", "platelets", "220", "10^9/L", "2025-06-01", ""],  # outside the window
        ["P3", "platelets", "18", "10^9/L", "2026-01-02", ""],
        ["P3", "platelets", "182", "10^9/L", "2026-01-02", ""],  # same day: conflict
        ["P4", "neutrophils", "12", "%", "2026-01-02", ""],
        ["P4", "wbc", "3.0", "10^9/L", "2026-01-02", ""],
        ["P5", "neutrophils", "50", "%", "2026-01-02", ""],  # no WBC that day
    ]
    ages = pd.Series({p: 60.0 for p in ("P1", "P2", "P3", "P4", "P5")})
    m = blood_features(long_table(rows), "b.tsv", REF, 90, ages).markers
    assert m.loc["P1", "platelets_state"] == "rejected" and pd.isna(m.loc["P1", "platelets_10e9_l"])
    assert m.loc["P2", "platelets_state"] == "stale" and pd.isna(m.loc["P2", "platelets_10e9_l"])
    assert m.loc["P3", "platelets_state"] == "conflicting"
    assert m.loc["P3", "platelets_10e9_l"] == 18  # the most adverse value is used
    assert m.loc["P4", "neutrophils_10e9_l"] == pytest.approx(0.36)
    assert m.loc["P5", "neutrophils_state"] == "rejected"
    for pid, text in [("P1", "furlongs"), ("P2", "outside the 90-day window"),
                      ("P3", "most adverse"), ("P5", "same day")]:
        assert text in m.loc[pid, "blood_data_issues"]


def test_lab_export_headers_and_dates_are_read(tmp_path):
    from precex.blood.stage import read_blood_input

    path = tmp_path / "lab.csv"
    path.write_text("Patient,Test Name,Result,Units,Collection Date\n"
                    "P1,Platelet Count,42,x10E3/uL,2026/01/02\n"
                    "P1,Hgb,11.2,g/dL,20260102\n"
                    "P1,ANC,1.1,10*3/uL,02/01/2026\n")
    long, problems = read_blood_input(str(path))
    assert {"column 'Result' read as 'value'", "column 'Units' read as 'unit'"} <= {
        p.message.rstrip(".") for p in problems}
    result = blood_features(long, str(path), REF, 90, pd.Series({"P1": 60.0}))
    m = result.markers.loc["P1"]
    assert m["platelets_10e9_l"] == 42 and m["hemoglobin_g_dl"] == 11.2
    assert m["neutrophils_state"] == "rejected"  # 02/01/2026 is ambiguous: never guessed


def test_marker_catalogue_reads_as_pandas_reads_it():
    """The catalogue is read with csv (no pandas in the report kernel); every marker must
    carry exactly what the table says, as pandas' text reading gives it."""
    import pandas as pd
    from precex.blood.catalogue import find_marker, load_catalogue
    from precex.paths import resource_path

    table = pd.read_csv(resource_path("blood", "marker_catalogue.tsv"), sep="\t", dtype=str,
                        keep_default_na=False)
    catalogue = load_catalogue()
    assert list(catalogue) == table["marker"].tolist()
    for row in table.itertuples():
        marker = catalogue[row.marker]
        assert marker.canonical_unit == row.canonical_unit and marker.source == row.source
        assert marker.loinc == tuple(c for c in row.loinc.split(";") if c)
        assert marker.plausible == (float(row.plausible_min), float(row.plausible_max))
        assert marker.reference_f == (float(row.ref_low_f), float(row.ref_high_f))
        assert marker.reference_m == (float(row.ref_low_m), float(row.ref_high_m))
        for synonym in filter(None, row.synonyms.split(";")):
            assert find_marker(name=synonym) == row.marker


def _us_lab_export(folder):
    """A lab export as a US hospital writes it: month-first date-times, gm/dL and
    cells/uL x1000, a CSV with its own header names."""
    rows = ["MRN,Test,Result,Units,Collected",
            "P001,Hemoglobin,9.1,gm/dL,12/29/2025 08:15",
            "P001,Platelets,88,cells/uL x1000,12/29/2025 08:15",
            "P001,ANC,0.9,x1000/uL,1/2/2026 07:50"]
    path = folder / "labs.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_us_dates_are_read_only_in_the_order_the_site_declares(tmp_path):
    from precex.blood.markers import blood_features
    from precex.blood.stage import read_blood_input

    long, problems = read_blood_input(str(_us_lab_export(tmp_path)))
    age = pd.Series({"P001": 55.0})
    guessed = blood_features(long, "labs.csv", REF, 90, age).markers.loc["P001"]
    for column in ("hemoglobin_g_dl", "platelets_10e9_l", "neutrophils_10e9_l"):
        assert pd.isna(guessed.get(column)), column  # a US date is never guessed
    assert guessed["platelets_state"] == "rejected"  # so the caps treat it as unusable
    assert "date_format: MDY" in guessed["blood_data_issues"]
    us = blood_features(long, "labs.csv", REF, 90, age, date_format="MDY")
    row = us.markers.loc["P001"]
    assert row["hemoglobin_g_dl"] == pytest.approx(9.1)
    assert row["platelets_10e9_l"] == pytest.approx(88)
    assert row["neutrophils_10e9_l"] == pytest.approx(0.9)
    dates = us.provenance.set_index("marker")["date"].astype(str)
    assert dates["neutrophils"].startswith("2026-01-02")  # 1/2/2026 is 2 January in MDY


def test_validate_fails_when_a_patient_loses_every_lab_row(demo_copy, monkeypatch, capsys):
    """A US export read as ISO: every row of the patient is rejected, and validate says so
    with its exit code (it said 'valid' and the plan said 'may start', issue 42)."""
    from precex.cli import main

    labs = _us_lab_export(demo_copy)
    config = (demo_copy / "config.yaml").read_text()
    config = "\n".join(line for line in config.splitlines() if not line.startswith("blood:"))
    (demo_copy / "config.yaml").write_text(config + f"\nblood: {labs.name}\n")
    monkeypatch.chdir(demo_copy)
    assert main(["validate", "--configfile", "config.yaml"]) == 1
    err = capsys.readouterr().err
    assert "every lab row of patient P001 (3) was rejected" in err and "date_format: MDY" in err
    (demo_copy / "config.yaml").write_text(config + f"\nblood: {labs.name}\ndate_format: MDY\n")
    assert main(["validate", "--configfile", "config.yaml"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("name", ["Vitamin D, 25-OH", "25-hydroxyvitamin D", "25(OH)D3",
                                  "vitamin D (25-OH)", "25-OH-D"])
def test_lab_spellings_of_25_hydroxyvitamin_d_are_read(name):
    """'Vitamin D, 25-OH' was missing from the catalogue (issue 42)."""
    from precex.blood.catalogue import find_marker

    assert find_marker(name) == "vitamin_d"
