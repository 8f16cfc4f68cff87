"""The genetics stage: genotypes at the curated variants (display only)."""

from __future__ import annotations

from dataclasses import dataclass

from precex.epigenetics.genome import load_genome
from precex.genetics.variants import annotate_variants, read_genotypes
from precex.io.files import write_tsv
from precex.io.problem_tables import write_problems
from precex.io.tables import write_features
from precex.modality_outputs import ModalityOutputs
from precex.problems import Problem
from precex.roster import read_roster


@dataclass(frozen=True)
class Inputs:
    vcf: str
    gtf: str
    roster: str


@dataclass(frozen=True)
class Outputs(ModalityOutputs):
    variants: str


@dataclass(frozen=True)
class Params:
    cache_dir: str


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    roster = read_roster(inputs.roster)
    genotypes, problems = read_genotypes(inputs.vcf, roster.valid, roster.excluded)
    write_features(outputs.features, genotypes)
    write_tsv(outputs.variants, annotate_variants(load_genome(inputs.gtf, params.cache_dir)))
    write_problems(problems, "genetics", outputs.exclusions, outputs.problems)


def check_inputs(config: dict, patients: set[str], excluded: frozenset[str]) -> list[Problem]:
    """Every problem `precex validate` finds in the variant calls (nothing written)."""
    from precex.problems import attempt

    problems: list[Problem] = []
    result = attempt(problems, read_genotypes, config["variants"], patients, excluded)
    if result is not None:
        problems.extend(result[1])
    return problems
