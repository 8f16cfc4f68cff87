"""Synthetic breast-cancer cohorts for demos, tests and benchmarks, in real file formats.

Deterministic for a given (n, seed): the same numpy Generator drives every draw, and files are
written without timestamps (BIOM creation date fixed to the reference date).

Distributions (synthetic, plausible, not fitted to any patient data):
- age at diagnosis ~ Normal(61, 12) clipped to 28-88 (SEER: median age at breast-cancer
  diagnosis 62-63 years);
- subtype HR+/HER2- 70%, HER2+ 14%, TNBC 11%, unknown 5% (SEER subtype shares, rounded);
- height ~ Normal(162, 7) cm; BMI ~ lognormal with median 27 kg/m2 (US adult women);
- VO2peak ~ Normal(22, 5) mL/kg/min clipped 9-45 (Gil-Rey 2014 cancer survivors: mean 18.7;
  BREXIT cut-off 18 marks functional disability);
- blood counts around common reference intervals, lowered during chemotherapy (e.g. neutrophils
  x0.6); CRP lognormal with median 2 mg/L (AHA/CDC categories), IL-6 median 2.5 pg/mL;
- fasting glucose ~ Normal(5.3, 0.7) mmol/L, insulin lognormal median 8 uIU/mL, HbA1c
  ~ Normal(5.5, 0.4) %; lipids around ESC/NCEP reference values;
- gut microbiome: Dirichlet-multinomial over 27 common genera (mean abundances from HMP/MetaHIT
  summaries), 6-12 ASVs per genus, read depth lognormal with median 30,000; richness and the
  butyrate-producer share rise with fitness (Estaki 2016, cross-sectional);
- epigenetic age = chronological age + N(0, 4) years, +3 years after chemotherapy (Kresovich
  2023: treated breast cancer accelerates PhenoAge/GrimAge); beta values are the 450k reference
  means moved along the clock coefficients to reach that age, plus N(0, 0.01) noise;
- wearables: 28 days before the reference date, steps lognormal median 6,000, MVPA lognormal
  median 15 min/day, resting HR ~ Normal(70, 8), RMSSD lognormal median 30 ms, sleep ~ N(7, 0.8) h.

A follow-up week after the reference date (wearables and symptoms) exercises every weekly
adaptation path (see _followup). 12-week outcomes (outcomes.tsv) carry a known dose-by-
inflammation effect on VO2peak, a dose-only effect on the 6-minute walk and none on fatigue
(see _outcomes).

The first patients each carry one safety scenario (severe and moderate thrombocytopenia,
anaemia, neutropenia, fever, unstable and stable bone metastases, LVEF < 40%, an LVEF fall,
neuropathy, lymphoedema, hypertension, tachycardia) or a missing modality, so that every safety
rule and every missing-data path is exercised; in larger cohorts about 15% of the rest draw a
scenario at random.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from precex.demo.taxa import GENERA, metaphlan_genus_clade, silva_lineage
from precex.io.files import atomic_path, write_text, write_tsv
from precex.paths import resource_path

REFERENCE_DATE = dt.date(2026, 1, 5)

SCENARIOS = [
    "platelets_severe",
    "platelets_moderate",
    "anaemia_severe",
    "neutropenia",
    "fever",
    "bone_mets_unstable",
    "bone_mets_stable",
    "lvef_low",
    "lvef_drop",
    "neuropathy",
    "lymphedema",
    "hypertension",
    "tachycardia",
    "no_microbiome",
    "no_methylation",
    "no_blood",
    "no_wearables",
    "no_variants",
    "metaphlan",
]
PHASES = [
    "pre_treatment", "neoadjuvant_chemo", "adjuvant_chemo", "radiotherapy", "endocrine",
    "anti_her2", "post_surgery", "survivorship", "metastatic",
]
CHEMO_PHASES = {"neoadjuvant_chemo", "adjuvant_chemo"}
SUBTYPES = ["HR+/HER2-", "HER2+", "TNBC", "unknown"]
GOALS = ["general", "fatigue", "physical_function", "hrqol"]
SUBTYPE_P = [0.70, 0.14, 0.11, 0.05]
GENE_PANEL_PROBES = {  # gene: (chrom, TSS, strand, far end), read from the bundled Ensembl GTF
    "SAMD11": ("1", 923928, "+", 944581),
    "NOC2L": ("1", 959309, "-", 944203),
    "KLHL17": ("1", 960584, "+", 965719),
    "PLEKHN1": ("1", 966497, "+", 975865),
    "HES4": ("1", 1000172, "-", 998962),
    "ISG15": ("1", 1001138, "+", 1014540),
    "AGRN": ("1", 1020120, "+", 1056118),
}


@dataclass
class Cohort:
    patients: pd.DataFrame
    scenario: pd.Series
    counts: pd.DataFrame  # features x samples (16S counts)
    taxonomy: pd.Series  # feature -> SILVA lineage
    metaphlan: pd.DataFrame  # genus clade x samples, percent
    methylation: pd.DataFrame  # probes x patients, beta
    manifest: pd.DataFrame
    variants: pd.DataFrame  # variants x patients, genotype strings
    variant_table: pd.DataFrame
    blood: pd.DataFrame
    wearables: pd.DataFrame
    followup_wearables: pd.DataFrame
    followup_symptoms: pd.DataFrame
    reference_date: dt.date
    outcomes: pd.DataFrame
    followup_blood: pd.DataFrame = field(default_factory=pd.DataFrame)


def _patient_ids(n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"P{i:0{width}d}" for i in range(1, n + 1)]


def _scenarios(n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.array(["none"] * n, dtype=object)
    k = min(n, len(SCENARIOS))
    out[:k] = SCENARIOS[:k]
    if n > k:
        draw = rng.random(n - k) < 0.15
        out[k:][draw] = rng.choice(SCENARIOS, size=int(draw.sum()))
    return out


def _clinical(ids: list[str], scen: np.ndarray, rng: np.random.Generator,
              ref: dt.date) -> pd.DataFrame:
    n = len(ids)
    age = np.clip(rng.normal(61, 12, n), 28, 88).round(0)
    height = rng.normal(162, 7, n).round(1)
    bmi = np.exp(rng.normal(np.log(27), 0.18, n))
    weight = (bmi * (height / 100) ** 2).round(1)
    subtype = rng.choice(SUBTYPES, size=n, p=SUBTYPE_P)
    phase = np.array([PHASES[i % len(PHASES)] for i in range(n)], dtype=object)
    stage = rng.choice(["I", "II", "III"], size=n, p=[0.45, 0.4, 0.15]).astype(object)
    stage[phase == "metastatic"] = "IV"
    agents = []
    for ph, st in zip(phase, subtype, strict=True):
        a: list[str] = []
        if ph in CHEMO_PHASES:
            a += ["anthracycline", "taxane"] if rng.random() < 0.6 else ["taxane", "platinum"]
        if st == "HER2+" and ph in CHEMO_PHASES | {"anti_her2", "metastatic"}:
            a += ["trastuzumab", "pertuzumab"]
        if ph == "endocrine" or (ph == "metastatic" and st == "HR+/HER2-"):
            a += ["aromatase_inhibitor"] if rng.random() < 0.7 else ["tamoxifen"]
            if ph == "metastatic":
                a.append("cdk46_inhibitor")
        agents.append(";".join(sorted(set(a))))
    in_chemo = np.isin(phase, list(CHEMO_PHASES))
    next_inf = np.where(in_chemo, [
        (ref + dt.timedelta(days=int(d))).isoformat() for d in rng.integers(1, 21, n)
    ], "")
    cycle = np.where(in_chemo, rng.choice([14, 21], size=n), 0)
    lvef_base = rng.normal(62, 4, n).round(0)
    lvef = (lvef_base - np.where(np.char.find(np.array(agents, dtype=str), "anthracycline") >= 0,
                                 rng.normal(2, 2, n), 0)).round(0)
    vo2 = np.clip(rng.normal(22, 5, n) - (age - 60) * 0.15, 9, 45).round(1)
    grip = np.clip(rng.normal(24, 5, n) - (age - 60) * 0.12, 8, 45).round(1)
    frame = pd.DataFrame({
        "patient_id": ids,
        "age": age.astype(int),
        "sex": "F",
        "height_cm": height,
        "weight_kg": weight,
        "subtype": subtype,
        "stage": stage,
        "treatment_phase": phase,
        "agents": agents,
        "next_infusion_date": next_inf,
        "cycle_length_days": np.where(cycle > 0, cycle.astype(str), ""),
        "bone_metastases": np.where(phase == "metastatic", "none", "none").astype(object),
        "bone_metastasis_sites": "",
        "lvef_pct": lvef,
        "lvef_baseline_pct": lvef_base,
        "neuropathy_grade": np.where(np.char.find(np.array(agents, dtype=str), "taxane") >= 0,
                                     rng.choice([0, 1], size=n), 0),
        "lymphedema": rng.choice(["none", "at_risk"], size=n, p=[0.6, 0.4]).astype(object),
        "fever": "false",
        "resting_hr": np.clip(rng.normal(72, 8, n), 50, 110).round(0),
        "systolic_bp": np.clip(rng.normal(128, 14, n), 95, 175).round(0),
        "diastolic_bp": np.clip(rng.normal(78, 9, n), 55, 105).round(0),
        "vo2peak_ml_kg_min": vo2,
        "hr_max_measured": "",
        "six_mwt_m": np.clip(rng.normal(480, 80, n), 150, 750).round(0),
        "grip_kg": grip,
        "chair_stand_s": np.clip(rng.normal(12, 2.5, n), 6, 30).round(1),
        "gait_speed_m_s": np.clip(rng.normal(1.15, 0.2, n), 0.4, 1.8).round(2),
        "fat_mass_pct": np.clip(rng.normal(38, 6, n), 18, 60).round(1),
        "appendicular_lean_mass_kg": np.clip(rng.normal(17.5, 2.5, n), 10, 28).round(1),
        "waist_cm": np.clip(rng.normal(92, 12, n), 60, 150).round(0),
        "comorbidities": rng.choice(["", "hypertension", "type2_diabetes", "osteoporosis"],
                                    size=n, p=[0.7, 0.15, 0.08, 0.07]),
        # Goals rotate (4 is co-prime with the 9 phases), so every goal meets every phase.
        "goal": [GOALS[i % len(GOALS)] for i in range(n)],
        "joint_pain_score": np.where(np.char.find(np.array(agents, dtype=str),
                                                  "aromatase_inhibitor") >= 0,
                                     rng.integers(0, 8, n), rng.integers(0, 3, n)),
    })
    measured = rng.random(n) < 0.2
    frame.loc[measured, "hr_max_measured"] = (
        np.clip(rng.normal(160, 12, int(measured.sum())), 120, 195).round(0).astype(int).astype(str)
    )
    s = pd.Series(scen, index=frame.index)
    frame.loc[s == "bone_mets_unstable", ["treatment_phase", "stage", "bone_metastases",
                                          "bone_metastasis_sites"]] = [
        "metastatic", "IV", "unstable", "thoracic spine T8"]
    frame.loc[s == "bone_mets_stable", ["treatment_phase", "stage", "bone_metastases",
                                        "bone_metastasis_sites"]] = [
        "metastatic", "IV", "stable", "left ilium"]
    frame.loc[s == "lvef_low", ["lvef_pct", "agents"]] = [36, "anthracycline;trastuzumab"]
    frame.loc[s == "lvef_drop", ["lvef_baseline_pct", "lvef_pct", "agents"]] = [
        63, 48, "anthracycline;taxane"]
    frame.loc[s == "neuropathy", ["neuropathy_grade", "agents"]] = [2, "taxane"]
    frame.loc[s == "lymphedema", "lymphedema"] = "present"
    frame.loc[s == "fever", "fever"] = "true"
    frame.loc[s == "hypertension", ["systolic_bp", "diastolic_bp"]] = [205, 112]
    frame.loc[s == "tachycardia", "resting_hr"] = 124
    return frame


def _blood(clin: pd.DataFrame, scen: np.ndarray, rng: np.random.Generator,
           ref: dt.date) -> pd.DataFrame:
    """Long table: one row per (patient, marker, date); units vary by 'site' as in real exports."""
    n = len(clin)
    has = scen != "no_blood"
    chemo = clin["treatment_phase"].isin(CHEMO_PHASES).to_numpy()
    s = pd.Series(scen)
    logn = lambda med, sd: np.exp(rng.normal(np.log(med), sd, n))  # noqa: E731
    wbc = np.where(chemo, rng.normal(4.5, 1.2, n), rng.normal(6.5, 1.6, n)).clip(1.0, 15)
    neut = wbc * rng.uniform(0.5, 0.68, n)
    lymph = wbc * rng.uniform(0.2, 0.35, n)
    mono = wbc * rng.uniform(0.05, 0.09, n)
    plt = np.where(chemo, rng.normal(210, 50, n), rng.normal(255, 55, n)).clip(60, 600)
    hb = np.where(chemo, rng.normal(11.6, 1.1, n), rng.normal(13.1, 1.0, n)).clip(8.5, 17)
    crp = logn(2.0, 0.9).clip(0.1, 9.5)
    glucose = rng.normal(5.3, 0.7, n).clip(3.8, 12)
    insulin = logn(8, 0.5).clip(1.5, 60)
    plt[s == "platelets_severe"] = 15
    plt[s == "platelets_moderate"] = 38
    hb[s == "anaemia_severe"] = 7.4
    neut[s == "neutropenia"] = 0.8
    wbc[s == "neutropenia"] = 1.8
    crp[s == "fever"] = 48
    values = {
        "crp": crp,
        "il6": logn(2.5, 0.6),
        "tnf_alpha": logn(6, 0.4),
        "glucose": glucose,
        "insulin": insulin,
        "hba1c": rng.normal(5.5, 0.4, n).clip(4.2, 10),
        "triglycerides": logn(1.3, 0.4),
        "hdl": rng.normal(1.55, 0.35, n).clip(0.6, 3),
        "ldl": rng.normal(3.0, 0.8, n).clip(1, 6.5),
        "total_cholesterol": rng.normal(5.2, 0.9, n).clip(2.5, 9),
        "hemoglobin": hb,
        "platelets": plt,
        "wbc": wbc,
        "neutrophils": neut,
        "lymphocytes": lymph,
        "monocytes": mono,
        "albumin": rng.normal(42, 3, n).clip(28, 52),
        "creatinine": rng.normal(70, 12, n).clip(40, 140),
        "alt": logn(20, 0.35),
        "alp": rng.normal(75, 20, n).clip(30, 250),
        "mcv": rng.normal(90, 4, n).clip(75, 110),
        "rdw": rng.normal(13.5, 1.0, n).clip(11, 19),
        "nt_probnp": logn(80, 0.7),
        "troponin": logn(5, 0.5),
        "vitamin_d": rng.normal(60, 20, n).clip(10, 150),
    }
    values["nt_probnp"][(s == "lvef_low").to_numpy()] = 900
    units = {
        "crp": "mg/L", "il6": "pg/mL", "tnf_alpha": "pg/mL", "glucose": "mmol/L",
        "insulin": "uIU/mL", "hba1c": "%", "triglycerides": "mmol/L", "hdl": "mmol/L",
        "ldl": "mmol/L", "total_cholesterol": "mmol/L", "hemoglobin": "g/dL",
        "platelets": "10^9/L", "wbc": "10^9/L", "neutrophils": "10^9/L",
        "lymphocytes": "10^9/L", "monocytes": "10^9/L", "albumin": "g/L",
        "creatinine": "umol/L", "alt": "U/L", "alp": "U/L", "mcv": "fL", "rdw": "%",
        "nt_probnp": "pg/mL", "troponin": "ng/L", "vitamin_d": "nmol/L",
    }
    # A US-style site reports glucose in mg/dL and CRP in mg/dL for about half the patients.
    us_site = rng.random(n) < 0.5
    draw_day = rng.integers(1, 20, n)
    frames = []
    ids = clin["patient_id"].to_numpy()
    for marker, v in values.items():
        unit = np.full(n, units[marker], dtype=object)
        value = v.copy()
        if marker == "glucose":
            value = np.where(us_site, v * 18.016, v)
            unit[us_site] = "mg/dL"
        if marker == "crp":
            value = np.where(us_site, v / 10, v)
            unit[us_site] = "mg/dL"
        if marker == "hemoglobin":
            value = np.where(us_site, v, v * 10)
            unit[~us_site] = "g/L"
        dates = [(ref - dt.timedelta(days=int(d))).isoformat() for d in draw_day]
        fasting = np.where(np.isin(marker, ["glucose", "insulin", "triglycerides"]), "true", "")
        frames.append(pd.DataFrame({"patient_id": ids, "marker": marker, "value": value,
                                    "unit": unit, "date": dates, "fasting": fasting})[has])
    # A second CRP three to six weeks earlier for most patients (chronic-inflammation rule).
    second = has & (rng.random(n) < 0.7)
    earlier = draw_day + rng.integers(21, 42, n)
    frames.append(pd.DataFrame({
        "patient_id": ids, "marker": "crp", "value": crp * rng.uniform(0.7, 1.3, n),
        "unit": "mg/L", "date": [(ref - dt.timedelta(days=int(d))).isoformat() for d in earlier],
        "fasting": ""})[second])
    out = pd.concat(frames, ignore_index=True)
    out["value"] = out["value"].round(3)
    return out.sort_values(["patient_id", "marker", "date"], kind="stable").reset_index(drop=True)


def _microbiome(ids: list[str], scen: np.ndarray, fitness: np.ndarray,
                rng: np.random.Generator) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    n = len(ids)
    genus_w = np.array([g[6] for g in GENERA])
    butyrate = np.isin([g[0] for g in GENERA], ["Faecalibacterium", "Roseburia", "Agathobacter",
                                                  "Anaerostipes", "Coprococcus", "Lachnospira"])
    n_asv = np.random.default_rng(7).integers(6, 13, len(GENERA))  # fixed feature set
    feat_genus = np.repeat(np.arange(len(GENERA)), n_asv)
    feat_ids = [hashlib.md5(f"{GENERA[g][0]}-{k}".encode()).hexdigest()
                for g, c in zip(range(len(GENERA)), n_asv, strict=True) for k in range(c)]
    asv_w = np.random.default_rng(11).dirichlet(np.ones(len(feat_ids)) * 0.8)
    fit_z = (fitness - 22) / 5
    alpha_base = genus_w[None, :] * 60 * np.exp(0.35 * fit_z[:, None] * butyrate[None, :])
    genus_p = rng.gamma(alpha_base)  # Dirichlet via normalised gammas (vectorised)
    genus_p /= genus_p.sum(axis=1, keepdims=True)
    within = asv_w / np.bincount(feat_genus, weights=asv_w)[feat_genus]
    feat_p = genus_p[:, feat_genus] * within[None, :]
    # Rarer ASVs drop out more often in less fit patients (richness tracks fitness).
    keep = rng.random(feat_p.shape) < np.clip(0.55 + 0.1 * fit_z[:, None] + 40 * feat_p, 0, 1)
    feat_p = feat_p * keep
    feat_p /= feat_p.sum(axis=1, keepdims=True)
    depth = np.exp(rng.normal(np.log(30000), 0.45, n)).astype(np.int64)
    depth[np.flatnonzero(scen == "none")[:1]] = 400  # one sample below the default QC depth
    counts = np.stack([rng.multinomial(d, p) for d, p in zip(depth, feat_p, strict=True)])
    has16s = ~np.isin(scen, ["no_microbiome", "metaphlan"])
    table = pd.DataFrame(counts[has16s].T, index=feat_ids,
                         columns=[i for i, h in zip(ids, has16s, strict=True) if h])
    taxonomy = pd.Series([silva_lineage(GENERA[g]) for g in feat_genus], index=feat_ids)
    mpa = scen == "metaphlan"
    clades = [metaphlan_genus_clade(g) for g in GENERA]
    metaphlan = pd.DataFrame((genus_p[mpa] * 100).T, index=clades,
                             columns=[i for i, m in zip(ids, mpa, strict=True) if m])
    return table, taxonomy, metaphlan


def _methylation(clin: pd.DataFrame, scen: np.ndarray, rng: np.random.Generator
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    from precex.epigenetics.clocks import load_clocks

    clocks = load_clocks()
    ref_means = pd.read_csv(resource_path("clocks", "reference_means_450k.csv"),
                            index_col="cpg")["mean_beta"]
    cpgs = ref_means.index.to_numpy()
    has = scen != "no_methylation"
    pids = clin["patient_id"].to_numpy()[has]
    age = clin["age"].to_numpy(float)[has]
    chemo_exposed = clin["agents"].to_numpy(str)[has] != ""
    epi_age = age + rng.normal(0, 4, has.sum()) + 3 * chemo_exposed
    m = ref_means.to_numpy()
    # Coefficient rows for each clock over the shared CpG axis; targets are the clocks' linear
    # predictors at the patient's epigenetic age.
    W = np.zeros((len(clocks), len(cpgs)))
    targets = np.zeros((len(clocks), len(pids)))
    for k, clock in enumerate(clocks.values()):
        W[k] = clock.weights.reindex(cpgs).fillna(0).to_numpy()
        targets[k] = clock.linear_target(epi_age)
    intercepts = np.array([c.intercept for c in clocks.values()])
    residual = (targets - intercepts[:, None]) - (W @ m)[:, None]
    correction = W.T @ np.linalg.solve(W @ W.T, residual)  # minimum-norm move to the targets
    beta = (m[:, None] + correction + rng.normal(0, 0.01, (len(cpgs), len(pids)))).clip(
        0.001, 0.999)
    # Panel probes (synthetic coordinates, see the manifest): promoters low, bodies high.
    probes, rows = [], []
    for gene, (chrom, tss, strand, end) in GENE_PANEL_PROBES.items():
        sign = 1 if strand == "+" else -1
        for k, off in enumerate([-900, -300, 200, 800]):
            probes.append((f"cgSYN{gene}P{k}", chrom, tss + sign * off, 0.12))
        for k in range(4):
            pos = tss + sign * int((abs(end - tss)) * (k + 1) / 5)
            probes.append((f"cgSYN{gene}B{k}", chrom, pos, 0.78))
    for _probe_id, _, _, base in probes:
        rows.append(np.clip(base + rng.normal(0, 0.05, len(pids)), 0.001, 0.999))
    # Unrelated probes the stage must skip (real arrays carry ~850,000).
    noise_ids = [f"cgNOISE{k:06d}" for k in range(200)]
    noise = rng.uniform(0.05, 0.95, (len(noise_ids), len(pids)))
    matrix = pd.DataFrame(np.vstack([beta, np.array(rows), noise]).round(4),
                          index=list(cpgs) + [p[0] for p in probes] + noise_ids, columns=pids)
    matrix.index.name = "probe_id"
    manifest = pd.DataFrame(probes, columns=["probe_id", "chrom", "pos", "_base"]).drop(
        columns="_base")
    manifest["synthetic"] = True
    return matrix, manifest


def _variants(clin: pd.DataFrame, scen: np.ndarray, rng: np.random.Generator
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.read_csv(resource_path("genetics", "exercise_variants.tsv"), sep="\t",
                        dtype={"chrom": str})
    has = scen != "no_variants"
    pids = clin["patient_id"].to_numpy()[has]
    # Allele frequencies in Europeans, approximate (1000 Genomes): ACTN3 T 0.43, ACE rs4341
    # G 0.55, PPARGC1A T 0.35.
    freqs = {"rs1815739": 0.43, "rs4341": 0.55, "rs8192678": 0.35}
    gts = {}
    for rsid in table["rsid"]:
        alt = rng.random((len(pids), 2)) < freqs.get(rsid, 0.3)
        gts[rsid] = [f"{int(a)}/{int(b)}" for a, b in alt]
    return pd.DataFrame(gts, index=pids).T, table


def _wearables(clin: pd.DataFrame, scen: np.ndarray, rng: np.random.Generator,
               ref: dt.date, days: int = 28) -> pd.DataFrame:
    has = scen != "no_wearables"
    pids = clin["patient_id"].to_numpy()[has]
    n = len(pids)
    dates = [(ref - dt.timedelta(days=days - d)).isoformat() for d in range(days)]
    base_steps = np.exp(rng.normal(np.log(6000), 0.45, n))
    base_mvpa = np.exp(rng.normal(np.log(15), 0.6, n))
    base_hr = clin["resting_hr"].to_numpy(float)[has]
    base_rmssd = np.exp(rng.normal(np.log(30), 0.35, n))
    shape = (n, days)
    frame = pd.DataFrame({
        "patient_id": np.repeat(pids, days),
        "date": np.tile(dates, n),
        "steps": (base_steps[:, None] * np.exp(rng.normal(0, 0.3, shape))).round(0).ravel(),
        "mvpa_min": (base_mvpa[:, None] * np.exp(rng.normal(0, 0.5, shape))).round(0).ravel(),
        "resting_hr": (base_hr[:, None] + rng.normal(0, 2.5, shape)).round(0).ravel(),
        "hrv_rmssd_ms": (base_rmssd[:, None] * np.exp(rng.normal(0, 0.12, shape))).round(1).ravel(),
        "sleep_h": rng.normal(7, 0.8, shape).clip(3, 11).round(1).ravel(),
    })
    worn = rng.random(len(frame)) < 0.9  # non-wear days are absent, as devices export them
    return frame[worn].reset_index(drop=True)


FOLLOWUP_PATTERNS = ("good", "good", "poor", "hrv_suppressed", "partial", "resting_hr_rise")
FOLLOWUP_WEEKS = 3  # the demo's follow-up: three weeks of wearables and symptoms


def _followup(clin: pd.DataFrame, wearables: pd.DataFrame, seed: int, ref: dt.date,
              weeks: int = FOLLOWUP_WEEKS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three weeks after the reference date. Week 1, one adaptation pattern per patient (in turn):
    good adherence (daily MVPA 25-40 min), poor (0-5 min), partial (8-10 min), HRV
    suppression on the last morning, resting HR +15 bpm on the last 3 days; the seventh
    patient with wearables reports new bone pain (a red flag). A generator of its own keeps
    the rest of the cohort unchanged."""
    rng = np.random.default_rng([seed, 7])
    pids = sorted(wearables["patient_id"].unique())
    base_hr = clin.set_index("patient_id")["resting_hr"].astype(float)
    days = [(ref + dt.timedelta(days=d)).isoformat() for d in range(1, 8)]
    wear_rows, sym_rows = [], []
    for i, pid in enumerate(pids):
        pattern = FOLLOWUP_PATTERNS[i % len(FOLLOWUP_PATTERNS)]
        low, high = {"poor": (0, 6), "partial": (8, 11)}.get(pattern, (25, 41))
        mvpa = rng.integers(low, high, 7)
        rmssd = np.exp(rng.normal(np.log(30), 0.05, 7))
        if pattern == "hrv_suppressed":
            rmssd[-1] *= 0.6
        hr = base_hr.get(pid, 70.0) + rng.normal(0, 1.5, 7)
        if pattern == "resting_hr_rise":
            hr[-3:] += 15
        for d, day in enumerate(days):
            wear_rows.append({"patient_id": pid, "date": day, "steps": int(rng.integers(4000,
                                                                                       9000)),
                              "mvpa_min": int(mvpa[d]), "resting_hr": round(float(hr[d])),
                              "hrv_rmssd_ms": round(float(rmssd[d]), 1), "sleep_h": 7.0})
            sym_rows.append({"patient_id": pid, "date": day,
                             "fatigue": int(rng.integers(1, 6)), "pain": int(rng.integers(0, 4)),
                             "new_bone_pain": "true" if i == 6 and d == 3 else "false",
                             "fever": "false", "dyspnoea": "false", "chest_pain": "false"})
    # Weeks 2 and 3 (a generator of their own, so week 1 is as above): each patient keeps
    # their adherence pattern; the HRV and resting-HR warnings and the red flag were week 1's.
    later = np.random.default_rng([seed, 7, 2])
    for i, pid in enumerate(pids):
        pattern = FOLLOWUP_PATTERNS[i % len(FOLLOWUP_PATTERNS)]
        low, high = {"poor": (0, 6), "partial": (8, 11)}.get(pattern, (25, 41))
        for d in range(8, 8 + 7 * (weeks - 1)):
            day = (ref + dt.timedelta(days=d)).isoformat()
            wear_rows.append({"patient_id": pid, "date": day,
                              "steps": int(later.integers(4000, 9000)),
                              "mvpa_min": int(later.integers(low, high)),
                              "resting_hr": round(float(base_hr.get(pid, 70.0)
                                                        + later.normal(0, 1.5))),
                              "hrv_rmssd_ms": round(float(np.exp(later.normal(np.log(30),
                                                                              0.05))), 1),
                              "sleep_h": 7.0})
            sym_rows.append({"patient_id": pid, "date": day,
                             "fatigue": int(later.integers(1, 6)),
                             "pain": int(later.integers(0, 4)), "new_bone_pain": "false",
                             "fever": "false", "dyspnoea": "false", "chest_pain": "false"})
    return pd.DataFrame(wear_rows), pd.DataFrame(sym_rows)


