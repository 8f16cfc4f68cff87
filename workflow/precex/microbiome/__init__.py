"""Microbiome profiling: readers for BIOM/QIIME 2/MetaPhlAn, taxonomy, per-patient features."""


def provided_features() -> set[str]:
    """Every feature name the microbiome stage gives the host profile."""
    return {"shannon", "simpson", "observed_features", "chao1", "depth_reads",
            "bacillota_pct", "bacteroidota_pct", "bacillota_bacteroidota_ratio",
            "shannon_percentile", "guild_butyrate_producers_percentile",
            "bray_curtis_to_centroid", "guild_butyrate_producers_pct",
            "guild_mucin_degraders_pct", "guild_pathobionts_pct"}
