"""Test helpers that keep the machine as the tests found it: bounded runs that kill what they
started, a per-test SLURM cluster, and a check for processes left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CLUSTER = Path(__file__).resolve().parents[1] / "hpc" / "slurm_cluster.sh"


@dataclass
class BoundedRun:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float


def _stat(pid: str) -> tuple[str, int]:
    """(command name, parent PID) from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    return comm, int(stat[stat.rindex(")") + 2:].split()[1])


def _under_slurmstepd(pid: str) -> bool:
    """A SLURM job's own process (slurmd runs it; stopping the cluster ends it)."""
    seen = 0
    while pid not in ("0", "1") and seen < 64:
        try:
            comm, parent = _stat(pid)
        except (OSError, ValueError):
            return False
        if comm.startswith("slurmstepd"):
            return True
        pid, seen = str(parent), seen + 1
    return False


def processes_in(folder: Path, *, include_slurm_jobs: bool = True) -> list[str]:
    """Processes whose working directory is inside `folder`: what a run there left behind."""
    folder = folder.resolve()
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            if cwd != folder and folder not in cwd.parents:
                continue
            if not include_slurm_jobs and _under_slurmstepd(entry.name):
                continue
            left.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()[:200]!r}")
        except OSError:
            continue
    return left


def kill_processes_in(folder: Path) -> None:
    for line in processes_in(folder):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)


def run_bounded(command: list[str], *, cwd: Path, timeout: float,
                env: dict[str, str] | None = None, grace: float = 60.0) -> BoundedRun:
    """Run `command` in a session of its own; past `timeout`, SIGTERM its process group (precex
    then stops Snakemake's session and every job), after `grace` SIGKILL it and anything still
    working in `cwd`. Never hangs the suite."""
    start = time.monotonic()
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    timed_out = False
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            out, err = child.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            out, err = child.communicate()
        kill_processes_in(cwd)
    return BoundedRun(child.returncode, out, err, timed_out, time.monotonic() - start)


def free_port_pair() -> int:
    """A port P with P and P+1 free (slurmctld and slurmd of one test cluster)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


@dataclass
class Cluster:
    state: Path
    env: dict[str, str]  # os.environ plus SLURM_CONF for this cluster's clients

    def pid(self, daemon: str) -> int:
        path = self.state / ("munge/munged.pid" if daemon == "munged" else f"{daemon}.pid")
        return int(path.read_text().strip())


def _cluster_command(action: str, state: Path, port: int) -> list[str]:
    return ["env", f"PRECEX_SLURM_STATE={state}", f"PRECEX_SLURM_PORT={port}", "bash",
            str(CLUSTER), action]


@contextlib.contextmanager
def short_folder(prefix: str) -> Iterator[Path]:
    """A fresh folder with a short path, removed afterwards. slurmstepd's Unix sockets live
    in the cluster's state folder, and a socket path may not exceed 108 bytes: under
    pytest-xdist (basetemp .../popen-gw0/...) a job ID of two digits crossed it, and that job
    stayed 'launch failed requeued held' until the run's timeout."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def slurm_cluster(state: Path) -> Iterator[Cluster | str]:
    """A one-node cluster with all its state in `state` (keep its path short: short_folder);
    yields it, or the reason it could not start (not root, SLURM not installed). Stops exactly
    its own daemons on exit."""
    if os.geteuid() != 0:
        yield "the SLURM tests start daemons, which needs root"
        return
    if len(str(state)) > 40:
        raise ValueError(f"{state}: a SLURM state folder needs a short path (slurmstepd's "
                         "socket paths are limited to 108 bytes); use short_folder()")
    state.mkdir(parents=True, exist_ok=True)
    port = free_port_pair()
    started = subprocess.run(_cluster_command("start", state, port), capture_output=True,
                             text=True, timeout=900)
    try:
        if started.returncode != 0:
            yield ("SLURM is not installed or could not start here (CI installs it: bash "
                   "tests/hpc/slurm_cluster.sh prepare): " + started.stderr[-1500:])
        else:
            yield Cluster(state, dict(os.environ, SLURM_CONF=str(state / "slurm.conf")))
    finally:
        subprocess.run(_cluster_command("stop", state, port), capture_output=True, timeout=120)
