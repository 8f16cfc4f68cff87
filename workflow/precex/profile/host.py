"""The host profile: every modality's features merged per patient, grouped into domains.

Each domain has its values, a category with the rule that assigned it, the evidence grade of
that categorisation, and completeness (the share of the domain's inputs present, and which were
missing). Missing modalities lower completeness; they never stop the stage.

The flat feature table (host_profiles.tsv) is also what the prescription rules read: the
features a rule may name are the columns listed in `FEATURES` (checked when the rule base loads).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from precex.modalities import domain_inputs
from precex.paths import threshold
from precex.profile.columns import numeric_column as _num
from precex.profile.safety_inputs import DERIVED_SAFETY_FEATURES, with_safety_inputs

SHEET_FEATURES = [
    "age", "sex", "subtype", "stage", "treatment_phase", "agents", "bone_metastases",
    "bone_metastasis_sites", "lvef_pct", "lvef_baseline_pct", "neuropathy_grade", "lymphedema",
    "fever", "resting_hr", "systolic_bp", "diastolic_bp", "vo2peak_ml_kg_min", "six_mwt_m",
    "grip_kg", "chair_stand_s", "gait_speed_m_s", "fat_mass_pct", "appendicular_lean_mass_kg",
    "waist_cm", "comorbidities", "joint_pain_score", "height_cm", "weight_kg",
    "next_infusion_date", "cycle_length_days", "hr_max_measured", "goal",
]
DERIVED_FEATURES = [
    "metabolic_syndrome", "metabolic_syndrome_criteria_met", "insulin_resistance",
    "epigenetic_age_accel_years", "epigenetic_age_clock",
]


@dataclass(frozen=True)
class Domain:
    name: str
    rule: str
    grade: str

    @property
    def inputs(self) -> tuple[str, ...]:
        """The features this domain summarises, as the modalities declare them
        (precex.modalities)."""
        return domain_inputs(self.name)


DOMAINS = [
    Domain("inflammation",
           "AHA/CDC CRP categories: < 1 low, 1-3 average, > 3 high (mean of two values >= 14 d "
           "apart); > 10 possible acute (Pearson 2003)", "G1"),
    Domain("metabolic",
           "NCEP ATP III metabolic syndrome (>= 3 of waist, TG, HDL, BP, fasting glucose); "
           "insulin resistance HOMA-IR >= 2.5", "G1"),
    Domain("body_composition", "EWGSOP2 sarcopenia (Cruz-Jentoft 2019); WHO BMI categories",
           "G1"),
    Domain("fitness",
           "VO2peak < 18 mL/kg/min functional disability (BREXIT, Foulkes 2020); < 22 low; "
           "< 28 moderate", "G3"),
    Domain("haematology",
           "Cytopenia thresholds of PM R 2017 Table 2 (platelets < 50, Hb < 11, "
           "neutrophils < 1.5)", "G3"),
    Domain("cardiac",
           "ESC 2022 / IC-OS 2021 CTRCD: LVEF < 40 severe; 40-49 or fall >= 10 points "
           "moderate", "G1"),
    Domain("bone",
           "Bone metastasis status and sites (IBMEWG 2022); sites, or metastatic disease "
           "without a status, read as unknown stability", "G1"),
    Domain("neuropathy", "CTCAE neuropathy grade: >= 2 moderate-severe", "G3"),
    Domain("lymphedema", "Lymphoedema status from the sheet (PAL trial)", "G2"),
    Domain("microbiome",
           "Shannon diversity percentile within the reference: < 25 low, > 75 high", "H"),
    Domain("epigenetic_age",
           "PhenoAge (Levine 2018) acceleration: > 5 y accelerated, < -5 y decelerated", "H"),
    Domain("genetics", "Genotypes displayed for research only (Webborn 2015)", "H"),
    Domain("treatment_context", "Treatment phase from the sheet", "G1"),
    Domain("activity", "Meets the guideline when MVPA >= 150 min/week (PAG 2018)", "G1"),
]


def _str(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame[col].astype("string")


def metabolic_syndrome(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """NCEP ATP III: >= 3 criteria. True/False when decidable from present values, else NA."""
    female = _str(f, "sex") == "F"
    t = threshold  # resources/clinical/thresholds.tsv
    criteria = pd.DataFrame({
        "waist": _num(f, "waist_cm") > np.where(female, t("waist_high_cm_female"),
                                                t("waist_high_cm_male")),
        "tg": _num(f, "triglycerides_mmol_l") >= t("triglycerides_high_mmol_l"),
        "hdl": _num(f, "hdl_mmol_l") < np.where(female, t("hdl_low_mmol_l_female"),
                                                t("hdl_low_mmol_l_male")),
        "bp": (_num(f, "systolic_bp") >= t("systolic_high_mm_hg"))
        | (_num(f, "diastolic_bp") >= t("diastolic_high_mm_hg")),
        "glucose": _num(f, "glucose_mmol_l") >= t("glucose_high_mmol_l"),
    })
    known = pd.DataFrame({
        "waist": _num(f, "waist_cm").notna(),
        "tg": _num(f, "triglycerides_mmol_l").notna(),
        "hdl": _num(f, "hdl_mmol_l").notna(),
        "bp": _num(f, "systolic_bp").notna() | _num(f, "diastolic_bp").notna(),
        "glucose": _num(f, "glucose_mmol_l").notna(),
    })
    met = (criteria & known).sum(axis=1)
    unknown = (~known).sum(axis=1)
    result = pd.Series(pd.NA, index=f.index, dtype="boolean")
    needed = threshold("metabolic_syndrome_criteria")
    result[met >= needed] = True
    result[(met + unknown) < needed] = False
    return result, met.astype(int)


def merge_modalities(sheet: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One flat row per sheet patient: sheet columns, then each modality's features."""
    flat = sheet.copy()
    for name, table in tables.items():
        if table is None or table.empty:
            continue
        overlap = [c for c in table.columns if c in flat.columns]
        renamed = table.rename(columns={c: f"{name}_{c}" for c in overlap})
        flat = flat.join(renamed, how="left")
    flat = flat.copy()  # one block per dtype again: the columns added below stay cheap
    flat.index.name = "patient_id"
    ms, met = metabolic_syndrome(flat)
    flat["metabolic_syndrome"] = ms
    flat["metabolic_syndrome_criteria_met"] = met
    homa = _num(flat, "homa_ir")
    flat["insulin_resistance"] = (homa >= threshold("homa_ir_resistant_from")).astype(
        "boolean").where(homa.notna())
    resid = _num(flat, "phenoage2018_accel_resid")
    diff = _num(flat, "phenoage2018_accel_diff")
    flat["epigenetic_age_accel_years"] = resid.fillna(diff)
    flat["epigenetic_age_clock"] = np.where(
        resid.notna(), "phenoage2018 (residual on age)",
        np.where(diff.notna(), "phenoage2018 (difference from age)", ""))
    return with_safety_inputs(flat).sort_index()


