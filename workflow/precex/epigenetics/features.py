"""Clock ages, age acceleration and gene-level methylation for a batch.

Columns of results/epigenetics/features.tsv:
- <clock>_age (years), <clock>_missing_cpgs (count imputed from the 450k reference means),
  <clock>_accel_diff (clock age - chronological age), <clock>_accel_resid (residual of a
  least-squares fit of clock age on chronological age over the batch; empty when the batch has
  fewer than `min_batch_for_residual` patients with that clock);
- <clock>_withheld: why a clock value was withheld (below 0 or above 120 years, or more than
  `max_abs_acceleration` years from chronological age: likely a tissue or array mismatch);
  a withheld clock has no age and no acceleration, so nothing downstream uses it;
- <clock>_cpg_coverage: share of the clock's CpGs present in the matrix;
- age_accel_method: which acceleration the host profile uses ('residual' or 'difference');
- <gene>_promoter_beta, <gene>_body_beta: mean beta of manifest probes within TSS +/-1500 bp of
  any of the gene's transcripts, and within the gene but outside those windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from precex.epigenetics.clocks import load_clocks
from precex.epigenetics.matrix import BetaMatrix
from precex.paths import resource_path
from precex.problems import Problem

PROMOTER_FLANK = 1500


def reference_means() -> pd.Series:
    return pd.read_csv(resource_path("clocks", "reference_means_450k.csv"),
                       index_col="cpg")["mean_beta"]


PLAUSIBLE_CLOCK_YEARS = (0.0, 120.0)


def clock_ages(matrix: BetaMatrix, age: pd.Series, max_missing: float,
               min_batch_for_residual: int, max_abs_acceleration: float,
               plausible_years: tuple[float, float] = PLAUSIBLE_CLOCK_YEARS
               ) -> tuple[pd.DataFrame, list[Problem]]:
    """Clock ages for the samples of `matrix` that are patients (index of `age`)."""
    samples = [s for s in matrix.beta.columns if s in age.index]
    beta = matrix.beta[samples]
    means = reference_means()
    out = pd.DataFrame(index=pd.Index(samples, name="patient_id"))
    out["chronological_age"] = age.reindex(samples).to_numpy()
    problems: list[Problem] = []
    failed: dict[str, list[str]] = {s: [] for s in samples}
    for name, clock in load_clocks().items():
        cpgs = clock.weights.index
        block = beta.reindex(cpgs)  # absent probes become NaN rows
        missing = block.isna()
        frac = missing.mean(axis=0)
        filled = block.fillna(means.reindex(cpgs), axis=0).fillna(0.5)  # 0.5: no reference
        linear = clock.intercept + clock.weights.to_numpy() @ filled.to_numpy()
        ages = pd.Series(clock.predict(linear), index=samples)
        too_many = frac > max_missing
        ages[too_many] = np.nan
        for s in frac.index[too_many]:
            failed[s].append(f"{name}: {frac[s]:.0%} of {len(cpgs)} CpGs missing")
        chrono = out["chronological_age"]
        lo, hi = plausible_years
        implausible = ages.notna() & ((ages < lo) | (ages > hi)
                                      | ((ages - chrono).abs() > max_abs_acceleration))
        withheld = pd.Series("", index=samples, dtype=object)
        for s in ages.index[implausible]:
            reason = (f"{name} {ages[s]:.1f} years at chronological age {chrono[s]:g} is "
                      f"implausible (outside {lo:g}-{hi:g} years or more than "
                      f"{max_abs_acceleration:g} years from age): withheld")
            withheld[s] = reason
            problems.append(Problem(matrix.source, reason + "; likely a tissue or array "
                                    f"mismatch (array: {matrix.array_type}).",
                                    "check that the sample is blood on a 450K/EPIC array; "
                                    "the clock is not used.", column=s, patient_id=s,
                                    stage="epigenetics", excludes=False))
        ages[implausible] = np.nan
        out[f"{name}_age"] = ages
        out[f"{name}_withheld"] = withheld
        out[f"{name}_missing_cpgs"] = missing.sum(axis=0).astype(int)
        out[f"{name}_cpg_coverage"] = (1 - frac).round(4)
        out[f"{name}_accel_diff"] = ages - out["chronological_age"]
        ok = ages.notna() & out["chronological_age"].notna()
        resid = pd.Series(np.nan, index=samples)
        if ok.sum() >= min_batch_for_residual:
            x = out.loc[ok, "chronological_age"].to_numpy()
            y = ages[ok].to_numpy()
            slope, intercept = np.polyfit(x, y, 1)
            resid[ok] = y - (intercept + slope * x)
        out[f"{name}_accel_resid"] = resid
    out["age_accel_method"] = np.where(
        out["phenoage2018_accel_resid"].notna(), "residual", "difference")
    for s, reasons in failed.items():
        if reasons:
            problems.append(Problem(matrix.source, "clock not computed: " + "; ".join(reasons)
                                    + f" (limit {max_missing:.0%}).",
                                    "check the array's coverage or raise "
                                    "clock_max_missing_fraction.", patient_id=s,
                                    stage="epigenetics"))
    return out, problems


def coverage_summary(matrix: BetaMatrix, clocks: pd.DataFrame) -> Problem:
    """One line: the array type and each clock's CpG coverage (QC, not an error)."""
    parts = []
    for name, clock in load_clocks().items():
        present = matrix.beta.index.isin(clock.weights.index).sum()
        parts.append(f"{name} {present}/{len(clock.weights)} CpGs")
    withheld = sum(int((clocks[c] != "").sum()) for c in clocks.columns
                   if c.endswith("_withheld"))
    return Problem(matrix.source, f"array {matrix.array_type} ({matrix.n_probe_rows:,} probe "
                   f"rows); clock coverage: {', '.join(parts)}; {withheld} clock value(s) "
                   "withheld as implausible.", "", stage="epigenetics", excludes=False)


