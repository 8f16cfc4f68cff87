"""Weekly adaptation: each rule at its thresholds, bad input, and safety properties."""

import copy
import datetime as dt
import json

import pandas as pd
import pytest
from builders import RB, REF, prescription
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from precex.adaptation.engine import adapt
from precex.adaptation.features import adaptation_features, validate_days
from precex.adaptation.stage import (
    FOLLOWUP_KINDS,
    MergeInputs,
    MergeOutputs,
    MergeParams,
    ShardInputs,
    ShardOutputs,
    ShardParams,
    SplitInputs,
    SplitOutputs,
    SplitParams,
    adapt_one,
    merge_shards,
    run_shard,
    split_followup,
)
from precex.cli import main
from precex.config import load_yaml
from precex.paths import resource_path, schema_path
from precex.prescription.rules import INTENSITIES

SCHEMA = Draft202012Validator(load_yaml(schema_path("prescription.schema.yaml")))


def base_prescription(**changes):
    # 150 min a week of habitual activity: the vigorous option's 75 minutes (150 moderate-
    # equivalent) are not raised to a higher habitual volume (PLAN_HABITUAL_ACTIVITY).
    return prescription(**{"mvpa_min_per_week": 150.0, **changes})


def days(mvpa, start=1, **extra):
    """Daily rows from day `start` after REF; an extra column's list gives a value a day."""
    return pd.DataFrame([{"patient_id": "A", "date": (REF + dt.timedelta(days=start + i))
                          .isoformat(), "mvpa_min": m, "resting_hr": 60, "hrv_rmssd_ms": 30.0,
                          **{k: v[i] if isinstance(v, list) else v for k, v in extra.items()}}
                         for i, m in enumerate(mvpa)])


def run(prescription, wear, symptoms=None):
    issued = {"A": REF}
    wear, problems = validate_days(wear, "w.tsv", issued, "wearables")
    sym = None
    if symptoms is not None:
        sym, more = validate_days(symptoms, "s.tsv", issued, "symptoms")
        problems += more
    assert problems == []
    features = adaptation_features(prescription, wear, sym, "s.tsv")
    out = adapt(prescription, features, RB, max(wear["day"]))
    assert list(SCHEMA.iter_errors(out)) == []
    return out


def test_the_base_prescription_is_vigorous_and_weekly():
    p = base_prescription()
    assert p["aerobic"]["intensity"] == "vigorous" and p["aerobic"]["minutes_per_week"] == 75


@pytest.mark.parametrize("share,decision,week", [
    (0.80, "advance", 2),   # 80% of the week that was prescribed (week 1), not of week 12
    (0.79, "hold", 1),
    (0.50, "hold", 1),
    (0.49, "step_back", 1),
])
def test_adherence_thresholds(share, decision, week):
    p = base_prescription()
    first = p["this_week"]["aerobic"]
    weekly = first["sessions_per_week"] * first["minutes_per_session"]
    assert weekly < p["aerobic"]["minutes_per_week"]  # week 1 is lighter than the target
    out = run(p, days([share * weekly / 7] * 7))
    assert out["adaptation"]["decision"] == decision
    assert out["adaptation"]["current_week"] == week
    assert out["adaptation"]["features"]["aerobic_adherence_pct"] == pytest.approx(
        100 * share, abs=0.1)


def test_doing_week_ones_dose_advances_and_more_is_not_adherence_above_100():
    p = base_prescription()
    first = p["this_week"]["aerobic"]
    exact = run(p, days([first["sessions_per_week"] * first["minutes_per_session"] / 7] * 7))
    assert exact["adaptation"]["decision"] == "advance"
    more = run(p, days([2.53 * first["sessions_per_week"] * first["minutes_per_session"] / 7]
                       * 7))
    features = more["adaptation"]["features"]
    assert features["aerobic_adherence_pct"] == 100.0
    assert features["aerobic_minutes_pct_of_prescribed"] == pytest.approx(253, abs=0.1)


