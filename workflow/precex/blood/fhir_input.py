"""Blood markers from a FHIR R4 Bundle of LOINC-coded Observations (parsed with fhir.resources).

Each Observation becomes one row of the long table (patient_id from subject 'Patient/<id>',
LOINC code, valueQuantity value and unit, effectiveDateTime date). Other resource types are
reported, not silently skipped.
"""

from __future__ import annotations

import json

import pandas as pd

from precex.problems import InputError, Problem

LOINC_SYSTEM = "http://loinc.org"


def is_fhir_bundle(path: str) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(2048).lstrip()
    return head.startswith(b"{") and b'"resourceType"' in head


def read_fhir_observations(path: str) -> tuple[pd.DataFrame, list[Problem]]:
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    try:
        data = json.loads(open(path, encoding="utf-8").read())  # noqa: SIM115
    except (OSError, json.JSONDecodeError) as err:
        raise InputError([Problem(path, f"not valid JSON ({err}).",
                                  "give a FHIR R4 Bundle in JSON.", stage="blood")]) from None
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise InputError([Problem(path, "the JSON is not a FHIR Bundle.",
                                  "give a Bundle whose entries are Observations.", stage="blood")])
    problems: list[Problem] = []
    entries = data.get("entry") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError([Problem(path, "the Bundle's entry is not a list of entries.",
                                  "give a Bundle whose entries are Observations.", stage="blood")])
    kept = []
    for i, entry in enumerate(entries, start=1):
        resource = entry.get("resource")
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if rtype != "Observation":
            problems.append(Problem(path, f"entry {i} is a {rtype}, not an Observation; it is "
                                    "not used.", "send Observations only.", row=i, stage="blood"))
            continue
        kept.append((i, entry))
    try:
        bundle = Bundle.model_validate({**data, "entry": [e for _, e in kept]})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first.get("loc", ())))
        raise InputError([Problem(path, f"not a valid FHIR R4 Bundle ({where}: "
                                  f"{first.get('msg')}).", "validate the Bundle against FHIR R4.",
                                  stage="blood")]) from None
    rows = []
    for (i, _), entry in zip(kept, bundle.entry or [], strict=True):
        obs = entry.resource
        ref = obs.subject.reference if obs.subject else ""
        pid = ref.split("/", 1)[1] if ref and ref.startswith("Patient/") else ""
        codings = (obs.code.coding or []) if obs.code else []
        code = next((c.code for c in codings if c.system == LOINC_SYSTEM), "")
        qty = obs.valueQuantity
        date = str(obs.effectiveDateTime)[:10] if obs.effectiveDateTime else ""
        if not pid or qty is None or qty.value is None or not code:
            problems.append(Problem(path, f"entry {i} lacks a Patient subject, a LOINC code or a "
                                    "valueQuantity; not used.", "complete the Observation.",
                                    row=i, stage="blood"))
            continue
        rows.append({"patient_id": pid, "marker": "", "loinc": code, "value": str(qty.value),
                     "unit": qty.unit or qty.code or "", "date": date, "fasting": ""})
    cols = ["patient_id", "marker", "loinc", "value", "unit", "date", "fasting"]
    return pd.DataFrame(rows, columns=cols), problems
