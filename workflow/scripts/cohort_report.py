"""Shim: the batch report (rule cohort_report)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.reporting.stage import run_cohort
from precex.script_runner import run_stage

run_stage(snakemake, run_cohort)  # noqa: F821 (injected by Snakemake)
