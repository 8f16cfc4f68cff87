"""The words precex reads as true, false and "not recorded", in one place.

Every reader starts from the same core words and adds only what its context needs: the
patient sheet accepts clinical words (present, afebrile), the config accepts switches (on,
off), follow-up tables treat a blank flag as "not reported" = false, and numeric matrices use
the missing-value spellings of R, pandas and SQL exports. Matching is on the stripped,
lower-cased text unless a set says otherwise (NUMERIC_MISSING is matched as written, as
pandas' na_values are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only where a column is parsed: the config and CLI read these words
    import pandas as pd

TRUE_WORDS = frozenset({"true", "yes", "1", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "0", "n", "f"})
# Config booleans (`--config research_mode=on`).
SWITCH_TRUE = TRUE_WORDS | {"on"}
SWITCH_FALSE = FALSE_WORDS | {"off"}
# Patient-sheet booleans as clinics write them.
CLINICAL_TRUE = TRUE_WORDS | {"present", "positive", "febrile", "pyrexial"}
CLINICAL_FALSE = FALSE_WORDS | {"absent", "negative", "nil", "none", "afebrile", "apyrexial"}
# What clinics write for "not recorded" (a blank), unless it is a valid value of the column.
CLINICAL_MISSING = frozenset({
    "na", "n/a", "n.a.", "nan", "null", "none", "-", "--", "?", ".", "unknown", "unk",
    "not done", "not recorded", "not measured", "not available", "nr", "nd", "pending", "tbd",
    "tba", "missing", "not known", "nk"})
# Numeric cells exported by R, pandas, SQL and GEO series matrices (matched as written).
NUMERIC_MISSING = frozenset({"", "NA", "NaN", "nan", "NULL", "null", "."})


def parse_bool(text: object, true: frozenset[str] = TRUE_WORDS,
               false: frozenset[str] = FALSE_WORDS) -> bool | None:
    """True or False for a recognised word (stripped, any case); None for anything else."""
    word = str(text).strip().lower()
    if word in true:
        return True
    if word in false:
        return False
    return None


def parse_bools(values: pd.Series, true: frozenset[str] = TRUE_WORDS,
                false: frozenset[str] = FALSE_WORDS) -> pd.Series:
    """parse_bool for a column at once: True, False, or NA for any other cell (blank, unknown
    word; a caller that must reject unknown words compares with its blanks)."""
    import pandas as pd

    words = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[words.isin(true)] = True
    out[words.isin(false)] = False
    return out
