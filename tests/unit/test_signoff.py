"""Clinician sign-off: the chained log, tamper detection, and FHIR status following it."""

from __future__ import annotations

import datetime as dt
import functools
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from builders import RB
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.fhir import prescription_bundle, validate_bundle
from precex.prescription.signoff import (
    append_signoff,
    effective_signoff,
    latest_decisions,
    prescription_digest,
    read_signoff_log,
    signoff_block,
    verify_signoff_log,
    with_signoff,
)
from precex.problems import InputError

WHEN = dt.datetime(2026, 1, 6, 9, 30, tzinfo=dt.UTC)


def _prescription(pid: str = "P1", **changes) -> dict:
    row = {"age": 60.0, "hr_max_bpm": 166.0, **changes}
    return prescribe(pd.DataFrame([row], index=[pid]), RB, EngineSettings(dt.date(2026, 1, 5)))[0]


PASSWORD = "correct horse battery staple"


@functools.cache
def _signers() -> tuple[str, dict]:
    """A users file with four clinicians and their signing keys (derived once: argon2id)."""
    from precex.review_app.users import add_user, user_signing_key

    users = str(Path(tempfile.mkdtemp(prefix="precex-signers-")) / "users.tsv")
    for user in ("dr.smith", "dr.a", "dr.b", "dr.x"):
        add_user(users, user=user, password=PASSWORD)
    return users, {u: user_signing_key(users, u, PASSWORD) for u in
                   ("dr.smith", "dr.a", "dr.b", "dr.x")}


def _append(log: str, **fields) -> dict:
    """append_signoff as the signer, with their own key."""
    users, keys = _signers()
    return append_signoff(log, users_path=users, key=keys[fields["signed_by"]], **fields)


def _read(log: str):
    return read_signoff_log(log, _signers()[0])


def _queue(results, log: str, **kw):
    from precex.prescription.review import review_queue

    return review_queue(str(results), log, users=_signers()[0], **kw)


def _signed(p: dict, log: str) -> dict:
    decisions = latest_decisions(verify_signoff_log(log, _signers()[0]).rows)
    return with_signoff(p, signoff_block(decisions.get(p["patient_id"]),
                                         prescription_digest(p)))


def _careplan(p: dict):
    bundle = prescription_bundle(p)
    validate_bundle(bundle)
    return Bundle.model_validate(bundle).entry[0].resource



def _signer(folder, monkeypatch, user: str = "dr.smith") -> None:
    """A review user in the batch folder's users file, and the password on standard input
    for each `precex signoff --password-stdin` (as a script gives it)."""
    import io

    from precex.review_app.users import add_user

    if not (folder / "review_users.tsv").exists():
        add_user(str(folder / "review_users.tsv"), user=user, password=PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO((PASSWORD + "\n") * 20))

def test_a_prescription_is_a_draft_until_approved_then_active_with_the_signer(tmp_path):
    log = str(tmp_path / "signoffs.tsv")
    p = _prescription()
    assert p["status"] == "prescribed"
    unsigned = _signed(p, log)
    assert unsigned["signoff"]["state"] == "draft"
    assert _careplan(unsigned).status == "draft" and _careplan(unsigned).author is None
    _append(log, patient_id="P1", digest=prescription_digest(p), decision="approve",
                   signed_by="dr.smith", signed_at=WHEN)
    signed = _signed(p, log)
    assert signed["signoff"]["state"] == "approved"
    assert prescription_digest(signed) == prescription_digest(p)  # signing changes no content
    plan = _careplan(signed)
    assert plan.status == "active" and plan.author.display == "dr.smith"
    assert any("approve by dr.smith at 2026-01-06T09:30:00+00:00" in n.text for n in plan.note)


def test_a_rerun_that_changes_a_signed_prescription_makes_it_a_draft_again(tmp_path):
    log = str(tmp_path / "signoffs.tsv")
    before = _prescription()
    _append(log, patient_id="P1", digest=prescription_digest(before),
                   decision="approve", signed_by="dr.smith", signed_at=WHEN)
    after = _signed(_prescription(platelets_10e9_l=45.0), log)  # new labs, new plan
    assert prescription_digest(after) != prescription_digest(before)
    assert after["signoff"]["state"] == "changed_since_signoff"
    assert after["signoff"]["by"] == "dr.smith"
    plan = _careplan(after)
    assert plan.status == "draft" and plan.author is None
    assert any("Changed since sign-off" in n.text for n in plan.note)


