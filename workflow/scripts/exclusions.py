"""Shim: results/exclusions.tsv and the no-patient-lost check (rule exclusions)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.exclusions import merge_exclusions
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: merge_exclusions(list(sm.input.parts), sm.input.sheet,
                                      sm.input.prescriptions, sm.output.exclusions))
