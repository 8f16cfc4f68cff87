"""Batch report at 1,000 patients in Chromium: load time, table ready, and the screenshots.

    python tests/benchmarks/bench_batch_report.py [--patients 1000] [--runs 5] [--workdir DIR]
        [--screenshots DIR]

Makes a `precex demo --seed 11` cohort, runs the pipeline on it (2 cores), then opens
results/reports/cohort.html in headless Chromium from disk `--runs` times. Each run loads a
small harness page that frames the report and records, with performance.now(), the time to
the frame's load event (parsing, styles, the embedded JSON and the table script's first
render all happen before it). Reports the median and the worst, the report's size and the
number of table rows in the DOM (the page holds 100; the rest page in from the JSON).
Target (issue 18): under 2 s at 1,000 patients. With --screenshots, also writes the README's
screenshots of a patient report, a handout and the batch report.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files"]
HARNESS = """<!DOCTYPE html><html><head><title>-</title></head><body>
<script>var t0 = performance.now();</script>
<iframe id="r" style="width:1200px;height:900px;border:0" src="{src}"
 onload="var d = this.contentDocument; document.title = 'ms=' + (performance.now() - t0).toFixed(1)
 + ' rows=' + (d ? d.querySelectorAll('#patient-rows tr').length : -1)
 + ' count=' + (d && d.getElementById('pt-count')
   ? d.getElementById('pt-count').textContent : '')"></iframe>
</body></html>"""


def run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")


def load_once(report: Path, profile: Path) -> tuple[float, int, str]:
    harness = report.parent / "_load_harness.html"
    harness.write_text(HARNESS.format(src=report.name), encoding="utf-8")
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                          "--virtual-time-budget=60000", "--dump-dom", harness.as_uri()],
                         capture_output=True, text=True, timeout=300).stdout
    harness.unlink()
    found = re.search(r"<title>ms=([\d.]+) rows=(-?\d+) count=([^<]*)</title>", dom)
    if not found:
        sys.exit("the harness recorded no load time:\n" + dom[:2000])
    return float(found.group(1)), int(found.group(2)), found.group(3)


def screenshot(page: Path, out: Path, profile: Path, height: int = 1400) -> None:
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                    f"--window-size=1100,{height}", "--hide-scrollbars",
                    f"--screenshot={out}", page.as_uri()], capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default=None, help="reuse a folder (default: a temp one)")
    parser.add_argument("--screenshots", default=None, help="write the README screenshots here")
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("Chromium is not installed")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="precex-batch-report-"))
    work.mkdir(parents=True, exist_ok=True)
    cohort = work / "cohort"
    if not (cohort / "results" / "reports" / "cohort.html").exists():
        run([sys.executable, "-m", "precex.cli", "demo", "--patients", str(args.patients),
             "--seed", "11", "--out", str(cohort)], work)
        run([sys.executable, "-m", "precex.cli", "run", "--cores", "2", "--quiet",
             "--configfile", "config.yaml"], cohort)
    report = cohort / "results" / "reports" / "cohort.html"
    profile = work / "chromium-profile"
    times, rows, count = [], 0, ""
    for _ in range(args.runs):
        ms, rows, count = load_once(report, profile)
        times.append(ms)
    figures = {"patients": args.patients, "report_mib": round(report.stat().st_size / 2**20, 2),
               "runs": args.runs, "median_load_ms": round(statistics.median(times), 1),
               "worst_load_ms": round(max(times), 1), "dom_table_rows": rows,
               "table_count_text": count}
    print(json.dumps(figures, indent=1))
    if args.screenshots:
        out = Path(args.screenshots)
        out.mkdir(parents=True, exist_ok=True)
        results = cohort / "results"
        summary = (results / "prescriptions" / "prescriptions.tsv").read_text().splitlines()
        header = summary[0].split("\t")
        pid = next(line.split("\t")[0] for line in summary[1:]
                   if line.split("\t")[header.index("status")] == "prescribed")
        screenshot(results / "reports" / f"{pid}.html", out / "patient_report.png", profile)
        screenshot(results / "handouts" / f"{pid}.html", out / "handout.png", profile, 1250)
        screenshot(report, out / "batch_report.png", profile)
        print(f"screenshots of {pid}'s report and handout and the batch report in {out}")


if __name__ == "__main__":
    main()
