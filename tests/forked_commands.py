"""``trialsim`` commands, each in a process of its own, the imports paid once.

Run as a script, this module is a server: it imports the ``simulate`` package and then, for
each request (one JSON line on stdin), forks a child that runs one command exactly as
``python -m simulate.cli`` does: ``sys.exit(main(args))`` and the interpreter's own exit, so an
uncaught exception prints its traceback and exits 1, and exit handlers and threads are seen to as
in any process. The child writes its stdout and stderr to files, from the folder asked for. It
is a fresh process as far as trialsim can tell: the server has done nothing but import (and
freeze what it imported, out of the garbage collector's sight, so that a child's collections
and exit leave those pages shared), so its caches, globals, warnings and logging are untouched,
and a limit set on the server (such as RLIMIT_AS) holds in every child. The server answers one JSON line, the child's exit code (minus
the signal's number if a signal ended it, as :mod:`subprocess` reports).

:class:`ForkedCommands` starts the server and returns each command's result as a
:class:`subprocess.CompletedProcess`, so a test checks it as it would a subprocess's.
"""

from __future__ import annotations

import json
import locale
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve()


# --------------------------------------------------------------------------- the server


def _preload() -> None:
    """Import every module of the package that a command may use (the teaching lab's aside)."""
    import importlib
    import pkgutil

    import simulate

    for module in pkgutil.walk_packages(simulate.__path__, "simulate."):
        if not module.name.startswith("simulate.teach"):
            importlib.import_module(module.name)


def _child(request: dict) -> None:
    """In the forked child: one command, as ``python -m simulate.cli`` runs it. Never returns."""
    import simulate.cli.__main__ as entry
    from simulate.cli import main

    for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]             # where ``python -m`` starts looking, as from that folder
    sys.argv = [entry.__file__, *request["args"]]
    sys.exit(main())


def _wait(pid: int, timeout: float) -> tuple[int, bool]:
    """The child's exit code (minus the signal's number if one ended it), and whether it was
    killed for running past ``timeout`` seconds."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), not ready


def serve() -> None:
    import gc
    import threading

    sys.path[0] = os.getcwd()                # not this file's folder: as ``python -m`` would have it
    _preload()
    gc.freeze()     # the collector of a child leaves the imported objects alone: their pages stay shared
    for line in sys.stdin:
        request = json.loads(line)
        if threading.active_count() != 1:
            raise RuntimeError("the server started a thread; a fork would not be a clean process")
        pid = os.fork()
        if pid == 0:
            _child(request)
        code, timed_out = _wait(pid, request["timeout"])
        sys.stdout.write(json.dumps({"returncode": code, "timed_out": timed_out}) + "\n")
        sys.stdout.flush()


# --------------------------------------------------------------------------- the client


class ForkedCommands:
    """A server of ``trialsim`` commands (see the module), started with ``env`` and, in the
    server before it imports anything, ``preexec_fn``; a command running past ``timeout``
    seconds is killed and :class:`subprocess.TimeoutExpired` raised, as ``subprocess.run`` does."""

    def __init__(self, env: dict[str, str], preexec_fn: Callable[[], None] | None = None, timeout: float = 600):
        self.timeout = timeout
        self._files = tempfile.TemporaryDirectory(prefix="trialsim-forks-")
        self._server = subprocess.Popen([sys.executable, str(HERE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env, preexec_fn=preexec_fn)

    def run(self, args: list[str], cwd: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
        """``trialsim ARGS`` from ``cwd`` in a forked child: its exit code, stdout and stderr
        (``timeout``: this command's, instead of the server's)."""
        args = [str(a) for a in args]
        timeout = self.timeout if timeout is None else timeout
        out, err = Path(self._files.name, "stdout"), Path(self._files.name, "stderr")
        request = {"args": args, "cwd": str(cwd), "stdout": str(out), "stderr": str(err), "timeout": timeout}
        self._server.stdin.write(json.dumps(request) + "\n")
        self._server.stdin.flush()
        answer = self._server.stdout.readline()
        if not answer:
            raise RuntimeError(f"the command server ended (exit code {self._server.wait()})")
        answer = json.loads(answer)
        encoding = locale.getpreferredencoding(False)
        stdout, stderr = out.read_text(encoding=encoding), err.read_text(encoding=encoding)
        if answer["timed_out"]:
            raise subprocess.TimeoutExpired(["trialsim", *args], timeout, stdout, stderr)
        return subprocess.CompletedProcess(["trialsim", *args], answer["returncode"], stdout, stderr)

    __call__ = run

    @property
    def pid(self) -> int:
        return self._server.pid

    def close(self) -> None:
        self._server.stdin.close()
        self._server.wait(timeout=60)
        self._server.stdout.close()
        self._files.cleanup()

    def __enter__(self) -> ForkedCommands:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    serve()
