"""Adherence to a previous prescription, measured by the wearable.

With `previous_prescriptions` (a folder of prescription JSONs from an earlier run), each
patient's days after that prescription's reference date (at most the 28 days before the current
reference date) are compared with what was prescribed:
- adherence_days: days with wearable data in that window;
- prescribed_aerobic_min_per_week, observed_mvpa_min_per_week (mean daily MVPA x 7) and
  aerobic_adherence (observed / prescribed);
- aerobic_sessions_completed_per_week (days with MVPA >= the prescribed session length, per
  7 days) and session_adherence (completed / prescribed sessions).
MVPA from a wrist device counts any moderate-to-vigorous activity, not only prescribed sessions,
so these are upper bounds on adherence.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from precex.problems import Problem

WINDOW_DAYS = 28


def read_previous(folder: str, patients: list[str]) -> tuple[dict[str, dict], list[Problem]]:
    found, problems = {}, []
    for pid in patients:
        path = Path(folder) / f"{pid}.json"
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            issued = dt.date.fromisoformat(data["engine"]["reference_date"])
            aerobic = data.get("aerobic") or {}
            found[pid] = {"issued": issued,
                          "minutes_per_week": float(aerobic.get("minutes_per_week", 0)),
                          "minutes_per_session": float(aerobic.get("minutes_per_session", 0)),
                          "sessions_per_week": float(aerobic.get("sessions_per_week", 0))}
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as err:
            problems.append(Problem(str(path), f"not a precex prescription ({type(err).__name__}:"
                                    f" {err}); adherence is not computed.",
                                    "point previous_prescriptions at a precex results/"
                                    "prescriptions folder.", patient_id=None,
                                    stage="wearables"))
    return found, problems


def adherence(daily: pd.DataFrame, previous: dict[str, dict], reference_date: dt.date
              ) -> pd.DataFrame:
    """daily: patient_id, day (Timestamp), mvpa_min (one row per patient-day)."""
    cols = ["adherence_days", "prescribed_aerobic_min_per_week", "observed_mvpa_min_per_week",
            "aerobic_adherence", "aerobic_sessions_completed_per_week", "session_adherence"]
    if not previous or "mvpa_min" not in daily.columns:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="patient_id"))
    prev = pd.DataFrame.from_dict(previous, orient="index")
    ref = pd.Timestamp(reference_date)
    d = daily.merge(prev, left_on="patient_id", right_index=True)
    start = np.maximum(pd.to_datetime(d["issued"]), ref - pd.Timedelta(days=WINDOW_DAYS))
    d = d[(d["day"] > start) & (d["day"] <= ref) & d["mvpa_min"].notna()]
    d = d.assign(session=(d["mvpa_min"] >= d["minutes_per_session"])
                 & (d["minutes_per_session"] > 0))
    g = d.groupby("patient_id")
    out = pd.DataFrame(index=prev.index.rename("patient_id"))
    out["adherence_days"] = g["day"].nunique().reindex(out.index).fillna(0).astype(int)
    out["prescribed_aerobic_min_per_week"] = prev["minutes_per_week"]
    out["observed_mvpa_min_per_week"] = g["mvpa_min"].mean() * 7
    prescribed = out["prescribed_aerobic_min_per_week"].where(lambda x: x > 0)
    out["aerobic_adherence"] = out["observed_mvpa_min_per_week"] / prescribed
    out["aerobic_sessions_completed_per_week"] = g["session"].sum() / out["adherence_days"].where(
        lambda x: x > 0) * 7
    out["session_adherence"] = out["aerobic_sessions_completed_per_week"] / prev[
        "sessions_per_week"].where(lambda x: x > 0)
    return out[cols].sort_index()
