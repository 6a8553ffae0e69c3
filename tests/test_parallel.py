"""Where tasks run: small work stays in this process, large work goes to workers; every value a
task needs travels in its arguments, and the results are the same either way."""

from __future__ import annotations

import os
import threading
import time

from simulate.run import parallel, workers
from simulate.run.parallel import Backend, run_tasks


def _pid_after(seconds: float, k: int) -> tuple[int, int, object]:
    time.sleep(seconds)
    return k, os.getpid(), globals().get("_ANSWER")


def _pid_after_work(seconds: float, k: int) -> tuple[int, int, object]:
    """As _pid_after, but busy on this thread's CPU time (holding the GIL, as pure Python
    work does), so that threads of one process cannot overlap it."""
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        sum(range(1000))
    return k, os.getpid(), globals().get("_ANSWER")


def test_small_work_runs_in_this_process() -> None:
    out = run_tasks(_pid_after, [(0.001, k) for k in range(8)], Backend("loky", None))
    assert [k for k, _, _ in out] == list(range(8))
    assert {pid for _, pid, _ in out} == {os.getpid()}


class _Overlap:
    """Counts how many tasks run at the same moment (no clock involved)."""

    def __init__(self) -> None:
        self.lock, self.now, self.most = threading.Lock(), 0, 0

    def task(self, k: int) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.02)                         # a wait that releases the GIL, as numpy's work does
        with self.lock:
            self.now -= 1
        return k


def test_small_work_overlaps_on_threads_only_when_allowed(monkeypatch) -> None:
    """Where workers are costly to start (loky's fresh interpreters: every system but Linux),
    tasks that release the GIL (numpy's array work) overlap on this process's threads when the
    caller says they may; otherwise (Python work such as the DES) and with one job they run one
    after the other."""
    if parallel.default_jobs() < 2:
        return
    monkeypatch.setattr(parallel, "_fork_context", lambda: None)
    overlap = _Overlap()
    assert run_tasks(overlap.task, [(k,) for k in range(8)], Backend("loky", None), threads=True) == list(range(8))
    assert overlap.most > 1
    for backend, threads in ((Backend("loky", 1), True), (Backend("loky", None), False)):
        overlap = _Overlap()
        assert run_tasks(overlap.task, [(k,) for k in range(4)], backend, threads=threads) == list(range(4))
        assert overlap.most == 1


def test_large_work_goes_to_workers_which_see_only_their_arguments(monkeypatch) -> None:
    """Loky's workers (every system but Linux) get what the tasks carry and nothing else: a
    value set in this process's module globals is not shipped behind the tasks' backs."""
    monkeypatch.setitem(globals(), "_ANSWER", 42)
    monkeypatch.setattr(parallel, "_fork_context", lambda: None)
    monkeypatch.setattr(parallel, "WORKER_START_SECONDS", 0.2)
    step = 0.15
    out = run_tasks(_pid_after, [(step, k) for k in range(8)], Backend("loky", 2))
    assert [k for k, _, _ in out] == list(range(8))                  # in task order
    assert os.getpid() not in {pid for _, pid, _ in out}              # explicit jobs: all to workers
    assert {answer for _, _, answer in out} == {None}
    # CPU-bound tasks: 8 x 0.15 s left in this process would outlast the (patched) worker start
    adaptive = run_tasks(_pid_after_work, [(step, k) for k in range(8)], Backend("loky", None), threads=True)
    pids = [pid for _, pid, _ in adaptive]
    if parallel.default_jobs() > 1:
        assert pids[:2] == [os.getpid()] * 2 and os.getpid() not in pids[-2:]
        assert all(answer is None for _, pid, answer in adaptive if pid != os.getpid())
    assert [k for k, _, _ in adaptive] == list(range(8))


def test_on_linux_large_work_goes_to_forked_workers_after_one_task() -> None:
    """Forked workers cost little: after the first task (which shows the work is large) the
    rest go to them, results in task order, and they tune their own allocator, not this one."""
    import sys

    import pytest

    if not sys.platform.startswith("linux") or parallel.default_jobs() < 2:
        pytest.skip("forked workers: Linux with two cores or more")
    out = run_tasks(_tuned_after_work, [(0.1, k) for k in range(6)], Backend("loky", None))
    assert [k for k, _, _ in out] == list(range(6))
    pids = [pid for _, pid, _ in out]
    assert pids[0] == os.getpid() and os.getpid() not in pids[1:] and len(set(pids[1:])) == 2
    assert [tuned for _, pid, tuned in out] == [False] + [True] * 5
    assert workers._allocator_tuned is False
    explicit = run_tasks(_tuned_after_work, [(0.0, k) for k in range(3)], Backend("loky", 2))
    assert os.getpid() not in {pid for _, pid, _ in explicit}


def _tuned_after_work(seconds: float, k: int) -> tuple[int, int, bool]:
    return _pid_after_work(seconds, k)[0], os.getpid(), workers._allocator_tuned


def test_only_workers_this_command_started_tune_their_allocator(monkeypatch) -> None:
    """Running tasks in this process leaves its allocator alone; a worker process this command
    started tunes its own (Linux: glibc's mallopt) once, before its first task; a worker of a
    shared cluster (another parent) is left as it is."""
    import sys

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("the allocator is tuned on Linux only")
    calls = []
    monkeypatch.setattr(workers, "_allocator_tuned", False)
    monkeypatch.setattr(workers, "exit_with_parent", lambda parent=None: None)
    monkeypatch.setattr("ctypes.CDLL", lambda name: type("C", (), {"mallopt": lambda self, *a: calls.append(a) or 1})())
    run_tasks(_pid_after, [(0.0, k) for k in range(3)], Backend("loky", 1))
    run_tasks(_pid_after, [(0.0, k) for k in range(3)], Backend("loky", None, processes=False))
    assert calls == []
    assert workers.in_worker(_pid_after, -1, 0.0, 0)[0] == 0        # not started by this command
    assert calls == []
    workers.in_worker(_pid_after, os.getppid(), 0.0, 0)
    workers.in_worker(_pid_after, os.getppid(), 0.0, 1)
    assert calls == [(-3, workers.ALLOCATOR_MMAP_THRESHOLD_BYTES), (-1, workers.ALLOCATOR_TRIM_THRESHOLD_BYTES)]
