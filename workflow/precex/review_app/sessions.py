"""Server-side sessions: the cookie carries only a random token; who is signed in, and the
session's CSRF token, stay in the server's memory (a restart signs everyone out).

A session starts anonymous (the login form needs a CSRF token too) and is replaced by a new
one at login, so a token seen before login is worthless after it (no session fixation).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

COOKIE = "precex_session"


@dataclass
class Session:
    csrf: str
    user: str | None = None
    name: str = ""
    flash: dict[str, Any] | None = None  # what the last decision recorded, shown once
    last_seen: float = field(default_factory=time.monotonic)
    key: Any = None  # the user's signing key, derived at login (never written anywhere)


def _key(token: str) -> str:
    # stored by digest: a memory dump of the table gives no usable cookie
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionStore:
    """Sessions by token, expiring after `idle_seconds` without a request."""

    def __init__(self, idle_seconds: float = 30 * 60) -> None:
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, user: str | None = None, name: str = "") -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), user=user, name=name)
        with self._lock:
            self._expire()
            self._sessions[_key(token)] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(_key(token))
            if session is None:
                return None
            now = time.monotonic()
            if now - session.last_seen > self.idle_seconds:
                del self._sessions[_key(token)]
                return None
            session.last_seen = now
            return session

    def end(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._sessions.pop(_key(token), None)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items()
                    if now - s.last_seen > self.idle_seconds]:
            del self._sessions[key]


def csrf_ok(session: Session | None, sent: str | None) -> bool:
    return bool(session and sent) and hmac.compare_digest(session.csrf, str(sent))
