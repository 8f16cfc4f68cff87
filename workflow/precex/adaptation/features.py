"""What the adaptation rules read: per-patient summaries of the days since the prescription.

- followup_days: days with wearable data after the prescription's reference date;
- valid_days: days of the last 7 on which the device was worn (resources/wearables/
  wear_time.yaml: the device's wear flag, else >= 600 wear minutes, else a resting heart rate
  or >= 1,000 steps); too_little_data: fewer than 4, and adherence is then unknown (the week
  holds: ADAPT_TOO_LITTLE_DATA), never scaled up from the days there are;
- aerobic_adherence_pct: exercise minutes per week at the prescribed week's intensity or
  above / that week's prescribed aerobic minutes x 100, at most 100 (the week that was
  prescribed, this_week: week 1's lighter dose when issued, never the week-12 target). A
  moderate or vigorous week counts device MVPA (or exercise) minutes, or logged session
  minutes; a light week counts logged sessions (logged_exercise_min, or logged_sessions x the
  session length), else MVPA minutes (above its intensity). A watch's light-activity minutes
  are everyday movement and never count; with neither measure adherence is unknown. Minutes
  are summed over valid days and divided by the weeks the data span (a day not worn counts as
  no exercise, never as an average day).
  aerobic_minutes_pct_of_prescribed keeps the uncapped share; adherence_source names the
  measure;
- sessions_completed_per_week: valid days with those minutes >= the prescribed session length
  (or a logged session), per week;
- weeks_missed: complete 7-day blocks since the prescription with no such session day;
- hrv_readiness: the last day's lnRMSSD against the 7-day band (precex.wearables.features);
- resting_hr_rise_3d: the last 3 days' device resting HR all > the device's own baseline + 10
  bpm; the baseline (resting_hr_baseline_bpm, with resting_hr_baseline_source) is the 28-day
  device mean before the prescription, else the one an earlier week used, else the median of
  the first 7 follow-up days - never the clinic pulse;
- symptom_fever, symptom_new_bone_pain, symptom_chest_pain, symptom_dyspnoea: any day true;
- fatigue_mean, pain_mean: mean 0-10 scores over the last 7 days;
- red_flags: each red-flag symptom with the first day it was reported ("fever on
  2026-01-09; chest pain on 2026-01-10"), for the stop message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from precex.adaptation.followup import red_flag_symptoms, red_flag_terms, symptoms_of_kind
from precex.config import load_yaml, plausible_range
from precex.io.dates import iso_days
from precex.io.tokens import FALSE_WORDS, NUMERIC_MISSING, TRUE_WORDS, parse_bools
from precex.paths import resource_path, threshold
from precex.prescription.model import EMPTY, Prescription
from precex.problems import InputError, Problem
from precex.rule_features import adaptation_features as _feature_names
from precex.wearables.features import hrv_readiness
from precex.wearables.wear import worn_days

# The coded symptoms a follow-up symptom table may carry (resources/adaptation/symptoms.tsv).
SYMPTOM_FLAGS = symptoms_of_kind("flag")
RED_FLAGS = red_flag_symptoms()
FEVER_C = threshold("fever_c")  # as the baseline reads temperature_c (resources/clinical)
# The follow-up wearable columns read as numbers (and validated), and the wear flag.
NUMBER_COLUMNS = ("mvpa_min", "light_min", "resting_hr", "hrv_rmssd_ms", "steps", "wear_min",
                  "logged_sessions", "logged_exercise_min")
ADHERENCE = load_yaml(resource_path("adaptation", "adherence.yaml"))
SYMPTOM_SCORES = symptoms_of_kind("score")
FEATURE_NAMES = _feature_names()
TEMPERATURE_C = plausible_range("temperature_c")  # plausible once F is converted
_TRUE = TRUE_WORDS
_FALSE = FALSE_WORDS | {""}  # a blank symptom flag: not reported


def issue_date(prescription: Prescription) -> dt.date:
    """The day the prescription's data ends: its reference date, or the last adapted day."""
    adapted = prescription.get("adaptation") or EMPTY
    return dt.date.fromisoformat(adapted.get("data_through",
                                             prescription["engine"]["reference_date"]))


