"""Shim: profiles, prescriptions and FHIR bundles for one shard (rule prescribe_shard)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.prescription import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.run(
    sm.input.features, sm.input.domains, list(sm.params.ids), sm.input.rulebase,
    sm.params.results, sm.params.reference_date, sm.params.evidence_floor,
    sm.params.research_mode, sm.output.summary, sm.output.exclusions,
    sm.input.trial[0] if sm.input.trial else None,
    sm.input.signoff[0] if sm.input.signoff else None))
