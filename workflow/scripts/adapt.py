"""Shim: the batch's adaptation tables from the shards' (rule adapt)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.adaptation import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.merge_shards(
    list(sm.input.tables), list(sm.input.exclusions), list(sm.input.problems),
    sm.output.table, sm.output.exclusions, sm.output.problems))
