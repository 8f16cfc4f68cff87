"""Wearable exports as devices and platforms write them, mapped to precex's daily table.

Every reader returns one row per patient and local day with the metrics it has (steps,
mvpa_min, light_min, resting_hr, hrv_rmssd_ms, hrv_sdnn_ms, sleep_h) and, per patient, which
metric came from which export (`DailyExport.sources`), so the profile can say so.

- **Fitbit via Fitabase** (`dailyActivity_merged.csv`, `heartrate_seconds_merged.csv`,
  `sleepDay_merged.csv`; a folder or the files): `Id` is the Fitbit user, mapped to a patient by
  `wearables_id_map`; dates are the device's local days (M/D/YYYY, 12-hour clock). MVPA is
  VeryActiveMinutes + FairlyActiveMinutes, light_min LightlyActiveMinutes, sleep
  TotalMinutesAsleep / 60; resting HR, which the merged files do not hold, is estimated as the
  day's lowest 5-minute mean of the heart-rate seconds (named so in the sources).
- **Apple Health** `export.xml` (Health app > Export All Health Data): streamed with
  iterparse (a 1 GB export is never held in memory), records only of the types used:
  HKQuantityTypeIdentifierStepCount, AppleExerciseTime (MVPA), RestingHeartRate,
  HeartRateVariabilitySDNN (SDNN, kept apart from RMSSD: they are different statistics),
  HKCategoryTypeIdentifierSleepAnalysis (asleep stages, on the day the night ends). Each
  record's own UTC offset puts it on the patient's local day (time zone from the ID map, else
  `wearables_time_zone`). Steps counted by both the phone and the watch are not added: per day
  the larger source total is used.
- **Oura** trends CSV (`date`, `Steps`, `Total Sleep Duration` in seconds, `Lowest Resting
  Heart Rate`, `Average HRV` = RMSSD, activity times in seconds).
- **FHIR R4 Observations** (a Bundle or bulk NDJSON): LOINC 55423-8 steps, 40443-4 resting heart
  rate, 80404-7 heart-rate variability (SDNN), 93832-4 sleep duration; UCUM units; status final,
  amended or corrected only; the subject reference names the patient (through the ID map when
  given).
- **Garmin**: Health API daily and sleep summaries (CSV or JSON) and `.FIT` files (monitoring,
  activity, sleep), read by precex.wearables.garmin with Garmin's FIT SDK.
- Anything else is the daily table (precex.wearables.stage.read_wearables), whose column
  aliases cover other summary CSVs.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from precex.io.fhir import fhir_resources, subject_id
from precex.problems import InputError, Problem
from precex.wearables.daily import DailyExport, IdMap, frame_of
from precex.wearables.garmin import (
    is_fit,
    is_garmin_summary,
    read_garmin_fit,
    read_garmin_summaries,
)
from precex.wearables.sleep import SLEEP_BLOCK_TEXT, SleepSpan, nightly_sleep
from precex.wearables.wear import WEAR_TIME

FITABASE_FILES = {"dailyActivity_merged.csv": "activity",
                  "heartrate_seconds_merged.csv": "heart_rate",
                  "sleepDay_merged.csv": "sleep"}
APPLE_TYPES = {
    "HKQuantityTypeIdentifierStepCount": "steps",
    "HKQuantityTypeIdentifierAppleExerciseTime": "mvpa_min",
    "HKQuantityTypeIdentifierRestingHeartRate": "resting_hr",
    "HKQuantityTypeIdentifierHeartRateVariabilitySDNN": "hrv_sdnn_ms",
    "HKCategoryTypeIdentifierSleepAnalysis": "sleep_h",
}
APPLE_ASLEEP = {"HKCategoryValueSleepAnalysisAsleep", "HKCategoryValueSleepAnalysisAsleepCore",
                "HKCategoryValueSleepAnalysisAsleepDeep", "HKCategoryValueSleepAnalysisAsleepREM",
                "HKCategoryValueSleepAnalysisAsleepUnspecified"}
APPLE_UNITS = {"steps": {"count"}, "mvpa_min": {"min"}, "resting_hr": {"count/min"},
               "hrv_sdnn_ms": {"ms"}}
LOINC_METRICS = {"55423-8": "steps", "41950-7": "steps", "40443-4": "resting_hr",
                 "80404-7": "hrv_sdnn_ms", "93832-4": "sleep_h",
                 "8867-4": "heart_rate"}  # heart-rate samples: the device's wear signal
# Each metric's unit: measured ones convert through precex.blood.units (the one unit mechanism:
# '/min', '{beats}/min', 'ms', 's', 'h', 'min' or any UCUM code of the kind); steps are a count,
# written as one of these spellings (UCUM annotations are not units pint reads).
FHIR_UNITS = {"resting_hr": "1/min", "heart_rate": "1/min", "hrv_sdnn_ms": "ms",
              "sleep_h": "hour"}
STEP_UNITS = {"/d", "{steps}/d", "{steps}", "steps/day", "1", "{count}", "{steps}/(24.h)"}
FHIR_USABLE = {"final", "amended", "corrected"}
# Oura trends: "Total Sleep Duration" in current exports, "Total Sleep Time" in 2020 ones.
OURA_COLUMNS = {"Steps": ("steps", 1.0), "Total Sleep Duration": ("sleep_h", 1 / 3600),
                "Total Sleep Time": ("sleep_h", 1 / 3600),
                "Lowest Resting Heart Rate": ("resting_hr", 1.0),
                "Average HRV": ("hrv_rmssd_ms", 1.0)}
OURA_ACTIVE = ("High Activity Time", "Medium Activity Time")  # seconds: MVPA
RESTING_BIN_MIN = 5  # Fitabase resting HR: the day's lowest 5-minute mean
APPLE_SUMMARY_SOURCE = "Activity rings (ActivitySummary)"


def _fhir_value(metric: str, value: Any, unit: str) -> float | None:
    """A FHIR wearable value in the metric's unit, or None (a unit not of its kind)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if metric == "steps":
        return float(value) if unit in STEP_UNITS else None
    factor = _fhir_factor(metric, unit)
    return None if factor is None else float(value) * factor