def _followup_blood(blood: pd.DataFrame, followed: list[str], ref: dt.date) -> pd.DataFrame:
    """Counts taken during follow-up, for the weekly re-check of the count caps: the last
    followed patient with a baseline neutrophil count below 1.5 x10^9/L recovers in week 2
    (2.4, a cap lifted); the first followed patient with normal platelets drops to 35 x10^9/L
    in week 3 (a cap added). Written as a lab exports it: names, units, one row per result."""
    rows = []
    counts = blood[blood["marker"].isin(["neutrophils", "platelets"])].copy()
    counts["value"] = pd.to_numeric(counts["value"], errors="coerce")
    low = counts[(counts["marker"] == "neutrophils") & (counts["value"] < 1.5)
                 & counts["patient_id"].isin(followed)]["patient_id"]
    if len(low):
        pid = sorted(low)[-1]
        rows.append({"patient_id": pid, "marker": "Absolute neutrophil count", "value": "2.4",
                     "unit": "10*9/L", "date": (ref + dt.timedelta(days=10)).isoformat()})
        rows.append({"patient_id": pid, "marker": "WBC", "value": "4.8", "unit": "10^9/L",
                     "date": (ref + dt.timedelta(days=10)).isoformat()})
    normal = counts[(counts["marker"] == "platelets") & (counts["value"] >= 150)
                    & counts["patient_id"].isin(followed)
                    & ~counts["patient_id"].isin(low)]["patient_id"]
    if len(normal):
        rows.append({"patient_id": sorted(normal)[0], "marker": "Platelets", "value": "35",
                     "unit": "x10^9/L", "date": (ref + dt.timedelta(days=16)).isoformat()})
    return pd.DataFrame(rows, columns=["patient_id", "marker", "value", "unit", "date"])


