"""Shim: the batch's adaptation tables from the shards' (rule adapt)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.adaptation.stage import merge_shards
from precex.script_runner import run_stage

run_stage(snakemake, merge_shards)  # noqa: F821 (injected by Snakemake)
