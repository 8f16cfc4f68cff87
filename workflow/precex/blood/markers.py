"""Harmonise a long blood-marker table, choose one value per marker per patient, derive indices.

Selection rule (documented in config/README.md): for each patient and marker, the latest value
measured within `window_days` before the reference date (inclusive). Glucose and insulin enter
HOMA-IR and TyG only when marked fasting. Rows are rejected, with a reason naming the row and
the patient, for: unknown marker, unknown or wrong-dimension unit, non-numeric or implausible
value, unparseable date or a date after the reference date. Differing values of one marker on
one day conflict: the most adverse is used and flagged. A rejected row never stops the stage
and never excludes the patient; it is a data issue listed in `blood_data_issues`, and for the
safety markers (platelets, haemoglobin, neutrophils, WBC) `<marker>_state` says measured,
conflicting, stale or rejected (rejected and stale values are not used: like missing, flagged).

Columns of results/blood/markers.tsv (one row per patient with any valid value):
<marker>_<unit> (e.g. glucose_mmol_l), <marker>_date, and indices homa_ir, tyg, nlr, plr, sii,
siri, phenoage_clinical_years, crp_status, crp_n_measurements. Provenance of every chosen value
(source row, original value and unit) is in results/blood/provenance.tsv.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from precex.blood.catalogue import find_marker, load_catalogue
from precex.blood.units import UnitError, hba1c_to_ngsp, to_canonical
from precex.io.dates import parse_dates
from precex.io.tokens import parse_bools
from precex.modality_outputs import CENSORED_SUFFIX
from precex.paths import threshold
from precex.problems import Problem
from precex.roster import report_unmatched

FASTING_MARKERS = ("glucose", "insulin", "triglycerides")
# CRP categories (AHA/CDC, Pearson 2003): resources/clinical/thresholds.tsv.
CRP_ACUTE_MG_L = threshold("crp_acute_above")
CRP_CHRONIC_MIN_DAYS = threshold("crp_chronic_min_days")
CRP_LOW_BELOW = threshold("crp_low_below")
CRP_HIGH_ABOVE = threshold("crp_high_above")


@dataclass
class BloodResult:
    markers: pd.DataFrame  # patient-indexed wide table
    provenance: pd.DataFrame
    problems: list[Problem]


# A result as labs export it: an optional censoring sign, a number with a decimal point or comma
# (or thousands separators), and sometimes the unit in the same cell.
_VALUE = re.compile(r"^\s*(?P<sign><=|>=|≤|≥|<|>)?\s*(?P<number>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)"
                    r"(?:[.,]\d+)?|[-+]?[.,]\d+)\s*(?P<unit>.*?)\s*$")
DIFFERENTIALS = ("neutrophils", "lymphocytes", "monocytes")
SAFETY_MARKERS = ("platelets", "hemoglobin", "neutrophils", "wbc")
STATE_SUFFIX = "_state"


def parse_values(text: pd.Series) -> pd.DataFrame:
    """number, censoring sign and in-cell unit of each value text (NaN when not a number).

    '1,5' is 1.5 (decimal comma) while '150,000' is 150000 (thousands). A censored result
    keeps its limit as the number ('<0.3' is 0.3) and its sign ('<' for '<' and '<=', '>' for
    '>' and '>='): the blood features store the limit with a `<column>_censored` sign, and the
    rules read it as just below (above) the limit (precex.prescription.rules), so a platelet
    count '<20' is below 20 while hs-CRP '<0.3 mg/dL' is stored as 3 mg/L, not 2.9997.
    """
    parts = text.str.extract(_VALUE)
    number = parts["number"].fillna("")
    thousands = number.str.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+")
    number = number.where(~thousands, number.str.replace(",", "", regex=False))
    number = number.str.replace(",", ".", regex=False)
    value = pd.to_numeric(number, errors="coerce")
    sign = parts["sign"].fillna("").replace({"≤": "<", "≥": ">", "<=": "<", ">=": ">"})
    return pd.DataFrame({"value": value, "sign": sign, "unit": parts["unit"].fillna("")},
                        index=text.index)


def harmonise(long: pd.DataFrame, source: str, reference_date: dt.date, patients: set[str],
              excluded: frozenset[str] = frozenset(), date_format: str = "ISO"
              ) -> tuple[pd.DataFrame, list[Problem], pd.DataFrame]:
    """Canonical long table (patient_id, marker, value, date, fasting, row, original_*,
    conflicting), the problems, and the rejected rows (patient_id, marker, date, reason).

    A rejected row of a known patient is a data issue naming that patient: the value is not
    used, and the marker's state says 'rejected' when nothing newer and usable replaces it.
    """
    problems: list[Problem] = []
    rejected_rows: list[dict[str, object]] = []
    df = long.copy()
    df.columns = [str(c).strip() for c in df.columns]
    df["row"] = df["_row"].astype(int) if "_row" in df.columns else np.arange(1, len(df) + 1)
    df["file"] = df["_file"].astype(str) if "_file" in df.columns else source
    for col in ("marker", "loinc", "unit", "date", "fasting", "value", "patient_id"):
        if col not in df.columns:
            df[col] = ""
    df = df.fillna("").astype({"patient_id": str, "marker": str, "loinc": str, "unit": str,
                               "date": str, "fasting": str, "value": str})
    df["patient_id"] = df["patient_id"].str.strip()
    df["date_parsed"] = parse_dates(df["date"], date_format)
    df["canonical"] = None

    def reject_row(r: Any, message: str, fix: str, column: str) -> None:
        """A data issue naming the row's patient, and the row kept for the marker's state."""
        problems.append(Problem(r.file, message, fix, row=int(r.row), column=column,
                                patient_id=r.patient_id or None, stage="blood",
                                excludes=False))
        rejected_rows.append({"patient_id": r.patient_id, "marker": r.canonical,
                              "date": r.date_parsed, "reason": message, "row": int(r.row)})

    def reject(mask: pd.Series, message: str, fix: str, column: str) -> None:
        for r in df.loc[mask].itertuples():
            reject_row(r, message.format(r=r), fix, column)

    unknown_patient = ~df["patient_id"].isin(patients)
    problems += report_unmatched(source, df.loc[unknown_patient, "patient_id"], patients,
                                 set(excluded), "blood")
    df = df[~unknown_patient]

    pairs = df[["marker", "loinc"]].drop_duplicates()
    pairs["canonical"] = [find_marker(m, lc) for m, lc in zip(pairs["marker"], pairs["loinc"],
                                                              strict=True)]
    df = df.drop(columns="canonical").merge(pairs, on=["marker", "loinc"], how="left")
    unknown = df["canonical"].isna()
    problems += _unknown_markers(df[unknown])
    df = df[~unknown]

    parsed = parse_values(df["value"])
    in_cell = df["unit"].str.strip().eq("") & parsed["unit"].ne("")
    df = df.assign(value_num=parsed["value"], censored=parsed["sign"],
                   unit=df["unit"].where(~in_cell, parsed["unit"]))
    bad_value = df["value_num"].isna() | ~np.isfinite(df["value_num"])
    reject(bad_value, "value '{r.value}' is not a number.",
           "give a number (a result reported as '<20' or '>1000' is read with its limit and "
           "sign).", "value")
    df = df[~bad_value]

    bad_date = df["date_parsed"].isna()
    reject(bad_date, "date '{r.date}' is not a YYYY-MM-DD date" + (
        "." if date_format != "ISO" else " (month- or day-first dates are read only when the "
        "config's date_format says which)."), "write dates as YYYY-MM-DD, or set date_format: "
        "MDY (or DMY) in the config for the site's order.", "date")
    df = df[~bad_date]
    future = df["date_parsed"].dt.date > reference_date
    reject(future, "date {r.date} is after the reference date " + reference_date.isoformat()
           + ".", "check the date or the config's reference_date.", "date")
    df = df[~future]

    catalogue = load_catalogue()
    factors: dict[tuple[str, str], float | None] = {}
    unit_errors: dict[tuple[str, str], str] = {}
    for marker, unit in df[["canonical", "unit"]].drop_duplicates().itertuples(index=False):
        if marker == "hba1c":
            try:
                hba1c_to_ngsp(1.0, unit)
                factors[(marker, unit)] = None  # affine: handled below
            except UnitError as err:
                unit_errors[(marker, unit)] = str(err)
            continue
        try:
            factors[(marker, unit)] = to_canonical(1.0, unit, catalogue[marker])
        except UnitError as err:
            if marker in DIFFERENTIALS and _is_percent(unit):
                factors[(marker, unit)] = np.nan  # a percentage of the same day's WBC
                continue
            unit_errors[(marker, unit)] = str(err)
    key = list(zip(df["canonical"], df["unit"], strict=True))
    bad_unit = pd.Series([k in unit_errors for k in key], index=df.index, dtype=bool)
    for r in df.loc[bad_unit].itertuples():
        k = (r.canonical, r.unit)
        reject_row(r, f"{unit_errors[k]}; {r.canonical} {r.value} {r.unit} on {r.date} is not "
                   "used.", "use a unit of the marker's kind, e.g. "
                   f"{catalogue[k[0]].canonical_unit} (UCUM codes are accepted).", "unit")
    df = df[~bad_unit]
    factor = np.array([factors[k] if factors[k] is not None else np.nan
                       for k in zip(df["canonical"], df["unit"], strict=True)], dtype=float)
    canonical = df["value_num"].to_numpy() * factor
    hb = (df["canonical"] == "hba1c").to_numpy()
    if hb.any():
        canonical[hb] = [hba1c_to_ngsp(v, u) for v, u in
                         zip(df["value_num"].to_numpy()[hb], df["unit"].to_numpy()[hb],
                             strict=True)]
    df = df.assign(canonical_value=canonical)
    df, differential_rows = _absolute_differentials(df)
    reject(df.index.isin(differential_rows),
           "{r.canonical} {r.value} % has no white-cell count (WBC) on the same day, so the "
           "absolute count cannot be derived.",
           "export the absolute count, or the WBC of the same sample.", "unit")
    df = df[~df.index.isin(differential_rows)]
    # as floats also when no row is left (every row rejected: an empty column has no dtype)
    lo = df["canonical"].map(lambda m: catalogue[m].plausible[0]).astype(float)
    hi = df["canonical"].map(lambda m: catalogue[m].plausible[1]).astype(float)
    value = df["canonical_value"].astype(float)
    implausible = (value < lo) | (value > hi)
    for r in df.loc[implausible].itertuples():
        m = catalogue[r.canonical]
        reject_row(r, f"{r.canonical} {r.canonical_value:.4g} {m.canonical_unit} (given "
                   f"{r.value} {r.unit}) is outside the plausible range {m.plausible[0]:g}-"
                   f"{m.plausible[1]:g}.", "check the value and its unit.", "value")
    df = df[~implausible]

    out = pd.DataFrame({
        "patient_id": df["patient_id"],
        "marker": df["canonical"],
        "value": df["canonical_value"],
        "censored": df["censored"],  # '<', '>' or ''
        "date": df["date_parsed"].dt.date,
        "fasting": parse_bools(df["fasting"]).fillna(False).astype(bool),
        "row": df["row"],
        "original_value": df["value"],
        "original_unit": df["unit"],
        "file": df["file"],
    })
    out, conflict_problems = _resolve_conflicts(out)
    problems += conflict_problems
    rejected = pd.DataFrame(rejected_rows, columns=["patient_id", "marker", "date", "reason",
                                                    "row"])
    rejected["date"] = pd.to_datetime(rejected["date"]).dt.date
    return out.reset_index(drop=True), problems, rejected


def _is_percent(unit: str) -> bool:
    return re.sub(r"\s+", "", unit).lower() in ("%", "percent", "%ofwbc", "%{leukocytes}",
                                                   "/100wbc", "%wbc")


def _absolute_differentials(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """Percent differentials times the same day's WBC; rows without one are returned apart."""
    pct = df["canonical"].isin(DIFFERENTIALS) & df["canonical_value"].isna() & \
        df["unit"].map(_is_percent).astype(bool)
    if not pct.any():
        return df, pd.Index([])
    wbc = df[df["canonical"].eq("wbc")].groupby(["patient_id", "date_parsed"])[
        "canonical_value"].min()  # two WBCs that day: the lower (more adverse) count
    keys = pd.MultiIndex.from_arrays([df.loc[pct, "patient_id"], df.loc[pct, "date_parsed"]])
    same_day = pd.Series(wbc.reindex(keys).to_numpy(), index=df.index[pct])
    absolute = df.loc[pct, "value_num"] / 100 * same_day
    df = df.copy()
    df.loc[pct, "canonical_value"] = absolute
    return df, absolute.index[absolute.isna()]


