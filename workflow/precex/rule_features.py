"""The features the rule base may name, by rule kind.

A prescription rule reads the host profile (the sheet's columns, the modalities' features and
the profile's derived ones); an adaptation rule reads the summaries of the week since the
prescription. The rule base is checked against both when it loads, so a typo stops the run
before any profiling. This module joins the two vocabularies, so that neither the rule
language (precex.prescription.rules) nor the prescription engine imports the adaptation.
"""

from __future__ import annotations


def rule_features() -> dict[str, frozenset[str]]:
    from precex.adaptation.features import ADAPTATION_FEATURES
    from precex.profile.host import known_features

    return {"prescription": frozenset(known_features()),
            "adaptation": frozenset(ADAPTATION_FEATURES)}
