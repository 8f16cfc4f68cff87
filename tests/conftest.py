"""Shared fixtures: a small demo cohort written once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from precex.demo.cohort import generate_cohort, write_cohort

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-patient cohort: every scenario plus ordinary patients."""
    out = tmp_path_factory.mktemp("demo40")
    write_cohort(generate_cohort(40, 7), out)
    return out


@pytest.fixture
def demo_copy(demo_cohort_dir: Path, tmp_path: Path) -> Path:
    """A private copy a test may modify."""
    dest = tmp_path / "cohort"
    shutil.copytree(demo_cohort_dir, dest)
    return dest
