import datetime as dt

import numpy as np
import pandas as pd
import pytest
from precex.clinical.features import clinical_features


def sheet(**cols):
    base = {"sex": "F", "age": 60.0, "height_cm": 160.0, "weight_kg": 64.0, "grip_kg": 20.0,
            "chair_stand_s": 10.0, "appendicular_lean_mass_kg": 16.0, "gait_speed_m_s": 1.1,
            "fat_mass_pct": 35.0, "vo2peak_ml_kg_min": 25.0, "hr_max_measured": np.nan,
            "treatment_phase": "survivorship", "agents": "", "next_infusion_date": pd.NA,
            "lvef_pct": 60.0, "lvef_baseline_pct": 62.0}
    base.update(cols)
    return pd.DataFrame({k: [v] for k, v in base.items()}, index=pd.Index(["P"],
                                                                          name="patient_id"))


def test_bmi_and_tanaka():
    f = clinical_features(sheet(), dt.date(2026, 1, 5)).loc["P"]
    assert f["bmi_kg_m2"] == pytest.approx(25.0)
    assert f["bmi_category"] == "overweight"
    assert f["hr_max_bpm"] == 166  # 208 - 0.7 x 60
    assert "Tanaka" in f["hr_max_source"]
    measured = clinical_features(sheet(hr_max_measured=171.0), dt.date(2026, 1, 5)).loc["P"]
    assert measured["hr_max_bpm"] == 171 and measured["hr_max_source"] == "measured"


@pytest.mark.parametrize("cols,expected", [
    ({}, "none"),
    ({"grip_kg": 15.9}, "probable"),                     # EWGSOP2 women: grip < 16 kg
    ({"grip_kg": 16.0}, "none"),
    ({"chair_stand_s": 15.1}, "probable"),
    ({"grip_kg": 15.0, "appendicular_lean_mass_kg": 14.0}, "confirmed"),  # ALMI 5.47 < 5.5
    ({"grip_kg": 15.0, "appendicular_lean_mass_kg": 14.0, "gait_speed_m_s": 0.8}, "severe"),
])
def test_sarcopenia_cutoffs(cols, expected):
    assert clinical_features(sheet(**cols), dt.date(2026, 1, 5)).loc["P", "sarcopenia"] == \
        expected


@pytest.mark.parametrize("vo2,category", [(17.9, "functional_disability"), (18.0, "low"),
                                          (27.9, "moderate"), (28.0, "good")])
def test_fitness_category(vo2, category):
    f = clinical_features(sheet(vo2peak_ml_kg_min=vo2), dt.date(2026, 1, 5))
    assert f.loc["P", "fitness_category"] == category


def test_treatment_context():
    f = clinical_features(sheet(treatment_phase="adjuvant_chemo",
                                agents="anthracycline;taxane", next_infusion_date="2026-01-08",
                                lvef_pct=50.0), dt.date(2026, 1, 5)).loc["P"]
    assert bool(f["in_chemotherapy"]) and bool(f["cardiotoxic_exposure"])
    assert f["days_to_next_infusion"] == 3
    assert f["lvef_drop_points"] == 12
