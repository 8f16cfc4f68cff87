"""Every number a person reads equals the value it comes from (issue 28).

The patient report, the handout, the batch table and the FHIR text are rendered from a
prescription the engine makes for generated patients; each number shown is read back from
the page and compared with its source in the prescription JSON or the profile. A number is
right when it is its source rounded to the digits shown (half a unit of the last digit), so
"Age 6" for 60 or "7 bpm" for 70 fails however the digits are formatted.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re

import pandas as pd
import pytest
from builders import RB, REF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from precex.prescription.engine import EngineSettings, prescribe, summary_row
from precex.prescription.fhir import prescription_bundle
from precex.profile.safety_inputs import with_safety_inputs
from precex.reporting.cohort import patient_table
from precex.reporting.handout import render_handout
from precex.reporting.numbers import number, quantity
from precex.reporting.patient import environment, report_context

PROVENANCE = {"precex_version": "0.1.0", "config_digest": "a" * 64, "rulebase_digest": "b" * 64,
              "input_names": {"patients": ["patients.tsv"]}}
DOMAINS = {"haematology": {"category": "normal", "rule": "r", "grade": "G3",
                           "completeness": 0.75, "missing_inputs": [], "values": {}}}
NUMBER = r"-?[\d,]+(?:\.\d+)?"


def _value(low: float, high: float, integral: tuple[float, ...] = ()) -> st.SearchStrategy:
    """Floats, whole numbers written as floats (70.0: the 'Age 6' case), and ints."""
    return st.one_of(st.floats(low, high, allow_nan=False).map(lambda v: round(v, 3)),
                     st.integers(int(low), int(high)).map(float),
                     st.integers(int(low), int(high)), st.sampled_from(integral or (low,)))


PATIENTS = st.fixed_dictionaries({
    "age": _value(18, 99, (60.0, 70.0, 80.0, 90.0)),
    "sex": st.sampled_from(["F", "M"]),
    "resting_hr": _value(40, 110, (70.0, 60.0, 100.0)),
    "lvef_pct": _value(30, 75, (60.0, 50.0, 70.0)),
    "systolic_bp": _value(90, 190, (100.0, 120.0, 140.0)),
    "diastolic_bp": _value(50, 105, (60.0, 70.0, 80.0, 100.0)),
    "platelets_10e9_l": _value(8, 450, (100.0, 150.0, 20.0)),
    "hemoglobin_g_dl": _value(7.2, 16, (10.0, 12.0)),
    "neutrophils_10e9_l": _value(0.3, 9, (1.0, 2.0)),
    "vo2peak_ml_kg_min": _value(9, 45, (10.0, 20.0, 30.0)),
    "bmi_kg_m2": _value(16, 45, (20.0, 30.0)),
    "wear_days": st.integers(1, 28).map(float),
    "mvpa_min_per_week": _value(0, 600, (0.0, 100.0, 150.0, 300.0)),
    "steps_mean": _value(300, 25000, (1000.0, 10000.0, 20000.0)),
    "platelets_date": st.just("2026-01-02"), "hemoglobin_date": st.just("2026-01-02"),
    "neutrophils_date": st.just("2026-01-02"),
})


def make(row: dict) -> tuple[dict, dict]:
    """(profile, prescription) as the pipeline writes them for one patient."""
    row = {**row, "hr_max_bpm": round(208 - 0.7 * float(row["age"]))}
    frame = with_safety_inputs(pd.DataFrame([row], index=["P1"]))
    p = prescribe(frame, RB, EngineSettings(REF))[0]
    features = {k: v for k, v in frame.iloc[0].to_dict().items()
                if not (isinstance(v, float) and v != v)}
    features.update({k: row[k] for k in row})  # the profile keeps the values as given
    return {"patient_id": "P1", "domains": DOMAINS, "features": features}, p


def text_of(page: str, element_id: str) -> str:
    """The visible text of the element with this id (tags removed, entities decoded)."""
    start = page.index(f'id="{element_id}"')
    tag = page.rfind("<", 0, start)
    name = re.match(r"<(\w+)", page[tag:]).group(1)
    end = page.index(f"</{name}>", start)
    return htmllib.unescape(re.sub(r"<[^>]+>", "", page[page.index(">", start) + 1:end]))


def shown(text: str, label: str, unit: str = "") -> str:
    match = re.search(re.escape(label) + r"\s+(" + NUMBER + ")" + (
        r"\s*" + re.escape(unit) if unit else ""), text)
    assert match, f"{label!r} not shown in {text!r}"
    return match.group(1)


def assert_equals_source(display: str, source: float, what: str) -> None:
    """`display` is `source` rounded to the digits it shows (never a digit lost or added)."""
    digits = len(display.split(".")[1]) if "." in display else 0
    value = float(display.replace(",", ""))
    assert abs(value - float(source)) <= 0.5 * 10 ** -digits + 1e-9, (what, display, source)
    if float(source) == int(float(source)) and abs(float(source)) < 1e15:
        assert value == float(source), (what, display, source)  # 60 is 60, never 6


def report_page(profile: dict, p: dict) -> str:
    return environment().get_template("patient.html.j2").render(
        **report_context(profile, p, PROVENANCE))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PATIENTS)
def test_every_number_in_the_patient_report_equals_its_source(row):
    profile, p = make(row)
    page = report_page(profile, p)
    f, inputs = profile["features"], p["safety_inputs"]
    context = text_of(page, "patient-context")
    assert_equals_source(shown(context, "Age"), f["age"], "age")
    measured = text_of(page, "key-measurements")
    for label, unit, source in (
            ("Platelets", "x10^9/L", inputs["platelets"]["value"]),
            ("Haemoglobin", "g/dL", inputs["hemoglobin"]["value"]),
            ("Neutrophils", "x10^9/L", inputs["neutrophils"]["value"]),
            ("LVEF", "%", f["lvef_pct"]), ("Resting HR", "bpm", inputs["resting_hr"]["value"]),
            ("VO2peak", "mL/kg/min", f["vo2peak_ml_kg_min"]), ("BMI", "kg/m2", f["bmi_kg_m2"])):
        assert_equals_source(shown(measured, label, unit), source, label)
    bp = re.search(r"Blood pressure\s+(" + NUMBER + ")/(" + NUMBER + ") mmHg", measured)
    assert_equals_source(bp.group(1), f["systolic_bp"], "systolic")
    assert_equals_source(bp.group(2), f["diastolic_bp"], "diastolic")
    wear = re.search(r"(" + NUMBER + r") days worn, (" + NUMBER + r") min/week MVPA, ("
                     + NUMBER + ") steps/day", measured)
    for display, source in zip(wear.groups(), (f["wear_days"], f["mvpa_min_per_week"],
                                               f["steps_mean"]), strict=True):
        assert_equals_source(display, source, "wearable")
    check_this_week(page, p)
    check_schedule_and_progression(page, p)


def check_this_week(page: str, p: dict) -> None:
    tw = p["this_week"]
    if not tw:
        assert "No sessions this week." in text_of(page, "this-week-dose")
        return
    dose = text_of(page, "this-week-dose")
    if tw["aerobic"]:
        a = tw["aerobic"]
        m = re.search(r"Aerobic: (\d+) × (\d+) min, (\w+)", dose)
        assert (int(m.group(1)), int(m.group(2)), m.group(3)) == (
            a["sessions_per_week"], a["minutes_per_session"], a["intensity"])
        band = re.search(r"\((\d+)-(\d+) bpm\)", dose)
        if p["aerobic"]["intensity_guidance"] == "rpe":
            assert band is None  # guided by effort: no bpm target
        else:
            assert [int(band.group(1)), int(band.group(2))] == a["heart_rate_bpm"]
            assert a["heart_rate_bpm"][0] > p["aerobic"].get("resting_hr_bpm", 0)
    if tw["resistance"]:
        r = tw["resistance"]
        m = re.search(r"Resistance: (\d+) × (\d+) sets? of (\d+)-(\d+) reps", dose)
        assert [int(g) for g in m.groups()] == [r["sessions_per_week"], r["sets"], *r["reps"]]
    assert_equals_source(shown(dose, "Weekly dose", "MET-min"), tw["weekly_met_minutes"],
                         "weekly dose")
    assert text_of(page, "max-intensity") == tw["max_intensity"]


def check_schedule_and_progression(page: str, p: dict) -> None:
    schedule = page[page.index('id="schedule"'):page.index('id="progression"')]
    dates = re.findall(r'<span class="muted">(\d{4}-\d\d-\d\d)</span>', schedule)
    assert dates == [d["date"] for d in p["schedule"]]
    # Under "Weekly schedule (week N)" the dose tables give week N's dose first and label the
    # week-12 target as such (they showed the target alone below week 1's cards; issue 42).
    tw = p["this_week"] or {}
    if p["aerobic"]:
        shown_dose = text_of(page, "aerobic-dose")
        a, target = tw.get("aerobic"), p["aerobic"]
        now = (f"{a['sessions_per_week']}×/week, {a['minutes_per_session']} min, "
               f"{a['intensity']}" if a else "no sessions")
        assert f"week {tw['week']}: {now}" in shown_dose if tw else "target" not in shown_dose
        assert (f"{target['sessions_per_week']}×/week, {target['minutes_per_session']} min, "
                f"{target['intensity']}") in shown_dose.split("target by week 12:")[-1]
    if p["resistance"] and tw:
        r = tw.get("resistance")
        now = (f"{r['sessions_per_week']}×/week, {r['sets']} × {r['reps'][0]}-{r['reps'][1]}"
               f" reps, {r['intensity']}" if r else "no sessions")
        assert f"week {tw['week']}: {now}" in text_of(page, "resistance-dose")
    if p["resistance"]:
        load = re.search(r"(\d+)-(\d+)% 1RM, (\d+)-(\d+) reps in reserve", schedule)
        r = p["resistance"]
        assert [int(g) for g in load.groups()] == [*r["load_pct_1rm"], *r["reps_in_reserve"]]
    rows = re.findall(r"<tr><td>(\d+)(?:<div.*?</div>)?</td><td>(.*?)</td><td>(.*?)</td>"
                      r"<td>(.*?)</td></tr>", page[page.index('id="progression"'):])
    assert [int(r[0]) for r in rows] == [w["week"] for w in p["progression"]]
    for (_, aerobic, resistance, met), week in zip(rows, p["progression"], strict=True):
        assert_equals_source(met.replace(",", ""), week["weekly_met_minutes"], "MET-min")
        if week.get("aerobic"):
            a = week["aerobic"]
            assert aerobic == (f"{a['sessions_per_week']} &times; {a['minutes_per_session']} "
                               f"min {a['intensity']}")
        if week.get("resistance"):
            r = week["resistance"]
            sets = f"{r['sets']} set" + ("s" if r["sets"] != 1 else "")  # never "1 sets"
            assert resistance == (f"{sets} {r['reps'][0]}-{r['reps'][1]} reps "
                                  f"{r['intensity']} ({r['load_pct_1rm'][0]}-"
                                  f"{r['load_pct_1rm'][1]}% 1RM)")


@settings(max_examples=40, deadline=None)
@given(PATIENTS)
def test_every_number_in_the_handout_equals_its_source(row):
    _, p = make(row)
    p = {**p, "status": "prescribed", "signoff": {"state": "approved", "by": "dr.x"}}
    page = render_handout(p)
    days = [d for d in p["schedule"] if d["sessions"]]
    if not days:
        return
    table = text_of(page, "handout-sessions")
    for day in days:
        date = dt.date.fromisoformat(day["date"])
        assert f"{date.strftime('%a')} {date.day} {date.strftime('%b')}" in table
    minutes = sorted(int(m) for m in re.findall(r"(\d+) minutes", table))
    assert minutes == sorted(s["minutes"] for d in days for s in d["sessions"]
                             if s.get("minutes"))
    sets = re.findall(r"(\d+) sets? of each exercise(?:, (\d+) to (\d+) times each)?", table)
    resistance = [s for d in days for s in d["sessions"] if s.get("sets")]
    assert [int(s[0]) for s in sets] == [s["sets"] for s in resistance]
    reps = (p["this_week"].get("resistance") or {}).get("reps")
    assert all([int(s[1]), int(s[2])] == reps for s in sets)


@settings(max_examples=40, deadline=None)
@given(st.lists(PATIENTS, min_size=1, max_size=4))
def test_every_number_in_the_batch_table_equals_its_source(rows):
    made = [make(r) for r in rows]
    prescriptions = []
    for i, (_, p) in enumerate(made):
        p = {**p, "patient_id": f"P{i}"}
        prescriptions.append(p)
    summary = pd.DataFrame([summary_row(p) for p in prescriptions]).astype(str)
    completeness = [0.25 * (i % 5) for i in range(len(made))]
    profiles = pd.DataFrame({"domain_haematology_completeness": completeness},
                            index=[p["patient_id"] for p in prescriptions])
    table = {r["id"]: r for r in patient_table(profiles, summary, {}, set())}
    for p, share in zip(prescriptions, completeness, strict=True):
        row = table[p["patient_id"]]
        assert row["obtain"] == len(p["data_to_obtain"])
        assert row["issues"] == len(p["data_issues"])
        assert row["max_intensity"] == (p["this_week"] or {}).get("max_intensity", "none")
        assert_equals_source(str(row["complete"]), 100 * share, "completeness")
    # the batch summary counts what the table shows (issue 42: 'vigorous: 15' above a table
    # that never showed vigorous)
    from collections import Counter

    from precex.reporting.cohort import intensity_now

    assert Counter(intensity_now(summary)) == Counter(r["max_intensity"] for r in table.values())


@settings(max_examples=40, deadline=None)
@given(PATIENTS)
def test_every_number_in_the_fhir_text_equals_its_source(row):
    _, p = make(row)
    bundle = prescription_bundle(p)
    request = bundle["entry"][1]["resource"]
    check_fhir_week(request["patientInstruction"], p)
    text = bundle["entry"][0]["resource"]["description"]  # the CarePlan: the 12-week target
    if p["aerobic"]:
        a = p["aerobic"]
        m = re.search(r"Aerobic (\d+)x/week, (\d+) min, (\w+)", text)
        assert (int(m.group(1)), int(m.group(2)), m.group(3)) == (
            a["sessions_per_week"], a["minutes_per_session"], a["intensity"])
        band = re.search(r"HR (\d+)-(\d+) bpm", text)
        assert (band is None) == ("heart_rate_bpm" not in a)
        if band:
            assert [int(band.group(1)), int(band.group(2))] == a["heart_rate_bpm"]
    if p["resistance"]:
        r = p["resistance"]
        m = re.search(r"Resistance (\d+)x/week, (\d+) sets? of (\d+)-(\d+) reps at (\d+)-(\d+)% "
                      r"1RM", text)
        assert [int(g) for g in m.groups()] == [r["sessions_per_week"], r["sets"], r["reps_min"],
                                                r["reps_max"], *r["load_pct_1rm"]]


def check_fhir_week(text: str, p: dict) -> None:
    """The order's patientInstruction is this week's dose (and says to wait for clearance)."""
    week = p["this_week"] or {}
    assert ("Do not start until cleared" in text) == (p["status"] == "clearance_required")
    if p["status"] == "deferred":
        assert text.startswith("Do not exercise")
        return
    if week.get("aerobic"):
        a = week["aerobic"]
        m = re.search(r"aerobic (\d+)x/week, (\d+) min, (\w+)", text)
        assert (int(m.group(1)), int(m.group(2)), m.group(3)) == (
            a["sessions_per_week"], a["minutes_per_session"], a["intensity"])
        band = re.search(r"HR (\d+)-(\d+) bpm", text)
        assert (band is None) == ("heart_rate_bpm" not in a)
    if week.get("resistance"):
        r = week["resistance"]
        m = re.search(r"resistance (\d+)x/week, (\d+) sets? of (\d+)-(\d+) reps at (\d+)-"
                      r"(\d+)% 1RM", text)
        assert [int(g) for g in m.groups()] == [r["sessions_per_week"], r["sets"], *r["reps"],
                                                *r["load_pct_1rm"]]


@pytest.mark.parametrize("value,digits,expected", [
    (60, 0, "60"), (60.0, 0, "60"), (70.0, 0, "70"), (100.0, 0, "100"), (100.0, 1, "100.0"),
    (70.0, 1, "70.0"), (2.675, 2, "2.68"), (0.0, 2, "0.00"), (-0.04, 1, "0.0"), (12500.0, 0,
                                                                                 "12,500"),
    (None, 0, "-"), (float("nan"), 1, "-"), ("", 0, "-"), ("n/a", 0, "n/a"), (True, 0, "True"),
])
def test_the_formatter(value, digits, expected):
    assert number(value, digits) == expected


def test_trimmed_numbers_keep_the_zeros_of_whole_numbers():
    assert [number(v, 1, trim=True) for v in (60.0, 70.0, 100.0, 12.50, 13.0, 0.0)] == [
        "60", "70", "100", "12.5", "13", "0"]
    assert quantity(45.0, "%") == "45%" and quantity(70.0, "bpm") == "70 bpm"
    assert quantity(None, "bpm", missing="") == ""


def test_age_60_and_heart_rate_70_and_100_are_shown_as_such():
    """The reported case: a 60-year-old shown as 'Age 6', resting HR 70 as '7 bpm'."""
    for hr in (70.0, 100.0):
        profile, p = make({"age": 60.0, "sex": "F", "resting_hr": hr, "lvef_pct": 60.0,
                           "systolic_bp": 120.0, "diastolic_bp": 80.0, "wear_days": 20.0,
                           "mvpa_min_per_week": 100.0, "steps_mean": 10000.0})
        page = report_page(profile, p)
        assert "Age 60" in text_of(page, "patient-context")
        measured = text_of(page, "key-measurements")
        assert f"Resting HR {hr:.0f} bpm" in measured and "LVEF 60%" in measured
        assert "Blood pressure 120/80 mmHg" in measured
        assert "20 days worn, 100 min/week MVPA, 10,000 steps/day" in measured


@given(st.lists(st.one_of(st.integers(-10**6, 10**6), st.floats(-1e7, 1e7, allow_nan=False),
                          st.sampled_from([0.0, -0.0, 1, 1.0, True, "1,234.5", " 2.675 "])),
                max_size=20), st.integers(0, 3), st.booleans())
def test_formatting_a_number_again_gives_the_same_text(values, digits, trim):
    """Formatted numbers are cached per process (type, value, digits): whatever came before,
    a number shows as its uncached formatting does (1 and 1.0, 0.0 and -0.0 included)."""
    from precex.reporting.numbers import _formatted, as_number, number

    for value in values:
        shown = number(value, digits, trim=trim)
        numeric = as_number(value)
        if numeric is None:  # not a number (True): shown as text, never cached
            assert shown == str(value)
            continue
        assert shown == _formatted.__wrapped__(type(numeric), numeric, digits, trim, True, value)
