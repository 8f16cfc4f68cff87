"""End-to-end benchmark: synthetic cohorts through the whole pipeline (issue 10, first part).

    python tests/benchmarks/run_benchmark.py [--sizes 100 1000 10000] [--cores 2]

For each size: `precex demo` writes the cohort (not timed), a dry run counts the jobs, then
`precex run --cores N` runs everything. Reported: wall and CPU time of the whole run, the
largest resident memory of any job (RUSAGE_CHILDREN), seconds per patient, and per stage the
wall time and peak memory Snakemake's `benchmark:` files recorded (shard jobs summed, their
largest memory). Targets (issue 10): 10,000 patients < 15 min and < 4 GiB peak; seconds per
patient at 10,000 no worse than 1.2x that at 1,000.

`--per-patient N` (default 100) also times the usual per-patient design on the first size's
cohort, limited to N patients: each patient is a pipeline run of its own (a one-row sheet, so
every stage is a job per patient: profiling, host profile, prescription), two patients at a
time for the two cores, and each report is one `papermill` process plus one `jupyter
nbconvert --to html --no-input`. Its wall time is compared with the precex run of the same
cohort, which does more (the weekly adaptation with its reports and the batch report).

Side by side with an earlier commit (issue 20):

    python tests/benchmarks/run_benchmark.py --compare 1fef180 --sizes 2000 --seed 11 --runs 2

makes one `precex demo` cohort with this checkout, checks the commit out in a temporary git
worktree, and runs the whole pipeline on fresh copies of the cohort through that commit and
through this checkout alternately (old, new, new, old, ...: drift in the machine's speed
falls on both), each `precex run --cores N` with its own package first on PYTHONPATH.
Reported: each run's wall and CPU time, the medians, and the ratio old/new.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import yaml
from bench_reports import usual_report
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


def run_per_patient(cohort: Path, limit: int, cores: int) -> dict:
    """The usual per-patient design on the cohort precex already ran (see the docstring)."""
    from concurrent.futures import ThreadPoolExecutor

    sheet = pd.read_csv(cohort / "patients.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet = sheet.head(limit)
    config = yaml.safe_load((cohort / "config.yaml").read_text())
    for key in [k for k in config if k == "patients" or k.startswith("followup_")]:
        del config[key]

    def absolute(value: object) -> object:  # each patient runs in its own folder (own lock)
        if isinstance(value, list):
            return [absolute(v) for v in value]
        if isinstance(value, str) and (cohort / value).exists():
            return str(cohort / value)
        return value

    config = {key: absolute(value) for key, value in config.items()}
    per = cohort / "per_patient"
    per.mkdir()

    def one(pid: str) -> None:
        here = per / pid
        here.mkdir()
        sheet[sheet["patient_id"] == pid].to_csv(here / "patients.tsv", sep="\t", index=False)
        (here / "config.yaml").write_text(yaml.safe_dump(
            {**config, "patients": "patients.tsv", "shard_size": 1}))
        results = here / "results"
        subprocess.run([sys.executable, "-m", "precex.cli", "run",
                        "results/prescriptions/prescriptions.tsv",
                        "results/reports/report_provenance.json",
                        "--configfile", "config.yaml", "--cores", "1", "--quiet"],
                       cwd=here, check=True, capture_output=True)
        shard = results / "shards" / "shard0001"  # one patient: one shard
        if not (shard / "prescriptions" / f"{pid}.json").exists():
            return  # excluded (as in the precex run); no report to render
        usual_report({"profile_path": str(shard / "profiles" / f"{pid}.json"),
                      "prescription_path": str(shard / "prescriptions" / f"{pid}.json"),
                      "provenance_path": str(results / "reports/report_provenance.json")},
                     per / f"{pid}.ipynb")

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cores) as pool:
        list(pool.map(one, sheet["patient_id"]))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"patients": len(sheet), "wall_s": wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "s_per_patient": wall / len(sheet)}


REPO = Path(__file__).resolve().parents[2]


def timed_run(cohort: Path, package_root: Path, cores: int) -> dict:
    """One `precex run` of a fresh copy of the cohort with the package under package_root."""
    work = cohort.with_name(f"{cohort.name}-run")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(cohort, work)
    env = {**os.environ, "PYTHONPATH": str(package_root / "workflow")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", str(cores),
                             "--configfile", "config.yaml", "--quiet"], cwd=work, env=env,
                            capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{package_root}: {result.stderr[-3000:]}")
    shutil.rmtree(work)
    return {"wall_s": wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def compare(commit: str, n: int, seed: int, runs: int, cores: int, work: Path) -> list[dict]:
    """The same cohort through `commit` and through this checkout, alternately."""
    cohort = work / "cohort"
    subprocess.run([sys.executable, "-m", "precex.cli", "demo", "--patients", str(n), "--seed",
                    str(seed), "--out", str(cohort)], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO / "workflow")})
    old = work / "old"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), commit],
                   check=True, capture_output=True)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "workflow",
                            "Snakefile"], capture_output=True, text=True).stdout.strip()
    sides = {commit: old, f"{head}{' (with uncommitted changes)' if dirty else ''}": REPO}
    rows = []
    try:
        for run in range(runs):
            order = list(sides.items()) if run % 2 == 0 else list(sides.items())[::-1]
            for name, root in order:
                rows.append({"run": run + 1, "code": name, "patients": n,
                             **timed_run(cohort, root, cores)})
                print(rows[-1], flush=True)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)],
                       capture_output=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--per-patient", type=int, default=100,
                        help="patients for the per-patient design comparison (0: skip)")
    parser.add_argument("--compare", metavar="COMMIT",
                        help="side by side with this earlier commit (see the docstring)")
    parser.add_argument("--seed", type=int, default=11, help="demo seed for --compare")
    parser.add_argument("--runs", type=int, default=2, help="runs per side for --compare")
    args = parser.parse_args()
    if args.compare:
        with tempfile.TemporaryDirectory() as work:
            rows = compare(args.compare, args.sizes[0], args.seed, args.runs, args.cores,
                           Path(work))
        table = pd.DataFrame(rows)
        medians = table.groupby("code", sort=False)[["wall_s", "cpu_s"]].median()
        print(f"Machine: {machine()}; --cores {args.cores}; precex demo --patients "
              f"{args.sizes[0]} --seed {args.seed}\n")
        print(table.round(2).to_markdown(index=False))
        print()
        print(medians.round(2).to_markdown())
        old, new = medians.iloc[0], medians.iloc[1]
        print(f"\n{medians.index[0]} / {medians.index[1]}: {old.wall_s / new.wall_s:.2f}x wall "
              f"time, {old.cpu_s / new.cpu_s:.2f}x CPU time (medians)")
        return
    totals, stages = [], []
    comparison = None
    with tempfile.TemporaryDirectory() as work:
        for n in args.sizes:
            total, rows = run_size(n, args.cores, Path(work))
            totals.append(total)
            stages += rows
            print(total, flush=True)
            if comparison is None and args.per_patient:
                usual = run_per_patient(Path(work) / f"cohort{n}", args.per_patient, args.cores)
                comparison = {"design": "per patient (papermill + nbconvert)", **usual}
                print(comparison, flush=True)
                if usual["patients"] == n:
                    mine = {"design": "precex (shards, warm kernel)", "patients": n,
                            "wall_s": total["wall_s"], "cpu_s": total["cpu_s"],
                            "s_per_patient": total["s_per_patient"]}
                    comparison = [comparison, mine]
    print(f"Machine: {machine()}; --cores {args.cores}\n")
    print(pd.DataFrame(totals).round(3).to_markdown(index=False))
    print()
    print(pd.DataFrame(stages).round(2).to_markdown(index=False))
    if isinstance(comparison, list):
        print()
        print(pd.DataFrame(comparison).round(3).to_markdown(index=False))
        print(f"\nper-patient design / precex: "
              f"{comparison[0]['wall_s'] / comparison[1]['wall_s']:.1f}x wall time")


if __name__ == "__main__":
    main()
