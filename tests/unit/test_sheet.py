from pathlib import Path

import pandas as pd
import pytest
from precex.clinical.sheet import read_patient_sheet
from precex.problems import InputError

HEADER = "patient_id\tage\tsex\tsubtype\tfever\tagents\tneuropathy_grade\n"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "patients.tsv"
    path.write_text(HEADER + body)
    return path


def test_valid_rows_are_typed(tmp_path):
    sheet = read_patient_sheet(write(tmp_path, "A1\t55\tF\tTNBC\tno\ttaxane;anthracycline\t1\n"))
    assert sheet.problems == []
    row = sheet.patients.loc["A1"]
    assert row["age"] == 55.0
    assert bool(row["fever"]) is False
    assert row["agents"] == "anthracycline;taxane"  # sorted, canonical
    assert row["neuropathy_grade"] == 1.0


def test_three_errors_are_all_reported_with_row_column_and_expectation(tmp_path):
    body = ("A1\tsixty\tF\tTNBC\tno\t\t0\n"
            "A2\t50\tF\tclaudin-low\tno\t\t0\n"
            "../x\t50\tF\tTNBC\tno\t\t0\n"
            "A4\t50\tF\tTNBC\tno\t\t0\n")
    sheet = read_patient_sheet(write(tmp_path, body))
    assert [(p.row, p.column, p.excludes) for p in sheet.problems] == [
        (1, "age", True), (2, "subtype", False), (3, "patient_id", True)]
    text = [str(p) for p in sheet.problems]
    assert "'sixty' is not a number" in text[0] and "18 to 110" in text[0]
    # a subtype no rule needs to be safe is rejected as a data issue, never excluding
    assert "HR+/HER2-" in text[1] and "rejected and handled as missing" in text[1]
    assert "'../x' is not in the expected form" in text[2] and "^" not in text[2]
    assert list(sheet.patients.index) == ["A2", "A4"]


def test_receptor_notation_and_tnm_are_read_as_subtype_and_stage(tmp_path):
    """As clinics write them (issue 42): 'ER+/PR+/HER2-' and 'T2N1M0' excluded a patient or
    were rejected; the stage group comes from resources/clinical/tnm_stage_groups.tsv."""
    body = ("A1\t50\tF\tER+/PR+/HER2-\tno\t\t0\n"
            "A2\t50\tF\tER- PR- HER2 0\tno\t\t0\n"
            "A3\t50\tF\tER+ PgR- HER2 3+\tno\t\t0\n")
    sheet = read_patient_sheet(write(tmp_path, body))
    assert sheet.problems == []
    assert sheet.patients["subtype"].tolist() == ["HR+/HER2-", "TNBC", "HER2+"]
    from precex.clinical.vocabulary import infer_stage, infer_subtype

    assert infer_subtype("ER+/PR+/HER2 2+") is None  # IHC 2+ is equivocal: not guessed
    assert [infer_stage(t) for t in ("T2N1M0", "pT1c pN0 M0", "ypT2 ypN1a M0", "T4b N2 M0",
                                     "T1 N3 M0", "Tis N0 M0", "T2N1M1", "T0 N1mi M0")] == [
        "II", "I", "II", "III", "III", "0", "IV", "I"]


def test_duplicate_ids_exclude_every_copy(tmp_path):
    sheet = read_patient_sheet(write(tmp_path, "A1\t50\tF\t\t\t\t\nA1\t51\tF\t\t\t\t\n"
                                                "B2\t40\tF\t\t\t\t\n"))
    assert list(sheet.patients.index) == ["B2"]
    assert {p.row for p in sheet.problems} == {1, 2}
    assert all("rows 1, 2" in p.message for p in sheet.problems)


@pytest.mark.parametrize("value,ok", [("110", True), ("110.5", False), ("17", False),
                                      ("18", True)])
