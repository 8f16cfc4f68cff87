"""The state of every safety input, and the derived safety features the rule base reads.

For platelets, haemoglobin, neutrophils, WBC, fever/temperature, LVEF, blood pressure, resting
heart rate and bone status the profile records `<input>_state`:

- measured: a usable value (its source is named where there are several);
- conflicting: sources or same-day results disagree; the most adverse value is used, flagged;
- stale: only a value older than its window (not read as normal);
- rejected: the value could not be used (unit, text, range); treated like missing, flagged;
- missing: nothing recorded.

The rule base states the policy (missing where it matters -> a conservative cap and an "obtain
X" item). `with_safety_inputs` is idempotent: the profile stage computes the columns once and
the engine adds them only when a caller passes a bare feature table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from precex.io.tokens import parse_bools
from precex.paths import threshold
from precex.profile.columns import numeric_column as _num

SAFETY_INPUTS = ("platelets", "hemoglobin", "neutrophils", "wbc", "fever", "lvef",
                 "blood_pressure", "resting_hr", "bone")
BLOOD_COLUMNS = {"platelets": "platelets_10e9_l", "hemoglobin": "hemoglobin_g_dl",
                 "neutrophils": "neutrophils_10e9_l", "wbc": "wbc_10e9_l"}
# Thresholds with their units and sources: resources/clinical/thresholds.tsv.
FEVER_C = threshold("fever_c")
LVEF_STALE_DAYS = threshold("lvef_stale_days")
RESTING_HR_CONFLICT_BPM = threshold("resting_hr_conflict_bpm")
MVPA_IMPOSSIBLE_VO2 = threshold("mvpa_impossible_vo2_below")
MVPA_IMPLAUSIBLE_VO2 = threshold("mvpa_implausible_vo2_below")
MVPA_IMPLAUSIBLE_MIN = threshold("mvpa_implausible_min_per_week")
VO2_HIGH = threshold("vo2_high_ml_kg_min")
SLOW_GAIT = threshold("slow_gait_m_s")
SHORT_WALK = threshold("short_six_minute_walk_m")
ML_KG_MIN_PER_MET = 3.5  # the definition of the MET
STATES = ("measured", "conflicting", "stale", "rejected", "missing")
DERIVED_SAFETY_FEATURES = (
    [f"{name}_state" for name in SAFETY_INPUTS]
    + ["fever_effective", "resting_hr_bpm", "resting_hr_source", "bone_status",
       "safety_data_gaps", "data_issues"])


def _text(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[col].astype("string").fillna("").astype(str).str.strip()


# Booleans as a profile holds them: JSON true/false, or numbers from a TSV round trip.
_PROFILE_TRUE = frozenset({"true", "1", "1.0"})
_PROFILE_FALSE = frozenset({"false", "0", "0.0"})


def _bool(frame: pd.DataFrame, col: str) -> pd.Series:
    """True / False / NA from booleans or their text."""
    return parse_bools(_text(frame, col), _PROFILE_TRUE, _PROFILE_FALSE)


def _rejected(listed: pd.Series, *cols: str) -> pd.Series:
    """Whether any of `cols` is among each patient's rejected sheet columns."""
    return listed.map(lambda items: any(c in items for c in cols)).astype(bool)


def _has(codes: pd.Series, code: str) -> pd.Series:
    """Whether each semicolon-separated code list holds `code`."""
    return codes.str.split(";").map(lambda items: code in {i.strip() for i in items}
                                    ).astype(bool)


def _state(value_present: pd.Series, rejected: pd.Series, conflicting: pd.Series | None = None,
           stale: pd.Series | None = None) -> pd.Series:
    no = pd.Series(False, index=value_present.index)
    conflicting = conflicting if conflicting is not None else no
    stale = stale if stale is not None else no
    return pd.Series(np.select(
        [rejected.to_numpy() & ~value_present.to_numpy(), conflicting.to_numpy(),
         stale.to_numpy(), value_present.to_numpy()],
        ["rejected", "conflicting", "stale", "measured"], default="missing"),
        index=value_present.index, dtype=object)


