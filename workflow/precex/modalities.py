"""The modality registry: every profiling stage declared once.

Each modality (a package under precex/) has one entry here: its stage name (its rule, its
results/{name}/ folder and its stage in exclusions.tsv), the config key naming its input (the
stage runs when it is set), the other config keys it reads, its conda environment, its stage
entry point, the features it gives the host profile with the host-profile domains they feed,
its input checks for `precex validate`, and the demo writer of its input. The Snakefile,
`precex validate`, the exclusions' stage order, the rule base's known features, the host
profile's domains and `precex demo` all read this list, so adding a modality is a package, a
rule and one entry. Functions are named as "module:function" and imported when used, so that
reading the registry imports no modality.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Modality:
    name: str  # stage: rule, results/{name}/, the stage column of exclusions.tsv
    config_key: str  # the input file(s); the stage runs when the key is set
    env: str  # conda environment of the rule: envs/{env}.yaml
    entry: str  # the stage entry point, run(*, inputs, outputs, params)
    features: str  # () -> set of feature names it gives the host profile
    # Host-profile domain -> the features of this modality that the domain summarises.
    domains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    related_keys: tuple[str, ...] = ()  # other config keys the stage reads
    check: str | None = None  # (config, patients, excluded) -> problems, for precex validate
    demo: str | None = None  # (cohort, folder) -> {config key: file(s)}, for precex demo
    excludes: bool = True  # may exclude patients (writes {name}/exclusions.tsv)


REGISTRY: tuple[Modality, ...] = (
    Modality(
        name="clinical", config_key="patients", env="core",
        entry="precex.clinical.stage:run",
        features="precex.clinical:provided_features",
        domains={"metabolic": ("waist_cm", "systolic_bp"),
                 "body_composition": ("height_cm", "weight_kg", "grip_kg", "chair_stand_s",
                                      "appendicular_lean_mass_kg", "gait_speed_m_s",
                                      "fat_mass_pct"),
                 "fitness": ("vo2peak_ml_kg_min", "six_mwt_m"),
                 "cardiac": ("lvef_pct", "lvef_baseline_pct"),
                 "bone": ("bone_metastases", "bone_metastasis_sites", "bone_status"),
                 "neuropathy": ("neuropathy_grade",), "lymphedema": ("lymphedema",),
                 "treatment_context": ("treatment_phase", "agents", "subtype", "stage")},
        demo="precex.demo.cohort:write_patients", excludes=False),
    Modality(
        name="microbiome", config_key="microbiome", env="microbiome",
        entry="precex.microbiome.stage:run",
        features="precex.microbiome:provided_features",
        domains={"microbiome": ("shannon", "guild_butyrate_producers_pct",
                                "shannon_percentile")},
        related_keys=("microbiome_taxonomy", "microbiome_sample_map", "microbiome_tree",
                      "microbiome_reference", "microbiome_min_depth"),
        check="precex.microbiome.stage:check_inputs",
        demo="precex.demo.cohort:write_microbiome"),
    Modality(
        name="epigenetics", config_key="methylation", env="omics",
        entry="precex.epigenetics.stage:run",
        features="precex.epigenetics:provided_features",
        domains={"epigenetic_age": ("phenoage2018_age", "horvath2013_age", "hannum2013_age")},
        related_keys=("methylation_manifest", "methylation_sample_map", "methylation_values",
                      "methylation_detection_p",
                      "genome_gtf", "gene_panel", "clock_residual_min_batch",
                      "clock_max_missing_fraction", "clock_max_abs_acceleration"),
        check="precex.epigenetics.stage:check_inputs",
        demo="precex.demo.cohort:write_methylation"),
    Modality(
        name="genetics", config_key="variants", env="omics",
        entry="precex.genetics.stage:run",
        features="precex.genetics:provided_features",
        domains={"genetics": ("rs1815739_genotype", "rs4341_genotype", "rs8192678_genotype")},
        related_keys=("genome_gtf", "variants_sample_map"),
        check="precex.genetics.stage:check_inputs",
        demo="precex.demo.cohort:write_variants"),
    Modality(
        name="blood", config_key="blood", env="core",
        entry="precex.blood.stage:run",
        features="precex.blood:provided_features",
        domains={"inflammation": ("crp_mg_l", "hs_crp_mg_l", "il6_pg_ml", "tnf_alpha_pg_ml",
                                  "nlr"),
                 "metabolic": ("glucose_mmol_l", "insulin_uiu_ml", "hba1c_pct",
                               "triglycerides_mmol_l", "hdl_mmol_l"),
                 "haematology": ("hemoglobin_g_dl", "platelets_10e9_l", "wbc_10e9_l",
                                 "neutrophils_10e9_l"),
                 "cardiac": ("nt_probnp_pg_ml", "troponin_ng_l")},
        related_keys=("blood_window_days", "blood_patient_identifier_system"),
        check="precex.blood.stage:check_inputs",
        demo="precex.demo.cohort:write_blood"),
    Modality(
        name="wearables", config_key="wearables", env="core",
        entry="precex.wearables.stage:run",
        features="precex.wearables:provided_features",
        domains={"activity": ("mvpa_min_per_week", "steps_mean", "resting_hr_mean_bpm",
                              "hrv_readiness")},
        related_keys=("previous_prescriptions",),
        check="precex.wearables.stage:check_inputs",
        demo="precex.demo.cohort:write_wearables"),
)


def resolve(reference: str) -> Callable[..., Any]:
    """The function a registry entry names as "module:function"."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def by_name(name: str) -> Modality:
    return next(m for m in REGISTRY if m.name == name)


def active(config: Mapping[str, Any]) -> list[Modality]:
    """The modalities this config runs (its input key is set), in registry order."""
    return [m for m in REGISTRY if config.get(m.config_key) not in (None, [], "")]


def optional() -> list[Modality]:
    """The modalities whose input may be absent (every one but the sheet's own)."""
    return [m for m in REGISTRY if m.config_key != "patients"]


def stage_order() -> list[str]:
    """The stages of exclusions.tsv in the order a patient meets them."""
    return ["sheet", *[m.name for m in REGISTRY if m.excludes], "prescription", "report",
            "adaptation"]


def provided_features() -> set[str]:
    """Every feature name the modalities give the host profile."""
    names: set[str] = set()
    for m in REGISTRY:
        names |= resolve(m.features)()
    return names


@functools.cache
def domain_inputs(domain: str) -> tuple[str, ...]:
    """The features a host-profile domain summarises, from every modality that feeds it."""
    return tuple(f for m in REGISTRY for f in m.domains.get(domain, ()))
