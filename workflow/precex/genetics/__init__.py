"""Germline genotypes at curated exercise-related variants (display only, grade H)."""


def provided_features() -> set[str]:
    """Every feature name the genetics stage gives the host profile."""
    from precex.genetics.variants import variant_table

    names: set[str] = set()
    for rsid in variant_table()["rsid"]:
        names |= {f"{rsid}_genotype", f"{rsid}_effect_allele_count", f"{rsid}_call"}
    return names
