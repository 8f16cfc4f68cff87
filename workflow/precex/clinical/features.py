"""Derived clinical features from the validated patient sheet (vectorised over patients).

Columns of results/clinical/features.tsv:
- bmi_kg_m2; bmi_category (WHO: underweight < 18.5, normal, overweight >= 25, obese >= 30);
- almi_kg_m2 (appendicular lean mass / height^2); sarcopenia: 'none', 'probable' (grip < 16 kg
  F / < 27 kg M, or 5 chair stands > 15 s), 'confirmed' (probable and ALMI < 5.5 F / < 7.0 M),
  'severe' (confirmed and gait speed <= 0.8 m/s) per EWGSOP2 (Cruz-Jentoft 2019);
- sarcopenic_obesity: sarcopenia at least probable and (fat mass >= 42% F / >= 30% M or BMI >= 30);
- fitness_category from VO2peak: 'functional_disability' (< 18 mL/kg/min, BREXIT, Foulkes 2020),
  'low' (< 22), 'moderate' (< 28), 'good';
- hr_max_bpm and hr_max_source: measured if given, else Tanaka 208 - 0.7 x age;
- in_chemotherapy, cardiotoxic_exposure (anthracycline or anti-HER2), days_to_next_infusion;
- lvef_drop_points: baseline LVEF - current LVEF.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

CHEMO_PHASES = ("neoadjuvant_chemo", "adjuvant_chemo")
CARDIOTOXIC_AGENTS = ("anthracycline", "trastuzumab", "pertuzumab")


def _has_agent(agents: pd.Series, names: tuple[str, ...]) -> pd.Series:
    parts = agents.fillna("").astype(str).str.split(";")
    return parts.map(lambda items: any(a in names for a in items)).astype(bool)


def clinical_features(sheet: pd.DataFrame, reference_date: dt.date) -> pd.DataFrame:
    s = sheet
    female = s["sex"].astype(str) == "F"
    out = pd.DataFrame(index=s.index)
    height_m = s["height_cm"] / 100
    # Rounded as BMI is reported (0.1 kg/m2), so 64 kg at 160 cm is 25.0, not 24.999999.
    out["bmi_kg_m2"] = (s["weight_kg"] / height_m**2).round(1)
    out["bmi_category"] = pd.cut(out["bmi_kg_m2"], [0, 18.5, 25, 30, np.inf], right=False,
                                 labels=["underweight", "normal", "overweight", "obese"]
                                 ).astype("string")
    out["almi_kg_m2"] = s["appendicular_lean_mass_kg"] / height_m**2
    grip_cut = np.where(female, 16.0, 27.0)
    almi_cut = np.where(female, 5.5, 7.0)
    probable = (s["grip_kg"] < grip_cut) | (s["chair_stand_s"] > 15)
    confirmed = probable & (out["almi_kg_m2"] < almi_cut)
    severe = confirmed & (s["gait_speed_m_s"] <= 0.8)
    assessed = s[["grip_kg", "chair_stand_s"]].notna().any(axis=1)
    out["sarcopenia"] = np.select([severe, confirmed, probable, assessed],
                                  ["severe", "confirmed", "probable", "none"], default="unknown")
    obese = (s["fat_mass_pct"] >= np.where(female, 42, 30)) | (out["bmi_kg_m2"] >= 30)
    out["sarcopenic_obesity"] = (probable & obese).where(assessed)
    vo2 = s["vo2peak_ml_kg_min"]
    out["fitness_category"] = np.select(
        [vo2.isna(), vo2 < 18, vo2 < 22, vo2 < 28],
        ["unknown", "functional_disability", "low", "moderate"], default="good")
    tanaka = 208 - 0.7 * s["age"]
    out["hr_max_bpm"] = s["hr_max_measured"].fillna(tanaka).round(0)
    out["hr_max_source"] = np.where(s["hr_max_measured"].notna(), "measured",
                                    "estimated (Tanaka 208 - 0.7 x age)")
    out["in_chemotherapy"] = s["treatment_phase"].isin(CHEMO_PHASES).fillna(False).astype(bool)
    out["cardiotoxic_exposure"] = _has_agent(s["agents"], CARDIOTOXIC_AGENTS)
    ref = pd.Timestamp(reference_date)
    nxt = pd.to_datetime(s["next_infusion_date"], format="%Y-%m-%d", errors="coerce")
    out["days_to_next_infusion"] = (nxt - ref).dt.days.astype("float64")
    out["lvef_drop_points"] = s["lvef_baseline_pct"] - s["lvef_pct"]
    return out.sort_index()
