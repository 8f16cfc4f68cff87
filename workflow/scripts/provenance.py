"""Shim: provenance.json (rule provenance)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.provenance import write_provenance
from precex.script_runner import run_stage

run_stage(snakemake, write_provenance)  # noqa: F821 (injected by Snakemake)
