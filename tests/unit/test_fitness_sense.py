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


def test_the_habitual_activity_rule_is_read_from_the_rule_base(tmp_path):
    """PLAN_HABITUAL_ACTIVITY's cap and minute weighting are data: a rule base that caps the
    kept volume at 200 min/week gives about 100 vigorous minutes (3 sessions of 35: whole
    5-minute steps), and one without the rule keeps the vigorous option's 75."""
    import yaml
    from builders import RULEBASE_PATH, patient_row, prescribe_rows
    from precex.prescription.rules import load_rulebase
    from precex.rule_features import rule_features

    data = yaml.safe_load(open(RULEBASE_PATH, encoding="utf-8"))
    rule = next(r for r in data["rules"] if r["id"] == "PLAN_HABITUAL_ACTIVITY")
    row = patient_row(mvpa_min_per_week=385.0, fitness_category="good", age=40.0)

    def weekly(rules: list) -> int:
        path = tmp_path / "rulebase.yaml"
        path.write_text(yaml.safe_dump({**data, "rules": rules}), encoding="utf-8")
        aerobic = prescribe_rows([row], rulebase=load_rulebase(str(path), rule_features()))[0][
            "aerobic"]
        return aerobic["sessions_per_week"] * aerobic["minutes_per_session"]

    assert weekly(data["rules"]) == 150  # the bundled cap: 300 moderate-equivalent minutes
    rule["effect"]["keep_habitual_activity"]["max_min_per_week"] = 200
    assert 100 <= weekly(data["rules"]) <= 105  # 100 vigorous minutes, in 5-minute sessions
    assert weekly([r for r in data["rules"] if r["id"] != "PLAN_HABITUAL_ACTIVITY"]) == 75