@functools.cache
def _fhir_factor(metric: str, unit: str) -> float | None:
    """One `unit` in the metric's unit (precex.blood.units.convert; None: not of its kind),
    once per unit and not per Observation (a pint conversion is 25-45 us, and an export has a
    value a day or a sample a minute). The metrics' units have no offset, so a factor is the
    whole conversion."""
    from precex.blood.units import UnitError, convert

    try:
        return float(convert(1.0, unit, FHIR_UNITS[metric]))
    except UnitError:
        return None


def read_id_map(path: str | None, default_zone: str = "UTC") -> IdMap:
    """The wearables ID map (`source_id`, `patient_id`[, `time_zone`]); none: IDs are patients."""
    if not path:
        return IdMap({}, {}, default_zone)
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if not {"source_id", "patient_id"} <= set(frame.columns):
        raise InputError([Problem(path, "the wearables ID map needs columns source_id and "
                                  "patient_id (time_zone optional).",
                                  "add a header row: source_id<TAB>patient_id<TAB>time_zone.",
                                  stage="wearables")])
    zones = {}
    for row in frame.itertuples():
        zone = str(getattr(row, "time_zone", "") or "").strip()
        if zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise InputError([Problem(path, f"time zone '{zone}' is not an IANA zone name.",
                                          "write zones such as Europe/London or "
                                          "America/New_York.", row=int(row.Index) + 1,
                                          column="time_zone", stage="wearables")]) from None
            zones[row.patient_id.strip()] = zone
    return IdMap(dict(zip(frame["source_id"].str.strip(), frame["patient_id"].str.strip(),
                          strict=True)), zones, default_zone)


def detect_export(path: str) -> str:
    """'fitabase', 'apple_health', 'oura', 'fhir', 'garmin' (Health API summaries),
    'garmin_fit' (FIT files) or 'daily' (the daily table)."""
    p = Path(path)
    if p.is_dir():
        if any((p / name).exists() for name in FITABASE_FILES):
            return "fitabase"
        if is_fit(path):
            return "garmin_fit"
        raise InputError([Problem(path, "is a folder without Fitabase or Garmin FIT files.",
                                  "give the folder of dailyActivity_merged.csv (and "
                                  "heartrate_seconds_merged.csv, sleepDay_merged.csv) or of "
                                  "the device's .FIT files, or a file.", stage="wearables")])
    if p.name in FITABASE_FILES:
        return "fitabase"
    if is_fit(path):
        return "garmin_fit"
    with open(path, "rb") as handle:
        head = handle.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    if is_garmin_summary(head):
        return "garmin"
    if head.startswith("<?xml") or head.startswith("<HealthData") or "<!DOCTYPE HealthData" in head:
        return "apple_health"
    if head.startswith("{"):
        return "fhir"
    first = head.splitlines()[0] if head else ""
    if ("Total Sleep Duration" in first or "Total Sleep Time" in first) \
            and "Average HRV" in first:
        return "oura"
    return "daily"


