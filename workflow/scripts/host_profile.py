"""Shim: host profiles for the batch, split into shard tables (rule host_profile)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.profile import stage
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
modalities = {k: v for k, v in sm.input.items() if k not in ("patients", "sheet")}
run_step(sm, lambda: stage.run(sm.input.patients, sm.input.sheet, sm.params.shard_size,
                               modalities, sm.output.profiles, sm.output.shards))
