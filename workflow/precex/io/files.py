"""Deterministic, atomic file output.

Outputs are written to a temporary file in the target directory and renamed into place, so a
killed job never leaves a partial file that looks complete. Tables are written with a fixed
float format and row order, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas loads only in the functions that use it: a report kernel
    import pandas as pd  # writes files through this module and needs no pandas (0.4 s)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    The temporary name carries the process and thread, so concurrent writers never share one;
    a plain name costs a quarter of mkstemp's random one, which matters at ten files a patient,
    and the file gets the usual mode (umask) without a chmod."""
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def job_folder() -> Any:
    """An output field that is a folder (a Snakemake directory()): the stage runner fills it under a
    hidden staging name and renames it whole when the stage succeeds."""
    return dataclasses.field(metadata={"job_folder": True})


def optional_job_folder() -> Any:
    """An optional output folder (None: not written), staged like job_folder()."""
    return dataclasses.field(default=None, metadata={"job_folder": True})


def staging_folder(path: str | os.PathLike[str]) -> Path:
    """The hidden sibling in which a job's output folder is filled: `.{name}.partial`."""
    target = Path(path)
    return target.parent / f".{target.name}.partial"


@contextmanager
def staged_folders(paths: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Fill each output folder (name -> path) under its hidden staging name and rename it onto
    its real name only when the block succeeds: a folder appears whole or not at all, so a job
    killed midway (SIGKILL, a node failure: no cleanup runs) leaves no half-written report under
    a real name. A staging folder left by a killed job is removed before the next attempt."""
    staged = {}
    for name, path in paths.items():
        staging = staging_folder(path)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        staged[name] = str(staging)
    try:
        yield staged
        for name, path in paths.items():
            if os.path.lexists(path):  # Snakemake removes it first; an older copy if not
                shutil.rmtree(path)
            os.rename(staged[name], path)
    finally:
        for staging in staged.values():
            shutil.rmtree(staging, ignore_errors=True)


def write_in_job_folder(path: str | os.PathLike[str], data: str | bytes) -> None:
    """A file in a folder that a job declares as its output (a Snakemake directory()),
    written in place: the folder is filled under a hidden staging name and renamed whole when
    the job succeeds (staged_folders, done by the stage runner), so a partial file never takes
    a real name; the temporary name and rename of write_text per file would only cost time
    (a third of a write).
    Written with os.open/os.write: Python's buffered open adds a terminal check, a seek and a
    stat per file (tens of thousands of files a batch); the bytes and the mode are the same."""
    payload = data if isinstance(data, bytes) else data.encode("utf-8")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o666)  # the umask applies, as with open()
    except FileNotFoundError:  # the folder itself not made yet
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o666)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_if_changed(path: str | os.PathLike[str], text: str) -> bool:
    """Write only when the content differs, keeping the old mtime otherwise, so Snakemake
    reruns only the jobs whose input really changed. Returns whether it wrote."""
    target = Path(path)
    if target.is_file() and target.read_bytes() == text.encode("utf-8"):
        return False
    write_text(target, text)
    return True


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json_dumps(obj))


def json_dumps(obj: Any) -> str:
    """Compact, key-sorted JSON: deterministic, and fast (indent would force the pure-Python
    encoder, ~4x slower at 10,000 patients). Pretty-print with `python -m json.tool`."""
    return canonical_json(obj) + "\n"


def canonical_json(obj: Any) -> str:
    """json_dumps' text without its line end (what a sign-off digest is taken over)."""
    return _JSON.encode(obj)


# Built once: json.dumps with options builds an encoder per call.
_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False,
                         separators=(",", ":"))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula: one starting with =, +, -, @, a tab
    or a carriage return gets a leading apostrophe (OWASP's advice for CSV injection), unless
    it is a number ('-2.5' stays a number)."""
    if not text.startswith(FORMULA_START):
        return text
    try:
        float(text)
        return text
    except ValueError:
        return "'" + text


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell (and text index) made safe by spreadsheet_cell."""
    from pandas.api.types import is_string_dtype

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or is_string_dtype(out[col].dtype):
            out[col] = out[col].map(lambda v: spreadsheet_cell(v) if isinstance(v, str) else v)
    if out.index.dtype == object or is_string_dtype(out.index.dtype):
        out.index = out.index.map(lambda v: spreadsheet_cell(v) if isinstance(v, str) else v)
    return out


def write_tsv(path: str | os.PathLike[str], frame: pd.DataFrame, index: bool = False,
              spreadsheet: bool = False) -> None:
    """A table as TSV. `spreadsheet`: a table people open in a spreadsheet (exclusions,
    problems, host profiles, prescriptions): text that a spreadsheet would run as a formula
    is written as text (spreadsheet_cell)."""
    if spreadsheet:
        frame = spreadsheet_safe(frame)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=index, float_format="%.6g", lineterminator="\n")


