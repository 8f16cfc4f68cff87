"""The daily table every wearable reader returns: one row per patient and local day, the
metrics it has, and per patient which export each metric came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pandas as pd

from precex.problems import Problem

DAILY_METRICS = ("steps", "mvpa_min", "light_min", "resting_hr", "hrv_rmssd_ms", "hrv_sdnn_ms",
                 "sleep_h", "worn", "wear_min")  # worn: 1/0, the export's own wear signal;
# wear_min: minutes of the day the device recorded a heart rate (precex.wearables.wear)


@dataclass
class DailyExport:
    """Daily rows (patient_id, date and metrics) and, per patient, the source of each metric."""

    daily: pd.DataFrame
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class IdMap:
    """Device or file IDs -> patient IDs, with each patient's time zone."""

    patients: dict[str, str]
    zones: dict[str, str]
    default_zone: str = "UTC"

    def patient(self, source_id: str) -> str:
        return self.patients.get(source_id, source_id)

    def zone(self, patient_id: str) -> ZoneInfo:
        return ZoneInfo(self.zones.get(patient_id) or self.default_zone)


def frame_of(rows: dict[tuple[str, str], dict[str, float]]) -> pd.DataFrame:
    """Rows keyed by (patient, day) as the daily table (metrics no row has are left out)."""
    records = [{"patient_id": pid, "date": day, **metrics}
               for (pid, day), metrics in sorted(rows.items())]
    frame = pd.DataFrame(records, columns=["patient_id", "date", *DAILY_METRICS])
    return frame.dropna(axis=1, how="all")
