"""Shim: split the follow-up tables by shard (rule split_followup)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.adaptation import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
shards = dict(sm.params.shards)
out_paths = {what: dict(zip(shards, getattr(sm.output, what), strict=True))
             for what in ("wearables", "symptoms")}
run_step(sm, lambda: stage.split_followup(
    sm.input.wearables, sm.input.symptoms or None, shards, out_paths, sm.output.exclusions,
    sm.output.problems))