def _unknown_markers(rows: pd.DataFrame) -> list[Problem]:
    """Markers not in the catalogue: one line per marker and file with counts, and one short
    note per patient (a lab's own name for a safety marker must not vanish unseen)."""
    problems: list[Problem] = []
    if rows.empty:
        return problems
    label = rows["marker"].where(rows["marker"].str.strip() != "", "LOINC " + rows["loinc"])
    rows = rows.assign(label=label)
    for (file, name), grp in rows.groupby(["file", "label"], sort=True):
        problems.append(Problem(file, f"marker '{name}' ({len(grp)} rows, "
                                f"{grp['patient_id'].nunique()} patients, e.g. row "
                                f"{int(grp['row'].iloc[0])}) is not in the marker catalogue; "
                                "not used.", "use a name, synonym or LOINC code from "
                                "resources/blood/marker_catalogue.tsv (or add the marker there).",
                                column="marker", stage="blood", excludes=False))
    for (file, pid), grp in rows.groupby(["file", "patient_id"], sort=True):
        names = ", ".join(sorted(set(grp["label"]))[:6])
        problems.append(Problem(file, f"{len(grp)} result(s) of markers not in the catalogue "
                                f"were not used ({names}).", "check that no safety marker "
                                "(platelets, haemoglobin, neutrophils) is among them.",
                                patient_id=pid, column="marker", stage="blood", excludes=False))
    return problems