def read_export(path: str, ids: IdMap) -> DailyExport:
    kind = detect_export(path)
    reader = {"fitabase": read_fitabase, "apple_health": read_apple_health,
              "oura": read_oura, "fhir": read_fhir_observations,
              "garmin": read_garmin_summaries, "garmin_fit": read_garmin_fit}[kind]
    return reader(path, ids)


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):  # data rows
            yield number, {k.strip(): (v or "").strip() for k, v in row.items() if k}


def _us_date(text: str) -> dt.date:
    """Fitabase's M/D/YYYY (with or without a 12-hour time)."""
    return dt.datetime.strptime(text.split(" ")[0], "%m/%d/%Y").date()


def _fitabase_paths(path: str) -> dict[str, Path]:
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    # A folder: every Fitabase file in it; a file: that file alone (a config may list each).
    return {kind: folder / name for name, kind in FITABASE_FILES.items()
            if (folder / name).exists() and (p.is_dir() or p.name == name)}


def _partial_last_days(rows: dict[tuple[str, str], dict[str, float]],
                       minutes: dict[tuple[str, str], float], problems: list[Problem],
                       file: Path | None) -> None:
    """Each user's last export day with fewer recorded minutes than a day (activity,
    sedentary and asleep; resources/wearables/wear_time.yaml) was cut off by the export: not a
    valid day (its steps and minutes are a part of a day)."""
    last: dict[str, str] = {}
    for pid, day in minutes:
        last[pid] = max(last.get(pid, ""), day)
    floor = WEAR_TIME["fitabase_partial_day_minutes"]
    for pid, day in sorted(last.items()):
        if minutes[(pid, day)] < floor:
            rows[(pid, day)]["worn"] = 0.0
            problems.append(Problem(str(file or ""), f"{day} is the export's last day for "
                                    f"'{pid}' and records {minutes[(pid, day)]:g} of 1,440 "
                                    "minutes: a partial day, not counted.", "",
                                    patient_id=None, stage="wearables", excludes=False))


