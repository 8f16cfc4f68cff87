# Weekly adaptation: `precex run adapt --configfile F` with followup_wearables set (also part of
# the default target then). The follow-up tables are split by shard and week once; each shard
# adapts and renders its patients week by week (week N from week N-1's adapted plans); the
# batch tables are merged. A patient whose follow-up data has a problem is excluded
# (results/adaptations/exclusions.tsv), the others are written.


checkpoint split_followup:
    input:
        wearables=CFG.get("followup_wearables", []),
        symptoms=CFG.get("followup_symptoms", []),
        blood=CFG.get("followup_blood", []),
    output:
        # Each shard's rows week by week, rewritten only when they changed: after this
        # checkpoint only the weeks whose follow-up data changed (and the weeks after them)
        # are adapted again.
        tables=update(
            expand(
                f"{RESULTS}/shards/{{shard}}/followup/week-{{week}}.{{kind}}.tsv",
                shard=SHARDS,
                week=WEEKS,
                kind=FOLLOWUP_KINDS,
            )
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
        code=get_code_digest("split_followup.py"),
        shards=SHARDS,
        reference_date=CFG["reference_date"],
        date_format=CFG["date_format"],
        weeks=len(WEEKS),
    script:
        "../scripts/split_followup.py"


rule adapt_shard:
    input:
        followup_wearables=get_week_followup("wearables"),
        followup_symptoms=get_week_followup("symptoms"),
        followup_blood=get_week_followup("blood"),
        patients=get_week_followup("patients"),
        summary=get_prescribed("prescriptions.tsv"),
        # week 1 adapts the prescriptions; week N the adapted plans of week N-1
        prescriptions=get_previous_week,
        rulebase=CFG["rulebase"],
        signoff=get_signoff_log,
        signoff_head=get_signoff_head,
        signoff_users=get_signoff_users,
    output:
        adaptations=directory(f"{RESULTS}/shards/{{shard}}/weeks/{{week}}/adaptations"),
        table=f"{RESULTS}/shards/{{shard}}/weeks/{{week}}/adaptations.tsv",
        exclusions=f"{RESULTS}/shards/{{shard}}/weeks/{{week}}/adaptation_exclusions.tsv",
        problems=f"{RESULTS}/shards/{{shard}}/weeks/{{week}}/adaptation_problems.tsv",
    log:
        f"{RESULTS}/logs/adapt_shard/{{shard}}.week-{{week}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/adapt_shard/{{shard}}.week-{{week}}.tsv"
    # the chain of weeks is the critical path: its jobs start first
    priority: 4
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_shard_mem_mb,
        runtime=get_shard_runtime,
    params:
        code=get_code_digest("adapt_shard.py"),
        week=lambda wildcards: int(wildcards.week),
        # Problems name the user's files; the job reads only its shard's rows of them.
        wearables_source=CFG.get("followup_wearables"),
        symptoms_source=CFG.get("followup_symptoms"),
        blood_source=CFG.get("followup_blood"),
        fhir_requester=CFG["fhir_requester"],
        fhir_bundle_type=CFG["fhir_bundle_type"],
        fhir_identifier_system=CFG["fhir_identifier_system"],
        date_format=CFG["date_format"],
    script:
        "../scripts/adapt_shard.py"


# A week's reports and handouts in a job of their own: week N+1's plans (the chain) do not
# wait for week N's reports, which render beside them.
rule adapt_report:
    input:
        table=f"{RESULTS}/shards/{{shard}}/weeks/{{week}}/adaptations.tsv",
        adaptations=f"{RESULTS}/shards/{{shard}}/weeks/{{week}}/adaptations",
        profiles=get_prescribed("profiles"),
        provenance=f"{RESULTS}/reports/report_provenance.json",
        notebook=workflow.source_path("../notebooks/patient_reports.ipynb"),
    output:
        reports=report(
            directory(f"{RESULTS}/shards/{{shard}}/weeks/{{week}}/adapted_reports"),
            patterns=["{patient}.week-{week}.html"],
            caption="../report/adaptation.rst",
            category="Adapted weekly reports",
            labels={"patient": "{patient}", "week": "{week}"},
        ),
        handouts=report(
            directory(f"{RESULTS}/shards/{{shard}}/weeks/{{week}}/adapted_handouts"),
            patterns=["{patient}.week-{week}.html"],
            caption="../report/handout.rst",
            category="Adapted weekly handouts",
            labels={"patient": "{patient}", "week": "{week}"},
        ),
        problems=f"{RESULTS}/shards/{{shard}}/weeks/{{week}}/adapted_report_problems.tsv",
    log:
        f"{RESULTS}/logs/adapt_report/{{shard}}.week-{{week}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/adapt_report/{{shard}}.week-{{week}}.tsv"
    priority: 3
    conda:
        ENVS["report"]  # renders the adapted reports
    threads: 1
    resources:
        mem_mb=get_shard_mem_mb,
        runtime=get_shard_runtime,
    params:
        code=get_code_digest("adapt_report.py"),
        care_team_phone=CFG["care_team_phone"],
    script:
        "../scripts/adapt_report.py"


rule adapt:
    input:
        tables=get_adapted_weeks_files("adaptations.tsv"),
        exclusions=get_adapted_weeks_files("adaptation_exclusions.tsv"),
        problems=get_adaptation_problems,
    output:
        table=f"{RESULTS}/adaptations/adaptations.tsv",
        exclusions=f"{RESULTS}/adaptations/exclusions.tsv",
        problems=f"{RESULTS}/adaptations/problems.tsv",
    log:
        f"{RESULTS}/logs/adapt.log",
    localrule: True
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("adapt.py"),
    script:
        "../scripts/adapt.py"
