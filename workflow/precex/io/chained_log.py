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
                  fix: str, extra_fields: int = 0) -> list[list[str]]:
    """The rows below the header comments and the column line, each checked against the chain.
    `lines` is the whole file; the first data line must be `columns` (the chain last), then
    `extra_fields` columns the chain does not cover (a signature of the chain)."""
    head = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")]
    width = len(columns) + extra_fields
    if not body or len(body[0].split("\t")) != width or \
            body[0].split("\t")[:len(columns)] != columns:
        raise InputError([Problem(path, "the column header is missing or changed.",
                                  "restore the log from its backup.", stage=stage)])
    previous = genesis(head)
    rows = []
    chain_at = len(columns) - 1
    for n, line in enumerate(body[1:], start=len(head) + 2):
        fields = line.split("\t")
        if len(fields) != width or link(previous, fields[:chain_at]) != fields[chain_at]:
            raise InputError([Problem(path, "this row was edited, removed or reordered (its "
                                      "SHA-256 chain does not match).", fix, row=n,
                                      stage=stage)])
        previous = fields[chain_at]
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
