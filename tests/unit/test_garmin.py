"""Garmin exports as Garmin writes them: Health API daily and sleep summaries (the CSV a
research platform exports, and the API's JSON), and FIT files encoded with Garmin's own FIT
SDK (monitoring, activity and sleep), read into precex's daily table (issue 40). Expected
values are worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from garmin_fit_sdk import Encoder, Profile
from precex.wearables.exports import detect_export, read_export, read_id_map
from precex.wearables.features import wearable_features
from precex.wearables.stage import read_wearable_inputs

DATA = Path(__file__).parents[1] / "data" / "formats" / "wearables"
IDS = read_id_map(str(DATA / "garmin_id_map.tsv"))
MESG = Profile["mesg_num"]
NEW_YORK = dt.timezone(dt.timedelta(hours=-5))  # January: EST


def at(text: str) -> dt.datetime:
    """A New York wall-clock time as the aware datetime the encoder takes."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def fit_file(path: Path, messages: list[dict]) -> Path:
    encoder = Encoder()
    for message in messages:
        encoder.write_mesg(message)
    path.write_bytes(encoder.close())
    return path


def file_id(kind: str | int) -> dict:
    return {"mesg_num": MESG["FILE_ID"], "type": kind, "manufacturer": "garmin",
            "serial_number": 3_999_000_123, "time_created": at("2026-01-02T00:00:00")}


def fit_seconds(moment: dt.datetime) -> int:
    return int(moment.timestamp()) - 631_065_600  # FIT's epoch: 1989-12-31T00:00:00Z


def daily(export) -> pd.DataFrame:
    return export.daily.set_index(["patient_id", "date"])


def test_garmin_exports_are_recognised(tmp_path):
    assert detect_export(str(DATA / "GarminDailySummary_TST901.csv")) == "garmin"
    assert detect_export(str(DATA / "GarminSleepSummary_TST901.csv")) == "garmin"
    assert detect_export(str(DATA / "garmin_dailies_api.json")) == "garmin"
    fit = fit_file(tmp_path / "P903_monitor.fit", [file_id("monitoring_b")])
    assert detect_export(str(fit)) == "garmin_fit" and detect_export(str(tmp_path)) == \
        "garmin_fit"
    assert detect_export(str(DATA / "P801_device_observations.json")) == "fhir"


def test_daily_summaries_use_the_fullest_sync_and_leave_partial_days_out():
    export = read_export(str(DATA / "GarminDailySummary_TST901.csv"), IDS)
    d = daily(export)
    # 01-02: 7,400 steps; (1,200 + 600) s of moderate and vigorous = 30 min; resting HR 61
    assert d.loc[("P901", "2026-01-02"), ["steps", "mvpa_min", "resting_hr"]].tolist() == [
        7400, 30, 61]
    # 01-03 was synced at noon (43,200 s, 3,000 steps) and again complete: the full day
    assert d.loc[("P901", "2026-01-03"), ["steps", "mvpa_min"]].tolist() == [9100, 30]
    # 01-05 is the export's last day, cut off after 63,060 s: not a valid day
    assert d.loc[("P901", "2026-01-05"), "worn"] == 0
    assert any("partial day" in p.message for p in export.problems)
    assert export.sources["P901"]["steps"] == \
        "Garmin daily summaries (GarminDailySummary_TST901.csv)"
    # through the features: 01-02 and 01-03 worn; 01-04 (150 steps, no resting HR) is not
    # worn and 01-05 is partial -> coverage 2 of 4 days, means over the 2 worn days
    features, _ = wearable_features(export.daily, "garmin", dt.date(2026, 1, 6), {"P901"})
    assert features.loc["P901", "wear_days"] == 2
    assert features.loc["P901", "steps_mean"] == pytest.approx((7400 + 9100) / 2)


def test_the_health_apis_json_reads_as_its_csv():
    d = daily(read_export(str(DATA / "garmin_dailies_api.json"), IDS))
    # (2,400 + 1,200) s = 60 min; (900 + 0) s = 15 min
    assert d.loc[("P902", "2026-01-02"), ["steps", "mvpa_min", "resting_hr"]].tolist() == [
        10100, 60, 57]
    assert d.loc[("P902", "2026-01-03"), "mvpa_min"] == 15


def test_sleep_summaries_keep_one_record_per_night_of_the_best_validation():
    export = read_export(str(DATA / "GarminSleepSummary_TST901.csv"), IDS)
    d = daily(export)
    # 01-03: AUTO_TENTATIVE (25,000 s) and ENHANCED_FINAL of the same night: the final one,
    # deep 3,600 + light 19,800 + REM 5,400 = 28,800 s = 8.0 h (awake time not asleep)
    assert d.loc[("P901", "2026-01-03"), "sleep_h"] == pytest.approx(8.0)
    # 01-04 was typed in by hand (MANUAL): not measured sleep, left out and named
    assert ("P901", "2026-01-04") not in d.index or pd.isna(d.loc[("P901", "2026-01-04"),
                                                                  "sleep_h"])
    assert any("MANUAL" in p.message for p in export.problems)
    # 01-05: 3,600 + 16,200 + 3,600 = 23,400 s = 6.5 h
    assert d.loc[("P901", "2026-01-05"), "sleep_h"] == pytest.approx(6.5)


