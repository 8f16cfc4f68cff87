"""The research job (config `outcomes`): fit the responder model per outcome, write the model
card and, in research_mode only, per-shard predictions under alternative plans for the reports.

Outputs under results/research/: model_card.json (data size, outcomes, features, metrics with
their spread across folds, calibration, skill, bootstrap effects, date of fit, precex version;
with manifest.json the only files carrying a date), interactions.tsv, predictions.tsv and
predictions/{shard}.json (empty unless research_mode), problems.tsv.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precex import __version__
from precex.io.files import json_dumps, read_delimited, write_text, write_tsv
from precex.io.problem_tables import write_problems
from precex.io.tables import read_text_table
from precex.problems import Problem
from precex.research.model import DEFAULT_FEATURES, MIN_PATIENTS, Design, OutcomeModel, fit_outcome
from precex.research.plans import PLAN_LABELS, alternative_plans

# Outcome -> (label, unit, which direction is better).
OUTCOMES = {
    "vo2peak": ("VO2peak", "mL/kg/min", "higher"),
    "six_mwt": ("6-minute walk distance", "m", "higher"),
    "fatigue": ("FACIT-Fatigue score", "points", "higher"),
    "crp": ("CRP", "mg/L", "lower"),
    "grip": ("grip strength", "kg", "higher"),
}
REQUIRED = ["patient_id", "outcome", "baseline", "follow_up", "weeks"]
PREDICTION_COLUMNS = ["patient_id", "outcome", "plan", "weekly_met_minutes",
                      "resistance_sessions", "expected_change", "interval90_low",
                      "interval90_high"]


def read_outcomes(path: str, prescribed: set[str]) -> tuple[pd.DataFrame, list[Problem]]:
    """Valid rows (patient_id, outcome, change, weeks[, dose columns]); every bad row is a
    problem naming file, row and column, and is left out of the model (not the batch)."""
    from precex.problems import InputError

    table = read_delimited(path, "research", "outcomes")
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise InputError([Problem(path, f"missing column(s): {', '.join(missing)}.",
                                  f"columns: {', '.join(REQUIRED)}[, dose_received, "
                                  "resistance_sessions_received].", stage="research")])
    problems: list[Problem] = []
    rows = []
    for n, rec in enumerate(table.to_dict("records"), start=1):
        pid, outcome = str(rec["patient_id"]).strip(), str(rec["outcome"]).strip()

        def bad(column: str, message: str, fix: str, row: int = n) -> None:
            problems.append(Problem(path, message, fix, row=row, column=column,
                                    stage="research"))

        if pid not in prescribed:
            bad("patient_id", f"patient '{pid}' has no prescription in this batch; row not "
                "used.", "check the ID.")
            continue
        if outcome not in OUTCOMES:
            bad("outcome", f"unknown outcome '{outcome}'; row not used.",
                f"use one of {', '.join(OUTCOMES)}.")
            continue
        values: dict[str, float] = {}
        for column in ("baseline", "follow_up", "weeks", "dose_received",
                       "resistance_sessions_received"):
            text = str(rec.get(column, "") or "").strip()
            optional = column in ("dose_received", "resistance_sessions_received")
            if not text and optional:
                values[column] = np.nan
                continue
            try:
                value = float(text)
            except ValueError:
                value = np.nan
            if not np.isfinite(value) or (column not in ("baseline", "follow_up")
                                          and value < 0):
                bad(column, f"{column} '{text}' is not a valid number; row not used.",
                    "give a number (weeks and doses: not negative).")
                break
            values[column] = value
        else:
            if values["weeks"] <= 0:
                bad("weeks", "weeks must be above 0; row not used.", "give the follow-up length.")
                continue
            rows.append({"row": n, "patient_id": pid, "outcome": outcome,
                         "change": values["follow_up"] - values["baseline"],
                         "weeks": values["weeks"], "dose_received": values["dose_received"],
                         "resistance_received": values["resistance_sessions_received"]})
    frame = pd.DataFrame(rows, columns=["row", "patient_id", "outcome", "change", "weeks",
                                        "dose_received", "resistance_received"])
    twice = frame.duplicated(["patient_id", "outcome"], keep=False)
    for r in frame[twice].itertuples():
        problems.append(Problem(path, f"patient '{r.patient_id}' has outcome '{r.outcome}' "
                                "more than once; none of these rows is used.", "keep one row.",
                                row=int(r.row), column="outcome", stage="research"))
    return frame[~twice].drop(columns="row"), problems


def model_frame(outcomes: pd.DataFrame, host: pd.DataFrame, prescribed: pd.DataFrame
                ) -> pd.DataFrame:
    """One row per (patient, outcome): change, dose received (the table's, else the
    prescribed dose) and host features."""
    dose = prescribed.set_index("patient_id")
    # host columns that clash with the outcome table's get "_host" (join's rsuffix, deprecated)
    clashes = {c: f"{c}_host" for c in host.columns if c in outcomes.columns}
    frame = outcomes.join(host.rename(columns=clashes), on="patient_id")
    met = pd.to_numeric(dose["weekly_met_minutes"], errors="coerce")
    res = pd.to_numeric(dose["resistance_sessions_per_week"], errors="coerce")
    # one concat, not three inserts: the host table's many columns would leave the joined
    # frame fragmented (pandas PerformanceWarning in every research job)
    doses = pd.DataFrame({
        "dose_met_min": frame["dose_received"].fillna(frame["patient_id"].map(met)),
        "resistance_sessions": frame["resistance_received"].fillna(
            frame["patient_id"].map(res)).fillna(0),
        "dose_source": np.where(frame["dose_received"].notna(), "dose_received", "prescribed"),
    }, index=frame.index)
    frame = pd.concat([frame, doses], axis=1)
    return frame[frame["dose_met_min"].notna()]


def fit_models(frame: pd.DataFrame, features: list[str], n_boot: int, seed: int
               ) -> tuple[dict[str, OutcomeModel], dict[str, str]]:
    models, skipped = {}, {}
    for outcome in sorted(frame["outcome"].unique()):
        part = frame[frame["outcome"] == outcome]
        if len(part) < MIN_PATIENTS:
            skipped[outcome] = f"too few patients ({len(part)} < {MIN_PATIENTS}); not fitted"
            continue
        models[outcome] = fit_outcome(outcome, part, features, n_boot=n_boot, seed=seed)
    return models, skipped


def model_card(models: dict[str, OutcomeModel], skipped: dict[str, str], frame: pd.DataFrame,
               features: list[str], n_boot: int, seed: int) -> dict[str, Any]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    fitted_on = (dt.datetime.fromtimestamp(int(epoch), dt.UTC).date() if epoch
                 else dt.date.today()).isoformat()
    return {
        "model": "ridge regression of the change in each outcome on dose (weekly MET-minutes),"
                 " resistance sessions, host features and dose x feature (scikit-learn)",
        "intended_use": "research_mode only: hypothesis-generating estimates of individual "
                        "response. Never changes a prescription, a safety cap or the evidence "
                        "floor.",
        "precex_version": __version__,
        "date_of_fit": fitted_on,
        "seed": seed,
        "features": features,
        "dose_source": {o: {str(k): int(v) for k, v in frame[frame["outcome"] == o][
            "dose_source"].value_counts().sort_index().items()}
            for o in sorted(frame["outcome"].unique())},
        "outcomes": {
            o: {"label": OUTCOMES[o][0], "unit": OUTCOMES[o][1], "better": OUTCOMES[o][2],
                "patients": int((frame["outcome"] == o).sum()),
                **({"fitted": False, "reason": skipped[o]} if o in skipped else {
                    "fitted": True, "ridge_alpha": models[o].alpha,
                    "cross_validation": models[o].cv, "skill": models[o].skill,
                    "bootstrap_resamples": n_boot,
                    "dose_by_feature_effects": models[o].interactions.to_dict("records")})}
            for o in sorted(frame["outcome"].unique())},
        "limitations": [
            "Observational dose-response: patients were not randomised to doses, so "
            "confounding by indication is likely.",
            "Dose received defaults to the prescribed dose when the table has no "
            "dose_received column (adherence is then assumed complete).",
            "Predictions are shown only when cross-validation beats both null models.",
        ],
    }


def predictions(models: dict[str, OutcomeModel], host: pd.DataFrame,
                prescriptions: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Every patient x skilled outcome x alternative plan, one vectorised pass per outcome."""
    plan_rows = [(pid, plan, met, res) for pid, rx in prescriptions.items()
                 for plan, (met, res) in alternative_plans(rx).items()]
    if not plan_rows:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    plans = pd.DataFrame(plan_rows, columns=["patient_id", "plan", "weekly_met_minutes",
                                             "resistance_sessions"])
    out = []
    for outcome, model in sorted(models.items()):
        if not model.skill:
            continue
        rows = host.reindex(plans["patient_id"])
        x_host = Design.raw(rows, model.design.features)
        dose = np.column_stack([plans["weekly_met_minutes"].to_numpy() / 100.0,
                                plans["resistance_sessions"].to_numpy()])
        mean, lo, hi = model.predict(x_host, dose)
        out.append(plans.assign(outcome=outcome, expected_change=mean, interval90_low=lo,
                                interval90_high=hi))
    if not out:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    table = pd.concat(out, ignore_index=True)[PREDICTION_COLUMNS]
    return table.sort_values(["patient_id", "outcome", "plan"], kind="stable")


