"""The rule base: loading, validation, and vectorised evaluation of declarative conditions.

A condition is data: {feature, op, value, if_missing}, combined with all/any/not, or
{always: true}. It is evaluated over a whole DataFrame of patients at once (one boolean per
patient), never with eval/exec.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from precex.config import load_yaml
from precex.io.schema_check import SchemaCheck
from precex.modality_outputs import CENSORED_SUFFIX
from precex.paths import schema_path
from precex.problems import InputError, Problem

GRADES = ("H", "G3", "G2", "G1")  # ascending strength
INTENSITIES = ("none", "light", "moderate", "vigorous")
STATUSES = ("prescribed", "clearance_required", "deferred")
SUPERVISION = ("unsupervised", "supervised", "clinical")
TRIAGE = ("low", "moderate", "high")


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    title: str
    when: dict[str, Any]
    effect: dict[str, Any]
    grade: str
    citation: str
    rationale: str
    priority: int = 0
    research_eligible: bool = False
    features: tuple[str, ...] = field(default_factory=tuple)
    precision: bool = False


@dataclass(frozen=True)
class Derived:
    """A feature the rule base defines from other features, in the same condition language
    (a derived flag such as hr_guidance_unreliable): data a clinician reviews, never code."""

    feature: str
    title: str
    when: dict[str, Any]
    citation: str
    rationale: str


@dataclass(frozen=True)
class RuleBase:
    rules: tuple[Rule, ...]
    source: str
    derived: tuple[Derived, ...] = ()

    def derive(self, features: pd.DataFrame) -> pd.DataFrame:
        """`features` with every derived feature added, in the rule base's order (a derived
        feature may read an earlier one); computed before any rule reads them."""
        if not self.derived:
            return features
        out = features.copy()
        for item in self.derived:
            out[item.feature] = evaluate(item.when, out) if len(out) else pd.Series(
                dtype=bool)
        return out

    def of_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind]

    def prescription_rules(self) -> tuple[Rule, ...]:
        """Every rule the prescription engine reads (all but the weekly adaptation rules)."""
        return tuple(r for r in self.rules if r.kind != "adaptation")


def condition_features(cond: dict[str, Any]) -> list[str]:
    if "feature" in cond:
        return [cond["feature"]]
    if "not" in cond:
        return condition_features(cond["not"])
    out: list[str] = []
    for sub in cond.get("all", []) + cond.get("any", []):
        out += [f for f in condition_features(sub) if f not in out]
    return out


def _check_leaf_values(cond: dict[str, Any], rule_id: str, source: str) -> list[Problem]:
    problems: list[Problem] = []
    if "feature" in cond:
        op, has_value = cond["op"], "value" in cond
        if op in ("missing", "present") and has_value:
            problems.append(Problem(source, f"rule {rule_id}: operator '{op}' takes no value.",
                                    "remove 'value'."))
        elif op not in ("missing", "present") and not has_value:
            problems.append(Problem(source, f"rule {rule_id}: operator '{op}' needs a value.",
                                    "add 'value'."))
        elif op in ("lt", "le", "gt", "ge") and not isinstance(cond["value"], int | float):
            problems.append(Problem(source, f"rule {rule_id}: '{op}' compares numbers but the "
                                    f"value is {cond['value']!r}.", "give a number."))
        elif op in ("in", "not_in") and not isinstance(cond["value"], list):
            problems.append(Problem(source, f"rule {rule_id}: '{op}' needs a list value.",
                                    "write value: [a, b]."))
    for sub in cond.get("all", []) + cond.get("any", []):
        problems += _check_leaf_values(sub, rule_id, source)
    if "not" in cond:
        problems += _check_leaf_values(cond["not"], rule_id, source)
    return problems


def rulebase_problems(path: str, known: Mapping[str, Collection[str]]) -> str | None:
    """The rule base's problems as one message, or None when it loads (checked before a run)."""
    try:
        load_rulebase(path, known)
    except InputError as err:
        return str(err)
    return None


@cache
def rulebase_check() -> SchemaCheck:
    """The rule-base schema's check, built once per process (jsonschema took ~50 ms to
    validate the bundled rule base; jsonschema-rs decides in well under 1 ms)."""
    return SchemaCheck(load_yaml(schema_path("rulebase.schema.yaml")))


