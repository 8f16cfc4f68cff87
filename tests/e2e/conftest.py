"""A demo run shared by the end-to-end tests (one workflow run per test session)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLUSTER = Path(__file__).resolve().parents[1] / "hpc" / "slurm_cluster.sh"


@pytest.fixture(scope="session", autouse=True)
def answering_slurm_controller():
    """Snakemake's SLURM executor plugin (a test dependency) queries the cluster when it is
    imported; where slurm-wlm is installed but no controller runs, every Snakemake start then
    waits ~9 s for a timeout. When SLURM is installed here, keep the local one-node cluster
    up for the session (stopped afterwards if this fixture started it); it changes no output."""
    started = False
    if shutil.which("scontrol") and subprocess.run(["bash", str(CLUSTER), "status"],
                                                   capture_output=True).returncode != 0:
        started = subprocess.run(["bash", str(CLUSTER), "start"], capture_output=True,
                                 timeout=300).returncode == 0
    yield
    if started:
        subprocess.run(["bash", str(CLUSTER), "stop"], capture_output=True, timeout=120)


def precex_run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", "2",
                             "--quiet", *args], cwd=cwd, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("run1")
    precex_run(cwd)
    return cwd / "results"
