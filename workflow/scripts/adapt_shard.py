"""Shim: one shard's adapted prescriptions and reports (rule adapt_shard)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.adaptation.stage import run_shard
from precex.script_runner import run_stage

run_stage(snakemake, run_shard)  # noqa: F821 (injected by Snakemake)
