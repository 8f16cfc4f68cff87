"""Garmin exports mapped to precex's daily table: Garmin Health API summaries (as research
platforms export them: CSV such as `GarminDailySummary*.csv` and `GarminSleepSummary*.csv`, or
the API's JSON lists) and `.FIT` files read with Garmin's own FIT SDK (garmin-fit-sdk).

- **Daily summaries** (one row per user and calendar day; a day re-synced later appears again
  with a longer `DurationInSeconds`, and the longest is used): steps, MVPA = moderate +
  vigorous intensity seconds / 60, resting heart rate. A day whose monitoring period is shorter
  than a day (`DurationInSeconds` under the partial-day limit in
  resources/wearables/wear_time.yaml: the sync cut it off) is not a valid day.
- **Sleep summaries**: one record per night is used, of the best validation (Garmin keeps a
  record per validation level of the same night; MANUAL and OFF_WRIST records are not measured
  sleep and are left out, named); asleep = deep + light + REM seconds, on the calendar date
  Garmin shows it. Periods are merged as sleep (precex.wearables.sleep).
- **FIT monitoring files** (the device's all-day files): daily steps are the largest
  cumulative step count of each activity type that day, summed over types; MVPA the day's
  moderate + vigorous activity minutes (cumulative, the largest of the day); resting HR the
  `monitoring_hr_data` current-day value; every minute with a heart-rate sample is a minute
  worn (`wear_min`, precex.wearables.wear). Local days use the file's own local-time offset
  (`monitoring_info`), else the ID map's time zone. Compressed timestamps (`timestamp_16`) are
  expanded as the FIT protocol defines.
- **FIT activity files** (a recorded workout): the session's timer time counts as MVPA on the
  day it started, on days without monitoring intensity minutes (UNCONFIRMED convention: a
  recorded workout is taken as at least moderate).
- **FIT sleep files**: `sleep_level` messages as intervals (light, deep and REM are asleep),
  on the local day the sleep ends.

The user is the file's `ParticipantIdentifier` (CSV), `userId` (JSON) or the FIT file's name
before its first `_` or `.` (or its folder's name), mapped to a patient by `wearables_id_map`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from precex.problems import InputError, Problem
from precex.wearables.daily import DailyExport, IdMap, frame_of
from precex.wearables.sleep import SLEEP_BLOCK_TEXT, SleepSpan, nightly_sleep
from precex.wearables.wear import WEAR_TIME

FIT_SIGNATURE = b".FIT"
# Garmin's sleep validation levels, most trusted last (Garmin Health API; Fitabase and Labfront
# describe the same order). MANUAL and OFF_WRIST carry no measured sleep levels.
SLEEP_VALIDATION = ("AUTO_MANUAL", "DEVICE", "AUTO_TENTATIVE", "ENHANCED_TENTATIVE",
                    "AUTO_FINAL", "ENHANCED_FINAL")
NOT_MEASURED = ("MANUAL", "OFF_WRIST")
ASLEEP_LEVELS = {"light", "deep", "rem"}
PARTIAL_DAY_S = float(WEAR_TIME["garmin_partial_day_seconds"])


def is_garmin_summary(head: str) -> bool:
    """A Garmin Health API summary export, from the start of the file."""
    text = head.lower()
    return ("calendardate" in text and ("moderateintensitydurationinseconds" in text
                                        or "deepsleepdurationinseconds" in text))


def is_fit(path: str) -> bool:
    p = Path(path)
    if p.is_dir():
        return any(f.suffix.lower() == ".fit" for f in p.iterdir())
    with open(path, "rb") as handle:
        head = handle.read(12)
    return len(head) == 12 and head[8:12] == FIT_SIGNATURE


def _records(path: str) -> list[dict[str, str]]:
    """The summaries as rows with lower-case keys (CSV headers are capitalised, the API's
    JSON camelCase)."""
    with open(path, encoding="utf-8-sig") as handle:
        text = handle.read()
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError([Problem(path, f"is not readable JSON ({err.msg}, line "
                                      f"{err.lineno}).", "export the summaries again.",
                                      stage="wearables")]) from None
        return [{str(k).lower(): "" if v is None else str(v) for k, v in item.items()}
                for item in items if isinstance(item, dict)]
    reader = csv.DictReader(text.splitlines())
    return [{str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k}
            for row in reader]


def _number(row: dict[str, str], key: str) -> float | None:
    try:
        return float(row[key])
    except (KeyError, ValueError):
        return None


def _user(row: dict[str, str], path: str) -> str:
    return (row.get("participantidentifier") or row.get("userid") or row.get("participantid")
            or Path(path).stem.split("_")[0])


def read_garmin_summaries(path: str, ids: IdMap) -> DailyExport:
    """Daily or sleep summaries of the Garmin Health API (CSV or JSON), as daily rows."""
    records = _records(path)
    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    sources: dict[str, dict[str, str]] = defaultdict(dict)
    skipped: dict[str, int] = defaultdict(int)
    name = os.path.basename(path)
    if records and "deepsleepdurationinseconds" in records[0]:
        best: dict[tuple[str, str], tuple[int, dict[str, str]]] = {}
        for row in records:
            validation = row.get("validation", "").upper()
            if validation in NOT_MEASURED:
                skipped[f"validation {validation} (no measured sleep)"] += 1
                continue
            rank = SLEEP_VALIDATION.index(validation) if validation in SLEEP_VALIDATION else -1
            key = (ids.patient(_user(row, path)), row.get("calendardate", ""))
            if key[1] and rank >= best.get(key, (-2, {}))[0]:
                best[key] = (rank, row)
        spans = []
        for (pid, night), (_, row) in sorted(best.items()):
            asleep = sum(_number(row, k) or 0.0 for k in (
                "deepsleepdurationinseconds", "lightsleepdurationinseconds",
                "remsleepinseconds"))
            start = _number(row, "starttimeinseconds") or 0.0
            window = asleep + sum(_number(row, k) or 0.0 for k in (
                "awakedurationinseconds", "unmeasurablesleepinseconds"))
            spans.append(SleepSpan(pid, night, "Garmin", start, start + window, asleep))
            sources[pid]["sleep_h"] = f"Garmin sleep summaries ({name})"
        nights, blocks = nightly_sleep(spans)
        for key, (hours, _) in nights.items():
            rows[key]["sleep_h"] = round(hours, 4)
        if blocks:
            skipped[SLEEP_BLOCK_TEXT.format(kind="a sleep record")] += blocks
    else:
        longest: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        for row in records:
            key = (ids.patient(_user(row, path)), row.get("calendardate", ""))
            duration = _number(row, "durationinseconds") or 0.0
            if key[1] and duration >= longest.get(key, (-1.0, {}))[0]:
                longest[key] = (duration, row)  # a day synced again: the fuller summary
        for key, (duration, row) in sorted(longest.items()):
            day = rows[key]
            steps = _number(row, "steps")
            if steps is not None:
                day["steps"] = steps
            moderate = _number(row, "moderateintensitydurationinseconds")
            vigorous = _number(row, "vigorousintensitydurationinseconds")
            if moderate is not None or vigorous is not None:
                day["mvpa_min"] = round(((moderate or 0.0) + (vigorous or 0.0)) / 60, 4)
            resting = _number(row, "restingheartrateinbeatsperminute")
            if resting:
                day["resting_hr"] = resting
            if duration < PARTIAL_DAY_S:
                day["worn"] = 0.0
                skipped[f"a monitoring period under {PARTIAL_DAY_S / 3600:g} h (a partial day, "
                        "not counted)"] += 1
            sources[key[0]].update(dict.fromkeys(
                [m for m in ("steps", "mvpa_min", "resting_hr") if m in day],
                f"Garmin daily summaries ({name})"))
    problems = [Problem(path, f"{n} Garmin summaries with {why} are not used.",
                        "", stage="wearables", excludes=False)
                for why, n in sorted(skipped.items())]
    return DailyExport(frame_of(rows), dict(sources), problems)


def _fit_files(path: str) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.suffix.lower() == ".fit")
    return [p]


def _fit_messages(file: Path) -> dict[str, list[dict[str, Any]]]:
    from garmin_fit_sdk import Decoder, Stream

    stream = Stream.from_file(str(file))
    decoder = Decoder(stream)
    if not decoder.is_fit():
        raise InputError([Problem(str(file), "is not a FIT file.", "give the device's .FIT "
                                  "files (GARMIN/Monitor, GARMIN/Activity, GARMIN/Sleep).",
                                  stage="wearables")])
    messages, errors = decoder.read(convert_datetimes_to_dates=False,
                                    convert_types_to_strings=True)
    if errors:
        raise InputError([Problem(str(file), f"is not a readable FIT file ({errors[0]}).",
                                  "copy the file from the device again.",
                                  stage="wearables")])
    return messages


def _timestamps(messages: list[dict[str, Any]], last: int | None) -> list[int | None]:
    """Each message's FIT timestamp (seconds since the FIT epoch): its own, or its 16-bit
    `timestamp_16` rolled on from the last full one (FIT protocol, compressed timestamps)."""
    out: list[int | None] = []
    for message in messages:
        if message.get("timestamp") is not None:
            last = int(message["timestamp"])
        elif message.get("timestamp_16") is not None and last is not None:
            last = last + ((int(message["timestamp_16"]) - last) & 0xFFFF)
        else:
            out.append(None)
            continue
        out.append(last)
    return out


def _local_day(fit_seconds: int, offset: int | None, zone: Any) -> dt.datetime:
    from garmin_fit_sdk import FIT_EPOCH_S

    utc = dt.datetime.fromtimestamp(fit_seconds + FIT_EPOCH_S, dt.UTC)
    if offset is not None:
        return (utc + dt.timedelta(seconds=offset)).replace(tzinfo=None)
    return utc.astimezone(zone).replace(tzinfo=None)


def read_garmin_fit(path: str, ids: IdMap) -> DailyExport:
    """Monitoring, activity and sleep FIT files (one file, or a folder of them)."""
    from garmin_fit_sdk import FIT_EPOCH_S

    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    sources: dict[str, dict[str, str]] = defaultdict(dict)
    steps: dict[tuple[str, str, str], float] = defaultdict(float)  # pid, day, activity type
    intensity: dict[tuple[str, str], float] = defaultdict(float)
    workouts: dict[tuple[str, str], float] = defaultdict(float)
    worn_minutes: dict[tuple[str, str], set[str]] = defaultdict(set)
    sleep: list[SleepSpan] = []
    files = _fit_files(path)
    if not files:
        raise InputError([Problem(path, "holds no .FIT file.", "give the device's FIT files "
                                  "or their folder.", stage="wearables")])
    for file in files:
        owner = file.stem.split("_")[0].split(".")[0] if not Path(path).is_dir() \
            else Path(path).name
        pid = ids.patient(owner)
        zone = ids.zone(pid)
        messages = _fit_messages(file)
        info = messages.get("monitoring_info_mesgs") or []
        offset = (int(info[0]["local_timestamp"]) - int(info[0]["timestamp"])
                  if info and info[0].get("local_timestamp") is not None
                  and info[0].get("timestamp") is not None else None)
        monitoring = messages.get("monitoring_mesgs") or []
        for message, stamp in zip(monitoring, _timestamps(monitoring, None), strict=True):
            if stamp is None:
                continue
            local = _local_day(stamp, offset, zone)
            day = local.date().isoformat()
            if message.get("steps") is not None:
                kind = str(message.get("activity_type", ""))
                steps[(pid, day, kind)] = max(steps[(pid, day, kind)], float(message["steps"]))
            minutes = sum(float(message.get(k) or 0) for k in (
                "moderate_activity_minutes", "vigorous_activity_minutes"))
            if minutes:
                intensity[(pid, day)] = max(intensity[(pid, day)], minutes)
            if message.get("heart_rate"):
                worn_minutes[(pid, day)].add(local.strftime("%H:%M"))
        for message in messages.get("monitoring_hr_data_mesgs") or []:
            resting = message.get("current_day_resting_heart_rate") or \
                message.get("resting_heart_rate")
            if resting and message.get("timestamp") is not None:
                day = _local_day(int(message["timestamp"]), offset, zone).date().isoformat()
                rows[(pid, day)]["resting_hr"] = float(resting)
                sources[pid]["resting_hr"] = "Garmin FIT monitoring (current-day resting HR)"
        for session in messages.get("session_mesgs") or []:
            if session.get("start_time") is None or not session.get("total_timer_time"):
                continue
            day = _local_day(int(session["start_time"]), offset, zone).date().isoformat()
            workouts[(pid, day)] += float(session["total_timer_time"]) / 60
        levels = [(stamp, str(m.get("sleep_level", "")))
                  for m, stamp in zip(messages.get("sleep_level_mesgs") or [],
                                      _timestamps(messages.get("sleep_level_mesgs") or [], None),
                                      strict=True) if stamp is not None]
        for (start, level), (end, _) in zip(levels, levels[1:], strict=False):
            if level in ASLEEP_LEVELS and end > start:
                night = _local_day(levels[-1][0], offset, zone).date().isoformat()
                sleep.append(SleepSpan(pid, night, f"Garmin FIT {file.name}",
                                       start + FIT_EPOCH_S, end + FIT_EPOCH_S))
    for (pid, day, _), count in steps.items():
        rows[(pid, day)]["steps"] = rows[(pid, day)].get("steps", 0.0) + count
        sources[pid]["steps"] = "Garmin FIT monitoring (daily cumulative steps)"
    for (pid, day), minutes in intensity.items():
        rows[(pid, day)]["mvpa_min"] = minutes
        sources[pid]["mvpa_min"] = "Garmin FIT monitoring (moderate + vigorous minutes)"
    for (pid, day), minutes in workouts.items():
        if (pid, day) not in intensity:
            rows[(pid, day)]["mvpa_min"] = round(minutes, 4)
            sources[pid].setdefault("mvpa_min", "Garmin FIT activities (workout timer time)")
    for (pid, day), minutes_worn in worn_minutes.items():
        rows[(pid, day)]["wear_min"] = float(len(minutes_worn))
        sources[pid]["wear_min"] = "Garmin FIT monitoring (minutes with a heart rate)"
    nights, _ = nightly_sleep(sleep)
    for key, (hours, _) in nights.items():
        rows[key]["sleep_h"] = round(hours, 4)
        sources[key[0]]["sleep_h"] = "Garmin FIT sleep levels (light, deep, REM)"
    return DailyExport(frame_of(rows), dict(sources), [])