def _category(domain: str, f: pd.DataFrame) -> pd.Series:
    idx = f.index
    t = threshold  # resources/clinical/thresholds.tsv
    if domain == "inflammation":
        return _str(f, "crp_status").fillna("unknown")
    if domain == "metabolic":
        ms, ir = f["metabolic_syndrome"], f["insulin_resistance"]
        return pd.Series(np.select(
            [ms.fillna(False).astype(bool), ir.fillna(False).astype(bool),
             ms.isna() & ir.isna()], ["metabolic_syndrome", "insulin_resistance", "unknown"],
            default="normal"), index=idx)
    if domain == "body_composition":
        sarc = _str(f, "sarcopenia").fillna("unknown")
        so = f["sarcopenic_obesity"] if "sarcopenic_obesity" in f else pd.Series(pd.NA, index=idx)
        so = so.astype("boolean").fillna(False).astype(bool)
        return pd.Series(np.where(so, "sarcopenic_obesity", sarc), index=idx)
    if domain == "fitness":
        return _str(f, "fitness_category").fillna("unknown")
    if domain == "haematology":
        plt, hb = _num(f, "platelets_10e9_l"), _num(f, "hemoglobin_g_dl")
        neu, wbc = _num(f, "neutrophils_10e9_l"), _num(f, "wbc_10e9_l")
        return pd.Series(np.select(
            [plt < t("platelets_severe_below"), hb < t("hemoglobin_severe_below"),
             neu < t("neutrophils_severe_below"), plt < t("platelets_low_below"),
             (neu < t("neutrophils_low_below")) | (wbc < t("wbc_low_below")),
             hb < t("hemoglobin_low_below"), plt.isna() & hb.isna() & neu.isna()],
            ["severe_thrombocytopenia", "severe_anaemia", "severe_neutropenia",
             "thrombocytopenia", "neutropenia", "anaemia", "unknown"], default="normal"),
            index=idx)
    if domain == "cardiac":
        lvef, drop = _num(f, "lvef_pct"), _num(f, "lvef_drop_points")
        exposed = f.get("cardiotoxic_exposure", pd.Series(False, index=idx)).fillna(False)
        return pd.Series(np.select(
            [lvef < t("lvef_severe_below"),
             (lvef < t("lvef_moderate_below")) | (drop >= t("lvef_drop_points")),
             exposed.astype(bool), lvef.isna()],
            ["ctrcd_severe", "ctrcd_moderate", "exposed_monitoring", "unknown"],
            default="normal"), index=idx)
    if domain == "bone":
        status = _str(f, "bone_status").fillna("")
        return status.where(status != "", _str(f, "bone_metastases").fillna("unknown"))
    if domain == "neuropathy":
        g = _num(f, "neuropathy_grade")
        return pd.Series(np.select([g.isna(), g >= t("neuropathy_moderate_grade"), g >= 1],
                                   ["unknown", "moderate_severe", "mild"], default="none"),
                         index=idx)
    if domain == "lymphedema":
        return _str(f, "lymphedema").fillna("unknown")
    if domain == "microbiome":
        p = _num(f, "shannon_percentile")
        return pd.Series(np.select([p.isna(), p < t("shannon_low_percentile_below"),
                                    p > t("shannon_high_percentile_above")],
                                   ["unknown", "low_diversity", "high_diversity"],
                                   default="typical"), index=idx)
    if domain == "epigenetic_age":
        a = _num(f, "epigenetic_age_accel_years")
        band = t("epigenetic_accel_years")
        return pd.Series(np.select([a.isna(), a > band, a < -band],
                                   ["unknown", "accelerated", "decelerated"],
                                   default="typical"), index=idx)
    if domain == "genetics":
        has = pd.Series(False, index=idx)
        for col in ("rs1815739_genotype", "rs4341_genotype", "rs8192678_genotype"):
            if col in f:
                has |= f[col].fillna("").astype(str) != ""
        return pd.Series(np.where(has, "research_only", "unknown"), index=idx)
    if domain == "treatment_context":
        return _str(f, "treatment_phase").fillna("unknown")
    if domain == "activity":
        m = _num(f, "mvpa_min_per_week")
        return pd.Series(np.select([m.isna(), m >= t("guideline_mvpa_min_per_week")],
                                   ["unknown", "meets_guideline"],
                                   default="below_guideline"), index=idx)
    raise KeyError(domain)


