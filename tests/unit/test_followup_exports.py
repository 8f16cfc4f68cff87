"""Follow-up tables as devices, ePRO systems and labs export them (issue 36): vendor headers,
date styles, extra columns, units, free text and missing days go through the same readers as
baseline data; every column precex does not read is a data issue."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from builders import RB, REF, patient_row, prescribe_rows
from precex.adaptation.blood_recheck import newest_counts, read_followup_counts
from precex.adaptation.engine import adapt
from precex.adaptation.features import adaptation_features, validate_days
from precex.adaptation.followup import (
    normalise_followup,
    red_flag_symptoms,
    red_flag_terms,
    symptom_vocabulary,
)
from precex.adaptation.stage import (
    FOLLOWUP_KINDS,
    SplitInputs,
    SplitOutputs,
    SplitParams,
    read_followup,
    split_followup,
)

ISSUED = {"A": REF}


def plan(**changes) -> dict:
    return prescribe_rows([patient_row(resting_hr=62.0, **changes)], ids=["A"])[0]


# A Garmin-Connect-like daily summary: its own headers, slash dates, an extra column.
GARMIN = """Patient ID,Date,Steps,Intensity Minutes,Resting Heart Rate,Floors Climbed
A,2026/01/06,8400,30,61,12
A,2026/01/07,7100,32,60,9
A,2026/01/08,,,,
A,2026/01/09,9020,35,62,14
A,2026/01/10,6500,31,61,3
A,2026/01/11,7800,30,60,8
A,2026/01/12,8800,34,61,10
"""


def test_a_device_export_is_read_with_its_headers_dates_and_a_missing_day(tmp_path):
    path = tmp_path / "garmin.csv"
    path.write_text(GARMIN)
    wear, sym, problems = read_followup(str(path), None, ISSUED)
    assert [p.column for p in problems] == ["Floors Climbed"]
    assert not problems[0].excludes and "not a follow-up wearables column" in problems[0].message
    features = adaptation_features(plan(), wear)
    # Intensity Minutes are the device's MVPA: counted (they were ignored: 0 % adherence)
    assert features["aerobic_adherence_pct"] == 100.0
    assert features["adherence_source"] == "device MVPA minutes"
    assert features["valid_days"] == 6  # the blank day was not worn


def test_an_epro_export_maps_its_symptoms_and_reads_comments(tmp_path):
    path = tmp_path / "epro.tsv"
    path.write_text("Participant ID\tSurvey Date\tShortness of breath\tCalf swelling or pain\t"
                    "Fatigue\tComments\tMood\n"
                    "A\t20260107\tNo\tNo\t3\tno chest pain, a good week\tgood\n"
                    "A\t20260109\tNo\tYes\t4\t\tok\n")
    wear = pd.DataFrame({"patient_id": ["A"], "date": ["2026-01-07"], "mvpa_min": [30],
                         "resting_hr": [60]})
    wear_path = tmp_path / "wear.tsv"
    wear.to_csv(wear_path, sep="\t", index=False)
    wear, sym, problems = read_followup(str(wear_path), str(path), ISSUED)
    assert [p.column for p in problems] == ["Mood"]
    features = adaptation_features(plan(), wear, sym, str(path))
    assert features["symptom_calf_swelling"] is True
    assert features["symptom_dyspnoea"] is False
    assert features["symptom_chest_pain"] is not True  # "no chest pain" is negated
    assert features["red_flags"] == "calf swelling on 2026-01-09"
    assert features["comments"] == "2026-01-07: no chest pain, a good week"


@pytest.mark.parametrize("comment,flag", [
    ("had chest pain on the stairs", "chest_pain"),
    ("Fainted in the kitchen on Tuesday", "syncope"),
    ("no fever, no chest pain", None),
    ("denies shortness of breath", None),
    ("no energy but now chest tightness", "chest_pain"),
])
def test_free_text_comments_are_searched_for_red_flags(comment, flag):
    assert red_flag_terms(comment) == ([flag] if flag else [])


def test_a_red_flag_in_a_comment_stops_the_week():
    sym = pd.DataFrame({"patient_id": ["A"], "date": ["2026-01-08"],
                        "comments": ["felt faint and then passed out after the walk"]})
    wear = pd.DataFrame({"patient_id": ["A"] * 7, "date": [
        (REF + dt.timedelta(days=d)).isoformat() for d in range(1, 8)], "mvpa_min": 30,
        "resting_hr": 60})
    wear, _ = validate_days(wear, "w.tsv", ISSUED, "wearables")
    sym, _ = validate_days(sym, "s.tsv", ISSUED, "symptoms")
    base = plan()
    features = adaptation_features(base, wear, sym, "s.tsv")
    assert features["red_flags"] == "syncope (in a comment) on 2026-01-08"
    week = adapt(base, features, RB, REF + dt.timedelta(days=7))
    assert week["adaptation"]["decision"] == "stop" and week["this_week"] is None


def test_a_temperature_in_fahrenheit_is_a_fever():
    sym = pd.DataFrame({"patient_id": ["A", "A"], "date": ["2026-01-07", "2026-01-08"],
                        "temperature_c": ["98.6", "101.3"]})
    sym, _ = validate_days(sym, "s.tsv", ISSUED, "symptoms")
    wear, _ = validate_days(pd.DataFrame({"patient_id": ["A"], "date": ["2026-01-07"],
                                          "mvpa_min": [30]}), "w.tsv", ISSUED, "wearables")
    features = adaptation_features(plan(), wear, sym, "s.tsv")
    assert features["temperature_max_c"] == 38.5
    assert features["symptom_fever"] is True
    assert features["red_flags"] == "fever (38.5 C) on 2026-01-08"


def test_every_red_flag_of_the_vocabulary_is_read_by_the_red_flag_rule():
    rule = next(r for r in RB.of_kind("adaptation") if r.id == "ADAPT_RED_FLAG")
    read = {c["feature"] for c in rule.when["any"]}
    assert {f"symptom_{name}" for name in red_flag_symptoms()} <= read
    assert {"calf_swelling", "seizure", "neurological", "syncope"} <= set(red_flag_symptoms())
    assert all(s.system and s.term for s in symptom_vocabulary().values()
               if s.kind in ("flag", "score"))


def test_a_lab_export_of_follow_up_values_is_read_like_the_baseline():
    """Neutrophils in % with the same day's WBC become an absolute count; month-first dates
    are read when the site says so; LVEF and a temperature are follow-up values too."""
    lab = pd.DataFrame({
        "MRN": ["A", "A", "A", "A"],
        "Test Name": ["WBC", "Neutrophils", "Ejection fraction", "Body temperature"],
        "Result": ["4.0", "50", "45", "37.1"],
        "Units": ["10^9/L", "%", "%", "Cel"],
        "Collection Date": ["01/09/2026"] * 4,
        "Ordering Provider": ["Dr X"] * 4})
    table, problems = normalise_followup(lab, "lab.csv", "blood", "MDY")
    assert [p.column for p in problems] == ["Ordering Provider"]
    rows, found = read_followup_counts(table, "lab.csv", ISSUED, "MDY")
    assert not [p for p in found if p.patient_id]
    counts = newest_counts(rows, "lab.csv")["A"]
    assert counts["neutrophils"]["value"] == 2.0 and counts["neutrophils"]["date"] == \
        "2026-01-09"
    assert counts["lvef"]["value"] == 45.0 and counts["temperature"]["value"] == 37.1
    week = adapt(plan(), {"followup_days": 0}, RB, REF + dt.timedelta(days=7), [], counts)
    assert "SAFETY_LVEF_REDUCED" in week["adaptation"]["safety_rules"]
    assert week["safety_inputs"]["lvef"]["value"] == 45.0
    assert week["safety_inputs"]["lvef"]["date"] == "2026-01-09"


def test_a_censored_follow_up_platelet_count_caps_the_week():
    """'<20' in a lab export: the count keeps its limit and sign from the file to the rule."""
    lab = pd.DataFrame({"patient_id": ["A"], "marker": ["PLT"], "value": ["<20"],
                        "unit": ["10*3/uL"], "date": ["2026-01-10"]})
    rows, _ = read_followup_counts(lab, "lab.tsv", ISSUED)
    counts = newest_counts(rows, "lab.tsv")["A"]
    assert counts["platelets"]["value"] == 20.0 and counts["platelets"]["censored"] == "<"
    week = adapt(plan(), {"followup_days": 0}, RB, REF + dt.timedelta(days=7), [], counts)
    assert "SAFETY_PLATELETS_BELOW_20" in week["adaptation"]["safety_rules"]


def test_a_fever_in_the_lab_table_defers_the_week():
    lab = pd.DataFrame({"patient_id": ["A"], "marker": ["temperature"], "value": ["101.5"],
                        "unit": ["[degF]"], "date": ["2026-01-10"]})
    rows, _ = read_followup_counts(lab, "vitals.tsv", ISSUED)
    counts = newest_counts(rows, "vitals.tsv")["A"]
    assert counts["temperature"]["value"] == pytest.approx(38.6, abs=0.05)
    week = adapt(plan(), {"followup_days": 0}, RB, REF + dt.timedelta(days=7), [], counts)
    assert week["status"] == "deferred" and week["this_week"] is None


def test_the_split_puts_a_slash_dated_row_in_its_own_week(tmp_path):
    source = tmp_path / "counts.csv"
    source.write_text("Patient ID,Test,Result,Unit,Date\nA,platelets,35,10^9/L,2026/01/30\n")
    wear = tmp_path / "wear.csv"
    wear.write_text("Patient ID,Date,Intensity Minutes,Resting HR\nA,2026/01/30,30,60\n")
    paths = [str(tmp_path / "s1" / "followup" / f"week-{w}.{k}.tsv")
             for w in (1, 2, 3, 4) for k in FOLLOWUP_KINDS]
    split_followup(inputs=SplitInputs(wearables=str(wear), blood=str(source)),
                   outputs=SplitOutputs(tables=paths, problems=str(tmp_path / "p.tsv")),
                   params=SplitParams(shards={"s1": ["A"]}, reference_date=REF.isoformat(),
                                      weeks=4))
    week4 = pd.read_csv(tmp_path / "s1" / "followup" / "week-4.blood.tsv", sep="\t", dtype=str)
    assert week4["date"].tolist() == ["2026-01-30"]  # 25 days after: week 4, not week 1
    assert pd.read_csv(tmp_path / "s1" / "followup" / "week-1.blood.tsv", sep="\t").empty
    wear4 = pd.read_csv(tmp_path / "s1" / "followup" / "week-4.wearables.tsv", sep="\t")
    assert "mvpa_min" in wear4.columns and "resting_hr" in wear4.columns