def _resolve_conflicts(out: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Same patient, marker and day: identical values are one measurement; differing values
    conflict and the most adverse one is kept (the lowest count, the highest CRP), flagged."""
    problems: list[Problem] = []
    catalogue = load_catalogue()
    grp = out.groupby(["patient_id", "marker", "date"])["value"]
    spread = grp.transform("max") - grp.transform("min")
    conflict = spread > 0.01 * grp.transform("max").abs().clip(lower=1e-9)
    adverse = out["marker"].map(lambda m: catalogue[m].adverse)
    # Sort so the kept row (first of its day) is the most adverse: low-adverse ascending,
    # high-adverse descending, others by source row.
    order = np.where(adverse.eq("low"), out["value"],
                     np.where(adverse.eq("high"), -out["value"], 0.0))
    out = out.assign(conflicting=conflict, _order=order).sort_values(
        ["patient_id", "marker", "date", "_order", "row"], kind="stable")
    for (pid, marker, day), g in out[out["conflicting"]].groupby(["patient_id", "marker",
                                                                   "date"], sort=True):
        kept = g.iloc[0]
        values = ", ".join(f"{v:g}" for v in g["value"])
        problems.append(Problem(kept["file"], f"{marker} has conflicting values on {day} ({values} "
                                f"{catalogue[marker].canonical_unit}, rows "
                                f"{', '.join(map(str, g['row']))}); the most adverse, "
                                f"{kept['value']:g}, is used and flagged.",
                                "check the results with the laboratory; keep one measurement "
                                "per marker per day.", row=int(kept["row"]), column="value",
                                patient_id=pid, stage="blood", excludes=False))
    dup = out.duplicated(["patient_id", "marker", "date"], keep="first")
    for r in out.loc[dup & ~out["conflicting"]].itertuples():
        problems.append(Problem(r.file, f"repeats the {r.marker} value of an earlier row for "
                                "the same day; counted once.", "", row=int(r.row),
                                column="value", stage="blood"))
    return out.loc[~dup].drop(columns="_order"), problems


def marker_states(canon: pd.DataFrame, rejected: pd.DataFrame, reference_date: dt.date,
                  window_days: int, source: str, markers: tuple[str, ...] = SAFETY_MARKERS
                  ) -> tuple[pd.DataFrame, list[Problem]]:
    """<marker>_state per patient: measured, conflicting, stale or rejected (absent: missing),
    and a data issue per stale value.

    The latest usable value in the window is measured (conflicting when that day's values
    disagreed). A rejected row newer than it, or with no usable value in the window, makes the
    state rejected; only older values make it stale. Rejected and stale values are not used.
    """
    start = reference_date - dt.timedelta(days=window_days)
    catalogue = load_catalogue()
    rows: dict[str, dict[str, str]] = {}
    stale: list[Problem] = []
    for marker in markers:
        mine = canon[canon["marker"].eq(marker) & (canon["date"] <= reference_date)]
        latest = mine.sort_values("date").groupby("patient_id").tail(1).set_index("patient_id")
        # Plain dicts: a pandas scalar lookup per patient and marker cost ~10 us each.
        last_date = latest["date"].to_dict()
        last_value = latest["value"].to_dict()
        last_conflicting = latest["conflicting"].to_dict()
        bad = rejected[rejected["marker"].eq(marker)]
        undated = [reference_date if pd.isna(d) else d for d in bad["date"]]  # unknown: now
        bad_latest = bad.assign(date=pd.Series(undated, index=bad.index, dtype=object)
                                ).groupby("patient_id")["date"].max().to_dict()
        for pid in sorted(set(last_date) | set(bad_latest)):
            has = pid in last_date
            fresh = has and last_date[pid] >= start
            newer_bad = pid in bad_latest and (not fresh or bad_latest[pid] >= last_date[pid])
            if newer_bad:
                state = "rejected"
            elif fresh:
                state = "conflicting" if bool(last_conflicting[pid]) else "measured"
            else:
                state = "stale"
            rows.setdefault(pid, {})[f"{marker}{STATE_SUFFIX}"] = state
            if state == "stale":
                last = last_date[pid]
                stale.append(Problem(
                    source, f"{marker} last measured {last} ({(reference_date - last).days} "
                    f"days before {reference_date}: {last_value[pid]:g} "
                    f"{catalogue[marker].canonical_unit}), outside the {window_days}-day "
                    "window; not used.", "obtain a current result.", patient_id=pid,
                    stage="blood", excludes=False))
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "patient_id"
    return frame, stale


def select_values(canon: pd.DataFrame, reference_date: dt.date, window_days: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Latest value per (patient, marker) in the window; returns (wide, provenance)."""
    start = reference_date - dt.timedelta(days=window_days)
    inwin = canon[(canon["date"] >= start) & (canon["date"] <= reference_date)]
    latest = inwin.sort_values(["patient_id", "marker", "date"]).groupby(
        ["patient_id", "marker"], sort=True).tail(1)
    catalogue = load_catalogue()
    latest = latest.assign(column=latest["marker"].map(lambda m: catalogue[m].column))
    wide = latest.pivot(index="patient_id", columns="column", values="value")
    censored = latest[latest["censored"].ne("")]  # only markers with a censored result
    if len(censored):
        signs = censored.pivot(index="patient_id", columns="column", values="censored")
        signs.columns = [f"{c}{CENSORED_SUFFIX}" for c in signs.columns]
        wide = wide.join(signs)
    dates = latest.pivot(index="patient_id", columns="marker", values="date")
    dates.columns = [f"{c}_date" for c in dates.columns]
    fasting = latest.pivot(index="patient_id", columns="marker", values="fasting")
    for m in FASTING_MARKERS:
        if m in fasting.columns:
            wide[f"{m}_fasting"] = fasting[m].astype("boolean")
    wide = wide.join(dates.astype(str))
    latest = latest.assign(source_file=latest["file"].map(os.path.basename))
    provenance = latest[["patient_id", "marker", "column", "value", "date", "source_file",
                         "row", "original_value", "original_unit"]].reset_index(drop=True)
    return wide, provenance


def _col(wide: pd.DataFrame, name: str) -> pd.Series:
    return wide[name] if name in wide.columns else pd.Series(np.nan, index=wide.index)


def phenoage_clinical(wide: pd.DataFrame, age: pd.Series) -> pd.Series:
    """Levine 2018 clinical PhenoAge; NaN unless all nine markers and age are present."""
    crp_mg_dl = _col(wide, "crp_mg_l").fillna(_col(wide, "hs_crp_mg_l")) / 10.0
    lymph_pct = _col(wide, "lymphocytes_10e9_l") / _col(wide, "wbc_10e9_l") * 100
    xb = (-19.907 - 0.0336 * _col(wide, "albumin_g_l") + 0.0095 * _col(wide, "creatinine_umol_l")
          + 0.1953 * _col(wide, "glucose_mmol_l") + 0.0954 * np.log(crp_mg_dl.where(crp_mg_dl > 0))
          - 0.0120 * lymph_pct + 0.0268 * _col(wide, "mcv_fl") + 0.3306 * _col(wide, "rdw_pct")
          + 0.00188 * _col(wide, "alp_u_l") + 0.0554 * _col(wide, "wbc_10e9_l")
          + 0.0804 * age.reindex(wide.index))
    gamma = 0.0076927
    mortality = 1 - np.exp(-np.exp(xb) * (np.exp(120 * gamma) - 1) / gamma)
    return 141.50225 + np.log(-0.00553 * np.log(1 - mortality)) / 0.090165


def derived_indices(wide: pd.DataFrame, age: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame(index=wide.index)
    fasting_glu = _col(wide, "glucose_mmol_l").where(_col(wide, "glucose_fasting") == True)  # noqa: E712
    fasting_ins = _col(wide, "insulin_uiu_ml").where(_col(wide, "insulin_fasting") == True)  # noqa: E712
    fasting_tg = _col(wide, "triglycerides_mmol_l")
    out["homa_ir"] = fasting_glu * fasting_ins / 22.5
    out["tyg"] = np.log(fasting_tg * 88.57 * fasting_glu * 18.016 / 2)
    neu, lym = _col(wide, "neutrophils_10e9_l"), _col(wide, "lymphocytes_10e9_l")
    plt, mono = _col(wide, "platelets_10e9_l"), _col(wide, "monocytes_10e9_l")
    lym = lym.where(lym > 0)
    out["nlr"] = neu / lym
    out["plr"] = plt / lym
    out["sii"] = plt * neu / lym
    out["siri"] = neu * mono / lym
    out["phenoage_clinical_years"] = phenoage_clinical(wide, age)
    return out.astype(float)


def _issue_text(problems: list[Problem]) -> pd.DataFrame:
    """blood_data_issues: one patient's data issues, for their trace and report."""
    texts: dict[str, list[str]] = {}
    for p in problems:
        if p.patient_id and not p.excludes:
            texts.setdefault(p.patient_id, []).append(p.describe(full_path=False))
    frame = pd.DataFrame({"blood_data_issues": {pid: " | ".join(dict.fromkeys(t))
                                                for pid, t in texts.items()}})
    frame.index.name = "patient_id"
    return frame


def crp_status(canon: pd.DataFrame, reference_date: dt.date, window_days: int) -> pd.DataFrame:
    """AHA/CDC categories from CRP (or hs-CRP) in the window.

    Chronic categories (low < 1, average 1-3, high > 3 mg/L) need two measurements at least 14
    days apart, averaged; one measurement gives a 'provisional_' category; any value > 10 mg/L
    is flagged 'possible_acute' (infection or acute inflammation), never chronic.
    """
    start = reference_date - dt.timedelta(days=window_days)
    crp = canon[canon["marker"].isin(["crp", "hs_crp"]) & (canon["date"] >= start)
                & (canon["date"] <= reference_date)].sort_values("date")
    # Each patient's rows in date order as numpy slices (a pandas group per patient cost
    # ~0.5 ms): the order within a patient is the date sort's, as groupby keeps it.
    pids = crp["patient_id"].to_numpy(dtype=object)
    values = crp["value"].to_numpy(dtype=float)
    days = np.array([d.toordinal() for d in crp["date"]], dtype=np.int64)
    order = np.argsort(pids, kind="stable")
    bounds = (np.flatnonzero(np.r_[True, pids[order][1:] != pids[order][:-1], True])
              if len(pids) else np.zeros(1, dtype=np.int64))
    rows = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        at = order[lo:hi]
        value, day = values[at], days[at]
        latest, n = value[-1], len(at)
        if latest > CRP_ACUTE_MG_L:
            status, mean = "possible_acute", latest
        else:
            keep = value <= CRP_ACUTE_MG_L
            usable, usable_days = value[keep], day[keep]
            span = int(usable_days.max() - usable_days.min()) if len(usable) > 1 else 0
            if len(usable) >= 2 and span >= CRP_CHRONIC_MIN_DAYS:
                mean, prefix = (usable[-2] + usable[-1]) / 2, ""
            else:
                mean, prefix = latest, "provisional_"
            cat = "low" if mean < CRP_LOW_BELOW else "average" if mean <= CRP_HIGH_ABOVE \
                else "high"
            status = prefix + cat
        rows.append({"patient_id": pids[at[0]], "crp_status": status,
                     "crp_mean_mg_l": float(mean), "crp_n_measurements": n})
    return pd.DataFrame(rows, columns=["patient_id", "crp_status", "crp_mean_mg_l",
                                       "crp_n_measurements"]).set_index("patient_id")


def blood_features(long: pd.DataFrame, source: str, reference_date: dt.date, window_days: int,
                   age: pd.Series, excluded: frozenset[str] = frozenset(),
                   date_format: str = "ISO") -> BloodResult:
    canon, problems, rejected = harmonise(long, source, reference_date, set(age.index),
                                          excluded, date_format)
    wide, provenance = select_values(canon, reference_date, window_days)
    states, stale = marker_states(canon, rejected, reference_date, window_days, source)
    catalogue = load_catalogue()
    for marker in SAFETY_MARKERS:  # a rejected newer result: the older value is not used
        col, state = catalogue[marker].column, f"{marker}{STATE_SUFFIX}"
        if col in wide.columns and state in states.columns:
            unusable = states[state].reindex(wide.index).eq("rejected")
            wide[col] = wide[col].mask(unusable.to_numpy())
    indices = derived_indices(wide, age)
    status = crp_status(canon, reference_date, window_days)
    issues = _issue_text(problems + stale)
    markers = wide.join(indices, how="outer").join(status, how="outer").join(
        states, how="outer").join(issues, how="outer").sort_index()
    markers.index.name = "patient_id"
    markers = markers.reindex(columns=sorted(markers.columns))
    return BloodResult(markers, provenance, problems)
