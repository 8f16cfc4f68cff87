"""FHIR R4 input, read one way by every reader (blood, clinical context, wearables): a Bundle
of any type, a single resource, or bulk-data NDJSON (one resource per line, gzip or not),
each resource with its entry or line number; the patient a resource is about; codes and
words of a CodeableConcept. A file that is none of these is an InputError naming the file,
the line and the fix, never a traceback."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from precex.io.files import InputTooLarge, input_limits, open_input
from precex.problems import InputError, Problem

NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl")


@dataclass(frozen=True)
class Entry:
    """One resource of a FHIR file: its entry (Bundle) or line (NDJSON) number, the entry's
    fullUrl (None in NDJSON) and the resource (an empty dict when the entry holds none)."""

    number: int
    full_url: str | None
    resource: dict[str, Any]


def is_ndjson(path: str) -> bool:
    if not path.lower().endswith(NDJSON_SUFFIXES):
        return False
    with open_input(path) as handle:  # a .ndjson.gz is read through its compression
        head = handle.read(512).lstrip()
    return head.startswith(b"{")


def is_fhir_json(path: str) -> bool:
    """A FHIR JSON resource (Bundle) or bulk-export NDJSON."""
    if is_ndjson(path):
        return True
    with open_input(path) as handle:
        head = handle.read(2048).lstrip()
    return head.startswith(b"{") and b'"resourceType"' in head


def _bounded_json(text: str) -> Any:
    """json.loads, refusing a document nested deeper than the bound (RecursionError): the
    parser's own limit (about 1,000 levels) still lets through documents that make later
    recursive code fail. The depth is measured without recursion."""
    document = json.loads(text)  # raises RecursionError itself past about 1,000 levels
    limit = input_limits()["max_json_depth"]
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise RecursionError
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return document


@contextlib.contextmanager
def _read_errors(path: str, stage: str, fix: str) -> Iterator[None]:
    """A file beyond the input bounds, or one that cannot be read, as an input problem."""
    try:
        yield
    except InputTooLarge as err:
        raise _fail(path, f"is beyond precex's input bounds: it {err}.", "give the export as "
                    "written; if it is real, raise the bound in resources/limits.yaml.",
                    stage) from None
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise _fail(path, f"cannot be read ({err}).", fix, stage) from None


def _fail(path: str, message: str, fix: str, stage: str, row: int | None = None) -> InputError:
    return InputError([Problem(path, message, fix, row=row, stage=stage)])


def _ndjson(path: str, lines: Iterable[str], stage: str) -> Iterator[Entry]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            resource = _bounded_json(line)
        except RecursionError:
            raise _fail(path, f"line {number} nests deeper than "
                        f"{input_limits()['max_json_depth']} levels (FHIR resources nest "
                        "about 10).", "give the export as written.", stage, number) from None
        except json.JSONDecodeError as err:
            raise _fail(path, f"line {number} is neither a FHIR Bundle nor an NDJSON resource "
                        f"(not JSON: {err.msg}).", "give a FHIR R4 Bundle (JSON) or bulk-data "
                        "NDJSON (one resource per line).", stage, number) from None
        if not isinstance(resource, dict) or "resourceType" not in resource:
            raise _fail(path, f"line {number} has no resourceType.",
                        "give FHIR resources, one per line.", stage, number)
        yield Entry(number, None, resource)


def fhir_entries(path: str, stage: str) -> Iterator[Entry]:
    """Every resource of a Bundle, a single resource or an NDJSON file, in file order."""
    name = os.path.basename(path)
    limits = input_limits()
    if is_ndjson(path):  # bulk data: one resource per line, streamed (never read whole)
        with _read_errors(path, stage, "give bulk-data NDJSON, one resource per line."), \
                open_input(path, "rt", encoding="utf-8") as handle:
            yield from _ndjson(path, handle, stage)
        return
    with _read_errors(path, stage, "give a FHIR R4 Bundle (JSON) or bulk-data NDJSON."), \
            open_input(path, "rt", encoding="utf-8") as handle:
        text = handle.read(limits["max_json_bytes"] + 1)
    if len(text) > limits["max_json_bytes"]:
        raise _fail(path, f"is larger than {limits['max_json_bytes'] / 2**20:g} MiB, read whole "
                    "as one document.", "export it as bulk-data NDJSON (one resource per "
                    "line), or split the Bundle.", stage)
    try:
        document = _bounded_json(text)
    except RecursionError:
        raise _fail(path, f"nests deeper than {limits['max_json_depth']} levels (FHIR "
                    "resources nest about 10).", "give the export as written.", stage) from None
    except json.JSONDecodeError as err:
        # NDJSON: named so, or resources at line starts (the text in hand: no second read)
        if text.lstrip().startswith("{") and (path.lower().endswith(NDJSON_SUFFIXES)
                                              or "\n{" in text):
            yield from _ndjson(path, text.splitlines(), stage)
            return
        raise _fail(path, f"{name} is not valid JSON ({err.msg}, line {err.lineno}).",
                    "give a FHIR R4 Bundle (JSON) or bulk-data NDJSON; a truncated export "
                    "must be exported again.", stage, err.lineno) from None
    if not isinstance(document, dict) or not document.get("resourceType"):
        raise _fail(path, f"the JSON of {name} is not a FHIR resource (no resourceType).",
                    "give a FHIR R4 Bundle or bulk-data NDJSON.", stage)
    if document["resourceType"] != "Bundle":
        yield Entry(1, None, document)
        return
    entries = document.get("entry") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _fail(path, "the Bundle's entry is not a list of entries.",
                    "give a Bundle whose entries are resources.", stage)
    for number, entry in enumerate(entries, start=1):
        resource = entry.get("resource")
        full_url = entry.get("fullUrl")
        yield Entry(number, full_url if isinstance(full_url, str) else None,
                    resource if isinstance(resource, dict) else {})


def fhir_resources(path: str, stage: str) -> Iterator[dict[str, Any]]:
    """The resources of a FHIR file (fhir_entries without the numbers)."""
    return (entry.resource for entry in fhir_entries(path, stage))


def reference_id(reference: Any) -> str:
    """The id a reference names: 'Patient/P07', 'Patient/P07/_history/3' (a versioned
    reference: still P07), an absolute URL, or 'urn:uuid:...'."""
    parts = str(reference or "").rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts[-1].removeprefix("urn:uuid:")


def subject_id(resource: dict[str, Any]) -> str:
    """The patient a resource is about (its subject, or patient for a few resource types)."""
    holder = resource.get("subject") or resource.get("patient") or {}
    return reference_id(holder.get("reference", "") if isinstance(holder, dict) else "")


def codes(concept: dict[str, Any] | None, system: str | None = None) -> list[str]:
    """The codes of a CodeableConcept (of one system when given)."""
    if not isinstance(concept, dict):
        return []
    return [str(c.get("code", "")) for c in concept.get("coding") or []
            if isinstance(c, dict) and (system is None or c.get("system") == system)]


def words(concept: dict[str, Any] | None) -> str:
    """A CodeableConcept's text, else its first coding display ('' without either)."""
    if not isinstance(concept, dict):
        return ""
    parts = [concept.get("text") or ""] + [c.get("display") or "" for c in
                                           concept.get("coding") or [] if isinstance(c, dict)]
    return str(next((p for p in parts if p), ""))