def _outcomes(clin: pd.DataFrame, blood: pd.DataFrame, seed: int) -> pd.DataFrame:
    """12-week follow-up outcomes with a known heterogeneity, for the responder model.

    Own random stream (the other files do not change). Dose received: weekly MET-minutes
    lognormal, median 500 (range 100-1,500); resistance sessions 0-3 per week. Per 100
    MET-minutes per week:
    - vo2peak: +0.15 mL/kg/min, +0.25 more when the patient's mean CRP is below 3 mg/L (low
      inflammation), noise SD 1.0 (the dose-by-inflammation effect a model should find);
    - six_mwt: +2.5 m, +8 m per resistance session, noise SD 25 m (dose only, no host effect);
    - fatigue (FACIT-F): no effect at all, noise SD 5 (a model must report no skill).
    """
    rng = np.random.default_rng([seed, 2026])
    ids = clin["patient_id"].tolist()
    n = len(ids)
    crp_rows = blood[blood["marker"] == "crp"]
    mg_l = pd.to_numeric(crp_rows["value"], errors="coerce") * np.where(
        crp_rows["unit"] == "mg/dL", 10.0, 1.0)
    crp = mg_l.groupby(
        crp_rows["patient_id"]).mean().reindex(ids).to_numpy()
    low_crp = np.where(np.isnan(crp), False, crp < 3.0)
    dose = np.exp(rng.normal(np.log(500), 0.45, n)).clip(100, 1500).round(0)
    resistance = rng.integers(0, 4, n)
    vo2 = clin["vo2peak_ml_kg_min"].to_numpy(dtype=float)
    six = clin["six_mwt_m"].to_numpy(dtype=float)
    facit = rng.normal(36, 8, n).clip(0, 52)
    gain_vo2 = dose / 100 * (0.15 + 0.25 * low_crp) + rng.normal(0, 1.0, n)
    gain_six = dose / 100 * 2.5 + 8 * resistance + rng.normal(0, 25, n)
    gain_facit = rng.normal(0, 5, n)
    rows = []
    for name, base, gain in (("vo2peak", vo2, gain_vo2), ("six_mwt", six, gain_six),
                             ("fatigue", facit, gain_facit)):
        rows.append(pd.DataFrame({"patient_id": ids, "outcome": name,
                                  "baseline": base.round(1), "follow_up": (base + gain).round(1),
                                  "weeks": 12, "dose_received": dose,
                                  "resistance_sessions_received": resistance}))
    return pd.concat(rows, ignore_index=True)


