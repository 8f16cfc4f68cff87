"""Every login attempt, in an append-only TSV (time, outcome, user, client address), and the
throttle: after MAX_FAILURES failed logins for one user ID within WINDOW seconds, that ID is
refused for WINDOW seconds whatever the password (each refusal logged too)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

from precex.io.chained_log import locked
from precex.io.files import spreadsheet_cell

COLUMNS = ["time", "outcome", "user", "client"]
MAX_FAILURES = 5
WINDOW = 15 * 60.0


def _clean(text: str) -> str:
    """One field, at most 100 characters, never a spreadsheet formula (the form's user-ID
    field is typed by anyone, signed in or not)."""
    return spreadsheet_cell(" ".join(str(text).split())[:100])


class LoginLog:
    def __init__(self, path: str) -> None:
        self.path = path
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def record(self, outcome: str, user: str, client: str) -> None:
        """Append one row: outcome is login, failed or throttled."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        line = "\t".join([now, outcome, _clean(user), _clean(client)]) + "\n"
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with locked(self.path):
            new = not Path(self.path).exists()
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(("\t".join(COLUMNS) + "\n" if new else "") + line)
        if outcome == "failed":
            with self._lock:
                self._failures[user].append(time.monotonic())

    def throttled(self, user: str) -> bool:
        with self._lock:
            recent = self._failures[user]
            now = time.monotonic()
            while recent and now - recent[0] > WINDOW:
                recent.popleft()
            return len(recent) >= MAX_FAILURES
