"""results/exclusions.tsv: every stage's exclusions, and the check that nobody is lost.

Every patient of the sheet ends with a prescription or at least one exclusion naming the stage
and the reason. A patient in neither is a bug in precex, so the merge fails loudly rather than
let a patient disappear.
"""

from __future__ import annotations

from dataclasses import dataclass

from precex.io.files import write_tsv
from precex.io.tables import merge_sorted, read_text_table
from precex.modalities import stage_order
from precex.problems import EXCLUSION_COLUMNS, InputError, Problem
from precex.roster import LostPatientsError, read_roster


@dataclass(frozen=True)
class Inputs:
    parts: list[str]  # every stage's exclusions table
    roster: str
    prescriptions: str


@dataclass(frozen=True)
class Outputs:
    exclusions: str


@dataclass(frozen=True)
class Params:
    sheet: str  # the patient sheet, named when no patient could be prescribed


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    ranks = {s: i for i, s in enumerate(stage_order())}
    merged = merge_sorted(inputs.parts, ["patient_id", "stage", "reason"],
                          ranks={"stage": ranks}, columns=EXCLUSION_COLUMNS).drop_duplicates()
    prescribed = set(read_text_table(inputs.prescriptions)["patient_id"])
    sheet_ids = read_roster(inputs.roster).ids
    lost = sorted(set(sheet_ids) - prescribed - set(merged["patient_id"]))
    if lost:
        raise LostPatientsError(f"{len(lost)} patients have neither a prescription nor an "
                                f"exclusion (e.g. {', '.join(lost[:5])}); please report this "
                                "precex bug.")
    if sheet_ids and not prescribed:  # nothing to review: say why instead of a quiet success
        by_stage = merged.groupby("stage")["patient_id"].nunique().to_dict()
        examples = [f"{r.patient_id} ({r.stage}): {r.reason}" for r in merged.head(3).itertuples()]
        raise InputError([Problem(params.sheet, f"no patient of {len(sheet_ids)} could be "
                                  "prescribed (excluded by stage: "
                                  + ", ".join(f"{k} {v}" for k, v in sorted(by_stage.items()))
                                  + "). First reasons: " + " | ".join(examples),
                                  "fix the inputs named above and run again.",
                                  stage="prescription")])
    write_tsv(outputs.exclusions, merged, spreadsheet=True)
