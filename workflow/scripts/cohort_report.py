"""Shim: the batch report (rule cohort_report)."""

import os

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.reporting import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
parameters = {
    "profiles_path": os.path.abspath(sm.input.profiles),
    "prescriptions_path": os.path.abspath(sm.input.prescriptions),
    "exclusions_path": os.path.abspath(sm.input.exclusions),
    "problems_paths": [os.path.abspath(p) for p in sm.input.problems],
    "provenance_path": os.path.abspath(sm.input.provenance),
    "report_dir": os.path.abspath(os.path.dirname(sm.output.html)),
    "trial_path": os.path.abspath(sm.input.trial[0]) if sm.input.trial else "",
    "adaptations_path": os.path.abspath(sm.input.adaptations[0]) if sm.input.adaptations else "",
    "rulebase_path": os.path.abspath(sm.input.rulebase),
    "model_card_path": os.path.abspath(sm.input.model_card[0]) if sm.input.model_card else "",
}
run_step(sm, lambda: stage.run_cohort(sm.input.notebook, parameters, sm.output.html))
