"""At, above and below every threshold of the real-world safety rules (issue 15)."""


import pandas as pd
import pytest
from builders import REF
from precex.paths import resource_path
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.rules import INTENSITIES, load_rulebase
from precex.rule_features import rule_features

RULEBASE = load_rulebase(str(resource_path("rules", "rulebase.yaml")), rule_features())
BASE = {"age": 55.0, "sex": "F", "treatment_phase": "survivorship", "stage": "II",
        "resting_hr": 68.0, "systolic_bp": 124.0, "diastolic_bp": 78.0, "lvef_pct": 62.0,
        "hr_max_bpm": 170.0, "fitness_category": "moderate", "bmi_kg_m2": 24.0,
        "bone_metastases": "none", "fever": False}


def one(**changes):
    return prescribe(pd.DataFrame([{**BASE, **changes}], index=["P"]), RULEBASE,
                     EngineSettings(REF))[0]


def fired(p, rule_id):
    return any(t["rule_id"] == rule_id and t["applied"] for t in p["trace"])


@pytest.mark.parametrize("hb,status", [(6.9, "deferred"), (7.0, "clearance_required"),
                                       (7.9, "clearance_required"), (8.0, "prescribed")])
def test_haemoglobin_7_and_8(hb, status):
    assert one(hemoglobin_g_dl=hb)["status"] == status


@pytest.mark.parametrize("glucose,fires", [(13.8, False), (13.9, False), (14.0, True)])
def test_hyperglycaemia_above_13_9(glucose, fires):
    p = one(glucose_mmol_l=glucose)
    assert fired(p, "SAFETY_HYPERGLYCAEMIA") is fires
    assert (p["status"] == "clearance_required") is fires


@pytest.mark.parametrize("hba1c,fires", [(8.9, False), (9.0, True)])
def test_hba1c_9(hba1c, fires):
    assert fired(one(hba1c_pct=hba1c), "SAFETY_DIABETES_CONTROL") is fires


@pytest.mark.parametrize("changes,fires", [
    ({"bmi_kg_m2": 18.4}, True), ({"bmi_kg_m2": 18.5}, False),
    ({"albumin_g_l": 34.9}, True), ({"albumin_g_l": 35.0}, False),
    ({"weight_loss_pct": 5.1}, True), ({"weight_loss_pct": 5.0}, False),
    ({"bmi_kg_m2": 19.9, "weight_loss_pct": 2.1}, True),
    ({"bmi_kg_m2": 20.0, "weight_loss_pct": 2.1}, False),
])
def test_cachexia(changes, fires):
    p = one(**changes)
    assert fired(p, "SAFETY_CACHEXIA") is fires
    if fires:  # severe nutritional deficiency is NCCN high risk: clearance first
        assert p["triage"] == "high" and p["status"] == "clearance_required"


@pytest.mark.parametrize("changes,fires", [
    ({"age": 80.0}, True), ({"age": 79.0}, False),
    ({"age": 70.0, "gait_speed_m_s": 0.8}, True), ({"age": 70.0, "gait_speed_m_s": 0.81}, False),
    ({"age": 69.0, "gait_speed_m_s": 0.5}, False),
    ({"age": 72.0, "chair_stand_s": 15.1}, True), ({"age": 72.0, "chair_stand_s": 15.0}, False),
    ({"age": 75.0, "comorbidities": "falls"}, True),
])
def test_frail_older_adults_get_balance_and_supervision(changes, fires):
    p = one(**changes)
    assert fired(p, "SAFETY_FRAIL_OLDER_ADULT") is fires
    assert (p["balance"] is not None) is fires


@pytest.mark.parametrize("changes,fires", [
    ({"resting_hr": 121.0}, True), ({"resting_hr": 120.0}, False),
    ({"resting_hr": 70.0, "resting_hr_recent_bpm": 121.0}, True),
    ({"resting_hr": 70.0, "resting_hr_recent_bpm": 120.0}, False),
])
def test_resting_hr_from_clinic_or_recent_wearable(changes, fires):
    p = one(**changes)
    assert fired(p, "SAFETY_RESTING_HR_HIGH") is fires
    if "resting_hr_recent_bpm" in changes and fires:
        assert p["safety_inputs"]["resting_hr"]["source"] == "wearable (last 3 days)"


@pytest.mark.parametrize("temp,status", [(37.9, "prescribed"), (38.0, "deferred")])
def test_temperature_38(temp, status):
    assert one(temperature_c=temp, fever=None)["status"] == status


def test_fever_flag_contradicted_by_temperature_keeps_the_fever():
    p = one(fever=False, temperature_c=38.4)
    assert p["status"] == "deferred" and p["safety_inputs"]["fever"]["state"] == "conflicting"


@pytest.mark.parametrize("age_days,stale", [(90.0, False), (91.0, True)])
def test_lvef_older_than_90_days_is_stale(age_days, stale):
    p = one(cardiotoxic_exposure=True, lvef_age_days=age_days)
    assert (p["safety_inputs"]["lvef"]["state"] == "stale") is stale
    assert fired(p, "SAFETY_LVEF_UNKNOWN_CARDIOTOXIC") is stale


