"""Responder model: change in an outcome as a function of the dose received, host features and
their dose-by-feature interactions (research mode; hypothesis-generating).

Per outcome, a ridge regression (scikit-learn, penalty chosen by efficient leave-one-out on the
training data) on standardised columns: dose (weekly MET-minutes / 100), resistance sessions
per week, each host feature (median-imputed, with the imputation fitted on training data only)
and dose x feature. Cross-validation (5 folds, fixed seed) compares it with two null models:
the mean change, and a regression on dose alone. "Skill" needs the model's out-of-fold RMSE to
beat the better null in the mean by more than twice the standard error of the per-fold
differences; otherwise the report says "no skill" and shows no predictions. Calibration is the
slope and intercept of observed on out-of-fold predicted change. A bootstrap (resampled
patients, fixed seed) gives percentile intervals for the dose-by-feature effects and the
prediction intervals. Everything is vectorised over patients; nothing is O(patients^2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV
from sklearn.model_selection import KFold

ALPHAS = np.logspace(-2, 4, 25)
DEFAULT_FEATURES = ["age", "bmi_kg_m2", "crp_mg_l", "nlr", "homa_ir", "vo2peak_ml_kg_min",
                    "epigenetic_age_accel_years", "shannon", "fat_mass_pct", "grip_kg"]
# Skewed markers enter on the log scale.
LOG_FEATURES = {"crp_mg_l", "nlr", "homa_ir"}
MIN_PATIENTS = 30


@dataclass
class Design:
    """The fitted preprocessing: how a (features, dose) table becomes model columns."""

    features: list[str]
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray

    @staticmethod
    def raw(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
        cols = []
        for name in features:
            values = pd.to_numeric(frame[name], errors="coerce") if name in frame else (
                pd.Series(np.nan, index=frame.index))
            values = values.astype(float)
            if name in LOG_FEATURES:
                values = np.log1p(values.clip(lower=0))
            cols.append(values.to_numpy())
        return np.column_stack(cols) if cols else np.zeros((len(frame), 0))

    @classmethod
    def fit(cls, host: np.ndarray, dose: np.ndarray, features: list[str]) -> Design:
        medians = np.nanmedian(host, axis=0) if host.size else np.zeros(host.shape[1])
        medians = np.where(np.isnan(medians), 0.0, medians)
        filled = np.where(np.isnan(host), medians, host)
        full = np.column_stack([dose, filled])
        means, scales = full.mean(axis=0), full.std(axis=0)
        return cls(features, medians, means, np.where(scales > 0, scales, 1.0))

    def transform(self, host: np.ndarray, dose: np.ndarray) -> np.ndarray:
        """dose: (n, 2) = MET-min/100 and resistance sessions; returns dose, host, dose x host."""
        filled = np.where(np.isnan(host), self.medians, host)
        z = (np.column_stack([dose, filled]) - self.means) / self.scales
        z_dose, z_host = z[:, :2], z[:, 2:]
        return np.column_stack([z_dose, z_host, z_host * z_dose[:, :1]])

    def names(self) -> list[str]:
        return (["dose", "resistance"] + self.features
                + [f"dose_x_{name}" for name in self.features])


@dataclass
class OutcomeModel:
    outcome: str
    n: int
    design: Design
    alpha: float
    coef: np.ndarray
    intercept: float
    cv: dict[str, Any]
    skill: bool
    boot_coef: np.ndarray  # (B, p)
    boot_intercept: np.ndarray  # (B,)
    interactions: pd.DataFrame = field(default_factory=pd.DataFrame)

    def predict(self, host: np.ndarray, dose: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
        """Expected change and a 90% bootstrap interval for each row."""
        x = self.design.transform(host, dose)
        mean = x @ self.coef + self.intercept
        boot = x @ self.boot_coef.T + self.boot_intercept  # (n, B)
        lo, hi = np.percentile(boot, [5, 95], axis=1)
        return mean, lo, hi


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else 0.0


def cross_validate(host: np.ndarray, dose: np.ndarray, y: np.ndarray, features: list[str],
                   folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Out-of-fold RMSE and R2 of the model and both null models, per fold, plus calibration."""
    per_fold: dict[str, list[float]] = {f"{m}_{k}": [] for m in ("model", "mean", "dose_only")
                                        for k in ("rmse", "r2")}
    oof = np.empty_like(y)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(y):
        design = Design.fit(host[train], dose[train], features)
        reg = RidgeCV(alphas=ALPHAS).fit(design.transform(host[train], dose[train]), y[train])
        pred = reg.predict(design.transform(host[test], dose[test]))
        oof[test] = pred
        null = np.full(len(test), y[train].mean())
        dose_only = LinearRegression().fit(dose[train], y[train]).predict(dose[test])
        for name, p in (("model", pred), ("mean", null), ("dose_only", dose_only)):
            per_fold[f"{name}_rmse"].append(_rmse(y[test], p))
            per_fold[f"{name}_r2"].append(_r2(y[test], p))
    best_null = min(("mean", "dose_only"), key=lambda m: np.mean(per_fold[f"{m}_rmse"]))
    diff = np.array(per_fold[f"{best_null}_rmse"]) - np.array(per_fold["model_rmse"])
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("inf")
    calibration = LinearRegression().fit(oof.reshape(-1, 1), y)
    summary = {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)),
                   "folds": [float(x) for x in v]} for k, v in per_fold.items()}
    return {"folds": folds, "metric": "RMSE of the change (lower is better); R2 also given",
            "per_model": summary, "best_null": best_null,
            "rmse_improvement_over_best_null": float(diff.mean()),
            "improvement_se": se,
            "calibration": {"slope": float(calibration.coef_[0]),
                            "intercept": float(calibration.intercept_)},
            "skill": bool(diff.mean() > 2 * se and diff.mean() > 0)}


