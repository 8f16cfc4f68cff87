# Per shard: each patient's profile, prescription and FHIR bundle in the shard's folders.


rule prescribe_shard:
    input:
        features=get_shard_features,
        domains=get_shard_domains,
        rulebase=CFG["rulebase"],
        trial=get_trial_allocation,
        signoff=get_signoff_log,
        signoff_head=get_signoff_head,
        signoff_users=get_signoff_users,
    output:
        profiles=directory(f"{RESULTS}/shards/{{shard}}/profiles"),
        prescriptions=directory(f"{RESULTS}/shards/{{shard}}/prescriptions"),
        summary=f"{RESULTS}/shards/{{shard}}/prescriptions.tsv",
        exclusions=f"{RESULTS}/shards/{{shard}}/prescription_exclusions.tsv",
        problems=f"{RESULTS}/shards/{{shard}}/prescription_problems.tsv",
    log:
        f"{RESULTS}/logs/prescribe_shard/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prescribe_shard/{{shard}}.tsv"
    # every later stage waits for the prescriptions
    priority: 4
    conda:
        ENVS["core"]
    threads: get_lone_shard_threads
    resources:
        mem_mb=get_shard_mem_mb,
        runtime=get_shard_runtime,
    params:
        code=get_code_digest("prescribe_shard.py"),
        reference_date=CFG["reference_date"],
        evidence_floor=CFG["evidence_floor"],
        research_mode=CFG["research_mode"],
        fhir_requester=CFG["fhir_requester"],
        fhir_bundle_type=CFG["fhir_bundle_type"],
        fhir_identifier_system=CFG["fhir_identifier_system"],
    script:
        "../scripts/prescribe_shard.py"


rule collect_prescriptions:
    input:
        summaries=expand(f"{RESULTS}/shards/{{shard}}/prescriptions.tsv", shard=SHARDS),
    output:
        table=f"{RESULTS}/prescriptions/prescriptions.tsv",
    log:
        f"{RESULTS}/logs/collect_prescriptions.log",
    # tiny, and the research job waits for it
    priority: 4
    localrule: True
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("collect_prescriptions.py"),
    script:
        "../scripts/collect_prescriptions.py"


rule exclusions:
    input:
        parts=get_stage_exclusions,
        roster=f"{RESULTS}/validated/roster.tsv",
        prescriptions=f"{RESULTS}/prescriptions/prescriptions.tsv",
    output:
        exclusions=f"{RESULTS}/exclusions.tsv",
    log:
        f"{RESULTS}/logs/exclusions.log",
    localrule: True
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("exclusions.py"),
        sheet=CFG["patients"],
    script:
        "../scripts/exclusions.py"


# Per shard: the shard's per-patient files at their contract paths (results/prescriptions/
# {patient}.json, results/reports/{patient}.html, ...), listed in the shard's publish index.
# A missing or stale contract file makes the index's next generation the target, so a plain
# rerun restores it by running this job alone (precex/publish.py says why the contract files
# are not declared one by one).
rule publish_shard:
    input:
        unpack(get_publish_inputs),
    output:
        index=f"{RESULTS}/shards/{{shard}}/published/{{generation}}.tsv",
    log:
        f"{RESULTS}/logs/publish_shard/{{shard}}.{{generation}}.log",
    localrule: True
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_shard_mem_mb,
        runtime=get_shard_runtime,
    params:
        code=get_code_digest("publish_shard.py"),
        members=get_shard_ids,
        targets=get_contract_folders(),
    script:
        "../scripts/publish_shard.py"