def read_delimited(path: str, stage: str, what: str) -> pd.DataFrame:
    """A CSV (by its .csv/.csv.gz name) or TSV table as text; unreadable files are InputError."""
    import pandas as pd

    from precex.problems import InputError, Problem

    sep = "," if path.lower().endswith((".csv", ".csv.gz")) else "\t"
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError([Problem(path, "file not found.", f"check the {what} path.",
                                  stage=stage)]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError([Problem(path, f"cannot be read as a table ({err}).",
                                  "give a TSV/CSV with a header row.", stage=stage)]) from None


def sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


BLOOD_SUFFIXES = (".json", ".ndjson", ".ndjson.gz", ".jsonl", ".tsv", ".csv", ".txt", ".tsv.gz",
                  ".csv.gz")


def expand_inputs(paths: str | list[str] | None,
                  suffixes: tuple[str, ...] = BLOOD_SUFFIXES) -> list[str]:
    """Files named by a config value: one path, a list, or folders (their files, sorted)."""
    if not paths:
        return []
    out: list[str] = []
    for path in [paths] if isinstance(paths, str) else list(paths):
        if os.path.isdir(path):
            out += sorted(os.path.join(path, f) for f in os.listdir(path)
                          if f.lower().endswith(suffixes) and not f.startswith("."))
        else:
            out.append(path)
    return out


GZIP_MAGIC = b"\x1f\x8b"


# Bounds on what one input file may expand to (resources/limits.yaml holds the values with their
# reasons): a 2 MB gzip that inflates to a 2 GiB line once took 160 s and 6.5 GB (issue 39).
LIMITS = {}  # filled from resources/limits.yaml on first use


def input_limits() -> dict[str, int]:
    if not LIMITS:
        import yaml

        from precex.paths import resource_path

        with open(resource_path("limits.yaml"), encoding="utf-8") as handle:
            LIMITS.update({k: int(v) for k, v in yaml.safe_load(handle).items()
                           if isinstance(v, int)})
    return LIMITS


class InputTooLarge(ValueError):
    """An input beyond precex's bounds (decompressed size, line length, nesting)."""


class _Bounded(io.RawIOBase):
    """A decompressed stream that stops at `limit` bytes with InputTooLarge."""

    def __init__(self, raw: Any, limit: int) -> None:
        self.raw, self.limit, self.seen = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.seen += len(data)
        if self.seen > self.limit:
            raise InputTooLarge(f"decompresses to more than {self.limit / 2**30:g} GiB")
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


class _Lines(io.TextIOWrapper):
    """Text lines of at most `limit` characters: a longer one raises InputTooLarge before it is
    held in memory."""

    line_limit = 0

    def __next__(self) -> str:
        line = self.readline(self.line_limit + 1)
        if not line:
            raise StopIteration
        if len(line) > self.line_limit and not line.endswith("\n"):
            raise InputTooLarge(f"has a line longer than {self.line_limit:,} characters")
        return line


def open_input(path: str | os.PathLike[str], mode: str = "rb", **kwargs: Any) -> Any:
    """Open an input file, gzip-compressed or not (told by its first bytes, not its name). A
    compressed file stops at the decompressed-size bound, and text lines at the line bound
    (resources/limits.yaml), with InputTooLarge: the readers turn it into an input problem
    that names the file."""
    import gzip

    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    limits = input_limits()
    raw: Any = gzip.open(path, "rb") if compressed else open(path, "rb")  # noqa: SIM115
    if compressed:
        raw = io.BufferedReader(_Bounded(raw, limits["max_decompressed_bytes"]))
    if "b" in mode:
        return raw
    text = _Lines(raw, **kwargs)
    text.line_limit = limits["max_line_characters"]
    return text
