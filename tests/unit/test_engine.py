"""Safety of the prescription engine: examples at every threshold and hypothesis properties."""


import numpy as np
import pandas as pd
import pytest
from builders import REF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from precex.paths import resource_path
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.plan import INTENSITY_TABLE
from precex.prescription.rules import INTENSITIES, load_rulebase
from precex.rule_features import rule_features

RULEBASE = load_rulebase(str(resource_path("rules", "rulebase.yaml")), rule_features())
BASELINE = {
    "age": 55.0, "sex": "F", "treatment_phase": "survivorship", "agents": "",
    "platelets_10e9_l": 250.0, "hemoglobin_g_dl": 13.0, "neutrophils_10e9_l": 4.0,
    "wbc_10e9_l": 6.5, "fever": False, "bone_metastases": "none", "lvef_pct": 62.0,
    "lvef_drop_points": 0.0, "systolic_bp": 125.0, "diastolic_bp": 80.0, "resting_hr": 70.0,
    "neuropathy_grade": 0.0, "lymphedema": "none", "fitness_category": "moderate",
    "in_chemotherapy": False, "cardiotoxic_exposure": False, "hr_max_bpm": 170.0,
    "crp_status": "low", "stage": "II",
}


def one(settings_=None, **changes):
    row = {**BASELINE, **changes}
    frame = pd.DataFrame([row], index=["P"])
    return prescribe(frame, RULEBASE, settings_ or EngineSettings(REF))[0]


def rank(level):
    return INTENSITIES.index(level)


def test_baseline_is_the_acsm_general_prescription():
    p = one()
    assert p["status"] == "prescribed" and p["triage"] == "low"
    assert p["aerobic"]["sessions_per_week"] == 3 and p["aerobic"]["minutes_per_session"] == 30
    assert p["aerobic"]["intensity"] == "moderate"
    assert p["resistance"]["sessions_per_week"] == 2 and p["resistance"]["sets"] == 2
    # Resting HR known: heart-rate reserve (Karvonen 40-59%), %HRmax kept for reference.
    assert p["aerobic"]["heart_rate_bpm"] == [round(70 + 100 * 0.40), round(70 + 100 * 0.59)]
    assert p["aerobic"]["heart_rate_max_pct_bpm"] == [round(170 * 0.64), round(170 * 0.76)]
    assert p["weekly_met_minutes"] == 3 * 30 * 4.0 + 2 * 30 * 3.5
    assert [w["week"] for w in p["progression"]] == list(range(1, 13))
    assert len(p["schedule"]) == 7


@pytest.mark.parametrize("value,fires", [(19.9, True), (20.0, False)])
def test_platelets_below_20(value, fires):
    p = one(platelets_10e9_l=value)
    assert (p["resistance"] is None and p["max_intensity"] == "light") is fires
    assert (p["status"] == "clearance_required") is fires


@pytest.mark.parametrize("value,fires", [(19.9, False), (20.0, True), (49.9, True),
                                         (50.0, False)])
def test_platelets_20_to_50(value, fires):
    p = one(platelets_10e9_l=value)
    fired = any(t["rule_id"] == "SAFETY_PLATELETS_20_50" for t in p["trace"])
    assert fired is fires
    if fires:
        assert p["resistance"] is None and rank(p["max_intensity"]) <= rank("moderate")
        assert {"resistance", "isometric_heavy"} <= set(p["excluded"])


@pytest.mark.parametrize("hb,rule", [(7.9, "SAFETY_HB_BELOW_8"), (8.0, "SAFETY_HB_BELOW_11"),
                                     (10.9, "SAFETY_HB_BELOW_11"), (11.0, None)])
def test_haemoglobin(hb, rule):
    fired = {t["rule_id"] for t in one(hemoglobin_g_dl=hb)["trace"]}
    assert {"SAFETY_HB_BELOW_8", "SAFETY_HB_BELOW_11"} & fired == ({rule} if rule else set())


@pytest.mark.parametrize("neut,wbc,public_ok", [(1.49, 6.0, False), (1.5, 6.0, True),
                                                (4.0, 1.99, False), (4.0, 2.0, True)])
def test_neutropenia_excludes_public_facilities(neut, wbc, public_ok):
    p = one(neutrophils_10e9_l=neut, wbc_10e9_l=wbc)
    assert ("public_facilities" not in p["excluded"]) is public_ok
    if not public_ok:
        assert "group_sessions" in p["excluded"]
        assert not any("pool" in m or "group" in m for m in p["aerobic"]["modes"])