def test_reject_revokes_and_amend_or_reject_need_a_note(tmp_path):
    log = str(tmp_path / "signoffs.tsv")
    p = _prescription()
    with pytest.raises(InputError, match="needs a note"):
        _append(log, patient_id="P1", digest=prescription_digest(p), decision="reject",
                       signed_by="dr.smith")
    with pytest.raises(InputError, match="not one of"):
        _append(log, patient_id="P1", digest=prescription_digest(p), decision="ok",
                       signed_by="dr.smith")
    _append(log, patient_id="P1", digest=prescription_digest(p), decision="reject",
                   signed_by="dr.smith", note="recent syncope:\tsee cardiology")
    rejected = _signed(p, log)
    assert rejected["signoff"]["state"] == "rejected"
    assert rejected["signoff"]["note"] == "recent syncope: see cardiology"  # one TSV field
    assert _careplan(rejected).status == "revoked"


def test_an_adapted_copy_of_a_signed_prescription_is_not_signed():
    p = _prescription()
    signed = with_signoff(p, signoff_block({"decision": "approve", "signed_by": "dr.smith",
                                            "signed_at": "x", "note": "",
                                            "prescription_digest": prescription_digest(p)},
                                           prescription_digest(p)))
    adapted = {**signed, "weekly_met_minutes": signed["weekly_met_minutes"] / 2,
               "adaptation": {"week": 1, "decision": "step_back"}}
    assert effective_signoff(signed)["state"] == "approved"
    assert effective_signoff(adapted)["state"] == "changed_since_signoff"
    assert _careplan(adapted).status == "draft"


def test_the_chain_finds_an_edited_removed_or_reordered_row(tmp_path):
    log = tmp_path / "signoffs.tsv"
    for n, pid in enumerate(["P1", "P2", "P3"]):
        _append(str(log), patient_id=pid, digest=f"{n:064x}", decision="approve",
                       signed_by="dr.smith", signed_at=WHEN)
    assert list(_read(str(log))["patient_id"]) == ["P1", "P2", "P3"]
    lines = log.read_text().splitlines()
    tampered = {
        "edited": lines[:3] + [lines[3].replace("approve", "reject")] + lines[4:],
        "removed": lines[:3] + lines[4:],
        "reordered": lines[:2] + [lines[3], lines[2]] + lines[4:],
    }
    for kind, text in tampered.items():
        bad = tmp_path / f"{kind}.tsv"
        bad.write_text("\n".join(text) + "\n")
        with pytest.raises(InputError) as err:
            _read(str(bad))
        assert "edited, removed or reordered" in str(err.value), kind
        assert "row" in str(err.value), kind


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["P1", "P2"]),
                          st.sampled_from(["approve", "amend", "reject"]),
                          st.text(min_size=1, max_size=20)), min_size=1, max_size=8))
def test_appends_only_ever_extend_the_log_and_the_latest_decision_wins(tmp_path_factory,
                                                                       decisions):
    log = tmp_path_factory.mktemp("log") / "signoffs.tsv"
    previous = ""
    for pid, decision, note in decisions:
        _append(str(log), patient_id=pid, digest="d" * 64, decision=decision,
                       signed_by="dr.x", note=note + " n", signed_at=WHEN)  # never empty
        text = log.read_text()
        assert text.startswith(previous)
        previous = text
    latest = latest_decisions(_read(str(log)))
    for pid in {d[0] for d in decisions}:
        last = [d for d in decisions if d[0] == pid][-1]
        assert latest[pid]["decision"] == last[1]


def _write_batch(results, prescriptions: list[dict]) -> None:
    import json

    folder = results / "prescriptions"
    folder.mkdir(parents=True)
    for p in prescriptions:
        (folder / f"{p['patient_id']}.json").write_text(json.dumps(p))
        (folder / f"{p['patient_id']}.fhir.json").write_text("{}")  # never read as one


