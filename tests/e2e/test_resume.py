"""Killing a run midway and running again finishes without redoing completed jobs."""

from __future__ import annotations

import filecmp
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_killed_run_resumes_without_redoing_finished_jobs(demo_run, tmp_path):
    first = subprocess.Popen([sys.executable, "-m", "precex.cli", "run", "--demo", "--cores", "1"],
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
    resumed = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--demo", "--cores", "2",
                              "--rerun-incomplete", "--unlock"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--demo", "--cores", "2",
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
    assert done_before == {"patients.tsv", "roster.tsv", "exclusions.tsv", "problems.tsv"}
    results = tmp_path / "results"
    names = [p.relative_to(demo_run).as_posix() for p in (demo_run / "prescriptions").iterdir()]
    names += ["exclusions.tsv", "reports/cohort.html", "profiles/host_profiles.tsv"]
    match, mismatch, errors = filecmp.cmpfiles(demo_run, results, names, shallow=False)
    assert mismatch == [] and errors == []
    again = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--demo", "--cores", "1",
                            "-n"], cwd=tmp_path, capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert Path(results / "manifest.json").exists()


# Kill points: after the k-th job finished in that attempt, plus a delay that lands inside the
# next job; six kills spread over the run (21 jobs; 11 finish before the last kill).
KILL_POINTS = [(1, 0.2), (2, 1.0), (2, 0.5), (3, 2.0), (1, 0.1), (2, 1.5)]


def assert_no_partial_file_looks_complete(results: Path) -> None:
    """Every file a reader would take as finished parses completely; temporary files of an
    interrupted atomic write are hidden (.name.tmp), and so are the folders a killed job was
    filling (.name.partial): neither ever takes the final name."""
    import json

    import pandas as pd

    for path in results.rglob("*"):
        parts = path.relative_to(results).parts
        if not path.is_file() or any(part.startswith(".") for part in parts) or {
                "logs", "benchmarks"} & set(parts):
            continue
        text = path.read_bytes()
        if path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".jsonl":
            for line in text.splitlines():
                json.loads(line)
        elif path.suffix == ".tsv":
            assert text.endswith(b"\n"), path
            pd.read_csv(path, sep="\t")
        elif path.suffix == ".html":
            assert text.rstrip().endswith(b"</html>"), path


def test_killed_at_six_points_and_resumed_gives_the_uninterrupted_outputs(demo_run, tmp_path):
    """One run killed (SIGKILL, the whole process group) at six points, resumed each time with
    --rerun-incomplete; the final outputs equal the uninterrupted run's byte for byte."""
    from .test_workflow import per_patient_files

    run = [sys.executable, "-m", "precex.cli", "run", "--demo", "--cores", "1",
           "--rerun-incomplete"]
    killed_at = []
    for steps, delay in KILL_POINTS:
        subprocess.run(run + ["--unlock"], cwd=tmp_path, capture_output=True)
        proc = subprocess.Popen(run, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        done = 0
        for line in proc.stderr:
            found = re.search(r"^(\d+) of \d+ steps", line)
            if found:
                done += 1  # steps finished in this attempt
                if done == steps:
                    time.sleep(delay)
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed_at.append(line.strip())
                    break
        proc.wait()
        assert_no_partial_file_looks_complete(tmp_path / "results")
    assert len(killed_at) == len(KILL_POINTS), killed_at
    subprocess.run(run + ["--unlock"], cwd=tmp_path, capture_output=True)
    final = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-3000:]
    results = tmp_path / "results"
    files = per_patient_files(demo_run)
    assert files == per_patient_files(results)
    batch = ["profiles/host_profiles.tsv", "prescriptions/prescriptions.tsv", "exclusions.tsv",
             "reports/cohort.html", "provenance.json", "adaptations/adaptations.tsv"]
    match, mismatch, errors = filecmp.cmpfiles(demo_run, results, files + batch, shallow=False)
    assert mismatch == [] and errors == []


def _processes_in(folder: Path) -> list[str]:
    """Processes whose working directory is `folder`: what a stopped run could leave behind."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == folder:
                left.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()!r}")
        except OSError:
            continue
    return left


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["ctrl-c", "sigterm"])
def test_a_stopped_run_leaves_no_process_prints_no_traceback_and_says_how_to_resume(
        tmp_path, signum, code):
    """Ctrl-C (SIGINT) or SIGTERM to `precex run` mid-run: Snakemake and every job stop, the
    output ends with one line naming what finished and the command that resumes it, and that
    command finishes the run. precex is started with SIGINT ignored, as a script's background
    job is: Snakemake must still get its stop."""
    folder = tmp_path.resolve()
    run = subprocess.Popen([sys.executable, "-m", "precex.cli", "run", "--demo", "--cores", "2"],
                           cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)
                           if signum == signal.SIGTERM else None)
    marker = folder / "results/profiles/host_profiles.tsv"
    deadline = time.time() + 300
    while not marker.exists() and time.time() < deadline and run.poll() is None:
        time.sleep(0.1)
    assert marker.exists() and run.poll() is None, "the run never reached the host profile"
    os.kill(run.pid, signum)
    out, err = run.communicate(timeout=120)
    assert run.returncode == code, err[-3000:]
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err, err[-4000:]
    time.sleep(1)
    assert _processes_in(folder) == []
    last = err.strip().splitlines()[-1]
    assert last.startswith("precex: stopped by ") and "Resume with: precex run" in last, last
    resume = shlex.split(last.split("Resume with: ", 1)[1])
    assert resume[:2] == ["precex", "run"] and "--rerun-incomplete" in resume
    resumed = subprocess.run([sys.executable, "-m", "precex.cli", *resume[1:]], cwd=folder,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (folder / "results/manifest.json").exists()
