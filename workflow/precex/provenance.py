"""Provenance without timestamps (provenance.json, shown in reports) and the run manifest.

provenance.json is part of the deterministic outputs: precex version, a digest of the config
(input paths reduced to file names, so moving a batch does not change it) and SHA-256 of every
input file. manifest.json adds what changes from run to run (time, machine, package versions,
output checksums) and is the only output with timestamps.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from precex import __version__
from precex.config import input_files
from precex.io.files import sha256, write_json, write_text

PACKAGES = ("snakemake", "pandas", "numpy", "scipy", "scikit-bio", "biom-format", "h5py",
            "pyensembl", "cyvcf2", "pint", "fhir.resources", "jsonschema", "papermill",
            "nbclient", "jinja2", "traitlets", "ipykernel", "icalendar", "ucumvert",
            "scikit-learn", "tqdm")


# Execution settings: they change how a batch runs, never what it produces.
EXECUTION_KEYS = ("base_dir", "shard_size", "results")


def _portable_config(config: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in sorted(config.items()):
        if key in EXECUTION_KEYS:
            continue
        if key in input_files(config):
            value = [os.path.basename(v) for v in value] if isinstance(value, list) \
                else os.path.basename(value)
        out[key] = value
    return out


def config_digest(config: dict[str, Any]) -> str:
    text = json.dumps(_portable_config(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def build_provenance(config: dict[str, Any], stage_digests: dict[str, str] | None = None,
                     version: str | None = None) -> dict[str, Any]:
    """What made this batch: the version, config, rule base and inputs, and per rule the
    digest of the package code and reference data it runs (precex.stage_code), which is
    what reruns a stage after an upgrade."""
    inputs = {key: [{"name": os.path.basename(p), "sha256": sha256(p)} for p in paths
                    if os.path.isfile(p)]
              for key, paths in input_files(config).items()}
    return {
        "precex_version": version or __version__,
        "config": _portable_config(config),
        "config_digest": config_digest(config),
        "rulebase_digest": sha256(config["rulebase"]),
        "stage_code_digests": dict(sorted((stage_digests or {}).items())),
        "inputs": inputs,
    }


def build_report_provenance(config: dict[str, Any]) -> dict[str, Any]:
    """What every patient report shows: version, config and rule-base digests, input names.

    It reads no input file, so a change to one patient's data does not change every report
    (each report shows the digest of its own patient's data; file checksums are in
    provenance.json, the batch report and the manifest).
    """
    return {
        "precex_version": __version__,
        "config": _portable_config(config),
        "config_digest": config_digest(config),
        "rulebase_digest": sha256(config["rulebase"]),
        "input_names": {key: [os.path.basename(p) for p in paths]
                        for key, paths in input_files(config).items()},
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _benchmark_numbers(path: Path) -> dict[str, list[float]] | None:
    """A Snakemake benchmark file's numeric cells by column (a cell that is not a number,
    such as NA, left out); None for a file that cannot be read. The csv module, not pandas:
    the manifest job is the run's last and loads no pandas for twenty small tables."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            rows = list(reader)
            if reader.fieldnames is None:  # an empty file
                return None
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    numbers: dict[str, list[float]] = {}
    for row in rows:
        for column, cell in row.items():
            try:
                value = float(cell)
            except (TypeError, ValueError):
                continue
            if not math.isnan(value):
                numbers.setdefault(column, []).append(value)
    return numbers


def stage_resources(results: str) -> dict[str, dict[str, float]]:
    """Per rule, from Snakemake's benchmark files: jobs, summed wall and CPU seconds, and the
    largest resident memory of any one job (MB)."""
    stages: dict[str, dict[str, float]] = {}
    root = Path(results) / "benchmarks"
    for path in sorted(root.glob("*.tsv")) + sorted(root.glob("*/*.tsv")):
        rule = path.stem if path.parent == root else path.parent.name
        numbers = _benchmark_numbers(path)
        if numbers is None:
            continue
        entry = stages.setdefault(rule, {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0,
                                         "max_rss_mb": 0.0})
        entry["jobs"] += 1
        entry["wall_s"] = round(entry["wall_s"] + sum(numbers.get("s", [])), 2)
        entry["cpu_s"] = round(entry["cpu_s"] + sum(numbers.get("cpu_time", [])), 2)
        if numbers.get("max_rss"):
            entry["max_rss_mb"] = round(max(entry["max_rss_mb"], max(numbers["max_rss"])), 1)
    return stages


def render_manifest_html(manifest: dict[str, Any]) -> str:
    """results/manifest.html: the run summary a core reads (versions, time and memory per
    stage). Like manifest.json it holds times, so it is outside the byte-identical outputs."""
    from precex.reporting.patient import environment

    return environment().get_template("manifest.html.j2").render(m=manifest)


def build_manifest(provenance: dict[str, Any], outputs: dict[str, str], results: str
                   ) -> dict[str, Any]:
    """provenance.json plus time, machine, package versions, each stage's time and memory,
    and the SHA-256 of every output (`outputs`: path under the results folder -> file)."""
    return {
        **provenance,
        "created_utc": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "stages": stage_resources(results),
        "outputs": {name: sha256(path) for name, path in sorted(outputs.items())},
    }


@dataclass(frozen=True)
class ProvenanceInputs:
    files: list[str]  # every input file (read through the config; declared for reruns)


@dataclass(frozen=True)
class ProvenanceOutputs:
    provenance: str


@dataclass(frozen=True)
class ProvenanceParams:
    config: dict[str, Any]
    stage_digests: dict[str, str] | None = None  # rule script -> code digest
    version: str | None = None  # precex's version where Snakemake planned the run


def write_provenance(*, inputs: ProvenanceInputs, outputs: ProvenanceOutputs,
                     params: ProvenanceParams) -> None:
    write_json(outputs.provenance, build_provenance(params.config, params.stage_digests,
                                                    params.version))


@dataclass(frozen=True)
class ReportProvenanceInputs:
    rulebase: str


def write_report_provenance(*, inputs: ReportProvenanceInputs, outputs: ProvenanceOutputs,
                            params: ProvenanceParams) -> None:
    write_json(outputs.provenance, build_report_provenance(params.config))


@dataclass(frozen=True)
class ManifestInputs:
    provenance: str
    outputs: list[str]  # the batch outputs, under the results folder
    shard_folders: list[str]  # the shards' per-patient folders (results/shards/{shard}/{kind})


@dataclass(frozen=True)
class ManifestOutputs:
    manifest: str
    summary: str


@dataclass(frozen=True)
class ManifestParams:
    pass


def write_manifest(*, inputs: ManifestInputs, outputs: ManifestOutputs,
                   params: ManifestParams) -> None:
    """manifest.json and manifest.html. Per-patient files are listed under their contract
    paths (results/reports/P001.html), hashed from the shard's copy (the same bytes)."""
    from precex.publish import CONTRACT_FOLDERS

    results = os.path.dirname(os.path.abspath(outputs.manifest))
    files = {os.path.relpath(os.path.abspath(p), results): p for p in inputs.outputs}
    for folder in inputs.shard_folders:
        contract = CONTRACT_FOLDERS[os.path.basename(folder.rstrip("/"))]
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.startswith("."):
                    files[f"{contract}/{entry.name}"] = entry.path
    with open(inputs.provenance, encoding="utf-8") as handle:
        provenance = json.load(handle)
    manifest = build_manifest(provenance, files, results)
    write_json(outputs.manifest, manifest)
    write_text(outputs.summary, render_manifest_html(manifest))
