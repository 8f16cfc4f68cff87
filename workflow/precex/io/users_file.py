"""The review users file as every reader needs it: who the users are, their public signing
keys (precex.io.signatures) and the argon2id password hashes precex.review_app.users checks.
Made and changed only by `precex users add` / `precex users remove`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from precex.problems import InputError, Problem

HEADER = "# precex review users (argon2id password hashes; edit with precex users add/remove)"
# signing_salt and public_key: the user's Ed25519 key for signing decisions, derived from the
# password (precex.io.signatures); files written before signed decisions lack both columns.
COLUMNS = ["user", "name", "password_hash", "added_at", "signing_salt", "public_key"]
OLD_COLUMNS = COLUMNS[:4]
RETIRED = "!"  # the password hash of a removed user: no login, the public key kept


@dataclass(frozen=True)
class User:
    user: str
    name: str
    password_hash: str
    signing_salt: str = ""
    public_key: str = ""  # kept after removal, so the decisions they signed still verify

    @property
    def active(self) -> bool:
        return self.password_hash != RETIRED


def read_users(path: str) -> dict[str, User]:
    """user ID -> User; an absent file has no users."""
    file = Path(path)
    if not file.exists():
        return {}
    lines = file.read_text(encoding="utf-8").splitlines()
    layout = lines[1].split("\t") if len(lines) > 1 else []
    if not lines or lines[0] != HEADER or layout not in (COLUMNS, OLD_COLUMNS):
        raise InputError([Problem(path, "not a precex users file.", "make it with `precex "
                                  "users add --users FILE --user ID`.", stage="users")])
    users = {}
    for n, line in enumerate(lines[2:], start=1):
        fields = line.split("\t")
        if len(fields) != len(layout):
            raise InputError([Problem(path, "this row is damaged.", "remove the user with "
                                      "`precex users remove` and add them again.", row=n,
                                      stage="users")])
        keys = fields[4:6] if len(fields) == len(COLUMNS) else ["", ""]
        users[fields[0]] = User(fields[0], fields[1], fields[2], *keys)
    return users


def signing_keys(users: dict[str, User], user: str) -> list[str]:
    """Every public key `user` has signed with: the current one and those of earlier
    passwords (kept as '<user>~N' when the password changed)."""
    return [u.public_key for name, u in users.items()
            if u.public_key and (name == user or name.startswith(user + "~"))]
