"""The review queue: which prescriptions a clinician still has to review, and why.

Read fresh from the prescriptions on disk and the sign-off log (not from the last run's table),
so a decision just recorded leaves the queue at once, and a prescription that a rerun changed
after it was signed comes back into it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from precex.config import sheet_schema
from precex.prescription.model import EMPTY, Prescription
from precex.prescription.schema import read_prescription
from precex.prescription.signoff import (
    SIGNED_STATES,
    append_signoff,
    latest_decisions,
    prescription_digest,
    signoff_block,
    signoff_key,
    verify_signoff_log,
)
from precex.problems import InputError, Problem

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# `week` is blank for a prescription and N for the adapted plan of follow-up week N;
# `trigger` is what put the row here (the rule and the patient's value), `needs` the action.
QUEUE_COLUMNS = ["patient_id", "week", "status", "triage", "signoff", "trigger", "needs",
                 "signed_by", "signed_at"]
# Most urgent first: a signed plan that changed, then clearance/deferral, then plain drafts,
# then unsigned weekly updates.
PRIORITY = {"changed_since_signoff": 0, "clearance_required": 1, "deferred": 2, "draft": 3,
            "rejected": 4, "approved": 5, "amended": 5}
WEEK_RANK = 3.5


@cache
def _patient_id() -> re.Pattern[str]:
    """The patient sheet's own ID pattern (workflow/schemas/patients.schema.yaml)."""
    return re.compile(sheet_schema()["properties"]["patient_id"]["pattern"])


def load_prescription(results: str, patient_id: str, week: int | None = None
                      ) -> Prescription:
    """The patient's prescription, or with `week` the adapted plan of that follow-up week
    (results/adaptations/prescriptions/{patient}.week-N.json)."""
    path = Path(results) / "prescriptions" / f"{patient_id}.json"
    if week is not None:
        path = Path(results) / "adaptations" / "prescriptions" / f"{patient_id}.week-{week}.json"
    try:  # an ID of any length or any week number is a plan that does not exist, not an error
        found = _patient_id().match(patient_id) is not None and path.is_file() \
            and not path.is_symlink()
    except (OSError, ValueError):
        found = False
    if not found:
        what = "prescription" if week is None else f"adapted plan for week {week}"
        raise InputError([Problem(str(path), f"patient '{patient_id}' has no {what} in "
                                  f"{results}.", "check the ID, run `precex run` first, or see "
                                  f"{results}/exclusions.tsv for why it was excluded.",
                                  patient_id=patient_id, stage="signoff")])
    # a damaged or foreign file is never signed: the check names it and says how to rewrite it
    return read_prescription(str(path), "signoff", patient_id)


def _check_against_the_run(results: str, patient_id: str, week: int | None, what: str) -> None:
    """The plan on disk is the one the run wrote: its SHA-256 equals the run manifest's. A
    published file is hard-linked to the shard's copy, so an edit in place changes both and
    the next run says "Nothing to be done"; the manifest still holds what the run wrote, so
    an edited plan is never signed (issue 39)."""
    from precex.io.files import sha256

    manifest = Path(results) / "manifest.json"
    relative = (f"prescriptions/{patient_id}.json" if week is None
                else f"adaptations/prescriptions/{patient_id}.week-{week}.json")
    if not manifest.is_file():
        return  # a run still going writes the manifest last; nothing to compare yet
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8")).get("outputs", {})
    except (OSError, ValueError):
        raise InputError([Problem(str(manifest), "the run manifest cannot be read, so the "
                                  f"{what} cannot be checked against the run.", "run `precex "
                                  "run` again to rewrite it.", patient_id=patient_id,
                                  stage="signoff")]) from None
    expected = recorded.get(relative)
    if expected is not None and sha256(Path(results) / relative) != expected:
        raise InputError([Problem(str(Path(results) / relative), f"the {what} differs from the "
                                  "one the run wrote (its SHA-256 is not the manifest's): it "
                                  "was edited after the run; nothing was signed.", "delete the "
                                  "file and run `precex run` again to restore it, then review "
                                  "it again.", patient_id=patient_id, stage="signoff")])


