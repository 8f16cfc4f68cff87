"""Benchmark per-patient report rendering: the usual pattern against precex's warm kernel.

    python tests/benchmarks/bench_reports.py [--patients 50]

Inputs: a demo cohort run through the workflow up to the prescriptions (not timed). Then, on
the same patients and the same notebook:
- usual: one `papermill` process and one `jupyter nbconvert --to html --no-input` per patient
  (one kernel start per patient), run sequentially;
- warm kernel: `render_many`, one kernel for all patients with the namespace reset between
  them, a kernel round trip per patient (how report_shard ran before issue 20);
- batch notebook: `render_batch`, one run of patient_reports.ipynb for all patients, as a
  report_shard job runs it now (kernel start included).
Targets: at most 0.15 s per report amortised on one core (issue 7); well under 10 ms of CPU
per report beyond the kernel start (issue 20).

    python tests/benchmarks/bench_reports.py [--patients 50] [--skip-usual]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import measure, report

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "workflow" / "notebooks" / "patient_report.ipynb"
BATCH_NOTEBOOK = REPO / "workflow" / "notebooks" / "patient_reports.ipynb"


def prepare(work: str, n: int) -> list[str]:
    subprocess.run([sys.executable, "-m", "precex.cli", "demo", "--patients", str(n),
                    "--seed", "3", "--out", work], check=True, capture_output=True)
    # Targets before --config, which takes every following word as key=value.
    subprocess.run([sys.executable, "-m", "precex.cli", "run",
                    "results/shards/shard0001/prescriptions.tsv",
                    "results/reports/report_provenance.json",
                    "--configfile", "config.yaml", "--cores", "2", "--quiet", "--config",
                    f"shard_size={n}"],
                   cwd=work, check=True, capture_output=True)
    lines = (Path(work) / "results/shards/shard0001/prescriptions.tsv").read_text().splitlines()
    return [line.split("\t")[0] for line in lines[1:]]


def params(work: str, pid: str) -> dict:
    res = Path(work) / "results"
    shard = res / "shards" / "shard0001"  # the prescription job's folders
    return {"profile_path": str(shard / f"profiles/{pid}.json"),
            "prescription_path": str(shard / f"prescriptions/{pid}.json"),
            "provenance_path": str(res / "reports/report_provenance.json"),
            "research_path": ""}


def run_precex(work: str, ids: list[str]) -> dict:
    from precex.reporting.runner import RenderJob, render_many

    out = Path(work) / "precex_reports"
    jobs = [RenderJob(pid, params(work, pid), str(out / f"{pid}.html")) for pid in ids]
    failures = render_many(str(NOTEBOOK), jobs)
    return {"failures": len(failures)}


def run_batch(work: str, ids: list[str]) -> dict:
    from precex.reporting.runner import RenderJob, render_batch

    out = Path(work) / "batch_reports"
    jobs = [RenderJob(pid, params(work, pid), str(out / f"{pid}.html")) for pid in ids]
    t0 = time.process_time()
    failures = render_batch(str(BATCH_NOTEBOOK), jobs)
    return {"failures": len(failures), "parent_cpu_s": time.process_time() - t0}


def usual_report(parameters: dict[str, str], nb: Path) -> None:
    """The usual pattern for one report: a papermill process, then jupyter nbconvert."""
    bindir = Path(sys.executable).parent
    args = [str(bindir / "papermill"), str(NOTEBOOK), str(nb), "--no-progress-bar"]
    for key, value in parameters.items():
        args += ["-p", key, value]
    subprocess.run(args, check=True, capture_output=True)
    subprocess.run([str(bindir / "jupyter"), "nbconvert", "--to", "html", "--no-input",
                    str(nb)], check=True, capture_output=True)


def run_usual(work: str, ids: list[str]) -> float:
    out = Path(work) / "usual_reports"
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    for pid in ids:
        usual_report(params(work, pid), out / f"{pid}.ipynb")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--skip-usual", action="store_true",
                        help="leave out the papermill + nbconvert pattern (2.8 s per report)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        ids = prepare(work, args.patients)
        n = len(ids)
        rows = []
        if not args.skip_usual:
            usual = run_usual(work, ids)
            rows.append({"pattern": "papermill + nbconvert per patient", "patients": n,
                         "wall_s": usual, "s_per_report": usual / n})
        warm = measure("bench_reports", "run_precex", work=work, ids=ids)
        batch = measure("bench_reports", "run_batch", work=work, ids=ids)
        # cpu_s counts this process only: the kernel's own CPU is its child's
        for name, mine in (("warm kernel, a round trip per patient", warm),
                           ("batch notebook (one shard job now)", batch)):
            rows.append({"pattern": name, "patients": n, "wall_s": mine["wall_s"],
                         "s_per_report": mine["wall_s"] / n, "cpu_s": mine["cpu_s"],
                         "peak_mib": mine["peak_mib"]})
        print(report(rows, ["pattern", "patients", "wall_s", "s_per_report", "cpu_s",
                            "peak_mib"]))
        print(f"failures: warm {warm['failures']}, batch {batch['failures']}; "
              f"warm / batch wall: {warm['wall_s'] / batch['wall_s']:.1f}x; "
              f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