def test_a_light_week_never_counts_everyday_movement_as_exercise():
    """Light-activity minutes are everyday movement: 10 minutes of exercise in a week with
    hours of light activity is 10 minutes of exercise, and the plan does not advance."""
    p = base_prescription(fitness_category="functional_disability", mvpa_min_per_week=0.0)
    first = p["this_week"]["aerobic"]
    assert first["intensity"] == "light"
    weekly = first["sessions_per_week"] * first["minutes_per_session"]
    out = run(p, days([10.0] + [0.0] * 6, light_min=300))
    features = out["adaptation"]["features"]
    assert features["aerobic_adherence_pct"] == pytest.approx(100 * 10 / weekly, abs=0.1)
    assert features["adherence_source"] == "device MVPA minutes (above a light week's intensity)"
    assert out["adaptation"]["decision"] != "advance"
    # only light-activity minutes: nothing measures the sessions, so adherence is unknown
    only_light = run(p, days([0.0] * 7, light_min=300).drop(columns="mvpa_min"))
    features = only_light["adaptation"]["features"]
    assert features["aerobic_adherence_pct"] is None
    assert features["adherence_source"] == "unknown: no exercise minutes or session log recorded"
    assert only_light["adaptation"]["decision"] == "hold"
    assert any("ADAPT_ADHERENCE_UNKNOWN" in r for r in only_light["adaptation"]["reasons"])


def test_a_light_week_counts_its_logged_sessions():
    p = base_prescription(fitness_category="functional_disability", mvpa_min_per_week=0.0)
    first = p["this_week"]["aerobic"]
    sessions = [1, 0, 1, 0, 1, 0, 0][:7]
    out = run(p, days([0.0] * 7, light_min=300, logged_sessions=sessions))
    features = out["adaptation"]["features"]
    expected = 100 * sum(sessions) / first["sessions_per_week"]
    assert features["aerobic_adherence_pct"] == pytest.approx(min(100, expected), abs=0.1)
    assert features["adherence_source"] == "session log"


def test_two_worn_days_are_too_little_data_and_the_week_holds():
    p = base_prescription()
    first = p["this_week"]["aerobic"]
    daily = first["sessions_per_week"] * first["minutes_per_session"]  # a week's dose a day
    wear = days([daily] * 7, worn=["true", "true"] + ["false"] * 5)
    out = run(p, wear)
    features = out["adaptation"]["features"]
    assert features["valid_days"] == 2 and features["too_little_data"] is True
    assert features["aerobic_adherence_pct"] is None
    assert out["adaptation"]["decision"] == "hold"
    assert any("ADAPT_TOO_LITTLE_DATA" in r for r in out["adaptation"]["reasons"])
    assert any("Too little wearable data" in n for n in out["notes"])


def test_days_not_worn_count_as_no_exercise_never_as_an_average_day():
    p = base_prescription()
    first = p["this_week"]["aerobic"]
    weekly = first["sessions_per_week"] * first["minutes_per_session"]
    # 5 worn days with a fifth of the weekly dose each... and 2 days without wear minutes
    wear = days([weekly / 5] * 5 + [weekly] * 2, wear_min=[900] * 5 + [120] * 2)
    out = run(p, wear)
    features = out["adaptation"]["features"]
    assert features["valid_days"] == 5
    assert features["aerobic_minutes_pct_of_prescribed"] == pytest.approx(100, abs=0.1)


def test_a_resting_hr_rise_is_measured_against_the_devices_own_baseline():
    """Clinic pulse 91, the watch's own 28-day baseline 61: 76 bpm for 3 days is a 15 bpm
    rise with falling HRV, and the plan steps back (against the clinic pulse it was hidden)."""
    p = base_prescription(resting_hr=91.0, resting_hr_mean_bpm=61.0)
    wear = days([40] * 7)
    wear["resting_hr"] = [61, 60, 62, 61, 76, 77, 76]
    out = run(p, wear)
    features = out["adaptation"]["features"]
    assert features["resting_hr_baseline_bpm"] == 61.0
    assert features["resting_hr_baseline_source"] == \
        "device: 28-day mean before the prescription"
    assert features["resting_hr_rise_3d"] is True
    assert out["adaptation"]["decision"] == "step_back"


