"""Wearable exports as Fitbit (Fitabase), Apple Health, Oura and FHIR device platforms write
them (fixtures in tests/data/formats/wearables, written from each format's documentation;
expected values computed by hand in the comments)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from precex.problems import InputError
from precex.wearables.exports import detect_export, read_export, read_id_map
from precex.wearables.features import wearable_features
from precex.wearables.stage import read_wearable_inputs

DATA = Path(__file__).parents[1] / "data" / "formats" / "wearables"


def test_each_export_is_recognised_by_its_own_layout():
    assert detect_export(str(DATA / "fitabase")) == "fitabase"
    assert detect_export(str(DATA / "fitabase" / "sleepDay_merged.csv")) == "fitabase"
    assert detect_export(str(DATA / "P701_export.xml")) == "apple_health"
    assert detect_export(str(DATA / "P801_device_observations.json")) == "fhir"
    assert detect_export(str(DATA / "fitabase_id_map.tsv")) == "daily"


def test_fitabase_daily_activity_sleep_and_heart_rate_seconds():
    export = read_export(str(DATA / "fitabase"), read_id_map(str(DATA / "fitabase_id_map.tsv")))
    daily = export.daily.set_index(["patient_id", "date"])
    # 12/29/2025: 8000 steps, VeryActive 10 + FairlyActive 15 = 25 MVPA, Lightly 200
    assert daily.loc[("P601", "2025-12-29"), ["steps", "mvpa_min", "light_min"]].tolist() == [
        8000, 25, 200]
    # TotalMinutesAsleep 390 -> 6.5 h
    assert daily.loc[("P601", "2025-12-29"), "sleep_h"] == pytest.approx(6.5)
    # 03:00-04:00 at 54/55/56 bpm in turn: every 5-minute mean is 55 (P602: 60)
    assert daily.loc[("P601", "2026-01-01"), "resting_hr"] == pytest.approx(55)
    assert daily.loc[("P602", "2026-01-04"), "resting_hr"] == pytest.approx(60)
    assert "estimated" in export.sources["P601"]["resting_hr"]
    assert export.sources["P601"]["steps"] == "Fitbit dailyActivity_merged.csv"
    # the duplicated row of the merged file is one day, not two
    assert len(daily.loc["P601"]) == 7


def test_fitabase_mean_daily_steps_through_the_features():
    daily, sources, problems = read_wearable_inputs(
        [str(DATA / "fitabase")], str(DATA / "fitabase_id_map.tsv"), "UTC")
    features, found = wearable_features(daily, "fitabase", dt.date(2026, 1, 5),
                                        {"P601", "P602"})
    # P601: 8000, 8500, ... 11000 -> mean 9500; P602 3000 more -> 12500
    assert features.loc["P601", "steps_mean"] == pytest.approx(9500)
    assert features.loc["P602", "steps_mean"] == pytest.approx(12500)
    assert features.loc["P601", "resting_hr_mean_bpm"] == pytest.approx(55)
    # the map's P999 has no data; the map's devices are all this batch's
    assert not [p for p in problems + found if p.excludes]


def test_apple_health_streams_records_and_keeps_sdnn_apart_from_rmssd():
    export = read_export(str(DATA / "P701_export.xml"),
                         read_id_map(str(DATA / "apple_id_map.tsv")))
    daily = export.daily.set_index("date")
    # phone 3000 + 2500 = 5500, watch 3200 + 2600 = 5800: the larger source, never 11300
    assert daily.loc["2025-12-30", "steps"] == 5800
    assert daily.loc["2025-12-31", "steps"] == 5300
    # 23:30 UTC on 1 Jan is 00:30 on 2 Jan in Paris: a step of the 2nd
    assert daily.loc["2026-01-01", "steps"] == 5500 and daily.loc["2026-01-02", "steps"] == 700
    assert daily["resting_hr"].dropna().tolist() == [61, 63, 65]
    assert daily["hrv_sdnn_ms"].dropna().tolist() == [38.5, 41.5, 44.5]
    assert "hrv_rmssd_ms" not in daily  # SDNN is not RMSSD
    assert daily.loc["2025-12-30", "mvpa_min"] == 25  # AppleExerciseTime
    # asleep core 2 h + deep 1.5 h + REM 3.5 h = 7 h (in bed and awake are not sleep)
    assert daily.loc["2025-12-30", "sleep_h"] == pytest.approx(7.0)
    assert export.sources["P701"]["hrv_sdnn_ms"].endswith("(SDNN)")


def test_apple_health_means_and_the_day_boundary_follow_the_patient_time_zone():
    daily, _, _ = read_wearable_inputs([str(DATA / "P701_export.xml")],
                                       str(DATA / "apple_id_map.tsv"), "UTC")
    features, _ = wearable_features(daily, "export.xml", dt.date(2026, 1, 5), {"P701"})
    # 2 Jan (700 steps, no resting HR: 30 minutes of it in Paris) is not a worn day: the mean
    # is over the three worn days
    assert features.loc["P701", "steps_mean"] == pytest.approx((5800 + 5300 + 5500) / 3)
    assert features.loc["P701", "wear_days"] == 3
    assert features.loc["P701", "resting_hr_mean_bpm"] == pytest.approx(63)
    assert features.loc["P701", "hrv_sdnn_mean_ms"] == pytest.approx(41.5)
    # in London the late record stays on 1 Jan (a different day boundary)
    london = read_export(str(DATA / "P701_export.xml"), read_id_map(None, "Europe/London"))
    days = london.daily.set_index("date")
    assert "2026-01-02" not in days.index


def test_fhir_device_observations_by_loinc():
    export = read_export(str(DATA / "P801_device_observations.json"),
                         read_id_map(None, "America/Chicago"))
    daily = export.daily.set_index("date")
    assert daily["steps"].tolist() == [7000, 8000, 9000]  # 99999 entered-in-error not used
    assert daily["resting_hr"].tolist() == [60, 61, 62]
    assert daily["hrv_sdnn_ms"].tolist() == [40, 42, 44]
    assert any("entered-in-error" in p.message for p in export.problems)


def test_oura_trends_seconds_become_hours_and_minutes(tmp_path):
    path = tmp_path / "oura_2025-12-01_2026-01-04_trends.csv"
    path.write_text("date,Steps,Total Sleep Duration,Lowest Resting Heart Rate,Average HRV,"
                    "High Activity Time,Medium Activity Time,Low Activity Time\n"
                    "2026-01-02,9100,25200,52,48,600,1800,10800\n")
    export = read_export(str(path), read_id_map(None))
    row = export.daily.iloc[0]
    assert detect_export(str(path)) == "oura"
    assert (row["steps"], row["sleep_h"], row["resting_hr"], row["hrv_rmssd_ms"],
            row["mvpa_min"], row["light_min"]) == (9100, 7.0, 52, 48, 40, 180)


def test_an_invalid_export_names_its_file_and_what_is_accepted(tmp_path):
    broken = tmp_path / "export.xml"
    broken.write_text("<?xml version='1.0'?><HealthData><Record type='x'")
    with pytest.raises(InputError) as err:
        read_export(str(broken), read_id_map(None))
    problem = err.value.problems[0]
    assert problem.file == str(broken) and "Export All Health Data" in problem.fix
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(InputError) as err:
        read_export(str(folder), read_id_map(None))
    assert "dailyActivity_merged.csv" in err.value.problems[0].fix
    bad_map = tmp_path / "map.tsv"
    bad_map.write_text("source_id\tpatient_id\ttime_zone\n1\tP1\tMars/Olympus\n")
    with pytest.raises(InputError) as err:
        read_id_map(str(bad_map))
    # data rows as every reader counts them, and the row a spreadsheet shows (issue 42)
    assert "IANA" in err.value.problems[0].message and err.value.problems[0].row == 1
    assert "map.tsv, row 1 (spreadsheet row 2), column 'time_zone'" in str(err.value.problems[0])


def test_one_unreadable_export_is_left_out_and_the_others_are_used(tmp_path):
    broken = tmp_path / "P999_export.xml"
    broken.write_text("<?xml version='1.0'?><HealthData><Record")
    daily, sources, problems = read_wearable_inputs(
        [str(broken), str(DATA / "P801_device_observations.json")], None, "America/Chicago")
    assert set(daily["patient_id"]) == {"P801"}
    assert any(p.file == str(broken) and p.patient_id == "P999" for p in problems)
    assert sources["P801"]["steps"].startswith("FHIR Observation LOINC 55423-8")


def test_the_daily_table_still_reads_as_before(tmp_path):
    path = tmp_path / "daily.tsv"
    path.write_text("Patient ID\tDate\tTotal Steps\tResting Heart Rate\nP1\t2026-01-02\t5000\t60\n")
    daily, sources, _ = read_wearable_inputs([str(path)], None, "UTC")
    assert daily.loc[0, "steps"] == "5000" or float(daily.loc[0, "steps"]) == 5000
    assert sources["P1"]["steps"] == "daily table daily.tsv"
    assert isinstance(daily, pd.DataFrame)


def test_an_unreadable_export_given_alone_does_not_stop_the_batch(tmp_path):
    broken = tmp_path / "P998_export.xml"
    broken.write_text("<?xml version='1.0'?><HealthData><Record")
    daily, sources, problems = read_wearable_inputs([str(broken)], None, "UTC")
    assert daily.empty and sources == {}
    assert problems[0].file == str(broken) and problems[0].patient_id == "P998"
    assert not problems[0].excludes


APPLE_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 11 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout)*,ActivitySummary*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
]>
<HealthData locale="en_GB">
 <ExportDate value="2026-01-05 08:00:00 +0000"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1961-03-02"
  HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"/>
"""
ASLEEP = ('<Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="{app}" '
          'sourceVersion="1" creationDate="{end}" startDate="{start}" endDate="{end}" '
          'value="HKCategoryValueSleepAnalysisAsleep"/>\n')


