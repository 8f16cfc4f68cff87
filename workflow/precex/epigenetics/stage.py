"""The epigenetics stage: clocks and gene-level methylation for the batch."""

from __future__ import annotations

from dataclasses import dataclass

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
from precex.io.problem_tables import write_problems
from precex.io.tables import write_features
from precex.modality_outputs import ModalityOutputs
from precex.problems import InputError, Problem
from precex.roster import no_sample_matches, read_roster, read_sample_map, report_unmatched


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
        rename_samples(matrix, titles)


def name_by_patient(matrix: BetaMatrix, names: dict[str, str] | None, patients: set[str],
                    excluded: set[str]) -> list[Problem]:
    """Name the matrix's columns by patient (the sample map's names, else GEO titles when
    they fit the sheet better); a matrix none of whose samples is a patient is a problem."""
    if names:
        rename_samples(matrix, names)
    name_by_title(matrix, patients)
    return no_sample_matches(matrix.source, list(matrix.beta.columns), patients | excluded,
                             "epigenetics", "methylation_sample_map")


def rename_samples(matrix: BetaMatrix, names: dict[str, str]) -> None:
    """Rename the matrix's sample columns (and what names them) by `names`."""
    matrix.beta = matrix.beta.rename(columns=names)
    matrix.bad_samples = {names.get(k, k): v for k, v in matrix.bad_samples.items()}
    matrix.notes = [(names.get(s, s) if s else s, m) for s, m in matrix.notes]


@dataclass(frozen=True)
class Inputs:
    matrix: list[str]
    gtf: str
    roster: str
    manifest: str | None = None
    sample_map: str | None = None  # array barcodes or sample names -> patient IDs


Outputs = ModalityOutputs


@dataclass(frozen=True)
class Params:
    cache_dir: str
    value_type: str
    residual_min_batch: int
    panel: list[str]
    max_missing: float
    detection_p: float
    max_abs_acceleration: float


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    roster = read_roster(inputs.roster)
    ages, excluded = roster.ages, roster.excluded
    problems: list[Problem] = []
    manifest_path, gtf = inputs.manifest, inputs.gtf
    manifest = read_manifest(manifest_path) if manifest_path else None
    wanted = set(clock_cpgs()) | (set(manifest["probe_id"]) if manifest is not None else set())
    matrix_path: str | list[str] = inputs.matrix
    if len(matrix_path) == 1:
        matrix_path = matrix_path[0]
    matrix = read_beta_matrix(matrix_path, wanted, params.value_type, params.detection_p)
    names = (read_sample_map(inputs.sample_map, "epigenetics").to_dict()
             if inputs.sample_map else None)
    problems += name_by_patient(matrix, names, set(ages.index), set(excluded))
    source = matrix.source
    for sample, message in matrix.notes:
        mine = sample in ages.index
        problems.append(Problem(source, message, "", column=sample,
                                patient_id=sample if mine else None, stage="epigenetics",
                                excludes=False))
    for sample, bad in sorted(matrix.bad_samples.items()):
        problems.append(bad.problem(source, sample, sample if sample in ages.index else None,
                                    "epigenetics"))
    problems += report_unmatched(source, [s for s in matrix.beta.columns
                                          if s not in ages.index],
                                 set(ages.index), set(excluded), "epigenetics", "sample columns")
    clocks, found = clock_ages(matrix, ages, params.max_missing, params.residual_min_batch,
                               params.max_abs_acceleration)
    problems += found
    problems.append(coverage_summary(matrix, clocks))
    features = clocks
    if manifest is not None:
        genome = load_genome(gtf, params.cache_dir)
        regions, absent = gene_regions(genome, params.panel)
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
    write_features(outputs.features, features)
    write_problems(problems, "epigenetics", outputs.exclusions, outputs.problems)


def check_inputs(config: dict, patients: set[str], excluded: frozenset[str]) -> list[Problem]:
    """Every problem `precex validate` finds in the methylation inputs (nothing written)."""
    from precex.problems import attempt

    problems: list[Problem] = []
    wanted = set(clock_cpgs())
    if config.get("methylation_manifest"):
        manifest = attempt(problems, read_manifest, config["methylation_manifest"])
        if manifest is not None:
            wanted |= set(manifest["probe_id"])
    matrix = attempt(problems, read_beta_matrix, config["methylation"], wanted,
                     config["methylation_values"], config["methylation_detection_p"])
    if matrix is not None:
        names = (attempt(problems, read_sample_map, config["methylation_sample_map"],
                         "epigenetics") if config.get("methylation_sample_map") else None)
        problems += name_by_patient(matrix, names.to_dict() if names is not None else None,
                                    patients, set(excluded))
    return problems
