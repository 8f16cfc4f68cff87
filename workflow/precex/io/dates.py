"""Dates as exports write them: ISO dates and date-times, and the unambiguous YYYY/MM/DD,
YYYY.MM.DD and YYYYMMDD. Day-first or month-first dates (02/01/2026) are ambiguous and are never
guessed: they parse as missing, and the caller names the row."""

from __future__ import annotations

import re

import pandas as pd

_ISO_DAY = re.compile(r"^\s*(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})(?:[T ].*)?\s*$")


def parse_dates(text: pd.Series) -> pd.Series:
    """Timestamps at midnight (NaT when not a date in one of the accepted forms)."""
    parts = text.astype(str).str.extract(_ISO_DAY)
    day = parts[0] + "-" + parts[1] + "-" + parts[2]
    # The caller's index, also for an empty column (extract would give a fresh RangeIndex).
    return pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").set_axis(text.index)


def iso_date(text: str) -> str | None:
    """'YYYY-MM-DD' for one cell, or None."""
    match = _ISO_DAY.match(str(text))
    if not match:
        return None
    day = pd.to_datetime("-".join(match.groups()), format="%Y-%m-%d", errors="coerce")
    return None if pd.isna(day) else day.date().isoformat()
