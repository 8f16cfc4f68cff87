"""The patient handout and its session calendar (RFC 5545, read back with icalendar)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from builders import RB
from icalendar import Calendar
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.signoff import prescription_digest, signoff_block, with_signoff
from precex.reporting.handout import render_handout, session_calendar


def _prescription(signed: bool = False, **changes) -> dict:
    row = {"age": 58.0, "hr_max_bpm": 162.0, **changes}
    p = prescribe(pd.DataFrame([row], index=["P7"]), RB, EngineSettings(dt.date(2026, 1, 5)))[0]
    latest = {"decision": "approve", "signed_by": "dr.x", "signed_at": "2026-01-05T08:00:00",
              "note": "", "prescription_digest": prescription_digest(p)} if signed else None
    return with_signoff(p, signoff_block(latest, prescription_digest(p)))


def test_the_calendar_holds_exactly_week_ones_sessions_and_is_deterministic():
    p = _prescription(signed=True)
    sessions = [(day["date"], s) for day in p["schedule"] for s in day["sessions"]]
    assert sessions, "the plain plan schedules sessions"
    ics = session_calendar(p)
    assert ics == session_calendar(p)  # same bytes every run
    events = Calendar.from_ical(ics).walk("VEVENT")
    assert sorted(str(e.decoded("dtstart")) for e in events) == sorted(d for d, _ in sessions)
    assert len({str(e["uid"]) for e in events}) == len(events)
    assert all(e.decoded("dtstamp") == dt.datetime(2026, 1, 5, tzinfo=dt.UTC) for e in events)
    assert all("Stop and call your care team" in str(e["description"]) for e in events)


def test_the_handout_is_week_one_in_plain_words_with_the_stop_signs():
    p = _prescription(signed=True)
    html = render_handout(p)
    first = next(day for day in p["schedule"] if day["sessions"])
    day = dt.date.fromisoformat(first["date"])
    assert f"{first['weekday'][:3]} {day.day} {day.strftime('%b')}" in html  # "Mon 5 Jan"
    assert first["date"] not in html  # no ISO dates for the patient
    minutes = first["sessions"][0].get("minutes")
    if minutes:
        assert f"{minutes} minutes" in html
    assert 'id="stop-signs"' in html and "chest pain" in html
    assert "Not yet confirmed" not in html


def test_an_unsigned_plan_says_so_first_and_clearance_schedules_nothing():
    unsigned = render_handout(_prescription())
    assert unsigned.index("Not yet confirmed by your care team") < unsigned.index(
        "Your sessions")
    clearance = _prescription(signed=True, platelets_10e9_l=10.0)
    assert clearance["status"] != "prescribed"
    html = render_handout(clearance)
    assert "please do not" in html.lower() and 'id="handout-sessions"' not in html
    assert Calendar.from_ical(session_calendar(clearance)).walk("VEVENT") == []
    assert 'id="stop-signs"' in html  # the warning signs are always there


def test_patient_text_in_the_handout_is_escaped():
    p = _prescription(signed=True)
    p["patient_id"] = "<script>alert(1)</script>"
    html = render_handout(p)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_memoised_line_folding_gives_the_same_calendar(monkeypatch):
    """The calendar's line folding is memoised for speed: the bytes must be what icalendar's
    own folding gives."""
    from icalendar.parser import content_line
    from precex.reporting import handout

    rows = [{"age": 60.0, "hr_max_bpm": 166.0},
            {"age": 72.0, "hr_max_bpm": 150.0, "neuropathy_grade": 2}]
    plans = prescribe(pd.DataFrame(rows, index=["P1", "P2"]), RB,
                      EngineSettings(dt.date(2026, 1, 5)))
    fold = getattr(content_line._foldline, "__wrapped__", content_line._foldline)
    monkeypatch.setattr(handout, "memoise_line_folding", lambda: None)
    monkeypatch.setattr(content_line, "_foldline", fold)
    plain = [handout.session_calendar(p) for p in plans]
    monkeypatch.undo()
    handout.memoise_line_folding()
    assert hasattr(content_line._foldline, "cache_info")
    assert [handout.session_calendar(p) for p in plans] * 2 == plain * 2  # cold, then warm
