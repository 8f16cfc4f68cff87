"""What the adaptation rules read: per-patient summaries of the days since the prescription.

- followup_days: days with wearable data after the prescription's reference date;
- aerobic_adherence_pct: observed MVPA minutes per 7 days / prescribed aerobic minutes per week
  x 100 (MVPA counts any moderate-to-vigorous activity, so this is an upper bound);
- sessions_completed_per_week: days with MVPA >= the prescribed session length, per 7 days;
- weeks_missed: complete 7-day blocks since the prescription with no such session day;
- hrv_readiness: the last day's lnRMSSD against the 7-day band (precex.wearables.features);
- resting_hr_rise_3d: the last 3 days' resting HR all > baseline + 10 bpm (baseline: the
  prescription's resting HR, else the median of the first 7 follow-up days);
- symptom_fever, symptom_new_bone_pain, symptom_chest_pain, symptom_dyspnoea: any day true;
- fatigue_mean, pain_mean: mean 0-10 scores over the last 7 days.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from precex.io.tokens import FALSE_WORDS, NUMERIC_MISSING, TRUE_WORDS
from precex.problems import InputError, Problem
from precex.wearables.features import hrv_readiness

ADAPTATION_FEATURES = (
    "followup_days", "aerobic_adherence_pct", "sessions_completed_per_week", "weeks_missed",
    "hrv_readiness", "resting_hr_rise_3d", "symptom_fever", "symptom_new_bone_pain",
    "symptom_chest_pain", "symptom_dyspnoea", "fatigue_mean", "pain_mean",
)
SYMPTOM_FLAGS = ("fever", "new_bone_pain", "chest_pain", "dyspnoea")
SYMPTOM_SCORES = ("fatigue", "pain")
_TRUE = TRUE_WORDS
_FALSE = FALSE_WORDS | {""}  # a blank symptom flag: not reported


def issue_date(prescription: dict[str, Any]) -> dt.date:
    """The day the prescription's data ends: its reference date, or the last adapted day."""
    adapted = prescription.get("adaptation") or {}
    return dt.date.fromisoformat(adapted.get("data_through",
                                             prescription["engine"]["reference_date"]))


SOURCE_ROW = "source_row"


def require_day_columns(frame: pd.DataFrame, source: str, what: str) -> pd.DataFrame:
    """A copy with stripped column names; patient_id and date are required."""
    df = frame.copy()
    df.columns = [str(c).strip() for c in df.columns]
    if not {"patient_id", "date"} <= set(df.columns):
        raise InputError([Problem(source, f"the {what} table needs columns patient_id and date.",
                                  "add them to the header row.", stage="adaptation")])
    return df


