"""Append-only TSV logs whose rows are chained by SHA-256 (trial allocation, clinician sign-off).

The chain starts from the SHA-256 of the log's header comment lines; each row's last field is
SHA-256(previous chain + TAB + the row's other fields joined by TAB). An edited, removed,
inserted or reordered row breaks the chain from that row on, and the reader names the row.
Appends hold an exclusive lock on the log so that two people signing at once cannot interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path

from precex.problems import InputError, Problem


def genesis(head: list[str]) -> str:
    return hashlib.sha256("\n".join(head).encode("utf-8")).hexdigest()


def link(previous: str, fields: list[str]) -> str:
    return hashlib.sha256((previous + "\t" + "\t".join(fields)).encode("utf-8")).hexdigest()


def verified_rows(path: str, lines: list[str], columns: list[str], *, stage: str,
                  fix: str) -> list[list[str]]:
    """The rows below the header comments and the column line, each checked against the chain.
    `lines` is the whole file; the first data line must be `columns`."""
    head = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")]
    if not body or body[0].split("\t") != columns:
        raise InputError([Problem(path, "the column header is missing or changed.",
                                  "restore the log from its backup.", stage=stage)])
    previous = genesis(head)
    rows = []
    for n, line in enumerate(body[1:], start=len(head) + 2):
        fields = line.split("\t")
        if len(fields) != len(columns) or link(previous, fields[:-1]) != fields[-1]:
            raise InputError([Problem(path, "this row was edited, removed or reordered (its "
                                      "SHA-256 chain does not match).", fix, row=n,
                                      stage=stage)])
        previous = fields[-1]
        rows.append(fields)
    return rows


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """An exclusive advisory lock on `path`.lock for the duration of an append."""
    lock_path = Path(str(path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
