"""Where blocks of trials run: processes on this machine (forked on Linux, else joblib's loky),
or a Dask cluster.

Work is shipped as independent, deterministic tasks (the designs, the root seed, a block
number), and results are put back in task order, so the answer is the same whatever runs it:
1 or 2 loky workers, a local Dask cluster, or a remote one that loses a worker midway (Dask's
scheduler recomputes the lost tasks, which give the same result again).

:func:`session` keeps one executor open for a whole command (a sample-size search or the main
job makes several passes); :func:`run_tasks` uses the open session, or opens one for itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from simulate.errors import UsageError
from simulate.run.workers import children_ignore_sigint, exit_with_parent, forked_worker, in_worker

log = logging.getLogger(__name__)

BACKENDS = ("loky", "dask")
DASK_INSTALL_HINT = "pip install 'trialsim[distributed]'"
CONNECT_TIMEOUT_SECONDS = 10.0
"""How long to try reaching a Dask scheduler before giving up with one line."""
WORKER_START_SECONDS = 1.0
"""What starting loky's worker processes costs before they help (each is a new interpreter that
imports numpy, scipy and trialsim): work left in-process shorter than this, per core gained, is
not worth them."""
FORK_START_SECONDS = 0.05
"""What starting worker processes by forking this one costs (Linux): they begin with its imports
and its prepared designs, so little more than the copying of its page tables is paid."""

THREAD_SHARE = 0.3
"""What each extra thread of one process adds to the first's pace (numpy releases the GIL in
its array work, not in the Python around it); the plan and the hand-over to worker processes
both count threads so."""
TASKS_IN_FLIGHT_PER_WORKER = 4
"""Dask tasks queued per worker at a time: enough to keep every worker busy, few enough that the
scheduler holds little and an interrupted run closes at once."""
POLL_SECONDS = 0.05
"""How often a command waiting on Dask looks for Ctrl-C or SIGTERM."""


def default_jobs() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Backend:
    """How to run: ``loky`` with ``jobs`` processes, or ``dask`` on ``scheduler`` (an address
    such as ``tcp://host:8786``) or, without one, on a LocalCluster of ``jobs`` workers."""

    name: str = "loky"
    jobs: int | None = None
    scheduler: str | None = None
    processes: bool = True
    """With loky: hand work to worker processes when it pays (False: this process's threads only,
    for a long-lived server whose memory must return to its idle level after each computation)."""

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise UsageError(f"--backend: got {self.name!r}; allowed: {', '.join(BACKENDS)}")
        if self.scheduler is not None and self.name != "dask":
            raise UsageError(f"--scheduler: got {self.scheduler!r}; it needs --backend dask")


_SILENT = logging.CRITICAL + 10
"""A log level above every message: Dask's shutdown chatter after Ctrl-C is not the user's news."""
_CLIENT: Any = None  # the Dask client of the open session, if any
_FORKED: dict[int, Any] | None = None  # the open session's pools of forked workers, by size


def _require_dask():
    try:
        from dask import distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"--backend dask: Dask is not installed; install it with: {DASK_INSTALL_HINT}") from None
    return distributed


@contextlib.contextmanager
def session(backend: Backend) -> Iterator[None]:
    """Keep one Dask client (and a LocalCluster if no scheduler was given) for the block; on
    this machine, keep the forked workers from one pass over the blocks to the next (they
    stay warm: their caches filled, their memory mapped), and end them with the block."""
    global _CLIENT, _FORKED
    if backend.name != "dask":
        if _FORKED is not None:
            yield
            return
        _FORKED = {}
        try:
            yield
        finally:
            pools, _FORKED = _FORKED, None
            for pool in pools.values():
                _end(pool)
        return
    if _CLIENT is not None:
        yield
        return
    distributed = _require_dask()
    cluster = None
    try:
        if backend.scheduler:
            _probe_scheduler(backend.scheduler)
            try:
                client = distributed.Client(backend.scheduler, timeout=f"{CONNECT_TIMEOUT_SECONDS:g}s")
            except Exception as err:  # noqa: BLE001 - any failure to connect is the address's
                raise UsageError(f"--scheduler: got {backend.scheduler!r}; cannot connect ({err})") from None
        else:
            workers = backend.jobs or default_jobs()
            if not log.isEnabledFor(logging.INFO):  # the local scheduler logs in this process
                logging.getLogger("distributed").setLevel(_SILENT)
            with children_ignore_sigint():
                cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                   host="127.0.0.1", dashboard_address=":0",
                                                   silence_logs=_SILENT)
            client = distributed.Client(cluster)
        log.info("dask client %s", client)
        _CLIENT = client
        yield
    finally:
        if _CLIENT is not None:
            _CLIENT.close()
        _CLIENT = None
        if cluster is not None:
            cluster.close()


