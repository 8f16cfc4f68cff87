# Research mode (config `outcomes`): the responder model and its model card; in research_mode
# also per-shard predictions under alternative plans, shown in the patient reports.


rule research:
    input:
        profiles=f"{RESULTS}/profiles/host_profiles.tsv",
        prescriptions=f"{RESULTS}/prescriptions/prescriptions.tsv",
        shard_prescriptions=(
            expand(f"{RESULTS}/shards/{{shard}}/prescriptions", shard=SHARDS)
            if is_research_mode()
            else []
        ),
        outcomes=CFG.get("outcomes", []),
    output:
        card=f"{RESULTS}/research/model_card.json",
        interactions=f"{RESULTS}/research/interactions.tsv",
        predictions=f"{RESULTS}/research/predictions.tsv",
        shards=(
            expand(f"{RESULTS}/research/predictions/{{shard}}.json", shard=SHARDS)
            if is_research_mode()
            else []
        ),
        problems=f"{RESULTS}/research/problems.tsv",
    log:
        f"{RESULTS}/logs/research.log",
    benchmark:
        f"{RESULTS}/benchmarks/research.tsv"
    # alongside the adaptation shards: the batch report waits for it (and, in research mode,
    # the patient reports)
    priority: 3
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("research.py"),
        shards=SHARDS,
        research_mode=is_research_mode(),
        features=CFG.get("research_features"),
        bootstrap=CFG["research_bootstrap"],
    script:
        "../scripts/research.py"
