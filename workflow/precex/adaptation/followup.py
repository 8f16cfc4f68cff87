"""Follow-up tables read the way baseline tables are: header aliases, dates, IDs.

Devices and ePRO systems export follow-up data with their own headers ("Patient ID",
"Intensity Minutes", "Resting Heart Rate"), date styles (2026/01/30, 20260130, or the site's
month- or day-first order) and extra columns. Each follow-up table is normalised once, where it
is split by shard and week (and by `precex adapt`): headers through the same alias tables as
the baseline readers (wearables, blood) and the symptom vocabulary
(resources/adaptation/symptoms.tsv); patient IDs stripped; dates rewritten as YYYY-MM-DD where
precex reads them (an unreadable date is kept and reported with its row by the week's job).
Every column precex does not read is a data issue naming the column, never ignored silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pandas as pd

from precex.blood.stage import BLOOD_ALIASES, BLOOD_COLUMNS
from precex.io.columns import resolve_columns
from precex.io.dates import parse_dates
from precex.paths import resource_path
from precex.problems import Problem
from precex.wearables.stage import WEARABLE_ALIASES, WEARABLE_COLUMNS

SOURCE_ROW = "source_row"  # the user's row number, carried by a shard's slice of a table
# Follow-up wearable columns beyond the baseline's (which include the wear flag and wear time):
# a session log (or an ePRO "did you do your session" column).
WEARABLE_EXTRA_ALIASES = {
    "logged_sessions": ["sessions", "exercise_sessions", "sessions_logged", "session_count",
                        "session_done", "exercise_session_done", "did_exercise_session"],
    "logged_exercise_min": ["logged_minutes", "exercise_log_min", "session_minutes",
                            "exercise_min_logged", "logged_exercise_minutes",
                            "session_duration_min"],
}
KINDS = ("flag", "score", "temperature", "text")


@dataclass(frozen=True)
class Symptom:
    """One coded symptom a follow-up symptom table may carry."""
    name: str
    kind: str  # flag, score (0-10), temperature, text
    aliases: tuple[str, ...]
    terms: tuple[str, ...]  # phrases searched in free-text comments
    system: str  # PRO-CTCAE, CTCAE v5, LOINC
    term: str
    red_flag: bool
    source: str


@cache
def symptom_vocabulary() -> dict[str, Symptom]:
    """resources/adaptation/symptoms.tsv, by symptom name."""
    table = pd.read_csv(resource_path("adaptation", "symptoms.tsv"), sep="\t", dtype=str,
                        keep_default_na=False)
    out = {}
    for r in table.itertuples(index=False):
        if r.kind not in KINDS:
            raise ValueError(f"resources/adaptation/symptoms.tsv: symptom '{r.symptom}' has "
                             f"kind '{r.kind}' (one of {', '.join(KINDS)})")
        out[r.symptom] = Symptom(r.symptom, r.kind, tuple(a for a in r.aliases.split(";") if a),
                                 tuple(t for t in r.terms.split(";") if t), r.system, r.term,
                                 r.red_flag == "yes", r.source)
    return out


def symptoms_of_kind(kind: str) -> tuple[str, ...]:
    return tuple(s.name for s in symptom_vocabulary().values() if s.kind == kind)


def red_flag_symptoms() -> tuple[str, ...]:
    return tuple(s.name for s in symptom_vocabulary().values() if s.red_flag)


_KEYS = ("patient_id", "date")
# ePRO and diary exports (REDCap's record_id, a survey's completion date) beside the
# wearable and lab spellings.
_KEY_ALIASES = {"patient_id": WEARABLE_ALIASES["patient_id"] + BLOOD_ALIASES["patient_id"]
                + ["record_id", "participant", "respondent_id", "study_subject_id"],
                "date": WEARABLE_ALIASES["date"] + BLOOD_ALIASES["date"]
                + ["survey_date", "response_date", "questionnaire_date", "entry_date",
                   "diary_date", "report_date", "completed_date", "date_completed"]}


def known_columns(what: str) -> tuple[list[str], dict[str, list[str]]]:
    """The columns a follow-up table of kind `what` is read with, and their aliases."""
    if what == "wearables":
        return ([*WEARABLE_COLUMNS, *WEARABLE_EXTRA_ALIASES],
                {**WEARABLE_ALIASES, **WEARABLE_EXTRA_ALIASES, **_KEY_ALIASES})
    if what == "symptoms":
        vocabulary = symptom_vocabulary()
        return ([*_KEYS, *vocabulary],
                {**_KEY_ALIASES, **{s.name: list(s.aliases) for s in vocabulary.values()}})
    return list(BLOOD_COLUMNS), {**BLOOD_ALIASES, **_KEY_ALIASES}


def normalise_followup(frame: pd.DataFrame, source: str, what: str, date_format: str = "ISO"
                       ) -> tuple[pd.DataFrame, list[Problem]]:
    """The table with precex's column names, stripped IDs and YYYY-MM-DD dates where readable,
    and a data issue (not excluding) for every column precex does not read."""
    known, aliases = known_columns(what)
    columns = [str(c).strip() for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    mapping, _ = resolve_columns([c for c in columns if c != SOURCE_ROW], known, aliases)
    unread = [c for c in columns if c not in mapping and c != SOURCE_ROW]
    problems = [Problem(source, f"column '{c}' is not a follow-up {what} column precex reads; "
                        "its values are not used.", "rename it to a column precex reads "
                        "(see README, Follow-up tables), or remove it.", column=c,
                        stage="adaptation", excludes=False) for c in unread]
    out = frame.drop(columns=unread).rename(columns=mapping)
    if "patient_id" in out:
        out["patient_id"] = out["patient_id"].astype("string").fillna("").astype(str).str.strip()
    if "date" in out:
        text = out["date"].astype("string").fillna("").astype(str).str.strip()
        parsed = parse_dates(text, date_format)
        out["date"] = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), text)
    return out, problems


# A negation cue at most 3 words before a term negates it (NegEx's idea, Chapman WW et al.
# J Biomed Inform 2001), unless a sentence end or a word like "but" comes between.
_CUE = re.compile(r"\b(no|not|denies|denied|without|never|negative for)\b")
_TERMINATE = re.compile(r"[.;!?]|\b(but|however|although|though|now|yet|except)\b")
NEGATION_WORDS = 3


def _negated(before: str) -> bool:
    cues = list(_CUE.finditer(before))
    if not cues:
        return False
    tail = before[cues[-1].end():]
    return not _TERMINATE.search(tail) and len(re.findall(r"\w+", tail)) <= NEGATION_WORDS


def red_flag_terms(text: str) -> list[str]:
    """The red-flag symptoms whose terms a comment names without negating them ("no chest
    pain", "denies fever" do not count; "chest pain since Tuesday" does)."""
    lowered = str(text).lower()
    found = []
    for symptom in symptom_vocabulary().values():
        if not symptom.red_flag:
            continue
        for term in symptom.terms:
            for match in re.finditer(r"\b" + re.escape(term.lower()) + r"\b", lowered):
                before = lowered[max(0, match.start() - 60):match.start()]
                if not _negated(before):
                    found.append(symptom.name)
                    break
            if symptom.name in found:
                break
    return found
