"""The one restriction vocabulary (resources/prescription/restrictions.tsv): every restriction
the rule base can set, with the clinician's wording (the report) and the patient's (the
handout, the calendar). The rule-base and prescription schemas list the same codes (a test
checks), so a restriction cannot exist in one place and not another."""

from __future__ import annotations

from precex.paths import resource_rows


def _restrictions() -> dict[str, dict[str, str]]:
    return {row["restriction"]: {"clinician": row["clinician_text"],
                                 "patient": row["patient_text"]}
            for row in resource_rows("prescription", "restrictions.tsv")}


RESTRICTIONS = _restrictions()
CLINICIAN_TEXT = {code: words["clinician"] for code, words in RESTRICTIONS.items()}
PATIENT_TEXT = {code: words["patient"] for code, words in RESTRICTIONS.items()}
