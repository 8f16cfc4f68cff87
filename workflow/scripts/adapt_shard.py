"""Shim: one shard's adapted prescriptions and reports (rule adapt_shard)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.adaptation import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
symptoms = sm.input.followup_symptoms if sm.params.symptoms else None
run_step(sm, lambda: stage.run_shard(
    sm.input.summary, list(sm.params.ids), sm.params.results, sm.input.followup_wearables,
    symptoms, sm.input.wearables, sm.params.symptoms, sm.input.rulebase, sm.output.table,
    sm.output.exclusions, sm.output.problems, sm.output.reports, sm.input.notebook,
    sm.input.provenance))
