"""Where the packaged workflow lives, in a source checkout and in an installed wheel."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def workflow_root() -> Path:
    """Directory holding Snakefile, workflow/, config/, resources/ and envs/.

    An installed wheel carries them under precex/_workflow (pyproject force-include); a source
    checkout (editable install, tests) has them two levels above this package.
    """
    bundled = _PACKAGE_DIR / "_workflow"
    if (bundled / "Snakefile").is_file():
        return bundled
    checkout = _PACKAGE_DIR.parents[1]
    if (checkout / "Snakefile").is_file():
        return checkout
    raise FileNotFoundError(
        f"precex cannot find its workflow (looked in {bundled} and {checkout}); reinstall precex."
    )


def schema_path(name: str) -> Path:
    return workflow_root() / "workflow" / "schemas" / name


def resource_path(*parts: str) -> Path:
    return workflow_root().joinpath("resources", *parts)


def resource_rows(*parts: str) -> list[dict[str, str]]:
    """The rows of a tab-separated table in resources/ (header line first), as text."""
    with open(resource_path(*parts), encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@functools.cache
def _thresholds() -> dict[str, float]:
    return {row["name"]: float(row["value"])
            for row in resource_rows("clinical", "thresholds.tsv")}


def threshold(name: str) -> float:
    """A clinical threshold of resources/clinical/thresholds.tsv (knowledge as data: its
    unit, meaning and source are in the table and the review document; Python names it)."""
    try:
        return _thresholds()[name]
    except KeyError:
        raise KeyError(f"no threshold '{name}' in resources/clinical/thresholds.tsv") from None
