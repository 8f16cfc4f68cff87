"""The batch's roster: every patient ID of the sheet with its sheet outcome, read once.

The validate stage reads the patient sheet and writes the roster (results/validated/roster.tsv):
one row per ID of the sheet, `valid` with the patient's age, or `excluded` (the reason is in
validated/exclusions.tsv). The modality stages read the roster instead of the sheet: which
patients are in the batch, which were excluded (so their data is reported once, not as
unknown), and the ages the clocks and PhenoAge need. Shards are cut from the same IDs
(precex.sharding), so every ID is in exactly one shard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from precex.io.files import write_tsv
from precex.problems import Problem

ROSTER_COLUMNS = ["patient_id", "status", "age"]


class LostPatientsError(RuntimeError):
    """A patient in neither the valid nor the excluded list: a bug in precex, never data."""


@dataclass(frozen=True)
class Roster:
    ages: pd.Series  # valid patients -> age in years, indexed and sorted by patient_id
    excluded: frozenset[str]  # excluded at the sheet stage

    @property
    def valid(self) -> set[str]:
        return set(self.ages.index)

    @property
    def ids(self) -> list[str]:
        """Every patient ID of the sheet, sorted."""
        return sorted(self.valid | self.excluded)


def roster_frame(all_ids: list[str], ages: pd.Series, excluded: set[str]) -> pd.DataFrame:
    """The roster table of a validated sheet: every non-empty ID of the file (`all_ids`), valid
    (with its age) or excluded. An ID in neither is a bug and stops the stage."""
    ids = sorted(set(all_ids))
    lost = [p for p in ids if p not in ages.index and p not in excluded]
    if lost:
        raise LostPatientsError(f"{len(lost)} patient(s) of the sheet are neither valid nor "
                                f"excluded (e.g. {', '.join(lost[:5])}); please report this "
                                "precex bug.")
    status = ["valid" if p in ages.index else "excluded" for p in ids]
    age = [ages.get(p) if s == "valid" else None for p, s in zip(ids, status, strict=True)]
    return pd.DataFrame({"patient_id": ids, "status": status, "age": age},
                        columns=ROSTER_COLUMNS)


def write_roster(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    write_tsv(path, frame)


def read_roster(path: str | os.PathLike[str]) -> Roster:
    frame = pd.read_csv(path, sep="\t", dtype={"patient_id": str, "status": str},
                        keep_default_na=False)
    valid = frame[frame["status"] == "valid"]
    ages = pd.Series(pd.to_numeric(valid["age"], errors="coerce").to_numpy(dtype=float),
                     index=pd.Index(valid["patient_id"], name="patient_id"), name="age")
    return Roster(ages.sort_index(), frozenset(frame.loc[frame["status"] == "excluded",
                                                         "patient_id"]))


def report_unmatched(source: str, ids: pd.Series | list[str], patients: set[str],
                     excluded: set[str], stage: str, what: str = "rows") -> list[Problem]:
    """Problems for data whose patient is unknown or was excluded at the sheet stage.

    Study-wide tables are common (a QIIME 2 table of 763 samples for a 40-patient batch), so
    data of IDs outside this batch is summarised in one line per file with counts and a few
    examples; it is not an error. Data of sheet-excluded patients gets one line too (the
    patient's own exclusion already says why).
    """
    counts = pd.Series(list(ids), dtype=object).value_counts().sort_index()
    problems: list[Problem] = []
    dropped = [p for p in counts.index if p in excluded and p not in patients]
    if dropped:
        shown = ", ".join(dropped[:5]) + (" ..." if len(dropped) > 5 else "")
        problems.append(Problem(source, f"{what} of {len(dropped)} patient(s) excluded at the "
                                f"sheet stage are not used ({shown}).",
                                "fix those patients' rows in the sheet (see exclusions.tsv).",
                                stage=stage, excludes=False))
    unknown = [p for p in counts.index if p not in patients and p not in excluded]
    if unknown:
        shown = ", ".join(f"'{p}'" for p in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        n = int(counts[unknown].sum())
        problems.append(Problem(source, f"{n} {what} of {len(unknown)} ID(s) not in this "
                                f"batch's patient sheet are not used (e.g. {shown}).",
                                "nothing to do for a study-wide table; otherwise check the IDs "
                                "or add the patients to the sheet.", stage=stage,
                                excludes=False))
    return problems


def read_sample_map(path: str, stage: str) -> pd.Series:
    """A sample map (TSV: sample_id, patient_id) as a Series sample -> patient, for any
    modality whose files name samples, not patients (array barcodes, sequencing IDs)."""
    from precex.problems import InputError

    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if not {"sample_id", "patient_id"} <= set(frame.columns):
        raise InputError([Problem(path, "the sample map needs columns sample_id and patient_id.",
                                  "add a header row: sample_id<TAB>patient_id.", stage=stage)])
    dup = frame["sample_id"][frame["sample_id"].duplicated()].unique()
    if len(dup):
        raise InputError([Problem(path, f"sample IDs mapped twice: {', '.join(dup[:5])}.",
                                  "map each sample once.", stage=stage)])
    return pd.Series(frame["patient_id"].str.strip().to_numpy(),
                     index=frame["sample_id"].str.strip())


def no_sample_matches(source: str, samples: list[str], patients: set[str], stage: str,
                      map_key: str) -> list[Problem]:
    """A file none of whose samples is a patient of this batch gives nobody a value: that is
    an input problem (precex validate exits 1), not a study-wide table's note."""
    if not samples or any(s in patients for s in samples):
        return []
    shown = ", ".join(f"'{s}'" for s in samples[:3]) + (" ..." if len(samples) > 3 else "")
    return [Problem(source, f"none of its {len(samples)} samples ({shown}) is a patient of this "
                    f"batch's sheet, so no patient gets a value from it.",
                    f"map samples to patients with {map_key} (a TSV: sample_id, patient_id), "
                    "or check the sheet's patient IDs.", stage=stage)]

