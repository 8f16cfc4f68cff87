rule prescribe_shard:
    input:
        features=get_shard_features,
        domains=get_shard_domains,
        rulebase=CFG["rulebase"],
        trial=get_trial_allocation,
        signoff=get_signoff_log,
    output:
        summary=f"{RESULTS}/shards/{{shard}}/prescriptions.tsv",
        exclusions=f"{RESULTS}/shards/{{shard}}/prescription_exclusions.tsv",
    log:
        f"{RESULTS}/logs/prescribe_shard/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prescribe_shard/{{shard}}.tsv"
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_shard_mem_mb,
        runtime=get_shard_runtime,
    params:
        ids=get_shard_ids,
        results=get_results_dir,
        reference_date=CFG["reference_date"],
        evidence_floor=CFG["evidence_floor"],
        research_mode=CFG["research_mode"],
    script:
        "../scripts/prescribe_shard.py"


rule collect_prescriptions:
    input:
        summaries=expand(f"{RESULTS}/shards/{{shard}}/prescriptions.tsv", shard=SHARDS),
    output:
        table=f"{RESULTS}/prescriptions/prescriptions.tsv",
    log:
        f"{RESULTS}/logs/collect_prescriptions.log",
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    script:
        "../scripts/collect_prescriptions.py"


rule exclusions:
    input:
        parts=get_stage_exclusions,
        sheet=CFG["patients"],
        prescriptions=f"{RESULTS}/prescriptions/prescriptions.tsv",
    output:
        exclusions=f"{RESULTS}/exclusions.tsv",
    log:
        f"{RESULTS}/logs/exclusions.log",
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    script:
        "../scripts/exclusions.py"
