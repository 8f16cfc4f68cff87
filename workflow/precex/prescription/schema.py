"""The prescription document: its JSON schema, a check of every prescription precex writes,
and a validated read for the stages that take a prescription back in (weekly adaptation,
sign-off). A file that is not valid JSON, or not a precex prescription (hand-edited,
truncated, from another version), is an error naming the file and what is wrong, never a
traceback and never a silently trusted dose.

Validation is two-step (precex.io.schema_check): jsonschema-rs (~0.02 ms a prescription)
decides, jsonschema words the errors of an invalid document."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, cast

from precex.config import load_yaml
from precex.io.schema_check import SchemaCheck
from precex.paths import schema_path
from precex.prescription.model import Prescription
from precex.problems import InputError, Problem

# The errors shown for one file: enough to see the kind of damage, not a page of them.
ERRORS_SHOWN = 5


@cache
def _schema() -> dict[str, Any]:
    return load_yaml(schema_path("prescription.schema.yaml"))


@cache
def prescription_validator() -> SchemaCheck:
    """Built once per process: parsing the schema YAML per patient cost 65 ms a prescription."""
    return SchemaCheck(_schema())


def schema_errors(data: Any) -> list[Any]:
    """Every way `data` breaks the prescription schema (jsonschema errors); none if valid."""
    return list(prescription_validator().iter_errors(data))


def check_prescription(data: dict[str, Any]) -> None:
    """Raise when a prescription precex is about to write breaks its own contract (a bug)."""
    errors = schema_errors(data)
    if errors:
        raise ValueError("the prescription breaks its schema: " + "; ".join(
            f"{e.message} (at {'/'.join(map(str, e.absolute_path)) or 'top level'})"
            for e in errors[:ERRORS_SHOWN]))


def typed_prescription(document: dict[str, Any]) -> Prescription:
    """A prescription the engine has just built, as the typed model: the schema check is what
    makes it one (a bug raises here, before anything is written)."""
    check_prescription(document)
    return cast(Prescription, document)


def read_prescription(path: str, stage: str, patient_id: str | None = None) -> Prescription:
    """The prescription in `path`, checked against the schema; InputError otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError([Problem(path, f"cannot be read as JSON ({err}).",
                                  "give a prescription written by precex (run `precex run` "
                                  "again to rewrite it).", patient_id=patient_id,
                                  stage=stage)]) from None
    errors = schema_errors(data)
    if errors:
        raise InputError([Problem(path, f"not a precex prescription: {e.message} (at "
                                  f"{'/'.join(map(str, e.absolute_path)) or 'top level'}).",
                                  "give a results/prescriptions/<patient>.json file written by "
                                  "precex (run `precex run` again to rewrite it).",
                                  patient_id=patient_id, stage=stage)
                          for e in errors[:ERRORS_SHOWN]])
    return cast(Prescription, data)  # checked against the schema the model is made from