def monitoring_day(tmp_path: Path) -> Path:
    """A Forerunner's all-day file for 2026-01-02 (New York), as the device writes it: the
    local-time offset in monitoring_info, cumulative step counts per activity type (FIT
    `cycles` at scale 2: a raw count of N is N steps), heart rate every minute from 08:00 to
    18:59 as compressed timestamps, intensity minutes, and the day's resting heart rate."""
    start = at("2026-01-02T00:00:00")
    messages = [file_id("monitoring_b"),
                {"mesg_num": MESG["MONITORING_INFO"], "timestamp": start,
                 "local_timestamp": fit_seconds(start) - 5 * 3600}]
    for hour, walked, ran in ((9, 2000, 0), (12, 5200, 1500), (18, 8300, 1500)):
        moment = start + dt.timedelta(hours=hour)
        messages.append({"mesg_num": MESG["MONITORING"], "timestamp": moment,
                         "activity_type": "walking", "cycles": walked / 2,
                         "moderate_activity_minutes": 10 * hour // 6,
                         "vigorous_activity_minutes": 5 if hour >= 12 else 0})
        if ran:
            messages.append({"mesg_num": MESG["MONITORING"], "timestamp": moment,
                             "activity_type": "running", "cycles": ran / 2})
    messages.append({"mesg_num": MESG["MONITORING"], "timestamp": start + dt.timedelta(hours=8),
                     "heart_rate": 66})
    for minute in range(1, 11 * 60):  # 08:01 to 18:59, 16-bit timestamps
        moment = start + dt.timedelta(hours=8, minutes=minute)
        messages.append({"mesg_num": MESG["MONITORING"],
                         "timestamp_16": fit_seconds(moment) & 0xFFFF, "heart_rate": 70})
    messages.append({"mesg_num": MESG["MONITORING_HR_DATA"],
                     "timestamp": start + dt.timedelta(hours=23),
                     "resting_heart_rate": 58, "current_day_resting_heart_rate": 56})
    # 23:30 local is 04:30 UTC on 01-03: still the local day 01-02
    messages.append({"mesg_num": MESG["MONITORING"],
                     "timestamp": start + dt.timedelta(hours=23, minutes=30),
                     "activity_type": "walking", "cycles": 8600 / 2})
    return fit_file(tmp_path / "P903_monitor.fit", messages)


def test_a_monitoring_file_gives_steps_intensity_wear_and_resting_hr(tmp_path):
    export = read_export(str(monitoring_day(tmp_path)), IDS)
    row = daily(export).loc[("P903", "2026-01-02")]
    # walking 8,600 (the day's largest cumulative count, at 23:30 local) + running 1,500
    assert row["steps"] == 10100
    # the day's largest cumulative moderate (30) + vigorous (5) minutes
    assert row["mvpa_min"] == 35
    # a heart rate in every minute from 08:00 to 18:59: 660 minutes worn
    assert row["wear_min"] == 660
    assert row["resting_hr"] == 56  # the current day's, not the 7-day average (58)
    assert ("P903", "2026-01-03") not in daily(export).index
    assert "cumulative steps" in export.sources["P903"]["steps"]


def test_an_activity_file_counts_its_workout_on_a_day_without_intensity_minutes(tmp_path):
    start = at("2026-01-04T07:10:00")
    path = fit_file(tmp_path / "P903_walk.fit", [
        file_id("activity"),
        {"mesg_num": MESG["SESSION"], "timestamp": start + dt.timedelta(minutes=50),
         "start_time": start, "sport": "walking", "total_timer_time": 45 * 60.0,
         "total_elapsed_time": 50 * 60.0, "avg_heart_rate": 112}])
    row = daily(read_export(str(path), IDS)).loc[("P903", "2026-01-04")]
    assert row["mvpa_min"] == 45  # the timer time, not the elapsed time with the pause


def test_a_sleep_file_is_read_as_levels_over_time(tmp_path):
    # 22:40 light, 23:30 deep, 01:00 REM, 02:00 awake, 02:20 light, 06:10 awake (the end):
    # asleep 50 + 90 + 60 + 230 = 430 min = 7 h 10 min, on the night ending 01-05
    levels = [("2026-01-04T22:40", "light"), ("2026-01-04T23:30", "deep"),
              ("2026-01-05T01:00", "rem"), ("2026-01-05T02:00", "awake"),
              ("2026-01-05T02:20", "light"), ("2026-01-05T06:10", "awake")]
    path = fit_file(tmp_path / "P903_sleep.fit", [file_id(49)] + [  # Garmin's sleep file type
        {"mesg_num": MESG["SLEEP_LEVEL"], "timestamp": at(t + ":00"), "sleep_level": level}
        for t, level in levels])
    d = daily(read_export(str(path), IDS))
    assert d.loc[("P903", "2026-01-05"), "sleep_h"] == pytest.approx(7 + 10 / 60, abs=1e-4)


def test_a_folder_of_fit_files_and_a_broken_one(tmp_path):
    folder = tmp_path / "P903"
    folder.mkdir()
    monitoring_day(folder)
    daily_table, sources, problems = read_wearable_inputs(
        [str(folder)], str(DATA / "garmin_id_map.tsv"), "UTC")
    assert daily_table.set_index(["patient_id", "date"]).loc[("P903", "2026-01-02"),
                                                            "steps"] == 10100
    broken = tmp_path / "P903_cut.fit"
    broken.write_bytes(monitoring_day(tmp_path).read_bytes()[:200])
    _, _, problems = read_wearable_inputs([str(broken), str(folder)],
                                          str(DATA / "garmin_id_map.tsv"), "UTC")
    named = [p for p in problems if p.file.endswith("P903_cut.fit")]
    assert named and named[0].patient_id == "P903" and "left out" in named[0].message
