# One job per modality for the whole batch, vectorised over patients. Each modality is
# declared once in precex/modalities.py (config key, environment, entry point, features); a
# rule runs when its input is configured (see MODALITIES in common.smk). They are the path to
# the host profile that every shard waits for, so they go before jobs off that path (priority),
# the longest first (blood and microbiome, then methylation and wearables; measured at 1,000
# and 10,000 patients): on few cores the last to finish is then a short one.


rule microbiome:
    input:
        tables=get_microbiome_tables,
        roster=f"{RESULTS}/validated/roster.tsv",
        taxonomy=get_optional_input("microbiome_taxonomy"),
        sample_map=get_optional_input("microbiome_sample_map"),
        tree=get_optional_input("microbiome_tree"),
        reference=get_optional_input("microbiome_reference"),
    output:
        features=f"{RESULTS}/microbiome/features.tsv",
        genus_clr=f"{RESULTS}/microbiome/genus_clr.tsv",
        exclusions=f"{RESULTS}/microbiome/exclusions.tsv",
        problems=f"{RESULTS}/microbiome/problems.tsv",
    log:
        f"{RESULTS}/logs/microbiome.log",
    benchmark:
        f"{RESULTS}/benchmarks/microbiome.tsv"
    priority: 7
    conda:
        get_env("microbiome")
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("microbiome.py"),
        min_depth=CFG["microbiome_min_depth"],
    script:
        "../scripts/microbiome.py"


rule epigenetics:
    input:
        matrix=get_methylation_files(),
        gtf=CFG["genome_gtf"],
        roster=f"{RESULTS}/validated/roster.tsv",
        manifest=get_optional_input("methylation_manifest"),
        sample_map=get_optional_input("methylation_sample_map"),
    output:
        features=f"{RESULTS}/epigenetics/features.tsv",
        exclusions=f"{RESULTS}/epigenetics/exclusions.tsv",
        problems=f"{RESULTS}/epigenetics/problems.tsv",
    log:
        f"{RESULTS}/logs/epigenetics.log",
    benchmark:
        f"{RESULTS}/benchmarks/epigenetics.tsv"
    priority: 6
    conda:
        get_env("epigenetics")
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("epigenetics.py"),
        cache_dir=CFG.get("pyensembl_cache_dir", f"{RESULTS}/cache/pyensembl"),
        value_type=CFG["methylation_values"],
        residual_min_batch=CFG["clock_residual_min_batch"],
        panel=CFG["gene_panel"],
        max_missing=CFG["clock_max_missing_fraction"],
        detection_p=CFG["methylation_detection_p"],
        max_abs_acceleration=CFG["clock_max_abs_acceleration"],
    script:
        "../scripts/epigenetics.py"


rule genetics:
    input:
        vcf=CFG.get("variants", []),
        gtf=CFG["genome_gtf"],
        roster=f"{RESULTS}/validated/roster.tsv",
        sample_map=get_optional_input("variants_sample_map"),
    output:
        features=f"{RESULTS}/genetics/features.tsv",
        exclusions=f"{RESULTS}/genetics/exclusions.tsv",
        problems=f"{RESULTS}/genetics/problems.tsv",
        variants=f"{RESULTS}/genetics/variants.tsv",
    log:
        f"{RESULTS}/logs/genetics.log",
    priority: 5
    conda:
        get_env("genetics")
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("genetics.py"),
        cache_dir=CFG.get("pyensembl_cache_dir", f"{RESULTS}/cache/pyensembl"),
    script:
        "../scripts/genetics.py"


rule blood:
    input:
        blood=get_blood_files(),
        roster=f"{RESULTS}/validated/roster.tsv",
    output:
        features=f"{RESULTS}/blood/features.tsv",
        provenance=f"{RESULTS}/blood/provenance.tsv",
        exclusions=f"{RESULTS}/blood/exclusions.tsv",
        problems=f"{RESULTS}/blood/problems.tsv",
    log:
        f"{RESULTS}/logs/blood.log",
    benchmark:
        f"{RESULTS}/benchmarks/blood.tsv"
    priority: 7
    conda:
        get_env("blood")
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("blood.py"),
        reference_date=CFG["reference_date"],
        window_days=CFG["blood_window_days"],
        identifier_system=CFG.get("blood_patient_identifier_system"),
        date_format=CFG["date_format"],
    script:
        "../scripts/blood.py"


rule clinical:
    input:
        patients=f"{RESULTS}/validated/patients.tsv",
    output:
        features=f"{RESULTS}/clinical/features.tsv",
    log:
        f"{RESULTS}/logs/clinical.log",
    priority: 5
    conda:
        get_env("clinical")
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("clinical.py"),
        reference_date=CFG["reference_date"],
    script:
        "../scripts/clinical.py"


rule wearables:
    input:
        wearables=CFG.get("wearables", []),
        roster=f"{RESULTS}/validated/roster.tsv",
        id_map=CFG.get("wearables_id_map", []),
    output:
        features=f"{RESULTS}/wearables/features.tsv",
        exclusions=f"{RESULTS}/wearables/exclusions.tsv",
        problems=f"{RESULTS}/wearables/problems.tsv",
    log:
        f"{RESULTS}/logs/wearables.log",
    benchmark:
        f"{RESULTS}/benchmarks/wearables.tsv"
    priority: 6
    conda:
        get_env("wearables")
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("wearables.py"),
        reference_date=CFG["reference_date"],
        previous_prescriptions=CFG.get("previous_prescriptions"),
        time_zone=CFG["wearables_time_zone"],
    script:
        "../scripts/wearables.py"
