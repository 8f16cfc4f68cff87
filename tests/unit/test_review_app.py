"""The review page (precex serve) through Starlette's test client: who gets in, CSRF, the
decision under the signed-in user, stale pages, the FHIR status following the decision.
The real browser and concurrent requests are in tests/e2e/test_review_browser.py."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from pathlib import Path

import pandas as pd
import pytest
from builders import RB
from fhir.resources.R4B.bundle import Bundle
from precex.adaptation.engine import adapt
from precex.adaptation.features import adaptation_features, validate_days
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.fhir import validate_bundle
from precex.prescription.signoff import read_signoff_log
from precex.problems import InputError
from precex.review_app.app import LOOPBACK_HOSTS, Settings, create_app
from precex.review_app.login_log import MAX_FAILURES
from precex.review_app.users import (
    active_users,
    add_user,
    authenticate,
    read_users,
    remove_user,
    signing_keys,
)
from starlette.testclient import TestClient

PASSWORD = "correct horse battery"


def _prescription(pid: str, **changes) -> dict:
    row = {"age": 60.0, "hr_max_bpm": 166.0, **changes}
    return prescribe(pd.DataFrame([row], index=[pid]), RB, EngineSettings(dt.date(2026, 1, 5)))[0]


def _adapted_week(prescription: dict) -> dict:
    """Week 1 adapted by the real engine from a week of good adherence."""
    issued = dt.date(2026, 1, 5)
    wear = pd.DataFrame([{"patient_id": prescription["patient_id"],
                          "date": (issued + dt.timedelta(days=d)).isoformat(), "mvpa_min": 40,
                          "logged_exercise_min": 40, "resting_hr": 60, "hrv_rmssd_ms": 30.0}
                         for d in range(1, 8)])
    wear, problems = validate_days(wear, "w.tsv", {prescription["patient_id"]: issued},
                                   "wearables")
    assert problems == []
    features = adaptation_features(prescription, wear, None, "s.tsv")
    return adapt(prescription, features, RB, max(wear["day"]))


@pytest.fixture()
def batch(tmp_path):
    results = tmp_path / "results"
    (results / "prescriptions").mkdir(parents=True)
    (results / "reports").mkdir()
    for p in (_prescription("P1"), _prescription("P2", platelets_10e9_l=10.0)):
        (results / "prescriptions" / f"{p['patient_id']}.json").write_text(json.dumps(p))
        (results / "reports" / f"{p['patient_id']}.html").write_text(
            f"<html><body><h1>Report {p['patient_id']}</h1></body></html>")
    week = _adapted_week(_prescription("P1"))
    (results / "adaptations" / "prescriptions").mkdir(parents=True)
    (results / "adaptations" / "prescriptions" / "P1.week-1.json").write_text(json.dumps(week))
    users = str(tmp_path / "users.tsv")
    add_user(users, user="dr.a", password=PASSWORD, name="Dr A")
    add_user(users, user="dr.b", password=PASSWORD + "!")
    settings = Settings(results=str(results), signoff_log=str(tmp_path / "signoffs.tsv"),
                        users=users, login_log=str(tmp_path / "logins.tsv"))
    return settings


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, allowed_hosts=LOOPBACK_HOSTS + ["testserver"]),
                      base_url="http://testserver", follow_redirects=False)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _login(client: TestClient, user: str = "dr.a", password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"csrf": _csrf(page.text), "user": user,
                                       "password": password})


def _form(client: TestClient, path: str, decision: str) -> dict[str, str]:
    html = client.get(path).text
    form = html[html.index(f'id="form-{decision}"'):]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)[:5])
    return fields


def test_users_file_holds_argon2id_hashes_owner_only_and_refuses_bad_entries(tmp_path):
    path = str(tmp_path / "users.tsv")
    add_user(path, user="dr.a", password=PASSWORD)
    text = (tmp_path / "users.tsv").read_text()
    assert PASSWORD not in text and "$argon2id$" in text
    assert stat.S_IMODE((tmp_path / "users.tsv").stat().st_mode) == 0o600
    assert authenticate(path, "dr.a", PASSWORD).user == "dr.a"
    assert authenticate(path, "dr.a", PASSWORD + "x") is None
    assert authenticate(path, "nobody", PASSWORD) is None
    with pytest.raises(InputError, match="already exists"):
        add_user(path, user="dr.a", password=PASSWORD)
    with pytest.raises(InputError, match="shorter than 12"):
        add_user(path, user="dr.c", password="short")
    with pytest.raises(InputError, match="not usable"):
        add_user(path, user="dr a\t", password=PASSWORD)
    first_key = read_users(path)["dr.a"].public_key
    add_user(path, user="dr.a", password=PASSWORD + "2", replace=True)
    assert authenticate(path, "dr.a", PASSWORD) is None
    # a new password is a new signing key; the old public key stays for what it signed
    assert signing_keys(read_users(path), "dr.a") == [read_users(path)["dr.a"].public_key,
                                                      first_key]
    remove_user(path, user="dr.a")
    assert active_users(path) == {} and authenticate(path, "dr.a", PASSWORD + "2") is None
    assert len(signing_keys(read_users(path), "dr.a")) == 2  # removed: keys kept, no login


@pytest.mark.parametrize("user,password,says", [
    ("dr.b", " " * 12, "too easy"), ("dr.b", "aaaaaaaaaaaa", "too easy"),
    ("dr.b", "abababababab", "too easy"), ("dr.smith.long", "DR.SMITH.LONG", "too easy"),
])
def test_passwords_that_only_pass_the_length_check_are_refused(tmp_path, user, password, says):
    """Issue 39: twelve spaces, a repeated character or the user ID itself were accepted."""
    with pytest.raises(InputError, match=says):
        add_user(str(tmp_path / "users.tsv"), user=user, password=password)


def test_user_ids_that_differ_only_in_case_cannot_coexist_and_the_file_is_never_readable(
        tmp_path, monkeypatch):
    """'Dr.Smith' beside 'dr.smith' is refused; the users file is created owner-only (written
    under umask 077: never 0644, not even between its creation and the rename)."""
    import os

    path = str(tmp_path / "users.tsv")
    created_modes = []
    real_replace = os.replace

    def spy(src, dst):
        created_modes.append(stat.S_IMODE(os.stat(src).st_mode))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old = os.umask(0o022)
    try:
        add_user(path, user="dr.smith", password=PASSWORD)
    finally:
        os.umask(old)
    assert created_modes and all(mode & 0o077 == 0 for mode in created_modes)
    with pytest.raises(InputError, match="differs only in case"):
        add_user(path, user="Dr.Smith", password=PASSWORD)


def test_wrong_password_is_refused_and_logged_then_the_right_one_gets_a_strict_cookie(batch):
    client = _client(batch)
    assert client.get("/queue").headers["location"] == "/login"  # nothing without a login
    refused = _login(client, password="wrong password!")
    assert refused.status_code == 401 and "Wrong user ID or password" in refused.text
    assert client.get("/queue").status_code == 303
    anonymous = client.cookies.get("precex_session")
    ok = _login(client)
    assert ok.status_code == 303 and ok.headers["location"] == "/queue"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert client.cookies.get("precex_session") != anonymous  # a new session at login
    queue = client.get("/queue")
    assert queue.status_code == 200 and "P2" in queue.text and "no-store" in \
        queue.headers["cache-control"]
    assert "frame-ancestors 'self'" in queue.headers["content-security-policy"]
    log = pd.read_csv(batch.login_log, sep="\t")
    assert list(log["outcome"]) == ["failed", "login"] and list(log["user"]) == ["dr.a"] * 2
    stale = _client(batch)  # the anonymous token from before the login is worth nothing now
    stale.cookies.set("precex_session", anonymous)
    assert stale.get("/queue").status_code == 303


def test_repeated_failures_throttle_the_user_id_even_with_the_right_password(batch):
    client = _client(batch)
    for _ in range(MAX_FAILURES):
        assert _login(client, password="not the password").status_code == 401
    throttled = _login(client)
    assert throttled.status_code == 429 and "Too many failed logins" in throttled.text
    assert _login(client, user="dr.b", password=PASSWORD + "!").status_code == 303
    outcomes = pd.read_csv(batch.login_log, sep="\t")["outcome"].tolist()
    assert outcomes == ["failed"] * MAX_FAILURES + ["throttled", "login"]


def test_logins_are_counted_before_the_check_per_user_and_client_and_survive_a_restart(
        batch, monkeypatch):
    """Issue 39: 30 concurrent wrong passwords were all checked (the count came after the
    check), one machine could try any number of IDs, and a restart forgot every failure."""
    from concurrent.futures import ThreadPoolExecutor

    import precex.review_app.app as app_module
    from precex.review_app.login_log import MAX_CLIENT_FAILURES, LoginLog

    log = LoginLog(batch.login_log)
    with ThreadPoolExecutor(8) as pool:  # 30 at once: only the first 5 may be checked
        marks = list(pool.map(lambda _: log.begin("dr.a", "10.0.0.9"), range(30)))
    assert sum(m is not None for m in marks) == MAX_FAILURES
    others = [log.begin(f"user{i}", "10.0.0.7") for i in range(MAX_CLIENT_FAILURES + 3)]
    assert sum(m is not None for m in others) == MAX_CLIENT_FAILURES  # one client, many IDs
    checked = []
    monkeypatch.setattr(app_module, "authenticate",
                        lambda *args: checked.append(args) or None)
    client = _client(batch)
    for _ in range(MAX_FAILURES + 3):
        _login(client, password="not the password")
    assert len(checked) == MAX_FAILURES  # refused attempts are never checked
    restarted = LoginLog(batch.login_log)  # a new server reads the log back
    assert restarted.throttled("dr.a") and restarted.begin("dr.a", "127.0.0.2") is None


def test_password_checks_are_capped_and_a_large_or_sessionless_body_is_not_read(batch,
                                                                              monkeypatch):
    """40 concurrent logins took the server to 2 GB (64 MiB per argon2 check); a 400 MB POST
    without a session was read before the session check."""
    import precex.review_app.app as app_module

    monkeypatch.setattr(app_module, "CHECK_WAIT_SECONDS", 0.01)
    pages = app_module.ReviewPages(batch)
    for _ in range(app_module.PASSWORD_CHECKS):
        pages.checks.acquire()  # every check slot busy
    assert pages._check_password("dr.a", PASSWORD) is None
    client = _client(batch)
    busy = client.post("/decision", content=b"x" * (app_module.MAX_BODY_BYTES + 1),
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert busy.status_code == 413 and "nothing was recorded" in busy.text
    nobody = _client(batch).post("/login", data={"csrf": "x", "user": "dr.a",
                                                "password": PASSWORD})
    assert nobody.status_code == 403 and "no session" in nobody.text


def test_a_form_without_its_csrf_token_is_refused_and_records_nothing(batch):
    client = _client(batch)
    page = client.get("/login")
    assert client.post("/login", data={"user": "dr.a", "password": PASSWORD}).status_code == 403
    assert client.post("/login", data={"csrf": _csrf(page.text)[::-1], "user": "dr.a",
                                       "password": PASSWORD}).status_code == 403
    _login(client)
    fields = _form(client, "/patients/P1", "approve")
    missing = {k: v for k, v in fields.items() if k != "csrf"}
    refused = client.post("/patients/P1/decision", data=missing)
    assert refused.status_code == 403 and "CSRF" in refused.text
    other = _client(batch)  # another session's token is not this session's
    _login(other, "dr.b", PASSWORD + "!")
    foreign = {**fields, "csrf": _form(other, "/patients/P1", "approve")["csrf"]}
    assert client.post("/patients/P1/decision", data=foreign).status_code == 403
    assert len(read_signoff_log(batch.signoff_log, batch.users)) == 0


def test_a_decision_is_recorded_under_the_signed_in_user_and_the_fhir_status_follows(batch):
    client = _client(batch)
    _login(client)
    fhir = Bundle.model_validate(client.get("/patients/P1/fhir").json())
    assert fhir.entry[0].resource.status == "draft"
    fields = _form(client, "/patients/P1", "approve")
    done = client.post("/patients/P1/decision", data={**fields, "signed_by": "dr.evil",
                                                      "by": "dr.evil"})
    assert done.status_code == 303 and done.headers["location"] == "/patients/P1"
    page = client.get("/patients/P1").text
    assert "Recorded: <b>approve</b> by dr.a" in page and 'id="careplan-status">active' in page
    log = read_signoff_log(batch.signoff_log, batch.users)
    assert log[["patient_id", "decision", "signed_by"]].values.tolist() == \
        [["P1", "approve", "dr.a"]]
    bundle = client.get("/patients/P1/fhir").json()
    validate_bundle(bundle)
    careplan = Bundle.model_validate(bundle).entry[0].resource
    assert careplan.status == "active" and careplan.author.display == "dr.a"
    assert "P1" not in [r for r in re.findall(r'data-patient="(\w+)" data-week=""',
                                              client.get("/queue").text)]
    reject = _form(client, "/patients/P1", "reject")
    assert client.post("/patients/P1/decision", data={**reject, "note": "  "}).status_code \
        == 400  # a rejection needs its reason
    client.post("/patients/P1/decision", data={**reject, "note": "platelets falling"})
    assert Bundle.model_validate(client.get("/patients/P1/fhir").json()).entry[0] \
        .resource.status == "revoked"
    assert read_signoff_log(batch.signoff_log, batch.users)["note"].tolist() == [
        "", "platelets falling"]


def test_an_adapted_week_is_signed_on_its_own(batch):
    client = _client(batch)
    _login(client, "dr.b", PASSWORD + "!")
    page = client.get("/patients/P1?week=1").text
    assert "weekly update 1" in page and "ADAPT_GOOD_ADHERENCE" in page
    fields = _form(client, "/patients/P1?week=1", "amend")
    assert fields["week"] == "1"
    client.post("/patients/P1/decision", data={**fields, "note": "walk 20 min, not 30"})
    log = read_signoff_log(batch.signoff_log, batch.users)
    assert log[["patient_id", "decision", "signed_by", "note"]].values.tolist() == \
        [["P1.week-1", "amend", "dr.b", "walk 20 min, not 30"]]


def test_a_decision_on_a_page_opened_before_a_rerun_changed_the_plan_is_refused(batch):
    client = _client(batch)
    _login(client)
    fields = _form(client, "/patients/P2", "approve")
    changed = _prescription("P2", platelets_10e9_l=45.0)  # a rerun with a newer count
    (Path(batch.results) / "prescriptions" / "P2.json").write_text(json.dumps(changed))
    refused = client.post("/patients/P2/decision", data=fields)
    assert refused.status_code == 409
    assert "changed since the page was opened" in refused.text and "reload" in refused.text
    assert len(read_signoff_log(batch.signoff_log, batch.users)) == 0
    fresh = _form(client, "/patients/P2", "approve")
    assert client.post("/patients/P2/decision", data=fresh).status_code == 303
    assert len(read_signoff_log(batch.signoff_log, batch.users)) == 1


def test_another_clinicians_decision_since_the_page_opened_is_kept_and_named(batch):
    a, b = _client(batch), _client(batch)
    _login(a)
    _login(b, "dr.b", PASSWORD + "!")
    seen_by_a = _form(a, "/patients/P1", "approve")
    b.post("/patients/P1/decision", data={**_form(b, "/patients/P1", "reject"),
                                          "note": "wait for the echo"})
    a.post("/patients/P1/decision", data=seen_by_a)
    page = a.get("/patients/P1").text
    assert "Decided by others since you opened the page" in page and "dr.b" in page
    assert read_signoff_log(batch.signoff_log, batch.users)["signed_by"].tolist() == [
        "dr.b", "dr.a"]


def test_only_report_files_are_served_and_other_hosts_are_refused(batch):
    client = _client(batch)
    _login(client)
    report = client.get("/reports/P1.html")
    assert report.status_code == 200 and "Report P1" in report.text
    assert "sandbox" in report.headers["content-security-policy"]
    for name in ("..%2Fprescriptions%2FP1.json", "P1.json", ".hidden.html", "P9.html"):
        assert client.get(f"/reports/{name}").status_code == 404, name
    assert client.get("/patients/P9").status_code == 404
    assert client.get("/login", headers={"host": "evil.example"}).status_code == 400


def test_symlinks_long_names_huge_numbers_and_stray_files_give_clear_pages(batch, tmp_path):
    """Issue 39 (low): a symlink in results/reports was served (/etc/passwd); long names and
    huge integers gave 500 pages; a stray JSON file in results/prescriptions broke the queue."""
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    reports = Path(batch.results) / "reports"
    (reports / "P2.html").unlink()
    (reports / "P2.html").symlink_to(secret)
    (Path(batch.results) / "prescriptions" / "notes.json").write_text('{"hello": 1}')
    client = _client(batch)
    _login(client)
    assert client.get("/reports/P2.html").status_code == 404
    assert client.get("/patients/" + "P" * 5000).status_code == 404
    missing = client.get("/patients/P9")
    assert missing.status_code == 404 and batch.results not in missing.text  # no server path
    assert "the results folder" in missing.text
    assert client.get("/patients/P1?week=" + "9" * 400).status_code == 404
    queue = client.get("/queue")
    assert queue.status_code == 200 and "notes.json: is not a precex prescription" in queue.text
    assert "P1" in queue.text


def test_precex_serve_and_users_commands(tmp_path, monkeypatch, capsys):
    import io

    from precex.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "prescriptions").mkdir(parents=True)
    assert main(["serve"]) == 1
    assert "precex users add --users review_users.tsv" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "--user", "dr.a", "--password-stdin"]) == 0
    assert "Added dr.a in review_users.tsv" in capsys.readouterr().out
    assert authenticate("review_users.tsv", "dr.a", PASSWORD) is not None
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "--user", "dr.b", "--password-stdin"]) == 1
    err = capsys.readouterr().err
    assert "shorter than 12" in err and "Traceback" not in err
    assert main(["users", "remove", "--user", "dr.z"]) == 1
    assert "there is no user 'dr.z'" in capsys.readouterr().err
    assert main(["serve", "--results", "elsewhere"]) == 1
    assert "has no prescriptions folder" in capsys.readouterr().err


def test_an_approved_plan_that_stays_a_draft_or_on_hold_says_why(batch):
    client = _client(batch)
    _login(client)
    status = json.loads((Path(batch.results) / "prescriptions" / "P2.json").read_text())["status"]
    assert status in ("clearance_required", "deferred")  # platelets 10 x10^9/L
    client.post("/patients/P2/decision", data=_form(client, "/patients/P2", "approve"))
    page = client.get("/patients/P2").text
    shown = re.search(r'id="careplan-status">(\w[\w-]*)</span> <span id="careplan-why">'
                      r'\(signed, but ([^)]*)\)', page)
    assert shown is not None
    expected = {"clearance_required": ("draft", "medical clearance is still required"),
                "deferred": ("on-hold", "exercise is deferred")}[status]
    assert shown.group(1) == expected[0] and shown.group(2).startswith(expected[1])
    client.post("/patients/P1/decision", data=_form(client, "/patients/P1", "approve"))
    assert 'id="careplan-why"' not in client.get("/patients/P1").text  # active: nothing to say


def test_serve_listens_where_the_config_says_and_warns_off_loopback(tmp_path, monkeypatch,
                                                                    capsys):
    import uvicorn
    from precex.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "prescriptions").mkdir(parents=True)
    add_user("review_users.tsv", user="dr.a", password=PASSWORD)
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw))
    assert main(["serve"]) == 0
    assert (started[-1]["host"], started[-1]["port"]) == ("127.0.0.1", 8765)
    # X-Forwarded-For from any local process was believed (uvicorn's default): no proxy is
    # trusted unless named (issue 39)
    assert started[-1]["proxy_headers"] is False and started[-1]["forwarded_allow_ips"] is None
    assert main(["serve", "--trusted-proxy", "10.0.0.5"]) == 0
    assert started[-1]["proxy_headers"] is True
    assert started[-1]["forwarded_allow_ips"] == "10.0.0.5"
    assert "http://127.0.0.1:8765/" in capsys.readouterr().out
    (tmp_path / "batch.yaml").write_text("review_host: 0.0.0.0\nreview_port: 9000\n")
    # Off loopback (issue 39): refused without the host names and the Secure cookie, so a
    # foreign Host header (DNS rebinding) cannot reach the sign-in page.
    runs = len(started)
    assert main(["serve", "--configfile", "batch.yaml"]) == 2
    assert "--allowed-host" in capsys.readouterr().err and len(started) == runs
    assert main(["serve", "--configfile", "batch.yaml", "--allowed-host",
                 "review.example.org"]) == 2  # no --secure-cookie
    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: (started.append(kw),
                                                           apps.append(app)))
    assert main(["serve", "--configfile", "batch.yaml", "--allowed-host",
                 "review.example.org", "--secure-cookie"]) == 0
    assert (started[-1]["host"], started[-1]["port"]) == ("0.0.0.0", 9000)
    client = TestClient(apps[-1], base_url="https://review.example.org")
    assert client.get("/login").status_code == 200
    assert client.get("/login", headers={"host": "rebound.attacker.example"}).status_code == 400
    assert main(["serve", "--configfile", "batch.yaml", "--host", "127.0.0.1",
                 "--port", "8800"]) == 0  # the command line wins
    assert (started[-1]["host"], started[-1]["port"]) == ("127.0.0.1", 8800)
    (tmp_path / "bad.yaml").write_text("review_port: 70000\n")
    assert main(["serve", "--configfile", "bad.yaml"]) == 1
    err = capsys.readouterr().err
    assert "review_port" in err and "Traceback" not in err


def test_sign_out_ends_the_session_and_a_forged_one_changes_nothing(batch):
    """Issue 39: sign-out with a wrong CSRF token cleared the cookie but kept the session.
    Now a forged sign-out is refused and leaves the session and its cookie; a real one ends
    the session on the server, so the old cookie no longer opens the queue."""
    client = _client(batch)
    _login(client)
    cookie = dict(client.cookies)
    page = client.get("/queue")
    assert page.status_code == 200
    forged = client.post("/logout", data={"csrf": "not-the-token"})
    assert forged.status_code == 403 and "still signed in" in forged.text
    assert "set-cookie" not in forged.headers
    assert client.get("/queue").status_code == 200  # still signed in
    signed_out = client.post("/logout", data={"csrf": _csrf(client.get("/queue").text)})
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"
    replay = _client(batch)
    replay.cookies.update(cookie)  # the cookie kept from before the sign-out
    assert replay.get("/queue").status_code == 303  # the session is gone on the server
