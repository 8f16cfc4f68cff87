"""Shim: one shard's per-patient files at their contract paths (rule publish_shard)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.publish import run
from precex.script_runner import run_stage

run_stage(snakemake, run)  # noqa: F821 (injected by Snakemake)