def read_fitabase(path: str, ids: IdMap) -> DailyExport:
    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    minutes: dict[tuple[str, str], float] = {}  # recorded minutes of each user-day
    sources: dict[str, dict[str, str]] = defaultdict(dict)
    problems: list[Problem] = []
    files = _fitabase_paths(path)

    def parsed(parse: Any, what: str, text: str, file: Path, line: int, column: str) -> Any:
        """parse(text), or None with a problem naming the file, row and column."""
        try:
            return parse(text)
        except ValueError:
            problems.append(Problem(str(file), f"{column} '{text}' is not {what}; not used.",
                                    "check the export.", row=line, column=column,
                                    stage="wearables", excludes=False))
            return None

    def number(text: str, file: Path, line: int, column: str) -> float | None:
        return parsed(float, "a number", text, file, line, column)

    def day_of(text: str, file: Path, line: int, column: str) -> str | None:
        return parsed(lambda t: _us_date(t).isoformat(), "a Fitabase date (M/D/YYYY)", text,
                      file, line, column)

    if "activity" in files:
        file = files["activity"]
        for line, row in _csv_rows(file):
            pid, day = ids.patient(row.get("Id", "")), day_of(row.get("ActivityDate", ""),
                                                             file, line, "ActivityDate")
            if not day:
                continue
            values = {c: number(row.get(c, ""), file, line, c) if row.get(c, "") != "" else None
                      for c in ("TotalSteps", "VeryActiveMinutes", "FairlyActiveMinutes",
                                "LightlyActiveMinutes", "SedentaryMinutes")}
            target = rows[(pid, day)]
            recorded = [values[c] for c in ("VeryActiveMinutes", "FairlyActiveMinutes",
                                            "LightlyActiveMinutes", "SedentaryMinutes")]
            if all(v is not None for v in recorded):
                minutes[(pid, day)] = sum(recorded)  # type: ignore[arg-type]
                # Fitbit writes a day without wear as 0 steps and 1,440 sedentary minutes.
                target["worn"] = 0.0 if (values["TotalSteps"] == 0 and (
                    values["SedentaryMinutes"] or 0) >= 1440) else 1.0
            if values["TotalSteps"] is not None:
                target["steps"] = values["TotalSteps"]
            if values["VeryActiveMinutes"] is not None and values["FairlyActiveMinutes"] \
                    is not None:
                target["mvpa_min"] = values["VeryActiveMinutes"] + values["FairlyActiveMinutes"]
            if values["LightlyActiveMinutes"] is not None:
                target["light_min"] = values["LightlyActiveMinutes"]
            sources[pid].update({m: f"Fitbit {file.name}" for m in ("steps", "mvpa_min",
                                                                     "light_min")})
    if "sleep" in files:
        file = files["sleep"]
        for line, row in _csv_rows(file):
            pid, day = ids.patient(row.get("Id", "")), day_of(row.get("SleepDay", ""), file,
                                                             line, "SleepDay")
            asleep = number(row.get("TotalMinutesAsleep", ""), file, line,
                            "TotalMinutesAsleep")
            if day and asleep is not None:
                rows[(pid, day)]["sleep_h"] = round(asleep / 60, 4)
                sources[pid]["sleep_h"] = f"Fitbit {file.name}"
                if (pid, day) in minutes:
                    minutes[(pid, day)] += asleep
    _partial_last_days(rows, minutes, problems, files.get("activity"))
    if "heart_rate" in files:
        file = files["heart_rate"]
        frame = pd.read_csv(file, dtype=str)
        times = pd.to_datetime(frame["Time"], format="%m/%d/%Y %I:%M:%S %p", errors="coerce")
        values = pd.to_numeric(frame["Value"], errors="coerce")
        usable = times.notna() & values.between(25, 250)
        if (~usable).any():
            problems.append(Problem(str(file), f"{int((~usable).sum())} heart-rate rows with "
                                    "an unreadable time or an impossible value are not used.",
                                    "check the export.", stage="wearables", excludes=False))
        beats = pd.DataFrame({"id": frame["Id"][usable].str.strip(), "time": times[usable],
                              "bpm": values[usable]})
        bins = beats.assign(bin=beats["time"].dt.floor(f"{RESTING_BIN_MIN}min")).groupby(
            ["id", "bin"])["bpm"].mean().reset_index()
        bins["day"] = bins["bin"].dt.date.astype(str)
        lowest = bins.groupby(["id", "day"])["bpm"].min()
        for (uid, day), bpm in lowest.items():
            pid = ids.patient(uid)
            rows[(pid, day)]["resting_hr"] = round(float(bpm), 2)
            sources[pid]["resting_hr"] = (f"Fitbit {file.name} (estimated: the day's lowest "
                                          f"{RESTING_BIN_MIN}-minute mean)")
    if not files:
        raise InputError([Problem(path, "holds no Fitabase file.", "give dailyActivity_merged"
                                  ".csv, heartrate_seconds_merged.csv or sleepDay_merged.csv.",
                                  stage="wearables")])
    return DailyExport(frame_of(rows), dict(sources), problems)


