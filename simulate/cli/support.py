"""What the ``trialsim`` commands share: their options, loading a scenario with its notes, claiming
the output folder, planning the work before it starts, and printing tables and JSON (the names
with a leading underscore are the command package's own)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from pathlib import Path

import click

import simulate.api as api
from simulate.api.arguments import BOUNDS, FLOATS, checked, option
from simulate.api.common import notes as api_notes
from simulate.run.parallel import BACKENDS
from simulate.design.choices import DEFAULT_ENGINE, ENGINES
from simulate.design.scenario import Scenario
from simulate.errors import UsageError

EXIT_USAGE = 2

class _Bounded:
    """A number in the API's range for the argument of this name
    (:data:`simulate.api.arguments.BOUNDS`), checked by the API's own check, so that a bad value
    gives the same line on the command line as in Python (``--replicates: got 0; allowed: a
    whole number from 1 to 100,000,000``); ``--help`` shows the range as click's ranges do."""

    arg: str

    def convert(self, value, param, ctx):
        real = self.arg in FLOATS
        if isinstance(value, str):
            try:
                value = float(value) if real else int(value.strip())
            except ValueError:
                low, high = BOUNDS[self.arg]
                shown = f"a number from {low:g} to {high:g}" if real else f"a whole number from {low:,} to {high:,}"
                raise UsageError(f"{option(self.arg)}: got {value!r}; allowed: {shown}") from None
        return checked(self.arg, value)


class BoundedInt(_Bounded, click.IntRange):
    def __init__(self, name: str) -> None:
        self.arg = name
        super().__init__(*BOUNDS[name])


class BoundedFloat(_Bounded, click.FloatRange):
    def __init__(self, name: str) -> None:
        self.arg = name
        super().__init__(*BOUNDS[name])


def _range(name: str) -> click.ParamType:
    """The option's allowed range and its check: the API's."""
    return BoundedFloat(name) if name in FLOATS else BoundedInt(name)


# not dir_okay=False: a folder named like a shipped scenario is the loader's to judge (it says so)
scenario_arg = click.argument("scenario", type=click.Path(path_type=Path))
set_opt = click.option(
    "--set", "overrides", multiple=True, metavar="PATH=VALUE",
    help="Override a scenario field, e.g. --set dropout.probability_by_endpoint=0.2 (repeatable).",
)
seed_opt = click.option("--seed", type=_range("seed"), default=None,
                        help="Root seed (default: the scenario's simulation.seed).")
json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
memory_opt = click.option("--max-memory", metavar="SIZE", default=None,
                          help="Memory budget, e.g. 4G or 512M (default: half the memory available, or "
                               "$TRIALSIM_MAX_MEMORY). Work that cannot fit is refused before it starts.")
minutes_opt = click.option("--max-minutes", metavar="M", default=None,
                           help="Refuse work estimated to take longer (default 30, or $TRIALSIM_MAX_MINUTES).")


def limit_opts(f):
    """The resource limits every command that simulates takes."""
    return memory_opt(minutes_opt(f))


def _load(path: Path, overrides: tuple[str, ...]) -> Scenario:
    """The scenario (:func:`simulate.load_scenario`), with a note if a folder (or other
    non-file) here was passed over for the shipped scenario of its name."""
    return api.load_scenario(path, *overrides)


class NotesHandler(logging.Handler):
    """Prints the API's notes (:data:`simulate.api.common.notes`) on stderr as the commands
    always have: ``note: ...`` and ``warning: ...`` lines, and on a terminal (or when marked
    ``always``) the plan and the main job's progress."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.levelno >= logging.WARNING or getattr(record, "kind", "") == "always"
                or sys.stderr.isatty())

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = f"{getattr(record, 'kind', 'note')}: {text}"
        click.echo(text, err=True)


_NOTES_LOCK = threading.Lock()
_NOTES_USERS = [0, None]
"""How many commands are running in this process, and the notes logger's settings before the
first (restored after the last)."""


@contextlib.contextmanager
def notes_on_stderr():
    """While commands run, the API's notes go to stderr through one handler (and not on to the
    root logger); after the last, the logger is as it was."""
    logger = api_notes
    with _NOTES_LOCK:
        if _NOTES_USERS[0] == 0:
            handler = NotesHandler()
            _NOTES_USERS[1] = (handler, logger.propagate, logger.level)
            logger.addHandler(handler)
            logger.propagate = False
            logger.setLevel(logging.INFO)
        _NOTES_USERS[0] += 1
    try:
        yield
    finally:
        with _NOTES_LOCK:
            _NOTES_USERS[0] -= 1
            if _NOTES_USERS[0] == 0:
                handler, propagate, level = _NOTES_USERS[1]
                logger.removeHandler(handler)
                logger.propagate = propagate
                logger.setLevel(level)


def _show(result, as_json: bool) -> None:
    """A result as the command prints it: its JSON (``to_dict``) or its summary."""
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(result.summary())


def _echo_json(obj: dict) -> None:
    """One JSON object on stdout; NaN (no data) becomes null so the output stays valid JSON."""
    from simulate.io import json_ready

    click.echo(json.dumps(json_ready(obj), indent=2, allow_nan=False,
                          default=lambda o: o.item() if hasattr(o, "item") else str(o)))


engine_opt = click.option("--engine", type=click.Choice(ENGINES), default=DEFAULT_ENGINE, show_default=True,
                          help="batch: vectorised, identical trials, fast; des: the discrete-event reference.")
jobs_opt = click.option("--jobs", type=_range("jobs"), default=None,
                        help="Parallel workers (default: all cores).")
backend_opt = click.option("--backend", type=click.Choice(BACKENDS), default=BACKENDS[0], show_default=True,
                           help="loky: processes on this machine; dask: a Dask cluster (pip install 'trialsim[distributed]').")
scheduler_opt = click.option("--scheduler", default=None, metavar="ADDRESS",
                             help="Dask scheduler to use, e.g. tcp://host:8786 (default: start a local cluster).")
reps_opt = click.option("--replicates", type=_range("replicates"), default=None,
                        help="Simulated trials per design (default: the scenario's simulation.replicates).")
def simulation_opts(f):
    """The options every simulating command shares: replicates, seed, where and how to run, limits."""
    for opt in reversed((reps_opt, seed_opt, jobs_opt, backend_opt, scheduler_opt, engine_opt, memory_opt,
                         minutes_opt)):
        f = opt(f)
    return f


TEACH_INSTALL_HINT = "pip install 'trialsim[teach]'"
DEFAULT_TEACH_SCENARIO = "nct04743739"


def _check_port_free(port: int) -> None:
    """Before starting: 127.0.0.1:port can be listened on."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)       # as the server itself binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError as err:
            raise UsageError(f"--port: got {port}; 127.0.0.1:{port} cannot be used ({err.strerror or err}); "
                             "choose another, e.g. --port 8050") from None
