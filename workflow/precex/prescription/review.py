"""The review queue: which prescriptions a clinician still has to review, and why.

Read fresh from the prescriptions on disk and the sign-off log (not from the last run's table),
so a decision just recorded leaves the queue at once, and a prescription that a rerun changed
after it was signed comes back into it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from precex.prescription.schema import read_prescription
from precex.prescription.signoff import (
    SIGNED_STATES,
    latest_decisions,
    prescription_digest,
    read_signoff_log,
    signoff_block,
)
from precex.problems import InputError, Problem

QUEUE_COLUMNS = ["patient_id", "status", "triage", "signoff", "needs", "signed_by",
                 "signed_at"]
# Most urgent first: a signed plan that changed, then clearance/deferral, then plain drafts.
PRIORITY = {"changed_since_signoff": 0, "clearance_required": 1, "deferred": 2, "draft": 3,
            "rejected": 4, "approved": 5, "amended": 5}


def load_prescription(results: str, patient_id: str, week: int | None = None) -> dict:
    """The patient's prescription, or with `week` the adapted plan of that follow-up week
    (results/adaptations/prescriptions/{patient}.week-N.json)."""
    path = Path(results) / "prescriptions" / f"{patient_id}.json"
    if week is not None:
        path = Path(results) / "adaptations" / "prescriptions" / f"{patient_id}.week-{week}.json"
    if not path.is_file():
        what = "prescription" if week is None else f"adapted plan for week {week}"
        raise InputError([Problem(str(path), f"patient '{patient_id}' has no {what} in "
                                  f"{results}.", "check the ID, run `precex run` first, or see "
                                  f"{results}/exclusions.tsv for why it was excluded.",
                                  patient_id=patient_id, stage="signoff")])
    # a damaged or foreign file is never signed: the check names it and says how to rewrite it
    return read_prescription(str(path), "signoff", patient_id)


def review_queue(results: str, signoff_log: str, *, include_signed: bool = False
                 ) -> pd.DataFrame:
    """One row per prescription awaiting review (all with include_signed), most urgent first."""
    folder = Path(results) / "prescriptions"
    decisions = latest_decisions(read_signoff_log(signoff_log))
    rows = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".fhir.json"):
            continue
        p = json.loads(path.read_text(encoding="utf-8"))
        block = signoff_block(decisions.get(p["patient_id"]), prescription_digest(p))
        state = block["state"]
        if state in SIGNED_STATES and not include_signed:
            continue
        needs = {
            "changed_since_signoff": "review again: changed since it was signed",
            "rejected": "rejected: a new prescription or an amended plan is needed",
        }.get(state) or {
            "clearance_required": "medical clearance, then sign-off",
            "deferred": "medical review (exercise deferred), then sign-off",
        }.get(p["status"], "sign-off" if state == "draft" else "none")
        urgent = FEVER_RANK if _has_fever(p) else None
        if urgent is not None:
            needs = "current fever: call the patient and the oncology team today; " + needs
        rows.append({"patient_id": p["patient_id"], "status": p["status"],
                     "triage": p.get("triage", ""), "signoff": state, "needs": needs,
                     "signed_by": block.get("by", ""), "signed_at": block.get("at", ""),
                     "_urgent": urgent})
    stops = adaptation_stops(Path(results))
    rows = [r for r in rows if r["patient_id"] not in stops] + list(stops.values())
    queue = pd.DataFrame(rows, columns=[*QUEUE_COLUMNS, "_urgent"])
    if len(queue):
        rank = queue["signoff"].map(PRIORITY).where(queue["signoff"] != "draft",
                                                    queue["status"].map(PRIORITY).fillna(3))
        rank = queue["_urgent"].astype(float).fillna(rank.astype(float))
        queue = queue.assign(_rank=rank).sort_values(["_rank", "patient_id"], kind="stable")
        queue = queue.drop(columns="_rank").reset_index(drop=True)
    return queue.drop(columns="_urgent")


STOP_RANK, FEVER_RANK = -2, -1  # before every other row: stops, then a current fever


def _has_fever(p: dict) -> bool:
    return any(t.get("rule_id") == "SAFETY_FEVER" and t.get("applied")
               for t in p.get("trace") or [])


def adaptation_stops(results: Path) -> dict[str, dict]:
    """The patients whose latest weekly adaptation stopped for a red flag, as queue rows that
    name the symptom and the day (listed whatever the sign-off of the base prescription)."""
    latest: dict[str, tuple[int, dict]] = {}
    for path in sorted((results / "adaptations" / "prescriptions").glob("*.week-*.json")):
        if path.name.endswith(".fhir.json"):
            continue
        p = json.loads(path.read_text(encoding="utf-8"))
        week = int((p.get("adaptation") or {}).get("week", 0))
        if week >= latest.get(p["patient_id"], (0, {}))[0]:
            latest[p["patient_id"]] = (week, p)
    rows = {}
    for pid, (week, p) in latest.items():
        adaptation = p["adaptation"]
        if adaptation.get("decision") != "stop":
            continue
        flag = (adaptation.get("features") or {}).get("red_flags") or "red-flag symptom"
        rows[pid] = {"patient_id": pid, "status": "stopped", "triage": p.get("triage", ""),
                     "signoff": "draft", "needs": f"STOP at weekly update {week} ({flag}): "
                     "call the patient today; no exercise until the treating team clears",
                     "signed_by": "", "signed_at": "", "_urgent": STOP_RANK}
    return rows
