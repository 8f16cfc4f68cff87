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
from precex.roster import read_roster, read_sample_map


@dataclass(frozen=True)
class Inputs:
    vcf: str
    gtf: str
    roster: str
    sample_map: str | None = None  # VCF sample names -> patient IDs


@dataclass(frozen=True)
class Outputs(ModalityOutputs):
    variants: str


@dataclass(frozen=True)
class Params:
    cache_dir: str


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    roster = read_roster(inputs.roster)
    names = read_sample_map(inputs.sample_map, "genetics").to_dict() if inputs.sample_map \
        else None
    genotypes, problems = read_genotypes(inputs.vcf, roster.valid, roster.excluded, names)
    write_features(outputs.features, genotypes)
    write_tsv(outputs.variants, annotate_variants(load_genome(inputs.gtf, params.cache_dir)))
    write_problems(problems, "genetics", outputs.exclusions, outputs.problems)


def check_inputs(config: dict, patients: set[str], excluded: frozenset[str]) -> list[Problem]:
    """Every problem `precex validate` finds in the variant calls (nothing written)."""
    from precex.problems import attempt

    problems: list[Problem] = []
    names = None
    if config.get("variants_sample_map"):
        found = attempt(problems, read_sample_map, config["variants_sample_map"], "genetics")
        names = found.to_dict() if found is not None else None
    result = attempt(problems, read_genotypes, config["variants"], patients, excluded, names)
    if result is not None:
        problems.extend(result[1])
    return problems