def test_advance_follows_the_capped_progression_plan():
    p = base_prescription()
    out = run(p, days([30] * 7))
    week2 = p["progression"][1]["aerobic"]
    assert out["this_week"]["week"] == 2
    assert out["this_week"]["aerobic"] == week2
    # the week-12 target stays the target: the FHIR Goal due at week 12 does not move
    assert out["aerobic"] == p["aerobic"] and out["target"] == p["target"]
    again = run(out, days([30] * 7, start=8))
    assert again["adaptation"]["week"] == 2 and again["adaptation"]["current_week"] == 3
    assert [h["current_week"] for h in again["adaptation_history"]] == [2, 3]


@pytest.mark.parametrize("fatigue,decision", [(6.9, "advance"), (7.0, "step_back")])
def test_fatigue_threshold(fatigue, decision):
    sym = days([0] * 7).drop(columns=["mvpa_min", "resting_hr", "hrv_rmssd_ms"]).assign(
        fatigue=fatigue, pain=0)
    assert run(base_prescription(), days([30] * 7), sym)["adaptation"]["decision"] == decision


@pytest.mark.parametrize("flag", ["fever", "new_bone_pain", "chest_pain", "dyspnoea"])
def test_red_flags_stop_progression_and_require_clearance(flag):
    sym = days([0] * 7).drop(columns=["mvpa_min", "resting_hr", "hrv_rmssd_ms"]).assign(
        **{flag: ["false"] * 6 + ["true"]})
    out = run(base_prescription(), days([40] * 7), sym)
    assert out["adaptation"]["decision"] == "stop" and out["status"] == "clearance_required"
    assert out["adaptation"]["current_week"] == 1
    assert any(t["rule_id"] == "ADAPT_RED_FLAG" for t in out["trace"])


@pytest.mark.parametrize("rise,decision", [(10, "advance"), (11, "step_back")])
def test_resting_hr_rise_for_three_days(rise, decision):
    wear = days([30] * 7)
    wear.loc[4:, "resting_hr"] = 60 + rise
    p = base_prescription()
    p["aerobic"]["resting_hr_bpm"] = 60
    assert run(p, wear)["adaptation"]["decision"] == decision


def test_hrv_suppression_swaps_todays_vigorous_session():
    wear = days([30] * 8)
    wear.loc[7, "hrv_rmssd_ms"] = 15.0
    out = run(base_prescription(), wear)
    today = out["schedule"][0]
    assert today["note"].startswith("HRV below")
    assert all(s["intensity"] != "vigorous" for s in today["sessions"])


def test_missed_weeks_step_resistance_back_two_weeks_each():
    p = base_prescription()
    p["adaptation"] = {"week": 3, "decision": "advance", "current_week": 6, "data_from":
                       "2025-12-01", "data_through": REF.isoformat(), "reasons": []}
    wear = days([0] * 14, start=1)  # two whole weeks without a session
    out = run(p, wear)
    assert out["adaptation"]["current_week"] == 5  # poor adherence steps back one week
    assert out["adaptation"]["resistance_week"] == 1  # 5 - 2 x 2, not below week 1
    assert out["this_week"]["resistance"] == p["progression"][0]["resistance"]
    assert out["this_week"]["aerobic"] == p["progression"][4]["aerobic"]


def test_clearance_required_does_not_advance():
    out = run(base_prescription(platelets_10e9_l=15.0), days([40] * 7))
    assert out["adaptation"]["decision"] == "hold" and out["status"] == "clearance_required"


