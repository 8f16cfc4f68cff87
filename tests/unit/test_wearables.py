import datetime as dt

import numpy as np
import pandas as pd
from builders import REF
from precex.wearables.features import wearable_features


def days(pid, rmssd, start=REF - dt.timedelta(days=7), **extra):
    rows = []
    for i, r in enumerate(rmssd):
        rows.append({"patient_id": pid, "date": (start + dt.timedelta(days=i)).isoformat(),
                     "hrv_rmssd_ms": r, "steps": 5000, "mvpa_min": 20, "resting_hr": 60,
                     "sleep_h": 7, **extra})
    return rows


def test_readiness_band_uses_previous_seven_days():
    base = [30, 32, 28, 31, 29, 30, 31]
    low = pd.DataFrame(days("A", base + [20]))   # today far below the band
    f, _ = wearable_features(low, "w.tsv", REF, {"A"})
    prev = np.log(base)
    assert f.loc["A", "lnrmssd_mean_7d"] == np.mean(prev)
    assert abs(f.loc["A", "lnrmssd_sd_7d"] - np.std(prev, ddof=1)) < 1e-12
    assert f.loc["A", "hrv_readiness"] == "below"
    normal = pd.DataFrame(days("A", base + [30]))
    assert wearable_features(normal, "w.tsv", REF, {"A"})[0].loc["A", "hrv_readiness"] == "normal"
    few = pd.DataFrame(days("A", [30, 31, 29, 20], start=REF - dt.timedelta(days=3)))
    assert wearable_features(few, "w.tsv", REF, {"A"})[0].loc["A", "hrv_readiness"] == \
        "insufficient_data"


def test_activity_summaries_and_coverage():
    f, problems = wearable_features(pd.DataFrame(days("A", [30] * 8)), "w.tsv", REF, {"A"})
    assert problems == []
    assert f.loc["A", "wear_days"] == 8 and f.loc["A", "wear_coverage"] == 8 / 28
    assert f.loc["A", "mvpa_min_per_week"] == 140 and f.loc["A", "steps_mean"] == 5000


def test_messy_rows_are_reported():
    rows = days("A", [30] * 3)
    rows.append({**rows[0], "steps": 7000})                      # duplicate day, differing
    rows.append({**rows[1], "resting_hr": 300})                  # impossible HR (duplicate day)
    rows.append({**rows[2], "date": "2026-02-01"})               # after the reference date
    rows.append({**rows[2], "date": "yesterday"})                # unparseable
    rows.append({**rows[2], "patient_id": "ZZ"})                 # unknown patient
    f, problems = wearable_features(pd.DataFrame(rows), "w.tsv", REF, {"A"})
    text = " ".join(p.message for p in problems)
    assert "resting_hr value '300' is impossible" in text
    assert "after the reference date" in text and "'yesterday' is not YYYY-MM-DD" in text
    assert "1 rows of 1 ID(s) not in this batch's patient sheet are not used (e.g. 'ZZ')" in text
    assert "2 rows for patient 'A'" in text and "averaged" in text
    assert f.loc["A", "steps_mean"] == (6000 + 5000 + 5000) / 3
    assert f.loc["A", "resting_hr_mean_bpm"] == 60  # the impossible value is missing, not used


def test_adherence_to_a_previous_prescription(tmp_path):
    import json

    from precex.wearables.adherence import read_previous

    prescription = {"engine": {"reference_date": "2025-12-29"},
                    "aerobic": {"minutes_per_week": 90, "minutes_per_session": 30,
                                "sessions_per_week": 3}}
    (tmp_path / "A.json").write_text(json.dumps(prescription))
    (tmp_path / "B.json").write_text("{not json")
    previous, problems = read_previous(str(tmp_path), ["A", "B", "C"])
    assert list(previous) == ["A"] and len(problems) == 1 and "B.json" in problems[0].file
    # 14 days, the last 7 after the prescription: MVPA 30 min on 3 of them, 0 otherwise
    rows = []
    for i in range(14):
        day = REF - dt.timedelta(days=13 - i)
        mvpa = 30 if day > dt.date(2025, 12, 29) and i % 2 == 0 else 0
        rows.append({"patient_id": "A", "date": day.isoformat(), "mvpa_min": mvpa})
    f, _ = wearable_features(pd.DataFrame(rows), "w.tsv", REF, {"A"}, previous=previous)
    a = f.loc["A"]
    assert a["adherence_days"] == 7  # only days after the prescription count
    assert a["prescribed_aerobic_min_per_week"] == 90
    assert a["observed_mvpa_min_per_week"] == 90  # 3 x 30 min over 7 days
    assert a["aerobic_adherence"] == 1.0
    assert a["aerobic_sessions_completed_per_week"] == 3 and a["session_adherence"] == 1.0


def test_device_export_headers_and_dates_are_read(tmp_path):
    from precex.wearables.stage import read_wearables

    path = tmp_path / "fitbit.csv"
    path.write_text("Participant ID,Activity Date,Total Steps,Resting Heart Rate\n"
                    "A,2026/01/03,6000,62\nA,2026-01-04T00:00:00,7000,64\n")
    daily = read_wearables(str(path))
    assert {"patient_id", "date", "steps", "resting_hr"} <= set(daily.columns)
    f, problems = wearable_features(daily, str(path), REF, {"A"})
    assert problems == [] and f.loc["A", "steps_mean"] == 6500