def domain_table(flat: pd.DataFrame) -> pd.DataFrame:
    """domain_<name> (category) and domain_<name>_completeness columns, vectorised."""
    out = pd.DataFrame(index=flat.index)
    for d in DOMAINS:
        out[f"domain_{d.name}"] = _category(d.name, flat).astype(str)
        present = pd.DataFrame({c: flat[c].notna() & (flat[c].astype(str) != "")
                                if c in flat else pd.Series(False, index=flat.index)
                                for c in d.inputs})
        out[f"domain_{d.name}_completeness"] = present.mean(axis=1).round(3)
    return out


def json_value(value: object) -> object:
    """A value as JSON holds it: NaN and NA become null, numpy scalars plain numbers."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    return str(value) if not isinstance(value, int | str) else value


def patient_profile(pid: str, flat_row: Mapping[str, Any], domains_row: Mapping[str, Any]
                    ) -> dict:
    """The per-patient JSON record: domains with values, category, rule, grade, completeness."""
    record: dict = {"patient_id": pid, "domains": {}}
    converted = {k: json_value(v) for k, v in flat_row.items()}  # each value once
    for d in DOMAINS:
        values = {c: converted.get(c) for c in d.inputs}
        record["domains"][d.name] = {
            "category": domains_row[f"domain_{d.name}"],
            "rule": d.rule,
            "grade": d.grade,
            "completeness": float(domains_row[f"domain_{d.name}_completeness"]),
            "missing_inputs": sorted(c for c, v in values.items() if v in (None, "")),
            "values": values,
        }
    record["features"] = {k: v for k, v in converted.items() if v not in (None, "")}
    return record


def known_features() -> set[str]:
    """Every feature name a rule may read (rule-base typos are caught against this): the
    sheet's columns, the profile's derived features and what every modality provides."""
    from precex.clinical.sheet import sheet_schema
    from precex.modalities import provided_features

    return (set(sheet_schema()["properties"]) | set(DERIVED_FEATURES)
            | set(DERIVED_SAFETY_FEATURES) | provided_features())
