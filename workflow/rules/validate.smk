rule validate:
    input:
        sheet=CFG["patients"],
    output:
        patients=f"{RESULTS}/validated/patients.tsv",
        exclusions=f"{RESULTS}/validated/exclusions.tsv",
        problems=f"{RESULTS}/validated/problems.tsv",
    params:
        strict=CFG["strict"],
    log:
        f"{RESULTS}/logs/validate.log",
    conda:
        ENV
    script:
        "../scripts/validate.py"


rule provenance:
    input:
        get_input_files(),
    output:
        provenance=f"{RESULTS}/provenance.json",
    params:
        config=CFG,
    log:
        f"{RESULTS}/logs/provenance.log",
    conda:
        ENV
    script:
        "../scripts/provenance.py"
