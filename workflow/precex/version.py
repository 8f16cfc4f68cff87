"""precex's version, from git.

In a git checkout (a clone, an editable install, a snakedeploy'd module's cache) the version is
what `git describe` says of the checked-out commit, so it follows every commit without a
reinstall: "0.2.0" on the tag v0.2.0, "0.2.0.post3+g1a2b3c4" three commits after it,
"+g1a2b3c4.dirty" with uncommitted changes, "0.0.0.post290+g1a2b3c4" where no release tag is
reachable. An installed wheel has no git: its version is the one hatch-vcs derived the same
way when it was built (the package metadata).
"""

from __future__ import annotations

import functools
import re
import subprocess
from importlib import metadata
from pathlib import Path

_DESCRIBE = re.compile(r"^v?(?P<tag>\d+(?:\.\d+)*)-(?P<distance>\d+)-g(?P<node>[0-9a-f]+)"
                       r"(?P<dirty>-dirty)?$")


def version_from_describe(described: str, commits: int | None = None) -> str | None:
    """A PEP 440 version from `git describe --tags --long --dirty` output, or from a bare
    abbreviated hash (no tag reachable; `commits` is then the number of commits)."""
    described = described.strip()
    match = _DESCRIBE.match(described)
    if match:
        tag, distance, node = match["tag"], int(match["distance"]), match["node"]
        dirty = bool(match["dirty"])
    elif re.fullmatch(r"[0-9a-f]{4,40}(-dirty)?", described) and commits is not None:
        tag, distance, node = "0.0.0", commits, described.removesuffix("-dirty")
        dirty = described.endswith("-dirty")
    else:
        return None
    if distance == 0 and not dirty:
        return tag
    version = f"{tag}.post{distance}" if distance else tag
    return f"{version}+g{node}" + (".dirty" if dirty else "")


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_version(root: Path) -> str | None:
    """The version of the checkout at `root` (None when it is not a git checkout)."""
    if not (root / ".git").exists():
        return None
    described = _git(root, "describe", "--tags", "--long", "--dirty", "--always",
                      "--match", "v[0-9]*")
    if described is None:
        return None
    commits = _git(root, "rev-list", "--count", "HEAD")
    return version_from_describe(described, int(commits) if commits else None)


@functools.cache
def current_version() -> str:
    from precex.paths import workflow_root

    try:
        root = workflow_root()
    except FileNotFoundError:
        root = None
    found = git_version(root) if root is not None else None
    if found:
        return found
    try:
        return metadata.version("precex")
    except metadata.PackageNotFoundError:
        return "0+unknown"