def test_severe_neutropenia_requires_clearance():
    assert one(neutrophils_10e9_l=0.49)["status"] == "clearance_required"
    assert one(neutrophils_10e9_l=0.5)["status"] == "prescribed"


def test_fever_defers_everything():
    p = one(fever=True)
    assert p["status"] == "deferred" and p["max_intensity"] == "none"
    assert p["aerobic"] is None and p["resistance"] is None
    assert p["progression"] == [] and all(d["sessions"] == [] for d in p["schedule"])
    assert p["weekly_met_minutes"] == 0


# NCCN: bone metastases are high triage, and high triage means clearance before starting.
@pytest.mark.parametrize("status,clearance", [("unstable", True), ("stable", True)])
def test_bone_metastases(status, clearance):
    p = one(bone_metastases=status, stage="IV", treatment_phase="metastatic")
    assert {"high_impact", "spinal_loading"} <= set(p["excluded"])
    assert p["supervision"] in ("supervised", "clinical") and p["triage"] == "high"
    assert (p["status"] == "clearance_required") is clearance
    names = " ".join(e["name"] for e in p["resistance"]["exercises"])
    assert "squat" not in names.lower() and "deadlift" not in names.lower()
    assert "sit-up" not in names.lower()
    assert "jogging or running intervals" not in p["aerobic"]["modes"]


def test_metastatic_with_unknown_bone_status_needs_clearance():
    p = one(stage="IV", treatment_phase="metastatic", bone_metastases=None)
    assert p["status"] == "clearance_required" and "spinal_loading" in p["excluded"]


@pytest.mark.parametrize("lvef,drop,expected", [(39.9, 0, "clinical"), (40.0, 0, "supervised"),
                                                (49.9, 0, "supervised"), (50.0, 0, None),
                                                (55.0, 10, "supervised"), (55.0, 9.9, None)])
def test_cardiac_dysfunction(lvef, drop, expected):
    p = one(lvef_pct=lvef, lvef_drop_points=drop)
    if expected is None:
        assert p["supervision"] == "unsupervised"
    else:
        assert p["supervision"] == expected and p["triage"] == "high"
        assert rank(p["max_intensity"]) <= rank("moderate")


@pytest.mark.parametrize("changes", [{"systolic_bp": 201}, {"diastolic_bp": 111},
                                     {"resting_hr": 121}, {"resting_hr_mean_bpm": 121}])
def test_medical_review_thresholds(changes):
    assert one(**changes)["status"] == "clearance_required"


@pytest.mark.parametrize("changes", [{"systolic_bp": 200}, {"diastolic_bp": 110},
                                     {"resting_hr": 120}])
def test_at_the_threshold_no_review(changes):
    assert one(**changes)["status"] == "prescribed"


def test_neuropathy_swaps_weight_bearing_cardio_and_adds_balance():
    p = one(neuropathy_grade=2)
    assert "brisk walking" not in p["aerobic"]["modes"]
    assert "stationary cycling" in p["aerobic"]["modes"]
    assert p["balance"] is not None
    assert one(neuropathy_grade=1)["balance"] is None


def test_lymphedema_is_supervised_slow_resistance_not_a_contraindication():
    p = one(lymphedema="present")
    assert p["resistance"] is not None and p["supervision"] == "supervised"
    assert "PAL" in p["resistance"]["load_progression"]


@pytest.mark.parametrize("goal,aerobic_minutes,resistance", [
    ("fatigue", 90, (2, 12, 15)), ("physical_function", 120, (3, 8, 12)),
    ("hrqol", 90, (2, 8, 15)), ("general", 90, (2, 8, 15)), (None, 90, (2, 8, 15))])
def test_goal_variants_of_the_acsm_prescription(goal, aerobic_minutes, resistance):
    p = one(goal=goal)
    assert p["aerobic"]["minutes_per_week"] == aerobic_minutes
    r = p["resistance"]
    assert (r["sessions_per_week"], r["reps_min"], r["reps_max"]) == resistance


def test_phase_rules_take_precedence_over_goal_variants():
    p = one(goal="physical_function", in_chemotherapy=True, treatment_phase="adjuvant_chemo")
    assert p["goal"].startswith("Preserve fitness")
    assert any(t["rule_id"] == "BASE_GOAL_PHYSICAL_FUNCTION" and not t["applied"]
               for t in p["trace"])