def load_rulebase(path: str, known: Mapping[str, Collection[str]] | None = None) -> RuleBase:
    """Load and validate; every problem (schema, duplicates, unknown features) is reported.
    `known`: the features each kind of rule may read (precex.rule_features); None checks
    no feature names."""
    data = load_yaml(path)
    problems = []
    for err in rulebase_check().iter_errors(data):
        where = "/".join(str(p) for p in err.absolute_path)
        rid = None
        if isinstance(data, dict) and len(err.absolute_path) >= 2 and \
                err.absolute_path[0] == "rules":
            try:
                rid = data["rules"][err.absolute_path[1]].get("id")
            except (IndexError, AttributeError, TypeError):
                rid = None
        label = f"rule {rid}" if rid else where or "rule base"
        problems.append(Problem(path, f"{label}: {err.message} (at {where}).",
                                "see workflow/schemas/rulebase.schema.yaml.", stage="rulebase"))
    if problems:
        raise InputError(problems)
    derived = []
    derived_names: list[str] = []
    for raw in data.get("derived") or []:
        problems += _check_leaf_values(raw["when"], raw["feature"], path)
        if known is not None:
            allowed = set(known["prescription"]) | set(derived_names)
            for f in condition_features(raw["when"]):
                if f not in allowed:
                    problems.append(Problem(path, f"derived feature {raw['feature']}: unknown "
                                            f"feature '{f}'.", "use a profile column or an "
                                            "earlier derived feature.", stage="rulebase"))
        derived_names.append(raw["feature"])
        derived.append(Derived(raw["feature"], raw["title"], raw["when"], raw["citation"],
                               raw["rationale"]))
    if known is not None and derived_names:
        known = {kind: frozenset(names) | frozenset(derived_names)
                 for kind, names in known.items()}
    rules = []
    seen: set[str] = set()
    for raw in data["rules"]:
        rid = raw["id"]
        if rid in seen:
            problems.append(Problem(path, f"rule id {rid} is used twice.",
                                    "give each rule a unique id.", stage="rulebase"))
        seen.add(rid)
        problems += _check_leaf_values(raw["when"], rid, path)
        feats = condition_features(raw["when"])
        if known is not None:
            allowed = set(known["adaptation" if raw["kind"] == "adaptation" else "prescription"])
            for f in feats:
                if f not in allowed:
                    close = difflib.get_close_matches(f, sorted(allowed), n=3, cutoff=0.6)
                    hint = f" (did you mean {', '.join(close)}?)" if close else ""
                    problems.append(Problem(path, f"rule {rid}: unknown feature '{f}'{hint}.",
                                            "use a column of results/profiles/host_profiles.tsv.",
                                            stage="rulebase"))
        if raw["kind"] == "modifier" and raw["grade"] != "H" and raw.get("research_eligible"):
            problems.append(Problem(path, f"rule {rid}: research_eligible applies to H rules "
                                    "only.", "remove it or grade the rule H.", stage="rulebase"))
        rules.append(Rule(id=rid, kind=raw["kind"], title=raw["title"], when=raw["when"],
                          effect=raw["effect"], grade=raw["grade"], citation=raw["citation"],
                          rationale=raw["rationale"], priority=int(raw.get("priority", 0)),
                          research_eligible=bool(raw.get("research_eligible", False)),
                          precision=bool(raw.get("precision", False)),
                          features=tuple(feats)))
    if not any(r.kind == "base" and r.when == {"always": True} for r in rules):
        problems.append(Problem(path, "no base rule with 'when: {always: true}'.",
                                "add a default base prescription.", stage="rulebase"))
    if problems:
        raise InputError(problems)
    return RuleBase(tuple(rules), path, tuple(derived))


def _is_text_dtype(dtype: Any) -> bool:
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


def _blank_text(values: np.ndarray) -> np.ndarray:
    """True where a value is text of white space only ("", "  ")."""
    return np.fromiter((isinstance(v, str) and not v.strip() for v in values), dtype=bool,
                       count=len(values))