def test_the_review_queue_is_read_fresh_and_most_urgent_first(tmp_path):

    results, log = tmp_path / "results", str(tmp_path / "signoffs.tsv")
    plain, clearance = _prescription("P1"), _prescription("P2", platelets_10e9_l=10)
    changed_before = _prescription("P3")
    changed_now = _prescription("P3", platelets_10e9_l=45.0)
    _write_batch(results, [plain, clearance, changed_now])
    _append(log, patient_id="P3", digest=prescription_digest(changed_before),
                   decision="approve", signed_by="dr.a", signed_at=WHEN)
    queue = _queue(results, log)
    assert list(queue["patient_id"]) == ["P3", "P2", "P1"]
    assert list(queue["signoff"]) == ["changed_since_signoff", "draft", "draft"]
    assert queue.loc[0, "signed_by"] == "dr.a" and "clearance" in queue.loc[1, "needs"]
    _append(log, patient_id="P1", digest=prescription_digest(plain),
                   decision="approve", signed_by="dr.b", signed_at=WHEN)
    assert "P1" not in set(_queue(results, log)["patient_id"])  # at once
    assert "P1" in set(_queue(results, log, include_signed=True)["patient_id"])


def test_the_review_queue_lists_stops_first_then_a_current_fever(tmp_path):

    results, log = tmp_path / "results", str(tmp_path / "signoffs.tsv")
    changed_before = _prescription("P3")
    fever = _prescription("P4", fever=True)
    stopped = _prescription("P5")
    _write_batch(results, [_prescription("P1"), _prescription("P3", platelets_10e9_l=45.0),
                           fever, stopped])
    _append(log, patient_id="P3", digest=prescription_digest(changed_before),
                   decision="approve", signed_by="dr.a", signed_at=WHEN)
    _append(log, patient_id="P5", digest=prescription_digest(stopped),
                   decision="approve", signed_by="dr.a", signed_at=WHEN)
    adapted = json.loads(json.dumps(stopped))
    adapted["adaptation"] = {"week": 2, "decision": "stop",
                             "features": {"red_flags": "chest pain on 2026-01-16"}}
    folder = results / "adaptations" / "prescriptions"
    folder.mkdir(parents=True)
    (folder / "P5.week-2.json").write_text(json.dumps(adapted))
    earlier = json.loads(json.dumps(adapted))
    earlier["adaptation"] = {"week": 1, "decision": "advance", "features": {}}
    (folder / "P5.week-1.json").write_text(json.dumps(earlier))
    queue = _queue(results, log)
    # the stop (though its base plan is signed), then the fever, then the rest as before
    assert list(queue["patient_id"]) == ["P5", "P4", "P3", "P1"]
    assert "chest pain on 2026-01-16" in queue.loc[0, "needs"]
    assert "weekly update 2" in queue.loc[0, "needs"]
    assert queue.loc[1, "needs"].startswith("current fever: call the patient")
    held = {**earlier, "adaptation": {"week": 3, "decision": "hold", "features": {}}}
    (folder / "P5.week-3.json").write_text(json.dumps(held))
    queue = _queue(results, log).set_index("patient_id")
    # cleared: no stop; the unsigned weekly update is to sign, after the prescriptions
    assert queue.loc["P5", "week"] == "3" and "STOP" not in queue.loc["P5", "needs"]
    assert list(queue.index)[-1] == "P5"
    _append(log, patient_id="P5.week-3", digest=prescription_digest(held),
                   decision="approve", signed_by="dr.a", signed_at=WHEN)
    assert "P5" not in set(_queue(results, log)["patient_id"])  # week signed


def test_precex_signoff_and_review_commands(tmp_path, monkeypatch, capsys):
    from precex.cli import main

    monkeypatch.chdir(tmp_path)
    _write_batch(tmp_path / "results", [_prescription("P1")])
    _signer(tmp_path, monkeypatch)
    assert main(["review"]) == 0
    assert "P1" in capsys.readouterr().out
    assert main(["signoff", "--patient", "P1", "--by", "dr.smith", "--password-stdin", "--decision",
                 "approve"]) == 0
    assert "recorded in signoffs.tsv (row 1)" in capsys.readouterr().out
    assert main(["review"]) == 0
    assert "Nothing to review" in capsys.readouterr().out
    assert main(["signoff", "--patient", "P9", "--by", "dr.smith", "--password-stdin", "--decision",
                 "approve"]) == 1
    err = capsys.readouterr().err
    assert "'P9' has no prescription" in err and "Traceback" not in err
    assert main(["signoff", "--patient", "P1", "--by", "dr.smith", "--password-stdin", "--decision",
                 "amend"]) == 1
    assert "needs a note" in capsys.readouterr().err