def test_aromatase_inhibitor_arthralgia_uses_hope_dose():
    p = one(treatment_phase="endocrine", agents="aromatase_inhibitor", joint_pain_score=3)
    assert p["aerobic"]["minutes_per_week"] == 150
    assert one(treatment_phase="endocrine", agents="aromatase_inhibitor",
               joint_pain_score=2)["aerobic"]["minutes_per_week"] == 90


def test_chemotherapy_is_rpe_guided_and_keeps_hard_sessions_off_infusion_days():
    p = one(in_chemotherapy=True, treatment_phase="adjuvant_chemo", days_to_next_infusion=2)
    assert p["aerobic"]["intensity_guidance"] == "rpe"
    for day in p["schedule"][2:5]:
        assert "infusion" in day["note"]
        assert all(s["type"] != "resistance" for s in day["sessions"])
        assert all(s["intensity"] == "light" for s in day["sessions"])


def test_hypothesis_rules_only_annotate_unless_research_mode():
    plain = one(crp_status="high", shannon_percentile=10.0)
    research = one(EngineSettings(REF, research_mode=True), crp_status="high",
                   shannon_percentile=10.0)
    assert plain["resistance"]["sessions_per_week"] == 2
    assert plain["aerobic"]["sessions_per_week"] == 3
    assert {a["rule_id"] for a in plain["annotations"]} >= {"MOD_CRP_HIGH_COMBINED",
                                                            "MOD_MICROBIOME_LOW_DIVERSITY"}
    assert research["resistance"]["sessions_per_week"] == 3
    assert research["aerobic"]["sessions_per_week"] == 4
    assert research["engine"]["research_mode"] is True


def test_evidence_floor_gates_modifiers():
    active = {"mvpa_min_per_week": 200.0, "fitness_category": "good"}
    assert one(**active)["aerobic"]["intensity"] == "vigorous"  # G1 modifier applies at G2
    floor_g1 = one(EngineSettings(REF, evidence_floor="G1"), fitness_category="low")
    assert floor_g1["supervision"] == "unsupervised"  # the G2 supervision modifier is held
    assert one(fitness_category="low")["supervision"] == "supervised"


def test_caps_beat_modifiers():
    p = one(mvpa_min_per_week=200.0, fitness_category="good", platelets_10e9_l=30.0)
    assert p["aerobic"]["intensity"] == "moderate" and "vigorous" in p["excluded"]


def test_trace_records_inputs_grade_and_citation():
    p = one(platelets_10e9_l=15.0)
    entry = next(t for t in p["trace"] if t["rule_id"] == "SAFETY_PLATELETS_BELOW_20")
    assert entry["inputs"] == {"platelets_10e9_l": 15.0}
    assert entry["grade"] == "G3" and "PM R 2017" in entry["citation"] and entry["applied"]


# ---------------------------------------------------------------- properties
profiles = st.fixed_dictionaries({
    "age": st.floats(18, 95),
    "platelets_10e9_l": st.none() | st.floats(1, 600),
    "hemoglobin_g_dl": st.none() | st.floats(4, 18),
    "neutrophils_10e9_l": st.none() | st.floats(0, 12),
    "wbc_10e9_l": st.none() | st.floats(0.1, 20),
    "fever": st.none() | st.booleans(),
    "bone_metastases": st.none() | st.sampled_from(["none", "stable", "unstable", "unknown"]),
    "stage": st.sampled_from(["0", "I", "II", "III", "IV"]),
    "lvef_pct": st.none() | st.floats(15, 75),
    "lvef_drop_points": st.none() | st.floats(-5, 30),
    "systolic_bp": st.none() | st.floats(80, 240),
    "diastolic_bp": st.none() | st.floats(40, 140),
    "resting_hr": st.none() | st.floats(40, 160),
    "neuropathy_grade": st.none() | st.sampled_from([0, 1, 2, 3, 4]),
    "lymphedema": st.none() | st.sampled_from(["none", "at_risk", "present"]),
    "in_chemotherapy": st.booleans(),
    "cardiotoxic_exposure": st.booleans(),
    "treatment_phase": st.sampled_from(["pre_treatment", "adjuvant_chemo", "radiotherapy",
                                        "endocrine", "survivorship", "metastatic"]),
    "agents": st.sampled_from(["", "aromatase_inhibitor", "anthracycline;taxane"]),
    "joint_pain_score": st.none() | st.integers(0, 10),
    "fitness_category": st.sampled_from(["functional_disability", "low", "moderate", "good",
                                         "unknown"]),
    "sarcopenia": st.sampled_from(["none", "probable", "confirmed", "severe", "unknown"]),
    "metabolic_syndrome": st.none() | st.booleans(),
    "homa_ir": st.none() | st.floats(0.2, 10),
    "crp_status": st.sampled_from(["low", "average", "high", "provisional_high",
                                   "possible_acute"]),
    "mvpa_min_per_week": st.none() | st.floats(0, 600),
    "shannon_percentile": st.none() | st.floats(0, 100),
    "epigenetic_age_accel_years": st.none() | st.floats(-15, 15),
    "days_to_next_infusion": st.none() | st.integers(-3, 21),
    "hr_max_bpm": st.floats(110, 200),
})


