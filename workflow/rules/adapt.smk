# Weekly adaptation: `precex run adapt --configfile F` with followup_wearables set (also part of
# the default target then). The follow-up tables are split by shard once; each shard adapts and
# renders its patients; the batch tables are merged. A patient whose follow-up data has a
# problem is excluded (results/adaptations/exclusions.tsv), the others are written.


checkpoint split_followup:
    input:
        wearables=CFG.get("followup_wearables", []),
        symptoms=CFG.get("followup_symptoms", []),
    output:
        # Each shard's rows, rewritten only when they changed: after this checkpoint only the
        # shards whose follow-up data changed are adapted again.
        wearables=update(
            expand(f"{RESULTS}/shards/{{shard}}/followup_wearables.tsv", shard=SHARDS)
        ),
        symptoms=update(
            expand(f"{RESULTS}/shards/{{shard}}/followup_symptoms.tsv", shard=SHARDS)
        ),
        problems=f"{RESULTS}/adaptations/split_problems.tsv",
    log:
        f"{RESULTS}/logs/split_followup.log",
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        shards=SHARDS,
    script:
        "../scripts/split_followup.py"


rule adapt_shard:
    input:
        summary=get_prescribed("prescriptions.tsv"),
        profiles=get_prescribed("profiles"),
        prescriptions=get_prescribed("prescriptions"),
        followup_wearables=get_shard_followup("wearables"),
        followup_symptoms=get_shard_followup("symptoms"),
        rulebase=CFG["rulebase"],
        provenance=f"{RESULTS}/reports/report_provenance.json",
        notebook=workflow.source_path("../notebooks/patient_reports.ipynb"),
    output:
        adaptations=directory(f"{RESULTS}/shards/{{shard}}/adaptations"),
        reports=report(
            directory(f"{RESULTS}/shards/{{shard}}/adapted_reports"),
            patterns=["{patient}.week-{week}.html"],
            caption="../report/adaptation.rst",
            category="Adapted weekly reports",
            labels={"patient": "{patient}", "week": "{week}"},
        ),
        handouts=report(
            directory(f"{RESULTS}/shards/{{shard}}/adapted_handouts"),
            patterns=["{patient}.week-{week}.html"],
            caption="../report/handout.rst",
            category="Adapted weekly handouts",
            labels={"patient": "{patient}", "week": "{week}"},
        ),
        table=f"{RESULTS}/shards/{{shard}}/adaptations.tsv",
        exclusions=f"{RESULTS}/shards/{{shard}}/adaptation_exclusions.tsv",
        problems=f"{RESULTS}/shards/{{shard}}/adaptation_problems.tsv",
    log:
        f"{RESULTS}/logs/adapt_shard/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/adapt_shard/{{shard}}.tsv"
    # the longest shard job starts first, so the batch does not end waiting on one of them
    priority: 3
    conda:
        ENVS["report"]  # renders the adapted reports
    threads: 1
    resources:
        mem_mb=get_shard_mem_mb,
        runtime=get_shard_runtime,
    params:
        # Problems name the user's files; the job reads only its shard's rows of them.
        wearables_source=CFG.get("followup_wearables"),
        symptoms_source=CFG.get("followup_symptoms"),
        fhir_requester=CFG["fhir_requester"],
        fhir_bundle_type=CFG["fhir_bundle_type"],
        fhir_identifier_system=CFG["fhir_identifier_system"],
        care_team_phone=CFG["care_team_phone"],
    script:
        "../scripts/adapt_shard.py"


rule adapt:
    input:
        tables=expand(f"{RESULTS}/shards/{{shard}}/adaptations.tsv", shard=SHARDS),
        exclusions=expand(
            f"{RESULTS}/shards/{{shard}}/adaptation_exclusions.tsv", shard=SHARDS
        ),
        problems=[f"{RESULTS}/adaptations/split_problems.tsv"]
        + expand(f"{RESULTS}/shards/{{shard}}/adaptation_problems.tsv", shard=SHARDS),
    output:
        table=f"{RESULTS}/adaptations/adaptations.tsv",
        exclusions=f"{RESULTS}/adaptations/exclusions.tsv",
        problems=f"{RESULTS}/adaptations/problems.tsv",
    log:
        f"{RESULTS}/logs/adapt.log",
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    script:
        "../scripts/adapt.py"
