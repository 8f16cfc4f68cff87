"""Shim: the responder model, its model card and predictions (rule research)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.research import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
shards = dict(sm.params.shards)
run_step(sm, lambda: stage.run(
    sm.input.outcomes, sm.input.profiles, sm.input.prescriptions, sm.params.results, shards,
    bool(sm.params.research_mode), sm.output.card, sm.output.interactions,
    sm.output.predictions, dict(zip(shards, sm.output.shards, strict=True)), sm.output.problems,
    sm.output.exclusions, sm.params.features, int(sm.params.bootstrap)))
