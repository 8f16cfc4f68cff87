"""The one writer of a stage's problem tables (precex.problems holds the types and frames)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from precex.io.files import write_tsv
from precex.problems import Problem, exclusions_frame, problems_frame

if TYPE_CHECKING:  # light jobs (the batch report's) write problems without loading pandas
    import pandas as pd


def write_problems(problems: Iterable[Problem], stage: str,
                   exclusions_path: str | os.PathLike[str] | None,
                   problems_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The one writer of a stage's problems: its exclusions (problems naming a patient, one row
    per patient with every reason; None for a stage that never excludes anyone) and all its
    problems, each table sorted. Returns the exclusions."""
    problems = list(problems)
    exclusions = exclusions_frame(problems, stage)
    if exclusions_path is not None:
        write_tsv(exclusions_path, exclusions, spreadsheet=True)
    elif len(exclusions):
        raise ValueError(f"stage {stage} excluded patients but has no exclusions table")
    write_tsv(problems_path, problems_frame(problems), spreadsheet=True)
    return exclusions
