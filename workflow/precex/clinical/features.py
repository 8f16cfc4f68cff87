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
- treatment context from every source (resources/clinical/agents.tsv): agent_classes,
  cytotoxic_agent, myelosuppressive_agent, cardiotoxic_exposure, neurotoxic_agent,
  hyperglycaemic_agent; in_chemotherapy (a chemotherapy phase, or a cytotoxic agent in any phase
  but survivorship/endocrine, or an upcoming infusion of unknown or cytotoxic agents);
  myelosuppressive_therapy (in chemotherapy or on a myelosuppressive agent outside survivorship);
- infusions: a past next_infusion_date is rolled forward by cycle_length_days
  (days_to_next_infusion, days_since_last_infusion, infusion_dates_12w over the 12-week plan);
  a past date without a cycle length sets infusion_schedule_unknown;
- bone sites (resources/clinical/bone_sites.tsv): bone_site_regions and bone_site_<region> flags;
- lvef_drop_points: baseline LVEF - current LVEF; lvef_age_days from lvef_date.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from precex.clinical.vocabulary import (
    AGENT_FLAGS,
    agent_table,
    bone_lesion_at_risk,
    bone_site_table,
    code_agents,
    code_bone_sites,
    code_comorbidities,
)
from precex.config import load_yaml
from precex.io.dates import iso_days
from precex.paths import resource_path, threshold

CHEMO_PHASES = ("neoadjuvant_chemo", "adjuvant_chemo")
# Phases that say systemic chemotherapy is over: listed agents there are history.
COMPLETED_PHASES = ("survivorship", "endocrine")
# The plan's days (resources/prescription/progression.yaml: its weeks).
PLAN_DAYS = 7 * int(load_yaml(resource_path("prescription", "progression.yaml"))["weeks"])


def agent_flags(agents: pd.Series) -> pd.DataFrame:
    """Per patient: agent classes and the safety properties of any listed agent."""
    table = agent_table()
    flags_of = {code: {flag: bool(v) for flag, v in values.items()}
                for code, values in table[list(AGENT_FLAGS)].to_dict("index").items()}
    class_of = table["agent_class"].to_dict()
    # Agents given by infusion have a schedule to ask for; oral ones (capecitabine) do not.
    infused = set(table.index[table["route"].eq("iv")])
    by_text: dict[str, dict] = {}  # agent lists repeat across a batch: each read once
    rows = []
    for text in agents.fillna("").astype(str):
        if text not in by_text:
            codes = [c for c in code_agents(text).codes if c in flags_of]
            row = {f"{flag}_agent": any(flags_of[c][flag] for c in codes)
                   for flag in AGENT_FLAGS}
            row["infused_cytotoxic_agent"] = any(flags_of[c]["cytotoxic"] and c in infused
                                                 for c in codes)
            row["agent_classes"] = ";".join(sorted({class_of[c] for c in codes}))
            row["agents_known"] = bool(codes)
            by_text[text] = row
        rows.append(by_text[text])
    flag_columns = [f"{flag}_agent" for flag in AGENT_FLAGS] + ["agents_known",
                                                                "infused_cytotoxic_agent"]
    # Explicit columns and dtypes so an empty sheet (all patients excluded) still has them.
    flags = pd.DataFrame(rows, index=agents.index, columns=[*flag_columns, "agent_classes"])
    return flags.astype(dict.fromkeys(flag_columns, bool))


