"""Which days a wearable was worn: one documented rule (resources/wearables/wear_time.yaml) for
baseline wearables and follow-up weeks. A day not worn is no data, never a day of no activity:
coverage and every mean are over valid days."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from precex.config import load_yaml
from precex.paths import resource_path

WEAR_TIME = load_yaml(resource_path("wearables", "wear_time.yaml"))
VALID_DAY = WEAR_TIME["valid_day"]
SIGNALS = ("worn", "wear_min", "resting_hr", "steps")  # what can tell a day was worn


def wear_judged(values: Mapping[str, np.ndarray]) -> bool:
    """Whether the data carry any signal of wear (a flag, wear minutes, resting HR, steps)."""
    return any(name in values and bool((~np.isnan(values[name])).any()) for name in SIGNALS)


def worn_days(values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Whether the device was worn on each day: the device's wear flag where given (1/0),
    else enough wear minutes, else a resting heart rate or enough steps; a day with none of
    these is not a valid day."""
    known = np.zeros(n, bool)
    out = np.zeros(n, bool)
    if "worn" in values:
        flag = values["worn"]
        known = ~np.isnan(flag)
        out = np.where(known, flag == 1, out)
    if "wear_min" in values:
        minutes = values["wear_min"]
        here = ~known & ~np.isnan(minutes)
        out = np.where(here, minutes >= VALID_DAY["wear_minutes"], out)
        known = known | here
    rest = values.get("resting_hr", np.full(n, np.nan))
    steps = values.get("steps", np.full(n, np.nan))
    with np.errstate(invalid="ignore"):
        surrogate = ~np.isnan(rest) | (steps >= VALID_DAY["steps"])
    return np.where(known, out, surrogate)
