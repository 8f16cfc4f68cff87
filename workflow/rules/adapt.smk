# Weekly adaptation: `precex run adapt --configfile F` with followup_wearables set (also part of
# the default target then). One batch job; a patient whose follow-up data has a problem is
# excluded (results/adaptations/exclusions.tsv), the others are written.


rule adapt:
    input:
        prescriptions=f"{RESULTS}/prescriptions/prescriptions.tsv",
        wearables=CFG.get("followup_wearables", []),
        rulebase=CFG["rulebase"],
        provenance=f"{RESULTS}/reports/report_provenance.json",
        notebook=workflow.source_path("../notebooks/patient_report.ipynb"),
    output:
        table=f"{RESULTS}/adaptations/adaptations.tsv",
        adapted=directory(f"{RESULTS}/adaptations/prescriptions"),
        reports=directory(f"{RESULTS}/adaptations/reports"),
        exclusions=f"{RESULTS}/adaptations/exclusions.tsv",
        problems=f"{RESULTS}/adaptations/problems.tsv",
    log:
        f"{RESULTS}/logs/adapt.log",
    benchmark:
        f"{RESULTS}/benchmarks/adapt.tsv"
    conda:
        ENVS["core"]
    threads: 1
    resources:
        mem_mb=get_batch_mem_mb,
        runtime=get_batch_runtime,
    params:
        symptoms=CFG.get("followup_symptoms"),
        results=get_results_dir,
    script:
        "../scripts/adapt.py"