@pytest.mark.parametrize("rows,message", [
    ([{"patient_id": "A", "date": "2026-01-05", "mvpa_min": 10}], "not after the prescription"),
    ([{"patient_id": "A", "date": "2026-01-06", "mvpa_min": 10}] * 2, "more than one row"),
    ([{"patient_id": "B", "date": "2026-01-06", "mvpa_min": 10}], "'B' has no prescription"),
    ([{"patient_id": "A", "date": "06/01/2026", "mvpa_min": 10}], "is not a date precex reads"),
    ([{"patient_id": "A", "date": "2026-01-06", "mvpa_min": "lots"}], "'lots' is not a number"),
])
def test_bad_follow_up_days_are_errors(tmp_path, rows, message, capsys):
    rx = tmp_path / "A.json"
    rx.write_text(json.dumps(base_prescription()))
    pd.DataFrame(rows).to_csv(tmp_path / "w.tsv", sep="\t", index=False)
    code = main(["adapt", "--prescription", str(rx), "--wearables", str(tmp_path / "w.tsv"),
                 "--out", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "w.tsv, row" in err and "Traceback" not in err
    assert not (tmp_path / "out.json").exists()


def test_an_empty_follow_up_table_validates_to_no_days():
    # Regression: an empty shard of the follow-up table (no rows for its patients).
    empty = pd.DataFrame(columns=["patient_id", "date", "mvpa_min"])
    wear, problems = validate_days(empty, "w.tsv", {"A": REF}, "wearables")
    assert problems == [] and len(wear) == 0 and {"patient_id", "day"} <= set(wear.columns)


def test_invalid_prescription_json_is_an_error(tmp_path, capsys):
    broken = base_prescription()
    del broken["status"]
    (tmp_path / "A.json").write_text(json.dumps(broken))
    days([30]).to_csv(tmp_path / "w.tsv", sep="\t", index=False)
    assert main(["adapt", "--prescription", str(tmp_path / "A.json"), "--wearables",
                 str(tmp_path / "w.tsv"), "--out", str(tmp_path / "o.json")]) == 1
    assert "'status' is a required property" in capsys.readouterr().err


def test_cli_writes_the_adapted_prescription(tmp_path, capsys):
    (tmp_path / "A.json").write_text(json.dumps(base_prescription()))
    days([30] * 7).to_csv(tmp_path / "w.tsv", sep="\t", index=False)
    out = adapt_one(str(tmp_path / "A.json"), str(tmp_path / "w.tsv"), None,
                    str(tmp_path / "A.week-1.json"), str(resource_path("rules",
                                                                       "rulebase.yaml")))
    assert json.loads((tmp_path / "A.week-1.json").read_text()) == out
    bundle = json.loads((tmp_path / "A.week-1.fhir.json").read_text())  # its own FHIR bundle
    assert bundle["entry"][0]["resource"]["id"] == "A-week-1-careplan"


def test_batch_split_by_shard_names_the_users_file_and_row(tmp_path):
    """The batch path: the follow-up table is split by shard once; a bad row of one patient
    excludes that patient (naming the user's file and row), the others are adapted."""
    shards = {"s1": ["A", "B"], "s2": ["C"]}
    for shard, ids in shards.items():
        (tmp_path / shard / "prescriptions").mkdir(parents=True)
        for pid in ids:
            rx = base_prescription()
            rx["patient_id"] = pid
            (tmp_path / shard / "prescriptions" / f"{pid}.json").write_text(json.dumps(rx))
    rows = [days([40] * 3).assign(patient_id=pid) for pid in "ABC"]
    table = pd.concat(rows, ignore_index=True)
    table.loc[4, "date"] = "2026-01-02"  # B's second day, row 5 of the user's file
    table.loc[len(table)] = {"patient_id": "Z", "date": "2026-01-07", "mvpa_min": 5,
                             "resting_hr": 60, "hrv_rmssd_ms": 30.0}
    user_file = tmp_path / "followup.tsv"
    table.to_csv(user_file, sep="\t", index=False)
    out = {what: {s: str(tmp_path / s / "followup" / f"week-1.{what}.tsv") for s in shards}
           for what in FOLLOWUP_KINDS}
    split_followup(inputs=SplitInputs(wearables=str(user_file)),
                   outputs=SplitOutputs(tables=[p for kind in out.values()
                                                for p in kind.values()],
                                        problems=str(tmp_path / "split_problems.tsv")),
                   params=SplitParams(shards=shards, reference_date=REF.isoformat(), weeks=1))
    split = pd.read_csv(tmp_path / "split_problems.tsv", sep="\t")
    assert split[["row", "column"]].values.tolist() == [[10, "patient_id"]]
    assert "'Z' is not in the patient sheet" in split["message"].iloc[0]
    parts = []
    for shard, ids in shards.items():
        summary = tmp_path / f"{shard}.summary.tsv"
        pd.DataFrame({"patient_id": ids}).to_csv(summary, sep="\t", index=False)
        names = [str(tmp_path / f"{shard}.{k}.tsv") for k in ("table", "excl", "problems")]
        run_shard(inputs=ShardInputs(
            summary=str(summary), profiles=str(tmp_path / shard / "profiles"),
            prescriptions=str(tmp_path / shard / "prescriptions"),
            followup_wearables=out["wearables"][shard], followup_symptoms=out["symptoms"][shard],
            patients=out["patients"][shard],
            rulebase=str(resource_path("rules", "rulebase.yaml")), provenance=""),
            outputs=ShardOutputs(adaptations=str(tmp_path / shard / "adaptations"),
                                 reports=str(tmp_path / shard / "adapted_reports"),
                                 table=names[0], exclusions=names[1], problems=names[2],
                                 handouts=str(tmp_path / shard / "adapted_handouts")),
            params=ShardParams(wearables_source=str(user_file)))
        parts.append(names)
    merged = [str(tmp_path / f"merged.{k}.tsv") for k in ("table", "excl", "problems")]
    merge_shards(inputs=MergeInputs(
        tables=[p[0] for p in parts],
        exclusions=[p[1] for p in parts],
        problems=[str(tmp_path / "split_problems.tsv")] + [p[2] for p in parts]),
        outputs=MergeOutputs(*merged), params=MergeParams())
    adapted = pd.read_csv(merged[0], sep="\t")
    assert adapted["patient_id"].tolist() == ["A", "C"]
    excluded = pd.read_csv(merged[1], sep="\t")
    assert excluded["patient_id"].tolist() == ["B"] and "not after" in excluded["reason"][0]
    problems = pd.read_csv(merged[2], sep="\t")
    assert problems["row"].tolist() == [5, 10]
    assert set(problems["file"]) == {user_file.name}
    written = [p.name for shard in shards for p in (tmp_path / shard / "adaptations").iterdir()]
    assert sorted(written) == ["A.week-1.fhir.json", "A.week-1.json", "C.week-1.fhir.json",
                               "C.week-1.json"]
    handouts = sorted(p.name for shard in shards if (tmp_path / shard / "adapted_handouts")
                      .exists() for p in (tmp_path / shard / "adapted_handouts").iterdir())
    assert handouts == ["A.week-1.html", "C.week-1.html"]  # each adapted week has its page


profiles = st.fixed_dictionaries({
    "platelets_10e9_l": st.none() | st.floats(5, 400),
    "neutropenic": st.booleans(),
    "bone_metastases": st.sampled_from([None, "stable", "unstable"]),
    "lvef_pct": st.none() | st.floats(30, 70),
    "neuropathy_grade": st.sampled_from([0, 2]),
    "fitness_category": st.sampled_from(["good", "low", "functional_disability"]),
})
weeks = st.lists(st.tuples(st.integers(0, 90), st.booleans(), st.integers(0, 10)),
                 min_size=1, max_size=21)


@pytest.mark.slow  # a long property-based search: CI runs it
# 60 examples (150 before the one engine): the weekly path's caps, coherence and monotonicity
# are also searched by tests/unit/test_one_engine.py's properties on the same engine.
@settings(max_examples=60, deadline=None)
@given(profiles, weeks, st.integers(1, 12))
def test_adaptation_never_exceeds_caps_or_progresses_after_a_red_flag(profile, data, start):
    neut = profile.pop("neutropenic")
    p = base_prescription(**profile, neutrophils_10e9_l=1.0 if neut else 4.0)
    p["adaptation"] = {"week": 1, "decision": "hold", "current_week": start,
                       "data_from": "2025-12-29", "data_through": REF.isoformat(),
                       "reasons": []}
    wear = days([m for m, _, _ in data])
    sym = wear[["patient_id", "date"]].assign(chest_pain=["true" if f else "false"
                                                         for _, f, _ in data],
                                              fatigue=[f for _, _, f in data])
    out = run(copy.deepcopy(p), wear, sym)
    rank = INTENSITIES.index
    assert rank(out["max_intensity"]) <= rank(p["max_intensity"])
    assert set(p["excluded"]) <= set(out["excluded"])
    for part in ("aerobic", "resistance"):
        if out[part]:
            assert rank(out[part]["intensity"]) <= rank(p["max_intensity"])
            assert p[part] is not None  # never adds an excluded component
    if "resistance" in out["excluded"]:
        assert out["resistance"] is None
    for day in out["schedule"]:
        for s in day["sessions"]:
            assert rank(s["intensity"]) <= rank(out["max_intensity"])
    if any(f for _, f, _ in data):
        assert out["adaptation"]["decision"] == "stop"
        assert out["adaptation"]["current_week"] <= start
        assert out["status"] == "clearance_required"
    statuses = ["prescribed", "clearance_required", "deferred"]
    assert statuses.index(out["status"]) >= statuses.index(p["status"])


def test_the_cycle_calendar_keeps_hard_sessions_off_infusion_days():
    p = base_prescription(in_chemotherapy=True, treatment_phase="adjuvant_chemo",
                          next_infusion_date="2026-01-08", cycle_length_days=21.0,
                          days_to_next_infusion=3.0)
    calendar = p["treatment_calendar"]
    assert {k: calendar[k] for k in ("next_infusion_date", "cycle_length_days")} == {
        "next_infusion_date": "2026-01-08", "cycle_length_days": 21}
    # data through 2026-01-25: the week starts 2026-01-26; next infusion 2026-01-29 (+21 d)
    out = run(p, days([30] * 20))
    days_ = {d["date"]: d for d in out["schedule"]}
    for day in ("2026-01-29", "2026-01-30", "2026-01-31"):
        assert "infusion" in days_[day]["note"]
        assert all(s["type"] != "resistance" for s in days_[day]["sessions"])


def test_a_stop_schedules_no_session_and_holds_the_order_naming_the_red_flag(tmp_path):
    from precex.adaptation.stage import adapted_bundle

    symptoms = pd.DataFrame({"patient_id": ["A"], "date": ["2026-01-07"], "fever": ["true"]})
    out = run(base_prescription(), days([30] * 7), symptoms)
    assert out["adaptation"]["decision"] == "stop" and out["status"] == "clearance_required"
    assert out["this_week"] is None
    assert all(d["sessions"] == [] for d in out["schedule"])
    bundle = adapted_bundle(out)
    # the exercise order is held while the red flag is reviewed, and says why
    assert bundle["entry"][0]["resource"]["status"] == "on-hold"
    request = bundle["entry"][1]["resource"]
    assert request["status"] == "on-hold"
    assert "fever on Wed 7 Jan" in request["patientInstruction"]  # as patients read dates
    assert out["adaptation"]["reasons"][0] == "red flag: fever on 2026-01-07"
    from precex.reporting.handout import render_handout

    page = render_handout(out, "020 7946 0000")
    urgent = page[page.index('id="handout-urgent"'):]
    assert "you reported fever on Wed 7 Jan" in urgent
    assert "<title>Your exercise plan - week 1 (weekly update 1)" in page
    assert "Call your oncology team today on 020 7946 0000" in urgent
    assert "shorter, easier session" not in page and 'id="handout-sessions"' not in page


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.lists(
    st.one_of(st.none(), st.floats(5, 200), st.sampled_from(["NA", ""])), min_size=0,
    max_size=14)), min_size=1, max_size=6))