def validate_days(frame: pd.DataFrame, source: str, issued: dict[str, dt.date],
                  what: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Every row must belong to a patient with a prescription and fall after its date, one
    row per patient-day; anything else is a clear error naming the row (nothing ignored)."""
    problems = []
    df = require_day_columns(frame, source, what)
    # A shard's slice of the table carries the row numbers of the user's file (split_followup).
    if SOURCE_ROW in df:
        df["row"] = df.pop(SOURCE_ROW).astype(int)
    else:
        df["row"] = np.arange(1, len(df) + 1)
    df["patient_id"] = df["patient_id"].astype(str).str.strip()
    day = pd.to_datetime(df["date"].astype(str).str.strip(), format="%Y-%m-%d", errors="coerce")
    for r in df[day.isna()].itertuples():
        # Naming the patient excludes them: a lost day would change their adherence.
        problems.append(Problem(source, f"date '{r.date}' is not YYYY-MM-DD.",
                                "write dates as YYYY-MM-DD.", row=int(r.row), column="date",
                                patient_id=r.patient_id if r.patient_id in issued else None,
                                stage="adaptation"))
    df = df.assign(day=day.dt.date)
    since = df["patient_id"].map(issued)
    early = pd.Series([d is not None and s is not None and not pd.isna(d) and not pd.isna(s)
                       and d <= s for d, s in zip(df["day"], since, strict=True)],
                      index=df.index, dtype=bool)  # dtype: an empty mask must stay a mask
    for r, start in zip(df[early].itertuples(), since[early], strict=True):
        problems.append(Problem(source, f"date {r.date} is not after the prescription's date "
                                f"{start.isoformat()}.", "give only days since the "
                                "prescription was issued.", row=int(r.row), column="date",
                                patient_id=r.patient_id, stage="adaptation"))
    for r in df[~df["patient_id"].isin(issued)].itertuples():
        problems.append(Problem(source, f"patient '{r.patient_id}' has no prescription here.",
                                "check the ID or the prescriptions given.", row=int(r.row),
                                column="patient_id", stage="adaptation"))
    dup = df.duplicated(["patient_id", "day"], keep=False) & df["day"].notna()
    for r in df[dup].itertuples():
        problems.append(Problem(source, f"patient '{r.patient_id}' has more than one row for "
                                f"{r.date} (overlapping uploads?).", "give one row per day.",
                                row=int(r.row), column="date", patient_id=r.patient_id,
                                stage="adaptation"))
    bad_rows = {p.row for p in problems}
    return df[~df["row"].isin(bad_rows)], problems


def _flag(series: pd.Series, source: str, column: str, rows: pd.Series) -> pd.Series:
    text = series.astype(object).fillna("").astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError([Problem(source, f"'{series.iloc[i]}' is not true/false.",
                                  "use true or false.", row=int(rows.iloc[i]), column=column,
                                  stage="adaptation")])
    return text.isin(_TRUE)


MISSING_TEXT = sorted(NUMERIC_MISSING - {"NULL", "null", "."})


def _numbers(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    """A numeric column; text that is not a number is an error naming the row (a coerced NaN
    would count as a day without activity and could step a patient back)."""
    if column not in frame:
        return pd.Series(np.nan, index=frame.index)
    text = frame[column].astype(object).fillna("").astype(str).str.strip()
    missing = text.isin(MISSING_TEXT)
    values = pd.to_numeric(text.mask(missing), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError([Problem(source, f"{column} '{text.iloc[i]}' is not a number.",
                                  "give a number, or leave the cell empty if not measured.",
                                  row=int(frame["row"].iloc[i]), column=column,
                                  stage="adaptation")])
    return values


def shard_hrv_readiness(wearables: pd.DataFrame) -> dict[str, str]:
    """hrv_readiness of every patient in a validated follow-up table, in one call: each
    patient's "today" is their last follow-up day, as adaptation_features takes it."""
    if wearables.empty or "hrv_rmssd_ms" not in wearables:
        return {}
    text = wearables["hrv_rmssd_ms"].astype(object).fillna("").astype(str).str.strip()
    daily = pd.DataFrame({"patient_id": wearables["patient_id"],
                          "day": pd.to_datetime(wearables["day"]),
                          "hrv_rmssd_ms": pd.to_numeric(text.mask(text.isin(MISSING_TEXT)),
                                                        errors="coerce")})
    last = wearables.groupby("patient_id")["day"].max().to_dict()
    ready = hrv_readiness(daily, last)
    return ready["hrv_readiness"].to_dict()


def adaptation_features(prescription: dict[str, Any], wearables: pd.DataFrame,
                        symptoms: pd.DataFrame | None = None, symptoms_source: str = "",
                        wearables_source: str = "",
                        readiness: dict[str, str] | None = None) -> dict[str, Any]:
    """The adaptation features of one patient from validated tables (validate_days).
    `readiness` is shard_hrv_readiness of the whole shard (computed here when absent)."""
    pid = prescription["patient_id"]
    issued = issue_date(prescription)
    wear = wearables[wearables["patient_id"] == pid].copy()
    for col in ("mvpa_min", "resting_hr", "hrv_rmssd_ms"):
        wear[col] = _numbers(wear, col, wearables_source)
    aerobic = prescription.get("aerobic") or {}
    out: dict[str, Any] = {name: None for name in ADAPTATION_FEATURES}
    n_days = int(wear["day"].nunique())
    out["followup_days"] = n_days
    if n_days:
        per_week = 7 / n_days
        minutes = float(wear["mvpa_min"].fillna(0).sum()) * per_week
        if aerobic.get("minutes_per_week"):
            out["aerobic_adherence_pct"] = round(100 * minutes / aerobic["minutes_per_week"], 1)
        session_len = aerobic.get("minutes_per_session", 0) or 0
        session_days = wear["mvpa_min"].fillna(0) >= max(session_len, 1)
        out["sessions_completed_per_week"] = round(float(session_days.sum()) * per_week, 2)
        offset = (pd.Series(wear["day"]).map(lambda d: (d - issued).days) - 1) // 7
        complete = (max(wear["day"]) - issued).days // 7  # whole weeks since the prescription
        weeks_with = set(offset[session_days.to_numpy()].tolist())
        out["weeks_missed"] = sum(1 for w in range(complete) if w not in weeks_with)
        if readiness is not None:
            out["hrv_readiness"] = readiness.get(pid)
        else:
            daily = wear.assign(day=pd.to_datetime(wear["day"]))[["patient_id", "day",
                                                                  "hrv_rmssd_ms"]]
            ready = hrv_readiness(daily, max(wear["day"]))
            out["hrv_readiness"] = ready["hrv_readiness"].iloc[0] if len(ready) else None
        base = aerobic.get("resting_hr_bpm")
        ordered = wear.sort_values("day")
        if base is None:
            base = ordered["resting_hr"].head(7).median()
        recent = ordered["resting_hr"].tail(3)
        out["resting_hr_rise_3d"] = bool(len(recent) == 3 and recent.notna().all()
                                         and (recent > float(base) + 10).all())
    if symptoms is not None:
        sym = symptoms[symptoms["patient_id"] == pid]
        for flag in SYMPTOM_FLAGS:
            if flag in sym:
                out[f"symptom_{flag}"] = bool(_flag(sym[flag], symptoms_source, flag,
                                                    sym["row"]).any())
        recent = (sym["day"] > (max(sym["day"]) - dt.timedelta(days=7))) if len(sym) else (
            pd.Series(False, index=sym.index))
        for score in SYMPTOM_SCORES:
            if score in sym:  # every day is checked; the mean is over the last 7
                values = _numbers(sym, score, symptoms_source)
                bad = values.notna() & ((values < 0) | (values > 10))
                if bad.any():
                    r = sym[bad].iloc[0]
                    raise InputError([Problem(symptoms_source, f"{score} {r[score]} is "
                                              "outside 0-10.", "give a 0-10 score.",
                                              row=int(r["row"]), column=score,
                                              stage="adaptation")])
                values = values[recent.to_numpy()]
                out[f"{score}_mean"] = (round(float(values.mean()), 2)
                                        if values.notna().any() else None)
    return out
