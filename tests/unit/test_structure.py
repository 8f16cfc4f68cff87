"""The code's shape is checked, not just its behaviour: declared import layers without cycles
(import-linter, configured in pyproject.toml) and complexity limits that only go down."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
LINT = PYPROJECT["tool"]["ruff"]["lint"]
# ruff rule -> (its setting, the configured limit)
LIMITS = {
    "C901": ("lint.mccabe.max-complexity", LINT["mccabe"]["max-complexity"]),
    "PLR0912": ("lint.pylint.max-branches", LINT["pylint"]["max-branches"]),
    "PLR0915": ("lint.pylint.max-statements", LINT["pylint"]["max-statements"]),
}


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format",
                           "concise", *args, "workflow", "tests"], cwd=REPO,
                          capture_output=True, text=True)


def test_the_import_layers_hold_and_no_package_imports_another_in_a_cycle():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a test dependency (pyproject [test])"
    result = subprocess.run([lint_imports, "--no-cache"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("rule", sorted(LIMITS))
def test_complexity_limits_hold_and_are_as_low_as_the_code(rule):
    setting, limit = LIMITS[rule]
    within = ruff("--select", rule)
    assert within.returncode == 0, within.stdout
    tighter = ruff("--select", rule, "--config", f"{setting}={limit - 1}")
    over = re.findall(rf"{rule} .*\((\d+) > {limit - 1}\)", tighter.stdout)
    assert over, (f"nothing in the code reaches {setting} = {limit} any more: lower it in "
                  f"pyproject.toml to the new largest value (the ratchet)")
