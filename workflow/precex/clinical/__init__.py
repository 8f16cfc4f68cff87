"""Clinical context, body composition and fitness from the patient sheet."""


def provided_features() -> set[str]:
    """Every feature name the clinical stage (and the sheet it reads) gives the host profile."""
    from precex.clinical.vocabulary import bone_site_table

    names = {"bmi_kg_m2", "bmi_category", "almi_kg_m2", "sarcopenia", "sarcopenic_obesity",
             "fitness_category", "hr_max_bpm", "hr_max_source", "in_chemotherapy",
             "cardiotoxic_exposure", "days_to_next_infusion", "lvef_drop_points",
             "myelosuppressive_therapy", "cytotoxic_agent", "myelosuppressive_agent",
             "neurotoxic_agent", "hyperglycaemic_agent", "infused_cytotoxic_agent",
             "agent_classes", "agents_known",
             "days_since_last_infusion", "last_infusion_date", "infusion_schedule_unknown",
             "infusion_dates_12w",
             "bone_site_regions", "bone_sites_unrecognised", "bone_site_at_risk",
             "lvef_age_days", "sheet_rejected",
             "sheet_data_issues", "sheet_value_sources", "days_since_surgery",
             "comorbidities_unrecognised",
             "agents_unrecognised",
             "temperature_c", "weight_loss_pct", "operated_side"}
    return names | {f"bone_site_{r}" for r in bone_site_table().index}
