"""json_copy: the fast deep copy the engines use must be a real deep copy."""

import copy
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from precex.json_data import json_copy

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)


def containers(value, found=None):
    found = [] if found is None else found
    if isinstance(value, dict | list):
        found.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            containers(item, found)
    return found


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_json_copy_equals_deepcopy_and_shares_no_container(value):
    copied = json_copy(value)
    assert copied == copy.deepcopy(value)
    originals = {id(c) for c in containers(value)}
    assert not originals & {id(c) for c in containers(copied)}


def test_other_values_are_deep_copied_too():
    value = {"when": dt.date(2026, 1, 5), "pair": ([1, 2], "x"), "set": {1, 2}}
    copied = json_copy(value)
    assert copied == value
    assert copied["pair"][0] is not value["pair"][0]  # a tuple's list is copied, not shared
    assert copied["set"] is not value["set"]