def _apple_time(text: str) -> dt.datetime:
    """Apple Health's '2025-12-30 09:00:00 +0100' (the offset of the device at the time)."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")


def read_apple_health(path: str, ids: IdMap) -> DailyExport:
    """Daily metrics of an export.xml, streamed: each record is dropped from the tree once
    read (the root is cleared), so memory stays flat whatever the export's size."""
    pid = ids.patient(os.path.basename(path))
    zone = ids.zone(pid)
    per_source: dict[tuple[str, str, str], float] = defaultdict(float)  # metric, day, source
    readings: dict[tuple[str, str], list[float]] = defaultdict(list)  # metric, day
    # asleep samples as intervals: overlapping ones merged, one source per night (sleep.py)
    asleep: list[SleepSpan] = []
    skipped: dict[str, int] = defaultdict(int)
    root = None
    depth = 0
    try:
        for event, element in ET.iterparse(path, events=("start", "end")):
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                continue
            depth -= 1
            if element.tag == "ActivitySummary":
                _activity_summary(element, per_source, skipped)
                root.clear()
                continue
            if element.tag != "Record":
                if depth == 1:  # any other element of the export, done: dropped from the
                    root.clear()  # tree too (40 MB of other tags once held 985 MB)
                continue
            metric = APPLE_TYPES.get(element.get("type", ""))
            if metric is None:
                root.clear()
                continue
            try:
                start = _apple_time(element.get("startDate", ""))
                end = _apple_time(element.get("endDate", ""))
            except ValueError:
                skipped["an unreadable date"] += 1
                root.clear()
                continue
            source = element.get("sourceName", "")
            if metric == "sleep_h":
                if element.get("value") in APPLE_ASLEEP:  # the night, on the day it ends
                    asleep.append(SleepSpan(pid, end.astimezone(zone).date().isoformat(),
                                            source, start.timestamp(), end.timestamp()))
            else:
                unit = element.get("unit", "")
                try:
                    value = float(element.get("value", ""))
                except ValueError:
                    skipped["a value that is not a number"] += 1
                    root.clear()
                    continue
                if unit not in APPLE_UNITS[metric]:
                    skipped[f"an unexpected unit ('{unit}' for {metric})"] += 1
                    root.clear()
                    continue
                day = start.astimezone(zone).date().isoformat()
                if metric in ("steps", "mvpa_min"):
                    per_source[(metric, day, source)] += value
                else:
                    readings[(metric, day)].append(value)
            root.clear()  # every record read is dropped: memory stays flat
    except ET.ParseError as err:
        raise InputError([Problem(path, f"is not a readable Apple Health export ({err}).",
                                  "export again from the Health app (Export All Health Data) "
                                  "and give export.xml.", stage="wearables")]) from None
    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    nights, blocks = nightly_sleep(asleep)
    for key, (hours, _) in nights.items():
        rows[key]["sleep_h"] = round(hours, 4)
    if blocks:
        skipped[SLEEP_BLOCK_TEXT.format(kind="an 'asleep' block")] += blocks
    for (metric, day, _), total in per_source.items():  # the larger source, never the sum
        key = (pid, day)
        rows[key][metric] = max(rows[key].get(metric, 0.0), round(total, 4))
    for (metric, day), values in readings.items():
        rows[(pid, day)][metric] = round(sum(values) / len(values), 4)
    used = {m for metrics in rows.values() for m in metrics}
    sources = {pid: {m: f"Apple Health {os.path.basename(path)}"
                        + (" (SDNN)" if m == "hrv_sdnn_ms" else "") for m in sorted(used)}}
    problems = [Problem(path, f"{n} records with {why} are not used.", "check the export.",
                        patient_id=None, stage="wearables", excludes=False)
                for why, n in sorted(skipped.items())]
    return DailyExport(frame_of(rows), sources if used else {}, problems)


def _activity_summary(element: Any, per_source: dict[tuple[str, str, str], float],
                      skipped: dict[str, int]) -> None:
    """A day's activity rings: the watch's exercise minutes (appleExerciseTime), a source of
    MVPA beside AppleExerciseTime records (the larger source is used)."""
    day, minutes = element.get("dateComponents", ""), element.get("appleExerciseTime")
    if not day or minutes in (None, ""):
        return
    try:
        value = float(minutes)
        dt.date.fromisoformat(day)
    except ValueError:
        skipped["an activity summary with an unreadable date or exercise time"] += 1
        return
    per_source[("mvpa_min", day, APPLE_SUMMARY_SOURCE)] = value


def read_oura(path: str, ids: IdMap) -> DailyExport:
    pid = ids.patient(os.path.basename(path))
    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for _, row in _csv_rows(Path(path)):
        day = row.get("date", "")[:10]
        if not day:
            continue
        for column, (metric, scale) in OURA_COLUMNS.items():
            try:
                rows[(pid, day)][metric] = round(float(row[column]) * scale, 4)
            except (KeyError, ValueError):
                continue
        try:
            rows[(pid, day)]["mvpa_min"] = sum(float(row[c]) for c in OURA_ACTIVE) / 60
        except (KeyError, ValueError):
            pass
        if row.get("Low Activity Time"):
            try:
                rows[(pid, day)]["light_min"] = float(row["Low Activity Time"]) / 60
            except ValueError:
                pass
    used = {m for metrics in rows.values() for m in metrics}
    return DailyExport(frame_of(rows), {pid: {m: f"Oura {os.path.basename(path)}"
                                            for m in sorted(used)}} if used else {})


