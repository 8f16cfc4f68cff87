"""Fitness read with sense (issue 38): an implausible peak is not used to rate fitness, and a
very active patient with the vigorous option keeps their habitual volume."""

from __future__ import annotations

from builders import prescription


def test_a_peak_that_function_contradicts_is_not_used_to_rate_fitness():
    """VO2peak 52 at 78 with a 0.6 m/s gait and a 210 m walk reached vigorous from week 3; the
    same peak with a normal gait and walk is used as before."""
    frail = prescription(vo2peak_ml_kg_min=52.0, age=78.0, gait_speed_m_s=0.6, six_mwt_m=210.0,
                         fitness_category="good", mvpa_min_per_week=200.0)
    weeks = {w["aerobic"]["intensity"] for w in frail["progression"] if w.get("aerobic")}
    assert "vigorous" not in weeks and frail["aerobic"]["intensity"] != "vigorous"
    assert any("VO2peak 52" in d and "implausible" in d for d in frail["data_issues"])
    fit = prescription(vo2peak_ml_kg_min=52.0, age=40.0, gait_speed_m_s=1.4, six_mwt_m=650.0,
                       fitness_category="good", mvpa_min_per_week=200.0)
    assert fit["aerobic"]["intensity"] == "vigorous"
    assert not any("implausible" in d for d in fit["data_issues"])


def test_a_very_active_patient_keeps_their_volume_with_the_vigorous_option():
    """385 min a week: the vigorous option (3 x 25 min = 150 moderate-equivalent) rises to the
    habitual 300 moderate-equivalent minutes (150 vigorous), never below habitual activity."""
    p = prescription(mvpa_min_per_week=385.0, fitness_category="good", age=40.0)
    aerobic = p["aerobic"]
    assert aerobic["intensity"] == "vigorous"
    assert aerobic["sessions_per_week"] * aerobic["minutes_per_session"] * 2 >= 300
    applied = {t["rule_id"] for t in p["trace"] if t.get("applied")}
    assert {"MOD_ALREADY_ACTIVE_VIGOROUS", "PLAN_HABITUAL_ACTIVITY"} <= applied
    below = prescription(mvpa_min_per_week=160.0, fitness_category="good", age=40.0)
    assert below["aerobic"]["sessions_per_week"] * below["aerobic"]["minutes_per_session"] == 75
