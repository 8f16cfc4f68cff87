"""Published DNA-methylation clocks as linear models over beta values.

Coefficients ship in resources/clocks (taken from the biolearn 0.9.1 wheel, BSD licence; see
resources/clocks/PROVENANCE.md):
- Horvath 2013 multi-tissue: DNAmAge = F^-1(0.695507258 + sum b_i beta_i), where
  F^-1(x) = 21 exp(x) - 1 for x < 0 and 21 x + 20 otherwise (adult age 20).
- Hannum 2013 blood: age = sum b_i beta_i (no intercept).
- Levine 2018 DNAm PhenoAge: 60.664 + sum b_i beta_i.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from precex.paths import resource_path

HORVATH_INTERCEPT = 0.695507258  # published value (Horvath 2013, Additional file 3)
ADULT_AGE = 20


def horvath_inverse_transform(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.where(x < 0, (1 + ADULT_AGE) * np.exp(np.minimum(x, 0)) - 1,
                    (1 + ADULT_AGE) * x + ADULT_AGE)


def horvath_transform(age: np.ndarray) -> np.ndarray:
    age = np.asarray(age, dtype=float)
    return np.where(age <= ADULT_AGE, np.log(np.maximum(age, 0) + 1) - np.log(ADULT_AGE + 1),
                    (age - ADULT_AGE) / (ADULT_AGE + 1))


@dataclass(frozen=True)
class Clock:
    name: str
    weights: pd.Series  # CpG -> coefficient
    intercept: float
    anti_log: bool  # Horvath's age transform
    citation: str

    def predict(self, linear: np.ndarray) -> np.ndarray:
        """Clock age from the linear predictor (intercept included)."""
        return horvath_inverse_transform(linear) if self.anti_log else np.asarray(linear, float)

    def linear_target(self, age: np.ndarray) -> np.ndarray:
        """The linear predictor (intercept included) that yields `age` (used by the demo)."""
        return horvath_transform(age) if self.anti_log else np.asarray(age, float)


def _read_coefficients(file: str) -> tuple[pd.Series, float]:
    table = pd.read_csv(resource_path("clocks", file))
    weights = table.set_index("CpGmarker")["CoefficientTraining"].astype(float)
    intercept = float(weights.pop("intercept")) if "intercept" in weights.index else 0.0
    return weights, intercept


@cache
def load_clocks() -> dict[str, Clock]:
    horvath, _ = _read_coefficients("horvath2013.csv")
    hannum, _ = _read_coefficients("hannum2013.csv")
    pheno, pheno_icpt = _read_coefficients("phenoage2018.csv")
    return {
        "horvath2013": Clock("horvath2013", horvath, HORVATH_INTERCEPT, True,
                             "Horvath S. Genome Biol 2013;14:R115"),
        "hannum2013": Clock("hannum2013", hannum, 0.0, False,
                            "Hannum G et al. Mol Cell 2013;49(2):359-367"),
        "phenoage2018": Clock("phenoage2018", pheno, pheno_icpt, False,
                              "Levine ME et al. Aging 2018;10(4):573-591"),
    }


def clock_cpgs() -> list[str]:
    return sorted(set().union(*(c.weights.index for c in load_clocks().values())))