def _fhir_moment(resource: dict[str, Any]) -> tuple[dt.datetime, dt.datetime | None]:
    """An Observation's time: (its moment, its period's start or None). A day's total with a
    period is placed at the period's middle."""
    period = resource.get("effectivePeriod") or {}
    if period.get("start") and period.get("end"):
        start, end = (dt.datetime.fromisoformat(period[k].replace("Z", "+00:00"))
                      for k in ("start", "end"))
        return end, start
    return dt.datetime.fromisoformat((period.get("start") or resource.get("effectiveDateTime")
                                      or "").replace("Z", "+00:00")), None


def _fhir_source(resource: dict[str, Any]) -> str:
    """Which device or app recorded an Observation (one source per night of sleep)."""
    device = resource.get("device") or {}
    return str(device.get("display") or device.get("reference")
               or (resource.get("meta") or {}).get("source") or "FHIR")


def read_fhir_observations(path: str, ids: IdMap) -> DailyExport:
    """Daily metrics of FHIR Observations. Sleep Observations with a period are sleep periods
    (precex.wearables.sleep: overlaps are one sleep, one source per night, placeholder blocks
    left out); heart-rate samples (LOINC 8867-4) are the wear signal: the minutes of a local
    day with a sample are its wear minutes (precex.wearables.wear)."""
    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    sources: dict[str, dict[str, str]] = defaultdict(dict)
    skipped: dict[str, int] = defaultdict(int)
    sleep: list[SleepSpan] = []
    heart_minutes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for resource in fhir_resources(path, "wearables"):
        if resource.get("resourceType") != "Observation":
            continue
        codes = [c.get("code") for c in (resource.get("code") or {}).get("coding") or []
                 if c.get("system") == "http://loinc.org"]
        metric = next((LOINC_METRICS[c] for c in codes if c in LOINC_METRICS), None)
        if metric is None:
            continue
        if resource.get("status") not in FHIR_USABLE:
            skipped[f"status '{resource.get('status')}'"] += 1
            continue
        quantity = resource.get("valueQuantity") or {}
        unit = quantity.get("code") or quantity.get("unit") or ""
        value = _fhir_value(metric, quantity.get("value"), unit)
        if value is None:
            skipped[f"no usable value or unit ('{unit}' for {metric})"] += 1
            continue
        pid = ids.patient(subject_id(resource))
        try:
            moment, began = _fhir_moment(resource)
        except (ValueError, TypeError):
            skipped["no effective date"] += 1
            continue
        zone = ids.zone(pid)
        local = moment.astimezone(zone) if moment.tzinfo else moment
        if metric == "heart_rate":
            if began is None:  # a sample: its minute was worn
                heart_minutes[(pid, local.date().isoformat())].add(local.strftime("%H:%M"))
            continue
        if metric == "sleep_h":  # a period, on the night it ends
            end = moment.timestamp()
            start = began.timestamp() if began is not None else end
            sleep.append(SleepSpan(pid, local.date().isoformat(), _fhir_source(resource),
                                   start, end, value * 3600))
            sources[pid][metric] = f"FHIR Observation LOINC {codes[0]} ({os.path.basename(path)})"
            continue
        if began is not None:  # a day's total: the day of its middle
            middle = began + (moment - began) / 2
            local = middle.astimezone(zone) if middle.tzinfo else middle
        rows[(pid, local.date().isoformat())][metric] = round(value, 4)
        sources[pid][metric] = (f"FHIR Observation LOINC {codes[0]} ({os.path.basename(path)})"
                                + (" (SDNN)" if metric == "hrv_sdnn_ms" else ""))
    nights, blocks = nightly_sleep(sleep)
    for key, (hours, _) in nights.items():
        rows[key]["sleep_h"] = round(hours, 4)
    if blocks:
        skipped[SLEEP_BLOCK_TEXT.format(kind="a sleep period")] += blocks
    for (pid, day), minutes in heart_minutes.items():
        rows[(pid, day)]["wear_min"] = float(len(minutes))
        sources[pid]["wear_min"] = (f"FHIR heart-rate Observations, minutes with a sample "
                                    f"({os.path.basename(path)})")
    problems = [Problem(path, f"{n} Observations with {why} are not used.",
                        "check the export.", stage="wearables", excludes=False)
                for why, n in sorted(skipped.items())]
    return DailyExport(frame_of(rows), dict(sources), problems)
