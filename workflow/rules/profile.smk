checkpoint host_profile:
    input:
        unpack(get_modality_features),
        patients=f"{RESULTS}/validated/patients.tsv",
        sheet=CFG["patients"],
    output:
        profiles=f"{RESULTS}/profiles/host_profiles.tsv",
        # A checkpoint with a directory of shard tables: a shard table is rewritten only when
        # its content changed, and Snakemake re-evaluates the shard jobs after this job, so a
        # change to one patient's input reruns only that patient's shard.
        shards=directory(f"{RESULTS}/profiles/shards"),
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