def caps_triggered(f):
    """The caps a profile must respect, derived here independently of the rule base."""
    def num(key):
        v = f.get(key)
        return None if v is None else float(v)
    max_i, excluded, status = "vigorous", set(), "prescribed"
    plt, hb, neu, wbc = (num("platelets_10e9_l"), num("hemoglobin_g_dl"),
                         num("neutrophils_10e9_l"), num("wbc_10e9_l"))
    if f.get("fever"):
        return "none", excluded, "deferred"
    if hb is not None and hb < 7:  # contraindication in cytopenia tables
        return "none", excluded, "deferred"
    if plt is not None and plt < 20:
        max_i, status = "light", "clearance_required"
        excluded |= {"resistance", "high_impact", "isometric_heavy"}
    elif plt is not None and plt < 50:
        max_i = "moderate"
        excluded |= {"resistance", "isometric_heavy", "high_impact"}
    if hb is not None and hb < 8:
        max_i, status = "light", "clearance_required"
    if (neu is not None and neu < 1.5) or (wbc is not None and wbc < 2.0):
        excluded |= {"public_facilities", "group_sessions"}
        max_i = min(max_i, "moderate", key=INTENSITIES.index)
    if neu is not None and neu < 0.5:
        max_i, status = "light", "clearance_required"
    if f.get("bone_metastases") in ("stable", "unstable"):
        excluded |= {"high_impact", "spinal_loading"}
    if f.get("bone_metastases") in ("stable", "unstable", "unknown"):  # NCCN high triage
        status = "clearance_required"
    metastatic = f.get("stage") == "IV" or f.get("treatment_phase") == "metastatic"
    if f.get("bone_metastases") in ("unstable", "unknown") or (
            metastatic and f.get("bone_metastases") in (None, "unknown")):
        status = "clearance_required"
        max_i = min(max_i, "moderate", key=INTENSITIES.index)
        excluded |= {"high_impact", "spinal_loading", "vigorous"}
    lvef, drop = num("lvef_pct"), num("lvef_drop_points")
    if lvef is not None and lvef < 40:
        max_i, status = "light", "clearance_required"
    elif (lvef is not None and lvef < 50) or (drop is not None and drop >= 10):
        max_i = min(max_i, "moderate", key=INTENSITIES.index)
        if lvef is not None and lvef < 50:  # NCCN high triage: clearance first
            status = "clearance_required"
    if (num("systolic_bp") or 0) > 200 or (num("diastolic_bp") or 0) > 110 or \
            (num("resting_hr") or 0) > 120:
        max_i, status = "light", "clearance_required"
    if (num("neuropathy_grade") or 0) >= 2:
        excluded |= {"weight_bearing_cardio", "high_impact"}
    if f.get("crp_status") == "possible_acute":
        max_i, status = "light", "clearance_required"
    if f.get("in_chemotherapy") and None in (plt, hb, neu):
        max_i = min(max_i, "moderate", key=INTENSITIES.index)
    return max_i, excluded, status


STATUS_ORDER = ["prescribed", "clearance_required", "deferred"]


