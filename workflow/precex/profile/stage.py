"""The host-profile job: one pass over the batch, split into shard tables for the shard jobs."""

from __future__ import annotations

import os

import pandas as pd

from precex.io.files import write_tsv
from precex.io.validated import read_validated
from precex.profile.host import domain_table, merge_modalities
from precex.sharding import assign_shards, raw_patient_ids


def _read(path: str | None) -> pd.DataFrame | None:
    if not path or not os.path.exists(path):
        return None
    return pd.read_csv(path, sep="\t", index_col="patient_id", dtype={"patient_id": str},
                       low_memory=False)


def run(patients_tsv: str, sheet_path: str, shard_size: int, modality_paths: dict[str, str],
        out_profiles: str, out_shard_dir: str) -> None:
    sheet = read_validated(patients_tsv)
    tables = {name: _read(path) for name, path in sorted(modality_paths.items())}
    flat = merge_modalities(sheet, {k: v for k, v in tables.items() if v is not None})
    domains = domain_table(flat)
    write_tsv(out_profiles, domains.join(flat), index=True)
    shards = assign_shards(raw_patient_ids(sheet_path), shard_size)
    for shard, ids in shards.items():
        members = [p for p in ids if p in flat.index]
        write_tsv(os.path.join(out_shard_dir, f"{shard}.features.tsv"), flat.loc[members],
                  index=True)
        write_tsv(os.path.join(out_shard_dir, f"{shard}.domains.tsv"), domains.loc[members],
                  index=True)
