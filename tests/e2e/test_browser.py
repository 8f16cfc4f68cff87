"""Reports checked in a real browser: headless Chromium renders them from disk, offline."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package)")
    profile = tmp_path / "chromium-profile"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def check_page(tmp_path: Path, page: Path, must_contain: list[str]) -> str:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    for text in must_contain:
        assert text in dom.stdout, text
    # no script errors and no resource the page tried to fetch (it must open offline)
    for bad in ("Uncaught", "Failed to load resource", "net::ERR_"):
        assert bad not in dom.stderr, dom.stderr[-2000:]
    shot = tmp_path / f"{page.stem}.png"
    result = chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri())
    assert result.returncode == 0 and shot.exists()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    return dom.stdout


def test_patient_report_renders_in_chromium(demo_run, tmp_path):
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    deferred = summary.loc[summary["status"] == "deferred", "patient_id"].iloc[0]
    dom = check_page(tmp_path, demo_run / f"reports/{deferred}.html",
                     ["Precision exercise prescription", deferred, "At a glance",
                      "Exercise deferred", "Weekly schedule", "12-week progression",
                      "Hypothesis-generating findings", "Data completeness and provenance"])
    assert "<script" not in dom


def test_cohort_report_renders_and_links_to_every_patient(demo_run, tmp_path):
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    dom = check_page(tmp_path, demo_run / "reports/cohort.html",
                     ["precex batch report", "Batch QC", "Exclusions", "Safety rules triggered"])
    for pid in summary["patient_id"]:
        assert f'href="{pid}.html"' in dom
        assert (demo_run / f"reports/{pid}.html").exists()


def test_at_a_glance_dose_is_week_one_of_the_progression(demo_run, tmp_path):
    import json
    import re

    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    for pid in summary.loc[summary["status"] == "prescribed", "patient_id"]:
        p = json.loads((demo_run / f"prescriptions/{pid}.json").read_text())
        week1 = p["progression"][0]
        if week1.get("aerobic") and p["aerobic"] and \
                week1["aerobic"]["minutes_per_session"] != p["aerobic"]["minutes_per_session"]:
            break
    else:
        pytest.skip("no prescribed demo patient with a week-1 ramp")
    dom = chromium(tmp_path, "--dump-dom", (demo_run / f"reports/{pid}.html").as_uri()).stdout
    dose = re.search(r'id="this-week-dose">(.*?)</p>', dom, re.S).group(1)
    assert f"{week1['aerobic']['minutes_per_session']} min" in dose
    assert "week 1 of 12" in dom
