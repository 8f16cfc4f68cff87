"""Clinician review and sign-off: a prescription is a draft until a clinician signs it.

`precex signoff` appends one row to the sign-off log (append-only, SHA-256 chained like the
trial allocation log, see precex.io.chained_log): who decided what (approve, amend, reject) on
which prescription, identified by the SHA-256 of its content. The prescription job reads the
log and gives every prescription a `signoff` block:

- `draft`: never signed; the report says "DRAFT - not signed", the FHIR CarePlan is `draft`;
- `approved` / `amended`: the latest decision on exactly this content; the CarePlan becomes
  `active` (when the prescription itself is `prescribed`) with the signer as author;
- `rejected`: the CarePlan is `revoked`;
- `changed_since_signoff`: the latest decision was on other content (a rerun with new data or
  rules changed it): the earlier decision does not carry over, the plan is a draft again and
  the report says who signed what, when, and that it must be reviewed again.

The digest leaves out the `signoff` block itself, so signing never changes what was signed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from precex.io.chained_log import genesis, link, locked, verified_rows
from precex.io.files import spreadsheet_cell, write_text
from precex.prescription.model import EMPTY, Prescription
from precex.problems import InputError, Problem

DECISIONS = ("approve", "amend", "reject")
STATE_OF_DECISION = {"approve": "approved", "amend": "amended", "reject": "rejected"}
SIGNED_STATES = ("approved", "amended")
COLUMNS = ["sequence", "signed_at", "patient_id", "prescription_digest", "decision",
           "signed_by", "note", "chain"]
HEADER = ["# precex sign-off log (append-only; every row is chained by SHA-256: do not edit)"]
FIX = "restore the log from its backup; never edit a sign-off log."


def prescription_digest(prescription: Prescription) -> str:
    """SHA-256 of the prescription's canonical JSON without its sign-off block."""
    content = {k: v for k, v in prescription.items() if k != "signoff"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def signed_document(prescription: Prescription, latest: dict[str, str] | None
                    ) -> tuple[dict[str, Any], str]:
    """The prescription with its sign-off block, and its file text (precex.io.files.json_dumps
    of it), serialising the content once for both the digest and the file: each top-level
    value is written once, and the digest's text and the file's are joined from the parts
    (the same bytes json.dumps with sorted keys writes)."""
    parts = {key: _canonical(value) for key, value in prescription.items() if key != "signoff"}

    def joined(items: dict[str, str]) -> str:
        return "{" + ",".join(f"{_canonical(k)}:{items[k]}" for k in sorted(items)) + "}"

    digest = hashlib.sha256(joined(parts).encode("utf-8")).hexdigest()
    block = signoff_block(latest, digest)
    parts["signoff"] = _canonical(block)
    return with_signoff(prescription, block), joined(parts) + "\n"


def signoff_key(patient_id: str, week: int | None = None) -> str:
    """How the log names what was signed: the patient's prescription, or an adapted week by
    its file's name, {patient}.week-N."""
    return patient_id if week is None else f"{patient_id}.week-{week}"


def read_signoff_log(path: str | None) -> pd.DataFrame:
    """Every row of the log, its chain verified; an absent log has no rows."""
    if not path or not Path(path).exists():
        return pd.DataFrame(columns=COLUMNS)
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != HEADER[0]:
        raise InputError([Problem(path, "not a precex sign-off log.",
                                  "give the log written by precex signoff.", stage="signoff")])
    return pd.DataFrame(verified_rows(path, lines, COLUMNS, stage="signoff", fix=FIX),
                        columns=COLUMNS)


def _clean(text: str) -> str:
    """One TSV field: tabs and line breaks would break the row; control characters (an ANSI
    escape that repaints a terminal: 'dr.x' shown as 'dr.smith (verified)') and invisible
    format characters (direction overrides) are removed, so the log shows what was typed."""
    import unicodedata

    shown = "".join(ch for ch in str(text) if unicodedata.category(ch) not in ("Cc", "Cf")
                    or ch in "\t\n")
    return spreadsheet_cell(" ".join(shown.split()))  # the log is opened in spreadsheets


def append_signoff(path: str, *, patient_id: str, digest: str, decision: str, signed_by: str,
                   note: str = "", signed_at: dt.datetime | None = None) -> dict[str, str]:
    """Append one decision (under a lock) and return the row written."""
    problems = []
    if decision not in DECISIONS:
        problems.append(Problem(path, f"decision '{decision}' is not one of "
                                f"{', '.join(DECISIONS)}.", "give approve, amend or reject.",
                                stage="signoff"))
    if not _clean(signed_by):
        problems.append(Problem(path, "the signer is empty.", "give --by with your staff ID.",
                                stage="signoff"))
    if decision in ("amend", "reject") and not _clean(note):
        problems.append(Problem(path, f"'{decision}' needs a note saying what and why.",
                                "give --note.", patient_id=patient_id, stage="signoff"))
    if problems:
        raise InputError(problems)
    when = (signed_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    with locked(path):
        log = read_signoff_log(path)
        old = Path(path).read_text(encoding="utf-8") if Path(path).exists() else ""
        previous = log["chain"].iloc[-1] if len(log) else genesis(HEADER)
        fields = [str(len(log) + 1), when.isoformat(timespec="seconds"), _clean(patient_id),
                  digest, decision, _clean(signed_by), _clean(note)]
        row = fields + [link(previous, fields)]
        text = old if old else "\n".join(HEADER + ["\t".join(COLUMNS)]) + "\n"
        write_text(path, text + "\t".join(row) + "\n")
    return dict(zip(COLUMNS, row, strict=True))


def latest_decisions(log: pd.DataFrame) -> dict[str, dict[str, str]]:
    """patient -> the latest row of the log about that patient."""
    if not len(log):
        return {}
    latest = log.drop_duplicates("patient_id", keep="last")
    return {row["patient_id"]: row for row in latest.to_dict("records")}


def signoff_block(latest: dict[str, str] | None, digest: str) -> dict[str, Any]:
    """The sign-off block of a prescription whose content has `digest`."""
    if latest is None:
        return {"state": "draft", "digest": digest}
    state = STATE_OF_DECISION[latest["decision"]] \
        if latest["prescription_digest"] == digest else "changed_since_signoff"
    return {"state": state, "digest": digest, "decision": latest["decision"],
            "by": latest["signed_by"], "at": latest["signed_at"], "note": latest["note"],
            "signed_digest": latest["prescription_digest"]}


def with_signoff(prescription: Prescription, block: dict[str, Any]) -> dict[str, Any]:
    return {**prescription, "signoff": block}


def effective_signoff(prescription: Prescription) -> Mapping[str, Any]:
    """The sign-off that holds for this exact content. A block carried onto other content (an
    adapted week copies its prescription) holds only as history: the state is then
    `changed_since_signoff` (a decision was made on other content) or `draft`."""
    block = prescription.get("signoff") or EMPTY
    state = block.get("state", "draft")
    if state == "draft":
        return {"state": "draft"}
    if block.get("digest") == prescription_digest(prescription):
        return block
    return {**block, "state": "changed_since_signoff"}
