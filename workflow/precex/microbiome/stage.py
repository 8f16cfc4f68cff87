"""The microbiome stage: read every configured table, map samples, compute features."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from precex.io.files import write_tsv
from precex.io.problem_tables import write_problems
from precex.io.tables import write_features
from precex.microbiome.features import compute_features, map_samples
from precex.microbiome.readers import read_microbiome, read_tree
from precex.modality_outputs import ModalityOutputs
from precex.problems import InputError, Problem
from precex.roster import read_roster, read_sample_map


def _left_out(problem: Problem, path: str, patients: set[str],
              mapping: pd.Series | None) -> Problem:
    from precex.microbiome.profilers import sample_name

    sample = sample_name(path)
    pid = mapping.get(sample) if mapping is not None else sample
    return Problem(problem.file, f"{problem.message} This file is left out; the other tables "
                   "are used.", problem.fix, row=problem.row, column=problem.column,
                   patient_id=pid if pid in patients else None, stage="microbiome")


@dataclass(frozen=True)
class Inputs:
    tables: list[str]
    roster: str
    taxonomy: str | None = None
    sample_map: str | None = None
    tree: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Outputs(ModalityOutputs):
    genus_clr: str


@dataclass(frozen=True)
class Params:
    min_depth: int


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    roster = read_roster(inputs.roster)
    patients, excluded = roster.valid, roster.excluded
    mapping = read_sample_map(inputs.sample_map, "microbiome") if inputs.sample_map else None
    problems: list[Problem] = []
    mapped = []
    seen: dict[str, str] = {}
    tables = inputs.tables
    for path in tables:
        try:
            table = read_microbiome(path, inputs.taxonomy)
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
    result = compute_features(mapped, params.min_depth,
                              read_tree(inputs.tree) if inputs.tree else None,
                              read_microbiome(inputs.reference) if inputs.reference else None)
    problems += result.problems
    write_features(outputs.features, result.features)
    write_tsv(outputs.genus_clr, result.genus_clr, index=True)
    write_problems(problems, "microbiome", outputs.exclusions, outputs.problems)


def check_inputs(config: dict, patients: set[str], excluded: frozenset[str]) -> list[Problem]:
    """Every problem `precex validate` finds in the microbiome inputs (nothing written)."""
    from precex.problems import attempt

    problems: list[Problem] = []
    tables = config["microbiome"] if isinstance(config["microbiome"], list) else [
        config["microbiome"]]
    mapping = (attempt(problems, read_sample_map, config["microbiome_sample_map"], "microbiome")
               if config.get("microbiome_sample_map") else None)
    if config.get("microbiome_tree"):
        attempt(problems, read_tree, config["microbiome_tree"])
    if config.get("microbiome_reference"):
        attempt(problems, read_microbiome, config["microbiome_reference"])
    for path in tables:
        table = attempt(problems, read_microbiome, path, config.get("microbiome_taxonomy"))
        if table is not None:
            problems.extend(map_samples(table, mapping, patients, excluded)[1])
    return problems
