"""Dates as exports write them: ISO dates and date-times, and the unambiguous YYYY/MM/DD,
YYYY.MM.DD and YYYYMMDD. Day-first or month-first dates (02/01/2026) are ambiguous and are never
guessed: they parse as missing, and the caller names the row."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the report jobs read dates without loading pandas (0.3 s a job)
    import pandas as pd

_ISO_DAY = re.compile(r"^\s*(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})(?:[T ].*)?\s*$")
# 12/29/2025, 29.12.2025, 1/5/2026 08:15: read only in the order a site declares (config
# date_format: MDY or DMY); a year of two digits is never guessed.
_NUMERIC_DAY = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[T ,].*)?\s*$")


def parse_dates(text: pd.Series, date_format: str = "ISO") -> pd.Series:
    """Timestamps at midnight (NaT when not a date in one of the accepted forms). ISO dates
    are always read; with date_format MDY or DMY, month-first or day-first dates too."""
    import pandas as pd

    parts = text.astype(str).str.extract(_ISO_DAY)
    day = parts[0] + "-" + parts[1] + "-" + parts[2]
    if date_format in ("MDY", "DMY"):
        local = text.astype(str).str.extract(_NUMERIC_DAY)
        month, dom = (local[0], local[1]) if date_format == "MDY" else (local[1], local[0])
        ordered = local[2] + "-" + month.str.zfill(2) + "-" + dom.str.zfill(2)
        day = day.fillna(ordered)
    # The caller's index, also for an empty column (extract would give a fresh RangeIndex).
    return pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").set_axis(text.index)


# A FHIR date or dateTime: YYYY, YYYY-MM, YYYY-MM-DD, or a dateTime starting with the day
# (https://hl7.org/fhir/R4/datatypes.html#dateTime); a partial date is legal FHIR.
_FHIR_DATE = re.compile(r"^\s*(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T[^\s]*)?\s*$")


def fhir_day(text: object, latest: bool = False) -> str:
    """The ISO day of a FHIR date or dateTime ('2026-11-03T10:00:00+01:00' -> '2026-11-03',
    the day as the source wrote it); a partial one ('2026-11', '2019') as its first day, or with
    latest=True its last (the cautious reading where a later date means more caution: a recent
    surgery, a condition that ended recently). '' when the text is not a FHIR date."""
    match = _FHIR_DATE.match(str(text or ""))
    if not match:
        return ""
    year, month, day = match.groups()
    try:
        if day:
            return dt.date(int(year), int(month), int(day)).isoformat()
        if month:
            first = dt.date(int(year), int(month), 1)
            if not latest:
                return first.isoformat()
            following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return (following - dt.timedelta(days=1)).isoformat()
        return dt.date(int(year), 12 if latest else 1, 31 if latest else 1).isoformat()
    except ValueError:  # 2026-02-30, month 13
        return ""


def is_partial_fhir_date(text: object) -> bool:
    """A FHIR date without its day (YYYY or YYYY-MM)."""
    match = _FHIR_DATE.match(str(text or ""))
    return bool(match) and match.group(3) is None


def iso_days(text: pd.Series) -> pd.Series:
    """Timestamps of ISO day text (YYYY-MM-DD, as precex writes dates between its stages and
    as follow-up rows must give them); NaT for anything else, never a guess. User files go
    through parse_dates (with the site's date_format) first."""
    import pandas as pd

    return pd.to_datetime(text.astype(str).str.strip(), format="%Y-%m-%d", errors="coerce")


def iso_date(text: str) -> str | None:
    """'YYYY-MM-DD' for one cell, or None."""
    match = _ISO_DAY.match(str(text))
    if not match:
        return None
    import pandas as pd

    day = pd.to_datetime("-".join(match.groups()), format="%Y-%m-%d", errors="coerce")
    return None if pd.isna(day) else day.date().isoformat()


def day_label(date: str) -> str:
    """'Mon 5 Jan': the weekday and the date as people write them (no ISO dates)."""
    try:
        day = dt.date.fromisoformat(date[:10])
    except ValueError:  # not an ISO day: as pandas reads it
        import pandas as pd

        day = pd.Timestamp(date[:10]).date()
    return f"{day.strftime('%a')} {day.day} {day.strftime('%b')}"


_ISO_IN_TEXT = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


def patient_dates(text: str) -> str:
    """The text with every ISO date written as patients read dates ('fever on Fri 9 Jan')."""
    return _ISO_IN_TEXT.sub(lambda m: day_label(m.group(1)), text)
