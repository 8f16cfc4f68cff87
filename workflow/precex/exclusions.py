"""results/exclusions.tsv: every stage's exclusions, and the check that nobody is lost.

Every patient of the sheet ends with a prescription or at least one exclusion naming the stage
and the reason. A patient in neither is a bug in precex, so the merge fails loudly rather than
let a patient disappear.
"""

from __future__ import annotations

import pandas as pd

from precex.io.files import write_tsv
from precex.problems import EXCLUSION_COLUMNS, InputError, Problem
from precex.sharding import raw_patient_ids

STAGE_ORDER = ["sheet", "microbiome", "epigenetics", "genetics", "blood", "wearables",
               "prescription", "report", "adaptation"]


class LostPatientsError(RuntimeError):
    pass


def merge_exclusions(paths: list[str], sheet_path: str, prescriptions_tsv: str,
                     out_path: str) -> pd.DataFrame:
    frames = [pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in paths]
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=EXCLUSION_COLUMNS)
    merged = merged[EXCLUSION_COLUMNS].drop_duplicates()
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    merged = merged.assign(_o=merged["stage"].map(order).fillna(len(order))).sort_values(
        ["patient_id", "_o", "reason"]).drop(columns="_o")
    prescribed = set(pd.read_csv(prescriptions_tsv, sep="\t", dtype=str,
                                 keep_default_na=False)["patient_id"])
    lost = sorted(set(raw_patient_ids(sheet_path)) - prescribed - set(merged["patient_id"]))
    if lost:
        raise LostPatientsError(f"{len(lost)} patients have neither a prescription nor an "
                                f"exclusion (e.g. {', '.join(lost[:5])}); please report this "
                                "precex bug.")
    sheet_ids = raw_patient_ids(sheet_path)
    if sheet_ids and not prescribed:  # nothing to review: say why instead of a quiet success
        by_stage = merged.groupby("stage")["patient_id"].nunique().to_dict()
        examples = [f"{r.patient_id} ({r.stage}): {r.reason}" for r in merged.head(3).itertuples()]
        raise InputError([Problem(sheet_path, f"no patient of {len(sheet_ids)} could be "
                                  "prescribed (excluded by stage: "
                                  + ", ".join(f"{k} {v}" for k, v in sorted(by_stage.items()))
                                  + "). First reasons: " + " | ".join(examples),
                                  "fix the inputs named above and run again.",
                                  stage="prescription")])
    write_tsv(out_path, merged)
    return merged
