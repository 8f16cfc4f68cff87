"""Shim: manifest.json, the only output with timestamps (rule manifest)."""

import json

import precex_path  # noqa: F401  (puts the shipped precex package first on sys.path)
from precex.io.files import write_json, write_text
from precex.provenance import build_manifest, render_manifest_html
from precex.script_runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)


def step():
    with open(sm.input.provenance, encoding="utf-8") as handle:
        provenance = json.load(handle)
    manifest = build_manifest(provenance, sm.params.results, {"manifest.json", "manifest.html"})
    write_json(sm.output.manifest, manifest)
    write_text(sm.output.summary, render_manifest_html(manifest))


run_step(sm, step)
