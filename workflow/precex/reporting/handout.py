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
from typing import Any

from precex.prescription.signoff import SIGNED_STATES, effective_signoff

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://precex.invalid/handout")
EFFORT = {  # plain-language effort, the talk test and Borg RPE (6-20)
    "light": "easy: you can talk in full sentences (effort 9-11 out of 20)",
    "moderate": "somewhat hard: you can talk, but not sing (effort 12-13 out of 20)",
    "vigorous": "hard: you can say only a few words at a time (effort 14-16 out of 20)",
}
KIND = {"aerobic": "Walking, cycling or similar", "resistance": "Strength exercises",
        "balance": "Balance exercises", "flexibility": "Stretching"}
EXCLUDED_PLAIN = {
    "vigorous": "hard, breathless effort", "high_impact": "jumping and running",
    "contact_sports": "contact sports", "resistance": "strength training (for now)",
    "isometric_heavy": "heavy straining or holding your breath while lifting",
    "overhead_pressing": "pressing weights above your head",
    "upper_body_loading": "heavy lifting with your arms",
    "lower_body_loading": "heavy weights on your legs or hips",
    "swimming": "swimming (for now)", "heat": "exercising in the heat",
}
STOP_SIGNS = [
    "chest pain, pressure or tightness",
    "sudden or severe shortness of breath",
    "feeling faint or dizzy, or a racing or irregular heartbeat",
    "a temperature of 38 °C (100.4 °F) or more, or shivering",
    "unusual bleeding or bruising",
    "new or worse pain in a bone, your back or a joint",
    "new swelling, heaviness or tightness in your arm, hand or chest",
    "pain, swelling or warmth in one calf",
]
NO_SESSIONS = {
    "clearance_required": "Please do not start these exercises yet: your care team needs to "
                          "check a few things first and will tell you when you can begin.",
    "deferred": "Please do not exercise for now: your care team will review your plan with "
                "you.",
}


def session_text(session: dict[str, Any], reps: list[int] | None = None) -> str:
    kind = KIND.get(session.get("type", ""), str(session.get("type", "exercise")).title())
    amount = f", {session['minutes']} minutes" if session.get("minutes") else ""
    if session.get("sets"):
        sets = int(session["sets"])
        amount = f", {sets} set{'s' if sets != 1 else ''} of each exercise" + (
            f", {reps[0]}-{reps[1]} repetitions" if reps else "")
    effort = EFFORT.get(session.get("intensity", ""))
    return f"{kind}{amount}" + (f"; {effort}" if effort else "")


def scheduled_days(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The dated days of week 1 that have sessions (none when not to be started)."""
    if p["status"] in NO_SESSIONS or effective_signoff(p)["state"] == "rejected":
        return []
    reps = ((p.get("this_week") or {}).get("resistance") or {}).get("reps")
    return [{"date": day["date"], "weekday": day["weekday"],
             "sessions": [session_text(s, reps) for s in day["sessions"]]}
            for day in p.get("schedule") or [] if day.get("sessions")]


def handout_context(p: dict[str, Any]) -> dict[str, Any]:
    signoff = effective_signoff(p)
    if p["status"] in NO_SESSIONS:
        first = NO_SESSIONS[p["status"]]
    elif signoff["state"] == "rejected":
        first = "Your care team has withdrawn this plan. Please do not use it."
    elif signoff["state"] not in SIGNED_STATES:
        first = ("Not yet confirmed by your care team: please wait until they have gone "
                 "through it with you before you start.")
    else:
        first = ""
    exercises = [e["name"] for e in (p.get("resistance") or {}).get("exercises", [])]
    return {"p": p, "first": first, "days": scheduled_days(p), "exercises": exercises,
            "avoid": [EXCLUDED_PLAIN.get(e, e.replace("_", " ")) for e in p["excluded"]],
            "stop_signs": STOP_SIGNS, "supervised": p.get("supervision") == "supervised"}


def render_handout(p: dict[str, Any]) -> str:
    from precex.reporting.patient import environment

    return environment().get_template("handout.html.j2").render(**handout_context(p))


def memoise_line_folding() -> None:
    """icalendar folds each content line to 75 octets character by character, about half of
    a calendar's cost; the long lines (a session's description with the stop signs) are the
    same for many patients. The folding is a pure function of the line, so it is memoised.
    Without the private name (another icalendar), calendars are only slower."""
    from icalendar.parser import content_line

    fold = getattr(content_line, "_foldline", None)
    if fold is not None and not hasattr(fold, "cache_info"):
        content_line._foldline = functools.lru_cache(maxsize=4096)(fold)


def session_calendar(p: dict[str, Any]) -> bytes:
    """An iCalendar (RFC 5545) with one all-day event per scheduled session of week 1."""
    from icalendar import Calendar, Event

    memoise_line_folding()
    calendar = Calendar()
    calendar.add("prodid", "-//precex//exercise prescription//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Exercise plan {p['patient_id']}")
    stamp = dt.datetime.combine(dt.date.fromisoformat(p["engine"]["reference_date"]),
                                dt.time(0, 0), tzinfo=dt.UTC)
    for day in scheduled_days(p):
        date = dt.date.fromisoformat(day["date"])
        for index, text in enumerate(day["sessions"]):
            event = Event()
            key = f"{p['patient_id']}/{date}/{index}"
            event.add("uid", f"{uuid.uuid5(NAMESPACE, key)}@precex.invalid")
            event.add("dtstamp", stamp)
            event.add("dtstart", date)
            event.add("dtend", date + dt.timedelta(days=1))
            event.add("summary", f"Exercise: {text.split(';')[0]}")
            event.add("description", text + ". Stop and call your care team if you notice: "
                      + "; ".join(STOP_SIGNS) + ".")
            event.add("transp", "TRANSPARENT")  # a reminder, not a busy slot
            calendar.add_component(event)
    return calendar.to_ical()
