"""Where blocks of trials run: joblib's loky processes on this machine, or a Dask cluster.

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
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from simulate.errors import UsageError

log = logging.getLogger(__name__)

BACKENDS = ("loky", "dask")
DASK_INSTALL_HINT = "pip install 'trialsim[distributed]'"


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

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise UsageError(f"--backend: got {self.name!r}; allowed: {', '.join(BACKENDS)}")
        if self.scheduler is not None and self.name != "dask":
            raise UsageError(f"--scheduler: got {self.scheduler!r}; it needs --backend dask")


_CLIENT: Any = None  # the Dask client of the open session, if any


def _require_dask():
    try:
        from dask import distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"--backend dask: Dask is not installed; install it with: {DASK_INSTALL_HINT}") from None
    return distributed


@contextlib.contextmanager
def session(backend: Backend) -> Iterator[None]:
    """Keep one Dask client (and a LocalCluster if no scheduler was given) for the block."""
    global _CLIENT
    if backend.name != "dask" or _CLIENT is not None:
        yield
        return
    distributed = _require_dask()
    cluster = None
    try:
        if backend.scheduler:
            try:
                client = distributed.Client(backend.scheduler, timeout="20s")
            except (OSError, TimeoutError) as err:
                raise UsageError(f"--scheduler: got {backend.scheduler!r}; cannot connect ({err})") from None
        else:
            workers = backend.jobs or default_jobs()
            if not log.isEnabledFor(logging.INFO):  # the local scheduler logs in this process
                logging.getLogger("distributed").setLevel(logging.ERROR)
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               host="127.0.0.1", dashboard_address=":0",
                                               silence_logs=logging.ERROR)
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


def run_tasks(fn: Callable, tasks: Sequence[tuple], backend: Backend, on_done: Callable[[], None] | None = None,
              consume: Callable[[Any], None] | None = None) -> list:
    """``[fn(*t) for t in tasks]``, computed in parallel, in task order.

    With ``consume``, each result is handed to it in task order as soon as its predecessors
    are in, and nothing is kept: the caller folds results as they stream in (bounded memory).
    """
    tick = on_done or (lambda: None)
    kept: list = []
    take = consume or kept.append
    if backend.name == "dask":
        with session(backend):
            _run_dask(fn, tasks, tick, take)
        return kept
    jobs = backend.jobs or default_jobs()
    if jobs == 1 or len(tasks) <= 1:
        for t in tasks:
            take(fn(*t))
            tick()
        return kept
    from joblib import Parallel, delayed

    # the generator yields in task order
    for result in Parallel(n_jobs=min(jobs, len(tasks)), return_as="generator")(delayed(fn)(*t) for t in tasks):
        take(result)
        tick()
    return kept


def _run_dask(fn: Callable, tasks: Sequence[tuple], tick: Callable[[], None], take: Callable[[Any], None]) -> None:
    distributed = _require_dask()
    client = _CLIENT
    # pure=False: a lost result is recomputed by the scheduler from the same deterministic task
    futures = [client.submit(fn, *t, pure=False, retries=3) for t in tasks]
    index = {f.key: i for i, f in enumerate(futures)}
    waiting: dict[int, Any] = {}
    next_up = 0
    for future in distributed.as_completed(futures):
        waiting[index[future.key]] = future.result()
        future.release()
        tick()
        while next_up in waiting:            # hand results on in task order
            take(waiting.pop(next_up))
            next_up += 1


def progress_bar(total: int, label: str, enabled: bool):
    """A tqdm bar on stderr when asked for and stderr is a terminal; else a silent stand-in."""
    if enabled and total > 1 and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit="block", desc=label, file=sys.stderr, leave=False)

    class _Silent:
        def update(self, n: int = 1) -> None: ...
        def close(self) -> None: ...

    return _Silent()
