"""Shim: microbiome features (rule microbiome)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.microbiome import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.run(
    list(sm.input.tables), sm.params.taxonomy, sm.params.sample_map, sm.input.patients,
    sm.input.sheet_exclusions, sm.params.min_depth, sm.output.features, sm.output.genus_clr,
    sm.output.exclusions, sm.output.problems, sm.params.tree, sm.params.reference))
