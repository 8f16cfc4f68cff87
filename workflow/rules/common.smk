"""Helpers for the rules (get_*/is_*); all computation lives in the precex package."""

from pathlib import Path

from snakemake.exceptions import WorkflowError

from precex.config import resolve_config
from precex.io.files import expand_inputs
from precex.modalities import active, by_name
from precex.prescription.rules import rulebase_problems
from precex.publish import CONTRACT_FOLDERS, publish_target
from precex.rule_features import rule_features
from precex.sharding import assign_shards, raw_patient_ids
from precex.stage_code import code_digest, script_entries, stage_digests
from precex.version import current_version

CFG = resolve_config(config)
RESULTS = CFG["results"]
# A broken rule base stops the run here, not after minutes of profiling.
RULEBASE_PROBLEMS = rulebase_problems(CFG["rulebase"], rule_features())
if RULEBASE_PROBLEMS:
    raise WorkflowError(RULEBASE_PROBLEMS)
SHARDS = assign_shards(raw_patient_ids(CFG["patients"]), CFG["shard_size"])
# Follow-up weeks the pipeline can adapt (config adaptation_weeks), and what the split writes
# for each shard and week.
WEEKS = list(range(1, CFG["adaptation_weeks"] + 1))
FOLLOWUP_KINDS = ["wearables", "symptoms", "blood", "patients"]
# The profiling stages this config runs (precex.modalities: clinical always, each other
# modality when its input is configured), in registry order.
MODALITIES = [m.name for m in active(CFG)]
# One conda environment per rule group (--software-deployment-method conda).
ENVS = {
    group: f"../../envs/{group}.yaml"
    for group in ("core", "microbiome", "omics", "report")
}


wildcard_constraints:
    shard=r"shard\d+",
    generation=r"\d+",
    week=r"\d+",


def is_configured(key):
    return CFG.get(key) is not None


def get_code_digest(script):
    """The digest of the package code, notebooks and reference data a rule's script runs
    (precex.stage_code): a param, so an upgrade that changes them reruns the rule."""
    return code_digest(script_entries(script))


def get_version():
    """precex's version (git-derived): provenance.json records it."""
    return current_version()


def get_optional_input(key):
    """A configured file as a declared input (none when the key is not set)."""
    return [CFG[key]] if is_configured(key) else []


def get_env(stage):
    """The conda environment a modality's registry entry names."""
    return ENVS[by_name(stage).env]


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


# Checkpoints. host_profile and split_followup write per-shard tables, and rewrite a table
# only when its content changed (update(): Snakemake keeps it meanwhile). Every shard job
# reads through them (get_shard_*, get_prescribed, get_publish_inputs), so Snakemake decides
# after the checkpoint which shards must run: one patient's change reruns that patient's
# shard of each stage and the batch merges, not the other shards. (A job that depended on
# them only through another shard job would keep the plan made before the checkpoint.)


def get_shard_features(wildcards):
    checkpoints.host_profile.get()
    return f"{RESULTS}/shards/{wildcards.shard}/features.jsonl"


def get_shard_domains(wildcards):
    checkpoints.host_profile.get()
    return f"{RESULTS}/shards/{wildcards.shard}/domains.jsonl"


def get_prescribed(name):
    """A prescription job's output (its summary table, its profile or prescription folder)
    for a later shard job. Through the checkpoint, so report, adaptation and publish jobs are
    re-evaluated after it like the prescription jobs (a plan made before it would rerun every
    shard)."""

    def prescribed(wildcards):
        checkpoints.host_profile.get()
        return f"{RESULTS}/shards/{wildcards.shard}/{name}"

    return prescribed


def get_week_followup(kind):
    """One of the week's follow-up tables of the shard (its patients table included); none
    for the blood counts unless followup_blood is set."""

    def week_table(wildcards):
        checkpoints.split_followup.get()
        if kind == "blood" and not is_configured("followup_blood"):
            return []
        shard, week = wildcards.shard, wildcards.week
        return f"{RESULTS}/shards/{shard}/followup/week-{week}.{kind}.tsv"

    return week_table


def get_previous_week(wildcards):
    """Week 1 adapts the shard's prescriptions; week N the shard's adaptations of week N-1."""
    week = int(wildcards.week)
    if week == 1:
        return get_prescribed("prescriptions")(wildcards)
    return f"{RESULTS}/shards/{wildcards.shard}/weeks/{week - 1}/adaptations"