def test_the_report_opens_with_the_signoff_state():
    from precex.reporting.patient import signoff_text

    p = _prescription()
    assert signoff_text(with_signoff(p, {"state": "draft"}))["text"].startswith(
        "DRAFT - not signed")
    block = signoff_block({"decision": "amend", "signed_by": "dr.smith",
                           "signed_at": "2026-01-06T09:30:00+00:00", "note": "no intervals",
                           "prescription_digest": prescription_digest(p)},
                          prescription_digest(p))
    text = signoff_text(with_signoff(p, block))["text"]
    assert text == ("Signed with an amendment by dr.smith on 2026-01-06 09:30 UTC. "
                    "Note: no intervals")
    changed = {**with_signoff(p, block), "weekly_met_minutes": 1}
    assert signoff_text(changed)["text"].startswith("DRAFT - changed since sign-off")


def test_a_damaged_or_foreign_prescription_file_is_never_signed(tmp_path, monkeypatch, capsys):
    """Sign-off reads the file it signs through the prescription schema: a truncated file or
    one that is not a precex prescription is refused with the file named, and nothing is
    written to the sign-off log."""
    import json

    from precex.cli import main

    monkeypatch.chdir(tmp_path)
    good = _prescription("P1")
    _write_batch(tmp_path / "results", [good, _prescription("P2")])
    folder = tmp_path / "results" / "prescriptions"
    _signer(tmp_path, monkeypatch)
    (folder / "P1.json").write_text(json.dumps(good)[:200])  # truncated
    (folder / "P2.json").write_text(json.dumps({"patient_id": "P2", "dose": "all of it"}))
    for pid, says in (("P1", "cannot be read as JSON"), ("P2", "not a precex prescription")):
        assert main(["signoff", "--patient", pid, "--by", "dr.smith", "--password-stdin",
                     "--decision", "approve"]) == 1
        err = capsys.readouterr().err
        assert says in err and f"{pid}.json" in err and "Traceback" not in err
    assert not (tmp_path / "signoffs.tsv").exists()


def test_a_signed_document_is_the_bytes_json_dumps_writes_and_its_digest_the_contents():
    """signed_document serialises the content once for the digest and the file: the same
    bytes as json_dumps of the signed prescription, for a draft and for a signed one."""
    from builders import prescription
    from precex.io.files import json_dumps
    from precex.prescription.signoff import prescription_digest, signed_document

    plan = prescription(platelets_10e9_l=35.0, agents="épirubicine")
    for latest in (None, {"decision": "approve", "prescription_digest": "0" * 64,
                          "signed_by": "dr.ø", "signed_at": "2026-01-06T09:00:00Z",
                          "note": "ok"}):
        doc, text = signed_document(plan, latest)
        assert text == json_dumps(doc)
        assert doc["signoff"]["digest"] == prescription_digest(doc)


_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.text() | st.floats(
    allow_nan=False, allow_infinity=False)


@given(st.dictionaries(st.sampled_from(["aerobic", "picture", "s", "signoff", "signof",
                                        "signoffs", "status", "Z", "é", ""]),
                       st.recursive(_JSON_LEAF, lambda inner: st.lists(inner, max_size=3)
                                    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                                    max_leaves=8), max_size=8))
def test_signed_document_text_is_json_dumps_for_any_keys(plan):
    """Whatever keys sort before or after "signoff" (none on a side, an old sign-off block
    replaced), the file text is json_dumps of the signed plan and the digest its content's."""
    from precex.io.files import json_dumps
    from precex.prescription.signoff import prescription_digest, signed_document

    doc, text = signed_document(plan, None)
    assert text == json_dumps(doc)
    assert doc["signoff"]["digest"] == prescription_digest(doc)


def test_precex_signoff_signs_only_as_a_known_user_with_their_password(tmp_path, monkeypatch,
                                                                      capsys):
    """Issue 39: `--by` must be a review user and the password theirs; a name outside the
    users file, a wrong password or no users file signs nothing, and says why; a name with a
    terminal escape or a direction override is recorded without it."""
    import io

    from precex.cli import main
    from precex.prescription.signoff import append_signoff

    monkeypatch.chdir(tmp_path)
    _write_batch(tmp_path / "results", [_prescription("P1")])
    args = ["signoff", "--patient", "P1", "--decision", "approve", "--password-stdin"]
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main([*args, "--by", "dr.smith"]) == 1  # no users file yet
    assert "no review users" in capsys.readouterr().err
    _signer(tmp_path, monkeypatch)
    for by, password in (("dr.x", PASSWORD), ("dr.smith", "wrong password!!")):
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        assert main([*args, "--by", by]) == 1
        assert "nothing was signed" in capsys.readouterr().err
    assert not (tmp_path / "signoffs.tsv").exists()
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main([*args, "--by", "dr.smith"]) == 0
    # a name that is not a review user signs nothing, whatever escapes it carries
    users, keys = _signers()
    with pytest.raises(InputError, match="has no signing key"):
        append_signoff(str(tmp_path / "other.tsv"), users_path=users, key=keys["dr.x"],
                       patient_id="P1", digest="d" * 64, decision="approve",
                       signed_by="dr.x\x1b[2K\rdr.smith (verified)\u202e")
    assert not (tmp_path / "other.tsv").exists()


