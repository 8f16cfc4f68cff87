"""Benchmark the validate (patient sheet), blood, wearables, clinical, genetics, host-profile
and prescription stages at cohort scale.

    python tests/benchmarks/bench_stages.py [--patients 10000] [--out FILE]

Inputs come from `precex demo` (not timed), extended to the sizes the issues name: blood
10,000 patients x 30 markers x 3 dates (issue 5), wearables 10,000 patients x 90 days (issue 5).
Timed steps run exactly the functions the workflow's jobs run, each in a fresh process. The
prescription shards run on 2 worker processes, as `--cores 2` runs them. Targets on a 2-core
machine: blood + wearables under 20 s (issue 5); host profiles + prescriptions for 10,000
patients under 30 s (issue 6).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from harness import measure, report

REF = "2026-01-05"


def make_inputs(work: str, n: int) -> dict:
    from precex.demo.cohort import generate_cohort, write_cohort

    w = Path(work)
    cohort = generate_cohort(n, 11)
    write_cohort(cohort, w / "in")
    # Blood: the demo's 25 markers, hs-CRP, and 4 more rows under synonyms (30 names), 3 dates.
    base = cohort.blood[cohort.blood["date"] == cohort.blood.groupby(
        ["patient_id", "marker"])["date"].transform("max")]
    base = base.drop_duplicates(["patient_id", "marker"])
    extra = base[base["marker"].isin(["crp", "glucose", "hemoglobin", "platelets"])].copy()
    extra["marker"] = extra["marker"].map({"crp": "C-reactive protein", "glucose": "FPG",
                                           "hemoglobin": "Hgb", "platelets": "PLT"})
    hs = base[base["marker"] == "crp"].assign(marker="hs_crp")
    frames = []
    ref = dt.date.fromisoformat(REF)
    for k, days in enumerate((5, 35, 65)):
        date = (ref - dt.timedelta(days=days)).isoformat()
        frames.append(pd.concat([base, extra.assign(value=extra["value"] * (1 + k / 100)),
                                 hs]).assign(date=date))
    blood = pd.concat(frames, ignore_index=True)
    blood.to_csv(w / "blood.tsv", sep="\t", index=False)
    # Wearables: 90 days for every patient.
    rng = np.random.default_rng(5)
    ids = cohort.patients["patient_id"].to_numpy()
    dates = [(ref - dt.timedelta(days=89 - d)).isoformat() for d in range(90)]
    shape = (len(ids), 90)
    wear = pd.DataFrame({
        "patient_id": np.repeat(ids, 90), "date": np.tile(dates, len(ids)),
        "steps": rng.integers(1000, 15000, shape).ravel(),
        "mvpa_min": rng.integers(0, 60, shape).ravel(),
        "resting_hr": rng.integers(55, 85, shape).ravel(),
        "hrv_rmssd_ms": np.round(rng.lognormal(np.log(30), 0.3, shape), 1).ravel(),
        "sleep_h": np.round(rng.normal(7, 0.8, shape), 1).ravel()})
    wear.to_csv(w / "wearables.tsv", sep="\t", index=False)
    run_validate(work)  # the later stages read its roster; timed on its own below
    markers = blood["marker"].nunique()
    return {"blood_rows": len(blood), "blood_markers": markers, "wearable_rows": len(wear)}


def run_validate(work: str) -> dict:
    """The sheet stage: read, respell, parse, code the free text, check every row."""
    from precex.clinical import validate_stage

    w = Path(work)
    validate_stage.run(inputs=validate_stage.Inputs(sheet=str(w / "in/patients.tsv")),
                       outputs=validate_stage.Outputs(**{k: str(w / f"v/{k}.tsv") for k in (
                           "patients", "roster", "exclusions", "problems")}),
                       params=validate_stage.Params(strict=False))
    return {}


def run_genetics(work: str) -> dict:
    """The genetics stage on the demo's multi-sample VCF (one sample per patient) and the
    bundled GTF subset; the pyensembl cache is built in the first, untimed, call."""
    from precex.genetics import stage
    from precex.paths import resource_path

    w = Path(work)
    (w / "genetics").mkdir(exist_ok=True)
    gtf = next(Path(resource_path("genome")).glob("*.gtf*"))
    stage.run(inputs=stage.Inputs(vcf=str(w / "in/variants.vcf"), gtf=str(gtf),
                                  roster=str(w / "v/roster.tsv")),
              outputs=outputs(stage, w / "genetics"),
              params=stage.Params(cache_dir=str(w / "pyensembl")))
    return {}


def outputs(module, folder: Path):
    """The stage's Outputs with every file in `folder`, named after its field."""
    from dataclasses import fields

    return module.Outputs(**{f.name: str(folder / f"{f.name}.tsv")
                             for f in fields(module.Outputs)})


