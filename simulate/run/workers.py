"""What a worker process does for itself: it ends with the command that started it, keeps freed
memory for the next block, and is started with Ctrl-C ignored (the command handles Ctrl-C once
and closes its workers). Used by :mod:`simulate.run.parallel` (forked and loky workers) and
:mod:`simulate.run.dask_tasks` (a local Dask cluster's)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any, Callable, Iterator

ORPHAN_CHECK_SECONDS = 0.5
"""How often a worker process checks that the process that started it is still alive."""


@contextlib.contextmanager
def children_ignore_sigint() -> Iterator[None]:
    """Start processes with Ctrl-C ignored (an ignored signal stays ignored in a child): the
    command handles Ctrl-C once and closes them, instead of every worker printing its traceback.
    A Ctrl-C pressed during these seconds of start-up is ignored too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


_PARENT: int | None = None


def exit_with_parent(expected: int | None = None) -> None:
    """In a worker process: exit as soon as the process that started it is gone (killed, even
    with SIGKILL), instead of lingering as an orphan. Started once per process, and only in a
    worker this command started (``expected``: the command's pid), not in a shared cluster's."""
    global _PARENT
    if _PARENT is not None or (expected is not None and os.getppid() != expected):
        return
    _PARENT = os.getppid()

    def watch() -> None:
        import time

        while os.getppid() == _PARENT:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="trialsim-orphan-watch", daemon=True).start()


ALLOCATOR_MMAP_THRESHOLD_BYTES = 32 << 20
"""Blocks below this size come from the heap, not a fresh mapping of their own (glibc's largest)."""
ALLOCATOR_TRIM_THRESHOLD_BYTES = 128 << 20
"""Freed heap memory up to this much stays in the process for the next block."""
_allocator_tuned = False


def keep_freed_memory() -> None:
    """In a worker process: let glibc's allocator reuse the memory of one block's arrays for the
    next (Linux only). Never called in the caller's process.

    A block allocates and frees the same few-megabyte arrays again and again. By default glibc
    maps each one afresh and unmaps it when freed, so every block pays again for the kernel to
    hand out and zero those pages (about a sixth of a cold run's simulation time); its adaptive
    threshold learns otherwise only after a first large free. Set once per process: arrays up to
    :data:`ALLOCATOR_MMAP_THRESHOLD_BYTES` come from the heap, which keeps up to
    :data:`ALLOCATOR_TRIM_THRESHOLD_BYTES` of freed memory. Elsewhere (another C library, another
    system) nothing changes."""
    global _allocator_tuned
    if _allocator_tuned or not sys.platform.startswith("linux"):
        return
    _allocator_tuned = True
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt   # the C library this process runs on
    except (OSError, AttributeError):         # one without mallopt
        return
    m_trim_threshold, m_mmap_threshold = -1, -3   # glibc's <malloc.h>
    mallopt(m_mmap_threshold, ALLOCATOR_MMAP_THRESHOLD_BYTES)
    mallopt(m_trim_threshold, ALLOCATOR_TRIM_THRESHOLD_BYTES)


def release_freed_memory() -> None:
    """In a long-running process (the teaching lab's server, which simulates in its own
    process): hand the heap memory freed since the last computation back to the system
    (glibc's ``malloc_trim``; Linux only). glibc otherwise keeps the freed arrays of a large
    computation's blocks, hundreds of megabytes, for allocations that may never come."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this process runs on
    except (OSError, AttributeError):         # one without malloc_trim
        return
    trim(0)


def in_worker(fn: Callable, parent: int, *args: Any) -> Any:
    """A task as a worker runs it. In a worker process this command started (its parent is
    ``parent``), the worker watches for the command's death and keeps freed memory for the next
    block (:func:`keep_freed_memory`); a shared cluster's workers are left as they are. Every
    per-design value a task needs travels in its arguments."""
    if os.getppid() == parent:
        exit_with_parent(parent)
        keep_freed_memory()
    return fn(*args)


def forked_worker(parent: int) -> None:
    """A forked worker's set-up: the command's own SIGTERM handler is not the worker's (it
    simply ends), it exits with the command (:func:`exit_with_parent`) and keeps freed memory
    for the next block (:func:`keep_freed_memory`)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    exit_with_parent(parent)
    keep_freed_memory()
