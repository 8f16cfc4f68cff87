"""Benchmark per-patient report rendering: the usual pattern against precex's warm kernel.

    python tests/benchmarks/bench_reports.py [--patients 50]

Inputs: a demo cohort run through the workflow up to the prescriptions (not timed). Then, on
the same patients and the same notebook:
- usual: one `papermill` process and one `jupyter nbconvert --to html --no-input` per patient
  (one kernel start per patient), run sequentially;
- precex: `render_many`, one kernel for all patients with the namespace reset between them, as
  a report_shard job runs it (kernel start included).
Target (issue 7): at most 0.15 s per report amortised on one core.
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
    return {"profile_path": str(res / f"profiles/{pid}.json"),
            "prescription_path": str(res / f"prescriptions/{pid}.json"),
            "provenance_path": str(res / "reports/report_provenance.json"),
            "research_path": ""}


def run_precex(work: str, ids: list[str]) -> dict:
    from precex.reporting.runner import RenderJob, render_many

    out = Path(work) / "precex_reports"
    jobs = [RenderJob(pid, params(work, pid), str(out / f"{pid}.html")) for pid in ids]
    failures = render_many(str(NOTEBOOK), jobs)
    return {"failures": len(failures)}


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        ids = prepare(work, args.patients)
        usual = run_usual(work, ids)
        mine = measure("bench_reports", "run_precex", work=work, ids=ids)
        n = len(ids)
        rows = [{"pattern": "papermill + nbconvert per patient", "patients": n,
                 "wall_s": usual, "s_per_report": usual / n},
                {"pattern": "precex warm kernel (one shard job)", "patients": n,
                 "wall_s": mine["wall_s"], "s_per_report": mine["wall_s"] / n,
                 "cpu_s": mine["cpu_s"], "peak_mib": mine["peak_mib"]}]
        print(report(rows, ["pattern", "patients", "wall_s", "s_per_report", "cpu_s",
                            "peak_mib"]))
        print(f"speed-up: {usual / mine['wall_s']:.1f}x; failures: {mine['failures']}; "
              f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