def run_blood(work: str) -> dict:
    from precex.blood import stage

    w = Path(work)
    (w / "blood").mkdir(exist_ok=True)
    stage.run(inputs=stage.Inputs(blood=[str(w / "blood.tsv")], roster=str(w / "v/roster.tsv")),
              outputs=outputs(stage, w / "blood"),
              params=stage.Params(reference_date=REF, window_days=90, identifier_system=None))
    return {}


def run_wearables(work: str) -> dict:
    from precex.wearables import stage

    w = Path(work)
    (w / "wearables").mkdir(exist_ok=True)
    stage.run(inputs=stage.Inputs(wearables=str(w / "wearables.tsv"),
                                  roster=str(w / "v/roster.tsv")),
              outputs=outputs(stage, w / "wearables"),
              params=stage.Params(reference_date=REF, previous_prescriptions=None))
    return {}


def run_clinical(work: str) -> dict:
    from precex.clinical import stage

    w = Path(work)
    (w / "clinical").mkdir(exist_ok=True)
    stage.run(inputs=stage.Inputs(patients=str(w / "v/patients.tsv")),
              outputs=outputs(stage, w / "clinical"), params=stage.Params(reference_date=REF))
    return {}


def shards_of(work: str, shard_size: int) -> dict[str, list[str]]:
    from precex.sharding import assign_shards, raw_patient_ids

    return assign_shards(raw_patient_ids(str(Path(work) / "in/patients.tsv")), shard_size)


def run_profile(work: str, shard_size: int) -> dict:
    from precex.profile import stage

    w = Path(work)
    shards = shards_of(work, shard_size)
    names = ["clinical", "blood", "wearables"]
    stage.run(inputs=stage.Inputs(patients=str(w / "v/patients.tsv"),
                                  features=[str(w / k / "features.tsv") for k in names]),
              outputs=stage.Outputs(
                  profiles=str(w / "profiles/host_profiles.tsv"),
                  shard_features=[str(w / f"shards/{s}/features.jsonl") for s in shards],
                  shard_domains=[str(w / f"shards/{s}/domains.jsonl") for s in shards]),
              params=stage.Params(modalities=names, shards=shards))
    return {}


def run_shard(work: str, shard: str) -> None:
    from precex.paths import resource_path
    from precex.prescription import stage

    folder = Path(work) / "shards" / shard
    stage.run(inputs=stage.Inputs(features=str(folder / "features.jsonl"),
                                  domains=str(folder / "domains.jsonl"),
                                  rulebase=str(resource_path("rules", "rulebase.yaml"))),
              outputs=stage.Outputs(profiles=str(folder / "profiles"),
                                    prescriptions=str(folder / "prescriptions"),
                                    summary=str(folder / "prescriptions.tsv"),
                                    exclusions=str(folder / "exclusions.tsv"),
                                    problems=str(folder / "problems.tsv")),
              params=stage.Params(reference_date=REF, evidence_floor="G2",
                                  research_mode=False))


def run_prescriptions(work: str, shard_size: int, workers: int) -> dict:
    shards = shards_of(work, shard_size)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(run_shard, [work] * len(shards), list(shards)))
    return {"shards": len(shards), "pool_wall_s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    n = args.patients
    rows = []
    with tempfile.TemporaryDirectory() as work:
        made = measure("bench_stages", "make_inputs", work=work, n=n)
        measure("bench_stages", "run_genetics", work=work)  # builds the pyensembl cache
        for name, func, kwargs, size in [
            ("validate (patient sheet)", "run_validate", {}, f"{n:,} patients"),
            ("genetics", "run_genetics", {}, f"{n:,} VCF samples"),
            ("blood", "run_blood", {}, f"{made['blood_rows']:,} rows, "
                                       f"{made['blood_markers']} markers, 3 dates"),
            ("wearables", "run_wearables", {}, f"{made['wearable_rows']:,} daily rows"),
            ("clinical", "run_clinical", {}, f"{n:,} patients"),
            ("host profile", "run_profile", {"shard_size": args.shard_size}, f"{n:,} patients"),
            ("prescriptions (2 workers)", "run_prescriptions",
             {"shard_size": args.shard_size, "workers": 2}, f"{n:,} patients"),
        ]:
            r = measure("bench_stages", func, work=work, **kwargs)
            rows.append({"step": name, "input": size, "wall_s": r["wall_s"], "cpu_s": r["cpu_s"],
                         "peak_mib": r["peak_mib"]})
    print(report(rows, ["step", "input", "wall_s", "cpu_s", "peak_mib"], args.out))
    print("cpu_s and peak_mib of the prescription step are the driver's; the shards ran in "
          "child processes.")


if __name__ == "__main__":
    main()
