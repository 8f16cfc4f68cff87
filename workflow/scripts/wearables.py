"""Shim: activity and HRV features (rule wearables)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.script_runner import run_stage
from precex.wearables.stage import run

run_stage(snakemake, run)  # noqa: F821 (injected by Snakemake)
