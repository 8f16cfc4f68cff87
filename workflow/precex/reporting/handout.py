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

from precex.io.dates import day_label, patient_dates
from precex.prescription.signoff import SIGNED_STATES, effective_signoff

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://precex.invalid/handout")
# Borg's 6-20 scale with its own words (Borg 1982): the number and the word go together, and
# the talk test says the same thing in everyday terms. Shown once, in "How hard".
EFFORT = {
    "light": {"words": "fairly light", "scale": "9 to 11",
              "talk": "you can talk in full sentences"},
    "moderate": {"words": "somewhat hard", "scale": "12 to 13",
                 "talk": "you can talk, but not sing"},
    "vigorous": {"words": "hard", "scale": "14 to 16",
                 "talk": "you can say only a few words at a time"},
}
KIND = {"resistance": "Strength exercises", "balance": "Balance exercises",
        "flexibility": "Stretching"}
MODE_WORDS = {  # the plan's aerobic modes as a patient says them
    "brisk walking": "a brisk walk", "walking at an easy pace": "an easy walk",
    "stationary cycling": "an exercise bike", "recumbent cycling": "a recumbent bike",
    "water-based exercise (pool)": "water-based exercise", "group exercise class": "a class",
    "jogging or running intervals": "jogging or running intervals",
}
# Every restriction the rule base can set, in words a patient uses (tests check that no
# code such as "weight_bearing_cardio" or "public facilities" reaches the handout).
EXCLUDED_PLAIN = {
    "vigorous": "hard, breathless effort", "high_impact": "jumping and running",
    "resistance": "strength training (for now)",
    "isometric_heavy": "heavy straining or holding your breath while lifting",
    "overhead_pressing": "pressing weights above your head",
    "upper_body_loading": "lifting, pushing or pulling weights with your arms, and taking "
                          "your weight on your hands",
    "lower_body_loading": "weights on your legs or hips (your own body weight only)",
    "spinal_loading": "bending forward or twisting while lifting or holding a weight, and "
                      "sit-ups",
    "public_facilities": "public gyms and swimming pools (to lower the risk of infection)",
    "group_sessions": "group exercise classes (to lower the risk of infection)",
    "weight_bearing_cardio": "walking or treadmill workouts for exercise (use a bike or "
                             "water-based exercise instead)",
    "floor_work": "exercises lying or kneeling on the floor",
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


def modes_text(modes: list[str]) -> str:
    """'An exercise bike or a recumbent bike': the week's aerobic modes in words."""
    words = [MODE_WORDS.get(m, m) for m in modes] or ["an exercise bike"]
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return text[0].upper() + text[1:]


def session_text(session: dict[str, Any], reps: list[int] | None = None,
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


def scheduled_days(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The dated days of week 1 that have sessions (none when not to be started)."""
    if p["status"] in NO_SESSIONS or effective_signoff(p)["state"] == "rejected":
        return []
    week = p.get("this_week") or {}
    res = week.get("resistance") or {}
    reps = res.get("reps") or ([res["reps_min"], res["reps_max"]] if res else None)
    modes = (week.get("aerobic") or {}).get("modes") or (p.get("aerobic") or {}).get("modes")
    return [{"date": day["date"], "weekday": day["weekday"], "label": day_label(day["date"]),
             "sessions": [session_text(s, reps, modes) for s in day["sessions"]],
             "intensities": [s.get("intensity") for s in day["sessions"]]}
            for day in p.get("schedule") or [] if day.get("sessions")]


def effort_rows(days: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One line per effort level used this week, lightest first: the scale is explained once."""
    used = {i for day in days for i in day["intensities"] if i in EFFORT}
    return [{"level": level, **EFFORT[level]} for level in EFFORT if level in used]


def fever_now(p: dict[str, Any]) -> bool:
    """A fever the data record now (the rule that defers for it fired)."""
    return any(t.get("rule_id") == "SAFETY_FEVER" and t.get("applied")
               for t in p.get("trace") or [])


def handout_context(p: dict[str, Any], care_team_phone: str = "") -> dict[str, Any]:
    signoff = effective_signoff(p)
    urgent = ""
    adaptation = p.get("adaptation") or {}
    if adaptation.get("decision") == "stop":  # which symptom, which day, and what to do now
        flag = patient_dates((adaptation.get("features") or {}).get("red_flags")
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
    exercises = [e["name"] for e in (p.get("resistance") or {}).get("exercises", [])]
    schedule = p.get("schedule") or []
    start = schedule[0]["date"] if schedule else p["engine"]["reference_date"]
    # The week of the plan the page shows (the baseline's week 1, a weekly plan's own week).
    plan_week = ((p.get("this_week") or {}).get("week")
                 or (adaptation.get("position") or {}).get("week") or 1)
    return {"p": p, "first": first, "urgent": urgent, "days": days, "exercises": exercises,
            "plan_week": plan_week, "update": adaptation.get("week"),
            "week_start": day_label(start) + f" {dt.date.fromisoformat(start).year}",
            "efforts": effort_rows(days), "phone": care_team_phone,
            "rir": ((p.get("this_week") or {}).get("resistance") or {}).get("reps_in_reserve"),
            # A shorter session is fine only when sessions are on: never beside a stop.
            "shorter_ok": bool(days) and not urgent,
            "avoid": [EXCLUDED_PLAIN.get(e, e.replace("_", " ")) for e in p["excluded"]],
            "stop_signs": STOP_SIGNS, "supervised": p.get("supervision") == "supervised"}


def render_handout(p: dict[str, Any], care_team_phone: str = "") -> str:
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
            event.add("summary", "Exercise: " + (text.rsplit(", ", 1)[0]
                                                 if text.endswith(" effort") else text))
            event.add("description", text + ". Stop and call your care team if you notice: "
                      + "; ".join(STOP_SIGNS) + ".")
            event.add("transp", "TRANSPARENT")  # a reminder, not a busy slot
            calendar.add_component(event)
    return calendar.to_ical()
