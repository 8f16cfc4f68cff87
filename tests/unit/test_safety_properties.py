"""Safety properties on real-world data (hypothesis): worse data never relaxes a decision.

(a) monotonicity: making any one safety input worse never relaxes status, the intensity cap,
    the exclusions or supervision; (b) an unusable (rejected or stale) value is never less
    restrictive than a missing one, and it is always in the prescription; (c) every heart-rate
    floor is above resting HR; (d) the FHIR statuses agree with the prescription's.
"""

from __future__ import annotations

import pandas as pd
import pytest
from builders import REF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from precex.paths import resource_path
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.fhir import prescription_bundle
from precex.prescription.rules import INTENSITIES, STATUSES, SUPERVISION, load_rulebase
from precex.rule_features import rule_features

RULEBASE = load_rulebase(str(resource_path("rules", "rulebase.yaml")), rule_features())
SETTINGS = EngineSettings(REF)

profiles = st.fixed_dictionaries({
    "age": st.floats(18, 95),
    "sex": st.sampled_from(["F", "M"]),
    "stage": st.sampled_from(["I", "II", "III", "IV"]),
    "treatment_phase": st.sampled_from(["survivorship", "adjuvant_chemo", "endocrine",
                                        "metastatic", "radiotherapy"]),
    "platelets_10e9_l": st.none() | st.floats(5, 500),
    "hemoglobin_g_dl": st.none() | st.floats(5, 17),
    "neutrophils_10e9_l": st.none() | st.floats(0.1, 10),
    "wbc_10e9_l": st.none() | st.floats(0.5, 15),
    "lvef_pct": st.none() | st.floats(20, 75),
    "systolic_bp": st.none() | st.floats(90, 230),
    "diastolic_bp": st.none() | st.floats(50, 130),
    "resting_hr": st.none() | st.floats(45, 140),
    "bone_metastases": st.sampled_from(["", "none", "stable", "unknown", "unstable"]),
    "fever": st.sampled_from([False, None]),
    "in_chemotherapy": st.booleans(),
    "myelosuppressive_therapy": st.booleans(),
    "cardiotoxic_exposure": st.booleans(),
    "comorbidities": st.sampled_from(["", "hypertension", "osteoporosis", "insulin"]),
    "fitness_category": st.sampled_from(["low", "moderate", "good", "unknown"]),
    "mvpa_min_per_week": st.none() | st.floats(0, 400),
    "hr_max_bpm": st.floats(120, 200),
    "glucose_mmol_l": st.none() | st.floats(3, 20),
    "vo2peak_ml_kg_min": st.none() | st.floats(6, 50),
    "neuropathy_grade": st.sampled_from([None, 0, 1, 2, 3]),
    "bmd_t_score": st.none() | st.floats(-4, 2),
})


def worse(f: dict, which: str, amount: float) -> dict:
    """The same patient with one safety input made worse."""
    g = dict(f)
    lower = {"platelets": "platelets_10e9_l", "hemoglobin": "hemoglobin_g_dl",
             "neutrophils": "neutrophils_10e9_l", "wbc": "wbc_10e9_l", "lvef": "lvef_pct"}
    higher = {"systolic": "systolic_bp", "diastolic": "diastolic_bp", "resting_hr": "resting_hr",
              "glucose": "glucose_mmol_l"}
    if which in lower and g[lower[which]] is not None:
        g[lower[which]] = g[lower[which]] * (1 - amount)
    elif which in higher and g[higher[which]] is not None:
        g[higher[which]] = g[higher[which]] * (1 + amount)
    elif which == "bone":
        order = ["none", "stable", "unknown", "unstable"]
        if not g["bone_metastases"]:
            # a blank is "none" outside metastatic disease but "unknown" in it (the
            # conservative reading): only "unknown" or worse is worse than both
            g["bone_metastases"] = "unknown"
        else:
            current = g["bone_metastases"]
            g["bone_metastases"] = order[min(len(order) - 1, order.index(current) + 1)]
    elif which == "bone_site":
        g["bone_metastasis_sites"] = "T7"
        g["bone_site_spine"] = True
    elif which == "fever":
        g["fever"] = True
    elif which == "myelosuppressive":
        g["in_chemotherapy"] = g["myelosuppressive_therapy"] = True
    elif which == "cardiotoxic":
        g["cardiotoxic_exposure"] = True
    elif which == "surgery":
        g["comorbidities"] = ";".join(x for x in [g["comorbidities"], "surgical_drain"] if x)
    elif which == "vo2peak" and g["vo2peak_ml_kg_min"] is not None:
        g["vo2peak_ml_kg_min"] = g["vo2peak_ml_kg_min"] * (1 - amount)
    elif which == "neuropathy":
        g["neuropathy_grade"] = min(4, (g["neuropathy_grade"] or 0) + 1)
    elif which == "t_score":
        g["bmd_t_score"] = (g["bmd_t_score"] if g["bmd_t_score"] is not None else 0) - 3 * amount
    elif which == "fragility":
        g["comorbidities"] = ";".join(x for x in [g["comorbidities"], "fragility_fracture"]
                                      if x)
    elif which == "thoracic":
        g["bone_metastasis_sites"] = "T8"
        g["bone_site_spine"] = g["bone_site_thoracic_spine"] = True
    elif which == "older":
        g["age"] = min(100.0, g["age"] + 30 * amount)
    elif which.startswith("code:"):  # a condition, device or medicine that now counts
        g["comorbidities"] = ";".join(x for x in [g["comorbidities"], which[5:]] if x)
    elif which == "bone_at_risk":  # Mirels 9 written beside the site
        g["bone_metastasis_sites"] = "left femur, Mirels 9"
        g["bone_site_pelvis_femur"] = True
        g["bone_site_at_risk"] = "Mirels score 9"
    elif which == "agent_unread":
        g["agents_unrecognised"] = "zorbitinib"
    return g


