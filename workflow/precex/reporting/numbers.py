"""Numbers as people read them: one formatter for every number a report, handout, batch table
or FHIR text shows.

Rounding is half-up on the number's shortest decimal form (2.675 shows as 2.68 at 2 digits,
as a person rounding it by hand would; binary floating point would give 2.67), trailing zeros
are trimmed only after a decimal point (60 stays 60: an earlier formatter stripped the zero of
"60" and showed a 60-year-old as "Age 6"), thousands are separated from 1,000 on, and a missing
value (None, blank, NaN) is shown as the caller's placeholder, never as 0 or "nan".
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

MISSING = "-"


def as_number(value: Any) -> float | int | None:
    """`value` as an int or float, or None when it is missing or not a number (bool is not a
    number here: a flag shown as 1 would mislead)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
        return None if math.isnan(number) or math.isinf(number) else number
    return None


def number(value: Any, digits: int = 0, *, trim: bool = False, thousands: bool = True,
           missing: str = MISSING) -> str:
    """`value` rounded half-up to `digits` decimals. trim: drop trailing zeros after the
    decimal point (12.50 -> 12.5, 13.0 -> 13; never 60 -> 6). thousands: 12,500 from 1,000 on.
    A value that is not a number is shown as text (a code, "n/a"), a missing one as `missing`."""
    numeric = as_number(value)
    if numeric is None:
        if value is None or isinstance(value, float) or (isinstance(value, str)
                                                         and not value.strip()):
            return missing
        return str(value)
    return _formatted(type(numeric), numeric, digits, trim, thousands, value)


# A report shows about 120 numbers, and a shard's reports many of the same ones (weeks,
# minutes, reference limits): each is formatted once a process. The type is part of the key
# (1 and 1.0 are equal keys but written differently); `value` is only the fallback text.
@lru_cache(maxsize=1 << 16)
def _formatted(kind: type, numeric: float | int, digits: int, trim: bool, thousands: bool,
               value: Any) -> str:
    try:
        exact = Decimal(repr(numeric)) if isinstance(numeric, float) else Decimal(numeric)
        rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # beyond Decimal's default precision: no report shows one
        return str(value)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0"
    text = f"{rounded:,f}" if thousands and abs(rounded) >= 1000 else f"{rounded:f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def quantity(value: Any, unit: str, digits: int = 0, *, trim: bool = True,
             missing: str = MISSING) -> str:
    """A number with its unit ("72 bpm", "12.5 x10^9/L", "45%"); the placeholder alone when
    missing. A percent sign is written without a space, as clinicians write LVEF."""
    shown = number(value, digits, trim=trim, missing=missing)
    if shown == missing:
        return missing
    if not unit:
        return shown
    return f"{shown}{unit}" if unit == "%" else f"{shown} {unit}"


def number_range(bounds: Any, unit: str = "", digits: int = 0) -> str:
    """A band such as a heart-rate target: "112-128 bpm"; the placeholder when not a pair."""
    if not isinstance(bounds, list | tuple) or len(bounds) != 2:
        return MISSING
    low, high = (number(b, digits, trim=True) for b in bounds)
    text = f"{low}-{high}"
    return f"{text}{unit}" if unit == "%" else (f"{text} {unit}" if unit else text)