def _fitness_plausibility(f: pd.DataFrame, note: Callable[[pd.Series, Any], None]) -> None:
    """Fitness measures that contradict each other are named, and an implausible peak is not
    used to rate fitness (in place)."""
    # Wearable MVPA that the measured peak makes impossible: MVPA is >= 3 METs, and activity
    # sustained for minutes stays at or below about 60% of peak (the top of the moderate
    # band), so it needs a peak of about 5 METs; below 3 METs none.
    vo2 = _num(f, "vo2peak_ml_kg_min")
    mvpa = _num(f, "mvpa_min_per_week")
    impossible = (vo2 < MVPA_IMPOSSIBLE_VO2) & (mvpa > 0)
    implausible = (vo2 < MVPA_IMPLAUSIBLE_VO2) & (mvpa >= MVPA_IMPLAUSIBLE_MIN) & ~impossible
    note(impossible | implausible, lambda pid: (
        f"the wearable reports {mvpa[pid]:.0f} min/week of moderate-to-vigorous activity "
        f"(3 METs or more) but VO2peak is {vo2[pid]:g} mL/kg/min "
        f"({vo2[pid] / ML_KG_MIN_PER_MET:.1f} METs): "
        + ("impossible" if impossible[pid] else "implausible for sustained activity")
        + "; check the device's MVPA threshold or the exercise test"))

    # A peak of 10 METs or more beside a slow gait (EWGSOP2) or a very short six-minute walk
    # cannot both be right: the fitness it implies is not used (unknown, the cautious
    # reading) until it is checked.
    gait, walk = _num(f, "gait_speed_m_s"), _num(f, "six_mwt_m")
    vo2_implausible = (vo2 >= VO2_HIGH) & ((gait <= SLOW_GAIT) | (walk < SHORT_WALK))
    if vo2_implausible.any() and "fitness_category" in f:
        f["fitness_category"] = f["fitness_category"].where(~vo2_implausible, "unknown")
    note(vo2_implausible, lambda pid: (
        f"VO2peak {vo2[pid]:g} mL/kg/min is implausible beside "
        + " and ".join(t for t in (f"a gait speed of {gait[pid]:g} m/s"
                                   if gait[pid] <= SLOW_GAIT else "",
                                   f"a {walk[pid]:g} m six-minute walk"
                                   if walk[pid] < SHORT_WALK else "") if t)
        + ": fitness is treated as unknown until the exercise test is checked"))


def _bone_status(f: pd.DataFrame, rejected_cols: pd.Series,
                 note: Callable[[pd.Series, Any], None]) -> None:
    """bone_status and bone_state from the status column, the sites and the stage (in place)."""
    idx = f.index
    # Bone: status, sites and metastatic disease; the most adverse reading wins.
    status = _text(f, "bone_metastases").str.lower()
    regions = _text(f, "bone_site_regions")
    sites_text = _text(f, "bone_metastasis_sites")
    has_sites = regions.ne("") | (sites_text.ne("") & ~sites_text.str.lower().isin(
        ["none", "no", "nil", "n/a"]))
    # Bone metastases named in the history (free text or an EHR condition that counts: the
    # fact layer has already set aside "no bone mets" and a relative's) are bone involvement
    # as much as sites are.
    in_history = _has(_text(f, "comorbidities"), "bone_metastases")
    metastatic = _text(f, "stage").eq("IV") | _text(f, "treatment_phase").eq("metastatic")
    rejected_bone = _rejected(rejected_cols, "bone_metastases", "bone_metastasis_sites")
    implied = np.select([status.isin(["stable", "unstable", "unknown"]),
                         has_sites | rejected_bone | in_history,
                         status.eq("none"),
                         metastatic],
                        [status, "unknown", "none", "unknown"], default="")
    # Sites (or a history naming bone metastases) beside 'none' contradict it: bone metastases
    # of unknown stability. A lesion the sites mark at risk of fracture (Mirels 8+, SINS 7+,
    # impending) is unstable, whatever the status column says: the most adverse reading wins.
    conflict_history = status.eq("none") & in_history & ~has_sites
    conflict_bone = (status.eq("none") & has_sites) | conflict_history
    at_risk = _text(f, "bone_site_at_risk")
    f["bone_status"] = pd.Series(implied, index=idx).where(~conflict_bone, "unknown").where(
        at_risk.eq(""), "unstable")
    note(at_risk.ne("") & ~status.eq("unstable"), lambda pid: (
        f"the bone metastasis sites mark a lesion at risk of fracture ({at_risk[pid]}): "
        "treated as unstable until a clinician assesses it"))
    unread_sites = _text(f, "bone_sites_unrecognised")
    note(unread_sites.ne(""), lambda pid: (
        f"bone metastasis site '{unread_sites[pid]}' is not a bone precex knows: every "
        "site's restrictions apply until a clinician names the bone (correct the sheet)"))
    f["bone_state"] = np.select(
        [conflict_bone, rejected_bone & status.eq(""), status.ne(""), has_sites],
        ["conflicting", "rejected", "measured", "measured"], default="missing")
    note(conflict_bone & ~conflict_history, lambda pid: f"bone_metastases is 'none' but "
         f"sites are given ('{sites_text[pid]}'): treated as bone metastases of unknown "
         "stability")
    note(conflict_history, "bone_metastases is 'none' but the history (comorbidities) names "
         "bone metastases: treated as bone metastases of unknown stability until the status "
         "and sites are given")
    note(has_sites & status.eq(""), "bone metastasis sites are given without a status: treated "
         "as bone metastases of unknown stability")
    note(in_history & ~has_sites & status.eq(""), "the history (comorbidities) names bone "
         "metastases but bone_metastases is empty: treated as bone metastases of unknown "
         "stability until the status and sites are given")


