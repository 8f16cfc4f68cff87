"""The workflow's lints are part of the test run (Snakemake lint, snakefmt, ruff)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True)


def test_snakemake_lint_is_clean():
    result = run("snakemake", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_snakefmt_check_is_clean():
    result = run("snakefmt", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_is_clean():
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
