"""Clinical facts: every condition, medicine or procedure a source names, with its status,
date and source, and the policy that decides which facts count for the rules.

A fact's status comes from its source: the context of a phrase in free text
(precex.clinical.context), or a FHIR resource's clinical and verification status. Whether it
counts is the policy of resources/clinical/context_rules.yaml with each code's `window_weeks`
(resources/clinical/comorbidities.tsv), so the sheet and the EHR cannot mean different things.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

from precex.clinical.context import context_rules, read_mentions, vocabulary_finder
from precex.clinical.vocabulary import (
    Coded,
    bone_density_code,
    code_comorbidities,
    comorbidity_table,
    comorbidity_vocabulary,
    split_terms,
)


@dataclass(frozen=True)
class Fact:
    code: str
    status: str  # active, ending, negated, hypothetical, family, planned, possible, historical
    date: str  # ISO date, '' when none was given
    text: str  # the words as written (a phrase's clause, a resource's display)
    source: str  # where: 'comorbidities' or a FHIR resource reference
    # the standard code as system|code: the EHR's own (RxNorm, ATC, SNOMED CT), else the
    # vocabulary's for the code (comorbidities.tsv `snomed`, then `atc`)
    concept: str = ""

    @property
    def kind(self) -> str:
        """condition, finding, medicine, procedure or device: the code's `kind` in
        resources/clinical/comorbidities.tsv."""
        return code_kinds().get(self.code, "")


@dataclass(frozen=True)
class Reading:
    """What a set of facts means for the rules: the codes that count, the items a clinician
    should confirm, and how each fact that does not count was read (shown, never silent)."""

    codes: tuple[str, ...]
    confirm: tuple[str, ...]
    not_counted: tuple[str, ...]
    facts: tuple[Fact, ...] = ()


SURGICAL = ("recent_surgery", "axillary_dissection", "abdominal_surgery", "lung_surgery")


def latest_surgery(facts: tuple[Fact, ...] | list[Fact]) -> Fact | None:
    """The most recent dated, past surgical fact ('mastectomy 3 weeks ago', 'ALND 2019'):
    the surgery date when the sheet gives none."""
    dated = [f for f in facts if f.code in SURGICAL and f.date
             and f.status in ("active", "historical", "possible")]
    return max(dated, key=lambda f: f.date) if dated else None


FACT_KINDS = ("condition", "finding", "medicine", "procedure", "device", "none")


@cache
def code_kinds() -> dict[str, str]:
    return {str(code): str(kind) for code, kind in comorbidity_table()["kind"].items()}


@cache
def code_windows() -> dict[str, int | None]:
    table = comorbidity_table()
    return {code: (int(w) if w.strip() else None) for code, w in table["window_weeks"].items()}


def comorbidity_facts(text: str | None, source: str,
                      reference: dt.date | None = None) -> list[Fact]:
    """The facts a free-text history cell states, each with its context."""
    vocabulary = comorbidity_vocabulary()
    finder = vocabulary_finder(vocabulary.pattern, vocabulary.codes)
    return [Fact(m.code, m.status, m.date, m.clause, source, standard_concept(m.code))
            for m in read_mentions(text, finder, reference)]


@cache
def _standard_concepts() -> dict[str, str]:
    from precex.clinical.vocabulary import ATC, SNOMED_CT

    out = {}
    for code, row in comorbidity_table().iterrows():
        snomed = next(filter(None, row["snomed"].split(";")), "")
        atc = next(filter(None, row["atc"].split(";")), "")
        out[str(code)] = (f"{SNOMED_CT}|{snomed}" if snomed
                          else f"{ATC}|{atc}" if atc else "")
    return out


def standard_concept(code: str) -> str:
    """A history code's standard concept (system|code; '' when the table gives none)."""
    return _standard_concepts().get(code, "")


def _label(fact: Fact) -> str:
    """The words as written, and where from when not the sheet's own history cell."""
    where = "" if fact.source == "comorbidities" else f" ({fact.source})"
    return f"'{fact.text}'{where}"


def read_facts(facts: list[Fact], reference: dt.date | None) -> Reading:
    """The policy applied: which codes count, what to confirm, what was read as not counting.
    A code counts when any of its facts counts (the cautious union across sources)."""
    rules = context_rules()
    windows = code_windows()
    codes: list[str] = []
    confirm: list[str] = []
    not_counted: list[str] = []
    for fact in facts:
        policy = rules.policy[fact.status]
        counts = policy["counts"]
        if counts == "window":
            window = windows.get(fact.code)
            if window is None:
                counts = True
            elif not fact.date or reference is None:
                counts = True
                confirm.append(f"{_label(fact)} is read as {fact.code} in the past with no "
                               f"date; it counts as current until its date is given (it "
                               f"counts for {window} weeks after it)")
            else:
                age_days = (reference - dt.date.fromisoformat(fact.date)).days
                counts = age_days <= 7 * window
                if not counts:
                    not_counted.append(f"{_label(fact)}: {fact.code} on {fact.date}, over "
                                       f"{window} weeks before the reference date: not "
                                       "counted as current")
        elif policy["confirm"]:
            if fact.status == "ending":
                what = "current, with its stop or removal ahead"
                dated = f" (to end {fact.date})" if fact.date else ""
                meaning = "it counts as current until it has stopped"
            else:
                what = {"possible": "possible (not confirmed)"}.get(fact.status, fact.status)
                dated = f" for {fact.date}" if fact.date else ""
                meaning = ("it counts as present until confirmed or ruled out" if counts
                           else "it does not count until it happens")
            confirm.append(f"{_label(fact)} is read as {fact.code}, {what}{dated}; {meaning}")
        if counts is True:
            if fact.code not in codes:
                codes.append(fact.code)
        elif not policy["confirm"] and fact.status != "historical":
            not_counted.append(f"{_label(fact)}: {fact.code} read as {fact.status}: "
                               "not counted")
    return Reading(tuple(sorted(codes)), tuple(dict.fromkeys(confirm)),
                   tuple(dict.fromkeys(not_counted)), tuple(facts))


def read_comorbidities(text: str | None, reference: dt.date | None = None,
                       source: str = "comorbidities", more: list[Fact] | None = None
                       ) -> tuple[Coded, Reading]:
    """A history cell read in context: the codes that count (and the terms no vocabulary
    knows), with the reading that says what was confirmed, negated or too old. `more`: the
    same patient's facts from other sources (the EHR), read through the same policy.

    A written T-score decides bone density whatever the word beside it ('osteopenia, T-score
    -2.8' is osteoporosis), as in code_comorbidities."""
    reading = read_facts(comorbidity_facts(text, source, reference) + list(more or []),
                         reference)
    terms = code_comorbidities(text)
    codes = [c for c in reading.codes if c != "none"]
    codes += [c for c in terms.codes if c in ("osteoporosis", "osteopenia")
              and c not in codes and any(bone_density_code(t) == c for t in split_terms(text))]
    unknown = tuple(t for t in terms.unrecognised if t not in ("no", "none"))
    return Coded(tuple(sorted(codes)), unknown), reading
