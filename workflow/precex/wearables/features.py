"""Per-patient wearable summaries over the 28 days before the reference date.

Rules for messy data (each application is reported in results/wearables/problems.tsv):
- a date after the reference date or unparseable: row rejected;
- duplicate (patient, date) rows: identical rows count once; differing rows are averaged
  (devices re-sync partial days) and reported;
- impossible values become missing for that day: steps < 0 or > 100,000, MVPA < 0 or > 1,440
  min, resting HR outside the sheet's plausible range (25-220 bpm: one range for every
  reader, precex.paths.plausible_range), RMSSD <= 0 or > 300 ms, sleep < 0 or > 24 h;
- gaps are not imputed, and a day the device was not worn is no data, never a day without
  activity (resources/wearables/wear_time.yaml: the device's wear flag, else 600 wear minutes,
  else a resting heart rate or 1,000 steps; a Fitabase day of 0 steps and 1,440 sedentary
  minutes is the tracker left off): wear_days and wear_coverage count valid days, and every
  mean is over them. A table with no signal of wear at all (only MVPA minutes) counts every
  day with data, and says so.

Columns of results/wearables/features.tsv:
wear_days, wear_coverage (0-1), steps_mean, mvpa_min_per_week (mean daily MVPA x 7),
resting_hr_mean_bpm, lnrmssd_today, lnrmssd_mean_7d, lnrmssd_sd_7d, hrv_readings_7d,
hrv_readiness ('normal', 'below', 'above' the 7-day mean +/- 0.5 SD with >= 5 readings in the
previous 7 days, or 'insufficient_data'), sleep_h_mean; and, with previous_prescriptions, the
adherence columns of precex.wearables.adherence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from precex.config import plausible_range
from precex.io.dates import parse_dates
from precex.io.tokens import FALSE_WORDS, TRUE_WORDS, parse_bools
from precex.paths import threshold
from precex.problems import Problem
from precex.roster import report_unmatched
from precex.wearables.adherence import adherence
from precex.wearables.wear import wear_judged, worn_days

WINDOW_DAYS = 28
# Device plausibility; resting HR has the one range every reader uses (the sheet schema's).
LIMITS = {"steps": (0, 100_000), "mvpa_min": (0, 1440), "resting_hr": plausible_range("resting_hr"),
          "hrv_rmssd_ms": (1e-9, 300), "hrv_sdnn_ms": (1e-9, 400), "sleep_h": (0, 24)}


def wearable_features(daily: pd.DataFrame, source: str, reference_date: dt.date,
                      patients: set[str], excluded: frozenset[str] = frozenset(),
                      previous: dict[str, dict] | None = None
                      ) -> tuple[pd.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    df = daily.copy()
    df.columns = [str(c).strip() for c in df.columns]
    df["row"] = np.arange(1, len(df) + 1)
    df["patient_id"] = df["patient_id"].astype(str).str.strip()
    unknown = ~df["patient_id"].isin(patients)
    problems += report_unmatched(source, df.loc[unknown, "patient_id"], patients, set(excluded),
                                 "wearables")
    df = df[~unknown]
    dates = parse_dates(df["date"])
    for r in df.loc[dates.isna()].itertuples():
        problems.append(Problem(source, f"date '{r.date}' is not YYYY-MM-DD; row not used.",
                                "write dates as YYYY-MM-DD.", row=int(r.row), column="date",
                                stage="wearables"))
    df = df.assign(day=dates)[dates.notna()]
    ref = pd.Timestamp(reference_date)
    future = df["day"] > ref
    for r in df.loc[future].itertuples():
        problems.append(Problem(source, f"date {r.date} is after the reference date; row not "
                                "used.", "check the date or reference_date.", row=int(r.row),
                                column="date", stage="wearables"))
    df = df[~future & (df["day"] > ref - pd.Timedelta(days=WINDOW_DAYS))]
    metrics = [c for c in LIMITS if c in df.columns]
    for col in metrics:
        num = pd.to_numeric(df[col], errors="coerce")
        lo, hi = LIMITS[col]
        bad = (num < lo) | (num > hi) | (num.isna() & df[col].notna() & (df[col].astype(str)
                                                                          .str.strip() != ""))
        for r in df.loc[bad].itertuples():
            problems.append(Problem(source, f"{col} value '{getattr(r, col)}' is impossible "
                                    f"(allowed {lo:g}-{hi:g}); that day's {col} is treated as "
                                    "missing.", "check the device export.", row=int(r.row),
                                    column=col, stage="wearables"))
        df[col] = num.where(~bad)
    wear = [c for c in ("worn", "wear_min") if c in df.columns]
    if "worn" in df.columns:  # a wear flag as devices write it: true/false, 1/0, yes/no
        df["worn"] = parse_bools(df["worn"].astype("string").fillna("").astype(str),
                                 TRUE_WORDS | {"1.0"}, FALSE_WORDS | {"0.0"}).astype(float)
    if "wear_min" in df.columns:
        df["wear_min"] = pd.to_numeric(df["wear_min"], errors="coerce")
    dup = df.duplicated(["patient_id", "day"], keep=False)
    if dup.any():
        for (pid, day), grp in df[dup].groupby(["patient_id", "day"]):
            problems.append(Problem(source, f"{len(grp)} rows for patient '{pid}' on "
                                    f"{day.date()} (rows "
                                    f"{', '.join(map(str, grp['row']))}); averaged.",
                                    "export one row per day.", patient_id=None,
                                    column="date", stage="wearables"))
    daily_mean = df.groupby(["patient_id", "day"], sort=True)[metrics + wear].mean() \
        .reset_index()
    daily_mean = _valid_days(daily_mean, source, problems)
    g = daily_mean.groupby("patient_id", sort=True)
    out = pd.DataFrame(index=pd.Index(sorted(daily_mean["patient_id"].unique()),
                                      name="patient_id"))
    out["wear_days"] = g["day"].nunique().astype(float)
    out["wear_coverage"] = out["wear_days"] / WINDOW_DAYS
    if "steps" in metrics:
        out["steps_mean"] = g["steps"].mean()
    if "mvpa_min" in metrics:
        out["mvpa_min_per_week"] = g["mvpa_min"].mean() * 7
    if "resting_hr" in metrics:
        out["resting_hr_mean_bpm"] = g["resting_hr"].mean()
        out = out.join(recent_resting_hr(daily_mean, reference_date))
    if "sleep_h" in metrics:
        out["sleep_h_mean"] = g["sleep_h"].mean()
    if "hrv_sdnn_ms" in metrics:  # SDNN (Apple Health, FHIR 80404-7): shown, never as RMSSD
        out["hrv_sdnn_mean_ms"] = g["hrv_sdnn_ms"].mean()
    if "hrv_rmssd_ms" in metrics:
        out = out.join(hrv_readiness(daily_mean, reference_date))
    if previous:
        out = out.join(adherence(daily_mean, previous, reference_date), how="left")
    return out, problems


RECENT_DAYS = 3  # an acute signal: the last 3 days with a reading ...
RECENT_WINDOW_DAYS = 7  # ... within the last week


def recent_resting_hr(daily: pd.DataFrame, reference_date: dt.date) -> pd.DataFrame:
    """Mean resting HR of the last 3 days with a reading in the last 7 (an acute rise that the
    28-day mean would hide feeds the same safety rules as a clinic measurement)."""
    ref = pd.Timestamp(reference_date)
    d = daily[["patient_id", "day", "resting_hr"]].dropna()
    d = d[d["day"] > ref - pd.Timedelta(days=RECENT_WINDOW_DAYS)]
    last = d.sort_values("day").groupby("patient_id").tail(RECENT_DAYS)
    g = last.groupby("patient_id", sort=True)
    return pd.DataFrame({"resting_hr_recent_bpm": g["resting_hr"].mean(),
                         "resting_hr_recent_days": g["day"].nunique().astype(float)})


# The readiness band (resources/clinical/thresholds.tsv); the column names say 7d, the window
# of the published protocol.
HRV_BAND_SD = threshold("hrv_band_sd")
HRV_MIN_READINGS = threshold("hrv_min_readings")
HRV_WINDOW_DAYS = int(threshold("hrv_window_days"))
HRV_COLUMNS = ["lnrmssd_today", "lnrmssd_date", "lnrmssd_mean_7d", "lnrmssd_sd_7d",
               "hrv_readings_7d", "hrv_readiness"]


def hrv_readiness(daily: pd.DataFrame,
                  reference_date: dt.date | Mapping[str, dt.date]) -> pd.DataFrame:
    """Today's lnRMSSD against the mean +/- 0.5 SD of the previous 7 days (>= 5 readings).

    `reference_date` is "today": one date for everyone, or one per patient (the weekly
    adaptation's last follow-up day), so that a whole shard is one call."""
    d = daily[["patient_id", "day", "hrv_rmssd_ms"]].dropna()
    if d.empty:  # nobody has a reading (found by fuzzing: a header-only table crashed)
        return pd.DataFrame(columns=HRV_COLUMNS, index=pd.Index([], name="patient_id"))
    d = d.assign(ln=np.log(d["hrv_rmssd_ms"]))
    latest = d.sort_values("day").groupby("patient_id").tail(1).set_index("patient_id")
    prev = d.merge(latest[["day"]].rename(columns={"day": "today"}), left_on="patient_id",
                   right_index=True)
    prev = prev[(prev["day"] < prev["today"]) & (prev["day"] >= prev["today"]
                                                 - pd.Timedelta(days=HRV_WINDOW_DAYS))]
    stats = prev.groupby("patient_id")["ln"].agg(["mean", "std", "count"])
    out = pd.DataFrame(index=latest.index)
    out["lnrmssd_today"] = latest["ln"]
    out["lnrmssd_date"] = latest["day"].dt.date.astype(str)
    out["lnrmssd_mean_7d"] = stats["mean"]
    out["lnrmssd_sd_7d"] = stats["std"]
    out["hrv_readings_7d"] = stats["count"].reindex(out.index).fillna(0).astype(int)
    lo = out["lnrmssd_mean_7d"] - HRV_BAND_SD * out["lnrmssd_sd_7d"]
    hi = out["lnrmssd_mean_7d"] + HRV_BAND_SD * out["lnrmssd_sd_7d"]
    enough = out["hrv_readings_7d"] >= HRV_MIN_READINGS
    if isinstance(reference_date, Mapping):
        ref = pd.to_datetime(pd.Series(reference_date, dtype=object)).reindex(latest.index)
    else:
        ref = pd.Timestamp(reference_date)
    stale = latest["day"] < ref - pd.Timedelta(days=1)  # readiness is for today, not last week
    out["hrv_readiness"] = np.select(
        [~enough | stale, out["lnrmssd_today"] < lo, out["lnrmssd_today"] > hi],
        ["insufficient_data", "below", "above"], default="normal")
    return out


def _valid_days(daily: pd.DataFrame, source: str, problems: list[Problem]) -> pd.DataFrame:
    """The patient-days the device was worn (precex.wearables.wear); the others are reported
    in one line and left out of coverage and every mean."""
    values = {c: daily[c].to_numpy(dtype=float) for c in ("worn", "wear_min", "resting_hr",
                                                          "steps") if c in daily.columns}
    if not wear_judged(values):
        if len(daily):
            problems.append(Problem(source, "the table has no signal of wear (a wear flag, "
                                    "wear minutes, resting heart rate or steps), so every day "
                                    "with data is counted as worn.", "export steps or resting "
                                    "heart rate with the activity minutes.", stage="wearables",
                                    excludes=False))
        return daily.drop(columns=[c for c in ("worn", "wear_min") if c in daily.columns])
    valid = worn_days(values, len(daily))
    if (~valid).any():
        problems.append(Problem(source, f"{int((~valid).sum())} patient-day(s) without wear "
                                "(the device's flag, under 600 wear minutes, or no resting "
                                "heart rate and under 1,000 steps) are not counted: coverage "
                                "and means are over worn days.", "", stage="wearables",
                                excludes=False))
    return daily[valid].drop(columns=[c for c in ("worn", "wear_min") if c in daily.columns])
