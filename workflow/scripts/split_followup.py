"""Shim: split the follow-up tables by shard (rule split_followup)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.adaptation.stage import split_followup
from precex.script_runner import run_stage

run_stage(snakemake, split_followup)  # noqa: F821 (injected by Snakemake)
