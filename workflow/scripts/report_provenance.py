"""Shim: the provenance shown in patient reports (rule report_provenance)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.io.files import write_json
from precex.provenance import build_report_provenance
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: write_json(sm.output.provenance,
                                build_report_provenance(dict(sm.params.config))))
