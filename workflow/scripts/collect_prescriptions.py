"""Shim: prescriptions.tsv from the shard summaries (rule collect_prescriptions)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.prescription.collect import concat_tables
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: concat_tables(list(sm.input.summaries), sm.output.table))
