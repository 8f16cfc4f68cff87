"""The patient handout: week 1 in plain language, the signs to stop and call, and a calendar.

One page per patient (HTML, print-ready) with the dated sessions of the first week, how hard
each should feel (the talk test and the Borg scale), what to leave out, and the warning signs
that mean stop and call the care team; plus an iCalendar file (RFC 5545, via the icalendar
library) with one all-day event per scheduled session, so the patient can add the week to a
phone calendar. Both are deterministic: event UIDs are uuid5 of patient, date and session, and
DTSTAMP is the prescription's reference date, so a rerun writes the same bytes.

A plan that is not signed, or that asks for clearance, says so first and, for clearance or a
deferral, schedules nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Mapping
from typing import Any

from precex.io.dates import day_label, patient_dates
from precex.paths import resource_rows
from precex.prescription.model import EMPTY, Prescription
from precex.prescription.plan import AEROBIC_MODES, FALLBACK_MODE, INTENSITY_TABLE
from precex.prescription.restrictions import PATIENT_TEXT
from precex.prescription.signoff import SIGNED_STATES, effective_signoff

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://precex.invalid/handout")
# Borg's 6-20 scale with its own words (Borg 1982): the number and the word go together, and
# the talk test says the same thing in everyday terms. Shown once, in "How hard".
# The words and numbers come from resources/prescription/intensity.tsv, the table the plan and
# the report read, so the handout cannot give another RPE range than the clinician's report.
EFFORT = {name: {"words": row["effort_words"],
                 "scale": f"{row['rpe'][0]} to {row['rpe'][1]}", "talk": row["talk_test"]}
          for name, row in INTENSITY_TABLE.items()}
KIND = {"resistance": "Strength exercises", "balance": "Balance exercises",
        "flexibility": "Stretching"}
MODE_WORDS = {mode: words for mode, _, _, words in AEROBIC_MODES}  # as a patient says them
# Every restriction the rule base can set, in words a patient uses (tests check that no
# code such as "weight_bearing_cardio" or "public facilities" reaches the handout).
EXCLUDED_PLAIN = PATIENT_TEXT  # resources/prescription/restrictions.tsv


def _precautions() -> dict[str, str]:
    return {row["code"]: row["patient_text"]
            for row in resource_rows("prescription", "precautions.tsv")}


PRECAUTIONS = _precautions()  # resources/prescription/precautions.tsv: what the patient does


def precautions(p: Prescription) -> list[str]:
    """The precautions that concern what this patient does, in plain words, from the codes
    that counted in the engine's picture (the history), in the table's order; one sentence
    once even when several codes give it."""
    codes = set(str((p.get("picture") or EMPTY).get("comorbidities") or "").split(";"))
    return list(dict.fromkeys(text for code, text in PRECAUTIONS.items() if code in codes))
def _stop_signs() -> list[str]:
    return [row["sign"] for row in resource_rows("prescription", "stop_signs.tsv")]


STOP_SIGNS = _stop_signs()  # resources/prescription/stop_signs.tsv, each with its source
NO_SESSIONS = {
    "clearance_required": "Please do not start these exercises yet: your care team needs to "
                          "check a few things first and will tell you when you can begin.",
    "deferred": "Please do not exercise for now: your care team will review your plan with "
                "you.",
}


def modes_text(modes: list[str]) -> str:
    """'An exercise bike or a recumbent bike': the week's aerobic modes in words."""
    words = [MODE_WORDS.get(m, m) for m in modes] or [MODE_WORDS[FALLBACK_MODE]]
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return text[0].upper() + text[1:]


def session_text(session: Mapping[str, Any], reps: list[float] | None = None,
                 modes: list[str] | None = None) -> str:
    if session.get("type") == "aerobic":
        kind = modes_text(modes or [])
    else:
        kind = KIND.get(session.get("type", ""), str(session.get("type", "exercise")).title())
    amount = f", {session['minutes']} minutes" if session.get("minutes") else ""
    if session.get("sets"):
        sets = int(session["sets"])
        amount = f", {sets} set{'s' if sets != 1 else ''} of each exercise" + (
            f", {reps[0]} to {reps[1]} times each" if reps else "")
    effort = EFFORT.get(session.get("intensity", ""))
    return f"{kind}{amount}" + (f", {effort['words']} effort" if effort else "")


def scheduled_days(p: Prescription) -> list[dict[str, Any]]:
    """The dated days of week 1 that have sessions (none when not to be started)."""
    if p["status"] in NO_SESSIONS or effective_signoff(p)["state"] == "rejected":
        return []
    week = p.get("this_week") or EMPTY
    res = week.get("resistance") or EMPTY
    reps = res.get("reps")
    modes = (week.get("aerobic") or EMPTY).get("modes") or (p.get("aerobic") or EMPTY).get("modes")
    return [{"date": day["date"], "weekday": day["weekday"], "label": day_label(day["date"]),
             "sessions": [session_text(s, reps, modes) for s in day["sessions"]],
             "intensities": [s.get("intensity") for s in day["sessions"]]}
            for day in p.get("schedule") or [] if day.get("sessions")]


