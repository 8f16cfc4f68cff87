"""The concrete plan: heart-rate and RPE targets, exercises, 12-week progression, weekly schedule.

Intensity classes (ACSM/Garber 2011 as tabulated in BJSM; resistance load classes from
Oxid Med Cell Longev 2018, PMC6186337): light 57-63% HRmax, RPE 9-11, 30-49% 1RM; moderate
64-76% HRmax, RPE 12-13, 50-69% 1RM; vigorous 77-95% HRmax, RPE 14-17, 70-84% 1RM. HRmax is
measured when given, else Tanaka 208 - 0.7 x age. When resting HR is known the heart-rate band
is the heart-rate reserve (Karvonen: light 30-39%, moderate 40-59%, vigorous 60-89%), so its
floor is always above rest (a %HRmax band can fall below a high resting HR); the %HRmax band is
shown for reference. With too little reserve (HRmax - rest < 20 bpm), or when heart rate is
unreliable (beta-blockade, AF, pacemaker, Hb < 8), intensity is guided by RPE and heart rate is
for information only. MET values per minute: light 2.5, moderate 4.0, vigorous 7.0, resistance
training 3.5 (Compendium of Physical Activities).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import combinations
from typing import Any

import yaml

from precex.json_data import json_copy
from precex.paths import resource_path, resource_rows


def _intensity_table() -> dict[str, dict[str, Any]]:
    """The intensity classes of resources/prescription/intensity.tsv (knowledge as data: the
    plan, the report and the handout read this one table)."""
    table = {}
    for row in resource_rows("prescription", "intensity.tsv"):
        def pair(name: str, row: dict[str, str] = row) -> tuple[int, int]:
            return int(row[f"{name}_low"]), int(row[f"{name}_high"])
        table[row["intensity"]] = {
            "pct_hr_max": pair("pct_hr_max"), "pct_hrr": pair("pct_hrr"),
            "rpe": pair("rpe"), "pct_1rm": pair("pct_1rm"), "rir": pair("rir"),
            "met": float(row["met"]), "effort_words": row["effort_words"],
            "talk_test": row["talk_test"]}
    return table


INTENSITY_TABLE = _intensity_table()
LEVELS = ("none", "light", "moderate", "vigorous")

def _exercises() -> tuple[list[tuple[str, str, frozenset[str]]], frozenset[str]]:
    """The exercise catalogue of resources/prescription/exercises.tsv: (name, muscle group, the
    restrictions that rule it out), in order of preference (within a group the first that no
    restriction rules out is chosen: gym machines first, home versions next, body-weight or
    unloaded ones last), and the loaded spinal exercises used only when nothing safer exists."""
    rows = resource_rows("prescription", "exercises.tsv")
    catalogue = [(row["exercise"], row["muscle_group"],
                  frozenset(filter(None, row["ruled_out_by"].split(";")))) for row in rows]
    return catalogue, frozenset(row["exercise"] for row in rows if row["last_resort"] == "yes")


EXERCISES, _SPINAL = _exercises()
RESERVE_BANDS = {name: row["pct_hrr"] for name, row in INTENSITY_TABLE.items()}


def _aerobic_modes() -> list[tuple[str, frozenset[str], tuple[str, str], str]]:
    """(mode, the restrictions that rule it out, (lowest, highest) intensity it suits, the
    patient's words) from resources/prescription/aerobic_modes.tsv, in order of preference."""
    return [(row["mode"], frozenset(filter(None, row["ruled_out_by"].split(";"))),
             (row["lowest"], row["highest"]), row["patient_words"])
            for row in resource_rows("prescription", "aerobic_modes.tsv")]


AEROBIC_MODES = _aerobic_modes()
FALLBACK_MODE = "stationary cycling"  # when no mode suits: nothing rules it out
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
def _progression() -> dict[str, Any]:
    """resources/prescription/progression.yaml: the ramps and the infusion recovery days."""
    return yaml.safe_load(resource_path("prescription", "progression.yaml").read_text(
        encoding="utf-8"))


PROGRESSION = _progression()
WEEKS = int(PROGRESSION["weeks"])
RECOVERY_DAYS = int(PROGRESSION["infusion_recovery_days"])  # after the infusion day
RESISTANCE_MET = float(PROGRESSION["resistance_met"])
# One set of every exercise of the session, with its rests.
RESISTANCE_MIN_PER_SET = int(PROGRESSION["resistance_minutes_per_set"])
MIN_RESERVE_BPM = int(PROGRESSION["min_heart_rate_reserve_bpm"])
EARLY_REPS_BELOW_TOP = int(PROGRESSION["early_reps_below_top"])
MODES_LISTED = int(PROGRESSION["modes_listed"])


@dataclass(frozen=True)
class PlanPosition:
    """Where a plan stands in its 12-week progression, and what a weekly decision adds.

    The baseline prescription is week 1 from the reference date; a weekly plan is the same
    engine at the week its adaptation decided (precex.adaptation.engine), scheduled from the
    day after the data it was decided on."""
    week: int = 1
    resistance_week: int | None = None  # None: the same as `week` (missed weeks step it back)
    start: dt.date | None = None  # the schedule's first day (None: the reference date)
    held_status: str = "prescribed"  # the strictest status a weekly decision has set
    stop: str | None = None  # a red flag: nothing is scheduled; the text names it and its day
    easy_first_day: bool = False  # HRV below its band: no vigorous session on the first day


def _num(row: Mapping[str, Any], key: str) -> float | None:
    value: Any = row.get(key)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _one_below(level: str) -> str:
    return LEVELS[max(1, LEVELS.index(level) - 1)]


def aerobic_modes(exclude: set[str], intensity: str) -> list[str]:
    """Up to three modes that suit `intensity` and no exclusion rules out (never walking when
    weight-bearing cardio is excluded, never a pool or class without public facilities, never
    water with a line or broken skin)."""
    return list(_modes_suiting(frozenset(exclude), intensity))  # a list of the plan's own


@cache  # 13 calls a plan; few exclusion sets (the restrictions table)
def _modes_suiting(exclude: frozenset[str], intensity: str) -> tuple[str, ...]:
    out = []
    for name, ruled_out_by, (lowest, highest), _ in AEROBIC_MODES:
        if ruled_out_by & exclude:
            continue
        if not LEVELS.index(lowest) <= LEVELS.index(intensity) <= LEVELS.index(highest):
            continue
        out.append(name)
    return tuple(out[:MODES_LISTED] or [FALLBACK_MODE])


def resistance_exercises(exclude: set[str]) -> list[dict[str, str]]:
    chosen: dict[str, str] = {}
    for name, group, ruled_out_by in EXERCISES:
        if group in chosen or name in _SPINAL or ruled_out_by & exclude:
            continue
        chosen[group] = name
    return [{"name": n, "muscle_group": g} for g, n in chosen.items()]


def heart_rate_band(hr_max: float | None, rest: float | None, intensity: str
                    ) -> list[int] | None:
    """The bpm band of one intensity: the heart-rate reserve above a known rest (its floor
    always above rest), %HRmax without one, None with too little reserve or no HRmax."""
    if hr_max is None:
        return None
    if rest is None:
        lo, hi = INTENSITY_TABLE[intensity]["pct_hr_max"]
        return [round(hr_max * lo / 100), round(hr_max * hi / 100)]
    if hr_max - rest < MIN_RESERVE_BPM:
        return None
    rlo, rhi = RESERVE_BANDS[intensity]
    return [max(math.floor(rest) + 1, round(rest + (hr_max - rest) * rlo / 100)),
            round(rest + (hr_max - rest) * rhi / 100)]


def _hr_targets(row: Mapping[str, Any], intensity: str) -> dict[str, Any]:
    hr_max = _num(row, "hr_max_bpm")
    source = row.get("hr_max_source")
    if not isinstance(source, str) or not source:  # missing text may arrive as NaN (truthy)
        source = "estimated (Tanaka 208 - 0.7 x age)"
    if hr_max is None:
        age = _num(row, "age")
        hr_max = round(208 - 0.7 * age) if age is not None else None
    lo, hi = INTENSITY_TABLE[intensity]["pct_hr_max"]
    out: dict[str, Any] = {"percent_hr_max": [lo, hi], "hr_max_bpm": hr_max,
                           "hr_max_source": str(source)}
    if hr_max is not None:
        out["heart_rate_max_pct_bpm"] = heart_rate_band(hr_max, None, intensity)
    # Rest: the safety input (the higher of clinic and recent wearable), else older sources.
    rest, rest_source = _num(row, "resting_hr_bpm"), str(row.get("resting_hr_source") or "")
    if rest is None:
        rest, rest_source = _num(row, "resting_hr_mean_bpm"), "wearables (28-day mean)"
    if rest is None:
        rest, rest_source = _num(row, "resting_hr"), "patient sheet"
    band = heart_rate_band(hr_max, rest, intensity)
    if rest is not None and hr_max is not None:
        out["resting_hr_bpm"] = round(rest)
        out["resting_hr_source"] = rest_source or "patient sheet"
        if band is not None:
            out["heart_rate_reserve_bpm"] = band
        else:  # too little reserve for a heart-rate band: RPE only
            out["heart_rate_note"] = (f"resting HR {round(rest)} bpm leaves less than "
                                      f"{MIN_RESERVE_BPM} bpm of reserve; guide by RPE")
    if band is not None:
        out["heart_rate_bpm"] = band
    return out


def week_heart_rate(aerobic: Mapping[str, Any], intensity: str) -> list[int] | None:
    """The bpm target of a week at `intensity` under a heart-rate-guided aerobic component
    (None when guided by RPE, or heart rate gives no band)."""
    if aerobic.get("intensity_guidance") != "heart_rate" or "heart_rate_bpm" not in aerobic:
        return None
    rest = aerobic.get("resting_hr_bpm") if "heart_rate_reserve_bpm" in aerobic else None
    return heart_rate_band(aerobic.get("hr_max_bpm"), rest, intensity)


def load_for_reps(reps_to_failure: float) -> int:
    """%1RM of the load that can be lifted `reps_to_failure` times (Epley 1985: 1RM = load x
    (1 + reps/30); NSCA's table agrees within a few percent between 5 and 20 reps)."""
    return round(100 / (1 + reps_to_failure / 30))


def reps_to_failure(load_pct: float) -> float:
    """The inverse of load_for_reps: how many repetitions a load of `load_pct` %1RM allows."""
    return 30 * (100 / load_pct - 1)


def resistance_targets(reps: list[int], intensity: str) -> dict[str, list[int]]:
    """Load and reps-in-reserve that agree with the repetitions: the effort of an intensity
    class is its reps in reserve (light 4-6, moderate 2-3, vigorous 1-2), and the load is the
    one at which the prescribed repetitions leave exactly that reserve - the lightest load for
    the most repetitions with the most reserve, the heaviest for the fewest with the least."""
    rir_lo, rir_hi = INTENSITY_TABLE[intensity]["rir"]
    return {"load_pct_1rm": [load_for_reps(reps[1] + rir_hi), load_for_reps(reps[0] + rir_lo)],
            "reps_in_reserve": [rir_lo, rir_hi]}


def resistance_steps(sets: int, intensity: str) -> list[tuple[int, str]]:
    """The ladder from the first week to the target: one set at the intensity below, then one
    more set per step, then the target intensity - one change per step, never a set and an
    intensity at once."""
    start = _one_below(intensity)
    steps = [(n, start) for n in range(1, max(1, sets) + 1)]
    if start != intensity:
        steps.append((max(1, sets), intensity))
    return steps


def early_reps(reps: list[int]) -> list[int]:
    """Repetitions of the steps below the target intensity: the upper part of the range (a
    lighter load learnt with more repetitions), at most EARLY_REPS_BELOW_TOP below its top."""
    return [max(reps[0], reps[1] - EARLY_REPS_BELOW_TOP), reps[1]]


def _round5(x: float) -> int:
    return int(max(5, 5 * round(x / 5)))


def weekly_met_minutes(aerobic: dict | None, resistance: dict | None) -> float:
    total = 0.0
    if aerobic:
        total += (aerobic["sessions_per_week"] * aerobic["minutes_per_session"]
                  * INTENSITY_TABLE[aerobic["intensity"]]["met"])
    if resistance:
        total += (resistance["sessions_per_week"] * RESISTANCE_MIN_PER_SET
                  * resistance["sets"] * RESISTANCE_MET)
    return round(total, 1)


def progression_plan(aerobic: dict | None, resistance: dict | None, slow: bool,
                     infusions: list[dt.date] | None = None,
                     reference_date: dt.date | None = None,
                     exclude: set[str] | None = None,
                     aerobic_ramp: bool = True) -> list[dict[str, Any]]:
    """12 weeks building up to the target; every week is at or below the capped target.

    Weeks with a projected infusion list its date: that day and the recovery days after it
    (resources/prescription/progression.yaml) are light activity or rest, whatever the week's
    target.
    """
    weeks = []
    pace = PROGRESSION["slow" if slow else "standard"]
    ramp = int(pace["weeks_to_target"])
    start = float(pace["start_fraction"])
    step_weeks = int(pace["weeks_per_resistance_step"])
    steps = resistance_steps(resistance["sets"], resistance["intensity"]) if resistance else []
    for w in range(1, WEEKS + 1):
        frac = min(1.0, start + (1 - start) * (w - 1) / (ramp - 1))
        week: dict[str, Any] = {"week": w}
        a = r = None
        if aerobic:  # without the ramp (habitual activity kept) the target from week 1
            early = aerobic_ramp and w <= int(pace["weeks_one_intensity_below"])
            intensity = _one_below(aerobic["intensity"]) if early else aerobic["intensity"]
            minutes = min(aerobic["minutes_per_session"],
                          _round5(aerobic["minutes_per_session"] * (frac if aerobic_ramp
                                                                    else 1.0)))
            a = {"sessions_per_week": aerobic["sessions_per_week"],
                 "minutes_per_session": minutes, "intensity": intensity,
                 "modes": aerobic_modes(exclude or set(), intensity)}
            band = week_heart_rate(aerobic, intensity)
            if band is not None:
                a["heart_rate_bpm"] = band
            week["aerobic"] = a
        if resistance:
            sets, intensity = steps[min(len(steps) - 1, (w - 1) // step_weeks)]
            target = [resistance["reps_min"], resistance["reps_max"]]
            reps = target if intensity == resistance["intensity"] else early_reps(target)
            r = {"sessions_per_week": resistance["sessions_per_week"], "sets": sets,
                 "reps": reps, "intensity": intensity,
                 **resistance_targets(reps, intensity)}
            week["resistance"] = r
        week["weekly_met_minutes"] = weekly_met_minutes(a, r)
        if infusions and reference_date is not None:
            week_start = reference_date + dt.timedelta(days=7 * (w - 1))
            inside = [d.isoformat() for d in infusions
                      if week_start <= d < week_start + dt.timedelta(days=7)]
            if inside:
                week["infusions"] = inside
        weeks.append(week)
    return weeks


def weekly_schedule(row: Mapping[str, Any], aerobic: dict | None, resistance: dict | None,
                    extras: list[str], reference_date: dt.date) -> list[dict[str, Any]]:
    """Seven days from the reference date; hard sessions kept off infusion and recovery days."""
    days = [reference_date + dt.timedelta(days=i) for i in range(7)]
    recovery: set[int] = set()
    infusion = _num(row, "days_to_next_infusion")
    span = RECOVERY_DAYS + 1  # the infusion day and its recovery days
    if infusion is not None and 0 <= infusion < 7:
        start = int(infusion)
        recovery = {i for i in range(start, start + span) if i < 7}
    since = _num(row, "days_since_last_infusion")
    if since is not None and 0 <= since < span:  # the last infusion's recovery reaches here
        recovery |= {i for i in range(0, span - int(since))}
    free = [i for i in range(7) if i not in recovery]
    sessions: dict[int, list[str]] = {i: [] for i in range(7)}
    resistance_days: list[int] = []
    if resistance:
        n = resistance["sessions_per_week"]
        resistance_days = _spread(free, n) if len(free) >= n else _spread(list(range(7)), n)
        for i in resistance_days:
            sessions[i].append("resistance")
    if aerobic:
        for i in _aerobic_days(aerobic, free, resistance_days, sorted(recovery)):
            sessions[i].append("aerobic")
    out = []
    for i, day in enumerate(days):
        entry: dict[str, Any] = {"date": day.isoformat(), "weekday": WEEKDAYS[day.weekday()],
                                 "sessions": []}
        if i in recovery:
            is_infusion = infusion is not None and 0 <= infusion < 7 and i == int(infusion)
            entry["note"] = ("infusion day" if is_infusion else "post-infusion "
                             "recovery") + ": light activity only, or rest"
        for kind in sessions[i]:
            if kind == "aerobic" and aerobic:
                level = "light" if i in recovery else aerobic["intensity"]
                entry["sessions"].append({"type": "aerobic", "minutes":
                                          aerobic["minutes_per_session"], "intensity": level})
            elif kind == "resistance" and resistance:
                entry["sessions"].append({"type": "resistance", "sets": resistance["sets"],
                                          "intensity": resistance["intensity"]})
        if entry["sessions"]:
            for extra in extras:
                minutes = PROGRESSION[extra]["minutes_per_session"]
                entry["sessions"].append({"type": extra, "minutes": minutes,
                                          "intensity": "light"})
        out.append(entry)
    return out


def infusion_offsets(row: Mapping[str, Any], start: dt.date) -> dict[str, float | None]:
    """days_to_next_infusion and days_since_last_infusion seen from `start`: the projected
    infusions of the plan (infusion_dates_12w), rolled on by the cycle length beyond them, and
    the last infusion given. Seen from the reference date they are the row's own values."""
    dates = sorted(set(_infusions(row)) | set(_dates(row, "next_infusion_date"))
                   | set(_dates(row, "last_infusion_date")))
    cycle = _num(row, "cycle_length_days")
    if dates and cycle and cycle > 0:
        nxt = dates[-1]
        while nxt < start + dt.timedelta(days=7):
            nxt += dt.timedelta(days=int(cycle))
            dates.append(nxt)
    ahead = [(d - start).days for d in dates if d >= start]
    behind = [(start - d).days for d in dates if d < start]
    return {"days_to_next_infusion": float(min(ahead)) if ahead else None,
            "days_since_last_infusion": float(min(behind)) if behind else None}


def _dates(row: Mapping[str, Any], key: str) -> list[dt.date]:
    text = row.get(key)
    if not isinstance(text, str) or not text:
        return []
    try:
        return [dt.date.fromisoformat(text[:10])]
    except ValueError:
        return []


def this_week(week: dict[str, Any], number: int) -> dict[str, Any]:
    """The dose of one progression week as the report's 'this week' shows it, with the
    highest intensity it asks for (what the patient may do now)."""
    return {"week": number, "of_weeks": WEEKS, "aerobic": week.get("aerobic"),
            "resistance": week.get("resistance"),
            "weekly_met_minutes": week.get("weekly_met_minutes", 0),
            "max_intensity": highest_intensity(week.get("aerobic"), week.get("resistance"))}


def highest_intensity(*components: Mapping[str, Any] | None) -> str:
    """The highest intensity the given components ask for ('none' without any)."""
    levels = [c["intensity"] for c in components if c]
    return max(levels, key=LEVELS.index) if levels else "none"


def _infusions(row: Mapping[str, Any]) -> list[dt.date]:
    text = row.get("infusion_dates_12w")
    if not isinstance(text, str) or not text:
        return []
    return [dt.date.fromisoformat(d) for d in text.split(";") if d]


def _min_gap(days: list[int]) -> int:
    return min((b - a for a, b in zip(days, days[1:], strict=False)), default=7)


def _aerobic_days(aerobic: dict, free: list[int], resistance_days: list[int],
                  recovery: list[int]) -> list[int]:
    """Aerobic days spread over the week: as far apart as the free days allow, on days
    without resistance first; a vigorous plan also keeps hard days (vigorous aerobic or
    resistance) apart, sharing a day with resistance rather than following it. Infusion and
    recovery days are used last (light only)."""
    return list(_best_aerobic_days(aerobic["sessions_per_week"],
                                   aerobic["intensity"] == "vigorous", tuple(free),
                                   tuple(resistance_days), tuple(recovery)))


@lru_cache(maxsize=4096)
def _best_aerobic_days(n: int, vigorous: bool, free_days: tuple[int, ...],
                       resistance: tuple[int, ...], recovery_days: tuple[int, ...]
                       ) -> tuple[int, ...]:
    """_aerobic_days' search, once per distinct week layout (a few dozen in a batch; the
    search over day combinations was a fifth of a weekly plan's cost)."""
    free, resistance_days, recovery = list(free_days), list(resistance), list(recovery_days)
    if n >= len(free):
        return tuple(sorted(set(free + recovery[: n - len(free)])))

    def score(days: tuple[int, ...]) -> tuple[int, ...]:
        shared = sum(d in resistance_days for d in days)
        hard = sorted(set(days) | set(resistance_days))
        if vigorous:
            return (_min_gap(hard), _min_gap(list(days)), shared)
        gap = _min_gap(list(days))
        return (min(gap, 2), -shared, gap, _min_gap(hard))  # a rest day between, then apart

    best = max(combinations(free, n), key=lambda days: (score(days), [-d for d in days]))
    return tuple(sorted(best))


def _spread(slots: list[int], n: int) -> list[int]:
    """n slots as evenly spaced as possible (resistance days not back to back when avoidable)."""
    if n <= 0 or not slots:
        return []
    n = min(n, len(slots))
    step = len(slots) / n
    return sorted({slots[int(k * step)] for k in range(n)})


def position_week(progression: list[dict[str, Any]], position: PlanPosition
                  ) -> dict[str, Any]:
    """The progression week the position is at: its aerobic dose, and the resistance dose of
    the resistance week (stepped back after missed weeks)."""
    week = progression[min(WEEKS, max(1, position.week)) - 1]
    resistance_week = min(position.week, max(1, position.resistance_week or position.week))
    out = dict(week)
    if resistance_week != position.week:
        out["resistance"] = progression[resistance_week - 1].get("resistance")
        out["weekly_met_minutes"] = weekly_met_minutes(out.get("aerobic"), out.get("resistance"))
    return out


def target_summary(aerobic: dict | None, resistance: dict | None) -> dict[str, Any]:
    """The week-12 target in brief (the components themselves hold its full detail)."""
    return {"week": WEEKS,
            "aerobic": {k: aerobic[k] for k in ("sessions_per_week", "minutes_per_session",
                                                "minutes_per_week", "intensity")}
            if aerobic else None,
            "resistance": {k: resistance[k] for k in ("sessions_per_week", "sets", "reps_min",
                                                      "reps_max", "intensity")}
            if resistance else None,
            "weekly_met_minutes": weekly_met_minutes(aerobic, resistance),
            "max_intensity": highest_intensity(aerobic, resistance)}


def _stopped_schedule(start: dt.date, stop: str) -> list[dict[str, Any]]:
    return [{"date": (start + dt.timedelta(days=i)).isoformat(),
             "weekday": WEEKDAYS[(start + dt.timedelta(days=i)).weekday()], "sessions": [],
             "note": f"stopped ({stop}): no exercise until the treating team clears"}
            for i in range(7)]


def _ease_first_day(schedule: list[dict[str, Any]]) -> None:
    """HRV below its 7-day band: the first day's vigorous aerobic session becomes moderate."""
    if not schedule:
        return
    first = schedule[0]
    for session in first["sessions"]:
        if session["type"] == "aerobic" and session["intensity"] == "vigorous":
            session["intensity"] = "moderate"
    first["note"] = "HRV below the 7-day band: no vigorous session today"


def build_plan(row: Mapping[str, Any], dose: dict[str, Any], caps: Any, reference_date: dt.date,
               aerobic_ramp: bool = True, position: PlanPosition | None = None
               ) -> dict[str, Any]:
    position = position or PlanPosition()
    aerobic, resistance = dose.get("aerobic"), dose.get("resistance")
    a_out = r_out = None
    if aerobic:
        intensity = aerobic["intensity"]
        a_out = {
            "sessions_per_week": int(aerobic["sessions_per_week"]),
            "minutes_per_session": int(aerobic["minutes_per_session"]),
            "minutes_per_week": int(aerobic["sessions_per_week"]
                                    * aerobic["minutes_per_session"]),
            "intensity": intensity,
            "intensity_guidance": caps.intensity_guidance,
            "rpe": list(INTENSITY_TABLE[intensity]["rpe"]),
            "modes": aerobic_modes(caps.exclude, intensity),
            **_hr_targets(row, intensity),
        }
        unreliable = str(row.get("hr_guidance_unreliable")).lower() in ("true", "1", "1.0")
        if "heart_rate_bpm" not in a_out or unreliable:
            a_out["intensity_guidance"] = "rpe"
        if a_out["intensity_guidance"] == "rpe" and "heart_rate_bpm" in a_out:
            # Guided by effort: a bpm band is never shown as the target, only for information.
            a_out["heart_rate_info_bpm"] = a_out.pop("heart_rate_bpm")
            a_out["heart_rate_info_note"] = (
                "heart rate does not track effort here" if unreliable else
                "effort (RPE) guides intensity; heart rate for information only")
    if resistance:
        intensity = resistance["intensity"]
        r_out = {
            "sessions_per_week": int(resistance["sessions_per_week"]),
            "sets": int(resistance["sets"]),
            "reps_min": int(resistance["reps_min"]),
            "reps_max": int(resistance["reps_max"]),
            "intensity": intensity,
            **resistance_targets([int(resistance["reps_min"]), int(resistance["reps_max"])],
                                 intensity),
            "exercises": resistance_exercises(caps.exclude),
            "load_progression": ("smallest available increment, no more often than every 2 "
                                 "weeks, watching symptoms (PAL)" if caps.progression == "slow"
                                 else "add 2-10% load when 1-2 reps beyond the target are "
                                 "possible in two consecutive sessions (ACSM 2009)"),
        }
    extras = sorted(caps.add_components) if (a_out or r_out) else []
    components = {}
    if "balance" in extras:
        components["balance"] = json_copy(PROGRESSION["balance"])
    if "flexibility" in extras:
        components["flexibility"] = json_copy(PROGRESSION["flexibility"])
    slow = caps.progression == "slow"
    progression = progression_plan(a_out, r_out, slow, _infusions(row), reference_date,
                                   caps.exclude, aerobic_ramp) if (a_out or r_out) else []
    current = position_week(progression, position) if progression else {}
    start = position.start or reference_date
    # Infusion days seen from the schedule's first day (a weekly plan starts later).
    timing = row if start == reference_date else infusion_offsets(row, start)
    if position.stop is not None:
        schedule = _stopped_schedule(start, position.stop)
    else:
        schedule = weekly_schedule(timing, current.get("aerobic"), current.get("resistance"),
                                   extras, start)
        if position.easy_first_day:
            _ease_first_day(schedule)
    monitoring = list(caps.monitoring)
    if a_out or r_out:
        for item in ("Re-assess VO2peak or 6-minute walk, grip strength and body composition "
                     "at week 12", "Review adherence and symptoms every 2 weeks"):
            if item not in monitoring:
                monitoring.append(item)
    return {
        "aerobic": a_out,
        "resistance": r_out,
        "balance": components.get("balance"),
        "flexibility": components.get("flexibility"),
        "weekly_met_minutes": weekly_met_minutes(a_out, r_out),
        "progression": progression,
        # The dated schedule and "this week" are the position's week (week 1 when issued),
        # never the week-12 target; nothing is this week's while stopped for a red flag.
        "this_week": this_week(current, position.week)
        if current and position.stop is None else None,
        "target": target_summary(a_out, r_out),
        "schedule": schedule,
        "monitoring": monitoring,
    }
