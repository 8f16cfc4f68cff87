"""Shim: epigenetic clocks and gene-level methylation (rule epigenetics)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.epigenetics import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm, lambda: stage.run(
    list(sm.input.matrix), sm.params.manifest, sm.input.patients, sm.input.sheet_exclusions,
    sm.input.gtf, sm.params.cache_dir,
    list(sm.params.panel), sm.params.max_missing, sm.output.features, sm.output.exclusions,
    sm.output.problems, sm.params.value_type, sm.params.residual_min_batch,
    detection_p=sm.params.detection_p, max_abs_acceleration=sm.params.max_abs_acceleration))
