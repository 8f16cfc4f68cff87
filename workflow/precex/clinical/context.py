"""The context of each mention in clinical free text: negated, possible, historical, planned,
hypothetical, a relative's, or affirmed (active), with the date written next to it.

NegEx/ConText (resources/clinical/context_rules.yaml): negspacy's NegEx component, run once
per status with that status's trigger lists, on a blank English spaCy tokenizer (no model, no
network). The mentions themselves come from precex's vocabularies; this module only reads
their context. Text is NFKC-normalised and stripped of invisible format characters first, so a
copy-pasted soft hyphen or zero-width space never hides a word.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from precex.paths import resource_path

if TYPE_CHECKING:  # spaCy loads only when free text is read (about 2 s)
    from spacy.language import Language

MAX_TEXT = 20_000  # characters of one cell read for context; a longer one says so (sheet)
STATUSES = ("active", "ending", "negated", "hypothetical", "family", "planned", "possible",
            "historical")
CLAUSE_BREAK = re.compile(r"[;|\n\r]+|(?<=[a-z0-9)\]])\.\s+|\.$|\s[-\u2013\u2014]\s")

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS["sept"] = 9
_DATE_PATTERNS = (
    ("iso", re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")),
    ("dmy", re.compile(r"(?<!\d)(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})(?!\d)")),
    ("month_year", re.compile(r"(?<![a-z])(" + "|".join(sorted(_MONTHS, key=len, reverse=True))
                              + r")\.?\s*'?(\d{4}|\d{2})(?!\d)")),
    ("month_slash_year", re.compile(r"(?<![\d/])(\d{1,2})/(\d{4})(?!\d)")),
    ("ago", re.compile(r"(?<![a-z\d])(\d{1,3}|a|one|two|three|four|five|six)\s*"
                       r"(day|days|d|week|weeks|wk|wks|w|month|months|mo|mos|year|years|yr|yrs)"
                       r"\s+ago(?![a-z])")),
    ("last", re.compile(r"(?<![a-z])(yesterday|last week|last month|last year)(?![a-z])")),
    ("year", re.compile(r"(?<![\d/.-])(19[4-9]\d|20\d\d)(?![\d/-])")),
)
_WORD_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_UNIT_DAYS = {"d": 1, "day": 1, "days": 1, "w": 7, "wk": 7, "wks": 7, "week": 7, "weeks": 7,
              "mo": 30, "mos": 30, "month": 30, "months": 30, "yr": 365, "yrs": 365,
              "year": 365, "years": 365}


def clean_text(text: str) -> str:
    """NFKC, invisible format characters (soft hyphen, zero-width space, direction marks)
    removed, lower case, single spaces."""
    folded = unicodedata.normalize("NFKC", str(text))
    folded = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return re.sub(r"[ \t\u00a0]+", " ", folded.lower().replace("_", " ")).strip()


def mixed_scripts(text: str) -> bool:
    """True when Cyrillic or Greek letters sit beside Latin letters or inside a word with
    digits: a look-alike ('Т8' with a Cyrillic Te, 'АF') that no vocabulary will read."""
    folded = unicodedata.normalize("NFKC", str(text))
    scripts = {unicodedata.name(ch, "").split(" ")[0] for ch in folded if ch.isalpha()}
    if "LATIN" in scripts and scripts & {"CYRILLIC", "GREEK"}:
        return True
    return any(re.search(r"\d", word) and any(
        unicodedata.name(ch, "").split(" ")[0] in ("CYRILLIC", "GREEK") for ch in word)
        for word in re.findall(r"\w+", folded))


@dataclass(frozen=True)
class Mention:
    """One mention of a code in a clause: its words, its status and the date written with it
    (ISO, '' if none; a year or month alone is its last day, the most recent it can mean)."""

    code: str
    words: str
    clause: str
    status: str
    date: str


@dataclass(frozen=True)
class ContextRules:
    precedence: tuple[str, ...]
    policy: dict[str, dict[str, Any]]
    termination: tuple[str, ...]
    not_a_mention: tuple[str, ...]
    triggers: dict[str, dict[str, tuple[str, ...]]]


@cache
def context_rules() -> ContextRules:
    import yaml

    data = yaml.safe_load(resource_path("clinical", "context_rules.yaml").read_text("utf-8"))
    triggers = {status: {k: tuple(str(x) for x in v) for k, v in lists.items()}
                for status, lists in data["triggers"].items()}
    return ContextRules(tuple(data["precedence"]), data["policy"],
                        tuple(str(x) for x in data["termination"]),
                        tuple(data["not_a_mention"]), triggers)


@cache
def _pipeline() -> Language:
    import negspacy.negation  # noqa: F401  (registers the 'negex' factory)
    import spacy
    from spacy.tokens import Span

    rules = context_rules()
    nlp = spacy.blank("en")
    # Clauses are split before they get here; a '?' ('?DVT') must stay a trigger, not end a
    # sentence, so the sentencizer breaks only at a character that never occurs.
    nlp.add_pipe("sentencizer", config={"punct_chars": ["\u2029"]})
    for status in rules.precedence:
        lists = rules.triggers[status]
        name = f"context_{status}"
        if not Span.has_extension(name):
            Span.set_extension(name, default=False)
        nlp.add_pipe("negex", name=name, config={
            "extension_name": name,
            "neg_termset": {"pseudo_negations": list(lists.get("pseudo", ())),
                            "preceding_negations": list(lists.get("preceding", ())),
                            "following_negations": list(lists.get("following", ())),
                            "termination": list(rules.termination)},
            "span_keys": ["mentions"]})
    return nlp


def clauses(text: str) -> list[str]:
    """The clauses of a cell: split at ';', '|', new lines, sentence ends and a spaced dash
    ('?PE - CTPA pending': the test is pending, not the embolism)."""
    return [c.strip(" .") for c in CLAUSE_BREAK.split(clean_text(text)) if c.strip(" .")]


def _last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _full_year(two_or_four: str) -> int:
    year = int(two_or_four)
    return year if year >= 100 else 2000 + year if year < 70 else 1900 + year


def dates_in(clause: str, reference: dt.date | None) -> list[tuple[int, dt.date]]:
    """(position, date) of every date written in the clause. A year or a month alone means its
    last day (the most recent reading); day/month/year is day first, and when both orders are
    valid the later date is taken (again the most recent); 'N weeks ago' needs the reference
    date. Dates that cannot exist are skipped."""
    found: list[tuple[int, dt.date]] = []
    taken: list[range] = []
    for kind, pattern in _DATE_PATTERNS:
        for m in pattern.finditer(clause):
            if any(m.start() in r for r in taken):
                continue
            date = None
            try:
                if kind == "iso":
                    date = dt.date(int(m[1]), int(m[2]), int(m[3]))
                elif kind == "dmy":
                    year = _full_year(m[3])
                    options = [d for d in (_safe(year, int(m[2]), int(m[1])),
                                           _safe(year, int(m[1]), int(m[2]))) if d]
                    past = [d for d in options if reference is None or d <= reference]
                    # Day first; when both orders are valid, the most recent past date (a
                    # surgery 'recent' rather than 'planned' is the cautious reading).
                    date = (max(past) if reference is not None and past else
                            options[0] if options else None)
                elif kind == "month_year":
                    date = _last_day(_full_year(m[2]), _MONTHS[m[1]])
                elif kind == "month_slash_year" and 1 <= int(m[1]) <= 12:
                    date = _last_day(int(m[2]), int(m[1]))
                elif kind == "ago" and reference is not None:
                    count = _WORD_NUMBERS.get(m[1]) or int(m[1])
                    date = reference - dt.timedelta(days=count * _UNIT_DAYS[m[2]])
                elif kind == "last" and reference is not None:
                    date = reference - dt.timedelta(days={"yesterday": 1, "last week": 7,
                                                          "last month": 30,
                                                          "last year": 365}[m[1]])
                elif kind == "year":
                    date = dt.date(int(m[1]), 12, 31)
            except ValueError:
                date = None
            if date is not None:
                found.append((m.start(), date))
                taken.append(range(m.start(), m.end()))
    return sorted(found)


def _safe(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


Finder = Callable[[str], Iterable[tuple[int, int, str]]]


def read_mentions(text: str | None, find: Finder,
                  reference: dt.date | None = None) -> list[Mention]:
    """Every mention that `find` (clause -> (start, end, code) spans) locates in `text`, with
    its status and date. A date after the reference date makes an affirmed mention planned;
    one before it makes it historical ('mastectomy 2015')."""
    if text is None or (isinstance(text, float) and text != text) or not str(text).strip():
        return []
    rules = context_rules()
    nlp = _pipeline()
    parts = clauses(str(text)[:MAX_TEXT])
    docs = []
    for clause in parts:
        blocked = [range(m.start(), m.end()) for phrase in rules.not_a_mention
                   for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", clause)]
        doc = nlp.make_doc(clause)
        spans = []
        for start, end, code in find(clause):
            if any(start in r for r in blocked):
                continue
            span = doc.char_span(start, end, label=code, alignment_mode="expand")
            if span is not None:
                spans.append(span)
        doc.spans["mentions"] = spans
        docs.append(doc)
    mentions = []
    for clause, doc in zip(parts, (nlp(d) for d in docs), strict=True):
        dated = _dates_of_mentions(clause, list(doc.spans["mentions"]), reference)
        for span in doc.spans["mentions"]:
            status = next((s for s in rules.precedence if span._.get(f"context_{s}")),
                          "active")
            date = dated.get(span.start_char)
            if date is not None and reference is not None and status in ("active",
                                                                         "historical"):
                status = "planned" if date > reference else "historical"
            mentions.append(Mention(span.label_, span.text, clause, status,
                                    date.isoformat() if date else ""))
    return mentions


def _dates_of_mentions(clause: str, spans: list[Any], reference: dt.date | None
                       ) -> dict[int, dt.date]:
    """{mention start: its date}. A date belongs to the mention just before it ('DVT 2019';
    'DVT Oct 2026 on apixaban' dates the DVT, not the apixaban), else to the one just after it
    ('2019 DVT'), and only between the same commas ('mastectomy 2019, drain in situ')."""
    commas = [i for i, ch in enumerate(clause) if ch == ","]

    def segment(pos: int) -> int:
        return sum(1 for i in commas if i < pos)

    starts = sorted({span.start_char for span in spans})
    out: dict[int, dt.date] = {}
    for pos, date in dates_in(clause, reference):
        same = [s for s in starts if segment(s) == segment(pos)]
        before = [s for s in same if s < pos]
        after = [s for s in same if s > pos]
        owner = before[-1] if before else after[0] if after else None
        if owner is not None:
            out.setdefault(owner, date)
    return out


def vocabulary_finder(pattern: re.Pattern[str], codes: dict[str, tuple[str, ...]]) -> Finder:
    """A Finder from a precex Vocabulary's pattern and synonym -> codes map."""
    def find(clause: str) -> Iterable[tuple[int, int, str]]:
        for hit in pattern.finditer(clause):
            for code in codes[hit.group(1)]:
                yield hit.start(1), hit.end(1), code
    return find
