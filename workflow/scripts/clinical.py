"""Shim: clinical features (rule clinical)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.clinical import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.run(sm.input.patients, sm.params.reference_date, sm.output.features))
