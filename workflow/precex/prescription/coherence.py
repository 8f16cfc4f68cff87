"""The coherence check every prescription passes before it is written, baseline or weekly.

The engine's invariants, read back from the document itself: a plan that needs clearance is
never low-triage and unsupervised; nothing asks for more than the caps allow or brings back an
excluded component; exercises and modes are the ones the exclusions leave; a plan guided by
effort (RPE) shows no bpm target; the dated schedule is this week's dose, never the target's,
with only light activity on infusion and recovery days; a red-flag stop schedules nothing. A
plan that fails is a precex bug: the job fails (CoherenceError), no file is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from precex.prescription.model import EMPTY, Prescription
from precex.prescription.plan import AEROBIC_MODES, EXERCISES, FALLBACK_MODE, LEVELS
from precex.prescription.rules import SUPERVISION, TRIAGE


class CoherenceError(ValueError):
    """A prescription breaks the engine's own invariants (never written)."""


_RANK = LEVELS.index
_MODES = {name: (ruled_out_by, band) for name, ruled_out_by, band, _ in AEROBIC_MODES}
_RULED_OUT = {name: ruled_out for name, _, ruled_out in EXERCISES}


def _components(p: Prescription) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(where, kind, component) of every dose the document asks for."""
    doses: list[tuple[str, Mapping[str, Any]]] = [("target", p)]
    doses += [(f"progression week {week['week']}", week) for week in p.get("progression") or []]
    doses.append(("this week", p.get("this_week") or EMPTY))
    for where, dose in doses:
        for kind in ("aerobic", "resistance"):
            if dose.get(kind):
                yield where, kind, dose[kind]


def _mode_problems(where: str, modes: list[str], intensity: str, excluded: set[Any]
                   ) -> Iterator[str]:
    for mode in modes:
        if mode not in _MODES:
            yield f"{where}: unknown aerobic mode '{mode}'"
            continue
        ruled_out_by, (lo, hi) = _MODES[mode]
        for restriction in sorted(ruled_out_by & excluded):
            yield f"{where}: '{mode}' is ruled out by {restriction}, which is excluded"
        # The fallback mode (nothing else suits) is allowed outside its range.
        if not _RANK(lo) <= _RANK(intensity) <= _RANK(hi) and modes != [FALLBACK_MODE]:
            yield f"{where}: '{mode}' does not suit {intensity} intensity"


def _status_problems(p: Prescription) -> Iterator[str]:
    if p["status"] != "prescribed":
        if TRIAGE.index(p["triage"]) < TRIAGE.index("moderate"):
            yield f"status {p['status']} beside {p['triage']} triage"
        if SUPERVISION.index(p["supervision"]) < SUPERVISION.index("supervised"):
            yield f"status {p['status']} beside {p['supervision']} supervision"
    if p["triage"] == "high" and p["status"] == "prescribed":
        yield "high triage but prescribed without clearance"
    if (p["status"] == "deferred" or p["max_intensity"] == "none") and (
            p.get("aerobic") or p.get("resistance")):
        yield "a deferred plan (or maximum intensity none) has exercise components"


def _dose_problems(p: Prescription) -> Iterator[str]:
    cap = p["max_intensity"]
    excluded = set(p.get("excluded") or [])
    if "vigorous" in excluded and cap == "vigorous":
        yield "vigorous is excluded but the maximum intensity is vigorous"
    for where, kind, part in _components(p):
        intensity = part["intensity"]
        if _RANK(intensity) > _RANK(cap):
            yield f"{where}: {kind} at {intensity} is above the cap ({cap})"
        if intensity == "vigorous" and "vigorous" in excluded:
            yield f"{where}: {kind} is vigorous, which is excluded"
        if kind == "resistance" and "resistance" in excluded:
            yield f"{where}: resistance training is excluded"
        if kind == "aerobic" and part.get("modes"):
            yield from _mode_problems(f"{where} aerobic", part["modes"], intensity, excluded)
        if kind == "aerobic" and (part.get("intensity_guidance") == "rpe"
                                  or (p.get("aerobic") or EMPTY).get("intensity_guidance") == "rpe"
                                  ) and "heart_rate_bpm" in part:
            yield f"{where}: guided by RPE but shows a heart-rate target"
        rest = (p.get("aerobic") or EMPTY).get("resting_hr_bpm")
        band = part.get("heart_rate_bpm") if kind == "aerobic" else None
        if band and rest is not None and "heart_rate_reserve_bpm" in (p.get("aerobic") or EMPTY) \
                and band[0] <= rest:
            yield f"{where}: heart-rate target {band} starts at or below rest ({rest} bpm)"
    resistance = p.get("resistance") or EMPTY
    for exercise in resistance.get("exercises") or []:
        ruled_out: frozenset[str] | set[str] = _RULED_OUT.get(exercise["name"], set()) & excluded
        if ruled_out:
            yield f"exercise '{exercise['name']}' is ruled out by {', '.join(sorted(ruled_out))}"
    this: Mapping[str, Any] = p.get("this_week") or EMPTY
    targets: Mapping[str, Any] = p
    for kind in ("aerobic", "resistance"):
        if this.get(kind) and not targets.get(kind):
            yield f"this week has {kind} but the plan has no {kind} target"
        if this.get(kind) and targets.get(kind) and _RANK(this[kind]["intensity"]) > _RANK(
                targets[kind]["intensity"]):
            yield f"this week's {kind} is above the week-12 target's intensity"


def _schedule_problems(p: Prescription) -> Iterator[str]:
    this = p.get("this_week")
    stopped = (p.get("adaptation") or EMPTY).get("decision") == "stop"
    sessions = [(day, s) for day in p.get("schedule") or [] for s in day["sessions"]]
    if stopped or this is None:
        if sessions:
            yield "sessions are scheduled although nothing is prescribed this week"
        if stopped and p["status"] == "prescribed":
            yield "a red-flag stop beside status prescribed"
        return
    week_cap = this.get("max_intensity", "none")
    counts = {"aerobic": 0, "resistance": 0}
    for day, session in sessions:
        if _RANK(session["intensity"]) > _RANK(week_cap):
            yield (f"{day['date']}: a {session['type']} session at {session['intensity']} is "
                   f"above this week's {week_cap}")
        if session["type"] in counts:
            counts[session["type"]] += 1
        recovery = "infusion" in (day.get("note") or "")
        if recovery and session["type"] == "aerobic" and session["intensity"] != "light":
            yield (f"{day['date']}: an infusion or recovery day with a "
                   f"{session['intensity']} session")
    week: Mapping[str, Any] = this  # read by the component's name
    for kind, count in counts.items():
        wanted = (week.get(kind) or EMPTY).get("sessions_per_week", 0)
        if count != wanted:
            yield f"the schedule has {count} {kind} sessions; this week asks for {wanted}"


def coherence_problems(prescription: Prescription) -> list[str]:
    """Every way the prescription breaks the engine's invariants; none when coherent."""
    return [*_status_problems(prescription), *_dose_problems(prescription),
            *_schedule_problems(prescription)]


def check_coherence(prescription: Prescription) -> None:
    """Raise CoherenceError naming the patient and what is incoherent."""
    problems = coherence_problems(prescription)
    if problems:
        raise CoherenceError(f"the plan of patient {prescription['patient_id']} is incoherent "
                             f"(a precex bug; nothing was written): {'; '.join(problems)}")
