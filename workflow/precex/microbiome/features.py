"""Per-patient microbiome features, vectorised over the batch (cost linear in samples).

Columns of results/microbiome/features.tsv (one row per patient with a usable sample):
- source_format, relative_input: where the values came from; relative inputs (MetaPhlAn) have
  no read depth, and count-based metrics (observed features, Chao1) are left empty for them;
- depth_reads: total reads (count tables);
- shannon (natural log), simpson (1 - sum p^2, scikit-bio's 'simpson'), observed_features, chao1;
- bacillota_pct, bacteroidota_pct, bacillota_bacteroidota_ratio: phylum shares after renaming
  Firmicutes -> Bacillota and Bacteroidetes -> Bacteroidota;
- guild_<name>_pct: summed genus share of each guild in resources/microbiome/guilds.tsv;
- shannon_percentile, guild_butyrate_producers_percentile: position (0-100) within the
  reference named in `reference` ('batch': the batch's own samples of the same input type);
- bray_curtis_to_centroid: Bray-Curtis dissimilarity of the genus profile to the reference
  centroid (mean genus profile), never all pairs.
Genus-level CLR values (zeros replaced with scikit-bio multi_replace) go to genus_clr.tsv.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from skbio.diversity import alpha_diversity
from skbio.stats.composition import clr, multi_replace

from precex.io.validated import report_unmatched
from precex.microbiome.readers import MicrobiomeTable
from precex.microbiome.taxonomy import genus_of, phylum_of
from precex.paths import resource_path
from precex.problems import Problem


@dataclass
class MicrobiomeFeatures:
    features: pd.DataFrame  # indexed by patient_id
    genus_clr: pd.DataFrame  # patients x genera
    problems: list[Problem]


def load_guilds() -> pd.DataFrame:
    return pd.read_csv(resource_path("microbiome", "guilds.tsv"), sep="\t")


def map_samples(table: MicrobiomeTable, sample_map: pd.Series | None, patients: set[str],
                excluded: frozenset[str] = frozenset()) -> tuple[pd.DataFrame, list[Problem]]:
    """Rename samples to patient IDs; unmatched samples are reported, never silently dropped."""
    values = table.values
    problems: list[Problem] = []
    if sample_map is not None:
        unmapped = [s for s in values.index if s not in sample_map.index]
        for s in unmapped:
            problems.append(Problem(table.source, f"sample '{s}' is not in the sample map; it "
                                    "is not used.", "add it to microbiome_sample_map.",
                                    stage="microbiome"))
        values = values.loc[[s for s in values.index if s in sample_map.index]]
        values.index = sample_map.reindex(values.index).to_numpy()
    unknown = [s for s in values.index if s not in patients]
    problems += report_unmatched(table.source, unknown, patients, set(excluded), "microbiome",
                                 "samples")
    values = values.loc[[s for s in values.index if s in patients]]
    dup = values.index[values.index.duplicated()].unique()
    for pid in dup:
        problems.append(Problem(table.source, "several samples map to this patient.",
                                "keep one sample per patient.", patient_id=pid,
                                stage="microbiome"))
    values = values[~values.index.isin(dup)]
    return values, problems


def _aggregate(props: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Sum feature columns by label (genus or phylum); one matrix product, no Python loop."""
    codes, names = pd.factorize(labels.reindex(props.columns).fillna("unclassified"), sort=True)
    onehot = np.zeros((len(codes), len(names)))
    onehot[np.arange(len(codes)), codes] = 1.0
    return pd.DataFrame(props.to_numpy() @ onehot, index=props.index, columns=names)


def _percentile(values: pd.Series, groups: pd.Series) -> pd.Series:
    """Mid-rank percentile (0-100) within each group; NaN stays NaN."""
    return values.groupby(groups).rank(pct=True, method="average") * 100


