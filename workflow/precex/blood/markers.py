"""Harmonise a long blood-marker table, choose one value per marker per patient, derive indices.

Selection rule (documented in config/README.md): for each patient and marker, the latest value
measured within `window_days` before the reference date (inclusive). Glucose and insulin enter
HOMA-IR and TyG only when marked fasting. Rows are rejected, with a reason naming the row, for:
unknown marker, unknown or wrong-dimension unit, non-numeric or implausible value, unparseable
date or a date after the reference date, and conflicting values on the same day.

Columns of results/blood/markers.tsv (one row per patient with any valid value):
<marker>_<unit> (e.g. glucose_mmol_l), <marker>_date, and indices homa_ir, tyg, nlr, plr, sii,
siri, phenoage_clinical_years, crp_status, crp_n_measurements. Provenance of every chosen value
(source row, original value and unit) is in results/blood/provenance.tsv.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from precex.blood.catalogue import find_marker, load_catalogue
from precex.blood.units import UnitError, hba1c_to_ngsp, to_canonical
from precex.io.validated import report_unmatched
from precex.problems import Problem

FASTING_MARKERS = ("glucose", "insulin", "triglycerides")
CRP_ACUTE_MG_L = 10.0
CRP_CHRONIC_MIN_DAYS = 14
_TRUE = {"true", "yes", "1", "y", "t"}


@dataclass
class BloodResult:
    markers: pd.DataFrame  # patient-indexed wide table
    provenance: pd.DataFrame
    problems: list[Problem]


def harmonise(long: pd.DataFrame, source: str, reference_date: dt.date, patients: set[str],
              excluded: frozenset[str] = frozenset()) -> tuple[pd.DataFrame, list[Problem]]:
    """Canonical long table: patient_id, marker, value, date, fasting, row, original_*."""
    problems: list[Problem] = []
    df = long.copy()
    df.columns = [str(c).strip() for c in df.columns]
    df["row"] = np.arange(1, len(df) + 1)
    for col in ("marker", "loinc", "unit", "date", "fasting", "value", "patient_id"):
        if col not in df.columns:
            df[col] = ""
    df = df.fillna("").astype({"patient_id": str, "marker": str, "loinc": str, "unit": str,
                               "date": str, "fasting": str, "value": str})
    df["patient_id"] = df["patient_id"].str.strip()

    def reject(mask: pd.Series, message: str, fix: str, column: str) -> None:
        for r in df.loc[mask].itertuples():
            problems.append(Problem(source, message.format(r=r), fix, row=int(r.row),
                                    column=column, patient_id=None, stage="blood"))

    unknown_patient = ~df["patient_id"].isin(patients)
    problems += report_unmatched(source, df.loc[unknown_patient, "patient_id"], patients,
                                 set(excluded), "blood")
    df = df[~unknown_patient]

    pairs = df[["marker", "loinc"]].drop_duplicates()
    pairs["canonical"] = [find_marker(m, lc) for m, lc in zip(pairs["marker"], pairs["loinc"],
                                                              strict=True)]
    df = df.merge(pairs, on=["marker", "loinc"], how="left")
    unknown = df["canonical"].isna()
    reject(unknown, "unknown marker '{r.marker}' (LOINC '{r.loinc}').",
           "use a name, synonym or LOINC code from resources/blood/marker_catalogue.tsv.",
           "marker")
    df = df[~unknown]

    values = pd.to_numeric(df["value"].str.strip(), errors="coerce")
    bad_value = values.isna() | ~np.isfinite(values)
    reject(bad_value, "value '{r.value}' is not a number.", "give a number (no '<' or '>').",
           "value")
    df = df.assign(value_num=values)[~bad_value]

    dates = pd.to_datetime(df["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    bad_date = dates.isna()
    reject(bad_date, "date '{r.date}' is not a YYYY-MM-DD date.", "write dates as YYYY-MM-DD.",
           "date")
    df = df.assign(date_parsed=dates)[~bad_date]
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
            unit_errors[(marker, unit)] = str(err)
    key = list(zip(df["canonical"], df["unit"], strict=True))
    bad_unit = pd.Series([k in unit_errors for k in key], index=df.index, dtype=bool)
    for r, k in zip(df.loc[bad_unit].itertuples(), [k for k in key if k in unit_errors],
                    strict=True):
        problems.append(Problem(source, f"{unit_errors[k]}.", "use the marker's unit, e.g. "
                                f"{catalogue[k[0]].canonical_unit}.", row=int(r.row),
                                column="unit", stage="blood"))
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
    lo = df["canonical"].map(lambda m: catalogue[m].plausible[0])
    hi = df["canonical"].map(lambda m: catalogue[m].plausible[1])
    implausible = (df["canonical_value"] < lo) | (df["canonical_value"] > hi)
    for r in df.loc[implausible].itertuples():
        m = catalogue[r.canonical]
        problems.append(Problem(source, f"{r.canonical} {r.canonical_value:.4g} "
                                f"{m.canonical_unit} (given {r.value} {r.unit}) is outside the "
                                f"plausible range {m.plausible[0]:g}-{m.plausible[1]:g}.",
                                "check the value and its unit.", row=int(r.row), column="value",
                                patient_id=None, stage="blood"))
    df = df[~implausible]

    out = pd.DataFrame({
        "patient_id": df["patient_id"],
        "marker": df["canonical"],
        "value": df["canonical_value"],
        "date": df["date_parsed"].dt.date,
        "fasting": df["fasting"].str.strip().str.lower().isin(_TRUE),
        "row": df["row"],
        "original_value": df["value"],
        "original_unit": df["unit"],
    })
    # Same patient, marker and day: identical values are one measurement; differing ones conflict.
    grp = out.groupby(["patient_id", "marker", "date"])["value"]
    spread = grp.transform("max") - grp.transform("min")
    conflict = spread > 0.01 * grp.transform("max").abs().clip(lower=1e-9)
    for r in out.loc[conflict].itertuples():
        problems.append(Problem(source, f"{r.marker} has conflicting values on {r.date} for "
                                f"patient '{r.patient_id}'; none of that day's values is used.",
                                "keep one measurement per marker per day.", row=int(r.row),
                                column="value", stage="blood"))
    out = out[~conflict]
    dup = out.duplicated(["patient_id", "marker", "date"], keep="first")
    for r in out.loc[dup].itertuples():
        problems.append(Problem(source, f"repeats the {r.marker} value of an earlier row for "
                                "the same day; counted once.", "", row=int(r.row),
                                column="value", stage="blood"))
    out = out[~dup]
    return out.reset_index(drop=True), problems


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
    dates = latest.pivot(index="patient_id", columns="marker", values="date")
    dates.columns = [f"{c}_date" for c in dates.columns]
    fasting = latest.pivot(index="patient_id", columns="marker", values="fasting")
    for m in FASTING_MARKERS:
        if m in fasting.columns:
            wide[f"{m}_fasting"] = fasting[m].astype("boolean")
    wide = wide.join(dates.astype(str))
    provenance = latest[["patient_id", "marker", "column", "value", "date", "row",
                         "original_value", "original_unit"]].reset_index(drop=True)
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


def crp_status(canon: pd.DataFrame, reference_date: dt.date, window_days: int) -> pd.DataFrame:
    """AHA/CDC categories from CRP (or hs-CRP) in the window.

    Chronic categories (low < 1, average 1-3, high > 3 mg/L) need two measurements at least 14
    days apart, averaged; one measurement gives a 'provisional_' category; any value > 10 mg/L
    is flagged 'possible_acute' (infection or acute inflammation), never chronic.
    """
    start = reference_date - dt.timedelta(days=window_days)
    crp = canon[canon["marker"].isin(["crp", "hs_crp"]) & (canon["date"] >= start)
                & (canon["date"] <= reference_date)]
    rows = []
    for pid, grp in crp.sort_values("date").groupby("patient_id", sort=True):
        latest = grp.iloc[-1]
        n = len(grp)
        if latest["value"] > CRP_ACUTE_MG_L:
            status, mean = "possible_acute", latest["value"]
        else:
            usable = grp[grp["value"] <= CRP_ACUTE_MG_L]
            span = (usable["date"].max() - usable["date"].min()).days if len(usable) > 1 else 0
            if len(usable) >= 2 and span >= CRP_CHRONIC_MIN_DAYS:
                mean = usable["value"].tail(2).mean() if span else usable["value"].mean()
                prefix = ""
            else:
                mean, prefix = latest["value"], "provisional_"
            cat = "low" if mean < 1 else "average" if mean <= 3 else "high"
            status = prefix + cat
        rows.append({"patient_id": pid, "crp_status": status, "crp_mean_mg_l": mean,
                     "crp_n_measurements": n})
    return pd.DataFrame(rows, columns=["patient_id", "crp_status", "crp_mean_mg_l",
                                       "crp_n_measurements"]).set_index("patient_id")


def blood_features(long: pd.DataFrame, source: str, reference_date: dt.date, window_days: int,
                   age: pd.Series, excluded: frozenset[str] = frozenset()) -> BloodResult:
    canon, problems = harmonise(long, source, reference_date, set(age.index), excluded)
    wide, provenance = select_values(canon, reference_date, window_days)
    indices = derived_indices(wide, age)
    status = crp_status(canon, reference_date, window_days)
    markers = wide.join(indices).join(status).sort_index()
    markers.index.name = "patient_id"
    markers = markers.reindex(columns=sorted(markers.columns))
    return BloodResult(markers, provenance, problems)
