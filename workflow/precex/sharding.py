"""Deterministic shard assignment: the same IDs and shard size always give the same shards.

The Snakefile assigns shards at parse time from the raw patient sheet, and the batch jobs
recompute the same assignment from the same file, so the two always agree. Patients are
sorted by ID and cut into consecutive chunks of `shard_size`.
"""

from __future__ import annotations

import pandas as pd


def raw_patient_ids(sheet_path: str) -> list[str]:
    """Every non-empty patient_id in the sheet, unique, sorted (before any validation); the
    ID column is found as the sheet reader finds it ('Patient ID', 'patient-id', ...)."""
    from precex.clinical.sheet import sheet_schema, sheet_separator
    from precex.io.columns import resolve_columns

    try:
        frame = pd.read_csv(sheet_path, sep=sheet_separator(sheet_path)[0], dtype=str,
                            keep_default_na=False)
    except (FileNotFoundError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return []
    frame.columns = [str(c).strip() for c in frame.columns]
    schema = sheet_schema()
    mapping, _ = resolve_columns(list(frame.columns), list(schema["properties"]),
                                 schema.get("x-aliases", {}))
    column = next((c for c, target in mapping.items() if target == "patient_id"), None)
    if column is None:
        return []
    return sorted({p.strip() for p in frame[column] if p.strip()})


def shard_name(index: int) -> str:
    return f"shard{index + 1:04d}"


def assign_shards(ids: list[str], shard_size: int) -> dict[str, list[str]]:
    ordered = sorted(set(ids))
    return {shard_name(k // shard_size): ordered[k:k + shard_size]
            for k in range(0, len(ordered), shard_size)} or {shard_name(0): []}
