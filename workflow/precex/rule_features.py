"""The features the rule base may name, by rule kind.

A prescription rule reads the host profile (the sheet's columns, the modalities' features and
the profile's derived ones); an adaptation rule reads the summaries of the week since the
prescription. The rule base is checked against both when it loads, so a typo stops the run
before any profiling. This module joins the two vocabularies, so that neither the rule
language (precex.prescription.rules) nor the prescription engine imports the adaptation.
"""

from __future__ import annotations

# The week's summaries that adaptation rules may read (precex.adaptation.features computes
# each). Declared here, below the adaptation, so that the adaptation can check its rules
# without the rule vocabulary importing the adaptation back.
ADAPTATION_FEATURES = (
    "followup_days", "valid_days", "too_little_data", "adherence_source",
    "resting_hr_baseline_bpm", "resting_hr_baseline_source",
    "aerobic_adherence_pct", "aerobic_minutes_pct_of_prescribed",
    "sessions_completed_per_week", "weeks_missed",
    "hrv_readiness", "resting_hr_rise_3d", "fatigue_mean", "pain_mean", "red_flags",
    "temperature_max_c", "comments",
)


def adaptation_features() -> tuple[str, ...]:
    """ADAPTATION_FEATURES and symptom_<name> for every coded flag symptom of
    resources/adaptation/symptoms.tsv (read here, so the vocabulary stays data)."""
    import csv

    from precex.paths import resource_path

    with open(resource_path("adaptation", "symptoms.tsv"), encoding="utf-8") as handle:
        flags = [r["symptom"] for r in csv.DictReader(handle, delimiter="\t")
                 if r["kind"] == "flag"]
    return ADAPTATION_FEATURES + tuple(f"symptom_{name}" for name in flags)


def rule_features() -> dict[str, frozenset[str]]:
    from precex.profile.host import known_features

    return {"prescription": frozenset(known_features()),
            "adaptation": frozenset(adaptation_features())}
