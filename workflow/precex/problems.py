"""Input problems: what went wrong, where (file, row, column, patient) and how to fix it.

Every stage reports bad input as `Problem`s and writes them with `write_problems`, the one
writer of the {stage}/exclusions.tsv and {stage}/problems.tsv tables. A problem with a
`patient_id` excludes that patient from one stage (it is written to exclusions.tsv) unless it is
a data issue (`excludes=False`: the value is rejected and handled conservatively, and the
patient's prescription shows it); a problem without one is fatal for the stage and is raised as
`InputError`, which the CLI and the workflow scripts print without a traceback. A reader that
leaves one sample of a study table out records a `BadSample`; the stage names its patient.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pandas loads where tables are built: `precex run` starts Snakemake
    import pandas as pd  # without importing it (0.3 s before the first job)

EXCLUSION_COLUMNS = ["patient_id", "stage", "reason"]
MAX_MESSAGE = 1000  # characters of a problem's message or fix
MAX_NAME = 200  # characters of a column name or patient ID named in a problem


def shortened(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was cut."""
    cut = len(text) - limit
    return f"{text[:limit]}... ({cut:,} more characters not shown)"
T = TypeVar("T")


_TABLE = re.compile(r"\.(tsv|csv|txt)(\.gz)?$", re.IGNORECASE)  # read as tables


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

    def __post_init__(self) -> None:
        # A message echoes the value it is about: one 50 MB cell must not become 50 MB in every
        # problem table, data issue and report that repeats it.
        for name, limit in (("message", MAX_MESSAGE), ("fix", MAX_MESSAGE),
                            ("column", MAX_NAME), ("patient_id", MAX_NAME)):
            value = getattr(self, name)
            if isinstance(value, str) and len(value) > limit:
                object.__setattr__(self, name, shortened(value, limit))

    def __str__(self) -> str:
        return self.describe(full_path=True)

    def describe(self, full_path: bool = True) -> str:
        """The sentence users read; data files use the file name only (outputs must not
        depend on where a batch lives)."""
        where = [self.file if full_path else os.path.basename(self.file)] if self.file else []
        if self.row is not None:
            # rows count data rows; in a table opened in a spreadsheet the header is row 1
            where.append(f"row {self.row} (spreadsheet row {self.row + 1})"
                         if _TABLE.search(self.file or "") else f"row {self.row}")
        if self.column:  # a config file has keys, not columns
            where.append(f"{'key' if self.stage == 'config' else 'column'} '{self.column}'")
        if self.patient_id:
            where.append(f"patient '{self.patient_id}'")
        text = f"{', '.join(where)}: {self.message}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


@dataclass(frozen=True)
class BadSample:
    """A sample a reader left out for a bad value (the message names sample and value). One bad
    sample excludes that patient's modality, never the batch's: the stage turns it into a
    Problem naming the patient, once it knows which patient the sample belongs to."""

    message: str
    fix: str

    def problem(self, source: str, sample: str, patient_id: str | None, stage: str) -> Problem:
        return Problem(source, self.message, self.fix, column=sample, patient_id=patient_id,
                       stage=stage)


@dataclass
class InputError(Exception):
    """One or more problems that stop a stage (or, in strict mode, the batch)."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{n} input problem{'s' if n != 1 else ''} found:"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def attempt(problems: list[Problem], func: Callable[..., T], *args: Any) -> T | None:
    """func(*args), or None with its InputError's problems added to `problems` (checks that
    go on after a problem, to list every one in one pass)."""
    try:
        return func(*args)
    except InputError as err:
        problems.extend(err.problems)
        return None


def exclusions_frame(problems: Iterable[Problem], stage: str) -> pd.DataFrame:
    """One row per (patient, stage) with all that patient's reasons joined, sorted by patient."""
    import pandas as pd

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


PROBLEM_COLUMNS = ["stage", "file", "row", "column", "patient_id", "message", "fix"]
# Problem tables are sorted by these (row as a number, blanks first), here and when shard
# tables are merged (precex.io.tables.merge_sorted), so the order never depends on shards.
PROBLEM_ORDER = ["file", "row", "patient_id", "message"]


def problems_frame(problems: Iterable[Problem]) -> pd.DataFrame:
    """All problems (including non-excluding warnings) as a table for QC logs, sorted."""
    import pandas as pd

    rows = [{**{k: v for k, v in asdict(p).items() if k != "excludes"},
             "file": os.path.basename(p.file)} for p in problems]
    table = pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
    if not table.empty:
        table = table.sort_values(PROBLEM_ORDER, na_position="first", kind="stable")
    return table
