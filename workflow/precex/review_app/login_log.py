"""Every login attempt, in an append-only TSV (time, outcome, user, client address), and the
throttle.

An attempt is counted before its password is checked (30 concurrent wrong passwords were all
checked when the count came after): at most MAX_FAILURES failed attempts per user ID and
MAX_CLIENT_FAILURES per client address within WINDOW seconds, then that ID or address is
refused for the rest of the window whatever the password (each refusal logged too). The counts
are read back from the log at start, so a restart forgets nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

from precex.io.chained_log import locked
from precex.io.files import spreadsheet_cell

COLUMNS = ["time", "outcome", "user", "client"]
MAX_FAILURES = 5  # per user ID
MAX_CLIENT_FAILURES = 20  # per client address (one machine trying many IDs)
WINDOW = 15 * 60.0


def _clean(text: str) -> str:
    """One field, at most 100 characters, never a spreadsheet formula (the form's user-ID
    field is typed by anyone, signed in or not)."""
    return spreadsheet_cell(" ".join(str(text).split())[:100])


class LoginLog:
    def __init__(self, path: str) -> None:
        self.path = path
        self._by_user: dict[str, deque[float]] = defaultdict(deque)
        self._by_client: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._reload()

    def _reload(self) -> None:
        """The failed and throttled attempts of the last WINDOW seconds, from the log."""
        if not Path(self.path).exists():
            return
        since = time.time() - WINDOW
        for line in Path(self.path).read_text(encoding="utf-8").splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) != len(COLUMNS) or fields[1] not in ("failed", "throttled"):
                continue
            try:
                when = dt.datetime.fromisoformat(fields[0]).timestamp()
            except ValueError:
                continue
            if when >= since:
                self._by_user[fields[2]].append(when)
                self._by_client[fields[3]].append(when)

    def record(self, outcome: str, user: str, client: str) -> None:
        """Append one row: outcome is login, failed or throttled."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        line = "\t".join([now, outcome, _clean(user), _clean(client)]) + "\n"
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with locked(self.path):
            new = not Path(self.path).exists()
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(("\t".join(COLUMNS) + "\n" if new else "") + line)

    def begin(self, user: str, client: str) -> float | None:
        """Count an attempt before its password is checked: None when the user ID or the
        client is throttled (nothing is checked), else the attempt's mark for succeeded()."""
        now = time.time()
        with self._lock:
            for table, key, limit in ((self._by_user, _clean(user), MAX_FAILURES),
                                      (self._by_client, _clean(client), MAX_CLIENT_FAILURES)):
                recent = table[key]
                while recent and now - recent[0] > WINDOW:
                    recent.popleft()
                if len(recent) >= limit:
                    return None
            self._by_user[_clean(user)].append(now)
            self._by_client[_clean(client)].append(now)
        return now

    def succeeded(self, user: str, client: str, mark: float) -> None:
        """The attempt counted by begin() was right: it is not a failure."""
        with self._lock:
            for table, key in ((self._by_user, _clean(user)), (self._by_client, _clean(client))):
                if mark in table[key]:
                    table[key].remove(mark)

    def throttled(self, user: str) -> bool:
        with self._lock:
            recent = self._by_user[_clean(user)]
            now = time.time()
            while recent and now - recent[0] > WINDOW:
                recent.popleft()
            return len(recent) >= MAX_FAILURES
