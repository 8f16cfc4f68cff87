"""Shim: genotypes at curated variants (rule genetics)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.genetics import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.run(sm.input.vcf, sm.input.patients, sm.input.sheet_exclusions,
                               sm.output.features, sm.output.exclusions, sm.output.problems,
                               sm.input.gtf, sm.params.cache_dir, sm.output.variants))
