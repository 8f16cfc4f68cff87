"""Shim: prescriptions.tsv from the shard summaries (rule collect_prescriptions)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.prescription.collect import run
from precex.script_runner import run_stage

run_stage(snakemake, run)  # noqa: F821 (injected by Snakemake)
