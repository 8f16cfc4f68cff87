"""Clinician review and sign-off: a prescription is a draft until a clinician signs it.

`precex signoff` and the review page append one row to the sign-off log: who decided what
(approve, amend, reject) on which prescription, identified by the SHA-256 of its content. Rows
are chained by SHA-256 (precex.io.chained_log) and each is signed with its signer's Ed25519 key
(precex.io.signatures: derived from their password, the public key in the users file), and a
head file beside the log (`<log>.head`, signed by the last signer) records how many rows the
log has: a row added, edited, reordered or signed by someone else, a time that goes back, or
rows removed from the end (a rejection deleted) are found and named by row, and then no
decision of the log is used: every plan is a draft until the log is restored. The prescription
job reads the log and gives every prescription a `signoff` block:

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from precex.io.chained_log import genesis, link, locked, verified_rows
from precex.io.files import canonical_json, spreadsheet_cell, write_text
from precex.io.users_file import signing_keys
from precex.prescription.model import EMPTY, Prescription
from precex.problems import InputError, Problem

if TYPE_CHECKING:
    import pandas as pd
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DECISIONS = ("approve", "amend", "reject")
STATE_OF_DECISION = {"approve": "approved", "amend": "amended", "reject": "rejected"}
SIGNED_STATES = ("approved", "amended")
COLUMNS = ["sequence", "signed_at", "patient_id", "prescription_digest", "decision",
           "signed_by", "note", "chain", "signature"]
HEADER = ["# precex sign-off log v2 (append-only; every row is chained by SHA-256 and signed "
          "with its signer's Ed25519 key: do not edit)"]
UNSIGNED_HEADER = ("# precex sign-off log (append-only; every row is chained by SHA-256: do "
                   "not edit)")  # precex 0.1: rows anyone could recompute
FIX = "restore the log and its .head file from their backup; never edit a sign-off log."
HEAD_SUFFIX = ".head"


@dataclass
class SignoffLog:
    """The rows that verified (all, or none when anything about the log does not) and what
    was found wrong, each named by row."""

    rows: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)


def prescription_digest(prescription: Prescription) -> str:
    """SHA-256 of the prescription's canonical JSON without its sign-off block."""
    content = {k: v for k, v in prescription.items() if k != "signoff"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def signed_document(prescription: Prescription, latest: dict[str, str] | None
                    ) -> tuple[dict[str, Any], str]:
    """The prescription with its sign-off block, and its file text (precex.io.files.json_dumps
    of it), serialising the content once for both the digest and the file: the keys sorted
    before "signoff" and those after it are written as two objects, the digest is over the
    two joined (the content's canonical JSON) and the file puts the sign-off block between
    them (the same bytes json.dumps with sorted keys writes). Two encoder calls a plan, not
    two per key (about 90)."""
    head = canonical_json({k: v for k, v in prescription.items() if k < "signoff"})[1:-1]
    tail = canonical_json({k: v for k, v in prescription.items() if k > "signoff"})[1:-1]
    content = "{" + ",".join(part for part in (head, tail) if part) + "}"
    block = signoff_block(latest, hashlib.sha256(content.encode("utf-8")).hexdigest())
    signoff = '"signoff":' + canonical_json(block)
    text = "{" + ",".join(part for part in (head, signoff, tail) if part) + "}\n"
    return with_signoff(prescription, block), text


def signoff_key(patient_id: str, week: int | None = None) -> str:
    """How the log names what was signed: the patient's prescription, or an adapted week by
    its file's name, {patient}.week-N."""
    return patient_id if week is None else f"{patient_id}.week-{week}"


def _head_message(rows: int, chain: str) -> str:
    return f"precex-signoff-head\t{rows}\t{chain}"


def _read_head(path: str, head_path: str | None = None) -> list[str] | None:
    head = Path(head_path or path + HEAD_SUFFIX)
    if not head.exists():
        return None
    return head.read_text(encoding="utf-8").strip().split("\t")


def verify_signoff_log(path: str | None, users_path: str | None,
                       head_path: str | None = None) -> SignoffLog:
    """The log's rows, each checked: the chain, its signer's signature (any key the signer has
    had, from the users file), times that never go back, and the head file's row count (rows
    removed from the end). Any problem: no row is used (every plan is a draft) and the problem
    names the row. An absent log (and head) has no rows."""
    import pandas as pd  # here: the report jobs sign nothing and load no pandas

    from precex.io.users_file import read_users

    empty = pd.DataFrame(columns=COLUMNS)
    if not path:
        return SignoffLog(empty)
    head = _read_head(path, head_path)  # beside the log unless given
    if not Path(path).exists():
        if head and head[0] != "0":
            return SignoffLog(empty, [Problem(path, f"the log is missing, but its head file "
                                              f"records {head[0]} decisions.", FIX,
                                              stage="signoff")])
        return SignoffLog(empty)
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if lines and lines[0] == UNSIGNED_HEADER:
        return SignoffLog(empty, [Problem(
            path, "written before decisions were signed (precex 0.1): anyone who could write "
            "it could add a decision, so none of its decisions is used and every plan is a "
            "draft.", "keep it as a record under another name, and sign the plans again "
            "(precex signoff or precex serve).", stage="signoff")])
    if not lines or lines[0] != HEADER[0]:
        return SignoffLog(empty, [Problem(path, "not a precex sign-off log.", "give the log "
                                          "written by precex signoff.", stage="signoff")])
    try:
        rows = verified_rows(path, lines, COLUMNS[:-1], stage="signoff", fix=FIX,
                             extra_fields=1)
        users = read_users(users_path) if users_path else {}
    except InputError as err:
        return SignoffLog(empty, err.problems)
    problems: list[Problem] = []
    first_row = len([line for line in lines if line.startswith("#")]) + 2
    previous_time = ""
    for n, fields in enumerate(rows, start=first_row):
        record = dict(zip(COLUMNS, fields, strict=True))
        if not signing_keys(users, record["signed_by"]):
            problems.append(Problem(path, f"signed by '{record['signed_by']}', who is not in "
                                    "the users file (no key to check the signature with).",
                                    f"give the users file the decisions were signed with "
                                    f"({users_path or 'review_users'}); {FIX}", row=n,
                                    stage="signoff"))
        elif not _signed_by(users, record["signed_by"], record["chain"], record["signature"]):
            problems.append(Problem(path, f"the signature of '{record['signed_by']}' does not "
                                    "verify: this row was written or changed by someone else.",
                                    FIX, row=n, stage="signoff"))
        if record["signed_at"] < previous_time:
            problems.append(Problem(path, f"signed at {record['signed_at']}, before the row "
                                    f"above it ({previous_time}): rows were reordered or the "
                                    "time was set back.", FIX, row=n, stage="signoff"))
        previous_time = max(previous_time, record["signed_at"])
        if problems:
            break
    if not problems:
        problems = _head_problems(path, head, rows, users)
    if problems:
        return SignoffLog(empty, problems)
    return SignoffLog(pd.DataFrame(rows, columns=COLUMNS))


def _signed_by(users: dict[str, Any], signer: str, message: str, signature: str) -> bool:
    """Whether `signature` is `signer`'s, by any key they have had (precex.io.signatures:
    imported here, so a batch without a sign-off log never loads cryptography)."""
    from precex.io.signatures import verify

    return any(verify(key, message, signature) for key in signing_keys(users, signer))


def _head_problems(path: str, head: list[str] | None, rows: list[list[str]],
                   users: dict[str, Any]) -> list[Problem]:
    """The head file: signed by the last signer, it records the number of rows and the last
    chain, so rows removed from the end (a rejection deleted) are found."""
    if not rows and head is None:
        return []
    if head is None or len(head) != 4 or not head[0].isdigit():
        return [Problem(path, f"its head file ({Path(path).name}{HEAD_SUFFIX}) is missing or "
                        "damaged, so rows removed from the end could not be found.", FIX,
                        stage="signoff")]
    count, chain, signer, signature = head
    if not _signed_by(users, signer, _head_message(int(count), chain), signature):
        return [Problem(path, f"its head file's signature ('{signer}') does not verify.", FIX,
                        stage="signoff")]
    if int(count) > len(rows):
        return [Problem(path, f"the log ends at decision {len(rows)}, but its head records "
                        f"{count}: decisions {len(rows) + 1}-{count} were removed.", FIX,
                        stage="signoff")]
    if int(count) > 0 and rows[int(count) - 1][COLUMNS.index("chain")] != chain:
        return [Problem(path, f"decision {count} is not the one its head file records: the "
                        "end of the log was replaced.", FIX, row=None, stage="signoff")]
    return []


def read_signoff_log(path: str | None, users_path: str | None) -> pd.DataFrame:
    """The verified rows, or an InputError naming what is wrong (for appending)."""
    log = verify_signoff_log(path, users_path)
    if log.problems:
        raise InputError(log.problems)
    return log.rows


def _clean(text: str) -> str:
    """One TSV field: tabs and line breaks would break the row; control characters (an ANSI
    escape that repaints a terminal: 'dr.x' shown as 'dr.smith (verified)') and invisible
    format characters (direction overrides) are removed, so the log shows what was typed."""
    import unicodedata

    shown = "".join(ch for ch in str(text) if unicodedata.category(ch) not in ("Cc", "Cf")
                    or ch in "\t\n")
    return spreadsheet_cell(" ".join(shown.split()))  # the log is opened in spreadsheets


def append_signoff(path: str, *, users_path: str, key: Ed25519PrivateKey, patient_id: str,
                   digest: str, decision: str, signed_by: str, note: str = "",
                   signed_at: dt.datetime | None = None) -> dict[str, str]:
    """Append one decision signed with the signer's key (under a lock), update the signed
    head file, and return the row written. A log that does not verify is never appended to."""
    from precex.io.signatures import public_key_text, sign
    from precex.io.users_file import read_users

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
    signer = read_users(users_path).get(signed_by)
    if signer is None or not signer.active or signer.public_key != public_key_text(key):
        raise InputError([Problem(users_path, f"'{signed_by}' has no signing key in the users "
                                  "file, or it is not this one.", "set the password again "
                                  "with `precex users add --replace --user ID` (users added "
                                  "before signed decisions have no key).", stage="signoff")])
    with locked(path):
        log = read_signoff_log(path, users_path)
        old = Path(path).read_text(encoding="utf-8") if Path(path).exists() else ""
        previous = log["chain"].iloc[-1] if len(log) else genesis(HEADER)
        # times only move forward: never before the last decision's
        now = (signed_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        when = max(now.isoformat(timespec="seconds"),
                   str(log["signed_at"].iloc[-1]) if len(log) else "")
        fields = [str(len(log) + 1), when, _clean(patient_id), digest, decision,
                  _clean(signed_by), _clean(note)]
        chain = link(previous, fields)
        row = fields + [chain, sign(key, chain)]
        text = old if old else "\n".join(HEADER + ["\t".join(COLUMNS)]) + "\n"
        write_text(path, text + "\t".join(row) + "\n")
        count = len(log) + 1
        write_text(path + HEAD_SUFFIX, "\t".join([str(count), chain, signed_by, sign(
            key, _head_message(count, chain))]) + "\n")
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
