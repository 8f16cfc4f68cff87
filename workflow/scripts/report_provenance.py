"""Shim: the provenance shown in patient reports (rule report_provenance)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.provenance import write_report_provenance
from precex.script_runner import run_stage

run_stage(snakemake, write_report_provenance)  # noqa: F821 (injected by Snakemake)
