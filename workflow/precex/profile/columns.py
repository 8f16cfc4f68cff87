"""Reading one feature column of a patient table, present or not (absent reads as missing)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def numeric_column(frame: pd.DataFrame, col: str) -> pd.Series:
    """The column as floats (text and blanks NaN); all NaN when the table lacks it."""
    if col not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[col], errors="coerce").astype(float)
