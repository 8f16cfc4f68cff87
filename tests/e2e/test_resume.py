"""Killing a run midway and running again finishes without redoing completed jobs."""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_killed_run_resumes_without_redoing_finished_jobs(demo_run, tmp_path):
    first = subprocess.Popen([sys.executable, "-m", "precex.cli", "run", "--cores", "1"],
                             cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    marker = tmp_path / "results/profiles/host_profiles.tsv"
    deadline = time.time() + 300
    while not marker.exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    assert marker.exists(), "the run never reached the host profile"
    os.killpg(first.pid, signal.SIGKILL)  # a hard kill, as a node failure would be
    first.wait()
    done_before = {p.name for p in (tmp_path / "results/validated").iterdir()}
    resumed = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", "2",
                              "--rerun-incomplete", "--unlock"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", "2",
                              "--rerun-incomplete"], cwd=tmp_path, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    # Jobs upstream of the host profile had finished when it started; the host-profile job
    # itself may have been killed midway, so it may rightly run again.
    for finished in ("rule validate:", "rule blood:", "rule microbiome:", "rule epigenetics:",
                     "rule wearables:", "rule clinical:"):
        assert finished not in log, f"{finished} was redone"
    assert "rule report_shard:" in log and "rule manifest:" in log
    assert done_before == {"patients.tsv", "exclusions.tsv", "problems.tsv"}
    results = tmp_path / "results"
    names = [p.relative_to(demo_run).as_posix() for p in (demo_run / "prescriptions").iterdir()]
    names += ["exclusions.tsv", "reports/cohort.html", "profiles/host_profiles.tsv"]
    match, mismatch, errors = filecmp.cmpfiles(demo_run, results, names, shallow=False)
    assert mismatch == [] and errors == []
    again = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", "1", "-n"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert Path(results / "manifest.json").exists()
