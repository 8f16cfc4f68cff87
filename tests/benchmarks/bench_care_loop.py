"""The care loop at scale (issue 41): the whole pipeline on a demo cohort with follow-up weeks,
this checkout against another commit on the same cohort, runs alternating, medians.

    python tests/benchmarks/bench_care_loop.py [--patients 1000] [--weeks 3] [--runs 3]
        [--against 8d6f183] [--workdir DIR] [--cores 2]

For each run: a fresh results folder (the previous one moved aside, deleted at the end: see
`clear`), `precex run --cores N` (the other commit's code through
a git worktree and PYTHONPATH, with this environment's packages), wall time and CPU time (the
run's children: user + system), the weekly jobs' share of the jobs' benchmark seconds
(adapt_shard, and adapt_report where the commit has it) and the weekly cost per patient and
week (those seconds / patients / weeks), in job wall seconds and in the jobs' CPU seconds (a
job's wall includes waiting for a core when more jobs and report kernels run than cores).
Prints one JSON line per run, then the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEEKLY = ("adapt_shard", "adapt_report")


def job_seconds(results: Path, column: str = "s") -> dict[str, float]:
    """Seconds of every job by rule, from Snakemake's benchmark files: wall (`s`) or CPU
    (`cpu_time`; a job's wall includes waiting for a core when jobs outnumber cores)."""
    out: dict[str, float] = {}
    for path in (results / "benchmarks").rglob("*.tsv"):
        rule = path.parent.name if path.parent.name != "benchmarks" else path.stem
        lines = path.read_text().splitlines()
        if len(lines) > 1:
            at = lines[0].split("\t").index(column)
            out[rule] = out.get(rule, 0.0) + float(lines[-1].split("\t")[at])
    return out


def clear(cohort: Path, trash: Path) -> None:
    """The previous run's results and Snakemake state moved aside, not deleted: on a file
    system without a journal (this machine's ext4) deleting 18,000 files makes every file
    created in the next minute or so cost 0.2-0.7 ms instead of 0.03 (the kernel's inode
    allocator skips recently freed inodes one by one: `perf` shows `recently_deleted` in
    `find_inode_bit`), which measured the benchmark's own clean-up, not the pipeline. The
    folders moved aside are deleted once every run is done."""
    trash.mkdir(exist_ok=True)
    for name in ("results", ".snakemake"):
        if (cohort / name).exists():
            os.rename(cohort / name, Path(tempfile.mkdtemp(dir=trash)) / name)


def run_once(code: Path, cohort: Path, cores: int, label: str, patients: int, weeks: int
             ) -> dict[str, object]:
    clear(cohort, cohort.parent / f".{cohort.name}.old-runs")
    env = dict(os.environ, PYTHONPATH=str(code / "workflow"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", str(cores), "--quiet",
                    "--configfile", "config.yaml"], cwd=cohort, env=env, check=True,
                   capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    jobs = job_seconds(cohort / "results")
    weekly = sum(v for k, v in jobs.items() if k in WEEKLY)
    weekly_cpu = sum(v for k, v in job_seconds(cohort / "results", "cpu_time").items()
                     if k in WEEKLY)
    return {"code": label, "patients": patients, "weeks": weeks, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "weekly_jobs_s": round(weekly, 1),
            "weekly_share": round(weekly / max(sum(jobs.values()), 1e-9), 2),
            "weekly_ms_per_patient_week": round(1000 * weekly / patients / weeks, 2),
            "weekly_cpu_ms_per_patient_week": round(1000 * weekly_cpu / patients / weeks, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", default=None, help="a commit to compare with")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="precex-care-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    cohort = work / f"cohort-{args.patients}-{args.weeks}"
    if not (cohort / "config.yaml").exists():
        subprocess.run([sys.executable, "-m", "precex.cli", "demo", "--patients",
                        str(args.patients), "--seed", "5", "--followup-weeks", str(args.weeks),
                        "--out", str(cohort)], check=True, capture_output=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO / "workflow")))
    codes = [("this checkout", REPO)]
    if args.against:
        other = work / f"worktree-{args.against}"
        if not other.exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(other),
                            args.against], check=True, capture_output=True)
        codes.append((args.against, other))
    rows = []
    for _ in range(args.runs):  # alternating, so a slow spell of the machine hits both
        for label, code in codes:
            row = run_once(code, cohort, args.cores, label, args.patients, args.weeks)
            print(json.dumps(row), flush=True)
            rows.append(row)
    shutil.rmtree(cohort.parent / f".{cohort.name}.old-runs", ignore_errors=True)
    for label, _ in codes:
        mine = [r for r in rows if r["code"] == label]
        print(json.dumps({"code": label, "median": {
            k: statistics.median(r[k] for r in mine)
            for k in ("wall_s", "cpu_s", "weekly_jobs_s", "weekly_share",
                      "weekly_ms_per_patient_week", "weekly_cpu_ms_per_patient_week")}}))


if __name__ == "__main__":
    main()