def get_adapted_weeks(shard):
    """The weeks with patients to adapt in the shard (read after the split checkpoint): week 1
    always (every prescribed patient is adapted once, with or without follow-up data).
    """
    checkpoints.split_followup.get()
    weeks = [1]
    for week in WEEKS[1:]:
        table = Path(f"{RESULTS}/shards/{shard}/followup/week-{week}.patients.tsv")
        with table.open(encoding="utf-8") as handle:
            if sum(1 for _ in handle) <= 1:  # the header only: nobody reaches this week
                break
        weeks.append(week)
    return weeks


def get_adapted_weeks_files(name):
    """A per-week output of every shard's adapted weeks (the batch merge's inputs)."""

    def files(wildcards):
        return [
            f"{RESULTS}/shards/{shard}/weeks/{week}/{name}"
            for shard in SHARDS
            for week in get_adapted_weeks(shard)
        ]

    return files


def get_adaptation_problems(wildcards):
    return (
        [f"{RESULTS}/adaptations/split_problems.tsv"]
        + get_adapted_weeks_files("adaptation_problems.tsv")(wildcards)
        + get_adapted_weeks_files("adapted_report_problems.tsv")(wildcards)
    )


def through_checkpoints():
    """Wait for the checkpoints a shard job's inputs come from."""
    checkpoints.host_profile.get()
    if is_configured("followup_wearables"):
        checkpoints.split_followup.get()


def get_modality_features(wildcards):
    return [f"{RESULTS}/{stage}/features.tsv" for stage in MODALITIES]


def get_excluding_stages():
    """The batch stages that may exclude patients: the sheet's, then the modalities'."""
    return ["validated"] + [s for s in MODALITIES if by_name(s).excludes]


def get_stage_exclusions(wildcards):
    parts = [f"{RESULTS}/{s}/exclusions.tsv" for s in get_excluding_stages()]
    for kind in ["prescription", "report"]:
        parts += expand(
            f"{RESULTS}/shards/{{shard}}/{kind}_exclusions.tsv", shard=SHARDS
        )
    if is_configured("followup_wearables"):
        # the weeks' own tables (the merged adaptations/exclusions.tsv holds the same
        # rows): the batch exclusions need not wait for the adaptation merge job
        parts += get_adapted_weeks_files("adaptation_exclusions.tsv")(wildcards)
    return parts


def get_stage_problems(wildcards):
    # Every stage's problems reach the batch report.
    parts = [f"{RESULTS}/{s}/problems.tsv" for s in get_excluding_stages()]
    for kind in ("prescription", "report"):
        parts += expand(f"{RESULTS}/shards/{{shard}}/{kind}_problems.tsv", shard=SHARDS)
    if is_configured("followup_wearables"):
        parts.append(f"{RESULTS}/adaptations/problems.tsv")
    if is_configured("outcomes"):
        parts.append(f"{RESULTS}/research/problems.tsv")
    return parts


def get_shard_ids(wildcards):
    return SHARDS[wildcards.shard]