def test_shard_hrv_readiness_equals_the_per_patient_computation(patients):
    """One call for the shard (issue 20) gives every patient the readiness the per-patient
    computation gives, whatever their days, gaps and missing readings."""
    from precex.adaptation.features import shard_hrv_readiness

    rows, issued = [], {}
    for n, (start, hrv) in enumerate(patients):
        pid = f"P{n}"
        issued[pid] = REF
        rows += [{"patient_id": pid, "date": (REF + dt.timedelta(days=start + i)).isoformat(),
                  "mvpa_min": 30, "resting_hr": 60, "hrv_rmssd_ms": value}
                 for i, value in enumerate(hrv)]
    if not rows:
        return
    wear, problems = validate_days(pd.DataFrame(rows), "w.tsv", issued, "wearables")
    assert problems == []
    shard = shard_hrv_readiness(wear)
    prescription = base_prescription()
    for pid in issued:
        mine = wear[wear["patient_id"] == pid]
        alone = adaptation_features({**prescription, "patient_id": pid}, mine)
        together = adaptation_features({**prescription, "patient_id": pid}, mine,
                                       readiness=shard)
        assert alone == together, pid


_maybe_number = st.one_of(st.none(), st.integers(0, 12),
                          st.floats(0, 200, allow_nan=False, allow_infinity=False))
