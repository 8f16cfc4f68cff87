# The patient sheet, read once: the validated sheet (clinical stage, host profile) and the
# roster (every other stage).


rule validate:
    input:
        sheet=CFG["patients"],
        clinical_fhir=CFG.get("clinical_fhir", []),
    output:
        patients=f"{RESULTS}/validated/patients.tsv",
        roster=f"{RESULTS}/validated/roster.tsv",
        exclusions=f"{RESULTS}/validated/exclusions.tsv",
        problems=f"{RESULTS}/validated/problems.tsv",
    log:
        f"{RESULTS}/logs/validate.log",
    # Every stage waits for the validated sheet: it starts first when cores are short.
    priority: 10
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("validate.py"),
        strict=CFG["strict"],
        reference_date=CFG["reference_date"],
        window_days=CFG["blood_window_days"],
    script:
        "../scripts/validate.py"


rule report_provenance:
    input:
        rulebase=CFG["rulebase"],
    output:
        provenance=f"{RESULTS}/reports/report_provenance.json",
    log:
        f"{RESULTS}/logs/report_provenance.log",
    localrule: True
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("report_provenance.py"),
        config=CFG,
    script:
        "../scripts/report_provenance.py"


rule provenance:
    input:
        files=get_input_files(),
    output:
        provenance=f"{RESULTS}/provenance.json",
    log:
        f"{RESULTS}/logs/provenance.log",
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        code=get_code_digest("provenance.py"),
        config=CFG,
        stage_digests=stage_digests(),
        version=get_version(),
    script:
        "../scripts/provenance.py"