def generate_cohort(n: int, seed: int, reference_date: dt.date = REFERENCE_DATE,
                    followup_weeks: int = FOLLOWUP_WEEKS) -> Cohort:
    """A synthetic cohort; `followup_weeks` of wearables and symptoms after the reference
    date (3 in the bundled demo; up to 12, the weeks a plan runs, for the care-loop
    benchmark)."""
    if n < 1:
        raise ValueError("a demo cohort needs at least one patient")
    if not 1 <= followup_weeks <= 12:
        raise ValueError("followup_weeks is 1 to 12")
    rng = np.random.default_rng(seed)
    ids = _patient_ids(n)
    scen = _scenarios(n, rng)
    clin = _clinical(ids, scen, rng, reference_date)
    counts, taxonomy, metaphlan = _microbiome(ids, scen, clin["vo2peak_ml_kg_min"].to_numpy(),
                                               rng)
    methylation, manifest = _methylation(clin, scen, rng)
    variants, variant_table = _variants(clin, scen, rng)
    blood = _blood(clin, scen, rng, reference_date)
    wearables = _wearables(clin, scen, rng, reference_date)
    followup_wear, followup_sym = _followup(clin, wearables, seed, reference_date,
                                            followup_weeks)
    outcomes = _outcomes(clin, blood, seed)
    return Cohort(
        patients=clin, scenario=pd.Series(scen, index=ids, name="scenario"), counts=counts,
        taxonomy=taxonomy, metaphlan=metaphlan, methylation=methylation, manifest=manifest,
        variants=variants, variant_table=variant_table,
        blood=blood, wearables=wearables, followup_wearables=followup_wear,
        followup_symptoms=followup_sym, reference_date=reference_date, outcomes=outcomes,
        followup_blood=_followup_blood(blood, sorted(followup_wear["patient_id"].unique()),
                                       reference_date),
    )