def get_input_files():
    files = []
    for key in (
        "followup_wearables",
        "followup_symptoms",
        "followup_blood",
        "outcomes",
        "trial_allocation",
        "patients",
        "microbiome_taxonomy",
        "microbiome_tree",
        "microbiome_reference",
        "microbiome_sample_map",
        "methylation_manifest",
        "methylation_sample_map",
        "variants_sample_map",
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


def get_signoff_head(wildcards):
    # The signed head beside the log (how many decisions it has): a removed row is noticed.
    path = CFG["signoff_log"] + ".head"
    return [path] if Path(path).is_file() else []


def get_signoff_users(wildcards):
    # The public keys the log's signatures are checked with (precex users add writes them).
    path = CFG["review_users"]
    return [path] if Path(path).is_file() and Path(CFG["signoff_log"]).is_file() else []


def is_research_mode():
    """Reports show the responder model's predictions only in research_mode."""
    return is_configured("outcomes") and CFG["research_mode"]


def get_shard_research(wildcards):
    if is_research_mode():
        return [f"{RESULTS}/research/predictions/{wildcards.shard}.json"]
    return []


def get_research_outputs():
    return [f"{RESULTS}/research/model_card.json"] if is_configured("outcomes") else []


def get_adaptation_outputs():
    if not is_configured("followup_wearables"):
        return []
    return [f"{RESULTS}/adaptations/adaptations.tsv"]


def get_shard_folder_names():
    """The publish job's input names (precex.publish.Inputs)."""
    names = ["profiles", "prescriptions", "reports", "handouts"]
    if is_configured("followup_wearables"):
        names += ["adaptations", "adapted_reports", "adapted_handouts"]
    return names


def get_shard_folders(shard):
    """The shard's per-patient folders (publish input name -> folder, or the folders of
    every adapted week); an input function's helper (it reads the split checkpoint)."""
    names = ["profiles", "prescriptions", "reports", "handouts"]
    folders = {name: f"{RESULTS}/shards/{shard}/{name}" for name in names}
    if is_configured("followup_wearables"):
        weeks = get_adapted_weeks(shard)
        for name in ("adaptations", "adapted_reports", "adapted_handouts"):
            folders[name] = [
                f"{RESULTS}/shards/{shard}/weeks/{w}/{name}" for w in weeks
            ]
    return folders


def get_publish_inputs(wildcards):
    through_checkpoints()
    return get_shard_folders(wildcards.shard)


def get_contract_folders():
    return {name: f"{RESULTS}/{folder}" for name, folder in CONTRACT_FOLDERS.items()}


def get_all_shard_folders(wildcards):
    folders = []
    for shard in SHARDS:
        for value in get_shard_folders(shard).values():
            folders += value if isinstance(value, list) else [value]
    return folders


def get_publish_indexes():
    """Each shard's publish index: the next generation when a contract file is missing or
    stale, so that a plain rerun puts it back (precex.publish)."""
    return [publish_target(f"{RESULTS}/shards/{shard}/published") for shard in SHARDS]


def get_batch_outputs():
    """The batch-level outputs the manifest lists (besides the per-patient files)."""
    files = [
        f"{RESULTS}/profiles/host_profiles.tsv",
        f"{RESULTS}/prescriptions/prescriptions.tsv",
        f"{RESULTS}/exclusions.tsv",
        f"{RESULTS}/reports/cohort.html",
        f"{RESULTS}/provenance.json",
        f"{RESULTS}/validated/patients.tsv",
        f"{RESULTS}/validated/problems.tsv",
    ]
    for stage in MODALITIES:
        files.append(f"{RESULTS}/{stage}/features.tsv")
        if by_name(stage).excludes:
            files.append(f"{RESULTS}/{stage}/problems.tsv")
    if is_configured("followup_wearables"):
        files += [
            f"{RESULTS}/adaptations/{name}.tsv"
            for name in ("adaptations", "exclusions", "problems")
        ]
    if is_configured("outcomes"):
        files += [
            f"{RESULTS}/research/{name}"
            for name in ("model_card.json", "interactions.tsv", "predictions.tsv")
        ]
    return files


def get_final_outputs(wildcards):
    return get_batch_outputs() + get_publish_indexes() + [f"{RESULTS}/manifest.json"]


# Resources. Figures from tests/benchmarks/RESULTS.md (10,000 patients: blood 0.8 GB, the
# largest batch job), with headroom; a retry gets more (attempt = 1, 2, ...).
N_PATIENTS = sum(len(ids) for ids in SHARDS.values())


def get_batch_mem_mb(wildcards, attempt):
    return (1024 + N_PATIENTS // 8) * attempt


def get_batch_runtime(wildcards, attempt):
    return (10 + N_PATIENTS // 500) * attempt


def get_lone_shard_threads(wildcards):
    """Two cores for a batch of one shard, one each for a batch of several. A lone shard's
    baseline prescriptions have nothing to run beside them, so their job splits its patients
    over two forked workers (precex.workers) instead of leaving a core idle; the shards of a
    larger batch already keep every core busy side by side. Outputs do not depend on it.
    """
    return 2 if len(SHARDS) == 1 else 1


def get_shard_mem_mb(wildcards, attempt):
    # measured: ~300 MiB at 250 patients, ~380 MiB at 1,000 (about 0.1 MiB per patient)
    return (768 + len(SHARDS[wildcards.shard])) * attempt


def get_shard_runtime(wildcards, attempt):
    return (10 + len(SHARDS[wildcards.shard]) // 50) * attempt
