"""Responder model and alternative plans (issue 11)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from builders import RB
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.prescription.engine import EngineSettings, prescribe
from precex.research.model import fit_outcome
from precex.research.plans import alternative_plans, resistance_sessions
from precex.research.stage import predictions, read_outcomes


def simulated(n: int, effect: float, seed: int = 1) -> pd.DataFrame:
    """VO2peak change = 0.3/100 MET-min + `effect` more per 100 MET-min per SD of low CRP."""
    rng = np.random.default_rng(seed)
    crp = np.exp(rng.normal(0.7, 0.8, n))
    dose = rng.uniform(200, 1200, n)
    low_crp = -(np.log1p(crp) - np.log1p(crp).mean()) / np.log1p(crp).std()
    change = (dose / 100) * (0.3 + effect * low_crp) + rng.normal(0, 1.0, n)
    return pd.DataFrame({"change": change, "dose_met_min": dose,
                         "resistance_sessions": rng.integers(0, 3, n).astype(float),
                         "crp_mg_l": crp, "age": rng.normal(55, 10, n),
                         "bmi_kg_m2": rng.normal(27, 4, n)})


def test_model_recovers_the_sign_and_size_of_a_known_interaction():
    model = fit_outcome("vo2peak", simulated(600, effect=0.25), ["crp_mg_l", "age", "bmi_kg_m2"],
                        n_boot=100)
    assert model.skill, model.cv
    effects = model.interactions.set_index("feature")
    crp = effects.loc["crp_mg_l"]
    # Low CRP responds more: the dose x log-CRP effect is negative, about -0.25 per SD.
    assert crp["ci95_high"] < 0
    assert -0.4 < crp["effect_per_100_met_min_per_feature_sd"] < -0.12
    assert not effects.loc["age", "excludes_zero"] or abs(
        effects.loc["age", "effect_per_100_met_min_per_feature_sd"]) < 0.1
    cv = model.cv["per_model"]
    assert cv["model_rmse"]["mean"] < cv["mean_rmse"]["mean"]
    assert cv["model_rmse"]["mean"] < cv["dose_only_rmse"]["mean"]
    assert 0.7 < model.cv["calibration"]["slope"] < 1.3


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_pure_noise_reports_no_skill(seed):
    frame = simulated(300, effect=0.0, seed=seed)
    frame["change"] = np.random.default_rng(seed + 100).normal(0, 1, len(frame))
    model = fit_outcome("fatigue", frame, ["crp_mg_l", "age", "bmi_kg_m2"], n_boot=20)
    assert not model.skill, model.cv


def test_no_predictions_without_skill_and_none_for_deferred():
    noise = simulated(200, 0.0)
    noise["change"] = np.random.default_rng(9).normal(0, 1, len(noise))
    model = fit_outcome("fatigue", noise, ["crp_mg_l"], n_boot=10)
    host = pd.DataFrame({"crp_mg_l": [1.0]}, index=["A"])
    rx = {"A": {"status": "prescribed", "weekly_met_minutes": 500, "excluded": [],
                "resistance": {"sessions_per_week": 2}, "progression": []}}
    assert predictions({"fatigue": model}, host, rx).empty
    assert alternative_plans({"status": "deferred", "weekly_met_minutes": 0}) == {}


profiles = st.fixed_dictionaries({
    "platelets_10e9_l": st.none() | st.floats(5, 400),
    "hemoglobin_g_dl": st.none() | st.floats(6, 16),
    "fever": st.booleans(),
    "bone_metastases": st.sampled_from(["none", "stable", "unstable"]),
    "lvef_pct": st.none() | st.floats(20, 70),
    "vo2peak_ml_kg_min": st.none() | st.floats(8, 45),
    "in_chemotherapy": st.booleans(),
    "mvpa_min_per_week": st.none() | st.floats(0, 600),
})


@pytest.mark.slow  # a long property-based search: CI runs it
@settings(max_examples=300, deadline=None)
@given(profiles)
def test_alternative_plans_never_exceed_the_capped_prescription(profile):
    row = {"age": 60.0, "sex": "F", "hr_max_bpm": 160.0, **profile}
    rx = prescribe(pd.DataFrame([row], index=["A"]), RB, EngineSettings(dt.date(2026, 1, 5)))[0]
    plans = alternative_plans(rx)
    if rx["status"] == "deferred":
        assert plans == {}
        return
    assert {"prescribed", "half_dose"} <= set(plans) and len(set(plans.values())) == len(plans)
    for met, res in plans.values():
        assert 0 <= met <= rx["weekly_met_minutes"]
        assert 0 <= res <= resistance_sessions(rx)
        if "resistance" in rx["excluded"]:
            assert res == 0


def test_outcome_rows_with_problems_are_named_and_left_out(tmp_path):
    path = tmp_path / "outcomes.tsv"
    path.write_text("patient_id\toutcome\tbaseline\tfollow_up\tweeks\tdose_received\n"
                    "A\tvo2peak\t20\t22\t12\t600\n"
                    "A\tvo2peak\t20\t23\t12\t\n"
                    "B\tsix_mwt\t400\tfar\t12\t\n"
                    "C\tmood\t1\t2\t12\t\n"
                    "Z\tgrip\t20\t21\t12\t\n"
                    "B\tgrip\t20\t21\t0\t\n"
                    "C\tcrp\t3\t2\t12\t500\n")
    frame, problems = read_outcomes(str(path), {"A", "B", "C"})
    assert frame[["patient_id", "outcome"]].values.tolist() == [["C", "crp"]]
    assert frame["change"].tolist() == [-1.0]
    found = sorted((p.row, p.column) for p in problems)
    assert found == [(1, "outcome"), (2, "outcome"), (3, "follow_up"), (4, "outcome"),
                     (5, "patient_id"), (6, "weeks")]
    assert all(p.file == str(path) and p.fix for p in problems)


def test_report_section_shows_predictions_only_with_skill(tmp_path):
    import json

    from precex.reporting.patient import render_patient_report
    from test_reporting import write_inputs  # the sibling test module (rootdir on sys.path)

    block = {"plan_labels": {"prescribed": "the prescribed plan"},
             "outcomes": {"vo2peak": {"label": "VO2peak", "unit": "mL/kg/min",
                                      "better": "higher", "skill": True, "reason": "",
                                      "improvement": 0.07, "improvement_se": 0.02},
                          "fatigue": {"label": "FACIT-Fatigue score", "unit": "points",
                                      "better": "higher", "skill": False, "reason": "",
                                      "improvement": -0.003, "improvement_se": 0.003}},
             "predictions": [{"outcome": "vo2peak", "plan": "prescribed",
                              "weekly_met_minutes": 500.0, "resistance_sessions": 2.0,
                              "expected_change": 1.5, "interval90_low": 1.1,
                              "interval90_high": 1.9}]}
    research = tmp_path / "research.json"
    research.write_text(json.dumps({"P1": block}))
    inputs = write_inputs(tmp_path)
    html = render_patient_report(*inputs, str(research))
    section = html[html.index('id="responder-model"'):html.index('id="monitoring"')]
    assert "hypothesis-generating" in section and "the prescribed plan" in section
    assert "+1.50" in section and "+1.10 to +1.90" in section
    fatigue = section[section.index("FACIT-Fatigue"):section.index("<h3>VO2peak")]
    assert "no skill over the null model" in fatigue and "<table>" not in fatigue
    assert 'id="responder-model"' not in render_patient_report(*inputs)  # not research mode


def test_model_frame_with_a_wide_host_table_raises_no_fragmentation_warning():
    """A real host profile has hundreds of feature columns: adding the dose columns one by one
    to the joined frame fragmented it (pandas PerformanceWarning in every research job)."""
    import warnings

    import numpy as np
    import pandas as pd
    from precex.research.stage import model_frame

    ids = [f"P{i:03d}" for i in range(40)]
    host = pd.DataFrame(index=pd.Index(ids, name="patient_id"))
    with warnings.catch_warnings():  # built column by column, as the host profile's is
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        for i in range(150):
            host[f"f{i}"] = float(i)
    outcomes = pd.DataFrame({"patient_id": ids, "outcome": "vo2peak", "change": 1.0,
                             "weeks": 12.0, "dose_received": [np.nan, 500.0] * 20,
                             "resistance_received": np.nan})
    prescribed = pd.DataFrame({"patient_id": ids, "weekly_met_minutes": "450",
                               "resistance_sessions_per_week": "2"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = model_frame(outcomes, host, prescribed)
    assert frame["dose_met_min"].tolist() == [450.0, 500.0] * 20
    assert frame["dose_source"].tolist() == ["prescribed", "dose_received"] * 20
    assert (frame["resistance_sessions"] == 2).all()
