"""Who may sign in to the review page: a TSV of user IDs and argon2id password hashes.

Made and changed only by `precex users add` / `precex users remove`; the page reads it at
every login, so a user added while the page runs can sign in at once and a removed one cannot.
The file holds hashes, never passwords, and is written with mode 0600 (owner only).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from precex.io.chained_log import locked
from precex.io.files import write_text
from precex.io.signatures import new_salt, public_key_text, signing_key
from precex.io.users_file import (  # noqa: F401  (re-exported: the users API in one place)
    COLUMNS,
    HEADER,
    RETIRED,
    User,
    read_users,
    signing_keys,
)
from precex.problems import InputError, Problem

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 12
HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
# Checked for an unknown user too, so that a reply's timing does not tell who exists.
_UNKNOWN_USER_HASH = HASHER.hash("precex: no such user")


def active_users(path: str) -> dict[str, User]:
    """The users who may sign in (removed users keep only their public key)."""
    return {k: u for k, u in read_users(path).items() if u.active}


def _write(path: str, users: dict[str, list[str]]) -> None:
    rows = ["\t".join(fields) for _, fields in sorted(users.items())]
    # Written under umask 077, so the file is never readable by others, not even between the
    # temporary file's creation and the rename (a chmod afterwards left a window at 0644).
    old = os.umask(0o077)
    try:
        write_text(path, "\n".join([HEADER, "\t".join(COLUMNS), *rows]) + "\n")
    finally:
        os.umask(old)
    os.chmod(path, 0o600)


def _rows(path: str) -> dict[str, list[str]]:
    """The rows in the current layout (an older file's users get empty key columns)."""
    read_users(path)  # checks the file
    lines = Path(path).read_text(encoding="utf-8").splitlines()[2:] \
        if Path(path).exists() else []
    return {line.split("\t")[0]: (line.split("\t") + ["", ""])[:len(COLUMNS)]
            for line in lines}


def add_user(path: str, *, user: str, password: str, name: str = "", replace: bool = False,
             now: dt.datetime | None = None) -> None:
    """Add a user (or with `replace`, set a new password for one)."""
    problems = []
    if not USER_ID.match(user):
        problems.append(Problem(path, f"user ID '{user}' is not usable.", "use 1-64 letters, "
                                "digits, '.', '_', '@' or '-' (your staff ID).", stage="users"))
    if len(password) < MIN_PASSWORD:
        problems.append(Problem(path, f"the password is shorter than {MIN_PASSWORD} "
                                "characters.", "choose a longer one (a passphrase).",
                                stage="users"))
    elif not password.strip() or len(set(password)) < 4 or password.casefold() in (
            user.casefold(), name.casefold()):
        # Twelve spaces, 'aaaaaaaaaaaa' or the user ID itself pass a length check only.
        problems.append(Problem(path, "the password is too easy to guess (blank, one or a few "
                                "characters repeated, or the user ID or name).",
                                "choose a passphrase of several words.", stage="users"))
    clean_name = " ".join(name.split())
    if problems:
        raise InputError(problems)
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with locked(path):
        rows = _rows(path)
        if user in rows and not replace and rows[user][2] != RETIRED:
            raise InputError([Problem(path, f"user '{user}' already exists.", "give --replace "
                                      "to set a new password.", stage="users")])
        twin = next((u for u in rows if u != user and u.casefold() == user.casefold()), None)
        if twin:  # 'Dr.Smith' beside 'dr.smith' reads as one person in every list
            raise InputError([Problem(path, f"user '{user}' differs only in case from the "
                                      f"existing user '{twin}'.", "use the existing ID, or "
                                      "one that differs in more than case.", stage="users")])
        salt = new_salt()  # a new password is a new signing key; the old one stays valid
        key = public_key_text(signing_key(password, salt))  # for what it signed: see users
        if user in rows and rows[user][5]:
            retired = f"{user}~{len([u for u in rows if u.startswith(user + '~')]) + 1}"
            rows[retired] = [retired, rows[user][1], RETIRED, rows[user][3], rows[user][4],
                             rows[user][5]]
        rows[user] = [user, clean_name or user, HASHER.hash(password), when, salt, key]
        _write(path, rows)


def remove_user(path: str, *, user: str) -> None:
    with locked(path):
        rows = _rows(path)
        if user not in rows or rows[user][2] == RETIRED:
            raise InputError([Problem(path, f"there is no user '{user}'.", "check the ID "
                                      "(the file lists them in its first column).",
                                      stage="users")])
        # no login any more; the public key stays, so their past decisions still verify
        rows[user][2] = RETIRED
        _write(path, rows)


def authenticate(path: str, user: str, password: str) -> User | None:
    """The user if the password is theirs, else None (same work for an unknown user)."""
    found = active_users(path).get(user)
    try:
        HASHER.verify(found.password_hash if found else _UNKNOWN_USER_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return found


def user_signing_key(path: str, user: str, password: str) -> Ed25519PrivateKey | None:
    """The user's signing key, once their password is known to be right (authenticate):
    derived from it, and checked against the public key in the users file. None for a user
    added before signed decisions (no key yet: set the password again)."""
    found = active_users(path).get(user)
    if found is None or not found.signing_salt or not found.public_key:
        return None
    key = signing_key(password, found.signing_salt)
    return key if public_key_text(key) == found.public_key else None