_feature_values = st.fixed_dictionaries({
    "followup_days": st.one_of(st.none(), st.integers(0, 28)),
    "aerobic_adherence_pct": _maybe_number, "sessions_completed_per_week": _maybe_number,
    "weeks_missed": st.one_of(st.none(), st.integers(0, 4)),
    "hrv_readiness": st.sampled_from([None, "below", "within", "above"]),
    "resting_hr_rise_3d": st.one_of(st.none(), st.booleans()),
    **{f"symptom_{s}": st.one_of(st.none(), st.booleans())
       for s in ("fever", "new_bone_pain", "chest_pain", "dyspnoea")},
    "fatigue_mean": _maybe_number, "pain_mean": _maybe_number,
})


@settings(max_examples=150, deadline=None)
@given(st.lists(_feature_values, min_size=1, max_size=12))
def test_rules_fired_for_a_whole_shard_are_those_fired_patient_by_patient(shard):
    """The shard evaluates each adaptation rule once on all patients' features; every patient
    must fire exactly the rules a frame of their own features fires (the per-patient path,
    whose column types follow that one patient's values)."""
    from precex.adaptation.engine import fired_rules
    from precex.prescription.rules import evaluate

    features = {f"P{i}": f for i, f in enumerate(shard)}
    together = fired_rules(RB, features)
    for pid, own in features.items():
        alone = [r.id for r in RB.of_kind("adaptation")
                 if evaluate(r.when, pd.DataFrame([own], index=[pid]))[0]]
        assert [r.id for r in together[pid]] == alone


