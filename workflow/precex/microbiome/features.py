"""Per-patient microbiome features, vectorised over the batch (cost linear in samples).

Columns of results/microbiome/features.tsv (one row per patient with a usable sample):
- source_format, relative_input: where the values came from; relative inputs (MetaPhlAn) have
  no read depth, and count-based metrics (observed features, Chao1) are left empty for them;
- depth_reads: total reads (count tables);
- shannon (natural log), simpson (1 - sum p^2, scikit-bio's 'simpson'), observed_features, chao1,
  faith_pd (Faith's phylogenetic diversity, only when microbiome_tree is given, count tables);
- bacillota_pct, bacteroidota_pct, bacillota_bacteroidota_ratio: phylum shares after renaming
  Firmicutes -> Bacillota and Bacteroidetes -> Bacteroidota;
- guild_<name>_pct: summed share of each guild in resources/microbiome/guilds.tsv, at species
  level when the profiler reports species (a species counts when its genus or its own name is a
  member, so E. rectale under an unclassified Lachnospiraceae genus is a butyrate producer),
  else at genus level;
- shannon_percentile, guild_butyrate_producers_percentile: position (0-100) within the
  reference named in `reference`: 'batch' (the batch's own samples of the same input type) or
  'reference:<file>' (microbiome_reference, a table of reference samples such as healthy
  controls, profiled the same way);
- bray_curtis_to_centroid: Bray-Curtis dissimilarity of the genus profile to the reference
  centroid (mean genus profile), never all pairs: cost is linear in samples.
Genus-level CLR values (zeros replaced with scikit-bio multi_replace) go to genus_clr.tsv.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from skbio.diversity import alpha_diversity
from skbio.stats.composition import clr, multi_replace

from precex.microbiome.readers import MicrobiomeTable
from precex.microbiome.taxonomy import genus_of, phylum_of, species_of
from precex.paths import resource_path
from precex.problems import Problem
from precex.roster import report_unmatched


@dataclass
class MicrobiomeFeatures:
    features: pd.DataFrame  # indexed by patient_id
    genus_clr: pd.DataFrame  # patients x genera
    problems: list[Problem]


def load_guilds() -> pd.DataFrame:
    return pd.read_csv(resource_path("microbiome", "guilds.tsv"), sep="\t")


def map_samples(table: MicrobiomeTable, sample_map: pd.Series | None, patients: set[str],
                excluded: frozenset[str] = frozenset()) -> tuple[pd.DataFrame, list[Problem]]:
    """Rename samples to patient IDs; unmatched samples are reported, never silently dropped.

    The table's own rank shares (MetaPhlAn's phylum and species rows) are renamed with its
    values, so phylum shares and guilds follow a sample map (they were read by sample ID and
    came out as 0 for every mapped sample). Samples outside the map, as in a study-wide table,
    are one line with a count, not one error each."""
    values = table.values
    samples = pd.Index(values.index)
    problems: list[Problem] = []
    for sample, bad in sorted(table.bad_samples.items()):  # left out by the reader
        pid = sample_map.get(sample) if sample_map is not None else sample
        mine = pid in patients and pid not in excluded
        problems.append(bad.problem(table.source, sample, pid if mine else None, "microbiome"))
    if sample_map is not None:
        mapped = values.index.isin(sample_map.index)
        outside = [str(s) for s in values.index[~mapped]]
        if outside:
            shown = ", ".join(f"'{s}'" for s in outside[:5]) + (" ..." if len(outside) > 5
                                                               else "")
            many = len(outside) != 1
            problems.append(Problem(table.source, f"{len(outside)} sample{'s' if many else ''} "
                                    f"of this table {'are' if many else 'is'} not in the sample "
                                    f"map and {'are' if many else 'is'} not used (e.g. {shown}).",
                                    "nothing to do for a study-wide table; otherwise add them "
                                    "to microbiome_sample_map.", stage="microbiome",
                                    excludes=False))
        values, samples = values[mapped], samples[mapped]
        values.index = sample_map.reindex(values.index).to_numpy()
    unknown = [s for s in values.index if s not in patients]
    problems += report_unmatched(table.source, unknown, patients, set(excluded), "microbiome",
                                 "samples")
    known = values.index.isin(list(patients))
    values, samples = values[known], samples[known]
    dup = values.index[values.index.duplicated()].unique()
    for pid in dup:
        problems.append(Problem(table.source, "several samples map to this patient.",
                                "keep one sample per patient.", patient_id=pid,
                                stage="microbiome"))
    single = ~values.index.isin(dup)
    values, samples = values[single], samples[single]
    for rank in ("phylum", "species"):
        shares = getattr(table, rank)
        if shares is not None:
            setattr(table, rank, shares.reindex(samples).set_axis(values.index, axis=0))
    for sample, pid in zip(samples, values.index, strict=True):  # what the shares leave out
        if str(sample) in table.left_out:
            problems.append(Problem(table.source, f"sample '{sample}': "
                                    f"{table.left_out[str(sample)]}.", "", patient_id=pid,
                                    stage="microbiome", excludes=False))
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


def percentile_against(values: pd.Series, reference: np.ndarray) -> pd.Series:
    """Mid-rank percentile of each value within a fixed reference sample (O(n log m))."""
    ref = np.sort(reference[np.isfinite(reference)])
    if ref.size == 0:
        return pd.Series(np.nan, index=values.index)
    x = values.to_numpy(dtype=float)
    below = np.searchsorted(ref, x, side="left")
    at_or_below = np.searchsorted(ref, x, side="right")
    pct = (below + 0.5 * (at_or_below - below)) / ref.size * 100
    return pd.Series(np.where(np.isfinite(x), pct, np.nan), index=values.index)


@dataclass
class _Profiled:
    features: pd.DataFrame
    genus: pd.DataFrame  # proportions, patients x genera


def _profile_table(table: MicrobiomeTable, values: pd.DataFrame, min_depth: int,
                   tree: object | None, problems: list[Problem]) -> _Profiled | None:
    lineage = pd.Series(table.lineage).reindex(values.columns).fillna("")
    genus = lineage.map(genus_of)
    phylum = lineage.map(phylum_of)
    depth = values.sum(axis=1)
    if table.relative:
        keep = depth > 0
        reason = "relative abundances sum to zero."
    else:
        keep = depth >= min_depth
        reason = f"sequencing depth below microbiome_min_depth ({min_depth} reads)."
    for pid in depth.index[~keep]:
        problems.append(Problem(table.source, f"{reason} (depth {depth[pid]:g})",
                                "resequence the sample or lower microbiome_min_depth if "
                                "justified.", patient_id=pid, stage="microbiome"))
    values = values.loc[keep]
    if values.empty:
        return None
    arr = values.to_numpy()
    props = pd.DataFrame(arr / arr.sum(axis=1, keepdims=True), index=values.index,
                         columns=values.columns)
    out = pd.DataFrame(index=values.index)
    out["source_format"] = table.format
    out["relative_input"] = table.relative
    out["depth_reads"] = np.nan if table.relative else depth.loc[values.index]
    out["shannon"] = alpha_diversity("shannon", props.to_numpy(), ids=values.index).to_numpy()
    out["simpson"] = alpha_diversity("simpson", props.to_numpy(), ids=values.index).to_numpy()
    integral = not table.relative and np.allclose(arr, np.round(arr))
    if table.relative:
        out["observed_features"] = np.nan
        out["chao1"] = np.nan
    else:
        out["observed_features"] = (arr > 0).sum(axis=1)
        out["chao1"] = (alpha_diversity("chao1", np.round(arr).astype(np.int64),
                                        ids=values.index).to_numpy() if integral else np.nan)
    out["faith_pd"] = np.nan
    if tree is not None and integral:
        out["faith_pd"] = _faith_pd(tree, arr, values, table.source, problems)
    genus_props = _aggregate(props, genus)
    if table.phylum is not None:  # the profile's own phylum rows (share of the profile)
        own = table.phylum.reindex(index=values.index).fillna(0.0)
        phylum_props = _aggregate(own, pd.Series(own.columns.map(phylum_of), index=own.columns))
    else:
        phylum_props = _aggregate(props, phylum)
    # A table without phylum information (a Bracken -o table at one rank) says nothing of
    # phyla: its phylum shares are missing, not 0.
    known = table.phylum is not None or phylum.ne("unclassified").any()
    if not known:
        problems.append(Problem(table.source, "the table has no phylum information (one "
                                "rank, as a Bracken -o table), so phylum shares are missing, "
                                "not 0.", "give the kraken-style report (bracken -w) or a "
                                "taxonomy (microbiome_taxonomy).", stage="microbiome",
                                excludes=False))
    absent = pd.Series(0.0 if known else np.nan, index=props.index)
    bac = phylum_props.get("Bacillota", absent)
    bact = phylum_props.get("Bacteroidota", absent)
    out["bacillota_pct"] = bac * 100
    out["bacteroidota_pct"] = bact * 100
    out["bacillota_bacteroidota_ratio"] = (bac / bact.where(bact > 0)).astype(float)
    guilds = load_guilds().fillna("")
    # MetaPhlAn reports nested ranks (a genus row and its species rows): count species rows.
    # Count tables (BIOM, Kraken2, taxpasta) have distinct features: count every feature.
    if table.relative and table.species is not None:
        shares = table.species.reindex(index=values.index).fillna(0.0)
        names = pd.Series(shares.columns, index=shares.columns)
    else:
        shares, names = props, lineage
    for guild, members in guilds.groupby("guild"):
        member = _guild_members(names, set(members["genus"]) - {""},
                                set(members["species"]) - {""})
        out[f"guild_{guild}_pct"] = shares[member].sum(axis=1) * 100 if member else 0.0
    return _Profiled(out, genus_props)


def _guild_members(lineages: pd.Series, genera: set[str], species: set[str]) -> list[str]:
    """Features whose genus (from the lineage, or the species name when the genus rank is
    unclassified) or species is a guild member."""
    out = []
    for feature, text in lineages.items():
        name = species_of(text)
        genus = genus_of(text)
        if genus == "unclassified" and name != "unclassified":
            genus = name.split(" ")[0]
        if genus in genera or name in species:
            out.append(feature)
    return out


def _faith_pd(tree: object, arr: np.ndarray, values: pd.DataFrame, source: str,
              problems: list[Problem]) -> np.ndarray:
    tips = {t.name for t in tree.tips()}  # type: ignore[attr-defined]
    missing = [f for f in values.columns if f not in tips]
    if missing:
        problems.append(Problem(source, f"{len(missing)} features are not tips of the "
                                f"microbiome_tree (e.g. {', '.join(map(str, missing[:3]))}); "
                                "Faith's PD is not computed for this table.",
                                "use the tree built from the same representative sequences.",
                                stage="microbiome"))
        return np.full(len(values), np.nan)
    return alpha_diversity("faith_pd", np.round(arr).astype(np.int64), ids=values.index,
                           tree=tree, taxa=list(values.columns)).to_numpy()


def _bray_curtis_to(genus: pd.DataFrame, centroid: pd.Series) -> np.ndarray:
    cols = sorted(set(genus.columns) | set(centroid.index))
    g = genus.reindex(columns=cols, fill_value=0.0).to_numpy()
    c = centroid.reindex(cols, fill_value=0.0).to_numpy()
    return np.abs(g - c).sum(axis=1) / (g.sum(axis=1) + c.sum())


def compute_features(tables: list[tuple[MicrobiomeTable, pd.DataFrame]], min_depth: int,
                     tree: object | None = None,
                     reference: MicrobiomeTable | None = None) -> MicrobiomeFeatures:
    """Features from (table, patient-indexed values) pairs; one call per batch.

    Percentiles and the Bray-Curtis centroid come from `reference` (a table of reference
    samples, profiled the same way) when given, else from the batch itself, per input type.
    """
    problems: list[Problem] = []
    profiled = [p for t, v in tables if not v.empty
                for p in [_profile_table(t, v, min_depth, tree, problems)] if p is not None]
    empty = pd.DataFrame(index=pd.Index([], name="patient_id"))
    if not profiled:
        return MicrobiomeFeatures(empty, empty.copy(), problems)
    features = pd.concat([p.features for p in profiled]).sort_index()
    features.index.name = "patient_id"
    ref = None
    if reference is not None:
        ref = _profile_table(reference, reference.values, min_depth, None, [])
        if ref is None:
            problems.append(Problem(reference.source, "the reference table has no usable "
                                    "sample; percentiles use the batch.", "check the "
                                    "microbiome_reference table.", stage="microbiome"))
    if ref is not None:
        features["reference"] = f"reference:{os.path.basename(reference.source)}"
        for col in ("shannon", "guild_butyrate_producers_pct"):
            features[col.replace("_pct", "") + "_percentile"] = percentile_against(
                features[col], ref.features[col].to_numpy(dtype=float))
        centroid = ref.genus.mean(axis=0)
        bc = pd.concat([pd.Series(_bray_curtis_to(p.genus, centroid), index=p.genus.index)
                        for p in profiled])
    else:
        features["reference"] = "batch"
        # Like with like: each profiler's samples are their own reference group (Kraken2
        # reads and Bracken re-estimates, or 16S and shotgun, do not rank against each other).
        group = features["source_format"].astype(str).to_numpy()
        sizes = pd.Series(group).value_counts().sort_index()
        if len(sizes) > 1:
            sources = sorted({t.source for t, _ in tables})
            problems.append(Problem(sources[0],
                                    f"with {', '.join(os.path.basename(s) for s in sources[1:])}"
                                    ", the batch mixes profiles ("
                                    + ", ".join(f"{k}: {v} sample{'s' if v != 1 else ''}"
                                                for k, v in sizes.items())
                                    + "): diversity and guild percentiles rank each sample "
                                    "within its own profiler's samples only.",
                                    "give a microbiome_reference table profiled the same way "
                                    "for percentiles against a fixed reference.",
                                    stage="microbiome", excludes=False))
        features["shannon_percentile"] = _percentile(features["shannon"], pd.Series(
            group, index=features.index))
        features["guild_butyrate_producers_percentile"] = _percentile(
            features["guild_butyrate_producers_pct"], pd.Series(group, index=features.index))
        # One centroid per input type over the pooled batch: per-sample profiles (one file
        # each) are one batch, never their own centroid (which made every distance 0).
        bc = _pooled_bray_curtis(profiled)
    features["bray_curtis_to_centroid"] = bc.reindex(features.index)
    genus_clr = pd.concat([_clr(p.genus) for p in profiled]).sort_index()
    genus_clr = genus_clr.reindex(columns=sorted(genus_clr.columns))
    genus_clr.index.name = "patient_id"
    return MicrobiomeFeatures(features, genus_clr, problems)


def _pooled_bray_curtis(profiled: list[_Profiled]) -> pd.Series:
    parts = []
    for relative in (True, False):
        group = [p for p in profiled if bool(p.features["relative_input"].iloc[0]) is relative]
        if not group:
            continue
        pooled = pd.concat([p.genus for p in group]).fillna(0.0)
        centroid = pooled.mean(axis=0)
        parts.append(pd.Series(_bray_curtis_to(pooled, centroid), index=pooled.index))
    return pd.concat(parts)


def _clr(genus: pd.DataFrame) -> pd.DataFrame:
    named = genus.drop(columns=["unclassified"], errors="ignore")
    if named.shape[1] < 2:  # one part: its CLR is 0 by definition (skbio needs >= 2)
        values = np.zeros(named.shape)
    else:  # scikit-bio squeezes a one-sample matrix to 1-D; keep patients x genera
        values = np.asarray(clr(multi_replace(named.to_numpy() + 0.0))).reshape(named.shape)
    return pd.DataFrame(values, index=named.index, columns=named.columns)