def effort_rows(days: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One line per effort level used this week, lightest first: the scale is explained once."""
    used = {i for day in days for i in day["intensities"] if i in EFFORT}
    return [{"level": level, **EFFORT[level]} for level in EFFORT if level in used]


def fever_now(p: Prescription) -> bool:
    """A fever the data record now (the rule that defers for it fired)."""
    return any(t.get("rule_id") == "SAFETY_FEVER" and t.get("applied")
               for t in p.get("trace") or [])


def handout_context(p: Prescription, care_team_phone: str = "") -> dict[str, Any]:
    signoff = effective_signoff(p)
    urgent = ""
    adaptation = p.get("adaptation") or EMPTY
    if adaptation.get("decision") == "stop":  # which symptom, which day, and what to do now
        # the stop's own text: a quiet week after a red flag still names it (issue 42)
        flag = patient_dates((adaptation.get("position") or EMPTY).get("stop")
                             or (adaptation.get("features") or EMPTY).get("red_flags")
                             or "a warning sign")
        urgent = (f"Please stop exercising: you reported {flag}. Call your oncology team "
                  "today" + (f" on {care_team_phone}" if care_team_phone else "")
                  + ", and do not exercise again until they say you can.")
    elif fever_now(p):
        urgent = ("You have a raised temperature or a fever. Do not exercise. Call your "
                  "oncology team today" + (f" on {care_team_phone}" if care_team_phone else "")
                  + ": a fever during cancer treatment can be a sign of infection.")
    if urgent and adaptation.get("decision") == "stop":
        first = ""  # the stop says it all, first
    elif p["status"] in NO_SESSIONS:
        first = NO_SESSIONS[p["status"]]
    elif signoff["state"] == "rejected":
        first = "Your care team has withdrawn this plan. Please do not use it."
    elif signoff["state"] not in SIGNED_STATES:
        first = ("Not yet confirmed by your care team: please wait until they have gone "
                 "through it with you before you start.")
    else:
        first = ""
    days = scheduled_days(p)
    exercises = [e["name"] for e in (p.get("resistance") or EMPTY).get("exercises", [])]
    schedule = p.get("schedule") or []
    start = schedule[0]["date"] if schedule else p["engine"]["reference_date"]
    # The week of the plan the page shows (the baseline's week 1, a weekly plan's own week).
    plan_week = ((p.get("this_week") or EMPTY).get("week")
                 or (adaptation.get("position") or EMPTY).get("week") or 1)
    return {"p": p, "first": first, "urgent": urgent, "days": days, "exercises": exercises,
            "plan_week": plan_week, "update": adaptation.get("week"),
            "week_start": day_label(start) + f" {dt.date.fromisoformat(start).year}",
            "efforts": effort_rows(days), "phone": care_team_phone,
            "rir": ((p.get("this_week") or EMPTY).get("resistance")
                    or EMPTY).get("reps_in_reserve"),
            # A shorter session is fine only when sessions are on: never beside a stop.
            "shorter_ok": bool(days) and not urgent,
            "avoid": [EXCLUDED_PLAIN.get(e, e.replace("_", " ")) for e in p["excluded"]],
            "precautions": precautions(p),
            "stop_signs": STOP_SIGNS, "supervised": p.get("supervision") == "supervised"}


def render_handout(p: Prescription, care_team_phone: str = "") -> str:
    from precex.reporting.patient import environment

    return environment().get_template("handout.html.j2").render(
        **handout_context(p, care_team_phone))


def memoise_line_folding() -> None:
    """icalendar folds each content line to 75 octets character by character, about half of
    a calendar's cost; the long lines (a session's description with the stop signs) are the
    same for many patients. The folding is a pure function of the line, so it is memoised.
    Without the private name (another icalendar), calendars are only slower."""
    from icalendar.parser import content_line

    fold = getattr(content_line, "_foldline", None)
    if fold is not None and not hasattr(fold, "cache_info"):
        content_line._foldline = functools.lru_cache(maxsize=4096)(fold)


def session_calendar(p: Prescription) -> bytes:
    """An iCalendar (RFC 5545) with one all-day event per scheduled session of week 1."""
    from icalendar import Calendar, Event

    memoise_line_folding()
    calendar = Calendar()
    calendar.add("prodid", "-//precex//exercise prescription//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Exercise plan {p['patient_id']}")
    stamp = dt.datetime.combine(dt.date.fromisoformat(p["engine"]["reference_date"]),
                                dt.time(0, 0), tzinfo=dt.UTC)
    care = "".join(f"{c} " for c in precautions(p))
    for day in scheduled_days(p):
        date = dt.date.fromisoformat(day["date"])
        for index, text in enumerate(day["sessions"]):
            event = Event()
            key = f"{p['patient_id']}/{date}/{index}"
            event.add("uid", f"{uuid.uuid5(NAMESPACE, key)}@precex.invalid")
            event.add("dtstamp", stamp)
            event.add("dtstart", date)
            event.add("dtend", date + dt.timedelta(days=1))
            event.add("summary", "Exercise: " + (text.rsplit(", ", 1)[0]
                                                 if text.endswith(" effort") else text))
            event.add("description", text + ". " + care + "Stop and call your care team if "
                      "you notice: " + "; ".join(STOP_SIGNS) + ".")
            event.add("transp", "TRANSPARENT")  # a reminder, not a busy slot
            calendar.add_component(event)
    return calendar.to_ical()
