"""The per-shard prescription job: profile JSON, prescription JSON, FHIR Bundle per patient.

Each patient's files go into the shard's folders (declared outputs; precex.publish puts them at
their contract paths). One failing patient is excluded (stage 'prescription', with the reason);
the others are written.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from precex.io.files import job_folder, json_dumps, write_in_job_folder, write_tsv
from precex.io.problem_tables import write_problems
from precex.prescription.coherence import check_coherence
from precex.prescription.engine import SUMMARY_COLUMNS, EngineSettings, prescribe_one, summary_row
from precex.prescription.fhir import FhirOptions, prescription_bundle, validate_bundle
from precex.prescription.rules import evaluate_all, load_rulebase
from precex.prescription.schema import check_prescription
from precex.prescription.signoff import (
    latest_decisions,
    signed_document,
    verify_signoff_log,
)
from precex.problems import Problem
from precex.profile.host import patient_profile
from precex.profile.safety_inputs import with_safety_inputs
from precex.profile.stage import read_records
from precex.rule_features import rule_features
from precex.trial.allocation import read_arms
from precex.workers import map_slices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    features: str
    domains: str
    rulebase: str
    trial: str | None = None
    signoff: str | None = None
    signoff_users: str | None = None  # the public keys the log's signatures are checked with
    signoff_head: str | None = None  # the signed head beside the log (its number of decisions)


@dataclass(frozen=True)
class Outputs:
    profiles: str = job_folder()  # folder: {patient}.json
    prescriptions: str = job_folder()  # folder: {patient}.json and {patient}.fhir.json
    summary: str
    exclusions: str
    problems: str


@dataclass(frozen=True)
class Params:
    reference_date: str
    evidence_floor: str
    research_mode: bool
    fhir_requester: str = ""
    fhir_bundle_type: str = "collection"
    fhir_identifier_system: str = "urn:precex:patient-id"


def run(*, inputs: Inputs, outputs: Outputs, params: Params, threads: int = 1) -> None:
    """The shard's prescriptions; with `threads` > 1 the patients are split over forked
    workers (precex.workers), the same files and rows in the same order."""
    rulebase = load_rulebase(inputs.rulebase, rule_features())
    flat = rulebase.derive(with_safety_inputs(read_records(inputs.features)))
    domains = read_records(inputs.domains)
    settings = EngineSettings(dt.date.fromisoformat(params.reference_date),
                              params.evidence_floor, params.research_mode)
    rule_list = rulebase.prescription_rules()
    options = FhirOptions.from_params(params)
    masks = evaluate_all([r.when for r in rule_list], flat)
    fired = {r.id: masks[:, j] for j, r in enumerate(rule_list)}
    # A trial prescribes by arm; a patient missing from the allocation log is not prescribed.
    arms = read_arms(inputs.trial) if inputs.trial else None
    # Clinician decisions so far: a prescription is a draft until its exact content is signed.
    # A log that does not verify (a forged, edited or removed row) gives no decision at all.
    signoff_log = verify_signoff_log(inputs.signoff, inputs.signoff_users, inputs.signoff_head)
    decisions = latest_decisions(signoff_log.rows)
    os.makedirs(outputs.profiles, exist_ok=True)
    os.makedirs(outputs.prescriptions, exist_ok=True)
    # Plain dicts per patient: much cheaper than a pandas row per access.
    records = flat.to_dict("records")
    domain_records = dict(zip(domains.index, domains.to_dict("records"), strict=True))
    patients = list(flat.index)

    def prescribe_slice(start: int, stop: int) -> tuple[list[dict], list[Problem]]:
        rows: list[dict] = []
        problems: list[Problem] = []
        for i in range(start, stop):
            pid = patients[i]
            if arms is not None and pid not in arms:
                problems.append(Problem(str(inputs.trial), "not allocated to a trial arm.",
                                        "run precex trial allocate for the new patients.",
                                        patient_id=pid, stage="prescription"))
                continue
            try:
                rules = [r for r in rule_list if fired[r.id][i]]
                mine = replace(settings, trial_arm=arms[pid]) if arms is not None else settings
                prescription = prescribe_one(pid, records[i], rules, mine)
                prescription, text = signed_document(prescription, decisions.get(pid))
                check_prescription(prescription)
                bundle = prescription_bundle(prescription, options)
                validate_bundle(bundle)
                profile = patient_profile(pid, records[i], domain_records[pid])
                texts = {Path(outputs.profiles) / f"{pid}.json": json_dumps(profile),
                         Path(outputs.prescriptions) / f"{pid}.json": text,
                         Path(outputs.prescriptions) / f"{pid}.fhir.json": json_dumps(bundle)}
            except Exception as err:  # one patient's failure must not lose the shard
                log.exception("prescription failed for %s", pid)
                problems.append(Problem("", f"prescription could not be built "
                                        f"({type(err).__name__}: {err}).", "see the job log; "
                                        "please report this precex bug.", patient_id=pid,
                                        stage="prescription"))
                continue
            # Outside the per-patient guard: an incoherent plan is a precex bug that fails the
            # job (never a file, never a quietly excluded patient).
            check_coherence(prescription)
            for path, text in texts.items():  # all of a patient's files, or none
                write_in_job_folder(path, text)
            rows.append(summary_row(prescription))
        return rows, problems

    rows: list[dict] = []
    problems: list[Problem] = [replace(q, excludes=False, stage="prescription")
                               for q in signoff_log.problems]
    for slice_rows, slice_problems in map_slices(prescribe_slice, len(patients), threads):
        rows += slice_rows
        problems += slice_problems
    write_tsv(outputs.summary, pd.DataFrame(rows, columns=SUMMARY_COLUMNS), spreadsheet=True)
    write_problems(problems, "prescription", outputs.exclusions, outputs.problems)
