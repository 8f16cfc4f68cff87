"""Knowledge as data (issue 38): the intensity classes live in resources/prescription and every
reader (plan, report, handout) takes them from there, each row with its source."""

from __future__ import annotations

import csv

from precex.paths import resource_path
from precex.prescription.plan import INTENSITY_TABLE, RESERVE_BANDS, heart_rate_band
from precex.reporting.handout import EFFORT


def _rows() -> list[dict[str, str]]:
    with open(resource_path("prescription", "intensity.tsv"), encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_every_intensity_class_has_its_source_and_ordered_bands():
    rows = _rows()
    assert [r["intensity"] for r in rows] == ["light", "moderate", "vigorous"]
    assert all(r["source"].strip() for r in rows)
    for low, high in zip(rows, rows[1:], strict=False):  # classes do not overlap
        for band in ("pct_hr_max", "pct_hrr", "rpe", "pct_1rm"):
            assert int(low[f"{band}_high"]) < int(high[f"{band}_low"]), band


def test_the_handout_and_the_plan_read_the_same_rpe():
    """The report shows the plan's RPE; the handout's effort scale is the same range (it said
    '14 to 16' for vigorous while the report said 14-17)."""
    for name, row in INTENSITY_TABLE.items():
        assert EFFORT[name]["scale"] == f"{row['rpe'][0]} to {row['rpe'][1]}"
        assert EFFORT[name]["words"] == row["effort_words"]


def test_the_heart_rate_reserve_band_comes_from_the_table():
    for name, row in INTENSITY_TABLE.items():
        assert RESERVE_BANDS[name] == row["pct_hrr"]
    low, high = INTENSITY_TABLE["moderate"]["pct_hrr"]
    assert heart_rate_band(180, 60, "moderate") == [round(60 + 120 * low / 100),
                                                    round(60 + 120 * high / 100)]


def test_one_restriction_vocabulary_with_both_wordings():
    """Every restriction the rule base may set is in the one table with a clinician's and a
    patient's wording, and the schemas list exactly those codes."""
    from precex.config import load_yaml
    from precex.paths import schema_path
    from precex.prescription.restrictions import RESTRICTIONS

    rulebase = load_yaml(schema_path("rulebase.schema.yaml"))["$defs"]["excludable"]["enum"]
    prescription = load_yaml(schema_path("prescription.schema.yaml"))
    excluded = prescription["properties"]["excluded"]["items"]["enum"]
    assert set(rulebase) == set(excluded) == set(RESTRICTIONS)
    for code, words in RESTRICTIONS.items():
        assert words["clinician"] and words["patient"], code
        assert "_" not in words["patient"], code  # a patient never reads a code


def test_aerobic_modes_name_the_restrictions_that_rule_them_out():
    from precex.prescription.plan import AEROBIC_MODES, aerobic_modes
    from precex.prescription.restrictions import RESTRICTIONS

    for mode, ruled_out_by, _, words in AEROBIC_MODES:
        assert ruled_out_by <= set(RESTRICTIONS) and words, mode
    no_walking = {"weight_bearing_cardio"}
    assert "water-based exercise (pool)" in aerobic_modes(no_walking, "moderate")
    assert "water-based exercise (pool)" not in aerobic_modes(no_walking | {"water_exposure"},
                                                              "moderate")
    assert "water-based exercise (pool)" not in aerobic_modes(no_walking | {"public_facilities"},
                                                              "moderate")


def test_the_patient_reads_the_precautions_that_concern_them():
    """Insulin, a line, lymphoedema, a blood thinner: the handout and the calendar carry the
    precaution in plain words, from resources/prescription/precautions.tsv; a patient without
    those codes reads none of them."""
    from builders import prescription as prescription_for
    from precex.reporting.handout import PRECAUTIONS, render_handout, session_calendar

    p = prescription_for(comorbidities="insulin;central_line;lymphoedema;anticoagulation")
    html = render_handout(p)
    calendar = session_calendar(p).decode()
    for code in ("insulin", "central_line", "lymphoedema", "anticoagulation"):
        assert PRECAUTIONS[code] in html, code
        assert PRECAUTIONS[code].split(",")[0] in calendar.replace("\r\n ", ""), code
    plain = render_handout(prescription_for(comorbidities="hypertension"))
    assert not any(text in plain for text in PRECAUTIONS.values())


def test_the_review_document_shows_every_rule_and_every_row():
    """The clinician review document (precex knowledge) is rendered from the data: every rule
    with its condition, grade and source, every row of every knowledge table, every context
    trigger."""
    import html as html_lib

    import yaml
    from precex.reporting.knowledge import TABLES, knowledge_document

    document = html_lib.unescape(knowledge_document())
    rules = yaml.safe_load(resource_path("rules", "rulebase.yaml").read_text())["rules"]
    for rule in rules:
        assert f"rule-{rule['id']}" in document and rule["title"] in document, rule["id"]
        assert rule["citation"] in document, rule["id"]
    for _, parts, _ in TABLES:
        with open(resource_path(*parts), encoding="utf-8") as handle:
            for row in list(csv.reader(handle, delimiter="\t"))[1:]:
                assert row[0] in document, (parts, row[0])
    context = yaml.safe_load(resource_path("clinical", "context_rules.yaml").read_text())
    for lists in context["triggers"].values():
        for phrases in lists.values():
            assert all(p in document for p in phrases)


def test_the_shipped_review_document_matches_the_data():
    """resources/docs/knowledge.html is what a clinician signed off; it must be the document
    the current data renders. After changing a rule or a table, review the change and write it
    again: `precex knowledge --out resources/docs`."""
    from precex.reporting.knowledge import knowledge_document

    shipped = resource_path("docs", "knowledge.html").read_text(encoding="utf-8")
    assert shipped == knowledge_document(), (
        "resources/docs/knowledge.html is out of date: run `precex knowledge --out "
        "resources/docs` and have the change reviewed")


def test_the_review_document_prints_to_pdf(tmp_path):
    import shutil

    import pytest
    from precex.cli import main

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("Chromium is not installed (CI installs it)")
    assert main(["knowledge", "--out", str(tmp_path), "--pdf"]) == 0
    assert (tmp_path / "knowledge.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "knowledge.html").read_text() == resource_path(
        "docs", "knowledge.html").read_text()


def test_derived_flags_are_rule_base_data_and_match_their_former_code():
    """cachexia, frail_older_adult and hr_guidance_unreliable moved from Python
    (profile/safety_inputs.py) into the rule base's derived section; over generated patients
    the data gives what the code gave (the former expressions, kept here as the reference)."""
    import numpy as np
    import pandas as pd
    from builders import RB
    from precex.profile.safety_inputs import with_safety_inputs

    assert [d.feature for d in RB.derived] == ["cachexia", "frail_older_adult",
                                               "hr_guidance_unreliable"]
    rng = np.random.default_rng(7)
    n = 400

    def maybe(values):
        return [None if rng.random() < 0.2 else v for v in values]

    codes = ["", "falls", "beta_blocker", "atrial_fibrillation;falls", "pacemaker",
             "rate_control", "hypertension"]
    frame = pd.DataFrame({
        "age": rng.integers(40, 95, n).astype(float),
        "bmi_kg_m2": maybe(rng.uniform(15, 35, n).round(1)),
        "weight_loss_pct": maybe(rng.uniform(0, 10, n).round(1)),
        "albumin_g_l": maybe(rng.uniform(25, 50, n).round(0)),
        "gait_speed_m_s": maybe(rng.uniform(0.4, 1.6, n).round(2)),
        "chair_stand_s": maybe(rng.uniform(8, 25, n).round(1)),
        "sarcopenia": rng.choice(["none", "probable", "confirmed", "severe", "unknown"], n),
        "comorbidities": rng.choice(codes, n),
        "hemoglobin_g_dl": maybe(rng.uniform(6, 15, n).round(1)),
    }, index=[f"P{i}" for i in range(n)])
    f = RB.derive(with_safety_inputs(frame))
    num = {c: pd.to_numeric(f[c], errors="coerce") for c in (
        "bmi_kg_m2", "weight_loss_pct", "albumin_g_l", "age", "gait_speed_m_s",
        "chair_stand_s", "hemoglobin_g_dl")}
    has = {c: f["comorbidities"].str.split(";").map(lambda xs, c=c: c in xs)
           for c in ("falls", "beta_blocker", "rate_control", "atrial_fibrillation",
                     "pacemaker")}
    cachexia = ((num["bmi_kg_m2"] < 18.5) | (num["weight_loss_pct"] > 5)
                | ((num["bmi_kg_m2"] < 20) & (num["weight_loss_pct"] > 2))
                | (num["albumin_g_l"] < 35))
    slow = (num["gait_speed_m_s"] <= 0.8) | (num["chair_stand_s"] > 15)
    at_risk = slow | f["sarcopenia"].isin(["probable", "confirmed", "severe"]) | has["falls"]
    frail = (num["age"] >= 80) | ((num["age"] >= 70) & at_risk)
    unreliable = (has["beta_blocker"] | has["rate_control"] | has["atrial_fibrillation"]
                  | has["pacemaker"] | (num["hemoglobin_g_dl"] < 8)
                  | f["resting_hr_state"].eq("rejected"))
    for name, expected in (("cachexia", cachexia), ("frail_older_adult", frail),
                           ("hr_guidance_unreliable", unreliable)):
        assert (f[name].astype(bool).to_numpy() == expected.to_numpy()).all(), name
        assert 0 < expected.sum() < n, name  # both outcomes are exercised


def test_the_progression_and_the_stop_signs_come_from_their_tables():
    """The ramps, the infusion recovery days and the stop signs are data: the plan and the
    handout read resources/prescription/progression.yaml and stop_signs.tsv."""
    import datetime as dt

    import yaml
    from precex.prescription.plan import RECOVERY_DAYS, WEEKS, progression_plan, weekly_schedule
    from precex.reporting.handout import STOP_SIGNS

    data = yaml.safe_load(resource_path("prescription", "progression.yaml").read_text())
    aerobic = {"sessions_per_week": 3, "minutes_per_session": 60, "intensity": "moderate"}
    for slow, pace in ((False, data["standard"]), (True, data["slow"])):
        weeks = progression_plan(aerobic, None, slow)
        assert len(weeks) == WEEKS == data["weeks"]
        first = weeks[0]["aerobic"]["minutes_per_session"]
        assert first == 5 * round(60 * pace["start_fraction"] / 5)
        target_week = pace["weeks_to_target"]
        assert weeks[target_week - 1]["aerobic"]["minutes_per_session"] == 60
        assert weeks[target_week - 2]["aerobic"]["minutes_per_session"] < 60
    day0 = dt.date(2026, 1, 5)
    schedule = weekly_schedule({"days_to_next_infusion": 1.0}, aerobic, None, [], day0)
    recovering = [d["date"] for d in schedule if d.get("note")]
    assert len(recovering) == RECOVERY_DAYS + 1 == data["infusion_recovery_days"] + 1
    with open(resource_path("prescription", "stop_signs.tsv"), encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert STOP_SIGNS == [r["sign"] for r in rows] and all(r["source"] for r in rows)


def test_precex_writes_owner_only_by_default(tmp_path, monkeypatch):
    """Issue 39: results, logs and sign-off notes were written 0644 under the default umask.
    precex's commands add 077 to the umask (027 with PRECEX_SHARED_GROUP=1) for everything they
    and their child processes write."""
    import os
    import stat

    from precex.cli import main, private_umask

    old = os.umask(0o022)
    try:
        monkeypatch.delenv("PRECEX_SHARED_GROUP", raising=False)
        assert main(["knowledge", "--out", str(tmp_path / "a")]) == 0
        assert stat.S_IMODE((tmp_path / "a" / "knowledge.html").stat().st_mode) == 0o600
        os.umask(0o022)
        monkeypatch.setenv("PRECEX_SHARED_GROUP", "1")
        assert private_umask() == 0o027
    finally:
        os.umask(old)
