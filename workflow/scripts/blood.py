"""Shim: harmonised blood markers and indices (rule blood)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.blood.stage import run
from precex.script_runner import run_stage

run_stage(snakemake, run)  # noqa: F821 (injected by Snakemake)
