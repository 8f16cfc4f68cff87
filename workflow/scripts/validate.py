"""Shim: validate the patient sheet and write the roster (rule validate)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.clinical.validate_stage import run
from precex.script_runner import run_stage

run_stage(snakemake, run)  # noqa: F821 (injected by Snakemake)
