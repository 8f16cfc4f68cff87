"""Responder-model benchmark (issue 11): fit on 10,000 patients x 3 outcomes.

    python tests/benchmarks/bench_research.py [--patients 10000] [--bootstrap 200]

The cohort is `precex demo`'s (outcomes with a known dose-by-inflammation effect on VO2peak, a
dose-only effect on the 6-minute walk, none on fatigue); host features are the demo's clinical
values and mean CRP. Timed: cross-validation against both null models, the final fit and the
bootstrap, for all three outcomes, in a fresh process (harness.measure). Target: < 60 s on a
2-core machine.
"""

from __future__ import annotations

import argparse

from harness import measure, report


def fit_all(patients: int, bootstrap: int) -> dict:
    import numpy as np
    import pandas as pd
    from precex.demo.cohort import generate_cohort
    from precex.research.stage import fit_models

    cohort = generate_cohort(patients, 7)
    clin = cohort.patients.set_index("patient_id")
    crp_rows = cohort.blood[cohort.blood["marker"] == "crp"]
    crp = (pd.to_numeric(crp_rows["value"]) * np.where(crp_rows["unit"] == "mg/dL", 10, 1)
           ).groupby(crp_rows["patient_id"]).mean()
    host = clin.assign(crp_mg_l=crp, bmi_kg_m2=clin["weight_kg"] / (clin["height_cm"] / 100) ** 2)
    out = cohort.outcomes.rename(columns={"dose_received": "dose_met_min",
                                          "resistance_sessions_received": "resistance_sessions"})
    frame = out.assign(change=out["follow_up"] - out["baseline"]).join(host, on="patient_id")
    import time
    t0 = time.perf_counter()
    models, _ = fit_models(frame, ["age", "bmi_kg_m2", "crp_mg_l", "vo2peak_ml_kg_min",
                                   "fat_mass_pct", "grip_kg"], bootstrap, 0)
    return {"fit_s": time.perf_counter() - t0,
            "skill": ",".join(f"{o}={m.skill}" for o, m in sorted(models.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    result = measure("bench_research", "fit_all", patients=args.patients,
                     bootstrap=args.bootstrap)
    print(report([{"step": "responder model, 3 outcomes", "patients": args.patients,
                   "bootstrap": args.bootstrap, **result}],
                 ["step", "patients", "bootstrap", "fit_s", "wall_s", "cpu_s", "peak_mib",
                  "skill"]))


if __name__ == "__main__":
    main()
