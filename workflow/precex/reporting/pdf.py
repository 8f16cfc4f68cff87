"""A PDF of each patient report, printed by headless Chromium (config `report_pdf`).

Chromium lays the page out with the report's print CSS: A4, the patient ID, title and issue
date at the top of every page and "page N of M" at the bottom (CSS @page margin boxes), tables
and the at-a-glance card kept whole. Chromium stamps the PDF with the time it was printed; the
two date fields are set to the prescription's reference date (same length, so the file's
cross-reference offsets stay valid), which makes the PDF byte-identical across reruns like
every other output.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from precex.io.files import write_bytes
from precex.problems import InputError, Problem

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}")


def chromium_binary() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def require_chromium(config_source: str) -> str:
    binary = chromium_binary()
    if binary is None:
        raise InputError([Problem(config_source, "report_pdf is true but no Chromium was found "
                                  f"({', '.join(CHROMIUM_NAMES)} on PATH).",
                                  "install Chromium (Debian: apt-get install chromium) or set "
                                  "report_pdf: false.", column="report_pdf", stage="config")])
    return binary


def fixed_dates(pdf: bytes, reference_date: str) -> bytes:
    """The PDF with its creation and modification times set to the reference date."""
    stamp = reference_date.replace("-", "").encode("ascii") + b"000000"
    return PDF_DATE.sub(lambda m: b"/" + m.group(1) + b" (D:" + stamp, pdf)


def print_pdf(html: str | Path, pdf: str | Path, reference_date: str, chromium: str,
              timeout: int = 120) -> None:
    """Print one HTML file to PDF; raises RuntimeError with Chromium's message on failure."""
    with tempfile.TemporaryDirectory(prefix="precex-pdf-") as scratch:
        out = Path(scratch) / "report.pdf"
        result = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={Path(scratch) / 'profile'}", "--no-pdf-header-footer",
             f"--print-to-pdf={out}", Path(html).resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0 or not out.exists():
            raise RuntimeError(f"Chromium could not print {html}: {result.stderr[-500:]}")
        write_bytes(pdf, fixed_dates(out.read_bytes(), reference_date))
