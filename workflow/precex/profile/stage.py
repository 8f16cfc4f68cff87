"""The host-profile job: one pass over the batch, split into shard tables for the shard jobs."""

from __future__ import annotations

import json
import os

import pandas as pd

from precex.io.files import write_text_if_changed, write_tsv
from precex.io.validated import read_validated
from precex.profile.host import domain_table, json_value, merge_modalities
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
    os.makedirs(out_shard_dir, exist_ok=True)
    for shard, ids in shards.items():
        members = [p for p in ids if p in flat.index]
        write_records(os.path.join(out_shard_dir, f"{shard}.features.jsonl"), flat.loc[members])
        write_records(os.path.join(out_shard_dir, f"{shard}.domains.jsonl"),
                      domains.loc[members])


def write_records(path: str, frame: pd.DataFrame) -> None:
    """One JSON object per patient, every column present (null when missing).

    JSON keeps each value's type (number, text, boolean), so a shard job reads exactly what the
    batch job computed, whichever patients share its shard; a TSV would be re-typed per shard.
    """
    lines = []
    for pid, record in zip(frame.index, frame.to_dict("records"), strict=True):
        clean = {k: json_value(v) for k, v in record.items()}
        lines.append(json.dumps({"patient_id": pid, **clean}, sort_keys=True,
                                allow_nan=False))
    write_text_if_changed(path, "".join(line + "\n" for line in lines))


def read_records(path: str) -> pd.DataFrame:
    with open(path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    if not records:
        return pd.DataFrame(index=pd.Index([], name="patient_id"))
    return pd.DataFrame.from_records(records, index="patient_id")
