"""End-to-end benchmark: synthetic cohorts through the whole pipeline (issue 10, first part).

    python tests/benchmarks/run_benchmark.py [--sizes 100 1000 10000] [--cores 2]

For each size: `precex demo` writes the cohort (not timed), a dry run counts the jobs, then
`precex run --cores N` runs everything. Reported: wall and CPU time of the whole run, the
largest resident memory of any job (RUSAGE_CHILDREN), seconds per patient, and per stage the
wall time and peak memory Snakemake's `benchmark:` files recorded (shard jobs summed, their
largest memory). Targets (issue 10): 10,000 patients < 15 min and < 4 GiB peak; seconds per
patient at 10,000 no worse than 1.2x that at 1,000.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
from harness import machine


def run_size(n: int, cores: int, work: Path) -> tuple[dict, list[dict]]:
    cohort = work / f"cohort{n}"
    subprocess.run([sys.executable, "-m", "precex.cli", "demo", "--patients", str(n), "--seed",
                    "1", "--out", str(cohort)], check=True, capture_output=True)
    dry = subprocess.run([sys.executable, "-m", "precex.cli", "run", "-n", "--cores", "1",
                          "--configfile", "config.yaml"], cwd=cohort, capture_output=True,
                         text=True, check=True)
    jobs = int(re.search(r"^total\s+(\d+)", dry.stdout, flags=re.M).group(1))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", str(cores),
                             "--configfile", "config.yaml", "--quiet"], cwd=cohort,
                            capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    stages: dict[str, dict] = defaultdict(lambda: {"wall_s": 0.0, "peak_mib": 0.0, "jobs": 0})
    for path in sorted((cohort / "results/benchmarks").rglob("*.tsv")):
        stage = path.parent.name if path.parent.name != "benchmarks" else path.stem
        row = pd.read_csv(path, sep="\t").iloc[0]
        stages[stage]["wall_s"] += float(row["s"])
        stages[stage]["peak_mib"] = max(stages[stage]["peak_mib"], float(row["max_rss"]))
        stages[stage]["jobs"] += 1
    total = {"patients": n, "jobs": jobs, "wall_s": wall,
             "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
             "peak_mib": after.ru_maxrss / 1024, "s_per_patient": wall / n}
    rows = [{"patients": n, "stage": k, **v} for k, v in sorted(stages.items())]
    return total, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    totals, stages = [], []
    with tempfile.TemporaryDirectory() as work:
        for n in args.sizes:
            total, rows = run_size(n, args.cores, Path(work))
            totals.append(total)
            stages += rows
            print(total, flush=True)
    print(f"Machine: {machine()}; --cores {args.cores}\n")
    print(pd.DataFrame(totals).round(3).to_markdown(index=False))
    print()
    print(pd.DataFrame(stages).round(2).to_markdown(index=False))


if __name__ == "__main__":
    main()
