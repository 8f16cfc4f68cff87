"""What every stage writes besides its features: exclusions.tsv and problems.tsv."""

from __future__ import annotations

import os

import pandas as pd

from precex.io.files import write_tsv
from precex.problems import Problem, exclusions_frame, problems_frame


def write_stage_outputs(problems: list[Problem], stage: str,
                        exclusions_path: str | os.PathLike[str],
                        problems_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Write the stage's exclusions (problems naming a patient) and all problems; sorted."""
    excl = exclusions_frame(problems, stage)
    write_tsv(exclusions_path, excl)
    table = problems_frame(problems)
    if not table.empty:
        table = table.sort_values(["file", "row", "patient_id", "message"], na_position="first",
                                  kind="stable")
    write_tsv(problems_path, table)
    return excl


def write_features(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    frame = frame.sort_index()
    frame.index.name = "patient_id"
    write_tsv(path, frame, index=True)