def _write_biom(cohort: Cohort, path: Path) -> None:
    import biom
    import h5py

    lineage = [[part.strip() for part in cohort.taxonomy[f].split(";")]
               for f in cohort.counts.index]
    table = biom.Table(cohort.counts.to_numpy(dtype=float), list(cohort.counts.index),
                       list(cohort.counts.columns),
                       observation_metadata=[{"taxonomy": t} for t in lineage],
                       table_id="precex-demo")
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=False) as handle:
        table.to_hdf5(handle, "precex demo generator",
                      creation_date=dt.datetime.combine(cohort.reference_date, dt.time()))


def _write_metaphlan(cohort: Cohort, path: Path) -> None:
    frame = cohort.metaphlan.copy()
    frame.index.name = "clade_name"
    body = frame.round(5).to_csv(sep="\t", lineterminator="\n")
    write_text(path, "#mpa_vJun23_CHOCOPhlAnSGB_202307\n" + body)


def _write_vcf(cohort: Cohort, path: Path) -> None:
    samples = list(cohort.variants.columns)
    lines = [
        "##fileformat=VCFv4.2",
        "##source=precex-demo",
        "##reference=GRCh38",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    ]
    for chrom in sorted(cohort.variant_table["chrom"].unique(), key=lambda c: int(c)):
        lines.append(f"##contig=<ID={chrom}>")
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                            "FORMAT", *samples]))
    table = cohort.variant_table.assign(chrom_n=cohort.variant_table["chrom"].astype(int))
    for row in table.sort_values(["chrom_n", "pos_grch38"]).itertuples():
        gts = cohort.variants.loc[row.rsid].tolist() if samples else []
        lines.append("\t".join([row.chrom, str(row.pos_grch38), row.rsid, row.ref, row.alt,
                                ".", "PASS", ".", "GT", *gts]))
    write_text(path, "\n".join(lines) + "\n")


