"""Changing one patient's input reruns only that patient's shard and the batch-level outputs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def run(cwd: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", "2",
                             "--configfile", "config.yaml", *args, "--config", "shard_size=7"],
                            cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_one_patient_change_reruns_only_its_shard(tmp_path):
    for path in (REPO / "resources/demo").iterdir():
        shutil.copy(path, tmp_path / path.name)
    run(tmp_path)
    results = tmp_path / "results"
    before = {p: p.stat().st_mtime_ns for p in (results / "prescriptions").glob("P*.json")}
    time.sleep(1.1)  # a new mtime for the edited file
    blood = pd.read_csv(tmp_path / "blood.tsv", sep="\t", dtype=str, keep_default_na=False)
    row = (blood["patient_id"] == "P010") & (blood["marker"] == "hemoglobin")
    blood.loc[row, "value"] = (blood.loc[row, "value"].astype(float) * 0.9).round(3).astype(str)
    blood.to_csv(tmp_path / "blood.tsv", sep="\t", index=False)
    log = run(tmp_path)
    shards = set(re.findall(r"wildcards: shard=(\w+)", log))
    assert shards == {"shard0002"}  # P008-P014 with shards of 7
    for rule in ("blood", "host_profile", "collect_prescriptions", "cohort_report", "manifest"):
        assert re.search(rf"(rule|checkpoint) {rule}:", log), rule
    for rule in ("microbiome", "epigenetics", "wearables", "validate"):
        assert not re.search(rf"rule {rule}:", log), rule
    changed = {p.name.split(".")[0] for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert changed == {f"P{i:03d}" for i in range(8, 15)}  # only shard0002's files
    again = subprocess.run([sys.executable, "-m", "precex.cli", "run", "-n", "--cores", "1",
                            "--configfile", "config.yaml", "--config", "shard_size=7"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout + again.stderr  # no parameter changes per run
