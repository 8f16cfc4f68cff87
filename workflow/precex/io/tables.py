"""Batch tables: features tables as stages write them, and one sorted merge of parts.

Every batch table precex writes from parts (prescriptions.tsv, adaptations.tsv, exclusions.tsv,
the problem tables) is the parts' rows sorted by fixed keys, so the result never depends on how
the patients were split into shards or in which order the jobs finished.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd


def read_text_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A TSV that precex wrote, every cell as text (blanks as '')."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def merge_sorted(paths: Sequence[str | os.PathLike[str]], by: Sequence[str], *,
                 numeric: Sequence[str] = (), ranks: Mapping[str, Mapping[str, int]] | None = None,
                 columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The tables' rows (as text) sorted stably by `by` (no keys: in the order of the parts).
    A column in `numeric` sorts as a number, blanks first; a column in `ranks` sorts by the
    rank of its value (unknown values last), e.g. the stage order of exclusions. `columns`
    selects the columns, and gives the header when there is no part."""
    frames = [read_text_table(p) for p in paths]
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame(columns=list(columns or by))
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if columns is not None:
        table = table[list(columns)]
    if table.empty or not by:
        return table.reset_index(drop=True)
    keys, helpers = [], {}
    for column in by:
        if column in numeric:
            helpers[f"_{column}"] = pd.to_numeric(table[column], errors="coerce")
            keys.append(f"_{column}")
        elif ranks and column in ranks:
            order = ranks[column]
            helpers[f"_{column}"] = table[column].map(order).fillna(len(order))
            keys.append(f"_{column}")
        else:
            keys.append(column)
    table = table.assign(**helpers).sort_values(keys, na_position="first", kind="stable")
    return table.drop(columns=list(helpers)).reset_index(drop=True)


def write_features(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """A stage's features table: one row per patient, sorted by patient ID."""
    from precex.io.files import write_tsv

    frame = frame.sort_index()
    frame.index.name = "patient_id"
    write_tsv(path, frame, index=True)