# Each modality's demo input is written by the writer its registry entry names
# (precex.modalities); a writer returns the config entries of what it wrote, and writes
# nothing when no patient has data of that kind.
Files = dict[str, str | list[str]]


def write_patients(cohort: Cohort, out: Path) -> Files:
    write_tsv(out / "patients.tsv", cohort.patients)
    return {"patients": "patients.tsv"}


def write_microbiome(cohort: Cohort, out: Path) -> Files:
    tables = []
    if cohort.counts.shape[1]:
        _write_biom(cohort, out / "microbiome.biom")
        tables.append("microbiome.biom")
    if cohort.metaphlan.shape[1]:
        _write_metaphlan(cohort, out / "microbiome_metaphlan.tsv")
        tables.append("microbiome_metaphlan.tsv")
    return {"microbiome": tables} if tables else {}


def write_methylation(cohort: Cohort, out: Path) -> Files:
    if cohort.methylation.shape[1] == 0:
        return {}
    _write_methylation(cohort, out)
    return {"methylation": "methylation.tsv.gz",
            "methylation_manifest": "methylation_manifest.tsv"}


def write_variants(cohort: Cohort, out: Path) -> Files:
    if cohort.variants.shape[1] == 0:
        return {}
    _write_vcf(cohort, out / "variants.vcf")
    return {"variants": "variants.vcf"}


