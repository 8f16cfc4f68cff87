"""One plausible range per measurement (issue 37: resting HR had three): the sheet schema's
minimum and maximum, read by the follow-up tables and the wearables too."""

from __future__ import annotations

import pandas as pd
from builders import REF
from precex.adaptation.blood_recheck import followup_measures
from precex.adaptation.features import TEMPERATURE_C
from precex.clinical.sheet import sheet_schema
from precex.config import plausible_range
from precex.wearables.features import LIMITS, wearable_features


def test_every_reader_of_a_measurement_uses_the_sheets_range():
    props = sheet_schema()["properties"]
    for column in ("resting_hr", "temperature_c", "lvef_pct"):
        assert plausible_range(column) == (props[column]["minimum"], props[column]["maximum"])
    assert LIMITS["resting_hr"] == plausible_range("resting_hr")
    assert TEMPERATURE_C == plausible_range("temperature_c")
    for measure in followup_measures().values():
        assert measure.plausible == plausible_range(measure.column), measure.name


def test_a_resting_hr_the_sheet_rejects_is_rejected_on_the_wearable_too(tmp_path):
    low, high = plausible_range("resting_hr")
    days = pd.date_range(end=pd.Timestamp(REF) - pd.Timedelta(days=1), periods=10)
    daily = pd.DataFrame({"patient_id": "P1", "date": days.strftime("%Y-%m-%d"),
                          "steps": "8000", "resting_hr": [str(high + 5)] * 5 + ["60"] * 5})
    features, problems = wearable_features(daily, "wear.tsv", REF, {"P1"})
    assert features.loc["P1", "resting_hr_mean_bpm"] == 60  # the impossible days are dropped
    assert any("resting_hr" in p.message for p in problems)
    assert low < 60 < high