def report_blocks(card: dict[str, Any], table: pd.DataFrame, ids: list[str]
                  ) -> dict[str, dict[str, Any]]:
    """Per patient of `ids`, what the report's research section shows: every outcome's skill
    (so a patient without predictions still sees why: no skill, or deferred) and the
    patient's predictions."""
    skill = {o: {"label": v["label"], "unit": v["unit"], "better": v["better"],
                 "skill": bool(v.get("skill")), "reason": v.get("reason", ""),
                 "improvement": (v.get("cross_validation") or {}).get(
                     "rmse_improvement_over_best_null"),
                 "improvement_se": (v.get("cross_validation") or {}).get("improvement_se")}
             for o, v in card["outcomes"].items()}
    rows = {str(pid): part.drop(columns="patient_id").round(3).to_dict("records")
            for pid, part in table.groupby("patient_id", sort=True)}
    return {pid: {"outcomes": skill, "plan_labels": PLAN_LABELS,
                  "predictions": rows.get(pid, [])} for pid in ids}


@dataclass(frozen=True)
class Inputs:
    outcomes: str
    profiles: str
    prescriptions: str
    shard_prescriptions: list[str]  # the shards' prescription folders (research_mode only)


@dataclass(frozen=True)
class Outputs:
    card: str
    interactions: str
    predictions: str
    shards: list[str]  # research_mode: one per shard, in params.shards order; else none
    problems: str


