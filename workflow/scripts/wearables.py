"""Shim: wearable features (rule wearables)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.script_runner import run_step
from precex.wearables import stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.run(sm.input.wearables, sm.input.patients,
                               sm.input.sheet_exclusions, sm.params.reference_date,
                               sm.output.features, sm.output.exclusions, sm.output.problems,
                               sm.params.previous_prescriptions))
