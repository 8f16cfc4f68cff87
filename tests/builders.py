"""Shared builders for tests: the bundled rule base, the demo's reference date, an ordinary
patient's profile row and the prescriptions the engine writes for rows like it.

Loaded once per test process (the rule base takes about 0.1 s to load and check), imported by
name (`from builders import RB, prescription`) as tests/ is on sys.path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
from precex.paths import resource_path
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.rules import RuleBase, load_rulebase
from precex.rule_features import rule_features

REF = dt.date(2026, 1, 5)  # the demo cohort's reference date
RULEBASE_PATH = str(resource_path("rules", "rulebase.yaml"))
RB: RuleBase = load_rulebase(RULEBASE_PATH, rule_features())
# An ordinary patient with no safety finding: the base that tests change one field of.
ORDINARY = {"age": 55.0, "sex": "F", "hr_max_bpm": 170.0, "fitness_category": "good",
            "mvpa_min_per_week": 200.0, "in_chemotherapy": False}


def patient_row(**changes: Any) -> dict[str, Any]:
    """The ordinary patient's profile row with `changes` applied."""
    return {**ORDINARY, **changes}


def prescribe_rows(rows: Sequence[dict[str, Any]], ids: Sequence[str] | None = None,
                   rulebase: RuleBase = RB, **settings: Any) -> list[dict[str, Any]]:
    """The engine's prescriptions for profile rows (ids P1, P2, ... unless given)."""
    index = list(ids) if ids is not None else [f"P{i + 1}" for i in range(len(rows))]
    return prescribe(pd.DataFrame(list(rows), index=index), rulebase,
                     EngineSettings(settings.pop("reference_date", REF), **settings))


def prescription(**changes: Any) -> dict[str, Any]:
    """The prescription of the ordinary patient with `changes` (patient id 'A')."""
    return prescribe_rows([patient_row(**changes)], ids=["A"])[0]


def json_paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) in a JSON document, containers included."""
    yield prefix, doc
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from json_paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from json_paths(value, (*prefix, i))


def excluded_words(p: dict[str, Any]) -> list[str]:
    """The aerobic modes (as the patient reads them) and exercises the plan's exclusions rule
    out: none may appear in anything the patient reads."""
    from precex.prescription.plan import AEROBIC_MODES, EXERCISES

    excluded = set(p["excluded"])
    return ([words for _, ruled_out, _, words in AEROBIC_MODES if ruled_out & excluded]
            + [name for name, _, ruled_out in EXERCISES if ruled_out & excluded])


def what_the_patient_reads(handout_html: str, calendar: str) -> str:
    """The sessions and strength exercises of a handout, and the calendar's event titles."""
    import re

    sessions = re.search(r'<table id="handout-sessions">(.*?)</table>', handout_html, re.S)
    strength = re.search(r"<h2>Your strength exercises</h2><p>(.*?)</p>", handout_html, re.S)
    read = " ".join(m.group(1) for m in (sessions, strength) if m)
    unfolded = calendar.replace("\r\n ", "")
    return read + " " + " ".join(re.findall(r"^SUMMARY:(.*)$", unfolded, re.M))


def ehr_row(folder: Any, bundle: dict[str, Any], reference: dt.date) -> pd.Series:
    """Patient E9's validated sheet row read with an EHR bundle (written to `folder`), from a
    sheet that gives only ID, age, sex and an empty history."""
    import json

    from precex.clinical.validate_stage import read_sheet_with_ehr

    sheet = folder / "sheet.tsv"
    sheet.write_text("patient_id\tage\tsex\tcomorbidities\nE9\t66\tF\t\n", encoding="utf-8")
    path = folder / "ehr.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return read_sheet_with_ehr(str(sheet), str(path), reference.isoformat()).patients.loc["E9"]
