"""A demo run shared by the end-to-end tests (one workflow run per test session)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def precex_run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", "2",
                             "--quiet", *args], cwd=cwd, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("run1")
    precex_run(cwd)
    return cwd / "results"
