"""SchemaCheck decides with jsonschema-rs and words errors with jsonschema: a document the
fast step passes must have no error the worded step would find (else a bad sheet row or a
broken prescription would pass), on precex's own schemas, for values of every shape."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.clinical.sheet import sheet_schema
from precex.io.schema_check import SchemaCheck

SCHEMA = sheet_schema()
PROPS = SCHEMA["properties"]
CHECK = SchemaCheck(SCHEMA, formats=True)

ODD_TEXT = st.sampled_from(["", " ", "2026-01-05", "2026-1-5", "20260105", "2026-02-30",
                            "2026-01-05\n", "P001\n", "P_001", "P001 ", "١٢٣", "120/80",
                            "120/80\n", "F", "f", "HER2+", "x" * 130, "\u00e9"])
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 400),
                   st.floats(allow_nan=False, allow_infinity=False, width=32),
                   st.sampled_from([5.0, 18.0, 90.0, 4.5, 110.0000001]), ODD_TEXT,
                   st.text(max_size=6), st.lists(ODD_TEXT, max_size=3))


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(PROPS)), VALUES, max_size=8),
       st.sampled_from(["P001", "p-1.a", "P_001"]))
def test_a_row_the_fast_step_passes_has_no_worded_error(record, pid):
    record = {"patient_id": pid, "age": 60, "sex": "F", **record}
    if CHECK.fast.is_valid(record):
        assert list(CHECK.worded.iter_errors(record)) == [], record
    assert CHECK.is_valid(record) == (not list(CHECK.worded.iter_errors(record)))


@pytest.mark.parametrize("column", sorted(c for c, s in PROPS.items()
                                          if s.get("x-on-error") == "reject"))
@settings(max_examples=60, deadline=None)
@given(value=VALUES)
def test_a_cell_the_fast_step_passes_has_no_worded_error(column, value):
    check = SchemaCheck(PROPS[column], formats=True)
    if check.fast.is_valid(value):
        assert list(check.worded.iter_errors(value)) == [], (column, value)


def test_the_worded_step_names_what_is_wrong():
    errors = list(CHECK.iter_errors({"patient_id": "P1", "age": 12, "sex": "F"}))
    assert [e.message for e in errors] == ["12 is less than the minimum of 18"]
    assert list(CHECK.iter_errors({"patient_id": "P1", "age": 60, "sex": "F"})) == []