def test_apple_sleep_merges_overlapping_samples_and_flags_placeholder_blocks(tmp_path):
    """Two overlapping 'asleep' samples of one app for one night (23:00-07:00 and
    01:00-07:08) are one span of 8 h 8 min, not 14 h 8 min; a 12-hour block is an app's
    placeholder: flagged, not sleep."""
    records = [ASLEEP.format(app="SleepCycle", start="2025-12-29 23:00:00 +0000",
                             end="2025-12-30 07:00:00 +0000"),
               ASLEEP.format(app="SleepCycle", start="2025-12-30 01:00:00 +0000",
                             end="2025-12-30 07:08:00 +0000"),
               ASLEEP.format(app="Pillow", start="2025-12-31 19:00:00 +0000",
                             end="2026-01-01 07:00:00 +0000")]
    path = tmp_path / "P702_export.xml"
    path.write_text(APPLE_HEAD + "".join(records) + "</HealthData>\n")
    export = read_export(str(path), read_id_map(None))
    daily = export.daily.set_index("date")
    assert daily.loc["2025-12-30", "sleep_h"] == pytest.approx(8 + 8 / 60, abs=1e-4)
    assert "2026-01-01" not in daily.index or pd.isna(daily.loc["2026-01-01"].get("sleep_h"))
    assert any("placeholder" in p.message and p.message.startswith("1 records")
               for p in export.problems)


