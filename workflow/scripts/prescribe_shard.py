"""Shim: profiles, prescriptions and FHIR bundles for one shard (rule prescribe_shard)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.prescription.stage import run
from precex.script_runner import run_stage

run_stage(snakemake, run)  # noqa: F821 (injected by Snakemake)
