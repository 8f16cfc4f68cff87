"""Shim: validate the patient sheet (rule validate)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.io import validate_stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: validate_stage.run(sm.input.sheet, sm.output.patients, sm.output.exclusions,
                                        sm.output.problems, sm.params.strict))
