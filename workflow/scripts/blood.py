"""Shim: blood markers (rule blood)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.blood import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.run(
    list(sm.input.blood), sm.input.patients, sm.input.sheet_exclusions,
    sm.params.reference_date, sm.params.window_days,
    sm.output.features, sm.output.provenance, sm.output.exclusions, sm.output.problems,
    identifier_system=sm.params.identifier_system))
