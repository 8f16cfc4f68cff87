"""One vocabulary of true/false/missing words, extended per context (issue 17)."""

from precex.io.tokens import (
    CLINICAL_FALSE,
    CLINICAL_MISSING,
    CLINICAL_TRUE,
    SWITCH_FALSE,
    SWITCH_TRUE,
    parse_bool,
)


def test_core_words_hold_in_every_context_and_never_both_ways():
    for true, false in ((CLINICAL_TRUE, CLINICAL_FALSE), (SWITCH_TRUE, SWITCH_FALSE)):
        assert {"true", "yes", "1"} <= true and {"false", "no", "0"} <= false
        assert not true & false
    # "none" means "no" for a sheet flag and "not recorded" for a value: the reader decides
    # by column type, so it is in both of those sets but never a true word
    assert "none" in CLINICAL_FALSE and "none" in CLINICAL_MISSING
    assert not CLINICAL_TRUE & CLINICAL_MISSING


def test_parse_bool_strips_and_ignores_case_and_says_none_for_anything_else():
    assert parse_bool(" YES ") is True and parse_bool("Afebrile", CLINICAL_TRUE,
                                                      CLINICAL_FALSE) is False
    assert parse_bool("on") is None and parse_bool("on", SWITCH_TRUE, SWITCH_FALSE) is True
    assert parse_bool("maybe") is None and parse_bool("") is None