class StalePage(InputError):
    """A decision taken on a page that showed other content than the plan now on disk."""


def record_decision(results: str, signoff_log: str, *, users: str, key: Ed25519PrivateKey,
                    patient_id: str, week: int | None, decision: str, signed_by: str,
                    note: str = "", seen_digest: str | None = None) -> dict[str, str]:
    """Append one clinician decision on the plan now on disk (the prescription, or the adapted
    plan of `week`): the one code path of `precex signoff` and the review page. With
    `seen_digest` (the digest of the plan the page showed), a plan changed since is refused."""
    prescription = load_prescription(results, patient_id, week)
    digest = prescription_digest(prescription)
    what = "prescription" if week is None else f"adapted plan for week {week}"
    _check_against_the_run(results, patient_id, week, what)
    if seen_digest is not None and seen_digest != digest:
        raise StalePage([Problem(
            str(Path(results)), f"the {what} changed since the page was opened (a run rebuilt "
            "it): nothing was recorded.", "reload the page, review the plan as it is now and "
            "decide again.", patient_id=patient_id, stage="signoff")])
    return append_signoff(signoff_log, users_path=users, key=key,
                          patient_id=signoff_key(patient_id, week), digest=digest,
                          decision=decision, signed_by=signed_by, note=note)


def trigger_text(p: Prescription) -> str:
    """What put a plan in the queue, with the patient's values: the safety rules that set its
    status (clearance, deferral) or, failing those, the caps it carries."""
    applied = [t for t in p.get("trace") or [] if t.get("applied") and t.get("kind") == "safety"]
    status_rules = [t for t in applied if (t.get("effect") or EMPTY).get("status")
                    in ("deferred", "clearance_required")]
    caps = [t for t in applied if (t.get("effect") or EMPTY).get("max_intensity")]
    chosen = [t for t in applied if t.get("rule_id") == "SAFETY_FEVER"] or status_rules or caps
    return "; ".join(_rule_with_values(t) for t in chosen[:4]) + \
        (f"; and {len(chosen) - 4} more" if len(chosen) > 4 else "")


def _rule_with_values(t: Mapping[str, Any]) -> str:
    # each input that made the rule fire, with its value ("fever: yes", "platelets: 10.0")
    values = [f"{k}: {'yes' if v is True else v}" for k, v in (t.get("inputs") or EMPTY).items()
              if v not in (None, False, "", "none")]
    name = t.get("title") or t.get("rule_id", "")
    return name + (f" ({', '.join(values)})" if values else "")


def review_queue(results: str, signoff_log: str, *, users: str | None = None,
                 include_signed: bool = False) -> pd.DataFrame:
    """One row per plan awaiting review (all with include_signed), most urgent first: every
    prescription, and each patient's latest adapted week (signed on its own). A log that does
    not verify gives no decision (every plan a draft); its problems are `attrs['problems']`."""
    folder = Path(results) / "prescriptions"
    log = verify_signoff_log(signoff_log, users)
    decisions = latest_decisions(log.rows)
    rows = []
    problems = list(log.problems)
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".fhir.json"):
            continue
        p = _plan_or_none(path, problems)
        if p is None:
            continue
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
        trigger = trigger_text(p)
        if state == "changed_since_signoff":
            trigger = "; ".join(filter(None, [f"{block['decision']} by {block['by']} at "
                                              f"{block['at']} on other content", trigger]))
        rows.append({"patient_id": p["patient_id"], "week": "", "status": p["status"],
                     "triage": p.get("triage", ""), "signoff": state, "trigger": trigger,
                     "needs": needs, "signed_by": block.get("by", ""),
                     "signed_at": block.get("at", ""), "_urgent": urgent})
    weeks = latest_weeks(Path(results), decisions, include_signed=include_signed,
                         problems=problems)
    stops = {pid for pid, row in weeks.items() if row["_urgent"] == STOP_RANK}
    rows = [r for r in rows if r["patient_id"] not in stops] + list(weeks.values())
    queue = pd.DataFrame(rows, columns=[*QUEUE_COLUMNS, "_urgent"])
    if len(queue):
        rank = queue["signoff"].map(PRIORITY).where(queue["signoff"] != "draft",
                                                    queue["status"].map(PRIORITY).fillna(3))
        rank = rank.where((queue["week"] == "") | (queue["signoff"] != "draft"), WEEK_RANK)
        rank = queue["_urgent"].astype(float).fillna(rank.astype(float))
        queue = queue.assign(_rank=rank).sort_values(["_rank", "patient_id", "week"],
                                                     kind="stable")
        queue = queue.drop(columns="_rank").reset_index(drop=True)
    queue = queue.drop(columns="_urgent")
    queue.attrs["problems"] = problems  # shown above the queue by the CLI and the page
    return queue