_cells = st.sampled_from(["30", "45.5", "0", "", "NA", "12", "abc", "60"])
_flags = st.sampled_from(["true", "no", "", "yes", "maybe", "False"])
_scores = st.sampled_from(["3", "8", "", "11", "x", "6.5"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), _cells, _cells, _flags, _scores),
                min_size=1, max_size=40), st.integers(2, 4))
def test_shard_features_are_each_patients_own(rows, n_patients):
    """One pass over a shard's tables gives each patient the features (or the first problem)
    that the same computation gives on that patient's rows alone: no patient's values (a
    decimal, a bad cell) change another's."""
    from precex.adaptation.features import shard_adaptation_features
    from precex.problems import InputError

    prescription = base_prescription()
    prescriptions = {f"P{i}": {**prescription, "patient_id": f"P{i}"}
                     for i in range(n_patients)}
    seen, wear_rows, sym_rows = set(), [], []
    for i, (day, mvpa, hr, flag, score) in enumerate(rows):
        pid = f"P{i % n_patients}"
        if (pid, day) in seen:
            continue
        seen.add((pid, day))
        date = (REF + dt.timedelta(days=day)).isoformat()
        wear_rows.append({"patient_id": pid, "date": date, "mvpa_min": mvpa, "resting_hr": hr,
                          "hrv_rmssd_ms": "30"})
        sym_rows.append({"patient_id": pid, "date": date, "fever": flag, "fatigue": score})
    issued = {pid: REF for pid in prescriptions}
    wear, _ = validate_days(pd.DataFrame(wear_rows, dtype=str), "w.tsv", issued, "wearables")
    sym, _ = validate_days(pd.DataFrame(sym_rows, dtype=str), "s.tsv", issued, "symptoms")
    together, failed = shard_adaptation_features(prescriptions, wear, sym, "s.tsv", "w.tsv")
    for pid, prescription in prescriptions.items():
        alone_wear = wear[wear["patient_id"] == pid]
        alone_sym = sym[sym["patient_id"] == pid]
        try:
            alone = adaptation_features(prescription, alone_wear, alone_sym, "s.tsv", "w.tsv")
        except InputError as err:
            assert pid not in together and failed[pid] == err.problems
        else:
            assert pid not in failed and together[pid] == alone