def test_apple_watch_exercise_minutes_come_from_the_activity_rings(tmp_path):
    summary = ('<ActivitySummary dateComponents="2025-12-30" activeEnergyBurned="412.5" '
               'activeEnergyBurnedGoal="500" activeEnergyBurnedUnit="kcal" appleMoveTime="0" '
               'appleMoveTimeGoal="0" appleExerciseTime="34" appleExerciseTimeGoal="30" '
               'appleStandHours="10" appleStandHoursGoal="12"/>\n')
    path = tmp_path / "P703_export.xml"
    path.write_text(APPLE_HEAD + summary + "</HealthData>\n")
    export = read_export(str(path), read_id_map(None))
    assert export.daily.set_index("date").loc["2025-12-30", "mvpa_min"] == 34


def test_oura_exports_of_2020_name_sleep_total_sleep_time(tmp_path):
    path = tmp_path / "oura_2020-06-01_2020-06-30_trends.csv"
    path.write_text("date,Steps,Total Sleep Time,Lowest Resting Heart Rate,Average HRV\n"
                    "2020-06-02,8000,27000,55,40\n")
    assert detect_export(str(path)) == "oura"
    assert read_export(str(path), read_id_map(None)).daily.iloc[0]["sleep_h"] == 7.5


def test_fitabase_days_without_wear_and_a_partial_last_day_are_not_counted(tmp_path):
    """A 28-day Fitabase user with 13 days of 0 steps and 1,440 sedentary minutes (the tracker
    left off) and an export cut off on its last day (931 of 1,440 minutes): coverage is over
    the 14 worn full days and so are the means."""
    header = ("Id,ActivityDate,TotalSteps,TotalDistance,TrackerDistance,LoggedActivitiesDistance,"
              "VeryActiveDistance,ModeratelyActiveDistance,LightActiveDistance,"
              "SedentaryActiveDistance,VeryActiveMinutes,FairlyActiveMinutes,"
              "LightlyActiveMinutes,SedentaryMinutes,Calories\n")
    lines = []
    for i in range(28):
        day = dt.date(2025, 12, 8) + dt.timedelta(days=i)
        text = f"{day.month}/{day.day}/{day.year}"
        if i % 2 == 1 and i < 26:  # 13 days without wear
            lines.append(f"1503960366,{text},0,0,0,0,0,0,0,0,0,0,0,1440,1200")
        elif i == 27:  # the export's last day, cut off
            lines.append(f"1503960366,{text},4000,2.9,2.9,0,0.5,0.4,2,0,10,10,200,711,900")
        else:
            lines.append(f"1503960366,{text},8000,5.8,5.8,0,1.6,0.9,3.3,0,20,10,240,1170,2100")
    (tmp_path / "dailyActivity_merged.csv").write_text(header + "\n".join(lines) + "\n")
    ids = tmp_path / "map.tsv"
    ids.write_text("source_id\tpatient_id\n1503960366\tP901\n")
    daily, _, problems = read_wearable_inputs([str(tmp_path)], str(ids), "UTC")
    features, found = wearable_features(daily, "fitabase", dt.date(2026, 1, 4), {"P901"})
    assert features.loc["P901", "wear_days"] == 14
    assert features.loc["P901", "wear_coverage"] == pytest.approx(14 / 28)
    assert features.loc["P901", "steps_mean"] == pytest.approx(8000)  # worn days only
    assert features.loc["P901", "mvpa_min_per_week"] == pytest.approx(30 * 7)
    assert any("931 of 1,440 minutes" in p.message for p in problems)
    assert any("14 patient-day(s) without wear" in p.message for p in found)


