"""The epigenetics stage: clocks and gene-level methylation for the batch."""

from __future__ import annotations

import pandas as pd

from precex.epigenetics.clocks import clock_cpgs
from precex.epigenetics.features import (
    assign_probes,
    clock_ages,
    coverage_summary,
    gene_methylation,
    gene_regions,
)
from precex.epigenetics.genome import load_genome
from precex.epigenetics.matrix import BetaMatrix, read_beta_matrix
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


def name_by_title(matrix: BetaMatrix, patients: set[str]) -> None:
    """GEO columns are GSM accessions; when the sheet uses the samples' titles, rename."""
    titles = matrix.sample_titles
    if not titles:
        return
    by_gsm = sum(c in patients for c in matrix.beta.columns)
    by_title = sum(titles.get(c) in patients for c in matrix.beta.columns)
    if by_title > by_gsm and len(set(titles.values())) == len(titles):
        matrix.beta = matrix.beta.rename(columns=titles)
        matrix.bad_samples = {titles.get(k, k): v for k, v in matrix.bad_samples.items()}
        matrix.notes = [(titles.get(s, s) if s else s, m) for s, m in matrix.notes]


def run(matrix_path: str | list[str], manifest_path: str | None, patients_tsv: str,
        sheet_exclusions: str, gtf: str, cache_dir: str, panel: list[str], max_missing: float,
        out_features: str, out_exclusions: str, out_problems: str, value_type: str = "auto",
        residual_min_batch: int = 30, detection_p: float = 0.01,
        max_abs_acceleration: float = 25.0) -> None:
    sheet = read_validated(patients_tsv)
    excluded = read_sheet_exclusions(sheet_exclusions)
    problems: list[Problem] = []
    manifest = read_manifest(manifest_path) if manifest_path else None
    wanted = set(clock_cpgs()) | (set(manifest["probe_id"]) if manifest is not None else set())
    if isinstance(matrix_path, list) and len(matrix_path) == 1:
        matrix_path = matrix_path[0]
    matrix = read_beta_matrix(matrix_path, wanted, value_type, detection_p)
    name_by_title(matrix, set(sheet.index))
    source = matrix.source
    for sample, message in matrix.notes:
        mine = sample in sheet.index
        problems.append(Problem(source, message, "", column=sample,
                                patient_id=sample if mine else None, stage="epigenetics",
                                excludes=False))
    for sample, (message, fix) in sorted(matrix.bad_samples.items()):
        mine = sample in sheet.index
        problems.append(Problem(source, message, fix, column=sample,
                                patient_id=sample if mine else None, stage="epigenetics"))
    problems += report_unmatched(source, [s for s in matrix.beta.columns
                                          if s not in sheet.index],
                                 set(sheet.index), excluded, "epigenetics", "sample columns")
    clocks, found = clock_ages(matrix, sheet["age"], max_missing, residual_min_batch,
                               max_abs_acceleration)
    problems += found
    problems.append(coverage_summary(matrix, clocks))
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
    features["methylation_array"] = matrix.array_type
    write_features(out_features, features)
    write_stage_outputs(problems, "epigenetics", out_exclusions, out_problems)
