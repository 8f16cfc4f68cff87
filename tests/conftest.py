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


# Longest modules first, so that the xdist workers (pyproject: -n 4 --dist loadscope
# --no-loadscope-reorder) never end the run waiting on one long module: measured seconds per
# module on this 2-core machine (2026-12-06), largest first. The SLURM runs wait on the
# executor's status checks and leave the cores to the other worker; a module not listed goes
# after these, in collection order.
LONGEST_FIRST = (
    "e2e/test_slurm.py",  # ~500 s, mostly waiting for SLURM status checks
    "e2e/test_workflow.py",  # ~300 s
    "e2e/test_resume.py",  # ~300 s
    "unit/test_fuzz_parsers.py",  # ~300 s
    "e2e/test_rerun.py",  # ~170 s (shards of 15)
    "unit/test_engine.py",  # ~100 s of property searches
    "e2e/test_bad_inputs.py",
    "unit/test_safety_properties.py",
    "e2e/test_upgrade.py",
    "unit/test_research.py",
    "e2e/test_wheel.py",
    "unit/test_adaptation.py",
    "unit/test_trial.py",
    "e2e/test_browser.py",
    "e2e/test_deploy.py",
    "e2e/test_vignettes_pipeline.py",
    "e2e/test_review_browser.py",
)


def _cost_rank(item: pytest.Item) -> int:
    path = item.path.as_posix()
    for rank, module in enumerate(LONGEST_FIRST):
        if path.endswith(module):
            return rank
    return len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_cost_rank)  # stable: each module keeps its own order
