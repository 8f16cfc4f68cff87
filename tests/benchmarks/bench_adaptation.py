"""Weekly adaptation of one shard (issue 20): features, rules, JSON, FHIR (and with --reports
the adapted reports).

    python tests/benchmarks/bench_adaptation.py [--patients 1000] [--runs 3] [--workdir DIR]
                                                [--reports]

Makes (or reuses) a `precex demo --seed 11` cohort run through the pipeline, then times
precex.adaptation.stage.run_shard on shard0001 (250 patients) with no notebook, in this
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
    if not (cohort / "results" / "shards" / "shard0001" / "followup_wearables.tsv").exists():
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
    for _ in range(args.runs):
        start = time.perf_counter()
        stage.run_shard(str(shard / "prescriptions.tsv"), ids, str(cohort / "results"),
                        str(shard / "followup_wearables.tsv"),
                        str(shard / "followup_symptoms.tsv"), config["followup_wearables"],
                        config.get("followup_symptoms"), config.get("rulebase") or str(
                            Path(stage.__file__).parents[3] / "resources/rules/rulebase.yaml"),
                        str(out / "t.tsv"), str(out / "e.tsv"), str(out / "p.tsv"),
                        str(out / "reports"), NOTEBOOK if args.reports else None,
                        str(cohort / "results/reports/report_provenance.json"))
        times.append(time.perf_counter() - start)
    best = min(times)
    print(json.dumps({"patients": len(ids), "runs": args.runs, "best_s": round(best, 2),
                      "ms_per_patient": round(1000 * best / len(ids), 1)}))


if __name__ == "__main__":
    main()