def infusion_calendar(next_date: pd.Series, cycle: pd.Series, reference_date: dt.date
                      ) -> pd.DataFrame:
    """Next infusion rolled forward by whole cycles; the infusions of the 12-week plan."""
    ref = pd.Timestamp(reference_date)
    nxt = iso_days(next_date)
    cyc = pd.to_numeric(cycle, errors="coerce")
    behind = (ref - nxt).dt.days
    steps = np.ceil(behind.clip(lower=0) / cyc).where(behind > 0, 0)
    rolled = nxt + pd.to_timedelta((steps * cyc).fillna(0), unit="D")
    unknown = nxt.notna() & (nxt < ref) & cyc.isna()
    rolled = rolled.where(~unknown)
    out = pd.DataFrame(index=next_date.index)
    out["days_to_next_infusion"] = (rolled - ref).dt.days.astype("float64")
    since = (ref - (rolled - pd.to_timedelta(cyc, unit="D"))).dt.days
    out["days_since_last_infusion"] = since.where(since.between(0, 365)).astype("float64")
    last = (rolled - pd.to_timedelta(cyc, unit="D")).where(since.between(0, 365))
    out["last_infusion_date"] = last.dt.strftime("%Y-%m-%d").fillna("").astype(object)
    out["infusion_schedule_unknown"] = unknown.astype(bool)
    dates = []
    for first, days in zip(rolled, cyc, strict=True):
        if pd.isna(first):
            dates.append("")
            continue
        step = int(days) if not pd.isna(days) else PLAN_DAYS
        dates.append(";".join(d.date().isoformat() for d in pd.date_range(
            first, ref + pd.Timedelta(days=PLAN_DAYS - 1), freq=f"{step}D")))
    out["infusion_dates_12w"] = dates
    return out


def bone_site_flags(sites: pd.Series) -> pd.DataFrame:
    regions = list(bone_site_table().index)
    coded = [code_bone_sites(t) for t in sites.fillna("").astype(str)]
    out = pd.DataFrame({f"bone_site_{r}": [r in c.codes for c in coded] for r in regions},
                       index=sites.index)
    out["bone_site_regions"] = [";".join(c.codes) for c in coded]
    out["bone_sites_unrecognised"] = ["; ".join(c.unrecognised) for c in coded]
    # A site no vocabulary reads could be any bone: every site's restrictions apply until a
    # clinician names it (the cautious reading; the data issue says so).
    unread = out["bone_sites_unrecognised"].ne("")
    out["bone_site_widespread"] = out["bone_site_widespread"] | unread
    out["bone_site_at_risk"] = [bone_lesion_at_risk(t) for t in sites.fillna("").astype(str)]
    return out


def _column(sheet: pd.DataFrame, name: str) -> pd.Series:
    if name in sheet.columns:
        return sheet[name]
    return pd.Series(pd.NA, index=sheet.index, dtype="object")