def prescribed_week(prescription: Prescription) -> dict[str, Any]:
    """The aerobic dose the patient was asked to do in the week being scored: this_week's
    (week 1 of the progression when issued, the adapted week after an adaptation), else the
    aerobic component itself."""
    week = ((prescription.get("this_week") or EMPTY).get("aerobic")
            or prescription.get("aerobic") or EMPTY)
    return {k: week[k] for k in ("sessions_per_week", "minutes_per_session", "intensity")
            if k in week}


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
    day = iso_days(df["date"])
    for r in df[day.isna()].itertuples():
        # Naming the patient excludes them: a lost day would change their adherence.
        problems.append(Problem(source, f"date '{r.date}' is not a date precex reads.",
                                "write dates as YYYY-MM-DD (month- or day-first dates are "
                                "read when the config's date_format says which).",
                                row=int(r.row), column="date",
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


def _parse_flags(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(true, not a true/false word) per cell of a symptom flag column."""
    truth = parse_bools(series, _TRUE, _FALSE)
    return truth.fillna(False).to_numpy(dtype=bool), truth.isna().to_numpy()


def _flag_problem(raw: Any, source: str, column: str, row: int) -> Problem:
    return Problem(source, f"'{raw}' is not true/false.", "use true or false.", row=row,
                   column=column, stage="adaptation")


MISSING_TEXT = sorted(NUMERIC_MISSING - {"NULL", "null", "."})


def _parse_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """(stripped text, numbers with blanks as NaN, text that is neither) per cell."""
    text = series.astype(object).fillna("").astype(str).str.strip()
    missing = text.isin(MISSING_TEXT)
    values = pd.to_numeric(text.mask(missing), errors="coerce")
    return text, values, (values.isna() & ~missing).to_numpy()


def _number_problem(text: str, source: str, column: str, row: int) -> Problem:
    return Problem(source, f"{column} '{text}' is not a number.",
                   "give a number, or leave the cell empty if not measured.", row=row,
                   column=column, stage="adaptation")


def shard_hrv_readiness(wearables: pd.DataFrame) -> dict[str, str]:
    """hrv_readiness of every patient in a validated follow-up table, in one call: each
    patient's "today" is their last follow-up day, as adaptation_features takes it."""
    if wearables.empty or "hrv_rmssd_ms" not in wearables:
        return {}
    daily = pd.DataFrame({"patient_id": wearables["patient_id"],
                          "day": pd.to_datetime(wearables["day"]),
                          "hrv_rmssd_ms": _parse_numbers(wearables["hrv_rmssd_ms"])[1]})
    last = wearables.groupby("patient_id")["day"].max().to_dict()
    ready = hrv_readiness(daily, last)
    return ready["hrv_readiness"].to_dict()


def adaptation_features(prescription: Prescription, wearables: pd.DataFrame,
                        symptoms: pd.DataFrame | None = None, symptoms_source: str = "",
                        wearables_source: str = "",
                        readiness: dict[str, str] | None = None) -> dict[str, Any]:
    """The adaptation features of one patient from validated tables (validate_days); the
    shard's computation (shard_adaptation_features) for a shard of one. `readiness` is
    shard_hrv_readiness of the whole shard (computed here when absent)."""
    pid = prescription["patient_id"]
    features, failed = shard_adaptation_features(
        {pid: prescription}, wearables, symptoms, symptoms_source, wearables_source, readiness)
    if pid in failed:
        raise InputError(failed[pid])
    return features[pid]


def _positions(ids: pd.Series) -> dict[str, np.ndarray]:
    """Row positions of each patient in table order, from one stable sort (not a filter per
    patient, which would cost patients x rows)."""
    if ids.empty:
        return {}
    found, names = pd.factorize(ids, sort=False)
    codes = np.asarray(found, dtype=np.int64)
    order: np.ndarray = codes.argsort(kind="stable")
    bounds = np.asarray(np.searchsorted(codes[order], np.arange(len(names) + 1)))
    return {str(name): order[bounds[i]:bounds[i + 1]] for i, name in enumerate(names)}


def _day_numbers(days: pd.Series) -> np.ndarray:
    return pd.to_datetime(days).to_numpy().astype("datetime64[D]").astype(np.int64)


def _date_number(day: dt.date) -> int:
    return int(np.datetime64(day, "D").astype(np.int64))


def _sum_filled(values: np.ndarray) -> float:
    """Series.sum / fillna(0).sum as pandas computes it: NaN as 0 in place, numpy's
    pairwise sum in table order (so the result is the same bits as the per-patient path)."""
    return float(np.where(np.isnan(values), 0.0, values).sum())


def shard_adaptation_features(prescriptions: dict[str, Prescription],
                              wearables: pd.DataFrame, symptoms: pd.DataFrame | None = None,
                              symptoms_source: str = "", wearables_source: str = "",
                              readiness: dict[str, str] | None = None
                              ) -> tuple[dict[str, dict[str, Any]], dict[str, list[Problem]]]:
    """adaptation_features of every patient of a shard ({patient: prescription}) in one pass
    over validated tables: text is parsed once for the whole table, each patient's rows are
    numpy slices. Returns ({patient: features}, {patient: problems}); a patient with a
    problem (the first one adaptation_features would raise) has no features."""
    if readiness is None:
        readiness = shard_hrv_readiness(wearables)
    wear_at = _positions(wearables["patient_id"])
    # Data rows numbered from 1 as the reader numbers them (its own column when it kept one).
    wear_rows: np.ndarray = (wearables["row"].to_numpy() if "row" in wearables
                             else np.arange(1, len(wearables) + 1))
    days = _day_numbers(wearables["day"]) if len(wearables) else np.zeros(0, np.int64)
    numbers: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}
    for col in NUMBER_COLUMNS:
        if col in wearables:
            text, values, bad = _parse_numbers(wearables[col])
            numbers[col] = (text.to_numpy(), values.to_numpy(dtype=float), bad)
        else:
            numbers[col] = (None, np.full(len(wearables), np.nan), np.zeros(len(wearables), bool))
    worn, bad_worn = (_parse_flags(wearables["worn"]) if "worn" in wearables
                      else (None, np.zeros(len(wearables), bool)))
    sym_at: dict[str, np.ndarray] = {}
    flags: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    scores: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if symptoms is not None:
        sym_at = _positions(symptoms["patient_id"])
        sym_rows = symptoms["row"].to_numpy()
        sym_days = _day_numbers(symptoms["day"]) if len(symptoms) else np.zeros(0, np.int64)
        flags = {f: _parse_flags(symptoms[f]) for f in SYMPTOM_FLAGS if f in symptoms}
        for score in SYMPTOM_SCORES:
            if score in symptoms:
                text, values, bad = _parse_numbers(symptoms[score])
                scores[score] = (text.to_numpy(), values.to_numpy(dtype=float), bad)
        temperature = (_temperatures(symptoms["temperature_c"]) if "temperature_c" in symptoms
                       else None)
        comments = (symptoms["comments"].astype("string").fillna("").astype(str).str.strip()
                    .to_numpy() if "comments" in symptoms else None)
    empty: np.ndarray = np.zeros(0, dtype=np.int64)
    out: dict[str, dict[str, Any]] = {}
    failed: dict[str, list[Problem]] = {}
    for pid, prescription in prescriptions.items():
        mine = wear_at.get(pid, empty)
        problem = None
        for col in NUMBER_COLUMNS:
            text, _, bad = numbers[col]
            hits = np.flatnonzero(bad[mine])
            if len(hits):
                at = mine[hits[0]]
                problem = _number_problem(text[at], wearables_source, col, int(wear_rows[at]))
                break
        hits = np.flatnonzero(bad_worn[mine])
        if problem is None and len(hits):
            at = mine[hits[0]]
            problem = _flag_problem(wearables["worn"].iloc[at], wearables_source, "worn",
                                    int(wear_rows[at]))
        if problem is None and symptoms is not None:
            problem = _symptom_problem(sym_at.get(pid, empty), symptoms, sym_rows, flags,
                                       scores, symptoms_source, temperature)
        if problem is not None:
            failed[pid] = [problem]
            continue
        features = dict.fromkeys(FEATURE_NAMES)
        values = {c: v[1][mine] for c, v in numbers.items() if v[0] is not None}
        if worn is not None:
            values["worn"] = np.where(bad_worn[mine], np.nan, worn[mine].astype(float))
        _wearable_features(features, prescription, days[mine], values, readiness.get(pid))
        if symptoms is not None:
            theirs = sym_at.get(pid, empty)
            their_days = sym_days[theirs]
            _symptom_features(features, their_days, {f: t[theirs] for f, (t, _) in flags.items()},
                              None if temperature is None else temperature[0][theirs],
                              None if comments is None else comments[theirs])
            recent = their_days > their_days.max() - 7 if len(theirs) else np.zeros(0, bool)
            for score, (_, values, _) in scores.items():
                last_week = values[theirs][recent]
                count = int((~np.isnan(last_week)).sum())
                features[f"{score}_mean"] = (round(_sum_filled(last_week) / count, 2)
                                             if count else None)
        out[pid] = features
    return out, failed


def _temperatures(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(degrees C, text, not a number) per cell: a value above 45 is read as F."""
    from precex.blood.units import celsius

    text, values, bad = _parse_numbers(series)
    return celsius(values.to_numpy(dtype=float)), text.to_numpy(), bad


def _day_text(day: int) -> str:
    return str(np.datetime64(int(day), "D").astype(str))


def _symptom_features(out: dict[str, Any], days: np.ndarray, flags: dict[str, np.ndarray],
                      temperature: np.ndarray | None, comments: np.ndarray | None) -> None:
    """symptom_<name> for every coded symptom given, the week's highest temperature, the
    comments (for the reviewer) and red_flags: each red flag with its first day and how it
    was reported (a flag column, a temperature, a comment)."""
    hits = {name: (truth, "") for name, truth in flags.items()}
    if temperature is not None:
        with np.errstate(invalid="ignore"):
            fever = temperature >= FEVER_C
        known = ~np.isnan(temperature)
        out["temperature_max_c"] = round(float(temperature[known].max()), 1) if known.any() \
            else None
        if fever.any():
            before = hits.get("fever", (np.zeros(len(days), bool), ""))[0]
            hits["fever"] = (before | fever, f" ({out['temperature_max_c']:g} C)")
    if comments is not None:
        shown = [f"{_day_text(d)}: {c}" for d, c in zip(days, comments, strict=True) if c]
        out["comments"] = " | ".join(shown) or None
        for i, text in enumerate(comments):
            for name in red_flag_terms(text) if text else []:
                truth = hits.get(name, (np.zeros(len(days), bool), ""))[0].copy()
                if not truth[i]:
                    truth[i] = True
                    hits[name] = (truth, " (in a comment)")
    named = []
    for name, (truth, how) in hits.items():
        out[f"symptom_{name}"] = bool(truth.any())
        if truth.any() and name in RED_FLAGS:
            named.append((int(days[truth].min()), f"{name.replace('_', ' ')}{how} on "
                          f"{_day_text(int(days[truth].min()))}"))
    out["red_flags"] = "; ".join(text for _, text in sorted(named)) or None


def _symptom_problem(mine: np.ndarray, symptoms: pd.DataFrame, rows: np.ndarray,
                     flags: dict[str, tuple[np.ndarray, np.ndarray]],
                     scores: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                     source: str,
                     temperature: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                     ) -> Problem | None:
    """The first problem of one patient's symptom rows, in adaptation_features' order."""
    for flag, (_, bad) in flags.items():
        hits = np.flatnonzero(bad[mine])
        if len(hits):
            at = mine[hits[0]]
            return _flag_problem(symptoms[flag].iloc[at], source, flag, int(rows[at]))
    for score, (text, values, bad) in scores.items():
        hits = np.flatnonzero(bad[mine])
        if len(hits):
            at = mine[hits[0]]
            return _number_problem(text[at], source, score, int(rows[at]))
        with np.errstate(invalid="ignore"):
            out_of_range = np.flatnonzero((values[mine] < 0) | (values[mine] > 10))
        if len(out_of_range):
            at = mine[out_of_range[0]]
            return Problem(source, f"{score} {symptoms[score].iloc[at]} is outside 0-10.",
                           "give a 0-10 score.", row=int(rows[at]), column=score,
                           stage="adaptation")
    if temperature is not None:
        celsius, text, bad = temperature
        hits = np.flatnonzero(bad[mine])
        if len(hits):
            at = mine[hits[0]]
            return _number_problem(text[at], source, "temperature_c", int(rows[at]))
        with np.errstate(invalid="ignore"):
            odd = np.flatnonzero((celsius[mine] < TEMPERATURE_C[0])
                                 | (celsius[mine] > TEMPERATURE_C[1]))
        if len(odd):
            at = mine[odd[0]]
            return Problem(source, f"temperature {text[at]} is not a body temperature (read "
                           f"as {celsius[at]:.1f} C).", "give degrees C (or F).",
                           row=int(rows[at]), column="temperature_c", stage="adaptation")
    return None


def _device_baseline(prescription: Prescription, rest: np.ndarray
                     ) -> tuple[float | None, str | None]:
    """The device's own resting-HR baseline and where it came from (never the clinic pulse)."""
    picture = prescription.get("picture") or EMPTY
    mean = picture.get("resting_hr_mean_bpm")
    if isinstance(mean, int | float) and not np.isnan(mean):
        return round(float(mean), 1), "device: 28-day mean before the prescription"
    earlier = ((prescription.get("adaptation") or EMPTY).get("features") or EMPTY)
    if isinstance(earlier.get("resting_hr_baseline_bpm"), int | float):
        return (float(earlier["resting_hr_baseline_bpm"]),
                str(earlier.get("resting_hr_baseline_source") or "device: an earlier week"))
    first = rest[:7]
    first = first[~np.isnan(first)]
    if len(first):
        return round(float(np.median(first)), 1), "device: median of the first follow-up week"
    return None, None


def _wearable_features(out: dict[str, Any], prescription: Prescription, days: np.ndarray,
                       values: dict[str, np.ndarray], readiness: str | None) -> None:
    """The wearable features of one patient from their rows (day numbers, parsed columns)."""
    week = prescribed_week(prescription)
    n_days = len(np.unique(days))
    out["followup_days"] = n_days
    if not n_days:
        return
    issued = _date_number(issue_date(prescription))
    order = np.argsort(days, kind="stable")
    days = days[order]
    values = {k: v[order] for k, v in values.items()}
    valid = worn_days(values, len(days))
    last = days.max()
    recent_valid = len(np.unique(days[valid & (days > last - 7)]))
    out["valid_days"] = recent_valid
    too_little = recent_valid < ADHERENCE["too_little_data"]["min_valid_days"]
    out["too_little_data"] = bool(too_little)
    session_len = week.get("minutes_per_session", 0) or 0
    minutes, source = _exercise_minutes(values, week.get("intensity"), session_len)
    span_weeks = max(1.0, (last - issued) / 7)  # the weeks the data cover, worn or not
    if minutes is not None:
        minutes = np.where(valid, minutes, 0.0)
        session_days = valid & (minutes >= max(session_len, 1))
        if "logged_sessions" in values:
            session_days |= valid & (np.nan_to_num(values["logged_sessions"]) >= 1)
        out["sessions_completed_per_week"] = round(float(session_days.sum()) / span_weeks, 2)
        weeks_with = set(((days[session_days] - issued - 1) // 7).tolist())
        complete = int(last - issued) // 7  # whole weeks since the prescription
        out["weeks_missed"] = sum(1 for w in range(complete) if w not in weeks_with)
        weekly = week.get("sessions_per_week", 0) * session_len
        if weekly and not too_little:
            share = round(100 * _sum_filled(minutes) / span_weeks / weekly, 1)
            out["aerobic_minutes_pct_of_prescribed"] = share
            out["aerobic_adherence_pct"] = min(100.0, share)
            out["adherence_source"] = source
    if "adherence_source" not in out or out["adherence_source"] is None:
        out["adherence_source"] = (
            "unknown: too few valid days" if too_little else
            "unknown: no exercise minutes or session log recorded" if minutes is None else None)
    out["hrv_readiness"] = readiness
    rest = values.get("resting_hr", np.full(len(days), np.nan))
    base, base_source = _device_baseline(prescription, rest)
    out["resting_hr_baseline_bpm"] = base
    out["resting_hr_baseline_source"] = base_source
    rise = ADHERENCE["resting_hr_baseline"]
    days_of_rise = int(rise["days"])
    recent = rest[-days_of_rise:]
    with np.errstate(invalid="ignore"):
        out["resting_hr_rise_3d"] = bool(
            base is not None and len(recent) == days_of_rise and not np.isnan(recent).any()
            and (recent > base + rise["rise_bpm"]).all())


def _exercise_minutes(values: dict[str, np.ndarray], intensity: str | None, session_len: int
                      ) -> tuple[np.ndarray | None, str | None]:
    """Each day's minutes of exercise at or above the week's intensity, and what measured
    them; None when nothing does. Light-activity minutes never count (everyday movement); a
    light week counts its session log, else the device's MVPA minutes (above a light
    intensity, so at or above the week's: the documented surrogate)."""
    logged = values.get("logged_exercise_min")
    if logged is None and "logged_sessions" in values:
        logged = values["logged_sessions"] * session_len
    has_log = logged is not None and bool((~np.isnan(logged)).any())
    mvpa = values.get("mvpa_min")
    has_mvpa = mvpa is not None and bool((~np.isnan(mvpa)).any())
    if intensity == "light" and has_log:
        return np.nan_to_num(logged), "session log"
    if has_mvpa and has_log:
        return np.fmax(np.nan_to_num(mvpa), np.nan_to_num(logged)), \
            "device MVPA minutes or the session log, whichever is more"
    if has_mvpa:
        return np.nan_to_num(mvpa), ("device MVPA minutes (above a light week's intensity)"
                                     if intensity == "light" else "device MVPA minutes")
    if has_log:
        return np.nan_to_num(logged), "session log"
    return None, None
