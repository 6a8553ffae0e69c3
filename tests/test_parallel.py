"""Where tasks run: small work stays in this process, large work goes to workers that start with
this process's per-run caches; the results are the same either way."""

from __future__ import annotations

import os
import time

from simulate.parallel import Backend, WORKER_START_SECONDS, run_tasks, shared_cache


def _pid_after(seconds: float, k: int) -> tuple[int, int, object]:
    time.sleep(seconds)
    return k, os.getpid(), shared_cache("test.parallel").get("answer")


def test_small_work_runs_in_this_process() -> None:
    out = run_tasks(_pid_after, [(0.001, k) for k in range(8)], Backend("loky", None))
    assert [k for k, _, _ in out] == list(range(8))
    assert {pid for _, pid, _ in out} == {os.getpid()}


def test_large_work_goes_to_workers_with_the_caches_filled_here() -> None:
    shared_cache("test.parallel")["answer"] = 42
    step = WORKER_START_SECONDS / 2.0
    out = run_tasks(_pid_after, [(step, k) for k in range(8)], Backend("loky", 2))
    assert [k for k, _, _ in out] == list(range(8))                  # in task order
    assert os.getpid() not in {pid for _, pid, _ in out}              # explicit jobs: all to workers
    assert {answer for _, _, answer in out} == {42}
    adaptive = run_tasks(_pid_after, [(step, k) for k in range(8)], Backend("loky", None))
    pids = [pid for _, pid, _ in adaptive]
    if (os.cpu_count() or 1) > 1:
        assert pids[:2] == [os.getpid()] * 2 and os.getpid() not in pids[3:]
    assert [k for k, _, _ in adaptive] == list(range(8))