@dataclass(frozen=True)
class Params:
    shards: dict[str, list[str]]
    research_mode: bool
    features: list[str] | None
    bootstrap: int


def run(*, inputs: Inputs, outputs: Outputs, params: Params, seed: int = 0) -> None:
    features = list(params.features or DEFAULT_FEATURES)
    prescribed = read_text_table(inputs.prescriptions)
    host = pd.read_csv(inputs.profiles, sep="\t", index_col="patient_id", low_memory=False)
    host.index = host.index.astype(str)
    outcomes, problems = read_outcomes(inputs.outcomes, set(prescribed["patient_id"]))
    frame = model_frame(outcomes, host, prescribed)
    models, skipped = fit_models(frame, features, params.bootstrap, seed)
    card = model_card(models, skipped, frame, features, params.bootstrap, seed)
    write_text(outputs.card, json_dumps(card))
    effects = [m.interactions.assign(outcome=o) for o, m in sorted(models.items())]
    write_tsv(outputs.interactions, pd.concat(effects, ignore_index=True) if effects else
              pd.DataFrame(columns=["outcome", "term"]))
    table = pd.DataFrame(columns=PREDICTION_COLUMNS)
    if params.research_mode and models:
        folders = [Path(f) for f in inputs.shard_prescriptions]
        rx = {}
        for pid in prescribed["patient_id"]:
            path = next(f / f"{pid}.json" for f in folders if (f / f"{pid}.json").is_file())
            rx[pid] = json.loads(path.read_text(encoding="utf-8"))
        table = predictions(models, host, rx)
    write_tsv(outputs.predictions, table)
    if params.research_mode:
        every_id = [pid for ids in params.shards.values() for pid in ids]
        blocks = report_blocks(card, table, every_id)
        for (_, ids), path in zip(params.shards.items(), outputs.shards, strict=True):
            write_text(path, json_dumps({pid: blocks[pid] for pid in ids if pid in blocks}))
    write_problems(problems, "research", None, outputs.problems)
