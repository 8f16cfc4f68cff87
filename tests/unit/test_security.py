"""Static guarantees behind the README's "Security and privacy" section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "workflow").rglob("*.py"), *(ROOT / "workflow").rglob("*.smk"),
                  ROOT / "Snakefile", ROOT / "workflow" / "Snakefile"])
FORBIDDEN = {
    r"\beval\(": "eval of text",
    r"\bexec\(": "exec of text",
    r"\bpickle\b|\bdill\b|\bjoblib\.load\b": "unpickling (runs code from a file)",
    r"yaml\.load\((?![^)]*SafeLoader)": "YAML loading without the safe loader",
    r"yaml\.(unsafe_load|full_load)\b|yaml\.Loader\b|UnsafeLoader": "unsafe YAML loader",
    r"shell=True": "a shell built from text",
    r"np\.load\([^)]*allow_pickle=True": "unpickling through numpy",
}


def test_sources_were_found():
    assert len(SOURCES) > 40


@pytest.mark.parametrize("pattern,what", FORBIDDEN.items())
def test_no_code_runs_from_input_text(pattern, what):
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in SOURCES
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(pattern, line) and not line.lstrip().startswith("#")]
    assert hits == [], f"{what}: {hits}"