STOP_RANK, FEVER_RANK = -2, -1  # before every other row: stops, then a current fever


def _has_fever(p: Prescription) -> bool:
    return any(t.get("rule_id") == "SAFETY_FEVER" and t.get("applied")
               for t in p.get("trace") or [])


def _plan_or_none(path: Path, problems: list[Problem]) -> Prescription | None:
    """A prescription file of the results, or None with a problem naming it (a stray or
    damaged JSON file in the folder gave the page a 500 and the CLI a traceback)."""
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        plan = None
    if not isinstance(plan, dict) or not isinstance(plan.get("patient_id"), str) \
            or "status" not in plan:
        problems.append(Problem(str(path), "is not a precex prescription: it is left out of "
                                "the queue.", "remove it from the results folder (precex "
                                "writes only its own plans there).", stage="signoff"))
        return None
    return cast(Prescription, plan)


def latest_weeks(results: Path, decisions: dict[str, dict[str, str]], *,
                 include_signed: bool = False, problems: list[Problem] | None = None
                 ) -> dict[str, dict]:
    """Each patient's latest adapted week as a queue row, unless it is signed. A week that
    stopped for a red flag comes first in the queue, naming the symptom and the day, whatever
    the sign-off of the prescription it came from; it leaves the queue once the week itself is
    signed (the clinician has seen the stop)."""
    latest: dict[str, tuple[int, Prescription]] = {}
    for path in sorted((results / "adaptations" / "prescriptions").glob("*.week-*.json")):
        if path.name.endswith(".fhir.json"):
            continue
        plan = _plan_or_none(path, problems if problems is not None else [])
        if plan is None or not isinstance(plan.get("adaptation"), dict):
            continue
        week = int((plan.get("adaptation") or EMPTY).get("week", 0))
        if plan["patient_id"] not in latest or week >= latest[plan["patient_id"]][0]:
            latest[plan["patient_id"]] = (week, plan)
    rows = {}
    for pid, (week, p) in latest.items():
        adaptation = p["adaptation"]
        block = signoff_block(decisions.get(signoff_key(pid, week)), prescription_digest(p))
        if block["state"] in SIGNED_STATES and not include_signed:
            continue
        changes = "; ".join(adaptation.get("changes") or adaptation.get("reasons") or [])
        row = {"patient_id": pid, "week": str(week), "status": p["status"],
               "triage": p.get("triage", ""), "signoff": block["state"],
               "trigger": changes or f"weekly update: {adaptation.get('decision', '')}",
               "needs": f"sign weekly update {week} ({adaptation.get('decision', '')})",
               "signed_by": block.get("by", ""), "signed_at": block.get("at", ""),
               "_urgent": None}
        if adaptation.get("decision") == "stop":
            flag = (adaptation.get("features") or EMPTY).get("red_flags") or "red-flag symptom"
            row.update(status="stopped", trigger=flag, _urgent=STOP_RANK,
                       needs=f"STOP at weekly update {week} ({flag}): call the patient today; "
                       "no exercise until the treating team clears")
        rows[pid] = row
    return rows
