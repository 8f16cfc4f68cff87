"""The review page (`precex serve`): the review queue, each plan with its report, and the
clinician's decision, appended to the same chained sign-off log as `precex signoff` by the same
code (precex.prescription.review.record_decision).

Everything is read fresh from the results folder and the log at each request, so a decision or
a rerun shows at once. A decision is taken under the signed-in user only (never a form field),
needs the session's CSRF token, and names the digest of the plan the page showed: a plan that
changed since (a rerun) is refused. Appends hold the log's file lock, so decisions taken at
once by several clinicians are all kept, in one unbroken chain.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from precex.prescription.fhir import FhirOptions, prescription_bundle
from precex.prescription.review import (
    load_prescription,
    record_decision,
    review_queue,
    trigger_text,
)
from precex.prescription.signoff import (
    DECISIONS,
    latest_decisions,
    prescription_digest,
    signoff_block,
    signoff_key,
    verify_signoff_log,
    with_signoff,
)
from precex.problems import InputError
from precex.reporting.patient import without_bidi
from precex.review_app.login_log import LoginLog
from precex.review_app.sessions import COOKIE, Session, SessionStore, csrf_ok
from precex.review_app.users import authenticate, user_signing_key

log = logging.getLogger("precex.review")
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
PASSWORD_CHECKS = 2  # argon2id checks at once (64 MiB each); more logins wait
CHECK_WAIT_SECONDS = 30.0  # then the page says the server is busy
MAX_BODY_BYTES = 64 * 1024  # a decision form with its note is a few kB
WEEK_FILE = re.compile(r"^(?P<pid>.+)\.week-(?P<week>[1-9][0-9]*)\.json$")
HEADERS = {
    # patient data: never cached, never framed by another site, no script, nothing fetched
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
    "data:; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Settings:
    results: str
    signoff_log: str
    users: str
    login_log: str
    fhir: FhirOptions = FhirOptions()
    secure_cookie: bool = False  # set behind a TLS proxy: the cookie then travels over https only
    idle_minutes: float = 30


def templates() -> Environment:
    env = Environment(loader=PackageLoader("precex.review_app", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, finalize=without_bidi)
    env.filters["q"] = lambda text: quote(str(text), safe="")
    return env


class ReviewPages:
    """The review page's handlers, one method each, sharing the settings, the templates, the
    session store and the login log (create_app routes them)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = templates()
        self.store = SessionStore(settings.idle_minutes * 60)
        self.logins = LoginLog(settings.login_log)
        self.checks = threading.BoundedSemaphore(PASSWORD_CHECKS)


    def page(self, name: str, session: Session | None, status: int = 200, **context: Any
             ) -> HTMLResponse:
        html = self.env.get_template(name).render(session=session, **context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def with_cookie(self, response: Response, token: str) -> Response:
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                            secure=self.settings.secure_cookie)
        return response

    def current(self, request: Request) -> tuple[str | None, Session | None]:
        token = request.cookies.get(COOKIE)
        return token, self.store.get(token)

    def hidden_paths(self, message: str) -> str:
        """A message without the server's folders: a page names files by their base name and
        the results folder as such (error pages showed the results path)."""
        for folder, name in ((str(Path(self.settings.results).resolve()), "the results folder"),
                             (self.settings.results, "the results folder")):
            message = message.replace(folder, name)
        return message

    def refused(self, session: Session | None, message: str, status: int) -> HTMLResponse:
        return self.page("message.html", session, status, title="Not recorded",
                         message=self.hidden_paths(message))

    async def home(self, request: Request) -> Response:
        _, session = self.current(request)
        return RedirectResponse("/queue" if session and session.user else "/login", 303)

    async def login_form(self, request: Request) -> Response:
        token, session = self.current(request)
        if session is None:
            token, session = self.store.new()
        return self.with_cookie(self.page("login.html", session), token)

    async def login(self, request: Request) -> Response:
        token, session = self.current(request)
        if session is None:  # no session from the login page: the body is not even read
            return self.refused(None, "Open the login page first (this form has no session).",
                                403)
        form = await request.form()
        if not csrf_ok(session, form.get("csrf")):
            return self.refused(session, "This login form has expired or has no security token. "
                                "Open the login page again.", 403)
        user, password = str(form.get("user", "")).strip(), str(form.get("password", ""))
        client = request.client.host if request.client else ""
        mark = self.logins.begin(user, client)  # counted before the password is checked
        if mark is None:
            await run_in_threadpool(self.logins.record, "throttled", user, client)
            return self.page("login.html", session, 429, error="Too many failed logins for this "
                             "user ID or from this computer: try again in 15 minutes, or ask "
                             "the administrator.")
        checked = await run_in_threadpool(self._check_password, user, password)
        if checked is None:
            return self.page("login.html", session, 503, error="The server is busy checking "
                             "other logins: try again in a minute.")
        found, key = checked
        if found is None:
            await run_in_threadpool(self.logins.record, "failed", user, client)
            return self.page("login.html", session, 401, error="Wrong user ID or password.")
        self.logins.succeeded(user, client, mark)
        await run_in_threadpool(self.logins.record, "login", user, client)
        self.store.end(token)  # a new session at login: the anonymous token is worthless now
        token, session = self.store.new(found.user, found.name)
        session.key = key
        return self.with_cookie(RedirectResponse("/queue", 303), token)

    async def logout(self, request: Request) -> Response:
        """Sign-out ends the session on the server, then clears the cookie. A form without
        the session's token (a forged or stale one) changes nothing and says so: the cookie is
        never cleared while its session lives on."""
        token, session = self.current(request)
        form = await request.form()
        if session and session.user and not csrf_ok(session, form.get("csrf")):
            return self.refused(session, "This sign-out form has expired or has no security "
                                "token: you are still signed in. Use Sign out on a page opened "
                                "now.", 403)
        self.store.end(token)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def _check_password(self, user: str, password: str) -> tuple[Any, Any] | None:
        """(the user or None, their signing key) - or None when PASSWORD_CHECKS checks are
        already running (each takes 64 MiB: 40 at once took the server to 2 GB)."""
        if not self.checks.acquire(timeout=CHECK_WAIT_SECONDS):
            return None
        try:
            found = authenticate(self.settings.users, user, password)
            # The signing key, derived from the password now (precex.io.signatures), lives in
            # the server-side session only, until sign-out or expiry.
            key = user_signing_key(self.settings.users, found.user, password) if found else None
            return found, key
        finally:
            self.checks.release()

    def signed_in(self, request: Request) -> Session | None:
        _, session = self.current(request)
        return session if session and session.user else None

    async def queue(self, request: Request) -> Response:
        session = self.signed_in(request)
        if session is None:
            return RedirectResponse("/login", 303)
        include_signed = request.query_params.get("all") == "1"
        rows = await run_in_threadpool(review_queue, self.settings.results,
                                       self.settings.signoff_log, users=self.settings.users,
                                       include_signed=include_signed)
        return self.page("queue.html", session, rows=rows.to_dict("records"),
                         include_signed=include_signed, results=self.settings.results,
                         log_problems=[p.describe(full_path=False)
                                       for p in rows.attrs.get("problems", [])])

    def _week(self, request: Request) -> int | None:
        text = request.query_params.get("week", "")
        return int(text) if text.isdigit() and int(text) > 0 else None

    def plan_view(self, patient_id: str, week: int | None) -> dict[str, Any]:
        p = load_prescription(self.settings.results, patient_id, week)
        digest = prescription_digest(p)
        key = signoff_key(patient_id, week)
        log = verify_signoff_log(self.settings.signoff_log, self.settings.users)
        history = log.rows
        mine = history[history["patient_id"] == key].to_dict("records")
        block = signoff_block(latest_decisions(history).get(key), digest)
        bundle = prescription_bundle(with_signoff(p, block), self.settings.fhir)
        careplan = bundle["entry"][0]["resource"]
        weeks = sorted(int(m["week"]) for f in (Path(self.settings.results) / "adaptations" /
                                               "prescriptions").glob(f"{patient_id}.week-*.json")
                       if (m := WEEK_FILE.match(f.name)) and m["pid"] == patient_id)
        adaptation = p.get("adaptation") or {}
        return {"p": p, "patient_id": patient_id, "week": week, "digest": digest,
                "block": block, "history": mine, "careplan_status": careplan["status"],
                "seen": mine[-1]["sequence"] if mine else "0", "weeks": weeks,
                "trigger": trigger_text(p), "adaptation": adaptation,
                "changes": adaptation.get("changes") or [],
                "report": self.report_name(patient_id, week),
                "log_problems": [p.describe(full_path=False) for p in log.problems]}

    def report_name(self, patient_id: str, week: int | None) -> str | None:
        name = f"{patient_id}.html" if week is None else f"{patient_id}.week-{week}.html"
        return name if self.report_path(name, week) else None

    def report_path(self, name: str, week: int | None) -> Path | None:
        folder = Path(self.settings.results) / ("reports" if week is None
                                                else "adaptations/reports")
        path = folder / name
        # the name must be one file directly in the folder (no '..', no other folder), and
        # no symbolic link (one to /etc/passwd was served)
        try:
            if "/" in name or "\\" in name or name.startswith(".") or path.is_symlink() \
                    or not path.is_file():
                return None
        except (OSError, ValueError):  # a name too long for the file system
            return None
        return path

    async def patient(self, request: Request) -> Response:
        session = self.signed_in(request)
        if session is None:
            return RedirectResponse("/login", 303)
        patient_id, week = request.path_params["patient_id"], self._week(request)
        try:
            view = await run_in_threadpool(self.plan_view, patient_id, week)
        except InputError as err:
            return self.page("message.html", session, 404, title="Not found",
                             message=self.hidden_paths("; ".join(
                                 p.describe(full_path=False) for p in err.problems)))
        flash, session.flash = getattr(session, "flash", None), None
        return self.page("patient.html", session, flash=flash, **view)

    async def decide(self, request: Request) -> Response:
        session = self.signed_in(request)
        if session is None:  # checked before the body is read
            return self.refused(None, "You are not signed in (or your session expired): "
                                "nothing was recorded. Sign in and decide again.", 401)
        form = await request.form()
        if not csrf_ok(session, form.get("csrf")):
            return self.refused(session, "This form has no valid security token (CSRF): "
                                "nothing was recorded. Reload the page and decide again.", 403)
        patient_id = request.path_params["patient_id"]
        week_text = str(form.get("week", ""))
        week = int(week_text) if week_text.isdigit() and int(week_text) > 0 else None
        decision = str(form.get("decision", ""))
        if decision not in DECISIONS:
            return self.refused(session, f"'{decision}' is not a decision: nothing was recorded.",
                                400)
        if session.key is None:
            return self.refused(session, "Your user has no signing key yet (added before "
                                "decisions were signed): nothing was recorded. Ask the "
                                "administrator to set your password again (precex users add "
                                "--replace), then sign in again.", 403)
        try:
            row = await run_in_threadpool(
                record_decision, self.settings.results, self.settings.signoff_log,
                users=self.settings.users, key=session.key, patient_id=patient_id, week=week,
                decision=decision, signed_by=session.user, note=str(form.get("note", "")),
                seen_digest=str(form.get("digest", "")))
        except InputError as err:
            status = 409 if type(err).__name__ == "StalePage" else 400
            return self.refused(session, "; ".join(p.describe(full_path=False)
                                              for p in err.problems), status)
        since = await run_in_threadpool(self._decided_since, signoff_key(patient_id, week),
                                        str(form.get("seen", "0")), row["sequence"])
        session.flash = {"row": row, "since": since}
        target = f"/patients/{quote(patient_id, safe='')}" + (f"?week={week}" if week else "")
        return RedirectResponse(target, 303)

    def _decided_since(self, key: str, seen: str, mine: str) -> list[dict[str, str]]:
        """Decisions on the same plan recorded after the page was opened, before this one."""
        history = verify_signoff_log(self.settings.signoff_log, self.settings.users).rows
        seq = history["sequence"].astype(int)
        low = int(seen) if seen.isdigit() else 0
        return history[(history["patient_id"] == key) & (seq > low) & (seq < int(mine))
                       ].to_dict("records")

    async def fhir(self, request: Request) -> Response:
        """The plan's FHIR bundle with the sign-off as it stands now in the log."""
        if self.signed_in(request) is None:
            return RedirectResponse("/login", 303)
        try:
            view = await run_in_threadpool(self.plan_view, request.path_params["patient_id"],
                                           self._week(request))
        except InputError as err:
            return JSONResponse({"error": str(err)}, 404, headers=HEADERS)
        bundle = prescription_bundle(with_signoff(view["p"], view["block"]), self.settings.fhir)
        return Response(json.dumps(bundle, indent=1, sort_keys=True), headers=HEADERS,
                        media_type="application/fhir+json")

    async def report(self, request: Request) -> Response:
        if self.signed_in(request) is None:
            return RedirectResponse("/login", 303)
        name = request.path_params["name"]
        match = re.match(r"^.+\.week-(?P<week>[1-9][0-9]*)\.html$", name)
        path = self.report_path(name, int(match["week"]) if match else None)
        if path is None:
            return self.page("message.html", self.signed_in(request), 404, title="Not found",
                             message=f"There is no report '{name}'.")
        headers = {**HEADERS, "Content-Security-Policy": "default-src 'none'; style-src "
                   "'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"}
        return FileResponse(path, media_type="text/html", headers=headers)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, _BodyTooLarge):  # a chunked body past the limit, while read
            return self.refused(None, "Request too large: nothing was recorded.", 413)
        log.exception("review page error on %s", request.url.path, exc_info=exc)
        return self.refused(None, "Something went wrong on the server; nothing was recorded unless "
                            "the queue shows it. The server's terminal has the details.", 500)


class BodyLimit:
    """Refuses a request whose body is larger than `limit` bytes with 413, by its
    Content-Length before anything is read, or as it arrives (a chunked upload): a 400 MB POST
    was read whole before the session check."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            await _too_large(send)
            return
        seen = 0

        async def bounded() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, bounded, send)
        except _BodyTooLarge:
            await _too_large(send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Any) -> None:
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": b"Request too large: nothing was "
                b"recorded.\n"})


def create_app(settings: Settings, allowed_hosts: list[str] | None = None) -> Starlette:
    pages = ReviewPages(settings)
    routes = [
        Route("/", pages.home),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/queue", pages.queue),
        Route("/patients/{patient_id:str}", pages.patient),
        Route("/patients/{patient_id:str}/decision", pages.decide, methods=["POST"]),
        Route("/patients/{patient_id:str}/fhir", pages.fhir),
        Route("/reports/{name:str}", pages.report),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or ["*"]),
                  Middleware(BodyLimit, limit=MAX_BODY_BYTES)]
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={Exception: pages.server_error})
