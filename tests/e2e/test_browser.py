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


def test_the_printed_pdf_has_the_patient_id_on_every_page(demo_run, tmp_path):
    """Printed by Chromium with the report's print CSS: every page names the patient and
    numbers itself; the PDF is byte-identical when printed again (dates fixed)."""
    from precex.reporting.pdf import chromium_binary, print_pdf
    from pypdf import PdfReader

    binary = chromium_binary()
    if binary is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package)")
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    pid = summary["patient_id"].iloc[0]
    first, again = tmp_path / "a.pdf", tmp_path / "b.pdf"
    print_pdf(demo_run / f"reports/{pid}.html", first, "2026-01-05", binary)
    print_pdf(demo_run / f"reports/{pid}.html", again, "2026-01-05", binary)
    assert first.read_bytes() == again.read_bytes()
    pages = PdfReader(first).pages
    assert len(pages) >= 2
    for n, page in enumerate(pages, start=1):
        text = page.extract_text()
        assert pid in text, (n, text[:300])
        assert f"page {n} of {len(pages)}" in text, (n, text[-300:])


def test_a_stopped_adaptation_opens_with_the_stop_and_schedules_nothing(demo_run, tmp_path):
    import re

    table = pd.read_csv(demo_run / "adaptations/adaptations.tsv", sep="\t", dtype=str)
    stopped = table[table["decision"] == "stop"]
    if stopped.empty:
        pytest.skip("no stopped adaptation in the demo")
    name = stopped["file"].iloc[0].rsplit("/", 1)[-1].replace(".json", ".html")
    dom = chromium(tmp_path, "--dump-dom",
                   (demo_run / "adaptations/reports" / name).as_uri()).stdout
    body = dom[dom.index("<body>") + len("<body>"):]
    first_text = re.sub(r"<[^>]+>", " ", body).split()[:1]
    assert first_text == ["STOP:"], body[:500]
    assert "No sessions this week" in dom


def test_the_batch_table_renders_pages_and_filters_in_chromium(demo_run, tmp_path):
    """The table script ran (its count line is set), every patient is a row with a link on the
    first page, and the review queue names every patient who is not simply prescribed."""
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    dom = chromium(tmp_path, "--dump-dom", (demo_run / "reports/cohort.html").as_uri()).stdout
    n = len(summary)
    assert f"1-{n} of {n} patients" in dom
    start = dom.index('id="patient-rows"')
    rows = dom[start:dom.index("</tbody>", start)]
    assert rows.count("<tr>") == n
    queue = dom[dom.index('id="review-queue"'):dom.index('id="batch-qc"')]
    for pid in summary.loc[summary["status"] != "prescribed", "patient_id"]:
        assert f">{pid}<" in queue, pid
    assert "Per-modality QC" in dom and "run summary" in dom
