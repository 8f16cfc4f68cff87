"""A job's per-patient loop split over the cores Snakemake gave the job.

A shard job is one process. Where the rule asks for more than one thread (a batch of one
shard: nothing else can run beside its baseline prescriptions, so one of two cores would sit
idle), the loop runs in forked worker processes, each over a contiguous slice of the patients:
each writes its own patients' files and returns its rows, and the rows are joined in the
patients' order. The outputs are the same bytes whatever the number of workers (tested).

Forked workers share what the job has already read and built (rule base, tables), so a worker
costs a fork, not a second start-up. Where fork is not available (Windows; macOS has it but
it is unsafe there), or the slices would be too small to pay for a fork, the loop runs in the
job's own process.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# Below this many patients a worker's fork and the return of its rows cost more than its
# share of the loop saves.
MIN_PER_WORKER = 100

_task: Callable[[int, int], Any] | None = None  # the loop body, inherited by forked workers


def slices(count: int, parts: int) -> list[tuple[int, int]]:
    """`count` items cut into `parts` contiguous [start, stop) slices, sizes differing by at
    most one, in order (none empty unless count is 0)."""
    parts = max(1, min(parts, count)) if count else 1
    size, extra = divmod(count, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def worker_count(count: int, threads: int) -> int:
    """How many processes a loop over `count` patients uses with `threads` cores."""
    if threads <= 1 or sys.platform != "linux":
        return 1
    return max(1, min(threads, count // MIN_PER_WORKER))


def _run_slice(bounds: tuple[int, int]) -> Any:
    assert _task is not None  # set before the fork
    return _task(*bounds)


def map_slices(task: Callable[[int, int], T], count: int, threads: int) -> list[T]:
    """task(start, stop) for consecutive slices of range(count), in forked workers when
    `threads` allows, else in this process; the results in slice order. An exception in a
    worker is raised here (the job fails as it would without workers)."""
    workers = worker_count(count, threads)
    if workers == 1:
        return [task(0, count)]
    global _task
    _task = task
    try:
        # concurrent.futures, not multiprocessing.Pool: a worker that dies (the kernel's OOM
        # killer on a cluster node) raises BrokenProcessPool here instead of leaving the job
        # waiting for a result that never comes.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_slice, slices(count, workers)))
    finally:
        _task = None