def write_blood(cohort: Cohort, out: Path) -> Files:
    if cohort.blood.empty:
        return {}
    write_tsv(out / "blood.tsv", cohort.blood)
    return {"blood": "blood.tsv"}


def write_wearables(cohort: Cohort, out: Path) -> Files:
    if cohort.wearables.empty:
        return {}
    write_tsv(out / "wearables.tsv", cohort.wearables)
    return {"wearables": "wearables.tsv"}


def write_cohort(cohort: Cohort, out_dir: str | Path) -> Files:
    """Write every file and a config.yaml naming them (paths relative to out_dir): each
    modality's input, the follow-up week and the outcomes."""
    from precex.modalities import REGISTRY, resolve

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: Files = {}
    for modality in REGISTRY:
        if modality.demo:
            files.update(resolve(modality.demo)(cohort, out))
    for key, table in (("followup_wearables", cohort.followup_wearables),
                       ("followup_symptoms", cohort.followup_symptoms),
                       ("followup_blood", cohort.followup_blood)):
        if not table.empty:
            write_tsv(out / f"{key}.tsv", table)
            files[key] = f"{key}.tsv"
    write_tsv(out / "outcomes.tsv", cohort.outcomes)
    files["outcomes"] = "outcomes.tsv"
    write_tsv(out / "scenarios.tsv", cohort.scenario.rename_axis("patient_id").reset_index())
    config_lines = ["# precex demo cohort; paths are relative to this directory:",
                    "# cd here, then: precex run --configfile config.yaml --cores 2"]
    for key, value in files.items():
        if isinstance(value, list):
            config_lines.append(f"{key}:")
            config_lines += [f"  - {v}" for v in value]
        else:
            config_lines.append(f"{key}: {value}")
    config_lines.append(f"reference_date: '{cohort.reference_date.isoformat()}'")
    write_text(out / "config.yaml", "\n".join(config_lines) + "\n")
    return files


def _write_methylation(cohort: Cohort, out: Path) -> None:
    with atomic_path(out / "methylation.tsv.gz") as tmp:
        # mtime=0 and no file name in the gzip header keep the file byte-identical across runs.
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                   compresslevel=1, mtime=0) as gz:
            gz.write(cohort.methylation.to_csv(sep="\t", lineterminator="\n").encode())
    manifest_text = ("# synthetic coordinates: demo probes placed in the bundled Ensembl genes, "
                     "not real array probe positions\n"
                     + cohort.manifest.to_csv(sep="\t", index=False, lineterminator="\n"))
    write_text(out / "methylation_manifest.tsv", manifest_text)
