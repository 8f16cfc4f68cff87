"""The host profile's shard records: json_column is json_value per cell, made fast by dtype."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.profile.host import json_value
from precex.profile.stage import json_column

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=200, deadline=None)
@given(st.lists(FLOATS, max_size=20), st.lists(st.integers(-2**62, 2**62), max_size=20),
       st.lists(st.booleans(), max_size=20),
       st.lists(st.none() | st.text(max_size=5) | FLOATS | st.booleans(), max_size=20))
def test_json_column_is_json_value_of_every_cell(floats, ints, bools, mixed):
    columns = [pd.Series(floats, dtype=np.float64), pd.Series(ints, dtype=np.int64),
               pd.Series(bools, dtype=np.bool_), pd.Series(mixed, dtype=object)]
    for column in columns:
        fast = json_column(column)
        slow = [json_value(v) for v in column.tolist()]
        assert fast == slow
        assert [type(v) for v in fast] == [type(v) for v in slow]
