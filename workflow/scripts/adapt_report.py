"""Shim: one shard's adapted week rendered: reports and handouts (rule adapt_report)."""

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.adaptation.week_report import render_week
from precex.script_runner import run_stage

run_stage(snakemake, render_week)  # noqa: F821 (injected by Snakemake)
