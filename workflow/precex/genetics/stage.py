"""The genetics stage: genotypes at the curated variants (display only)."""

from __future__ import annotations

from precex.genetics.variants import read_genotypes
from precex.io.stage_output import write_features, write_stage_outputs
from precex.io.validated import read_sheet_exclusions, read_validated


def run(vcf_path: str, patients_tsv: str, sheet_exclusions: str, out_features: str,
        out_exclusions: str, out_problems: str) -> None:
    patients = set(read_validated(patients_tsv).index)
    excluded = frozenset(read_sheet_exclusions(sheet_exclusions))
    genotypes, problems = read_genotypes(vcf_path, patients, excluded)
    write_features(out_features, genotypes)
    write_stage_outputs(problems, "genetics", out_exclusions, out_problems)
