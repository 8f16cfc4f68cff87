"""The prescription schema is checked by jsonschema-rs (fast) and worded by jsonschema: the two
must agree on every document, valid or damaged, or a broken prescription could pass."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pandas as pd
import pytest
from builders import RB, json_paths
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.schema import (
    check_prescription,
    prescription_validator,
    read_prescription,
    schema_errors,
)

ROW = {"age": 58, "sex": "F", "treatment_phase": "adjuvant_chemo", "platelets_10e9_l": 40.0,
       "lvef_pct": 55.0, "resting_hr": 72, "fever": False}
PRESCRIPTION = prescribe(pd.DataFrame([ROW], index=["P1"]), RB,
                         EngineSettings(dt.date(2026, 1, 5)))[0]


paths = json_paths


ALL_PATHS = [p for p, _ in paths(PRESCRIPTION) if p]
REPLACEMENTS = st.one_of(st.none(), st.booleans(), st.integers(-5, 500),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
                         st.just([]), st.just({}), st.just("prescribed"), st.just("vigorous"))


def damaged(path, replacement, delete):
    doc = copy.deepcopy(PRESCRIPTION)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return doc


def test_the_engine_writes_a_valid_prescription():
    assert schema_errors(PRESCRIPTION) == []
    check_prescription(PRESCRIPTION)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ALL_PATHS), REPLACEMENTS, st.booleans())
def test_fast_and_worded_validators_agree_on_damaged_prescriptions(path, replacement, delete):
    doc = damaged(path, replacement, delete)
    worded = list(prescription_validator().iter_errors(doc))
    assert bool(schema_errors(doc)) == bool(worded), (path, replacement, delete)


def test_a_damaged_prescription_is_refused_with_the_schemas_words(tmp_path):
    doc = damaged(("status",), None, True)
    with pytest.raises(ValueError, match="'status' is a required property"):
        check_prescription(doc)
    path = tmp_path / "P1.json"
    path.write_text(json.dumps(doc))
    from precex.problems import InputError

    with pytest.raises(InputError, match="'status' is a required property"):
        read_prescription(str(path), "test")