def clinical_features(sheet: pd.DataFrame, reference_date: dt.date) -> pd.DataFrame:
    s = sheet
    female = s["sex"].astype(str) == "F"
    out = pd.DataFrame(index=s.index)
    height_m = s["height_cm"] / 100
    # Rounded as BMI is reported (0.1 kg/m2), so 64 kg at 160 cm is 25.0, not 24.999999.
    out["bmi_kg_m2"] = (s["weight_kg"] / height_m**2).round(1)
    out["bmi_category"] = pd.cut(out["bmi_kg_m2"], [0, threshold("bmi_underweight_below"),
                                                    threshold("bmi_overweight_from"),
                                                    threshold("bmi_obese_from"), np.inf],
                                 right=False,
                                 labels=["underweight", "normal", "overweight", "obese"]
                                 ).astype("string")
    out["almi_kg_m2"] = s["appendicular_lean_mass_kg"] / height_m**2
    # EWGSOP2 (resources/clinical/thresholds.tsv): low strength, then low muscle mass, then
    # low performance.
    grip_cut = np.where(female, threshold("grip_low_kg_female"), threshold("grip_low_kg_male"))
    almi_cut = np.where(female, threshold("almi_low_kg_m2_female"),
                        threshold("almi_low_kg_m2_male"))
    probable = (s["grip_kg"] < grip_cut) | (s["chair_stand_s"] > threshold("chair_stand_slow_s"))
    confirmed = probable & (out["almi_kg_m2"] < almi_cut)
    severe = confirmed & (s["gait_speed_m_s"] <= threshold("slow_gait_m_s"))
    assessed = s[["grip_kg", "chair_stand_s"]].notna().any(axis=1)
    out["sarcopenia"] = np.select([severe, confirmed, probable, assessed],
                                  ["severe", "confirmed", "probable", "none"], default="unknown")
    fat_cut = np.where(female, threshold("fat_mass_obese_pct_female"),
                       threshold("fat_mass_obese_pct_male"))
    obese = (s["fat_mass_pct"] >= fat_cut) | (out["bmi_kg_m2"] >= threshold("bmi_obese_from"))
    out["sarcopenic_obesity"] = (probable & obese).where(assessed)
    vo2 = s["vo2peak_ml_kg_min"]
    out["fitness_category"] = np.select(
        [vo2.isna(), vo2 < threshold("vo2_functional_disability_below"),
         vo2 < threshold("vo2_low_below"), vo2 < threshold("vo2_moderate_below")],
        ["unknown", "functional_disability", "low", "moderate"], default="good")
    tanaka = 208 - 0.7 * s["age"]
    out["hr_max_bpm"] = s["hr_max_measured"].fillna(tanaka).round(0)
    out["hr_max_source"] = np.where(s["hr_max_measured"].notna(), "measured",
                                    "estimated (Tanaka 208 - 0.7 x age)")
    flags = agent_flags(_column(s, "agents"))
    calendar = infusion_calendar(_column(s, "next_infusion_date"), _column(s, "cycle_length_days"),
                                 reference_date)
    # An unreadable infusion date is a schedule we do not know, never "no infusion".
    rejected_date = _column(s, "sheet_rejected").fillna("").astype(str).str.contains(
        "next_infusion_date")
    calendar["infusion_schedule_unknown"] = (calendar["infusion_schedule_unknown"]
                                             | rejected_date.to_numpy())
    phase = _column(s, "treatment_phase").astype("string")
    chemo_phase = phase.isin(CHEMO_PHASES).fillna(False).astype(bool)
    completed = phase.isin(COMPLETED_PHASES).fillna(False).astype(bool)
    upcoming = calendar["days_to_next_infusion"].notna() | calendar["infusion_schedule_unknown"]
    infusion_chemo = upcoming & (flags["cytotoxic_agent"] | ~flags["agents_known"])
    out["in_chemotherapy"] = (chemo_phase | (flags["cytotoxic_agent"] & ~completed)
                              | infusion_chemo).astype(bool)
    out["myelosuppressive_therapy"] = (out["in_chemotherapy"] | (
        flags["myelosuppressive_agent"] & ~phase.eq("survivorship").fillna(False))).astype(bool)
    out["cardiotoxic_exposure"] = flags["cardiotoxic_agent"]
    out = out.join(flags.drop(columns="cardiotoxic_agent")).join(calendar)
    out = out.join(bone_site_flags(_column(s, "bone_metastasis_sites")))
    out["lvef_drop_points"] = (pd.to_numeric(_column(s, "lvef_baseline_pct"), errors="coerce")
                               - pd.to_numeric(_column(s, "lvef_pct"), errors="coerce"))
    sides = _column(s, "comorbidities").fillna("").astype(str).str.extract(
        r"operated_side_(left|right|bilateral)")[0]
    out["operated_side"] = sides.fillna("").to_numpy()
    out["agents_unrecognised"] = [
        "; ".join(code_agents(t).unrecognised)
        for t in _column(s, "agents").fillna("").astype(str)]
    out["comorbidities_unrecognised"] = [
        "; ".join(code_comorbidities(t).unrecognised)
        for t in _column(s, "comorbidities").fillna("").astype(str)]
    surgery = iso_days(_column(s, "surgery_date"))
    out["days_since_surgery"] = (pd.Timestamp(reference_date) - surgery).dt.days.astype(float)
    if "lvef_date" in s:
        lvef_date = iso_days(s["lvef_date"])
        out["lvef_age_days"] = (pd.Timestamp(reference_date) - lvef_date).dt.days.astype(float)
    return out.sort_index()
