"""Weekly adaptation of one shard's first follow-up week (issues 20, 36): the week's plans by
the one engine (features, rules, JSON, FHIR) and, with --reports, its reports and handouts
(the adapt_report job).

    python tests/benchmarks/bench_adaptation.py [--patients 1000] [--runs 3] [--workdir DIR]
                                                [--reports]

Makes (or reuses) a `precex demo --seed 11` cohort run through the pipeline, then times
precex.adaptation.stage.run_shard on shard0001 (1,000 patients by default) in this
process, best of --runs (without --reports: no notebook). Prints seconds and milliseconds per
patient.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

NOTEBOOK = str(Path(__file__).resolve().parents[2] / "workflow/notebooks/patient_reports.ipynb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--reports", action="store_true",
                        help="render the adapted reports too (one batch notebook run)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="precex-adapt-"))
    work.mkdir(parents=True, exist_ok=True)
    cohort = work / "cohort"
    week = cohort / "results" / "shards" / "shard0001" / "followup"
    if not (week / "week-1.wearables.tsv").exists():
        for cmd, cwd in (([sys.executable, "-m", "precex.cli", "demo", "--patients",
                           str(args.patients), "--seed", "11", "--out", str(cohort)], work),
                         ([sys.executable, "-m", "precex.cli", "run", "--cores", "2", "--quiet",
                           "--configfile", "config.yaml"], cohort)):
            subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    from precex.adaptation import stage

    shard = cohort / "results" / "shards" / "shard0001"
    ids = pd.read_csv(shard / "prescriptions.tsv", sep="\t", dtype=str)["patient_id"].tolist()
    config = yaml.safe_load((cohort / "config.yaml").read_text())
    out = Path(tempfile.mkdtemp(prefix="precex-adapt-out-"))
    times = []
    for run in range(args.runs):
        start = time.perf_counter()
        stage.run_shard(inputs=stage.ShardInputs(
            summary=str(shard / "prescriptions.tsv"), profiles=str(shard / "profiles"),
            prescriptions=str(shard / "prescriptions"),
            followup_wearables=str(week / "week-1.wearables.tsv"),
            followup_symptoms=str(week / "week-1.symptoms.tsv"),
            followup_blood=str(week / "week-1.blood.tsv"),
            patients=str(week / "week-1.patients.tsv"),
            rulebase=config.get("rulebase") or str(
                Path(stage.__file__).parents[3] / "resources/rules/rulebase.yaml"),
            provenance=str(cohort / "results/reports/report_provenance.json"),
            notebook=NOTEBOOK if args.reports else None),
            outputs=stage.ShardOutputs(adaptations=str(out / f"{run}/adaptations"),
                                       reports=str(out / f"{run}/reports") if args.reports
                                       else None,
                                       handouts=str(out / f"{run}/handouts") if args.reports
                                       else None,
                                       table=str(out / f"{run}.t.tsv"),
                                       exclusions=str(out / f"{run}.e.tsv"),
                                       problems=str(out / f"{run}.p.tsv")),
            params=stage.ShardParams(wearables_source=config["followup_wearables"],
                                     symptoms_source=config.get("followup_symptoms"),
                                     blood_source=config.get("followup_blood"), week=1))
        times.append(time.perf_counter() - start)
    best = min(times)
    print(json.dumps({"patients": len(ids), "runs": args.runs, "best_s": round(best, 2),
                      "ms_per_patient": round(1000 * best / len(ids), 1)}))


if __name__ == "__main__":
    main()
