"""The vignettes of tests/vignettes.py through every stage's code in-process (the same readers
and TSV hand-offs as the pipeline: sheet -> clinical, blood, wearables -> profile ->
prescription); tests/e2e/test_vignettes_pipeline.py runs them through Snakemake."""

from __future__ import annotations

import pandas as pd
import pytest
from precex.blood.markers import blood_features
from precex.blood.stage import read_blood_input
from precex.clinical.features import clinical_features
from precex.clinical.sheet import read_patient_sheet
from precex.clinical.validated import read_validated, write_validated
from precex.io.tables import write_features
from precex.paths import resource_path
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.rules import load_rulebase
from precex.profile.host import merge_modalities
from precex.profile.stage import _read
from precex.rule_features import rule_features
from precex.wearables.features import wearable_features
from vignettes import REF, VIGNETTES, check_vignette, write_inputs


@pytest.fixture(scope="module")
def prescriptions(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vignettes")
    sheet_path, blood_path, wear_path = write_inputs(tmp)
    sheet = read_patient_sheet(sheet_path, reference_date=REF)
    assert not [p for p in sheet.problems if p.excludes], sheet.problems  # nobody excluded
    write_validated(tmp / "validated.tsv", sheet.patients)
    validated = read_validated(tmp / "validated.tsv")
    write_features(tmp / "clinical.tsv", clinical_features(validated, REF))
    long, _ = read_blood_input(str(blood_path))
    blood = blood_features(long, str(blood_path), REF, 90, validated["age"])
    write_features(tmp / "blood.tsv.out", blood.markers)
    daily = pd.read_csv(wear_path, sep="\t", dtype=str)
    wear, _ = wearable_features(daily, str(wear_path), REF, set(validated.index))
    write_features(tmp / "wearables.out", wear)
    tables = {"blood": _read(str(tmp / "blood.tsv.out")),
              "clinical": _read(str(tmp / "clinical.tsv")),
              "wearables": _read(str(tmp / "wearables.out"))}
    flat = merge_modalities(validated, tables)
    rulebase = load_rulebase(str(resource_path("rules", "rulebase.yaml")), rule_features())
    return {p["patient_id"]: p for p in prescribe(flat, rulebase, EngineSettings(REF))}


@pytest.mark.parametrize("pid", sorted(VIGNETTES))
def test_vignette_gets_the_expected_decision(prescriptions, pid):
    check_vignette(pid, prescriptions[pid])


def test_high_triage_is_never_prescribed_without_clearance(prescriptions):
    for p in prescriptions.values():
        assert not (p["triage"] == "high" and p["status"] == "prescribed"), p["patient_id"]


def test_at_least_forty_vignettes():
    assert len(VIGNETTES) >= 40


def test_every_vignette_plan_is_coherent_at_baseline_and_for_three_weeks(prescriptions):
    """The coherence check holds for every vignette's baseline plan and for the weekly plans
    the engine prescribes from it: a completed week, a missed one, then a red flag."""
    import datetime as dt

    from precex.adaptation.engine import WeekInput, prescribe_weeks
    from precex.prescription.coherence import coherence_problems

    rulebase = load_rulebase(str(resource_path("rules", "rulebase.yaml")), rule_features())
    weeks = [{"followup_days": 7, "valid_days": 7, "aerobic_adherence_pct": 100.0},
             {"followup_days": 7, "valid_days": 7, "aerobic_adherence_pct": 10.0,
              "weeks_missed": 1},
             {"followup_days": 7, "valid_days": 7, "aerobic_adherence_pct": 90.0,
              "symptom_fever": True, "red_flags": "fever on 2026-01-25"}]
    plans = dict(prescriptions)
    for pid, plan in plans.items():
        assert coherence_problems(plan) == [], pid
    for number, features in enumerate(weeks, start=1):
        through = REF + dt.timedelta(days=7 * number)
        plans = prescribe_weeks({pid: WeekInput(plan, features, through)
                                 for pid, plan in plans.items()}, rulebase)
        for pid, plan in plans.items():
            assert coherence_problems(plan) == [], (pid, number)
            assert plan["adaptation"]["week"] == number
    assert all(p["adaptation"]["decision"] == "stop" and p["this_week"] is None
               for p in plans.values())


def test_no_excluded_mode_or_exercise_reaches_what_the_patient_reads(prescriptions):
    """Over every vignette: the sessions and strength exercises of the handout and the
    calendar name no aerobic mode and no exercise that the plan's exclusions rule out."""
    from builders import excluded_words, what_the_patient_reads
    from precex.reporting.handout import render_handout, session_calendar

    checked = 0
    for pid, p in prescriptions.items():
        banned = excluded_words(p)
        read = what_the_patient_reads(render_handout(p), session_calendar(p).decode())
        for words in banned:
            assert words.lower() not in read.lower(), (pid, words)
        checked += bool(banned)
    assert checked >= 10  # vignettes with exclusions that rule modes or exercises out
