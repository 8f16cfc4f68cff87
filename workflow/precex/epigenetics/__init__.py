"""Epigenetic profiling: clocks, age acceleration, gene-level methylation."""


def provided_features() -> set[str]:
    """Every feature name the epigenetics stage gives the host profile."""
    from precex.epigenetics.clocks import load_clocks

    names: set[str] = set()
    for c in load_clocks():
        names |= {f"{c}_age", f"{c}_accel_diff", f"{c}_accel_resid", f"{c}_missing_cpgs"}
    return names
