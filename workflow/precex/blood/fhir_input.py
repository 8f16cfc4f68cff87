"""Blood markers from FHIR R4: Bundles of any type and bulk-export NDJSON.

Read as EHR exports write them:

- a Bundle of any type (collection, transaction, batch, searchset, document), or FHIR bulk-data
  NDJSON (one resource per line: `Observation.ndjson` beside `Patient.ndjson`);
- the subject as `Patient/<id>` (also an absolute URL ending so), `urn:uuid:<uuid>` resolved
  through the Patient entry's `fullUrl`, or a logical reference by identifier; a Patient is
  matched to the sheet by its `id`, or by its identifier in the system named by the config key
  `blood_patient_identifier_system`;
- the LOINC code of the Observation or of each of its components; `valueQuantity.code` (UCUM)
  before the display unit; the date from `effectiveDateTime`, `effectivePeriod.start`,
  `effectiveInstant` or `issued`; only status final, amended or corrected.

Each Observation is validated with fhir.resources' R4B model. What is not used is summarised
once per cause and file, with counts and examples (subject unresolved, code not in the marker
catalogue with its code and display, no value, status, other resource types), never once per
entry.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from precex.blood.catalogue import find_marker
from precex.io.fhir import fhir_entries, is_fhir_json, is_ndjson
from precex.problems import InputError, Problem

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
USABLE_STATUS = ("final", "amended", "corrected")
COLUMNS = ["patient_id", "marker", "loinc", "value", "unit", "date", "fasting", "_file", "_row"]


def is_fhir_bundle(path: str) -> bool:
    """A FHIR JSON resource (Bundle) or bulk-export NDJSON."""
    return is_fhir_json(path)


@dataclass
class _Summary:
    """Causes of unused entries, counted per file, with a few examples each."""

    file: str
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, cause: str, example: str = "") -> None:
        self.counts[cause] += 1
        shown = self.examples.setdefault(cause, [])
        if example and example not in shown and len(shown) < 5:
            shown.append(example)

    def problems(self) -> list[Problem]:
        out = []
        for cause, n in sorted(self.counts.items()):
            eg = self.examples.get(cause) or []
            more = f" (e.g. {'; '.join(eg)})" if eg else ""
            fix = _FIXES.get(cause, "")
            out.append(Problem(self.file, f"{n} {cause}{more}; not used.", fix, stage="blood",
                               excludes=False))
        return out


_FIXES = {
    "Observations whose subject could not be resolved to a patient":
        "reference the subject as Patient/<id>, or include the Patient resource (its fullUrl "
        "or identifier); set blood_patient_identifier_system to match an identifier to "
        "patient_id.",
    "Observations with a code not in the marker catalogue":
        "this is expected for vital signs and other tests; a blood marker missing here can be "
        "added to resources/blood/marker_catalogue.tsv with its LOINC code.",
    "Observations without a numeric valueQuantity": "send the result as valueQuantity.",
    "Observations with a status other than final, amended or corrected":
        "only final results are used; preliminary, cancelled and entered-in-error are not.",
    "Observations that are not valid FHIR R4": "validate the export against FHIR R4.",
}


def _patient_keys(resource: dict[str, Any], full_url: str | None,
                  identifier_system: str | None) -> tuple[list[str], str | None]:
    """(references that point at this Patient, the patient_id it stands for)."""
    rid = resource.get("id") if isinstance(resource.get("id"), str) else None
    refs = [f"Patient/{rid}"] if rid else []
    if isinstance(full_url, str) and full_url:
        refs.append(full_url)
    pid = rid
    identifiers = resource.get("identifier")
    identifiers = identifiers if isinstance(identifiers, list) else []
    if identifier_system:
        pid = next((str(i["value"]) for i in identifiers if isinstance(i, dict)
                    and i.get("system") == identifier_system and i.get("value")), None)
    for ident in identifiers:
        if isinstance(ident, dict) and ident.get("value"):
            refs.append(f"identifier|{ident.get('system', '')}|{ident['value']}")
    return refs, pid


def _subject_key(subject: Any) -> str | None:
    if not isinstance(subject, dict):
        return None
    ref = subject.get("reference")
    if isinstance(ref, str) and ref:
        if ref.startswith("urn:"):
            return ref
        parts = ref.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == "Patient":
            return f"Patient/{parts[-1]}"
        if len(parts) >= 4 and parts[-4] == "Patient" and parts[-2] == "_history":
            return f"Patient/{parts[-3]}"
        return ref
    ident = subject.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        return f"identifier|{ident.get('system', '')}|{ident['value']}"
    return None


def _date(obs: dict[str, Any]) -> str:
    for value in (obs.get("effectiveDateTime"), (obs.get("effectivePeriod") or {}).get("start"),
                  obs.get("effectiveInstant"), obs.get("issued")):
        if isinstance(value, str) and value:
            return value[:10]
    return ""


def _loinc(concept: Any) -> tuple[str, str]:
    codings = (concept or {}).get("coding") or [] if isinstance(concept, dict) else []
    for c in codings:
        if isinstance(c, dict) and c.get("system") == LOINC_SYSTEM and c.get("code"):
            return str(c["code"]), str(c.get("display") or (concept or {}).get("text") or "")
    return "", str((concept or {}).get("text") or "") if isinstance(concept, dict) else ""


def _unit(qty: dict[str, Any]) -> str:
    if qty.get("system") == UCUM_SYSTEM and qty.get("code"):
        return str(qty["code"])  # UCUM code before the display unit
    return str(qty.get("unit") or qty.get("code") or "")


def _load_resources(path: str) -> list[tuple[int, str | None, dict[str, Any]]]:
    """(entry or line number, fullUrl, resource) for a Bundle or an NDJSON file
    (precex.io.fhir, the one FHIR reader); a single resource must be an Observation."""
    entries = [(e.number, e.full_url, e.resource) for e in fhir_entries(path, "blood")]
    if len(entries) == 1 and entries[0][1] is None and not is_ndjson(path) and \
            entries[0][2].get("resourceType") not in ("Observation", "Bundle"):
        raise InputError([Problem(path, f"the JSON of {os.path.basename(path)} is not a FHIR "
                                  "Bundle.", "give a Bundle (any type) whose entries include "
                                  "Observations.", stage="blood")])
    return entries


def _own_keys(resource: dict[str, Any], full_url: str | None) -> list[str]:
    """The references by which a panel or report can list this resource."""
    keys = [f"{resource.get('resourceType')}/{resource['id']}"] if isinstance(
        resource.get("id"), str) else []
    return keys + ([full_url] if isinstance(full_url, str) and full_url else [])


def _reference(item: Any) -> str | None:
    ref = item.get("reference") if isinstance(item, dict) else None
    if not isinstance(ref, str) or not ref:
        return None
    if ref.startswith("urn:"):
        return ref
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]  # Observation/x/_history/2 is Observation/x
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


def _panel_dates(loaded: dict[str, list[tuple[int, str | None, dict[str, Any]]]]
                 ) -> dict[str, str]:
    """{member reference: date} from every panel Observation (hasMember) and DiagnosticReport
    (result) that has a date: a member result without a date of its own takes its panel's or
    report's (the FHIR specification's lab panel example dates only the panel)."""
    out: dict[str, str] = {}
    for resources in loaded.values():
        for _, _, res in resources:
            kind = res.get("resourceType")
            members = res.get("hasMember") if kind == "Observation" else res.get(
                "result") if kind == "DiagnosticReport" else None
            date = _date(res)
            if not isinstance(members, list) or not date:
                continue
            for item in members:
                ref = _reference(item)
                if ref:
                    out.setdefault(ref, date)
    return out


def read_fhir_files(paths: list[str], identifier_system: str | None = None,
                    tolerate: bool = False) -> tuple[pd.DataFrame, list[Problem]]:
    """Long blood rows from every FHIR file; Patients from any file resolve subjects in all.

    With `tolerate`, a file that cannot be read is left out with its problem (the others are
    used); otherwise it stops the stage."""
    from fhir.resources.R4B.observation import Observation
    from pydantic import ValidationError

    loaded: dict[str, list[tuple[int, str | None, dict[str, Any]]]] = {}
    rows, problems = [], []
    for path in paths:
        try:
            loaded[path] = _load_resources(path)
        except InputError as err:
            if not tolerate:
                raise
            problems += [Problem(p.file, f"{p.message} This file is left out; the others are "
                                 "used.", p.fix, row=p.row, stage="blood") for p in err.problems]
    patients: dict[str, str | None] = {}
    for resources in loaded.values():
        for _, full_url, res in resources:
            if res.get("resourceType") == "Patient":
                refs, pid = _patient_keys(res, full_url, identifier_system)
                for ref in refs:
                    patients[ref] = pid
    panel_dates = _panel_dates(loaded)
    for path, resources in loaded.items():
        summary = _Summary(path)
        others: Counter = Counter()
        for i, full_url, res in resources:
            rtype = str(res.get("resourceType") or "an entry without a resource")
            if rtype != "Observation":
                if rtype != "Patient":
                    others[rtype] += 1
                continue
            try:
                Observation.model_validate(res)
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(map(str, first.get("loc", ())))
                summary.add("Observations that are not valid FHIR R4",
                            f"entry {i}: {where}: {first.get('msg')}")
                continue
            if res.get("status") not in USABLE_STATUS:
                summary.add("Observations with a status other than final, amended or corrected",
                            str(res.get("status")))
                continue
            key = _subject_key(res.get("subject"))
            pid = patients.get(key) if key else None
            if pid is None and key and key.startswith("Patient/") and not identifier_system:
                pid = key.split("/", 1)[1]
            if not pid:
                summary.add("Observations whose subject could not be resolved to a patient",
                            str(key or "no subject"))
                continue
            date = _date(res) or next((panel_dates[k] for k in _own_keys(res, full_url)
                                       if k in panel_dates), "")
            parts = [(res.get("code"), res.get("valueQuantity"))]
            parts += [(c.get("code"), c.get("valueQuantity"))
                      for c in res.get("component") or [] if isinstance(c, dict)]
            used = False
            for concept, qty in parts:
                code, display = _loinc(concept)
                if not code or find_marker(loinc=code) is None:
                    continue
                if not isinstance(qty, dict) or not isinstance(qty.get("value"), int | float):
                    summary.add("Observations without a numeric valueQuantity",
                                f"{code} {display}".strip())
                    used = True
                    continue
                if not date:
                    summary.add("Observations with no date: none of their own (effective[x], "
                                "issued) and no panel (hasMember) or DiagnosticReport (result) "
                                "that lists them; a result of unknown age is never taken as "
                                "current", f"entry {i} ({res.get('id') or 'no id'}): "
                                f"{code} {display}".strip())
                    used = True
                    continue
                rows.append({"patient_id": str(pid), "marker": "", "loinc": code,
                             "value": repr(float(qty["value"])), "unit": _unit(qty),
                             "date": date, "fasting": "", "_file": path, "_row": i})
                used = True
            if not used:
                code, display = _loinc(res.get("code"))
                summary.add("Observations with a code not in the marker catalogue",
                            f"{code or 'no LOINC code'} {display}".strip())
        problems += summary.problems()
        if others:
            listed = ", ".join(f"{t} {n}" for t, n in sorted(others.items()))
            problems.append(Problem(path, f"{sum(others.values())} other resources are not "
                                    f"used ({listed}).", "", stage="blood", excludes=False))
    return pd.DataFrame(rows, columns=COLUMNS), problems


def read_fhir_observations(path: str, identifier_system: str | None = None
                           ) -> tuple[pd.DataFrame, list[Problem]]:
    """One FHIR file (kept for callers of a single Bundle)."""
    return read_fhir_files([path], identifier_system)