def normalise_contig(name: str) -> str:
    """'chr1' and '1' name the same contig (UCSC vs Ensembl); chrM is MT in Ensembl."""
    name = str(name).strip()
    if name.lower().startswith("chr"):
        name = name[3:]
    return "MT" if name.upper() in ("M", "MT") else name.upper() if name.lower() in ("x", "y") \
        else name


def gene_regions(genome: object, panel: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Promoter windows and gene bodies for the panel genes found in the genome."""
    rows, absent = [], []
    for name in panel:
        try:
            genes = genome.genes_by_name(name)  # type: ignore[attr-defined]
        except ValueError:
            absent.append(name)
            continue
        for gene in genes:
            contig = normalise_contig(gene.contig)
            tss = sorted({t.start if t.strand == "+" else t.end for t in gene.transcripts}
                         or {gene.start if gene.strand == "+" else gene.end})
            for t in tss:
                rows.append((name, contig, "promoter", t - PROMOTER_FLANK, t + PROMOTER_FLANK))
            rows.append((name, contig, "body", gene.start, gene.end))
    return pd.DataFrame(rows, columns=["gene", "contig", "region", "start", "end"]), absent


def assign_probes(manifest: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """(probe_id, gene, region) pairs; a body probe inside a promoter window counts as promoter."""
    probes = manifest.assign(contig=manifest["chrom"].map(normalise_contig))
    pairs = []
    for region in regions.itertuples():
        hit = probes[(probes["contig"] == region.contig) & (probes["pos"] >= region.start)
                     & (probes["pos"] <= region.end)]
        pairs += [(p, region.gene, region.region) for p in hit["probe_id"]]
    frame = pd.DataFrame(pairs, columns=["probe_id", "gene", "region"]).drop_duplicates()
    promoter = set(zip(frame.loc[frame.region == "promoter", "probe_id"],
                       frame.loc[frame.region == "promoter", "gene"], strict=True))
    body_in_promoter = frame.apply(lambda r: r.region == "body" and (r.probe_id, r.gene)
                                   in promoter, axis=1) if len(frame) else pd.Series(dtype=bool)
    return frame[~body_in_promoter].reset_index(drop=True)


def gene_methylation(beta: pd.DataFrame, assignment: pd.DataFrame) -> pd.DataFrame:
    """Mean beta per (gene, region) per sample; columns <gene>_<region>_beta."""
    if assignment.empty:
        return pd.DataFrame(index=beta.columns)
    a = assignment[assignment["probe_id"].isin(beta.index)]
    long = beta.loc[a["probe_id"]].set_axis(a["gene"] + "_" + a["region"] + "_beta", axis=0)
    means = long.groupby(level=0).mean().T
    return means.reindex(columns=sorted(means.columns))
