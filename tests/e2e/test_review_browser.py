"""The review page in a real browser: `precex serve` on the demo run's results, driven by
Playwright in headless Chromium (Debian's, the same one the report tests use). Log in, the
queue, a report, approve / amend / reject, a wrong password, a form without its CSRF token,
and 50 concurrent decisions whose sign-off log chain still verifies."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from precex.prescription.review import review_queue
from precex.prescription.signoff import read_signoff_log, signoff_key

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORDS = {"dr.a": "correct horse battery", "dr.b": "staple battery horse",
             "dr.c": "horse staple correct"}
SCREENSHOT = Path(__file__).resolve().parents[2] / "resources" / "docs" / "review-page.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _precex(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "precex.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


@contextlib.contextmanager
def _server(results: Path, state: Path) -> Iterator[str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "precex.cli", "serve", "--results", str(results),
           "--users", str(state / "users.tsv"), "--signoff-log", str(state / "signoffs.tsv"),
           "--login-log", str(state / "logins.tsv"), "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert server.poll() is None, server.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "precex serve did not start within 60 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        err = server.stderr.read()
        server.stdout.close()
        server.stderr.close()
        assert "Traceback" not in err, err[-3000:]


@pytest.fixture(scope="module")
def review(demo_run, tmp_path_factory):
    """(base URL, state folder) of a review page on the demo results, three users made by
    `precex users add` (password on standard input)."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package)")
    pytest.importorskip("playwright.sync_api")
    state = tmp_path_factory.mktemp("review")
    for user, password in PASSWORDS.items():
        made = _precex("users", "add", "--users", str(state / "users.tsv"), "--user", user,
                       "--password-stdin", stdin=password + "\n")
        assert made.returncode == 0, made.stderr
    with _server(demo_run, state) as url:
        yield url, state


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def _log_in(browser, url: str, user: str = "dr.a", password: str | None = None):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", PASSWORDS[user] if password is None else password)
    page.click("button[type=submit]")
    # the click returns once the next page is committed, not parsed: a locator's count()
    # does not wait, so a busy machine could count the queue's rows before they exist
    page.wait_for_load_state("load")
    return page


def _decide(page, decision: str, note: str = "") -> str:
    form = page.locator(f"#form-{decision}")
    if note:
        form.locator("textarea[name=note]").fill(note)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    return page.locator("#decision-recorded").inner_text()


def _log(state):
    return read_signoff_log(str(state / "signoffs.tsv"), str(state / "users.tsv"))


def test_log_in_see_the_queue_most_urgent_first_and_open_a_report(review, browser, demo_run):
    url, state = review
    page = _log_in(browser, url)
    assert page.url == f"{url}/queue"
    rows = page.locator("#queue tbody tr")
    shown = [(rows.nth(i).get_attribute("data-patient"), rows.nth(i).get_attribute("data-week"))
             for i in range(rows.count())]
    expected = review_queue(str(demo_run), str(state / "signoffs.tsv"),
                            users=str(state / "users.tsv"))
    assert shown == [(r["patient_id"], str(r["week"])) for r in expected.to_dict("records")]
    assert len(shown) > 5
    # the most urgent first: stopped weeks, then a current fever, then the rest
    classes = [rows.nth(i).get_attribute("class") or "" for i in range(rows.count())]
    rank = [0 if "stop" in c else 1 if "urgent" in c else 2 for c in classes]
    assert rank == sorted(rank) and rank[0] < 2, classes
    first = rows.nth(0)
    trigger = first.locator("td.trigger").inner_text()
    if not first.get_attribute("data-week"):  # the triggering values, not only a rule name
        plan = json.loads((demo_run / f"prescriptions/{shown[0][0]}.json").read_text())
        fever = next(t for t in plan["trace"] if t["rule_id"] == "SAFETY_FEVER")
        assert fever["applied"] and fever["title"] in trigger
        for name, value in fever["inputs"].items():
            if value not in (None, False, ""):
                assert f"{name}: {'yes' if value is True else value}" in trigger, trigger
    assert first.locator("td.action").inner_text().strip()
    # open the first unsigned prescription and read its report inside the page
    pid = next(p for p, w in shown if not w)
    page.click(f'#queue tr[data-patient="{pid}"][data-week=""] a')
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text().startswith(f"{pid}: prescription")
    report = page.frame_locator("iframe#report")
    assert pid in report.locator("body").inner_text(timeout=20_000)
    assert "Precision exercise prescription" in report.locator("body").inner_text()
    page.close()