class _Columns:
    """The feature columns as the conditions read them, each prepared once per evaluation
    (its missing mask, its numbers, its text), the missing masks of all columns in one pass: a
    rule base asks about the same columns in many conditions, and a pandas call costs about
    the same on one patient as on a thousand (the weekly loop and the tests prescribe one at a
    time).

    A value is missing when it is NA or text of white space only; a missing value never reads
    as its text or number (the condition's `if_missing` decides)."""

    def __init__(self, features: pd.DataFrame) -> None:
        self.features = features
        self.n = len(features)
        self._prepared: dict[tuple[str, str], Any] = {}
        self._na: np.ndarray | None = None
        self._position = {name: i for i, name in enumerate(features.columns)}
        self._absent = np.ones(self.n, dtype=bool)

    def _values(self, feature: str) -> np.ndarray:
        """The column's values (numpy's own dtype for numbers, objects otherwise)."""
        return self.features.iloc[:, self._position[feature]].to_numpy()

    def _missing(self, feature: str) -> np.ndarray:
        if feature not in self._position:
            return self._absent
        if self._na is None:  # every column's NA mask in one call
            self._na = self.features.isna().to_numpy(dtype=bool)
        j = self._position[feature]
        miss = self._na[:, j].copy()
        if _is_text_dtype(self.features.dtypes.iloc[j]):
            miss |= _blank_text(self._values(feature))
        return miss

    def _number(self, feature: str) -> np.ndarray:
        if feature not in self._position:
            return np.full(self.n, np.nan)
        col = self.features.iloc[:, self._position[feature]]
        if col.dtype.kind in "fiu":  # already numbers: to_numeric would return them as they are
            numbers = col.to_numpy(dtype=float)
        else:
            numbers = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return self._censored(feature, numbers)

    def _censored(self, feature: str, numbers: np.ndarray) -> np.ndarray:
        """A result reported as '<L' ('>L') is stored as L with its sign beside it
        (`<feature>_censored`): a condition reads it as the next number below (above) L, so
        '<20' is below 20 and never equal to it."""
        sign_column = feature + CENSORED_SUFFIX
        if sign_column not in self._position:
            return numbers
        signs = self.features.iloc[:, self._position[sign_column]].astype(object).to_numpy()
        below, above = signs == "<", signs == ">"
        if not (below.any() or above.any()):
            return numbers
        numbers = numbers.copy()
        numbers[below] = np.nextafter(numbers[below], -np.inf)
        numbers[above] = np.nextafter(numbers[above], np.inf)
        return numbers

    def _text(self, feature: str) -> np.ndarray:
        """Each value as pandas' astype(str) writes it ('1.0', 'True'), "" where missing."""
        if feature not in self._position:
            return np.full(self.n, "", dtype=object)
        col = self.features.iloc[:, self._position[feature]]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiub":  # numpy's numbers
            text = col.to_numpy().astype(str).astype(object)
        elif pd.api.types.is_object_dtype(col.dtype):  # str() of each, as astype(str) does
            text = np.array([str(v) for v in col.to_numpy()], dtype=object)
        else:  # pandas' own types (string, boolean, dates): pandas writes them
            text = col.astype(str).to_numpy(dtype=object)
        text[self.get(feature, "missing")] = ""
        return text

    def get(self, feature: str, form: str) -> Any:
        key = (feature, form)
        if key not in self._prepared:
            if form == "missing":
                value: Any = self._missing(feature)
            elif form == "number":
                value = self._number(feature)
            elif form == "word":  # booleans as text: "True", "true ", "TRUE"
                value = np.array([t.strip().lower() for t in self.get(feature, "text")],
                                 dtype=object)
            elif form == "text":
                value = self._text(feature)
            else:  # "list": semicolon-separated codes, for `contains`
                value = pd.Series(self.get(feature, "text"), dtype=object)
            self._prepared[key] = value
        return self._prepared[key]


def _compare(columns: _Columns, feature: str, op: str, value: Any) -> np.ndarray:
    if op in ("lt", "le", "gt", "ge"):
        num = columns.get(feature, "number")
        with np.errstate(invalid="ignore"):
            return {"lt": num < value, "le": num <= value, "gt": num > value,
                    "ge": num >= value}[op]
    if op in ("eq", "ne", "in", "not_in"):
        values = value if isinstance(value, list) else [value]
        if all(isinstance(v, bool) for v in values):
            hit = np.isin(columns.get(feature, "word"), [str(v).lower() for v in values])
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            hit = np.isin(columns.get(feature, "number"), values)
        else:
            hit = np.isin(columns.get(feature, "text"), [str(v) for v in values])
        return ~hit if op in ("ne", "not_in") else hit
    if op == "contains":
        pattern = rf"(?:^|;)\s*{re.escape(str(value))}\s*(?:;|$)"
        return columns.get(feature, "list").str.contains(pattern, regex=True).to_numpy()
    raise ValueError(f"unknown operator {op}")


def _evaluate(cond: dict[str, Any], columns: _Columns) -> np.ndarray:
    n = columns.n
    if cond.get("always"):
        return np.ones(n, dtype=bool)
    if "all" in cond:
        out = np.ones(n, dtype=bool)
        for sub in cond["all"]:
            out &= _evaluate(sub, columns)
        return out
    if "any" in cond:
        out = np.zeros(n, dtype=bool)
        for sub in cond["any"]:
            out |= _evaluate(sub, columns)
        return out
    if "not" in cond:
        return ~_evaluate(cond["not"], columns)
    feature, op = cond["feature"], cond["op"]
    missing = columns.get(feature, "missing")
    if op == "missing":
        return missing.copy()
    if op == "present":
        return ~missing
    result = _compare(columns, feature, op, cond["value"])
    return np.where(missing, bool(cond.get("if_missing", False)), result)


def evaluate_all(conds: list[dict[str, Any]], features: pd.DataFrame) -> np.ndarray:
    """Boolean per patient (row of `features`) and condition (column), each feature column
    prepared once for all the conditions."""
    columns = _Columns(features)
    if not conds:
        return np.zeros((len(features), 0), dtype=bool)
    return np.column_stack([_evaluate(cond, columns) for cond in conds])


def evaluate(cond: dict[str, Any], features: pd.DataFrame) -> np.ndarray:
    """Boolean per patient (row of `features`)."""
    return _evaluate(cond, _Columns(features))


def grade_allows(grade: str, floor: str) -> bool:
    return GRADES.index(grade) >= GRADES.index(floor)
