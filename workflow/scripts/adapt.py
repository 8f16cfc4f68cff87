"""Shim: weekly adapted prescriptions for the batch (rule adapt)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.adaptation import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.run_batch(
    sm.input.prescriptions, sm.params.results, sm.input.wearables, sm.params.symptoms,
    sm.input.rulebase, sm.output.adapted, sm.output.table, sm.output.exclusions,
    sm.output.problems, sm.output.reports, sm.input.notebook, sm.input.provenance))