def _probe_scheduler(address: str) -> None:
    """Reach the scheduler and complete Dask's handshake within the connect timeout, so that a
    wrong address (a typo, a closed port, a server that is not Dask) fails in seconds with one
    line instead of hanging."""
    import asyncio

    from distributed.comm import connect

    try:
        asyncio.get_running_loop()
        return                      # inside an event loop (a notebook, an app): Client's own timeout
    except RuntimeError:
        pass
    if not address.startswith(("tcp://", "inproc://")) and "://" in address:
        return                      # tls:// and others need the cluster's security settings: left to Client

    async def probe() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=CONNECT_TIMEOUT_SECONDS),
                                      CONNECT_TIMEOUT_SECONDS + 1.0)
        await comm.close()

    try:
        asyncio.run(probe())
    except Exception as err:  # noqa: BLE001 - whatever went wrong, the address is the problem
        reason = str(err) or ("no Dask scheduler answered within "
                              f"{CONNECT_TIMEOUT_SECONDS:g} s" if isinstance(err, TimeoutError) else type(err).__name__)
        raise UsageError(f"--scheduler: got {address!r}; cannot reach a Dask scheduler there ({reason}); "
                         "expected an address such as tcp://host:8786") from None


def run_tasks(fn: Callable, tasks: Sequence[tuple], backend: Backend, on_done: Callable[[], None] | None = None,
              consume: Callable[[Any], None] | None = None, threads: bool = False,
              expected_seconds: float | None = None) -> list:
    """``[fn(*t) for t in tasks]``, computed in parallel, in task order.

    With ``consume``, each result is handed to it in task order as soon as its predecessors
    are in, and nothing is kept: the caller folds results as they stream in (bounded memory).

    With the default number of jobs, tasks run in this process for as long as the work left
    would not repay starting the workers; then the rest go to the workers. On Linux the workers
    are forked from this process (:func:`_run_forked`), which costs little
    (:data:`FORK_START_SECONDS`), so the work's ``expected_seconds`` on one core (the plan's,
    :mod:`simulate.run.plan`) decides at once, or else the first task. Elsewhere they are loky's fresh
    interpreters (:data:`WORKER_START_SECONDS`), and meanwhile tasks with ``threads`` (numpy
    work, which releases the GIL) run on one thread per core. An explicit number of jobs is used
    as given (one: this process, one thread). Either way the results are the same: a task
    depends on its arguments only (a forked worker inherits this process's memory, but nothing
    in a task reads it). A backend without ``processes`` (the teaching lab's) runs every task in
    this process, on one thread per core.

    This process's allocator is left as it is (its freed memory returns to the system); only
    worker processes, which exist for this work, tune theirs (:func:`~simulate.run.workers.keep_freed_memory`).
    """
    tick = on_done or (lambda: None)
    kept: list = []
    take = consume or kept.append
    if backend.name == "dask":
        with session(backend):
            _run_dask(fn, tasks, tick, take)
        return kept
    jobs = backend.jobs or default_jobs()
    if not backend.processes:
        _run_in_process(fn, tasks, jobs if threads else 1, False, jobs, tick, take)
        return kept
    adaptive = backend.jobs is None
    forked = _fork_context() if jobs > 1 and len(tasks) > 1 else None
    if forked is not None:        # forked workers start in milliseconds
        if not adaptive or (expected_seconds is not None and workers_repay(expected_seconds, jobs,
                                                                            FORK_START_SECONDS)):
            done = 0
        else:                     # too little work for them, or judged after the first task
            done = _run_in_process(fn, tasks, 1, expected_seconds is None, jobs, tick, take, FORK_START_SECONDS,
                                   gauge=1)
        if done < len(tasks):
            workers = jobs if _FORKED is not None else min(jobs, len(tasks) - done)
            _run_forked(forked, fn, tasks[done:], workers, tick, take)
        return kept
    done = _run_in_process(fn, tasks, jobs if adaptive and threads else 1, adaptive, jobs, tick, take) \
        if adaptive or jobs == 1 or len(tasks) <= 1 else 0
    if done == len(tasks):
        return kept
    from joblib import Parallel, delayed
    from joblib.parallel import LokyBackend

    # the generator yields in task order; each worker watches for its parent's death from its start
    parallel = Parallel(n_jobs=min(jobs, len(tasks) - done), return_as="generator",
                        backend=LokyBackend(initializer=exit_with_parent))
    me = os.getpid()
    for result in parallel(delayed(in_worker)(fn, me, *t) for t in tasks[done:]):
        take(result)
        tick()
    return kept


