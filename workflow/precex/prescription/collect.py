"""The batch's prescriptions.tsv: the shards' summary tables, sorted by patient."""

from __future__ import annotations

from dataclasses import dataclass

from precex.io.files import write_tsv
from precex.io.tables import merge_sorted
from precex.prescription.engine import SUMMARY_COLUMNS


@dataclass(frozen=True)
class Inputs:
    summaries: list[str]


@dataclass(frozen=True)
class Outputs:
    table: str


@dataclass(frozen=True)
class Params:
    pass


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    write_tsv(outputs.table, merge_sorted(inputs.summaries, ["patient_id"],
                                          columns=SUMMARY_COLUMNS))
