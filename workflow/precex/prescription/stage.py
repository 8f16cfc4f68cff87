"""The per-shard prescription job: profile JSON, prescription JSON, FHIR Bundle per patient.

One failing patient is excluded (stage 'prescription', reason recorded); the others are
written. Stale files of this shard's patients are removed first, so a patient excluded on a
rerun never keeps an old prescription.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import replace
from pathlib import Path

import pandas as pd

from precex.io.files import json_dumps, write_text, write_tsv
from precex.prescription.engine import SUMMARY_COLUMNS, EngineSettings, prescribe_one, summary_row
from precex.prescription.fhir import prescription_bundle, validate_bundle
from precex.prescription.rules import evaluate, load_rulebase
from precex.prescription.signoff import (
    latest_decisions,
    prescription_digest,
    read_signoff_log,
    signoff_block,
    with_signoff,
)
from precex.problems import EXCLUSION_COLUMNS
from precex.profile.host import known_features, patient_profile
from precex.profile.safety_inputs import with_safety_inputs
from precex.profile.stage import read_records
from precex.trial.allocation import read_arms

log = logging.getLogger(__name__)


def shard_paths(results: str, pid: str) -> dict[str, Path]:
    base = Path(results)
    return {"profile": base / "profiles" / f"{pid}.json",
            "prescription": base / "prescriptions" / f"{pid}.json",
            "fhir": base / "prescriptions" / f"{pid}.fhir.json"}


def run(shard_profiles: str, shard_domains: str, shard_ids: list[str], rulebase_path: str,
        results: str, reference_date: str, evidence_floor: str, research_mode: bool,
        out_summary: str, out_exclusions: str, trial_allocation: str | None = None,
        signoff_log: str | None = None) -> None:
    for pid in shard_ids:  # stale outputs of this shard's patients go first
        for path in shard_paths(results, pid).values():
            if path.exists():
                os.unlink(path)
    flat = with_safety_inputs(read_records(shard_profiles))
    domains = read_records(shard_domains)
    rulebase = load_rulebase(rulebase_path, known_features())
    settings = EngineSettings(dt.date.fromisoformat(reference_date), evidence_floor,
                              research_mode)
    rule_list = rulebase.prescription_rules()
    fired = {r.id: evaluate(r.when, flat) for r in rule_list}
    # A trial prescribes by arm; a patient missing from the allocation log is not prescribed.
    arms = read_arms(trial_allocation) if trial_allocation else None
    # Clinician decisions so far: a prescription is a draft until its exact content is signed.
    decisions = latest_decisions(read_signoff_log(signoff_log))
    rows, excluded = [], []
    # Plain dicts per patient: much cheaper than a pandas row per access.
    records = flat.to_dict("records")
    domain_records = dict(zip(domains.index, domains.to_dict("records"), strict=True))
    for i, pid in enumerate(flat.index):
        if arms is not None and pid not in arms:
            excluded.append({"patient_id": pid, "stage": "prescription",
                             "reason": f"{Path(trial_allocation).name}: not allocated to a trial "
                                       "arm. Fix: run precex trial allocate for the new "
                                       "patients."})
            continue
        try:
            rules = [r for r in rule_list if fired[r.id][i]]
            mine = replace(settings, trial_arm=arms[pid]) if arms is not None else settings
            prescription = prescribe_one(pid, records[i], rules, mine)
            prescription = with_signoff(prescription, signoff_block(
                decisions.get(pid), prescription_digest(prescription)))
            bundle = prescription_bundle(prescription)
            validate_bundle(bundle)
            profile = patient_profile(pid, records[i], domain_records[pid])
            paths = shard_paths(results, pid)
            write_text(paths["profile"], json_dumps(profile))
            write_text(paths["prescription"], json_dumps(prescription))
            write_text(paths["fhir"], json_dumps(bundle))
            rows.append(summary_row(prescription))
        except Exception as err:  # one patient's failure must not lose the shard
            log.exception("prescription failed for %s", pid)
            excluded.append({"patient_id": pid, "stage": "prescription",
                             "reason": f"prescription could not be built ({type(err).__name__}:"
                                       f" {err}); see the job log."})
            for path in shard_paths(results, pid).values():
                if path.exists():
                    os.unlink(path)
    write_tsv(out_summary, pd.DataFrame(rows, columns=SUMMARY_COLUMNS))
    write_tsv(out_exclusions, pd.DataFrame(excluded, columns=EXCLUSION_COLUMNS))
