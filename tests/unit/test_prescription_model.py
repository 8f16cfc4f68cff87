"""The typed prescription model (issue 43): generated from the prescription schema, it
declares every key the engine, the weekly adaptation and sign-off write, and mypy checks the
modules that read or build a prescription against it."""

from __future__ import annotations

import datetime as dt
import types
import typing
from pathlib import Path
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

import pytest
from builders import RB, REF, patient_row, prescribe_rows
from mypy import api
from precex.adaptation.engine import adapt
from precex.config import load_yaml
from precex.paths import schema_path
from precex.prescription import model
from precex.prescription.model_gen import MODEL_PATH, generate_model
from precex.prescription.signoff import prescription_digest, signoff_block, with_signoff

REPO = Path(__file__).resolve().parents[2]
TYPED_DICTS = {name: value for name, value in vars(model).items()
               if isinstance(value, type) and typing.is_typeddict(value)}


def test_the_shipped_model_is_what_the_schema_generates():
    shipped = MODEL_PATH.read_text(encoding="utf-8")
    assert shipped == generate_model(load_yaml(schema_path("prescription.schema.yaml"))), (
        "model.py is out of date: run `python -m precex.prescription.model_gen --write`")


def _conform(value: Any, hint: Any, where: str, problems: list[str]) -> None:
    """Every key of `value` declared by the TypedDict `hint`, every required key present, and
    each value of its declared type (recursively): the model describes what precex writes."""
    origin = get_origin(hint)
    if origin in (Required, NotRequired):
        hint = get_args(hint)[0]
        origin = get_origin(hint)
    if hint is Any:
        return
    if origin in (Union, types.UnionType):
        trials = []
        for option in get_args(hint):
            found: list[str] = []
            _conform(value, option, where, found)
            if not found:
                return
            trials.append(found)
        problems.append(f"{where}: {value!r:.60} is none of {hint}: {trials[0][:1]}")
        return
    if origin is Literal:
        if value not in get_args(hint):
            problems.append(f"{where}: {value!r} is not one of {get_args(hint)}")
        return
    if hint is type(None):
        if value is not None:
            problems.append(f"{where}: expected null")
        return
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object")
            return
        hints = typing.get_type_hints(hint, include_extras=True)
        problems += [f"{where}.{key}: not declared in {hint.__name__} (add it to the schema)"
                     for key in value if key not in hints]
        problems += [f"{where}.{key}: required by {hint.__name__} but absent"
                     for key in hint.__required_keys__ if key not in value]
        for key, item in value.items():
            if key in hints:
                _conform(item, hints[key], f"{where}.{key}", problems)
        return
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list")
            return
        for i, item in enumerate(value):
            _conform(item, get_args(hint)[0], f"{where}[{i}]", problems)
        return
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object")
            return
        for key, item in value.items():
            _conform(item, get_args(hint)[1], f"{where}.{key}", problems)
        return
    kinds = {float: (int, float), int: (int,), str: (str,), bool: (bool,)}[hint]
    if not isinstance(value, kinds) or (hint is not bool and isinstance(value, bool)):
        problems.append(f"{where}: {value!r:.40} is not {hint.__name__}")


def _problems(document: dict[str, Any]) -> list[str]:
    found: list[str] = []
    _conform(document, model.Prescription, "prescription", found)
    return found


def _documents() -> list[tuple[str, dict[str, Any]]]:
    """A baseline of every shape the engine writes (prescribed with heart-rate or RPE
    guidance, clearance, deferred, infusions on the calendar), an adapted week and a week
    stopped for a red flag, and a signed prescription."""
    rows = [patient_row(), patient_row(resting_hr=62.0, beta_blocker=True),
            patient_row(platelets_10e9_l=15.0), patient_row(fever=True),
            patient_row(in_chemotherapy=True, next_infusion_date="2026-01-07",
                        cycle_length_days=21, lymphedema=True),
            patient_row(bone_metastases=True, bone_sites="spine")]
    plans = prescribe_rows(rows)
    documents = [(f"baseline {p['patient_id']} ({p['status']})", p) for p in plans]
    through = REF + dt.timedelta(days=7)
    good = {"followup_days": 7, "valid_days": 7, "aerobic_adherence_pct": 95.0}
    documents.append(("adapted week", adapt(plans[0], good, RB, through)))
    stop = {**good, "red_flags": "chest pain (2026-01-08)", "red_flag_chest_pain": True}
    documents.append(("stopped week", adapt(plans[0], stop, RB, through)))
    digest = prescription_digest(plans[1])
    block = signoff_block({"decision": "approve", "signed_by": "dr_a", "note": "seen",
                           "signed_at": "2026-01-05T10:00:00+00:00",
                           "prescription_digest": digest}, digest)
    documents.append(("signed", with_signoff(plans[1], block)))
    return documents


@pytest.mark.parametrize(("what", "document"), _documents(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_the_model_declares_every_key_precex_writes(what, document):
    assert _problems(document) == []


def test_the_conformance_check_finds_an_undeclared_key_and_a_wrong_value():
    document = prescribe_rows([patient_row()])[0]
    broken = {**document, "surprise": 1, "status": "maybe",
              "aerobic": {**document["aerobic"], "sessions_per_week": "three"}}
    found = "\n".join(_problems(broken))
    assert "prescription.surprise: not declared" in found
    assert "prescription.status: 'maybe' is not one of" in found
    assert "sessions_per_week" in found


def test_empty_reads_as_an_empty_mapping_and_cannot_be_filled():
    assert dict(model.EMPTY) == {} and model.EMPTY.get("x") is None
    with pytest.raises(TypeError):
        model.EMPTY["x"] = 1  # type: ignore[index]
    copy = dict(model.EMPTY)
    copy["x"] = 1  # a copy is an ordinary dict
    assert model.EMPTY == {}


def test_mypy_checks_the_modules_that_read_or_build_a_prescription(tmp_path, monkeypatch):
    """The pyproject's [tool.mypy] files: the model and the modules reading prescriptions."""
    monkeypatch.chdir(REPO)  # the configuration's paths are the repository's
    out, err, status = api.run(["--config-file", str(REPO / "pyproject.toml"),
                                "--cache-dir", str(tmp_path / "cache")])
    assert status == 0, out + err


def test_mypy_would_catch_a_key_the_schema_does_not_declare(tmp_path, monkeypatch):
    """The check is not vacuous: a module reading an undeclared key fails it."""
    monkeypatch.chdir(REPO)
    wrong = tmp_path / "wrong.py"
    wrong.write_text("from precex.prescription.model import Prescription\n\n\n"
                     "def f(p: Prescription) -> object:\n    return p['aerobik']\n")
    out, err, status = api.run([str(wrong), "--config-file", str(REPO / "pyproject.toml"),
                                "--cache-dir", str(tmp_path / "cache"), "--follow-imports",
                                "silent"])
    assert status == 1 and "aerobik" in out, out + err
    assert len(TYPED_DICTS) >= 20  # one per object of the schema