def test_a_plan_edited_after_the_run_is_never_signed(tmp_path):
    """Issue 39: a published prescription edited in place (it is hard-linked to the shard's
    copy) was approved as edited. Its SHA-256 no longer equals the run manifest's: refused,
    nothing logged; the unedited plan is signed."""
    import json

    from precex.io.files import sha256
    from precex.prescription.review import record_decision

    results = tmp_path / "results"
    _write_batch(results, [_prescription("P1"), _prescription("P2")])
    outputs = {f"prescriptions/{pid}.json": sha256(results / f"prescriptions/{pid}.json")
               for pid in ("P1", "P2")}
    (results / "manifest.json").write_text(json.dumps({"outputs": outputs}))
    edited = json.loads((results / "prescriptions/P1.json").read_text())
    edited["weekly_met_minutes"] = edited["weekly_met_minutes"] * 2 + 1  # a hand edit
    (results / "prescriptions/P1.json").write_text(json.dumps(edited))
    log = str(tmp_path / "signoffs.tsv")
    with pytest.raises(InputError, match="edited after the run"):
        record_decision(str(results), log, users=_signers()[0], key=_signers()[1]["dr.smith"],
                        patient_id="P1", week=None, decision="approve", signed_by="dr.smith")
    assert not (tmp_path / "signoffs.tsv").exists()
    row = record_decision(str(results), log, users=_signers()[0],
                          key=_signers()[1]["dr.smith"], patient_id="P2", week=None,
                          decision="approve", signed_by="dr.smith")
    assert row["patient_id"] == "P2"


def _three_decisions(tmp_path) -> Path:
    log = tmp_path / "signoffs.tsv"
    for n, (pid, decision, by) in enumerate([("P1", "approve", "dr.a"), ("P2", "approve",
                                                                          "dr.b"),
                                             ("P1", "reject", "dr.smith")]):
        _append(str(log), patient_id=pid, digest=f"{n:064x}", decision=decision, signed_by=by,
                note="not yet" if decision == "reject" else "", signed_at=WHEN)
    return log


def test_a_forged_row_with_a_recomputed_chain_is_named_and_no_decision_is_used(tmp_path):
    """Issue 39: anyone who could write the log appended an approval under any clinician's
    name with a recomputed SHA-256 chain, and it became an active order. Now each row carries
    its signer's Ed25519 signature: a row written without the key fails, by row, and then no
    decision of the log counts (every plan a draft)."""
    from precex.io.chained_log import link

    log = _three_decisions(tmp_path)
    assert verify_signoff_log(str(log), _signers()[0]).problems == []
    lines = log.read_text().splitlines()
    last = lines[-1].split("\t")
    fields = ["4", "2026-01-06T09:31:00+00:00", "P1", "9" * 64, "approve", "dr.smith", ""]
    chain = link(last[-2], fields)
    forged = fields + [chain, last[-1]]  # a recomputed chain, another row's signature
    log.write_text("\n".join(lines + ["\t".join(forged)]) + "\n")
    result = verify_signoff_log(str(log), _signers()[0])
    assert result.rows.empty and len(result.problems) == 1
    problem = result.problems[0]
    assert problem.row == 6 and "signature of 'dr.smith' does not verify" in problem.message


def test_removing_the_last_rows_or_the_head_is_found(tmp_path):
    """Deleting the last row (a rejection) reverted the plan to 'approved'. The signed head
    file records how many decisions there are."""
    log = _three_decisions(tmp_path)
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n")  # the rejection removed
    result = verify_signoff_log(str(log), _signers()[0])
    assert result.rows.empty
    assert "the log ends at decision 2, but its head records 3" in result.problems[0].message
    head = Path(str(log) + ".head")
    head.unlink()  # and the head with it
    assert "head file (signoffs.tsv.head) is missing" in \
        verify_signoff_log(str(log), _signers()[0]).problems[0].message
    log.unlink()
    assert verify_signoff_log(str(log), _signers()[0]).problems == []  # no log, no head


