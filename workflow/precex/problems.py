"""Input problems: what went wrong, where (file, row, column, patient) and how to fix it.

Every stage reports bad input as `Problem`s. A problem with a `patient_id` excludes that patient
from one stage (it is written to exclusions.tsv) unless it is a data issue (`excludes=False`: the
value is rejected and handled conservatively, and the patient's prescription shows it); a problem
without one is fatal for the stage and is raised as `InputError`, which the CLI and the workflow
scripts print without a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import pandas as pd

EXCLUSION_COLUMNS = ["patient_id", "stage", "reason"]


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    fix: str = ""
    row: int | None = None  # 1-based data row (header excluded), as a spreadsheet user counts
    column: str | None = None
    patient_id: str | None = None
    stage: str = ""
    # A data issue names its patient but does not exclude them: the value is treated as
    # rejected (conservatively, like missing) and shown in that patient's trace and report.
    excludes: bool = True

    def __str__(self) -> str:
        return self.describe(full_path=True)

    def describe(self, full_path: bool = True) -> str:
        """The sentence users read; data files use the file name only (outputs must not
        depend on where a batch lives)."""
        where = [self.file if full_path else os.path.basename(self.file)]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        if self.patient_id:
            where.append(f"patient '{self.patient_id}'")
        text = f"{', '.join(where)}: {self.message}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


@dataclass
class InputError(Exception):
    """One or more problems that stop a stage (or, in strict mode, the batch)."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{n} input problem{'s' if n != 1 else ''} found:"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def exclusions_frame(problems: Iterable[Problem], stage: str) -> pd.DataFrame:
    """One row per (patient, stage) with all that patient's reasons joined, sorted by patient."""
    reasons: dict[str, list[str]] = {}
    for p in problems:
        if p.patient_id is None or not p.excludes:
            continue
        reasons.setdefault(p.patient_id, []).append(p.describe(full_path=False))
    rows = [
        {"patient_id": pid, "stage": stage, "reason": " | ".join(dict.fromkeys(msgs))}
        for pid, msgs in sorted(reasons.items())
    ]
    return pd.DataFrame(rows, columns=EXCLUSION_COLUMNS)


def problems_frame(problems: Iterable[Problem]) -> pd.DataFrame:
    """All problems (including non-excluding warnings) as a table for QC logs."""
    rows = [{**{k: v for k, v in asdict(p).items() if k != "excludes"},
             "file": os.path.basename(p.file)} for p in problems]
    cols = ["stage", "file", "row", "column", "patient_id", "message", "fix"]
    return pd.DataFrame(rows, columns=cols)
