"""The demo pipeline submitted through Snakemake's SLURM executor to a real one-node cluster.

tests/hpc/slurm_cluster.sh installs (Debian slurm-wlm, munge) and starts the cluster; the test
checks that every non-local job was a SLURM job that completed, and that the outputs are
byte-identical to a local run. Skipped, saying why, only where SLURM cannot be installed or
started (it needs root).
"""

from __future__ import annotations

import filecmp
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "tests" / "hpc" / "slurm_cluster.sh"


@pytest.fixture(scope="module")
def slurm_cluster():
    if os.geteuid() != 0:
        pytest.skip("the SLURM test installs and starts daemons, which needs root")
    already = subprocess.run(["bash", str(CLUSTER), "status"], capture_output=True).returncode
    started = subprocess.run(["bash", str(CLUSTER), "start"], capture_output=True, text=True,
                             timeout=900)
    if started.returncode != 0:
        pytest.skip("SLURM could not be installed or started here: " + started.stderr[-1500:])
    yield
    if already != 0:  # stop only what this test started
        subprocess.run(["bash", str(CLUSTER), "stop"], capture_output=True, timeout=120)


def test_demo_runs_through_slurm_with_identical_outputs(slurm_cluster, demo_run, tmp_path):
    result = subprocess.run(
        ["timeout", "-k", "15", "1200", sys.executable, "-m", "precex.cli", "run",
         "--workflow-profile", str(REPO / "workflow/profiles/slurm"),
         "--slurm-init-seconds-before-status-checks", "1", "--slurm-status-command", "squeue",
         "--jobs", "4"], cwd=tmp_path, capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    rules = re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", log, flags=re.M)
    assert len(job_ids) == len([r for r in rules if r != "all"]) >= 15
    for job_id in job_ids:
        state = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True,
                               text=True).stdout
        assert "JobState=COMPLETED" in state, state
    names = sorted(p.relative_to(demo_run).as_posix() for p in demo_run.rglob("*")
                   if p.is_file() and not p.relative_to(demo_run).as_posix().startswith(
                       ("logs/", "benchmarks/", "cache/")) and p.name != "manifest.json")
    match, mismatch, errors = filecmp.cmpfiles(demo_run, tmp_path / "results", names,
                                               shallow=False)
    assert mismatch == [] and errors == [] and len(match) > 100
