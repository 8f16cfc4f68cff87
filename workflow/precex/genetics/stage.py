"""The genetics stage: genotypes at the curated variants (display only)."""

from __future__ import annotations

from precex.epigenetics.genome import load_genome
from precex.genetics.variants import annotate_variants, read_genotypes
from precex.io.files import write_tsv
from precex.io.stage_output import write_features, write_stage_outputs
from precex.io.validated import read_sheet_exclusions, read_validated


def run(vcf_path: str, patients_tsv: str, sheet_exclusions: str, out_features: str,
        out_exclusions: str, out_problems: str, gtf: str | None = None,
        cache_dir: str | None = None, out_variants: str | None = None) -> None:
    patients = set(read_validated(patients_tsv).index)
    excluded = frozenset(read_sheet_exclusions(sheet_exclusions))
    genotypes, problems = read_genotypes(vcf_path, patients, excluded)
    write_features(out_features, genotypes)
    if out_variants:
        genome = load_genome(gtf, cache_dir) if gtf and cache_dir else None
        write_tsv(out_variants, annotate_variants(genome))
    write_stage_outputs(problems, "genetics", out_exclusions, out_problems)