def fit_outcome(outcome: str, frame: pd.DataFrame, features: list[str] | None, *,
                n_boot: int, seed: int = 0) -> OutcomeModel:
    """frame: one row per patient with change, dose_met_min, resistance_sessions and features."""
    features = [f for f in (features or DEFAULT_FEATURES)
                if f in frame and pd.to_numeric(frame[f], errors="coerce").notna().any()]
    y = frame["change"].to_numpy(dtype=float)
    dose = np.column_stack([frame["dose_met_min"].to_numpy(dtype=float) / 100.0,
                            frame["resistance_sessions"].to_numpy(dtype=float)])
    host = Design.raw(frame, features)
    cv = cross_validate(host, dose, y, features, seed=seed)
    design = Design.fit(host, dose, features)
    x = design.transform(host, dose)
    alpha = float(RidgeCV(alphas=ALPHAS).fit(x, y).alpha_)
    final = Ridge(alpha=alpha).fit(x, y)
    # Bootstrap: refit the ridge (same alpha and preprocessing) on resampled patients.
    rng = np.random.default_rng(seed)
    boot_coef = np.empty((n_boot, x.shape[1]))
    boot_intercept = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        fit = Ridge(alpha=alpha).fit(x[idx], y[idx])
        boot_coef[b], boot_intercept[b] = fit.coef_, fit.intercept_
    names = design.names()
    k = len(features)
    scale = design.scales[0]  # per 100 MET-min/week of dose, per 1 SD of the feature
    rows = []
    for j, name in enumerate(features):
        col = 2 + k + j
        lo, hi = np.percentile(boot_coef[:, col], [2.5, 97.5])
        rows.append({"term": names[col], "feature": name,
                     "effect_per_100_met_min_per_feature_sd": float(final.coef_[col] / scale),
                     "ci95_low": float(lo / scale), "ci95_high": float(hi / scale),
                     "excludes_zero": bool(lo > 0 or hi < 0)})
    return OutcomeModel(outcome, len(y), design, alpha, final.coef_.copy(),
                        float(final.intercept_), cv, cv["skill"], boot_coef, boot_intercept,
                        pd.DataFrame(rows))