@pytest.mark.parametrize("days,fires", [(55.0, True), (56.0, False)])
def test_recent_surgery_within_8_weeks(days, fires):
    p = one(days_since_surgery=days)
    assert fired(p, "SAFETY_RECENT_SURGERY") is fires
    assert ("upper_body_loading" in p["excluded"]) is fires


@pytest.mark.parametrize("rest,hr_max,band", [(70.0, 170.0, True), (80.0, 100.0, True),
                                              (81.0, 100.0, False)])
def test_heart_rate_reserve_of_at_least_20_bpm(rest, hr_max, band):
    p = one(resting_hr=rest, hr_max_bpm=hr_max)
    assert ("heart_rate_bpm" in p["aerobic"]) is band
    if band:
        assert p["aerobic"]["heart_rate_bpm"][0] > rest
    else:
        assert p["aerobic"]["intensity_guidance"] == "rpe"


@pytest.mark.parametrize("comorbidity", ["beta_blocker", "atrial_fibrillation", "pacemaker"])
def test_rate_altering_conditions_use_rpe_with_heart_rate_for_information(comorbidity):
    aer = one(comorbidities=comorbidity)["aerobic"]
    assert aer["intensity_guidance"] == "rpe" and "heart_rate_bpm" not in aer
    assert "heart_rate_info_bpm" in aer


def test_a_cap_lowering_a_modifier_keeps_the_base_weekly_volume():
    """MOD_ALREADY_ACTIVE_VIGOROUS sets 3 x 25 min vigorous; neutropenia caps it to moderate,
    which would leave 75 min/week, below the base 90: the base minutes come back."""
    fit = {"mvpa_min_per_week": 200.0, "fitness_category": "good", "in_chemotherapy": False}
    uncapped = one(**fit)
    assert uncapped["aerobic"]["intensity"] == "vigorous"
    capped = one(**fit, neutrophils_10e9_l=1.2)
    assert capped["aerobic"]["intensity"] == "moderate"
    assert capped["aerobic"]["minutes_per_week"] >= 90


@pytest.mark.parametrize("site,excluded", [
    ("bone_site_spine", {"spinal_loading", "overhead_pressing", "high_impact"}),
    ("bone_site_pelvis_femur", {"high_impact", "lower_body_loading"}),
    ("bone_site_upper_limb", {"upper_body_loading", "overhead_pressing"}),
    ("bone_site_ribs_sternum", {"upper_body_loading"}),
    ("bone_site_skull", {"high_impact"}),
])
def test_site_specific_bone_restrictions(site, excluded):
    p = one(**{site: True, "bone_metastasis_sites": "x", "bone_site_regions": site[10:],
               "bone_metastases": None})
    assert excluded <= set(p["excluded"])
    assert p["status"] == "clearance_required"  # sites imply metastases of unknown stability
    assert INTENSITIES.index(p["max_intensity"]) <= INTENSITIES.index("moderate")
    names = " ".join(e["name"].lower() for e in (p["resistance"] or {}).get("exercises", []))
    if "overhead_pressing" in excluded:
        assert "shoulder press" not in names and "squat" not in names
    if "upper_body_loading" in excluded:
        assert "chest press" not in names and "row" not in names


def test_past_infusion_without_cycle_asks_for_the_schedule():
    p = one(in_chemotherapy=True, infusion_schedule_unknown=True,
            platelets_10e9_l=200.0, hemoglobin_g_dl=12.0, neutrophils_10e9_l=3.0)
    assert any("infusion date" in d["item"] for d in p["data_to_obtain"])
    assert p["max_intensity"] == "moderate"


@pytest.mark.parametrize("changes,fires", [
    ({"systolic_bp": 160.0}, True), ({"systolic_bp": 159.0}, False),
    ({"diastolic_bp": 100.0}, True), ({"diastolic_bp": 99.0}, False),
])
def test_stage_2_blood_pressure_caps_vigorous(changes, fires):
    p = one(**changes)
    assert fired(p, "SAFETY_BP_STAGE2") is fires
    assert ("vigorous" in p["excluded"]) is fires or p["max_intensity"] != "vigorous"


@pytest.mark.parametrize("rest,fires", [(101.0, True), (100.0, False)])
def test_resting_hr_above_100(rest, fires):
    assert fired(one(resting_hr=rest, hr_max_bpm=190.0), "SAFETY_RESTING_HR_ABOVE_100") is fires


def test_an_empty_batch_or_shard_is_prescribed_as_nothing():
    """A shard whose patients were all excluded reaches the engine empty: no crash."""
    from precex.profile.safety_inputs import with_safety_inputs

    empty = pd.DataFrame(index=pd.Index([], name="patient_id"))
    assert prescribe(empty, RULEBASE, EngineSettings(REF)) == []
    assert len(with_safety_inputs(empty)) == 0
