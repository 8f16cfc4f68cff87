"""Shim: patient reports and handouts for one shard on one warm kernel (rule report_shard)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.reporting.stage import run_shard
from precex.script_runner import run_stage

run_stage(snakemake, run_shard)  # noqa: F821 (injected by Snakemake)
