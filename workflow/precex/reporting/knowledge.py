"""The clinician review document: every rule, threshold, vocabulary, exercise, mode, restriction
and precaution that precex's decisions rest on, with grade and source, rendered from the data
itself (the rule base and resources/), so a clinician reviews and signs the knowledge, not the
code. `precex knowledge --out DIR` writes it as HTML (and PDF with --pdf)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import yaml

from precex.paths import resource_path
from precex.prescription.plan import PROGRESSION

OPS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "in": "is one of",
       "contains": "contains", "present": "is given", "missing": "is missing"}
# (section title, resource file, what a reviewer checks in it)
TABLES = (
    ("Clinical thresholds", ("clinical", "thresholds.tsv"),
     "Every threshold the host profile, the safety inputs, the fitness and body-composition "
     "categories, the domains and the wearable signals read, with its unit (UCUM), where it is "
     "used and its source."),
    ("History vocabulary: conditions, devices and medicines", ("clinical", "comorbidities.tsv"),
     "Each code's kind (condition, finding, medicine, procedure, device), synonyms, its date "
     "window (weeks a dated past mention still counts; blank: "
     "whatever its age; 0: only a current one), its SNOMED CT concepts and, for medicines, "
     "the ATC classes and RxNorm ingredients an EHR codes them by."),
    ("Cancer agents", ("clinical", "agents.tsv"),
     "Each agent's class, route, the toxicity flags the safety rules read, and the ATC "
     "classes and RxNorm ingredients an EHR codes it by."),
    ("Regimens", ("clinical", "regimens.tsv"), "Regimen abbreviations and their agents."),
    ("Bone-metastasis sites", ("clinical", "bone_sites.tsv"),
     "Each region's synonyms and the restrictions it implies."),
    ("Intensity classes", ("prescription", "intensity.tsv"),
     "Heart-rate, RPE and load bands of each intensity, and the words the patient reads."),
    ("Aerobic modes", ("prescription", "aerobic_modes.tsv"),
     "Each mode, the restrictions that rule it out and the intensities it suits."),
    ("Resistance exercises", ("prescription", "exercises.tsv"),
     "Each exercise, its muscle group and the restrictions that rule it out, in order of "
     "preference."),
    ("Restrictions", ("prescription", "restrictions.tsv"),
     "Every restriction a rule can set, in the clinician's and the patient's words."),
    ("Patient precautions", ("prescription", "precautions.tsv"),
     "What the handout and calendar tell a patient with each code, in plain words."),
    ("Stop signs", ("prescription", "stop_signs.tsv"),
     "The signs every handout and calendar tell a patient to stop and call for."),
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def condition_text(condition: dict[str, Any]) -> str:
    """A rule condition as a reviewer reads it: 'platelets_10e9_l < 20', 'all of (...)'."""
    if "always" in condition:
        return "always"
    for key, word in (("all", "all of"), ("any", "any of")):
        if key in condition:
            parts = "; ".join(condition_text(c) for c in condition[key])
            return f"{word} ({parts})"
    if "not" in condition:
        return f"not ({condition_text(condition['not'])})"
    text = f"{condition['feature']} {OPS.get(condition['op'], condition['op'])}"
    if "value" in condition:
        value = condition["value"]
        text += " " + (", ".join(map(str, value)) if isinstance(value, list) else str(value))
    if "if_missing" in condition:
        text += f" (if missing: {str(condition['if_missing']).lower()})"
    return text


def effect_items(effect: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key.replace("_", " "), ", ".join(map(str, value)) if isinstance(value, list)
             else str(value)) for key, value in effect.items()]


def _table(parts: tuple[str, str]) -> dict[str, Any]:
    path = resource_path(*parts)
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    return {"file": "resources/" + "/".join(parts), "digest": _digest(path),
            "header": rows[0], "rows": rows[1:]}


def _setting_text(value: Any) -> str:
    """A setting as a reviewer reads it: '3', or 'sessions per week: 3; examples: a, b'."""
    if isinstance(value, dict):
        return "; ".join(f"{key.replace('_', ' ')}: {_setting_text(item)}"
                         for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def knowledge_context(rulebase: str | Path) -> dict[str, Any]:
    """Everything the document shows, read from the files themselves."""
    rules_path = Path(rulebase)
    data = yaml.safe_load(rules_path.read_text(encoding="utf-8"))
    rules = [{"id": r["id"], "kind": r["kind"], "title": r["title"], "grade": r["grade"],
              "when": condition_text(r["when"]), "effect": effect_items(r["effect"]),
              "citation": r["citation"], "rationale": r.get("rationale", "")}
             for r in data["rules"]]
    derived = [{"feature": d["feature"], "title": d["title"], "when": condition_text(d["when"]),
                "citation": d["citation"], "rationale": d["rationale"]}
               for d in data.get("derived") or []]
    context_path = resource_path("clinical", "context_rules.yaml")
    context = yaml.safe_load(context_path.read_text(encoding="utf-8"))
    progression_path = resource_path("prescription", "progression.yaml")
    progression = PROGRESSION  # what the plan builder reads
    tables = [{"title": title, "note": note, **_table(parts)}
              for title, parts, note in TABLES]
    grades: dict[str, int] = {}
    for rule in rules:
        grades[rule["grade"]] = grades.get(rule["grade"], 0) + 1
    return {"rules": rules, "derived": derived, "grades": sorted(grades.items()),
            "rulebase": {"file": rules_path.name, "digest": _digest(rules_path)},
            "context": {"file": "resources/clinical/context_rules.yaml",
                        "digest": _digest(context_path),
                        "precedence": context["precedence"],
                        "termination": context["termination"],
                        "not_a_mention": context["not_a_mention"],
                        "policy": [(status, rule["counts"], rule["confirm"])
                                   for status, rule in context["policy"].items()],
                        "triggers": [(status, list(lists.items()))
                                     for status, lists in context["triggers"].items()]},
            "tables": tables,
            "progression": {"file": "resources/prescription/progression.yaml",
                            "digest": _digest(progression_path),
                            "weeks": progression["weeks"],
                            "recovery_days": progression["infusion_recovery_days"],
                            "paces": [(name, list(progression[name].items()))
                                      for name in ("standard", "slow")],
                            "plan": [(key, _setting_text(value))
                                     for key, value in progression.items()
                                     if key not in ("weeks", "infusion_recovery_days",
                                                    "standard", "slow")]}}


def knowledge_document(rulebase: str | Path | None = None) -> str:
    from precex.reporting.patient import environment

    path = rulebase or resource_path("rules", "rulebase.yaml")
    return environment().get_template("knowledge.html.j2").render(**knowledge_context(path))
