"""The epigenetics stage: clocks and gene-level methylation for the batch."""

from __future__ import annotations

import pandas as pd

from precex.epigenetics.clocks import clock_cpgs
from precex.epigenetics.features import assign_probes, clock_ages, gene_methylation, gene_regions
from precex.epigenetics.genome import load_genome
from precex.epigenetics.matrix import read_beta_matrix
from precex.io.stage_output import write_features, write_stage_outputs
from precex.io.validated import read_sheet_exclusions, read_validated, report_unmatched
from precex.problems import InputError, Problem


def read_manifest(path: str) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", comment="#", dtype={"chrom": str})
    need = {"probe_id", "chrom", "pos"}
    if not need <= set(frame.columns):
        raise InputError([Problem(path, f"manifest needs columns {', '.join(sorted(need))}.",
                                  "add the missing columns.", stage="epigenetics")])
    pos = pd.to_numeric(frame["pos"], errors="coerce")
    if pos.isna().any():
        row = int(pos.isna().to_numpy().nonzero()[0][0]) + 1
        raise InputError([Problem(path, f"position '{frame['pos'].iloc[row - 1]}' is not a "
                                  "whole number.", "give 1-based positions.", row=row,
                                  column="pos", stage="epigenetics")])
    return frame.assign(pos=pos.astype(int))


def run(matrix_path: str, manifest_path: str | None, patients_tsv: str, sheet_exclusions: str,
        gtf: str, cache_dir: str, panel: list[str], max_missing: float, out_features: str,
        out_exclusions: str, out_problems: str, value_type: str = "auto",
        residual_min_batch: int = 30) -> None:
    sheet = read_validated(patients_tsv)
    excluded = read_sheet_exclusions(sheet_exclusions)
    problems: list[Problem] = []
    manifest = read_manifest(manifest_path) if manifest_path else None
    wanted = set(clock_cpgs()) | (set(manifest["probe_id"]) if manifest is not None else set())
    matrix = read_beta_matrix(matrix_path, wanted, value_type)
    for sample, (message, fix) in sorted(matrix.bad_samples.items()):
        mine = sample in sheet.index
        problems.append(Problem(matrix_path, message, fix, column=sample,
                                patient_id=sample if mine else None, stage="epigenetics"))
    problems += report_unmatched(matrix_path, [s for s in matrix.beta.columns
                                               if s not in sheet.index],
                                 set(sheet.index), excluded, "epigenetics", "sample columns")
    clocks, found = clock_ages(matrix, sheet["age"], max_missing, residual_min_batch)
    problems += found
    features = clocks
    if manifest is not None:
        genome = load_genome(gtf, cache_dir)
        regions, absent = gene_regions(genome, panel)
        for gene in absent:
            problems.append(Problem(gtf, f"panel gene '{gene}' is not in the GTF; no gene-level "
                                    "methylation for it.", "check gene_panel or genome_gtf.",
                                    stage="epigenetics"))
        contigs = {str(c) for c in genome.contigs()}
        from precex.epigenetics.features import normalise_contig
        unknown = sorted({c for c in manifest["chrom"].map(normalise_contig)
                          if c not in {normalise_contig(x) for x in contigs}})
        if unknown:
            problems.append(Problem(manifest_path, f"contigs not in the GTF: "
                                    f"{', '.join(unknown[:5])}; their probes get no gene.",
                                    "use the same assembly for manifest and GTF.",
                                    stage="epigenetics"))
        genes = gene_methylation(matrix.beta[clocks.index], assign_probes(manifest, regions))
        features = features.join(genes)
    features["values_converted_from_m"] = matrix.converted_from_m
    write_features(out_features, features)
    write_stage_outputs(problems, "epigenetics", out_exclusions, out_problems)
