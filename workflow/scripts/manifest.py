"""Shim: manifest.json, the only output with timestamps (rule manifest)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.provenance import write_manifest
from precex.script_runner import run_stage

run_stage(snakemake, write_manifest)  # noqa: F821 (injected by Snakemake)
