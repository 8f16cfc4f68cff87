"""BundleCheck validates a bundle of a known shape by its values only: it must never pass a
bundle that fhir.resources' full R4B models reject, whatever is changed in it."""

from __future__ import annotations

import copy
import datetime as dt

import pandas as pd
import pytest
from builders import RB, json_paths
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.fhir import prescription_bundle
from precex.prescription.fhir_check import BundleCheck, _shape
from pydantic import ValidationError

ROWS = [{"age": 60.0, "hr_max_bpm": 166.0},
        {"age": 70.0, "fever": True, "comorbidities": "AF"},
        {"age": 55.0, "platelets_10e9_l": 10.0, "treatment_phase": "adjuvant_chemo"},
        {"age": 48.0, "resting_hr": 64.0, "lvef_pct": 45.0, "bone_metastases": "unstable"},
        {"age": 66.0, "resting_hr": 70.0, "neuropathy_grade": 2, "lymphedema": "present"}]
BUNDLES = [prescription_bundle(p) for p in prescribe(
    pd.DataFrame(ROWS, index=["P1", "P2", "BC_0003", "P.4", "P5"]), RB,
    EngineSettings(dt.date(2026, 1, 5)))]


def leaves(node):
    """The path of every scalar in a JSON document."""
    return (path for path, value in json_paths(node) if not isinstance(value, dict | list))


def full_accepts(bundle) -> bool:
    try:
        BundleCheck.full(bundle)
    except ValidationError:
        return False
    return True


def fast_accepts(check: BundleCheck, bundle) -> bool:
    try:
        check.validate(bundle)
    except ValidationError:
        return False
    return True


@pytest.fixture(scope="module")
def primed() -> BundleCheck:
    check = BundleCheck()
    for bundle in BUNDLES:
        check.validate(bundle)  # the first of each shape: the full models
    return check


def test_every_generated_bundle_has_a_value_plan(primed):
    for bundle in BUNDLES:
        assert primed._plans[_shape(bundle, {})] is not None


def test_bundles_that_differ_in_list_lengths_share_a_shape():
    one = copy.deepcopy(BUNDLES[0])
    two = copy.deepcopy(BUNDLES[0])
    two["entry"][0]["resource"]["activity"].append(
        copy.deepcopy(two["entry"][0]["resource"]["activity"][0]))
    assert _shape(one, {}) == _shape(two, {})


ODD = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                st.sampled_from(["", " ", "draft", "not a code", "2026-13-01", "2026-01-05",
                                 "2026-01-05T25:00:00", "P_1", "urn:uuid:x", "x" * 70, "a\tb",
                                 "line\n", "ok", "http://example.org", "-1", "1.5e3"]),
                st.text(max_size=5))


@settings(max_examples=600, deadline=None)
@given(st.integers(0, len(BUNDLES) - 1), st.data())
def test_a_changed_value_never_passes_a_bundle_the_full_models_reject(primed, which, data):
    bundle = copy.deepcopy(BUNDLES[which])
    paths = [p for p in leaves(bundle) if p[-1] != "resourceType"]
    path = data.draw(st.sampled_from(paths))
    parent = bundle
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(ODD)
    assert fast_accepts(primed, bundle) == full_accepts(bundle), (path, parent[path[-1]])


@pytest.mark.parametrize("replacement", ["", " ", "not a code", "2026-13-01", "2026-02-30",
                                         "P_1", "urn:uuid:x", "a\tb", "line\n", " lead",
                                         "trail ", "-1", "http://x y", "2026-01-05T10:00:00"])
def test_each_text_value_replaced_agrees_with_the_full_models(primed, replacement):
    """Every text value of every bundle, one at a time: same shape, so the value checks
    decide, and they must say what the full models say."""
    for original in BUNDLES:
        for path in leaves(original):
            bundle = copy.deepcopy(original)
            parent = bundle
            for key in path[:-1]:
                parent = parent[key]
            if not isinstance(parent[path[-1]], str) or path[-1] == "resourceType":
                continue
            parent[path[-1]] = replacement
            assert fast_accepts(primed, bundle) == full_accepts(bundle), (path, replacement)


def test_a_new_shape_is_validated_with_the_full_models(primed):
    bundle = copy.deepcopy(BUNDLES[0])
    bundle["entry"][0]["resource"]["unknownElement"] = "x"
    with pytest.raises(ValidationError):
        primed.validate(bundle)
    bundle = copy.deepcopy(BUNDLES[0])
    del bundle["entry"][0]["resource"]["status"]  # a required element
    with pytest.raises(ValidationError):
        primed.validate(bundle)
