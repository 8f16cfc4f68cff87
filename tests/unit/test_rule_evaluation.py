"""Rule conditions are evaluated on prepared columns (precex.prescription.rules._Columns: one
pass for the missing masks, numbers and text per column). This checks them against the plain
pandas evaluation they replaced, kept here as the reference, on frames of every column type
the engine meets (numbers with NaN, text, pandas' string and nullable boolean types, mixed
objects), for every condition of the bundled rule base."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from builders import RB
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.prescription.rules import condition_features, evaluate, evaluate_all


def reference_missing(col: pd.Series) -> np.ndarray:
    miss = col.isna().to_numpy(dtype=bool, copy=True)
    if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
        miss |= col.fillna("").astype(str).str.strip().eq("").to_numpy()
    return miss


def reference_compare(col: pd.Series, op: str, value: Any) -> np.ndarray:
    if op in ("lt", "le", "gt", "ge"):
        num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return {"lt": num < value, "le": num <= value, "gt": num > value,
                    "ge": num >= value}[op]
    if op in ("eq", "ne", "in", "not_in"):
        values = value if isinstance(value, list) else [value]
        if all(isinstance(v, bool) for v in values):
            text = col.astype(str).str.strip().str.lower()
            hit = text.isin([str(v).lower() for v in values]).to_numpy()
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            hit = pd.to_numeric(col, errors="coerce").isin(values).to_numpy()
        else:
            hit = col.astype(str).isin([str(v) for v in values]).to_numpy()
        return ~hit if op in ("ne", "not_in") else hit
    pattern = rf"(?:^|;)\s*{re.escape(str(value))}\s*(?:;|$)"
    return col.astype(object).where(col.notna(), "").astype(str).str.contains(
        pattern, regex=True).to_numpy()


def reference_evaluate(cond: dict[str, Any], features: pd.DataFrame) -> np.ndarray:
    n = len(features)
    if cond.get("always"):
        return np.ones(n, dtype=bool)
    if "all" in cond:
        return np.logical_and.reduce([reference_evaluate(c, features) for c in cond["all"]]
                                     + [np.ones(n, dtype=bool)])
    if "any" in cond:
        return np.logical_or.reduce([reference_evaluate(c, features) for c in cond["any"]]
                                    + [np.zeros(n, dtype=bool)])
    if "not" in cond:
        return ~reference_evaluate(cond["not"], features)
    feature, op = cond["feature"], cond["op"]
    col = features[feature] if feature in features.columns else pd.Series(
        [None] * n, index=features.index, dtype=object)
    missing = reference_missing(col)
    if op == "missing":
        return missing
    if op == "present":
        return ~missing
    return np.where(missing, bool(cond.get("if_missing", False)),
                    reference_compare(col, op, cond["value"]))


CONDITIONS = [rule.when for rule in RB.rules] + [item.when for item in RB.derived]
FEATURES = sorted({f for cond in CONDITIONS for f in condition_features(cond)})
# The values the rule base compares with, so that conditions are hit as well as missed.
LEAF_VALUES: list[Any] = []


def _leaves(cond: dict[str, Any]) -> None:
    if "feature" in cond and "value" in cond:
        value = cond["value"]
        LEAF_VALUES.extend(value if isinstance(value, list) else [value])
    for sub in cond.get("all", []) + cond.get("any", []) + ([cond["not"]] if "not" in cond
                                                             else []):
        _leaves(sub)


for _cond in CONDITIONS:
    _leaves(_cond)
TEXTS = sorted({str(v) for v in LEAF_VALUES if isinstance(v, str)}) + [
    "", "  ", "yes", "True", " true ", "FALSE", "1", "0", "12.5", "high;low", "none"]
NUMBERS = sorted({float(v) for v in LEAF_VALUES
                  if isinstance(v, int | float) and not isinstance(v, bool)})


def column(n: int) -> st.SearchStrategy[pd.Series]:
    near = st.sampled_from(NUMBERS or [0.0]).flatmap(
        lambda v: st.sampled_from([v, v - 0.5, v + 0.5, v - 1, v + 1]))
    number = st.one_of(near, st.floats(-1e3, 1e3, allow_nan=False), st.just(np.nan))
    text = st.one_of(st.sampled_from(TEXTS), st.none())
    mixed = st.one_of(text, number, st.booleans())
    return st.one_of(
        st.lists(number, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="float64")),
        st.lists(text, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="string")),
        st.lists(text, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=object)),
        st.lists(st.one_of(st.booleans(), st.none()), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="boolean")),
        st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: pd.Series(v)),
        st.lists(st.integers(-5, 400), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="int64")),
        st.lists(mixed, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=object)))


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 4))
    chosen = [feature for feature in FEATURES if draw(st.booleans())]  # about half of them
    data = {feature: draw(column(n)).array for feature in chosen}
    return pd.DataFrame(data, index=[f"P{i}" for i in range(n)])


@settings(max_examples=60, deadline=None)
@given(frames())
def test_prepared_columns_evaluate_every_condition_as_pandas_does(features):
    found = evaluate_all(CONDITIONS, features)
    for j, cond in enumerate(CONDITIONS):
        assert np.array_equal(found[:, j], reference_evaluate(cond, features)), cond


def test_evaluate_on_a_frame_without_rows_or_columns():
    empty = pd.DataFrame(index=pd.Index([], dtype=object))
    assert evaluate_all(CONDITIONS, empty).shape == (0, len(CONDITIONS))
    one = pd.DataFrame(index=["P1"])
    assert evaluate({"feature": "fever", "op": "missing"}, one).tolist() == [True]
    assert evaluate({"feature": "fever", "op": "eq", "value": True, "if_missing": True},
                    one).tolist() == [True]