def test_approve_amend_and_reject_in_the_browser_each_logged_and_the_fhir_status_follows(
        review, browser, demo_run):
    url, state = review
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    prescribed = summary.loc[summary["status"] == "prescribed", "patient_id"].tolist()
    assert len(prescribed) >= 3
    first, second, third = prescribed[:3]
    page = _log_in(browser, url, "dr.b")
    page.goto(f"{url}/patients/{first}")
    assert page.locator("#careplan-status").inner_text() == "draft"
    recorded = _decide(page, "approve")
    assert "approve" in recorded and "by dr.b" in recorded
    assert page.locator("#careplan-status").inner_text() == "active"
    assert "approved" in page.locator("#signoff-state").inner_text()

    page.goto(f"{url}/patients/{second}")
    page.locator("#form-amend button[type=submit]").click()  # no note: the browser refuses
    assert page.locator("#decision-recorded").count() == 0
    recorded = _decide(page, "amend", "aerobic 20 min per session, not 30, until week 3")
    assert "amend" in recorded and "aerobic 20 min per session" in recorded
    assert page.locator("#careplan-status").inner_text() == "active"

    page.goto(f"{url}/patients/{third}")
    recorded = _decide(page, "reject", "platelets falling: wait for the next count")
    assert "reject" in recorded
    assert page.locator("#careplan-status").inner_text() == "revoked"
    history = page.locator("#history tbody tr")
    assert history.count() == 1 and "dr.b" in history.nth(0).inner_text()
    bundle = page.request.get(f"{url}/patients/{third}/fhir").json()
    assert bundle["entry"][0]["resource"]["status"] == "revoked"

    log = _log(state)
    mine = log[log["patient_id"].isin([first, second, third])]
    assert mine[["patient_id", "decision", "signed_by"]].values.tolist() == [
        [first, "approve", "dr.b"], [second, "amend", "dr.b"], [third, "reject", "dr.b"]]
    page.goto(f"{url}/queue")  # the approved plan has left the queue
    assert page.locator(f'#queue tr[data-patient="{first}"][data-week=""]').count() == 0
    page.close()


def test_a_wrong_password_is_refused_and_logged(review, browser):
    url, state = review
    page = _log_in(browser, url, "dr.c", password="not the password at all")
    assert page.url == f"{url}/login"
    assert "Wrong user ID or password" in page.content()
    page.goto(f"{url}/queue")
    assert page.url == f"{url}/login"  # still out
    log = pd.read_csv(state / "logins.tsv", sep="\t", dtype=str)
    assert [["failed", "dr.c"]] == \
        log.loc[log["user"] == "dr.c", ["outcome", "user"]].values.tolist()
    assert PASSWORDS["dr.c"] not in (state / "logins.tsv").read_text()
    page.close()


def test_a_form_without_its_csrf_token_is_refused(review, browser, demo_run):
    url, state = review
    before = len(_log(state))
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    pid = summary["patient_id"].iloc[-1]
    page = _log_in(browser, url)
    page.goto(f"{url}/patients/{pid}")
    page.evaluate("document.querySelector('#form-approve input[name=csrf]').remove()")
    page.locator("#form-approve button[type=submit]").click()
    page.wait_for_load_state()
    assert "CSRF" in page.content()
    assert page.locator("#decision-recorded").count() == 0
    assert len(_log(state)) == before
    page.close()


def test_fifty_concurrent_decisions_keep_every_row_and_the_chain(review, demo_run):
    """Three signed-in users, 50 decisions at once (8 threads) on a handful of patients: each
    decision is one row under its own user, and the chain verifies (read_signoff_log
    checks every row's hash)."""
    import httpx2

    url, state = review
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    patients = summary["patient_id"].tolist()[:5]
    clients = {}
    for user, password in PASSWORDS.items():
        client = httpx2.Client(base_url=url, timeout=60)
        form = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        done = client.post("/login", data={"csrf": csrf, "user": user, "password": password})
        assert done.status_code == 303, done.text
        clients[user] = client

    def fields(user: str, pid: str) -> dict[str, str]:
        html = clients[user].get(f"/patients/{pid}").text
        form = html[html.index('id="form-amend"'):]
        return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)[:5])

    users = list(PASSWORDS)
    jobs = [(users[i % 3], patients[i % len(patients)], f"concurrent note {i}") for i in range(50)]
    forms = {(u, p): fields(u, p) for u, p, _ in jobs}
    before = len(_log(state))

    def post(job: tuple[str, str, str]) -> int:
        user, pid, note = job
        return clients[user].post(f"/patients/{pid}/decision",
                                  data={**forms[user, pid], "note": note}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(post, jobs))
    for client in clients.values():
        client.close()
    assert codes == [303] * 50
    # raises if the chain or a signature is broken
    log = _log(state)
    new = log.iloc[before:]
    assert len(new) == 50 and log["sequence"].astype(int).tolist() == list(range(1, len(log) + 1))
    got = sorted(zip(new["patient_id"], new["signed_by"], new["note"], strict=True))
    assert got == sorted((signoff_key(p), u, n) for u, p, n in jobs)


def test_screenshot_of_the_review_page_for_the_readme(review, browser, demo_run, tmp_path):
    """The README's picture is taken here from the demo run; it is rewritten only when
    PRECEX_UPDATE_SCREENSHOT=1 (so a test run leaves the checkout as it was)."""
    url, _ = review
    page = _log_in(browser, url, "dr.a")
    rows = page.locator("#queue tbody tr")
    rows.first.wait_for()
    assert rows.count() > 0
    pid = rows.nth(0).get_attribute("data-patient")
    week = rows.nth(0).get_attribute("data-week")
    page.goto(f"{url}/patients/{pid}" + (f"?week={week}" if week else ""))
    page.frame_locator("iframe#report").locator("body").wait_for()
    shot = tmp_path / "review-page.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("PRECEX_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    page.close()
