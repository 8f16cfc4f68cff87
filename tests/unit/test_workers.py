"""precex.workers: a job's per-patient loop split over forked workers gives the same results,
in the same order, as the loop in the job's own process."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from precex import workers

LINUX_ONLY = pytest.mark.skipif(os.name != "posix" or os.uname().sysname != "Linux",
                                reason="forked workers are used on Linux only")


@given(count=st.integers(0, 5000), parts=st.integers(1, 64))
def test_slices_cover_the_items_in_order_with_sizes_one_apart(count, parts):
    bounds = workers.slices(count, parts)
    assert bounds[0][0] == 0 and bounds[-1][1] == count
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1
    assert len(bounds) == (min(parts, count) if count else 1)
    assert count == 0 or min(sizes) >= 1


def test_worker_count_pays_for_a_fork_only_with_enough_patients(monkeypatch):
    monkeypatch.setattr(workers.sys, "platform", "linux")
    assert workers.worker_count(1000, 1) == 1
    assert workers.worker_count(1000, 2) == 2
    assert workers.worker_count(2 * workers.MIN_PER_WORKER - 1, 2) == 1
    assert workers.worker_count(30, 8) == 1
    monkeypatch.setattr(workers.sys, "platform", "darwin")  # fork is unsafe there
    assert workers.worker_count(1000, 2) == 1


def _square_slice(start: int, stop: int) -> tuple[int, list[int]]:
    return os.getpid(), [i * i for i in range(start, stop)]


@LINUX_ONLY
def test_forked_workers_return_the_in_process_results_in_order(monkeypatch):
    monkeypatch.setattr(workers, "MIN_PER_WORKER", 10)
    inline = workers.map_slices(_square_slice, 95, 1)
    forked = workers.map_slices(_square_slice, 95, 3)
    assert [r[1] for r in inline] == [[i * i for i in range(95)]]
    assert [x for r in forked for x in r[1]] == inline[0][1]
    pids = {r[0] for r in forked}
    assert len(forked) == 3 and os.getpid() not in pids  # in workers, not this process


def _failing_slice(start: int, stop: int) -> list[int]:
    if start > 0:
        raise ValueError(f"patient {start} is incoherent")
    return list(range(start, stop))


@LINUX_ONLY
def test_an_error_in_a_worker_fails_the_job_as_it_would_inline(monkeypatch):
    monkeypatch.setattr(workers, "MIN_PER_WORKER", 10)
    with pytest.raises(ValueError, match="incoherent"):
        workers.map_slices(_failing_slice, 40, 2)
    assert workers._task is None  # nothing left for a later loop


def _dying_slice(start: int, stop: int) -> list[int]:
    if start > 0:
        os._exit(9)  # as the OOM killer would end it: no exception, no result
    return list(range(start, stop))


@LINUX_ONLY
def test_a_worker_that_dies_fails_the_job_instead_of_hanging_it(monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    monkeypatch.setattr(workers, "MIN_PER_WORKER", 10)
    with pytest.raises(BrokenProcessPool):
        workers.map_slices(_dying_slice, 40, 2)
