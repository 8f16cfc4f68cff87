"""Blood markers: catalogue, unit harmonisation, value selection, derived indices, FHIR input."""


def provided_features() -> set[str]:
    """Every feature name the blood stage gives the host profile."""
    from precex.blood.catalogue import load_catalogue

    names = {"homa_ir", "tyg", "nlr", "plr", "sii", "siri", "phenoage_clinical_years",
             "crp_status", "crp_mean_mg_l", "crp_n_measurements", "blood_data_issues"}
    for m in load_catalogue().values():
        names |= {m.column, f"{m.name}_date"}
    return names