def check_respects_caps(f, p):
    max_i, excluded, status = caps_triggered(f)
    assert STATUS_ORDER.index(p["status"]) >= STATUS_ORDER.index(status)
    assert rank(p["max_intensity"]) <= rank(max_i)
    assert excluded <= set(p["excluded"])
    for part in ("aerobic", "resistance"):
        if p[part] is not None:
            assert rank(p[part]["intensity"]) <= rank(p["max_intensity"])
            assert p[part]["intensity"] != "vigorous" or "vigorous" not in p["excluded"]
    if "resistance" in p["excluded"]:
        assert p["resistance"] is None
    if p["aerobic"]:
        modes = p["aerobic"]["modes"]
        if "weight_bearing_cardio" in p["excluded"]:
            assert not {"brisk walking", "jogging or running intervals",
                        "group exercise class"} & set(modes)
        if "public_facilities" in p["excluded"] or "group_sessions" in p["excluded"]:
            assert not any("pool" in m or "group" in m for m in modes)
        if "high_impact" in p["excluded"]:
            assert "jogging or running intervals" not in modes
    if p["resistance"] and "spinal_loading" in p["excluded"]:
        names = " ".join(e["name"].lower() for e in p["resistance"]["exercises"])
        assert not any(w in names for w in ("squat", "deadlift", "sit-up"))
    if p["status"] == "deferred":
        assert p["aerobic"] is None and p["resistance"] is None and p["progression"] == []
        assert all(d["sessions"] == [] for d in p["schedule"]) and p["weekly_met_minutes"] == 0
    for week in p["progression"]:  # no week of the 12 exceeds the cap either
        for part in ("aerobic", "resistance"):
            if part in week:
                assert rank(week[part]["intensity"]) <= rank(p["max_intensity"])
                assert p[part] is not None
    for day in p["schedule"]:
        for s in day["sessions"]:
            assert rank(s["intensity"]) <= rank(p["max_intensity"])
            assert not (s["type"] == "resistance" and "resistance" in p["excluded"])


@pytest.mark.slow  # a long property-based search: CI runs it
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles, st.sampled_from(["G1", "G2", "G3", "H"]), st.booleans())
def test_no_prescription_exceeds_a_triggered_cap(f, floor, research):
    frame = pd.DataFrame([f], index=["P"])
    p = prescribe(frame, RULEBASE, EngineSettings(REF, floor, research))[0]
    check_respects_caps(f, p)


@pytest.mark.slow  # a long property-based search: CI runs it
@settings(max_examples=200, deadline=None)
@given(profiles, st.sampled_from(["G1", "G2", "G3", "H"]))
def test_hypothesis_rules_never_change_the_dose_without_research_mode(f, floor):
    """Removing every H-graded input feature leaves the dose unchanged when research is off."""
    frame = pd.DataFrame([f], index=["P"])
    neutral = {**f, "crp_status": "low", "shannon_percentile": None,
               "epigenetic_age_accel_years": None}
    base = prescribe(pd.DataFrame([neutral], index=["P"]), RULEBASE,
                     EngineSettings(REF, floor, False))[0]
    p = prescribe(frame, RULEBASE, EngineSettings(REF, floor, False))[0]
    if f["crp_status"] in ("low", "average", "high", "provisional_high"):
        for key in ("aerobic", "resistance", "weekly_met_minutes", "max_intensity"):
            assert p[key] == base[key]
    applied_h = [t for t in p["trace"] if t["grade"] == "H" and t["applied"]
                 and t["kind"] == "modifier"]
    assert applied_h == []


@pytest.mark.slow  # a long property-based search: CI runs it
@settings(max_examples=60, deadline=None)
@given(st.lists(profiles, min_size=2, max_size=12))
def test_batch_evaluation_equals_one_by_one(fs):
    frame = pd.DataFrame(fs, index=[f"P{i}" for i in range(len(fs))])
    batch = prescribe(frame, RULEBASE, EngineSettings(REF))
    single = [prescribe(frame.iloc[[i]], RULEBASE, EngineSettings(REF))[0]
              for i in range(len(fs))]
    assert batch == single


def test_intensity_table_is_ordered():
    for low, high in [("light", "moderate"), ("moderate", "vigorous")]:
        assert INTENSITY_TABLE[low]["pct_hr_max"][1] < INTENSITY_TABLE[high]["pct_hr_max"][0]
        assert INTENSITY_TABLE[low]["met"] < INTENSITY_TABLE[high]["met"]
    assert np.isfinite(INTENSITY_TABLE["vigorous"]["met"])