def start_seconds() -> float:
    """What starting worker processes costs here, before they help: forked ones on Linux
    (:data:`FORK_START_SECONDS`), loky's fresh interpreters elsewhere (:data:`WORKER_START_SECONDS`)."""
    return FORK_START_SECONDS if forks_cheaply() else WORKER_START_SECONDS


def forks_cheaply() -> bool:
    """Worker processes start here by forking this one (Linux, from the main thread): cheap
    enough for a few seconds of work (:data:`FORK_START_SECONDS`)."""
    return _fork_context() is not None


def workers_repay(seconds: float, jobs: int, start: float) -> bool:
    """Work of ``seconds`` on one core, shared by ``jobs`` workers, saves more than starting
    them costs (``start``)."""
    return jobs > 1 and seconds * (1.0 - 1.0 / jobs) > start


def _fork_context() -> Any:
    """multiprocessing's ``fork`` context where worker processes may start so: on Linux, from
    the main thread (the one thread a fork copies; as joblib, never from another). Elsewhere
    (macOS, Windows, a server's worker thread) None, and loky starts fresh interpreters."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    import multiprocessing

    if multiprocessing.current_process().daemon:   # a daemonic process may not have children
        return None
    return multiprocessing.get_context("fork")


def _run_forked(context: Any, fn: Callable, tasks: Sequence[tuple], workers: int,
                tick: Callable[[], None], take: Callable[[Any], None]) -> None:
    """Run tasks on ``workers`` processes forked from this one (multiprocessing's pool), results
    taken in task order as they come. The pool is the open session's (:func:`session`), kept
    for its next pass, or one for these tasks alone. However it ends (an error, Ctrl-C,
    SIGTERM), the workers of an interrupted pass are terminated before this returns."""
    kept = _FORKED is not None
    pool = _FORKED.get(workers) if kept else None
    if pool is None:
        with children_ignore_sigint():               # forked now, before the pool's threads start
            pool = context.Pool(workers, initializer=forked_worker, initargs=(os.getpid(),))
        if kept:
            _FORKED[workers] = pool
    finished = False
    try:
        for result in pool.imap(_call, ((fn, t) for t in tasks)):
            take(result)
            tick()
        finished = True
    finally:
        if not (finished and kept):
            if kept:
                _FORKED.pop(workers, None)
            _end(pool)


def warm_workers(module: str) -> None:
    """Have the open session's forked workers import ``module`` now, while this process works
    on something of its own: a later task that needs it (the report's figures need the plotting
    libraries) then starts at once. Without an open session of forked workers, nothing happens."""
    import importlib

    for workers, pool in (_FORKED or {}).items():
        for _ in range(workers):
            pool.apply_async(importlib.import_module, (module,))


def _end(pool: Any) -> None:
    """Stop a pool of forked workers at once (queued tasks dropped) and reap them."""
    pool.terminate()
    pool.join()


def _call(job: tuple[Callable, tuple]) -> Any:
    fn, args = job
    return fn(*args)


def _run_in_process(fn: Callable, tasks: Sequence[tuple], threads: int, adaptive: bool, jobs: int,
                    tick: Callable[[], None], take: Callable[[Any], None],
                    start_seconds: float | None = None, gauge: int = 2) -> int:
    """Run tasks in this process on ``threads`` threads, results taken in task order; return
    how many were run. Adaptive: stop early once the work left would repay starting ``jobs``
    worker processes (``start_seconds``, by default :data:`WORKER_START_SECONDS`; on one
    thread, judged after ``gauge`` tasks)."""
    import time
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    start_seconds = WORKER_START_SECONDS if start_seconds is None else start_seconds
    if threads <= 1 or len(tasks) <= 1:
        done = 0
        while done < len(tasks):
            t0 = time.perf_counter()
            take(fn(*tasks[done]))
            tick()
            done += 1
            left = (time.perf_counter() - t0) * (len(tasks) - done)
            if adaptive and done >= gauge and workers_repay(left, jobs, start_seconds):
                break
        return done
    pool = ThreadPoolExecutor(threads, thread_name_prefix="trialsim-block")
    in_flight: deque = deque()
    submitted = done = 0
    stop = len(tasks)
    warm = 0.0
    try:
        while done < stop:
            while submitted < stop and len(in_flight) <= threads:   # one queued behind the busy
                in_flight.append(pool.submit(fn, *tasks[submitted]))
                submitted += 1
            take(in_flight.popleft().result())
            tick()
            done += 1
            if done == threads:                       # each thread's first task paid its cold start
                warm = time.perf_counter()
            if not adaptive or done <= threads:
                continue
            # the work left, at the pace the warm threads keep, against what the workers would
            # save: they share it fully, where the threads already share it in part
            left = (time.perf_counter() - warm) / (done - threads) * (len(tasks) - done)
            threads_pace = 1.0 + (threads - 1) * THREAD_SHARE
            if left * (1.0 - threads_pace / jobs) > start_seconds:
                stop = submitted                      # finish the tasks in flight, then hand over
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return done


def _run_dask(fn: Callable, tasks: Sequence[tuple], tick: Callable[[], None], take: Callable[[Any], None]) -> None:
    distributed = _require_dask()
    client = _CLIENT
    # pure=False: a lost result is recomputed by the scheduler from the same deterministic task
    me = os.getpid()
    submit = lambda i: client.submit(in_worker, fn, me, *tasks[i], pure=False, retries=3)  # noqa: E731
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    in_flight = min(len(tasks), TASKS_IN_FLIGHT_PER_WORKER * workers)
    futures = {submit(i): i for i in range(in_flight)}
    queued = distributed.as_completed(list(futures))
    waiting: dict[int, Any] = {}
    next_up, next_submit = 0, in_flight
    with _interrupts_noted() as interrupted:
        try:
            for future in _as_they_come(queued, interrupted):
                waiting[futures.pop(future)] = future.result()
                future.release()
                tick()
                if next_submit < len(tasks):
                    new = submit(next_submit)
                    futures[new] = next_submit
                    queued.add(new)
                    next_submit += 1
                while next_up in waiting:            # hand results on in task order
                    take(waiting.pop(next_up))
                    next_up += 1
        except BaseException:
            client.cancel(list(futures))             # nothing left queued when the session closes
            raise


def _as_they_come(queued: Any, interrupted: "_Noted") -> Iterator[Any]:
    """Futures as they complete, looking for a noted Ctrl-C or SIGTERM every
    :data:`POLL_SECONDS` meanwhile (a long task does not delay it)."""
    import time

    while not queued.is_empty():
        interrupted.raise_if_noted()
        if queued.has_ready():
            yield from queued.next_batch(block=False)
        else:
            time.sleep(POLL_SECONDS)
    interrupted.raise_if_noted()


class _Noted:
    """The signals noted while Dask works, raised again from a safe place."""

    def __init__(self, previous: dict) -> None:
        self.previous, self.signum = previous, None

    def note(self, signum, frame) -> None:  # noqa: ARG002 - a signal handler's signature
        self.signum = signum

    def raise_if_noted(self) -> None:
        signum, self.signum = self.signum, None
        if signum is None:
            return
        handler = self.previous[signum]
        if callable(handler):
            handler(signum, None)                    # e.g. the command's own SIGTERM handler
        if signum == signal.SIGINT or handler == signal.SIG_IGN:
            if handler != signal.SIG_IGN:
                raise KeyboardInterrupt
            return
        signal.signal(signum, signal.SIG_DFL)        # the default action, as if never caught
        os.kill(os.getpid(), signum)


@contextlib.contextmanager
def _interrupts_noted() -> Iterator[_Noted]:
    """While the block runs, Ctrl-C and SIGTERM are only noted, and the caller raises them with
    :meth:`_Noted.raise_if_noted` between results: raised by the handler itself, the exception
    could land inside one of Dask's callbacks (some run from the garbage collector), which would
    swallow it and print its traceback."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    noted = _Noted(previous)
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    for sig in previous:
        signal.signal(sig, noted.note)
    try:
        yield noted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        noted.raise_if_noted()


def progress_bar(total: int, label: str, enabled: bool):
    """A tqdm bar on stderr when asked for and stderr is a terminal; else a silent stand-in."""
    if enabled and total > 1 and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit="block", desc=label, file=sys.stderr, leave=False)

    class _Silent:
        def update(self, n: int = 1) -> None: ...
        def close(self) -> None: ...

    return _Silent()
