"""Shim: patient reports for one shard on one warm kernel (rule report_shard)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.reporting import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.run_shard(
    sm.input.summary, list(sm.params.ids), sm.params.results, sm.input.provenance,
    sm.input.notebook, sm.output.index, sm.output.exclusions, sm.output.reports,
    sm.input.research[0] if sm.input.research else "", sm.output.handouts,
    bool(sm.params.pdf)))
