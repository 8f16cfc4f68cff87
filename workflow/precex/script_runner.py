"""Run one workflow step from a Snakemake `script:` shim with clear errors and a log file.

Every stage entry point is a function `run(*, inputs, outputs, params)` whose three arguments
are dataclasses naming what the rule gives it; `run_stage(snakemake, entry)` builds them from
the rule's named input, output and params and calls the entry by keyword, so a shim is one
line and a rule and its stage cannot silently disagree on a name.

Input problems (InputError) are written to the rule's log and to stderr as plain sentences
naming the file, row and fix, and the job fails without a Python traceback. Unexpected errors
keep their traceback in the log file only, for the developers.
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import logging
import os
import sys
import time
import traceback
import types
import typing
from collections.abc import Callable
from typing import Any

from precex.io.files import staged_folders
from precex.problems import InputError

JOB_GC_THRESHOLDS = (50_000, 20, 100)  # gc.set_threshold's generations 0, 1, 2


def _coerce(value: Any, kind: Any) -> Any:
    """A Snakemake value (a path, a list of paths as a Namedlist, a param) as `kind` says."""
    origin = typing.get_origin(kind)
    listed = isinstance(value, list | tuple)  # Snakemake's Namedlist is a list
    if kind is str:
        if listed:
            if len(value) != 1:
                raise TypeError(f"one path expected, got {len(value)}")
            return str(value[0])
        return str(value)
    if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind):
        if value is None or (listed and not value) or value == "":
            return None
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        return _coerce(value, inner[0]) if len(inner) == 1 else value
    if origin is list:
        (item,) = typing.get_args(kind) or (Any,)
        items = list(value) if listed else [value]
        return [str(v) for v in items] if item is str else items
    if origin is dict:
        return {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in dict(value).items()}
    if kind in (bool, int, float):
        return kind(value)
    return value


def stage_arguments(entry: Callable[..., Any], rule: str, named: dict[str, Any]
                    ) -> dict[str, Any]:
    """The `inputs`, `outputs` and `params` dataclasses of `entry`, filled from `named` (what ->
    {name: value}); a field the rule does not give is an error naming rule and field."""
    hints = typing.get_type_hints(entry)
    out = {}
    for what in ("inputs", "outputs", "params"):
        cls = hints[what]
        fields = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in named[what]:
                try:
                    values[f.name] = _coerce(named[what][f.name], fields[f.name])
                except (TypeError, ValueError) as err:
                    raise RuntimeError(f"rule {rule}: {what[:-1]} '{f.name}': {err}") from None
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RuntimeError(f"rule {rule} has no {what[:-1]} '{f.name}', which "
                                   f"{entry.__module__}.{entry.__name__} needs")
        out[what] = cls(**values)
    return out


def run_stage(snakemake: Any, entry: Callable[..., None]) -> None:
    """Call `entry(inputs=..., outputs=..., params=...)` with the rule's named files and
    params, with run_step's error handling."""
    def named(items: Any) -> dict[str, Any]:
        return {k: getattr(items, k) for k in items.keys()}

    def step() -> None:
        arguments = stage_arguments(entry, snakemake.rule, {
            "inputs": named(snakemake.input), "outputs": named(snakemake.output),
            "params": named(snakemake.params)})
        outputs = arguments["outputs"]
        folders = {f.name: getattr(outputs, f.name) for f in dataclasses.fields(outputs)
                   if f.metadata.get("job_folder") and getattr(outputs, f.name)}
        # The job's cores, for an entry that can use them (precex.workers); a rule's thread
        # count is never a param: a run on more cores must not rerun the job.
        cores = ({"threads": int(snakemake.threads)}
                 if "threads" in inspect.signature(entry).parameters else {})
        with staged_folders(folders) as staged:
            entry(**{**arguments, "outputs": dataclasses.replace(outputs, **staged)}, **cores)

    run_step(snakemake, step)


def _job_record(snakemake: Any, handler: logging.Handler | None) -> logging.Logger:
    """A logger that writes to the job's log file only (not the terminal, where Snakemake
    already says which job finished)."""
    record = logging.getLogger("precex.job")
    record.handlers = [handler] if handler else [logging.NullHandler()]
    record.propagate = False
    record.setLevel(logging.INFO)
    return record


def _files(named: Any) -> list[str]:
    """The paths of Snakemake's input or output list (named or not)."""
    if named is None:
        return []
    try:
        return [str(f) for f in named]
    except TypeError:  # a namespace with keys() only
        return [str(getattr(named, k)) for k in named.keys()]


def _wildcards(snakemake: Any) -> str:
    wildcards = getattr(snakemake, "wildcards", None)
    items = dict(wildcards.items()) if hasattr(wildcards, "items") else {}
    return " (" + ", ".join(f"{k}={v}" for k, v in items.items()) + ")" if items else ""


def _described(path: str) -> str:
    """An output as the log names it: a file with its size, a folder with its file count."""
    if os.path.isdir(path):
        count = sum(len(files) for _, _, files in os.walk(path))
        return f"{path} ({count} file{'s' if count != 1 else ''})"
    if os.path.isfile(path):
        return f"{path} ({os.path.getsize(path):,} bytes)"
    return f"{path} (not written)"


def run_step(snakemake: Any, step: Callable[[], None]) -> None:
    log_path = snakemake.log[0] if len(snakemake.log) else None
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [terminal]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(levelname)s %(name)s: %(message)s")
    # A notebook kernel's own stderr (shutdown noise) is kept for developers in the log file only.
    logging.getLogger("precex.kernel").setLevel(logging.DEBUG)
    # pyensembl and datacache log every SQL statement at INFO: keep the job log readable
    # unless `precex run --verbose` asked for everything.
    if os.environ.get("PRECEX_VERBOSE") != "1":
        for noisy in ("pyensembl", "datacache", "gtfparse"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    log = logging.getLogger("precex")
    record = _job_record(snakemake, handlers[1] if log_path else None)
    started = time.perf_counter()
    record.info("rule %s%s: %d input file(s)", snakemake.rule, _wildcards(snakemake),
                len(_files(getattr(snakemake, "input", None))))
    try:
        # Move everything imported so far out of the garbage collector's view, and everything
        # still alive when the step ends: a job's heap is millions of objects, and the full
        # collection at interpreter exit took 0.15-0.3 s per shard job (0.02-0.04 s frozen),
        # between the job's end and the next job's start. Nothing is leaked: the process ends.
        gc.freeze()
        # Young objects are collected after 50,000 allocations instead of 700: a shard job
        # builds millions of small dicts and lists that live until it ends, and with the
        # default thresholds the collector took 15-25 % of a week's plans job (0.4-0.7 s of
        # 2.7 s, measured on 1,000 patients). Cyclic garbage is still collected.
        gc.set_threshold(*JOB_GC_THRESHOLDS)
        step()
        gc.freeze()
        # the log says what the job did when it succeeds too (it was empty; issue 42)
        record.info("finished in %.2f s; wrote %s", time.perf_counter() - started,
                    "; ".join(_described(path) for path in
                              _files(getattr(snakemake, "output", None))) or "nothing")
    except InputError as err:
        log.error("%s", err)
        sys.exit(1)
    except Exception as err:  # unexpected: short message to the user, traceback to the log
        if log_path:
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(traceback.format_exc())
        print(f"precex: internal error in rule {snakemake.rule} ({type(err).__name__}: {err}); "
              f"details in {log_path}", file=sys.stderr)
        sys.exit(1)