def test_age_bounds(tmp_path, value, ok):
    sheet = read_patient_sheet(write(tmp_path, f"A1\t{value}\tF\t\t\t\t\n"))
    assert (sheet.problems == []) is ok


def test_unknown_agent_and_non_integer_grade(tmp_path):
    sheet = read_patient_sheet(write(tmp_path, "A1\t50\tF\t\t\tchemo\t1.5\n"))
    assert {p.column for p in sheet.problems} == {"agents", "neuropathy_grade"}


def test_missing_required_column_is_a_file_error(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("patient_id\tage\nA1\t50\n")
    with pytest.raises(InputError) as err:
        read_patient_sheet(path)
    assert "sex" in str(err.value) and "p.tsv" in str(err.value)


def test_empty_sheet_and_missing_file(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text(HEADER)
    with pytest.raises(InputError, match="no patients"):
        read_patient_sheet(path)
    with pytest.raises(InputError, match="not found"):
        read_patient_sheet(tmp_path / "absent.tsv")


def test_row_without_id_is_reported(tmp_path):
    sheet = read_patient_sheet(write(tmp_path, "\t50\tF\t\t\t\t\nA2\t50\tF\t\t\t\t\n"))
    assert any(p.row == 1 and "no patient_id" in p.message for p in sheet.problems)
    assert list(sheet.patients.index) == ["A2"]


def test_demo_sheet_is_valid(demo_cohort_dir):
    sheet = read_patient_sheet(demo_cohort_dir / "patients.tsv")
    assert sheet.problems == []
    assert isinstance(sheet.patients, pd.DataFrame) and len(sheet.patients) == 40


def test_identifying_columns_outside_the_schema_are_dropped(tmp_path):
    """Data minimisation: a name or record-number column in the sheet never reaches the
    validated table that every output is built from."""
    path = tmp_path / "patients.tsv"
    path.write_text("patient_id\tage\tsex\tfull_name\tmrn\nA1\t55\tF\tJane Doe\tMRN12345\n")
    sheet = read_patient_sheet(path)
    # Named as unused (a warning, not an exclusion); never copied.
    assert [(p.column, p.excludes, p.patient_id) for p in sheet.problems] == [
        ("full_name", False, None), ("mrn", False, None)]
    assert "full_name" not in sheet.patients.columns and "mrn" not in sheet.patients.columns
    assert "Jane Doe" not in sheet.patients.to_csv(sep="\t")


def test_cells_as_clinics_write_them(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text(
        "patient_id\tage\tsex\ttreatment_phase\tlvef_pct\tresting_hr\ttemperature_c\tvo2peak_ml_kg_min"
        "\tstage\tagents\tcomorbidities\tblood_pressure\n"
        "A1\t55\tFemale\tAdjuvant chemotherapy\t55%\t72 bpm\t101.3 F\tn/a\tIIIA\tAC-T, Herceptin"
        "\tAF; bisoprolol\t142/88\n")
    sheet = read_patient_sheet(path)
    assert sheet.problems == []
    row = sheet.patients.loc["A1"]
    assert row["sex"] == "F" and row["treatment_phase"] == "adjuvant_chemo"
    assert row["lvef_pct"] == 55 and row["resting_hr"] == 72 and row["stage"] == "III"
    assert row["temperature_c"] == pytest.approx(38.5, abs=0.01)  # converted from F
    assert pd.isna(row["vo2peak_ml_kg_min"])  # 'n/a' is a blank
    assert row["agents"] == "anthracycline;cyclophosphamide;taxane;trastuzumab"
    assert row["comorbidities"] == "atrial_fibrillation;beta_blocker"
    assert (row["systolic_bp"], row["diastolic_bp"]) == (142, 88)


def test_bad_safety_cells_are_rejected_not_excluding_and_unknown_terms_named(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("patient_id\tage\tsex\tlvef_pct\tfever\tcomorbidities\n"
                    "A1\t55\tF\t150\tmaybe\tHeart Disease!; COPD\n")
    sheet = read_patient_sheet(path)
    assert list(sheet.patients.index) == ["A1"]  # still prescribed (conservatively)
    assert all(p.patient_id == "A1" and not p.excludes for p in sheet.problems)
    assert {p.column for p in sheet.problems} == {"lvef_pct", "fever", "comorbidities"}
    row = sheet.patients.loc["A1"]
    assert set(row["sheet_rejected"].split(";")) == {"lvef_pct", "fever"}
    assert "heart disease" in row["sheet_data_issues"]
    assert "copd" in row["comorbidities"].split(";")


def test_a_study_wide_table_is_summarised_in_one_line_not_one_per_sample():
    from precex.roster import report_unmatched

    ids = [f"S{i:03d}" for i in range(763)]
    problems = report_unmatched("table.qza", ids, set(ids[:40]), set(), "microbiome", "samples")
    assert len(problems) == 1 and not problems[0].excludes
    assert "723 samples of 723 ID(s) not in this batch" in problems[0].message


def test_a_misspelled_column_is_a_warning_with_the_closest_name(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("patient_id\tage\tsex\tvo2pk_ml_kg\tmrn\nA1\t55\tF\t21\t0042\n")
    sheet = read_patient_sheet(path)
    assert list(sheet.patients.index) == ["A1"]  # a warning, not an exclusion
    by_column = {p.column: p for p in sheet.problems}
    assert "Did you mean 'vo2peak_ml_kg_min'?" in by_column["vo2pk_ml_kg"].message
    assert not by_column["vo2pk_ml_kg"].excludes
    assert by_column["vo2pk_ml_kg"].patient_id is None
    assert "Did you mean" not in by_column["mrn"].message


def test_headers_as_exports_write_them_are_read():
    """'Patient ID', 'Gender', 'LVEF', 'VO2peak', 'BP' name precex's columns."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.tsv"
        path.write_text("Patient ID\tAge\tGender\tLVEF\tVO2peak\tBP\tTemp\n"
                        "A1\t55\tfemale\t38%\t19.5\t150/95\t38.4\n")
        sheet = read_patient_sheet(path)
        row = sheet.patients.loc["A1"]
        assert row["sex"] == "F" and row["lvef_pct"] == 38 and row["vo2peak_ml_kg_min"] == 19.5
        assert (row["systolic_bp"], row["diastolic_bp"]) == (150, 95)
        assert row["temperature_c"] == 38.4
        notes = " ".join(p.message for p in sheet.problems)
        assert "column 'LVEF' read as 'lvef_pct'" in notes
        assert all(not p.excludes for p in sheet.problems)


def test_unquoted_yaml_dates_and_text_booleans_are_read(tmp_path):
    from precex.config import load_config_file, validate_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("patients: p.tsv\nreference_date: 2026-01-05\nresearch_mode: 'yes'\n")
    config = load_config_file(cfg)
    assert config["reference_date"] == "2026-01-05" and config["research_mode"] is True
    assert validate_config(config) == []
    cfg.write_text("patients: p.tsv\nreference_date: 2026-13-05\n")
    problems = validate_config(load_config_file(cfg))
    assert len(problems) == 1 and "'2026-13-05' is not a 'date'" in problems[0].message


def test_the_operated_side_is_kept_from_the_comorbidity_text(tmp_path):
    import datetime as dt

    from precex.clinical.features import clinical_features

    path = tmp_path / "p.tsv"
    path.write_text("patient_id\tage\tsex\tcomorbidities\nA1\t55\tF\tL ALND, drain in situ\n")
    sheet = read_patient_sheet(path)
    assert sheet.problems == []
    assert "operated_side_left" in sheet.patients.loc["A1", "comorbidities"].split(";")
    features = clinical_features(sheet.patients, dt.date(2026, 1, 5))
    assert features.loc["A1", "operated_side"] == "left"


def test_clinical_words_in_coded_and_boolean_columns(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("patient_id\tage\tsex\tfever\tneuropathy_grade\tlymphedema\n"
                    "A1\t55\tF\tafebrile\tgrade 2\tmild\n"
                    "A2\t55\tF\t38.6\tG1\tno\n"
                    "A3\t55\tF\t101.5 F\t7\tsevere\n")
    sheet = read_patient_sheet(path)
    rows = sheet.patients
    assert bool(rows.loc["A1", "fever"]) is False and rows.loc["A1", "neuropathy_grade"] == 2
    assert rows.loc["A1", "lymphedema"] == "present"
    assert rows.loc["A2", "temperature_c"] == 38.6  # a temperature in the fever column
    assert rows.loc["A3", "temperature_c"] == pytest.approx(38.61, abs=0.01)
    assert "neuropathy_grade" in rows.loc["A3", "sheet_rejected"]  # grade 7: rejected, kept
    assert list(rows.index) == ["A1", "A2", "A3"]


@pytest.mark.parametrize("text,days", [("q3w", 21), ("every 2 weeks", 14), ("weekly", 7),
                                       ("21 days", 21), ("3-weekly", 21), ("28", 28)])
def test_cycle_length_as_written(tmp_path, text, days):
    path = tmp_path / "p.tsv"
    path.write_text(f"patient_id\tage\tsex\tcycle_length_days\nA1\t55\tF\t{text}\n")
    assert read_patient_sheet(path).patients.loc["A1", "cycle_length_days"] == days


def test_a_batch_with_no_prescription_stops_with_the_reasons(tmp_path):
    from precex import exclusions
    from precex.problems import InputError

    roster = tmp_path / "roster.tsv"
    roster.write_text("patient_id\tstatus\tage\nA1\texcluded\t\nA2\texcluded\t\n")
    excl = tmp_path / "excl.tsv"
    excl.write_text("patient_id\tstage\treason\nA1\tsheet\tage not a number\n"
                    "A2\tsheet\tage below 18\n")
    rx = tmp_path / "rx.tsv"
    rx.write_text("patient_id\tstatus\n")
    with pytest.raises(InputError) as err:
        exclusions.run(inputs=exclusions.Inputs(parts=[str(excl)], roster=str(roster),
                                                prescriptions=str(rx)),
                       outputs=exclusions.Outputs(exclusions=str(tmp_path / "out.tsv")),
                       params=exclusions.Params(sheet=str(tmp_path / "patients.tsv")))
    text = str(err.value)
    assert "no patient of 2 could be prescribed" in text and "sheet 2" in text
    assert "A1 (sheet): age not a number" in text


@pytest.mark.parametrize("pid", ["cohort", "Cohort"])
def test_an_id_that_names_a_batch_output_is_excluded_with_the_reason(tmp_path, pid):
    path = tmp_path / "p.tsv"
    path.write_text(f"patient_id\tage\tsex\n{pid}\t55\tF\nP2\t60\tF\n")
    sheet = read_patient_sheet(path)
    assert list(sheet.patients.index) == ["P2"]
    (problem,) = [p for p in sheet.problems if p.patient_id == pid]
    assert problem.excludes and "batch report" in problem.message and problem.row == 1


def test_a_comma_separated_sheet_is_read_and_says_so(tmp_path):
    """A spreadsheet's CSV export: by its .csv name, or by a header of commas and no tab
    (said as a note); 'required column(s) missing: patient_id, age, sex' was all one saw
    (issue 42). The shard assignment reads it the same way."""
    from precex.sharding import raw_patient_ids

    rows = "patient_id,age,sex,subtype\nA1,55,F,TNBC\nA2,61,F,HER2+\n"
    named = tmp_path / "patients.csv"
    named.write_text(rows)
    sheet = read_patient_sheet(named)
    assert sheet.problems == [] and list(sheet.patients.index) == ["A1", "A2"]
    misnamed = tmp_path / "patients.tsv"
    misnamed.write_text(rows)
    sheet = read_patient_sheet(misnamed)
    assert list(sheet.patients.index) == ["A1", "A2"]
    assert [p.excludes for p in sheet.problems] == [False]
    assert "read as comma-separated" in sheet.problems[0].message
    assert raw_patient_ids(str(misnamed)) == raw_patient_ids(str(named)) == ["A1", "A2"]


def test_a_windows_1252_sheet_is_read_and_said_so(tmp_path):
    """Excel on Windows saves tab-delimited text in Windows-1252: an accent in a column that
    is dropped anyway refused the whole sheet (issue 42)."""
    path = tmp_path / "patients.tsv"
    path.write_bytes("patient_id\tage\tsex\tsubtype\tbone_metastases\tagents\tneuropathy_grade"
                     "\tcontact\nA1\t50\tF\tTNBC\tno\t\t0\tDr Müller, Zürich\n".encode("cp1252"))
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    sheet = read_patient_sheet(str(path))
    assert list(sheet.patients.index) == ["A1"]
    notes = [str(p) for p in sheet.problems]
    assert any("not UTF-8: read as Windows-1252" in n for n in notes)
    assert all(not p.excludes for p in sheet.problems)


def test_a_cell_that_opens_a_quote_it_never_closes_does_not_swallow_the_sheet(tmp_path):
    """'"knee pain, left' typed in a tab-separated sheet made every later row part of one
    cell, and the whole sheet unreadable (issue 39): it is read without quote handling and
    said so; a cell wholly in quotes is unquoted."""
    path = tmp_path / "patients.tsv"
    path.write_text("patient_id\tage\tsex\tsubtype\tbone_metastases\tagents\tneuropathy_grade"
                    "\tgoal\n"
                    'A1\t50\tF\tTNBC\tno\t\t0\t"walk my dog\n'
                    'A2\t60\tF\t"HR+/HER2-"\tno\t\t0\tgarden\n'
                    "A3\t55\tF\tTNBC\tno\t\t0\t\n")
    sheet = read_patient_sheet(str(path))
    assert list(sheet.patients.index) == ["A1", "A2", "A3"]
    assert sheet.patients.loc["A2", "subtype"] == "HR+/HER2-"
    assert any("opens a quote it never closes" in p.message for p in sheet.problems)
    assert all(not p.excludes for p in sheet.problems if "quote" in p.message)


def test_id_checks_name_every_other_row_and_scale_with_the_sheet(tmp_path):
    """The duplicate and case checks of a patient ID name the other rows (row numbers from 1)
    from an index of the sheet's IDs built once: the same messages as a scan of the column per
    row, which grew with the square of the rows (10,000 rows: 100 million comparisons)."""
    from precex.clinical.sheet import read_patient_sheet

    sheet = tmp_path / "sheet.tsv"
    sheet.write_text("patient_id\tage\tsex\nP1\t50\tF\np1\t51\tF\nP1\t52\tF\nP2\t53\tF\n"
                     "Q9\t54\tF\nq9\t55\tF\nQ9\t56\tF\nQ9\t57\tF\n", encoding="utf-8")
    read = read_patient_sheet(sheet)
    assert list(read.patients.index) == ["P2"]
    messages = {(p.row, p.message) for p in read.problems if p.excludes}
    assert (2, "patient_id 'p1' differs only in case from the ID in row(s) 1, 3: their files "
               "would be one file on macOS and Windows.") in messages
    assert (1, "patient_id 'P1' differs only in case from the ID in row(s) 2: their files "
               "would be one file on macOS and Windows.") in messages
    assert (3, "patient_id appears in rows 1, 3.") in messages
    assert (7, "patient_id appears in rows 5, 7, 8.") in messages
    assert (6, "patient_id 'q9' differs only in case from the ID in row(s) 5, 7, 8: their "
               "files would be one file on macOS and Windows.") in messages
