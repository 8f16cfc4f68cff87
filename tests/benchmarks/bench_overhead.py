"""Snakemake's start-up and per-job overhead, apart from the work (issue 20).

    python tests/benchmarks/bench_overhead.py [--sizes 100 1000 10000] [--noop-jobs 40] [--runs 3]

- start-up: `precex run -n` on a fresh `precex demo` cohort of each size (all modalities, the
  follow-up week, outcomes): reading the config and the sheet, building the DAG, planning the
  jobs; wall and CPU time, and the number of jobs the run would have.
- per job: a workflow of N jobs that each do what every precex job does before its work
  (start Python, receive Snakemake's job object, import precex's script runner and pandas)
  and nothing else, run with `--cores 2`; (wall with N jobs - wall with 1 job) / (N - 1) x 2
  cores gives the core-seconds a job costs before its work starts.
The overhead of a whole run is then about start-up + jobs x per-job cost; the rest is work.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from harness import machine

REPO = Path(__file__).resolve().parents[2]
NOOP_SNAKEFILE = """
rule all:
    input:
        expand("out/{i}.txt", i=range(N_JOBS)),


rule noop:
    output:
        "out/{i}.txt",
    script:
        "noop.py"
"""
# What a precex shim does before its work: the package on the path, the runner, pandas.
NOOP_SCRIPT = f"""
import sys
sys.path.insert(0, {str(REPO / "workflow")!r})
from precex.script_runner import run_step  # noqa: F401  (imports pandas, as every job does)
open(snakemake.output[0], "w").write("done\\n")
"""


CHECKOUT_ENV = dict(os.environ, PYTHONPATH=str(REPO / "workflow"))


def timed(args: list[str], cwd: Path) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # this checkout's precex, not an installed one (so another commit's clone measures itself)
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=CHECKOUT_ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stdout


def startup(n: int, work: Path, runs: int = 1) -> dict:
    """The median of `runs` dry runs (the machine's timing swings by a fifth run to run)."""
    cohort = work / f"cohort{n}"
    subprocess.run([sys.executable, "-m", "precex.cli", "demo", "--patients", str(n), "--seed",
                    "11", "--out", str(cohort)], check=True, capture_output=True,
                   env=CHECKOUT_ENV)
    timings = [timed([sys.executable, "-m", "precex.cli", "run", "-n", "--cores", "2",
                      "--configfile", "config.yaml"], cohort) for _ in range(runs)]
    jobs = int(re.search(r"^total\s+(\d+)", timings[0][2], flags=re.M).group(1))
    return {"patients": n, "jobs": jobs,
            "startup_wall_s": statistics.median(t[0] for t in timings),
            "startup_cpu_s": statistics.median(t[1] for t in timings)}


def per_job(n_jobs: int, work: Path) -> dict:
    walls = {}
    for count in (1, n_jobs):
        here = work / f"noop{count}"
        here.mkdir()
        (here / "Snakefile").write_text(f"N_JOBS = {count}\n" + NOOP_SNAKEFILE)
        (here / "noop.py").write_text(NOOP_SCRIPT)
        walls[count] = timed([sys.executable, "-m", "snakemake", "--cores", "2", "--quiet"],
                             here)[:2]
    (wall_1, _), (wall_n, cpu_n) = walls[1], walls[n_jobs]
    return {"jobs": n_jobs, "wall_s": wall_n, "cpu_s": cpu_n,
            "core_s_per_job": 2 * (wall_n - wall_1) / (n_jobs - 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--noop-jobs", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3, help="dry runs per size (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        rows = [startup(n, work, args.runs) for n in args.sizes]
        job = per_job(args.noop_jobs, work)
    print(f"Machine: {machine()}\n")
    print(pd.DataFrame(rows).round(2).to_markdown(index=False))
    print()
    print(pd.DataFrame([job]).round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