def compute_features(tables: list[tuple[MicrobiomeTable, pd.DataFrame]], min_depth: int
                     ) -> MicrobiomeFeatures:
    """Features from (table, patient-indexed values) pairs; one call per batch."""
    rows, clr_rows, problems = [], [], []
    guilds = load_guilds()
    for table, values in tables:
        if values.empty:
            continue
        lineage = pd.Series(table.lineage).reindex(values.columns).fillna("")
        genus = lineage.map(genus_of)
        phylum = lineage.map(phylum_of)
        depth = values.sum(axis=1)
        if table.relative:
            keep = depth > 0
            empty = depth.index[~keep]
            reason = "relative abundances sum to zero."
        else:
            keep = depth >= min_depth
            empty = depth.index[~keep]
            reason = f"sequencing depth below microbiome_min_depth ({min_depth} reads)."
        for pid in empty:
            problems.append(Problem(table.source, f"{reason} (depth {depth[pid]:g})",
                                    "resequence the sample or lower microbiome_min_depth if "
                                    "justified.", patient_id=pid, stage="microbiome"))
        values = values.loc[keep]
        if values.empty:
            continue
        arr = values.to_numpy()
        props = pd.DataFrame(arr / arr.sum(axis=1, keepdims=True), index=values.index,
                             columns=values.columns)
        out = pd.DataFrame(index=values.index)
        out["source_format"] = table.format
        out["relative_input"] = table.relative
        out["depth_reads"] = np.nan if table.relative else depth.loc[values.index]
        out["shannon"] = alpha_diversity("shannon", props.to_numpy(), ids=values.index).to_numpy()
        out["simpson"] = alpha_diversity("simpson", props.to_numpy(), ids=values.index).to_numpy()
        if table.relative:
            out["observed_features"] = np.nan
            out["chao1"] = np.nan
        else:
            out["observed_features"] = (arr > 0).sum(axis=1)
            integral = np.allclose(arr, np.round(arr))
            out["chao1"] = (alpha_diversity("chao1", np.round(arr).astype(np.int64),
                                            ids=values.index).to_numpy() if integral else np.nan)
        genus_props = _aggregate(props, genus)
        phylum_props = _aggregate(props, phylum)
        bac = phylum_props.get("Bacillota", pd.Series(0.0, index=props.index))
        bact = phylum_props.get("Bacteroidota", pd.Series(0.0, index=props.index))
        out["bacillota_pct"] = bac * 100
        out["bacteroidota_pct"] = bact * 100
        out["bacillota_bacteroidota_ratio"] = (bac / bact.where(bact > 0)).astype(float)
        for guild, members in guilds.groupby("guild")["genus"]:
            cols = [g for g in members if g in genus_props.columns]
            out[f"guild_{guild}_pct"] = genus_props[cols].sum(axis=1) * 100 if cols else 0.0
        centroid = genus_props.mean(axis=0).to_numpy()
        g = genus_props.to_numpy()
        out["bray_curtis_to_centroid"] = np.abs(g - centroid).sum(axis=1) / (
            g.sum(axis=1) + centroid.sum())
        rows.append(out)
        named = genus_props.drop(columns=["unclassified"], errors="ignore")
        if named.shape[1] < 2:  # one part: its CLR is 0 by definition (skbio needs >= 2)
            clr_vals = np.zeros(named.shape)
        else:  # scikit-bio squeezes a one-sample matrix to 1-D; keep patients x genera
            clr_vals = np.asarray(clr(multi_replace(named.to_numpy() + 0.0))).reshape(
                named.shape)
        clr_rows.append(pd.DataFrame(clr_vals, index=named.index, columns=named.columns))
    if not rows:
        return MicrobiomeFeatures(pd.DataFrame(index=pd.Index([], name="patient_id")),
                                  pd.DataFrame(index=pd.Index([], name="patient_id")), problems)
    features = pd.concat(rows).sort_index()
    features.index.name = "patient_id"
    features["reference"] = "batch"
    group = features["source_format"].where(~features["relative_input"], "relative")
    group = group.where(features["relative_input"], "counts")
    features["shannon_percentile"] = _percentile(features["shannon"], group)
    features["guild_butyrate_producers_percentile"] = _percentile(
        features["guild_butyrate_producers_pct"], group)
    genus_clr = pd.concat(clr_rows).sort_index()
    genus_clr = genus_clr.reindex(columns=sorted(genus_clr.columns))
    genus_clr.index.name = "patient_id"
    return MicrobiomeFeatures(features, genus_clr, problems)
