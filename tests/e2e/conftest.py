"""A demo run shared by the end-to-end tests (one workflow run per test session)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .processes import Cluster, short_folder, slurm_cluster


@pytest.fixture(scope="session", autouse=True)
def answering_slurm_controller(tmp_path_factory):
    """Snakemake's SLURM executor plugin (a test dependency) queries the cluster when it is
    imported (`scontrol show config`, 10 s timeout); where slurm-wlm is installed, every
    Snakemake start would wait for that. When SLURM is installed here, a one-node cluster of
    the session's own (state in a temporary folder, its own ports) answers, via SLURM_CONF for
    every process the tests start; it is stopped afterwards and changes no output."""
    if not shutil.which("scontrol") or os.geteuid() != 0:
        yield
        return
    previous = os.environ.get("SLURM_CONF")
    with short_folder("slurm-s-") as state, slurm_cluster(state / "c") as cluster:
        if isinstance(cluster, Cluster):
            os.environ["SLURM_CONF"] = cluster.env["SLURM_CONF"]
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = previous


def precex_run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", "2",
                             "--quiet", *args], cwd=cwd, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, worker_id) -> Path:
    """The bundled demo, run once for the whole test run. Under pytest-xdist the first worker
    that needs it runs it under a file lock in the run's shared temporary folder and the
    others wait for it and read the same results (no test writes into them)."""
    if worker_id == "master":  # not distributed (-n 0)
        cwd = tmp_path_factory.mktemp("run1")
        precex_run(cwd, "--demo")
        return cwd / "results"
    shared = tmp_path_factory.getbasetemp().parent
    cwd, done = shared / "demo_run", shared / "demo_run.done"
    with open(shared / "demo_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(cwd, ignore_errors=True)  # left by a worker whose run failed
            cwd.mkdir()
            precex_run(cwd, "--demo")
            done.write_text("")
    return cwd / "results"
