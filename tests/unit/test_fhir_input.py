"""FHIR blood input as EHR exports write it (fixtures in tests/data/formats/fhir)."""

from pathlib import Path

import pandas as pd
import pytest
from builders import REF
from precex.blood.markers import blood_features
from precex.blood.stage import read_blood_input

DATA = Path(__file__).parents[1] / "data" / "formats" / "fhir"
PT = "b1f3c2a4-5d6e-4f70-8a91-2b3c4d5e6f70"


def features(paths, patients, system=None):
    long, problems = read_blood_input(paths, system)
    ages = pd.Series(dict.fromkeys(patients, 58.0))
    return blood_features(long, "blood", REF, 90, ages), problems


def test_synthea_style_transaction_resolves_urn_uuid_subjects_and_us_lab_codes():
    result, problems = features(str(DATA / "synthea_style_transaction.json"), [PT])
    m = result.markers.loc[PT]
    assert m["glucose_mmol_l"] == pytest.approx(99 / 18.0156, rel=1e-3)  # 2339-0 mg/dL
    assert m["creatinine_umol_l"] == pytest.approx(0.9 * 88.42, rel=1e-3)  # 38483-4 mg/dL
    assert m["ldl_mmol_l"] == pytest.approx(131 / 38.665, rel=1e-3)  # 18262-6 direct LDL
    assert m["hemoglobin_g_dl"] == 11.8
    assert m["platelets_10e9_l"] == 42  # UCUM 10*3/uL
    assert "wbc_10e9_l" not in result.markers or pd.isna(m.get("wbc_10e9_l"))  # preliminary
    text = " ".join(p.message for p in problems)
    # One line per cause with counts, never one per entry.
    assert "1 Observations with a status other than final" in text
    assert "Observations with a code not in the marker catalogue" in text
    assert "8302-2 Body Height" in text and "29463-7 Body Weight" in text
    assert "1 Observations without a numeric valueQuantity" in text
    assert "1 other resources are not used (Encounter 1)" in text
    assert len(problems) == 4


def test_patient_identifier_system_matches_the_mrn():
    system = "http://hospital.smarthealthit.org"
    result, _ = features(str(DATA / "synthea_style_transaction.json"), ["MRN-0042"], system)
    assert result.markers.loc["MRN-0042", "platelets_10e9_l"] == 42


def test_unresolved_subjects_are_counted_once():
    long, problems = read_blood_input(str(DATA / "synthea_style_transaction.json"),
                                      "http://no.such/system")
    assert long.empty
    unresolved = [p for p in problems if "could not be resolved" in p.message]
    assert len(unresolved) == 1  # one line per cause: 10 Observations less 1 preliminary
    assert unresolved[0].message.startswith("9 Observations")


def test_searchset_with_absolute_references_periods_issued_and_status():
    result, problems = features(str(DATA / "searchset.json"), ["P101", "P102"])
    m = result.markers
    assert m.loc["P101", "platelets_10e9_l"] == 182  # effectivePeriod.start
    assert m.loc["P102", "hemoglobin_g_dl"] == pytest.approx(6.1 * 1.61145, rel=1e-3)  # mmol/L
    assert m.loc["P102", "neutrophils_10e9_l"] == pytest.approx(1.2)  # 1200 /uL
    assert pd.isna(m.loc["P101"].get("hemoglobin_g_dl"))  # entered-in-error is not used
    assert any("OperationOutcome 1" in p.message for p in problems)


def test_bulk_ndjson_folder_and_unknown_patients():
    result, problems = features(str(DATA / "bulk"), ["P201", "P202"])
    m = result.markers
    assert m.loc["P201", "platelets_10e9_l"] == 15 and m.loc["P202", "platelets_10e9_l"] == 250
    assert any("P999" in p.message for p in result.problems)


def test_a_list_of_files_is_one_table():
    result, _ = features([str(DATA / "searchset.json"), str(DATA / "bulk")],
                         ["P101", "P102", "P201", "P202"])
    assert set(result.markers.index) == {"P101", "P102", "P201", "P202"}


def test_one_broken_bundle_in_a_folder_is_left_out_not_the_batch(tmp_path):
    import shutil

    folder = tmp_path / "bundles"
    folder.mkdir()
    shutil.copy(DATA / "searchset.json", folder / "P101.json")
    (folder / "P999.json").write_text('{"resourceType": "Bundle", "entry": [')  # truncated
    result, problems = features(str(folder), ["P101", "P102"])
    assert result.markers.loc["P101", "platelets_10e9_l"] == 182
    broken = [p for p in problems if "P999.json" in p.file]
    assert len(broken) == 1 and "left out" in broken[0].message


def test_gzipped_bulk_ndjson_is_read(tmp_path):
    import gzip
    import shutil

    shutil.copy(DATA / "bulk" / "Patient.ndjson", tmp_path / "Patient.ndjson")
    with open(DATA / "bulk" / "Observation.ndjson", "rb") as src, \
            gzip.open(tmp_path / "Observation.ndjson.gz", "wb") as dst:
        dst.write(src.read())
    result, _ = features(str(tmp_path), ["P201", "P202"])
    assert result.markers.loc["P201", "platelets_10e9_l"] == 15


def test_member_results_take_their_panels_or_reports_date():
    """As the FHIR specification's lab panel example writes it: the panel Observation
    (hasMember) and the DiagnosticReport (result) carry the date, the members none. A member
    takes its panel's or report's date (a neutrophil count of 0.9 is read, not dropped); one
    listed by nothing stays undated, is named by entry and id, and never taken as current. The
    subject Patient/P07/_history/3 is patient P07."""
    from precex.blood.fhir_input import read_fhir_files

    long, problems = read_fhir_files([str(DATA / "lab_panel_members.json")])
    dated = {row.loinc: (row.patient_id, row.date) for row in long.itertuples()}
    assert dated == {"751-8": ("P07", "2026-01-02"), "777-3": ("P07", "2026-01-02"),
                     "718-7": ("P07", "2026-01-03")}
    text = " ".join(p.message for p in problems)
    assert "1 Observations with no date" in text and "entry 7 (wbc)" in text
    assert "row" not in text and "column 'date'" not in text
    result, _ = features(str(DATA / "lab_panel_members.json"), ["P07"])
    assert result.markers.loc["P07", "neutrophils_10e9_l"] == 0.9
