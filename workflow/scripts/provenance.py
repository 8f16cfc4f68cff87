"""Shim: provenance.json (rule provenance)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.io.files import write_json
from precex.provenance import build_provenance
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: write_json(sm.output.provenance, build_provenance(dict(sm.params.config))))
