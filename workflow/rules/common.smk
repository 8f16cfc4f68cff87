"""Helpers for the rules (get_*/is_*); all computation lives in the precex package."""

from pathlib import Path

from snakemake.exceptions import WorkflowError

from precex.config import resolve_config
from precex.io.files import expand_inputs
from precex.prescription.rules import rulebase_problems
from precex.sharding import assign_shards, raw_patient_ids

CFG = resolve_config(config)
RESULTS = CFG["results"]
# A broken rule base stops the run here, not after minutes of profiling.
RULEBASE_PROBLEMS = rulebase_problems(CFG["rulebase"])
if RULEBASE_PROBLEMS:
    raise WorkflowError(RULEBASE_PROBLEMS)
SHARDS = assign_shards(raw_patient_ids(CFG["patients"]), CFG["shard_size"])
# Optional modality stage -> the config key naming its input.
MODALITY_INPUTS = {
    "microbiome": "microbiome",
    "epigenetics": "methylation",
    "genetics": "variants",
    "blood": "blood",
    "wearables": "wearables",
}
# One conda environment per rule group (--software-deployment-method conda).
ENVS = {
    group: f"../../envs/{group}.yaml"
    for group in ("core", "microbiome", "omics", "report")
}


def is_configured(key):
    return CFG.get(key) is not None


def get_active_modalities():
    return [s for s, key in MODALITY_INPUTS.items() if is_configured(key)]


def get_microbiome_tables(wildcards):
    value = CFG["microbiome"]
    return value if isinstance(value, list) else [value]


def get_methylation_files():
    """The methylation matrices: one path or a list (per plate or batch)."""
    value = CFG.get("methylation") or []
    return value if isinstance(value, list) else [value]


def get_blood_files():
    """The blood files: one path, a list, or folders of files (one bundle per patient)."""
    return expand_inputs(CFG.get("blood"))


def get_modality_features(wildcards):
    tables = {"clinical": f"{RESULTS}/clinical/features.tsv"}
    for stage in get_active_modalities():
        tables[stage] = f"{RESULTS}/{stage}/features.tsv"
    return tables


def get_stage_exclusions(wildcards):
    stages = ["validated"] + get_active_modalities()
    parts = [f"{RESULTS}/{s}/exclusions.tsv" for s in stages]
    parts += expand(
        f"{RESULTS}/shards/{{shard}}/prescription_exclusions.tsv", shard=SHARDS
    )
    parts += expand(f"{RESULTS}/shards/{{shard}}/report_exclusions.tsv", shard=SHARDS)
    if is_configured("followup_wearables"):
        parts.append(f"{RESULTS}/adaptations/exclusions.tsv")
    return parts


def get_stage_problems(wildcards):
    # Every stage's problems reach the batch report: adaptation and research too.
    stages = ["validated"] + get_active_modalities()
    if is_configured("followup_wearables"):
        stages.append("adaptations")
    if is_configured("outcomes"):
        stages.append("research")
    return [f"{RESULTS}/{s}/problems.tsv" for s in stages]


def get_shard_ids(wildcards):
    return SHARDS[wildcards.shard]


def get_shard_features(wildcards):
    shards = checkpoints.host_profile.get().output.shards
    return f"{shards}/{wildcards.shard}.features.jsonl"


def get_shard_summary(wildcards):
    # Through the checkpoint, so report jobs are re-evaluated after it like the shard jobs
    # (otherwise the plan made before it would rerun every report shard).
    checkpoints.host_profile.get()
    return f"{RESULTS}/shards/{wildcards.shard}/prescriptions.tsv"


def get_shard_domains(wildcards):
    shards = checkpoints.host_profile.get().output.shards
    return f"{shards}/{wildcards.shard}.domains.jsonl"


def get_input_files():
    files = []
    for key in (
        "followup_wearables",
        "followup_symptoms",
        "outcomes",
        "trial_allocation",
        "patients",
        "microbiome_taxonomy",
        "microbiome_tree",
        "microbiome_reference",
        "microbiome_sample_map",
        "methylation_manifest",
        "variants",
        "wearables",
    ):
        if is_configured(key):
            files.append(CFG[key])
    if is_configured("microbiome"):
        files += get_microbiome_tables(None)
    files += get_blood_files() + get_methylation_files()
    return files + [CFG["rulebase"], CFG["genome_gtf"]]


def get_trial_allocation(wildcards):
    return [CFG["trial_allocation"]] if is_configured("trial_allocation") else []


def get_signoff_log(wildcards):
    # Read only once it exists: the first sign-off then reruns the prescriptions it concerns.
    path = CFG["signoff_log"]
    return [path] if Path(path).is_file() else []


def get_shard_research(wildcards):
    # Reports show the responder model's predictions only in research_mode.
    if is_configured("outcomes") and CFG["research_mode"]:
        return [f"{RESULTS}/research/predictions/{wildcards.shard}.json"]
    return []


def get_research_outputs():
    return [f"{RESULTS}/research/model_card.json"] if is_configured("outcomes") else []


def get_adaptation_outputs():
    if not is_configured("followup_wearables"):
        return []
    return [f"{RESULTS}/adaptations/adaptations.tsv"]


def get_final_outputs():
    return (
        get_adaptation_outputs()
        + get_research_outputs()
        + [
            f"{RESULTS}/profiles/host_profiles.tsv",
            f"{RESULTS}/prescriptions/prescriptions.tsv",
            f"{RESULTS}/exclusions.tsv",
            f"{RESULTS}/reports/cohort.html",
            f"{RESULTS}/manifest.json",
        ]
    )


def get_results_dir(wildcards, input):
    """The results directory, derived from the job's first input (which lies under it)."""
    first = Path(input[0])
    depth = len(first.relative_to(RESULTS).parts)
    return str(first.parents[depth - 1])


# Resources. Figures from tests/benchmarks/RESULTS.md (10,000 patients: blood 0.8 GB, the
# largest batch job), with headroom; a retry gets more (attempt = 1, 2, ...).
N_PATIENTS = sum(len(ids) for ids in SHARDS.values())


def get_batch_mem_mb(wildcards, attempt):
    return (1024 + N_PATIENTS // 8) * attempt


def get_batch_runtime(wildcards, attempt):
    return (10 + N_PATIENTS // 500) * attempt


def get_shard_mem_mb(wildcards, attempt):
    # measured: ~300 MiB at 250 patients, ~380 MiB at 1,000 (about 0.1 MiB per patient)
    return (768 + len(SHARDS[wildcards.shard])) * attempt


def get_shard_runtime(wildcards, attempt):
    return (10 + len(SHARDS[wildcards.shard]) // 50) * attempt
