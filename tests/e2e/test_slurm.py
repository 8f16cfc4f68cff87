"""The demo pipeline submitted through Snakemake's SLURM executor to a real one-node cluster.

Each test starts a cluster of its own (tests/hpc/slurm_cluster.sh: state, sockets, logs and
PID files in the test's temporary folder, its own ports; Debian slurm-wlm and munge are
installed by .ci/run, never by the tests) and stops exactly the daemons it started. Runs
are bounded: past their timeout the process group gets SIGTERM (precex then stops Snakemake's
session), then SIGKILL, so a cluster that dies under a run can never hang the suite. Skipped,
saying why, only where SLURM is not installed or cannot start (it needs root).
"""

from __future__ import annotations

import filecmp
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .processes import Cluster, processes_in, run_bounded, short_folder, slurm_cluster

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SLURM_RUN = [sys.executable, "-m", "precex.cli", "run", "--demo", "--workflow-profile",
             str(REPO / "workflow/profiles/slurm"), "--slurm-init-seconds-before-status-checks",
             "1", "--slurm-status-command", "squeue", "--jobs", "4"]
# A site profile as the README tells a core to write one: its partition and account must
# reach every submitted job through the bundled workflow profile.
SITE_PROFILE = ("default-resources:\n  slurm_partition: \"short\"\n"
                "  slurm_account: \"my_lab\"\n")


def site_profile(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(SITE_PROFILE)
    return folder


@pytest.fixture
def own_cluster(tmp_path):
    with short_folder("slurm-t-") as state, slurm_cluster(state / "c") as cluster:
        if not isinstance(cluster, Cluster):
            pytest.skip(cluster)
        yield cluster


def test_a_site_profiles_partition_and_account_reach_every_job_of_a_dry_run(tmp_path):
    """The README's command: `--workflow-profile slurm --profile <site>`. The bundled profile
    sets no default-resources, so the site's are not replaced key by key (Snakemake's
    precedence: a workflow profile's keys win over --profile's)."""
    command = [*SLURM_RUN, "--profile", str(site_profile(tmp_path / "site")), "-n"]
    result = run_bounded(command, cwd=tmp_path, timeout=300)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    resources = re.findall(r"^\s+resources: (.*)$", text, flags=re.M)
    submitted = [r for r in resources if "mem_mb=<TBD>" not in r]  # not rule all
    assert len(submitted) >= 15
    assert all("slurm_partition=short" in r and "slurm_account=my_lab" in r for r in submitted)


def test_demo_runs_through_slurm_with_identical_outputs(own_cluster, demo_run, tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    command = [*SLURM_RUN, "--profile", str(site_profile(tmp_path / "site"))]
    result = run_bounded(command, cwd=work, env=own_cluster.env, timeout=1200)
    log = result.stdout + result.stderr
    assert not result.timed_out and result.returncode == 0, log[-4000:]
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    submitted = re.findall(r"^(?:rule|checkpoint) (\w+):", log, flags=re.M)
    local = re.findall(r"^local(?:rule|checkpoint) (\w+):", log, flags=re.M)
    assert len(job_ids) == len(submitted) >= 15
    # Publishing links files and the collecting jobs join small tables on the login node: a
    # cluster job for each would cost more than the work (issue 42's localrules).
    assert set(local) == {"publish_shard", "all", "collect_prescriptions", "exclusions",
                          "adapt", "report_provenance"}
    for job_id in job_ids:
        state = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True,
                               text=True, env=own_cluster.env).stdout
        assert "JobState=COMPLETED" in state, state
        assert "Partition=short" in state and "Account=my_lab" in state, state
    with_times = ("manifest.json", "manifest.html")
    names = sorted(p.relative_to(demo_run).as_posix() for p in demo_run.rglob("*")
                   if p.is_file() and not p.relative_to(demo_run).as_posix().startswith(
                       ("logs/", "benchmarks/", "cache/")) and p.name not in with_times)
    match, mismatch, errors = filecmp.cmpfiles(demo_run, work / "results", names,
                                               shallow=False)
    assert mismatch == [] and errors == [] and len(match) > 100


def test_a_controller_killed_mid_run_cannot_hang_the_suite(own_cluster, tmp_path):
    """Another process stops the SLURM controller while jobs are queued (as a second test run
    on the machine did): the run must end within its bound, by itself or stopped, and leave
    no precex or Snakemake process behind. The cluster of the session is untouched."""
    work = tmp_path / "run"
    work.mkdir()
    session_conf = os.environ.get("SLURM_CONF")
    output = work / "precex.log"
    with open(output, "w") as sink:
        run = subprocess.Popen(SLURM_RUN, cwd=work, env=own_cluster.env, stdout=sink,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while "submitted with SLURM jobid" not in output.read_text() and run.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before any job was submitted"
    os.kill(own_cluster.pid("slurmctld"), signal.SIGKILL)
    bound = 90.0  # Snakemake's own failure, or precex stopped by SIGTERM past it
    start = time.monotonic()
    try:
        run.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGTERM)  # what run_bounded does
        run.wait(timeout=120)
    assert time.monotonic() - start < bound + 120
    assert run.returncode != 0
    text = output.read_text()
    assert "Traceback" not in text.split("submitted with SLURM jobid", 1)[1] or \
        "precex: stopped by SIGTERM" in text
    time.sleep(1)
    assert processes_in(work, include_slurm_jobs=False) == []
    assert os.environ.get("SLURM_CONF") == session_conf


def test_a_bounded_run_kills_what_it_started(tmp_path):
    """The bound itself: a command that ignores SIGTERM and starts a child is killed with its
    child within timeout + grace."""
    script = ("import signal, subprocess, sys, time\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
              "time.sleep(600)\n")
    result = run_bounded([sys.executable, "-c", script], cwd=tmp_path, timeout=2, grace=2)
    assert result.timed_out and result.seconds < 30
    time.sleep(0.5)
    assert processes_in(tmp_path) == []