def with_safety_inputs(flat: pd.DataFrame) -> pd.DataFrame:
    """`flat` with the safety-input states and derived safety features (vectorised)."""
    if "safety_data_gaps" in flat.columns:
        return flat
    f = flat.copy()
    idx = f.index
    notes: dict[str, list[str]] = {}
    rejected_cols = _text(f, "sheet_rejected").str.split(";")

    def note(mask: pd.Series, text: Callable[[Any], str] | str) -> None:
        """A note for each flagged patient (formatted only for them; none for an empty batch)."""
        for pid in idx[mask.to_numpy()]:
            notes.setdefault(pid, []).append(text(pid) if callable(text) else text)

    # Treatment phase against the agents: a contradiction is a data issue, and a cytotoxic
    # agent beside a "completed" phase still asks for blood counts (myelosuppressive).
    phase = _text(f, "treatment_phase")
    cytotoxic = _bool(f, "cytotoxic_agent").fillna(False).astype(bool)
    known = _bool(f, "agents_known").fillna(False).astype(bool)
    agents = _text(f, "agents")
    done_but_cytotoxic = phase.isin(["survivorship", "endocrine"]) & cytotoxic
    chemo_without = phase.isin(["neoadjuvant_chemo", "adjuvant_chemo"]) & known & ~cytotoxic
    note(done_but_cytotoxic, lambda pid: f"treatment phase '{phase[pid]}' but the agents "
         f"include a cytotoxic drug ({agents[pid].replace(';', ', ')}): check whether "
         "chemotherapy is current; blood counts are required meanwhile")
    note(chemo_without, lambda pid: f"treatment phase '{phase[pid]}' but no cytotoxic agent "
         f"is listed ({agents[pid].replace(';', ', ')}): check the phase or the agents")
    if "myelosuppressive_therapy" in f.columns or done_but_cytotoxic.any():
        f["myelosuppressive_therapy"] = (_bool(f, "myelosuppressive_therapy").fillna(False)
                                         .astype(bool) | done_but_cytotoxic)

    last_infusion = _text(f, "last_infusion_date")
    in_cycle = _bool(f, "myelosuppressive_therapy").fillna(False).astype(bool) | _bool(
        f, "in_chemotherapy").fillna(False).astype(bool)
    for name, col in BLOOD_COLUMNS.items():
        given = _text(f, f"{name}_state")
        present = _num(f, col).notna()
        state = given.where(given != "", np.where(present, "measured", "missing"))
        # A state that claims a value where none survived is missing (never measured).
        state = state.where(~(state.isin(["measured", "conflicting"]) & ~present), "missing")
        # A count from before the current cycle's infusion says nothing about this cycle's
        # nadir: stale, not measured. Its value is kept, so a low one still caps (a newer
        # normal count is what lifts that cap).
        taken = _text(f, f"{name}_date").str[:10]
        before_cycle = (in_cycle & present & taken.ne("") & last_infusion.ne("")
                        & (taken < last_infusion) & state.isin(["measured", "conflicting"]))
        f[f"{name}_state"] = state.where(~before_cycle, "stale")
        note(before_cycle, lambda pid, name=name, taken=taken: (
            f"{name} of {taken[pid]} predates the current chemotherapy cycle (last infusion "
            f"{last_infusion[pid]}): stale, not read as this cycle's count"))

    # Fever: the flag or a temperature at or above FEVER_C; disagreement keeps the fever (most
    # adverse).
    fever = _bool(f, "fever")
    temp = _num(f, "temperature_c")
    hot = temp >= FEVER_C
    effective = fever.fillna(False).astype(bool) | hot.fillna(False)
    conflict = (fever.eq(False).fillna(False) & hot.fillna(False)).astype(bool)
    f["fever_effective"] = effective.where(fever.notna() | temp.notna(), pd.NA).astype("boolean")
    f["fever_state"] = _state(fever.notna() | temp.notna(),
                              _rejected(rejected_cols, "fever", "temperature_c"), conflict)
    note(conflict, lambda pid: f"fever recorded as false but temperature_c is {temp[pid]:g} C: "
         "treated as fever")

    lvef = _num(f, "lvef_pct")
    lvef_age = _num(f, "lvef_age_days")
    stale = lvef.notna() & (lvef_age > LVEF_STALE_DAYS)
    f["lvef_state"] = _state(lvef.notna(), _rejected(rejected_cols, "lvef_pct"), None, stale)
    note(stale, lambda pid: f"LVEF {lvef[pid]:g}% is {lvef_age[pid]:.0f} days old (older than "
         f"{LVEF_STALE_DAYS:g} days): not read as current")

    sbp, dbp = _num(f, "systolic_bp"), _num(f, "diastolic_bp")
    f["blood_pressure_state"] = _state(sbp.notna() | dbp.notna(),
                                       _rejected(rejected_cols, "systolic_bp",
                                                 "diastolic_bp", "blood_pressure"))

    # Resting HR: the clinic value and the wearable's last 3 days; the higher is used.
    sheet_hr, recent = _num(f, "resting_hr"), _num(f, "resting_hr_recent_bpm")
    both = sheet_hr.notna() & recent.notna()
    f["resting_hr_bpm"] = pd.concat([sheet_hr, recent], axis=1).max(axis=1)
    # a clinic value the EHR filled in is named by its resource and date, not "patient sheet"
    clinic = pd.Series("patient sheet", index=idx, dtype=object)
    if "sheet_value_sources" in f:
        from_ehr = f["sheet_value_sources"].astype("string").str.extract(
            r"(?:^| \| )resting_hr: (.+?)(?= \| |$)", expand=False)
        clinic = from_ehr.astype(object).where(from_ehr.notna(), clinic)
    f["resting_hr_source"] = np.select(
        [both & (recent > sheet_hr), both, recent.notna(), sheet_hr.notna()],
        ["wearable (last 3 days)", clinic, "wearable (last 3 days)", clinic], default="")
    hr_conflict = both & ((recent - sheet_hr).abs() > RESTING_HR_CONFLICT_BPM)
    f["resting_hr_state"] = _state(f["resting_hr_bpm"].notna(),
                                   _rejected(rejected_cols, "resting_hr"), hr_conflict)
    note(hr_conflict, lambda pid: f"resting HR {sheet_hr[pid]:g} bpm in the sheet but "
         f"{recent[pid]:.0f} bpm on the wearable's last days: the higher is used")

    _bone_status(f, rejected_cols, note)

    # The populations the guidelines single out (cachexia, frail older adults) and whether
    # heart rate tracks effort are the rule base's derived features (RuleBase.derive), data a
    # clinician reviews, computed before the rules read them.

    _fitness_plausibility(f, note)

    gaps = pd.Series("", index=idx, dtype=object)
    for name in SAFETY_INPUTS:
        state = f[f"{name}_state"].astype(str)
        flagged = state.isin(["conflicting", "stale", "rejected"])
        gaps = gaps.where(~flagged, gaps + np.where(gaps.eq(""), "", ";") + name + ":" + state)
    f["safety_data_gaps"] = gaps
    issues = [_text(f, "sheet_data_issues"), _text(f, "blood_data_issues")]
    combined = []
    for i, pid in enumerate(idx):
        parts = [s.iloc[i] for s in issues if s.iloc[i]] + notes.get(pid, [])
        combined.append(" | ".join(dict.fromkeys(parts)))
    f["data_issues"] = combined
    return f

