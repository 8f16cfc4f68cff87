"""The microbiome stage: read every configured table, map samples, compute features."""

from __future__ import annotations

import pandas as pd

from precex.io.files import write_tsv
from precex.io.stage_output import write_features, write_stage_outputs
from precex.io.validated import read_sheet_exclusions, read_validated
from precex.microbiome.features import compute_features, map_samples
from precex.microbiome.readers import read_microbiome, read_tree
from precex.problems import InputError, Problem


def read_sample_map(path: str) -> pd.Series:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if not {"sample_id", "patient_id"} <= set(frame.columns):
        raise InputError([Problem(path, "the sample map needs columns sample_id and patient_id.",
                                  "add a header row: sample_id<TAB>patient_id.",
                                  stage="microbiome")])
    dup = frame["sample_id"][frame["sample_id"].duplicated()].unique()
    if len(dup):
        raise InputError([Problem(path, f"sample IDs mapped twice: {', '.join(dup[:5])}.",
                                  "map each sample once.", stage="microbiome")])
    return pd.Series(frame["patient_id"].str.strip().to_numpy(),
                     index=frame["sample_id"].str.strip())


def _left_out(problem: Problem, path: str, patients: set[str],
              mapping: pd.Series | None) -> Problem:
    from precex.microbiome.profilers import sample_name

    sample = sample_name(path)
    pid = mapping.get(sample) if mapping is not None else sample
    return Problem(problem.file, f"{problem.message} This file is left out; the other tables "
                   "are used.", problem.fix, row=problem.row, column=problem.column,
                   patient_id=pid if pid in patients else None, stage="microbiome")


def run(tables: list[str], taxonomy: str | None, sample_map: str | None, patients_tsv: str,
        sheet_exclusions: str, min_depth: int, out_features: str, out_clr: str,
        out_exclusions: str, out_problems: str, tree: str | None = None,
        reference: str | None = None) -> None:
    patients = set(read_validated(patients_tsv).index)
    excluded = frozenset(read_sheet_exclusions(sheet_exclusions))
    mapping = read_sample_map(sample_map) if sample_map else None
    problems: list[Problem] = []
    mapped = []
    seen: dict[str, str] = {}
    for path in tables:
        try:
            table = read_microbiome(path, taxonomy)
        except InputError as err:
            left_out = [_left_out(p, path, patients, mapping) for p in err.problems]
            if len(tables) == 1 or not any(p.patient_id for p in left_out):
                raise  # a batch-level table: the run stops with the file named
            # An unreadable per-sample file (named by its patient's sample): that patient's
            # microbiome is excluded with the reason; the batch goes on.
            problems += left_out
            continue
        values, found = map_samples(table, mapping, patients, excluded)
        problems += found
        twice = [p for p in values.index if p in seen]
        for pid in twice:
            problems.append(Problem(path, f"patient also has a sample in {seen[pid]}; neither "
                                    "is used.", "give each patient one microbiome sample.",
                                    patient_id=pid, stage="microbiome"))
        seen.update({p: path for p in values.index})
        mapped.append((table, values))
    dropped = {p.patient_id for p in problems if p.patient_id}
    mapped = [(t, v[~v.index.isin(dropped)]) for t, v in mapped]
    result = compute_features(mapped, min_depth, read_tree(tree) if tree else None,
                              read_microbiome(reference) if reference else None)
    problems += result.problems
    write_features(out_features, result.features)
    write_tsv(out_clr, result.genus_clr, index=True)
    write_stage_outputs(problems, "microbiome", out_exclusions, out_problems)