def test_a_time_set_back_and_an_edited_or_reordered_row_are_named(tmp_path):
    log = _three_decisions(tmp_path)
    lines = log.read_text().splitlines()
    for kind, text in {"edited": lines[:3] + [lines[3].replace("approve", "reject")] + lines[4:],
                       "reordered": lines[:2] + [lines[3], lines[2]] + lines[4:]}.items():
        bad = tmp_path / f"{kind}.tsv"
        bad.write_text("\n".join(text) + "\n")
        Path(str(bad) + ".head").write_text(Path(str(log) + ".head").read_text())
        result = verify_signoff_log(str(bad), _signers()[0])
        assert result.rows.empty and result.problems[0].row is not None, kind
    later = tmp_path / "later.tsv"
    _append(str(later), patient_id="P1", digest="a" * 64, decision="approve",
            signed_by="dr.a", signed_at=WHEN)
    row = _append(str(later), patient_id="P2", digest="b" * 64, decision="approve",
                  signed_by="dr.a", signed_at=WHEN - dt.timedelta(days=1))
    assert row["signed_at"] == WHEN.isoformat()  # a clock set back never writes the past


def test_decisions_of_a_removed_user_or_an_old_password_still_verify(tmp_path):
    from precex.review_app.users import add_user, remove_user, user_signing_key

    users = str(tmp_path / "users.tsv")
    add_user(users, user="dr.old", password=PASSWORD)
    log = str(tmp_path / "signoffs.tsv")
    append_signoff(log, users_path=users, key=user_signing_key(users, "dr.old", PASSWORD),
                   patient_id="P1", digest="a" * 64, decision="approve", signed_by="dr.old")
    add_user(users, user="dr.old", password=PASSWORD + " two", replace=True)
    append_signoff(log, users_path=users,
                   key=user_signing_key(users, "dr.old", PASSWORD + " two"),
                   patient_id="P2", digest="b" * 64, decision="approve", signed_by="dr.old")
    remove_user(users, user="dr.old")
    result = verify_signoff_log(log, users)
    assert result.problems == [] and list(result.rows["patient_id"]) == ["P1", "P2"]
    assert user_signing_key(users, "dr.old", PASSWORD + " two") is None  # no more signing


def test_an_unsigned_log_from_precex_0_1_is_not_trusted(tmp_path):
    from precex.prescription.signoff import UNSIGNED_HEADER

    log = tmp_path / "signoffs.tsv"
    log.write_text(UNSIGNED_HEADER + "\n" + "\t".join(
        ["sequence", "signed_at", "patient_id", "prescription_digest", "decision",
         "signed_by", "note", "chain"]) + "\n")
    result = verify_signoff_log(str(log), _signers()[0])
    assert result.rows.empty and "written before decisions were signed" in \
        result.problems[0].message
    with pytest.raises(InputError, match="written before decisions were signed"):
        _append(str(log), patient_id="P1", digest="a" * 64, decision="approve",
                signed_by="dr.a")


def test_the_prescription_job_and_the_review_list_flag_a_damaged_log(tmp_path, monkeypatch,
                                                                     capsys):
    """A forged row: every plan of the run is a draft, the problem is in the stage's
    problems.tsv, and `precex review` says so above the list, by row."""
    from precex.cli import main

    monkeypatch.chdir(tmp_path)
    p = _prescription("P1")
    _write_batch(tmp_path / "results", [p])
    users, keys = _signers()
    (tmp_path / "review_users.tsv").write_text(Path(users).read_text())
    _append(str(tmp_path / "signoffs.tsv"), patient_id="P1", digest=prescription_digest(p),
            decision="approve", signed_by="dr.a")
    assert main(["review"]) == 0 and "Nothing to review" in capsys.readouterr().out
    text = (tmp_path / "signoffs.tsv").read_text().replace("\tapprove\t", "\tapprove\t", 1)
    lines = text.splitlines()
    fields = lines[-1].split("\t")
    fields[-1] = fields[-1][::-1]  # a damaged signature
    (tmp_path / "signoffs.tsv").write_text("\n".join(lines[:-1] + ["\t".join(fields)]) + "\n")
    assert main(["review"]) == 0
    captured = capsys.readouterr()
    assert "does not verify" in captured.err and "row 3" in captured.err
    assert "P1" in captured.out  # a draft again, to review
