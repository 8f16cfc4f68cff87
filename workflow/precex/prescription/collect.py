"""Concatenate shard tables into one batch table, sorted by patient."""

from __future__ import annotations

import pandas as pd

from precex.io.files import write_tsv


def concat_tables(paths: list[str], out_path: str) -> pd.DataFrame:
    frames = [pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in paths]
    table = pd.concat(frames, ignore_index=True).sort_values("patient_id", kind="stable")
    write_tsv(out_path, table)
    return table
