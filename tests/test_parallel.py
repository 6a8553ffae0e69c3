"""Where tasks run: small work stays in this process, large work goes to workers that start with
this process's per-run caches; the results are the same either way."""

from __future__ import annotations

import os
import time

from simulate import parallel
from simulate.parallel import Backend, run_tasks, shared_cache


def _pid_after(seconds: float, k: int) -> tuple[int, int, object]:
    time.sleep(seconds)
    return k, os.getpid(), shared_cache("test.parallel").get("answer")


def _pid_after_work(seconds: float, k: int) -> tuple[int, int, object]:
    """As _pid_after, but busy on this thread's CPU time (holding the GIL, as pure Python
    work does), so that threads of one process cannot overlap it."""
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        sum(range(1000))
    return k, os.getpid(), shared_cache("test.parallel").get("answer")


def test_small_work_runs_in_this_process() -> None:
    out = run_tasks(_pid_after, [(0.001, k) for k in range(8)], Backend("loky", None))
    assert [k for k, _, _ in out] == list(range(8))
    assert {pid for _, pid, _ in out} == {os.getpid()}


def test_small_work_overlaps_on_threads() -> None:
    """Tasks that wait (as numpy's array work releases the GIL) overlap on this process's
    threads when the caller says they may; otherwise (Python work such as the DES, which
    threads would only slow down) and with one job they run one after the other."""
    if parallel.default_jobs() < 2:
        return
    t0 = time.perf_counter()
    out = run_tasks(_pid_after, [(0.1, k) for k in range(8)], Backend("loky", None), threads=True)
    assert time.perf_counter() - t0 < 0.8 * 0.1 * 8                 # serially: 0.8 s
    assert [k for k, _, _ in out] == list(range(8))
    for backend, threads in ((Backend("loky", 1), True), (Backend("loky", None), False)):
        t0 = time.perf_counter()
        run_tasks(_pid_after, [(0.1, k) for k in range(4)], backend, threads=threads)
        assert time.perf_counter() - t0 >= 0.4


def test_large_work_goes_to_workers_with_the_caches_filled_here(monkeypatch) -> None:
    shared_cache("test.parallel")["answer"] = 42
    monkeypatch.setattr(parallel, "WORKER_START_SECONDS", 0.2)
    step = 0.15
    out = run_tasks(_pid_after, [(step, k) for k in range(8)], Backend("loky", 2))
    assert [k for k, _, _ in out] == list(range(8))                  # in task order
    assert os.getpid() not in {pid for _, pid, _ in out}              # explicit jobs: all to workers
    assert {answer for _, _, answer in out} == {42}
    # CPU-bound tasks: 8 x 0.15 s left in this process would outlast the (patched) worker start
    adaptive = run_tasks(_pid_after_work, [(step, k) for k in range(8)], Backend("loky", None), threads=True)
    pids = [pid for _, pid, _ in adaptive]
    if parallel.default_jobs() > 1:
        assert pids[:2] == [os.getpid()] * 2 and os.getpid() not in pids[-2:]
    assert [k for k, _, _ in adaptive] == list(range(8))


def test_workers_keep_freed_block_memory_and_this_process_is_left_as_it_was(monkeypatch) -> None:
    """Running tasks in this process leaves its allocator alone; worker processes tune their
    own (Linux: glibc's mallopt) once, before their first task."""
    import sys

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("the allocator is tuned on Linux only")
    calls = []
    monkeypatch.setattr(parallel, "_allocator_tuned", False)
    monkeypatch.setattr("ctypes.CDLL", lambda name: type("C", (), {"mallopt": lambda self, *a: calls.append(a) or 1})())
    run_tasks(_pid_after, [(0.0, k) for k in range(3)], Backend("loky", 1))
    run_tasks(_pid_after, [(0.0, k) for k in range(3)], Backend("loky", None, processes=False))
    assert calls == []
    parallel._in_worker(_pid_after, -1, {}, 0.0, 0)
    parallel._in_worker(_pid_after, -1, {}, 0.0, 1)
    assert calls == [(-3, parallel.ALLOCATOR_MMAP_THRESHOLD_BYTES), (-1, parallel.ALLOCATOR_TRIM_THRESHOLD_BYTES)]
