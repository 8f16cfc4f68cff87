"""Shim: results/exclusions.tsv and the no-patient-lost check (rule exclusions)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.exclusions import run
from precex.script_runner import run_stage

run_stage(snakemake, run)  # noqa: F821 (injected by Snakemake)
