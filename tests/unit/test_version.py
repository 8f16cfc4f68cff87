"""precex's version comes from git (tags vX.Y.Z), and the CHANGELOG has an entry for it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from precex import cli
from precex.version import current_version, git_version, version_from_describe

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("described, commits, expected", [
    ("v0.2.0-0-g1a2b3c4", None, "0.2.0"),
    ("v0.2.0-3-g1a2b3c4", None, "0.2.0.post3+g1a2b3c4"),
    ("v0.2.0-3-g1a2b3c4-dirty", None, "0.2.0.post3+g1a2b3c4.dirty"),
    ("v0.2.0-0-g1a2b3c4-dirty", None, "0.2.0+g1a2b3c4.dirty"),
    ("1a2b3c4", 290, "0.0.0.post290+g1a2b3c4"),
    ("1a2b3c4-dirty", 5, "0.0.0.post5+g1a2b3c4.dirty"),
    ("not a description", None, None),
])
def test_git_descriptions_become_pep440_versions(described, commits, expected):
    assert version_from_describe(described, commits) == expected


def test_precex_version_prints_the_checkouts_git_version(capsys):
    if not (REPO / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout")
    described = subprocess.run(["git", "-C", str(REPO), "describe", "--tags", "--long",
                                "--dirty", "--always", "--match", "v[0-9]*"],
                               capture_output=True, text=True, check=True).stdout.strip()
    expected = git_version(REPO)
    assert expected and expected == current_version()
    assert expected.split("+")[-1].lstrip("g").split(".")[0] in described
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"precex {expected}"


def test_the_changelog_has_an_entry_for_this_version():
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (\S+)", changelog, re.MULTILINE)
    assert headings[0] == "Unreleased" or headings[0] == current_version()
    release = re.match(r"\d+(\.\d+)*", current_version()).group(0)
    if release != "0.0.0":  # a checkout without tags has no release to name
        assert release in headings, (release, headings)
