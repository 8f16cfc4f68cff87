rule host_profile:
    input:
        unpack(get_modality_features),
        patients=f"{RESULTS}/validated/patients.tsv",
        sheet=CFG["patients"],
    output:
        profiles=f"{RESULTS}/profiles/host_profiles.tsv",
        shard_tables=get_shard_tables(),
    log:
        f"{RESULTS}/logs/host_profile.log",
    benchmark:
        f"{RESULTS}/benchmarks/host_profile.tsv"
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        shard_size=CFG["shard_size"],
    script:
        "../scripts/host_profile.py"
