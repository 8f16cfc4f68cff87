"""Column names as exports write them: case, spaces and common aliases read as precex's names.

`Patient ID`, `patient-id` and `PATIENT_ID` are `patient_id`; an alias (`LVEF` for `lvef_pct`,
`Result` for `value`) is read as its column with a note, unless that column is also present
(then the alias is left alone and reported as unused by the caller).
"""

from __future__ import annotations

import re
from collections.abc import Collection


def normalise_header(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def resolve_columns(columns: list[str], known: list[str], aliases: dict[str, list[str]],
                    several: Collection[str] = ()) -> tuple[dict[str, str], list[str]]:
    """{column as given: precex name} for every column that names a known one (directly, by
    case/spacing, or by alias), and a note per alias or respelling used. A name in `several`
    (a list column: PMH, Medications and Comments are all history) takes every column that
    names it, and the caller joins them; any other name takes the first."""
    mapping: dict[str, str] = {}
    notes: list[str] = []
    alias_of = {normalise_header(a): target for target, names in aliases.items()
                for a in names}
    taken = set()
    for col in columns:  # exact and respelled names first: they win over aliases
        norm = normalise_header(col)
        if col in known or norm in known:
            target = col if col in known else norm
            if target not in taken or target in several:
                mapping[col] = target
                taken.add(target)
                if col != target:
                    notes.append(f"column '{col}' read as '{target}'")
    for col in columns:
        if col in mapping:
            continue
        target = alias_of.get(normalise_header(col))
        if target and (target not in taken or target in several):
            mapping[col] = target
            taken.add(target)
            notes.append(f"column '{col}' read as '{target}'")
    return mapping, notes