def test_fhir_sleep_periods_merge_one_source_per_night_and_heart_rate_is_the_wear_signal(
        tmp_path):
    """Sleep Observations (LOINC 93832-4) with periods are sleep intervals: the same night
    recorded twice by one device counts once, two devices are never added (the one with more
    sleep is used), a 13-hour block is left out and named; heart-rate samples (LOINC 8867-4)
    give the minutes worn, and a day of 100 such minutes is not a valid day whatever its
    steps (issue 40)."""
    import json

    def obs(code: str, value: float, unit: str, device: str = "", when: str = "",
            period: tuple[str, str] | None = None) -> dict:
        out = {"resourceType": "Observation", "status": "final",
               "subject": {"reference": "Patient/P810"},
               "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
               "valueQuantity": {"value": value, "unit": unit, "code": unit}}
        if device:
            out["device"] = {"display": device}
        if period:
            out["effectivePeriod"] = {"start": period[0], "end": period[1]}
        else:
            out["effectiveDateTime"] = when
        return out

    night = ("2026-01-02T22:00:00Z", "2026-01-03T06:00:00Z")
    resources = [obs("93832-4", 7.5, "h", "Watch A", period=night),
                 obs("93832-4", 7.5, "h", "Watch A", period=night),  # synced twice
                 obs("93832-4", 7.0, "h", "Ring B",
                     period=("2026-01-02T22:30:00Z", "2026-01-03T06:10:00Z")),
                 obs("93832-4", 13.0, "h", "Sleep app",
                     period=("2026-01-03T20:00:00Z", "2026-01-04T09:00:00Z")),
                 obs("55423-8", 9000, "/d", when="2026-01-03T12:00:00Z"),
                 obs("55423-8", 5000, "/d", when="2026-01-04T12:00:00Z")]
    start = dt.datetime(2026, 1, 3, 8, tzinfo=dt.UTC)
    resources += [obs("8867-4", 70, "/min", when=(start + dt.timedelta(minutes=m)).isoformat())
                  for m in range(700)]  # 08:00 to 19:39 on 01-03: 700 minutes
    resources += [obs("8867-4", 72, "/min", when=(start + dt.timedelta(days=1, minutes=m))
                      .isoformat()) for m in range(0, 200, 2)]  # 100 minutes on 01-04
    path = tmp_path / "P810_observations.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": r} for r in resources]}))
    export = read_export(str(path), read_id_map(None))
    d = export.daily.set_index(["patient_id", "date"])
    assert d.loc[("P810", "2026-01-03"), "sleep_h"] == pytest.approx(7.5)  # not 15 or 22
    assert pd.isna(d.loc[("P810", "2026-01-04"), "sleep_h"])  # the 13-hour block
    assert any("13" not in p.message and "12 h or more" in p.message for p in export.problems)
    assert d.loc[("P810", "2026-01-03"), "wear_min"] == 700
    assert d.loc[("P810", "2026-01-04"), "wear_min"] == 100
    features, _ = wearable_features(export.daily, "fhir", dt.date(2026, 1, 5), {"P810"})
    assert features.loc["P810", "wear_days"] == 1  # 01-04: 100 minutes worn, 5,000 steps
    assert features.loc["P810", "steps_mean"] == pytest.approx(9000)