def one(f: dict) -> dict:
    return prescribe(pd.DataFrame([f], index=["P"]), RULEBASE, SETTINGS)[0]


def at_least_as_restrictive(a: dict, b: dict) -> None:
    """a is at least as restrictive as b on every safety axis."""
    assert STATUSES.index(a["status"]) >= STATUSES.index(b["status"])
    assert INTENSITIES.index(a["max_intensity"]) <= INTENSITIES.index(b["max_intensity"])
    assert set(b["excluded"]) <= set(a["excluded"]) or a["status"] == "deferred"
    assert SUPERVISION.index(a["supervision"]) >= SUPERVISION.index(b["supervision"]) or \
        a["status"] == "deferred"


INPUTS = ["platelets", "hemoglobin", "neutrophils", "wbc", "lvef", "systolic", "diastolic",
          "resting_hr", "glucose", "bone", "bone_site", "fever", "myelosuppressive",
          "cardiotoxic", "surgery", "vo2peak", "neuropathy", "t_score", "fragility", "thoracic",
          "older", "bone_at_risk", "agent_unread"] + [
    f"code:{c}" for c in ("pregnancy", "seizure", "brain_metastases", "central_line",
                          "radiation_skin_reaction", "abdominal_surgery", "sulfonylurea",
                          "rate_control", "atrial_fibrillation", "venous_thromboembolism",
                          "anticoagulation", "lymphoedema")]


@pytest.mark.slow  # a long property-based search: CI runs it
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles, st.sampled_from(INPUTS), st.floats(0.05, 0.9))
def test_worse_safety_data_never_relaxes_the_decision(f, which, amount):
    at_least_as_restrictive(one(worse(f, which, amount)), one(f))


@pytest.mark.slow  # a long property-based search: CI runs it
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles, st.sampled_from(["platelets", "hemoglobin", "neutrophils", "wbc"]),
       st.sampled_from(["rejected", "stale"]))
def test_an_unusable_value_is_never_less_restrictive_than_a_missing_one(f, marker, state):
    column = {"platelets": "platelets_10e9_l", "hemoglobin": "hemoglobin_g_dl",
              "neutrophils": "neutrophils_10e9_l", "wbc": "wbc_10e9_l"}[marker]
    missing = {**f, column: None}
    unusable = {**missing, f"{marker}_state": state,
                "blood_data_issues": f"{marker}: {state} value"}
    p = one(unusable)
    at_least_as_restrictive(p, one(missing))
    assert p["safety_inputs"][marker]["state"] == state  # always visible
    assert any(state in t for t in p["data_issues"])


@pytest.mark.slow  # a long property-based search: CI runs it
@settings(max_examples=150, deadline=None)
@given(profiles, st.booleans())
def test_heart_rate_floor_is_above_rest_and_fhir_status_agrees(f, beta_blocked):
    if beta_blocked:
        f = {**f, "comorbidities": "beta_blocker"}
    p = one(f)
    aer = p["aerobic"]
    if aer is not None:
        rest = aer.get("resting_hr_bpm")
        if "heart_rate_bpm" in aer and rest is not None:
            assert aer["heart_rate_bpm"][0] > rest
        if beta_blocked:
            assert "heart_rate_bpm" not in aer and aer["intensity_guidance"] == "rpe"
    bundle = prescription_bundle(p)
    # unsigned (no clinician has signed it): a prescribed plan is a draft too
    expected = {"prescribed": "draft", "clearance_required": "draft",
                "deferred": "on-hold"}[p["status"]]
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["id"].endswith("-clearance"):  # unsigned: the clearance order is a draft
            assert p["status"] != "prescribed" and resource["status"] == "draft"
        elif resource["resourceType"] in ("CarePlan", "ServiceRequest"):
            assert resource["status"] == expected
    if p["triage"] == "high":
        assert p["status"] != "prescribed"
    if p["status"] != "prescribed":  # coherent: never "clearance required" beside low risk
        assert p["triage"] != "low" and p["supervision"] != "unsupervised"


def test_a_blank_bone_status_in_metastatic_disease_is_read_as_unknown_not_none():
    """Found by the property above: a blank bone status in metastatic disease caps like
    'unknown' (moderate), so it is never read as normal; a measured 'stable' may then allow
    more, which is better data, not worse."""
    base = {"age": 60.0, "sex": "F", "stage": "IV", "treatment_phase": "metastatic",
            "fever": False, "hr_max_bpm": 160.0, "fitness_category": "good"}
    blank, unknown = one({**base, "bone_metastases": ""}), one({**base,
                                                                 "bone_metastases": "unknown"})
    assert blank["max_intensity"] == unknown["max_intensity"] != "vigorous"
    assert any(t["rule_id"] == "SAFETY_BONE_STATUS_UNKNOWN_METASTATIC" and t["applied"]
               for t in blank["trace"])
