rule report_shard:
    input:
        summary=get_prescribed("prescriptions.tsv"),
        profiles=get_prescribed("profiles"),
        prescriptions=get_prescribed("prescriptions"),
        provenance=f"{RESULTS}/reports/report_provenance.json",
        notebook=workflow.source_path("../notebooks/patient_reports.ipynb"),
        research=get_shard_research,
    output:
        reports=report(
            directory(f"{RESULTS}/shards/{{shard}}/reports"),
            patterns=["{patient}.html"],
            caption="../report/patient.rst",
            category="Patient reports",
            labels={"patient": "{patient}"},
        ),
        handouts=report(
            directory(f"{RESULTS}/shards/{{shard}}/handouts"),
            patterns=["{patient}.html"],
            caption="../report/handout.rst",
            category="Patient handouts",
            labels={"patient": "{patient}"},
        ),
        index=f"{RESULTS}/shards/{{shard}}/reports.tsv",
        exclusions=f"{RESULTS}/shards/{{shard}}/report_exclusions.tsv",
        problems=f"{RESULTS}/shards/{{shard}}/report_problems.tsv",
    log:
        f"{RESULTS}/logs/report_shard/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_shard/{{shard}}.tsv"
    priority: 2
    conda:
        ENVS["report"]
    threads: 1
    resources:
        mem_mb=get_shard_mem_mb,
        runtime=get_shard_runtime,
    params:
        code=get_code_digest("report_shard.py"),
        pdf=CFG["report_pdf"],
        care_team_phone=CFG["care_team_phone"],
    script:
        "../scripts/report_shard.py"


rule cohort_report:
    input:
        profiles=f"{RESULTS}/profiles/host_profiles.tsv",
        prescriptions=f"{RESULTS}/prescriptions/prescriptions.tsv",
        exclusions=f"{RESULTS}/exclusions.tsv",
        problems=get_stage_problems,
        provenance=f"{RESULTS}/provenance.json",
        reports=expand(f"{RESULTS}/shards/{{shard}}/reports.tsv", shard=SHARDS),
        notebook=workflow.source_path("../notebooks/cohort_report.ipynb"),
        trial=get_trial_allocation,
        adaptations=get_adaptation_outputs(),
        model_card=get_research_outputs(),
        rulebase=CFG["rulebase"],
    output:
        html=report(
            f"{RESULTS}/reports/cohort.html",
            caption="../report/cohort.rst",
            category="Batch report",
            labels={"report": "cohort"},
        ),
    log:
        f"{RESULTS}/logs/cohort_report.log",
    conda:
        ENVS["report"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("cohort_report.py"),
    script:
        "../scripts/cohort_report.py"


rule manifest:
    input:
        provenance=f"{RESULTS}/provenance.json",
        outputs=get_batch_outputs(),
        shard_folders=get_all_shard_folders,
    output:
        manifest=f"{RESULTS}/manifest.json",
        summary=f"{RESULTS}/manifest.html",
    log:
        f"{RESULTS}/logs/manifest.log",
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("manifest.py"),
    script:
        "../scripts/manifest.py"
