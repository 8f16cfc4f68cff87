# The workflow lives in workflow/Snakefile (the Snakemake workflow catalog layout); this file
# lets `snakemake` and `precex run` start from the repository root. Included the way Snakemake
# includes a module, so that its default target (rule all) stays the default here.
workflow.include("workflow/Snakefile", overwrite_default_target=True)
