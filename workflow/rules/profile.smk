checkpoint host_profile:
    input:
        patients=f"{RESULTS}/validated/patients.tsv",
        features=get_modality_features,
    output:
        profiles=f"{RESULTS}/profiles/host_profiles.tsv",
        # One pair of tables per shard, each rewritten only when its content changed: after
        # this checkpoint Snakemake reruns only the shards whose patients changed.
        shard_features=update(
            expand(f"{RESULTS}/shards/{{shard}}/features.jsonl", shard=SHARDS)
        ),
        shard_domains=update(
            expand(f"{RESULTS}/shards/{{shard}}/domains.jsonl", shard=SHARDS)
        ),
    log:
        f"{RESULTS}/logs/host_profile.log",
    benchmark:
        f"{RESULTS}/benchmarks/host_profile.tsv"
    priority: 5
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("host_profile.py"),
        modalities=MODALITIES,
        shards=SHARDS,
    script:
        "../scripts/host_profile.py"
