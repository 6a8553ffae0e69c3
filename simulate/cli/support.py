"""What the ``trialsim`` commands share: their options, loading a scenario with its notes, claiming
the output folder, planning the work before it starts, and printing tables and JSON (the names
with a leading underscore are the command package's own)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from simulate.design.choices import DEFAULT_ENGINE, ENGINES
from simulate.errors import UsageError
from simulate.design.loader import load_scenario
from simulate.run.parallel import BACKENDS
from simulate.design.scenario import Scenario

EXIT_USAGE = 2

# not dir_okay=False: a folder named like a shipped scenario is the loader's to judge (it says so)
scenario_arg = click.argument("scenario", type=click.Path(path_type=Path))
set_opt = click.option(
    "--set", "overrides", multiple=True, metavar="PATH=VALUE",
    help="Override a scenario field, e.g. --set dropout.probability_by_endpoint=0.2 (repeatable).",
)
seed_opt = click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
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


def _note(line: str | None) -> None:
    if line:
        click.echo(f"note: {line}", err=True)


def _load(path: Path, overrides: tuple[str, ...]) -> Scenario:
    """The scenario, after a note if a folder (or other non-file) here was passed over for the
    shipped scenario of its name."""
    from simulate.design.loader import locate_scenario

    found, note = locate_scenario(path)
    sc = load_scenario(found, overrides)
    _note(note)
    return sc


def _claim_folder(kind: str, scenario_path: Path, overrides: tuple[str, ...], sc: Scenario, out: Path | None,
                  settings: dict, planned, sub: str | None = None):
    """Before any work: the folder the command writes (``--out``, else the default folder of
    :func:`simulate.run.folders.default_folder`) can be written and holds nothing this command may
    not replace. Notes (another scenario content in results/<name>/, earlier results replaced)
    go to stderr once every check has passed."""
    from simulate.run.folders import claim, default_folder, overridden
    from simulate.io import check_writable

    if out is None:
        folder, note = default_folder(sc, overridden(scenario_path, overrides, sc), sub)
        where = f"--out not given: the default folder '{folder}'"
    else:
        folder, note, where = out, None, f"--out: got '{out}'"
    check_writable(folder, "--out")
    taken = claim(folder, kind, sc, settings, planned, where, overrides)
    _note(note)
    _note(taken.note)
    return taken


def _check_out_file(path: Path) -> Path:
    """Before any work: the file can be written, and is not one of the files of a folder
    trialsim filled (a run's, a trial's, a sweep's)."""
    from simulate.run.folders import refuse_run_file
    from simulate.io import check_writable

    check_writable(path.parent, "--out", shown=path)
    return refuse_run_file(path, "--out")


def _echo_json(obj: dict) -> None:
    """One JSON object on stdout; NaN (no data) becomes null so the output stays valid JSON."""
    from simulate.io import json_ready

    click.echo(json.dumps(json_ready(obj), indent=2, allow_nan=False,
                          default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _table(frame) -> str:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 70):
        return frame.to_string(index=False)


engine_opt = click.option("--engine", type=click.Choice(ENGINES), default=DEFAULT_ENGINE, show_default=True,
                          help="batch: vectorised, identical trials, fast; des: the discrete-event reference.")
jobs_opt = click.option("--jobs", type=click.IntRange(1, 512), default=None,
                        help="Parallel workers (default: all cores).")
backend_opt = click.option("--backend", type=click.Choice(BACKENDS), default=BACKENDS[0], show_default=True,
                           help="loky: processes on this machine; dask: a Dask cluster (pip install 'trialsim[distributed]').")
scheduler_opt = click.option("--scheduler", default=None, metavar="ADDRESS",
                             help="Dask scheduler to use, e.g. tcp://host:8786 (default: start a local cluster).")
reps_opt = click.option("--replicates", type=click.IntRange(1, 100_000_000), default=None,
                        help="Simulated trials per design (default: the scenario's simulation.replicates).")
def simulation_opts(f):
    """The options every simulating command shares: replicates, seed, where and how to run, limits."""
    for opt in reversed((reps_opt, seed_opt, jobs_opt, backend_opt, scheduler_opt, engine_opt, memory_opt,
                         minutes_opt)):
        f = opt(f)
    return f


def _planned(make_plan, max_memory: str | None, max_minutes: str | None):
    """Set the limits for the command, plan its work and refuse what cannot fit (exit 2, one
    line), all before anything is drawn; on a terminal, say what the work will cost."""
    from simulate.run import plan

    stack = contextlib.ExitStack()
    stack.enter_context(plan.limits(max_memory, max_minutes))
    try:
        budget, limit = plan.current_limits()
        p = plan.check(make_plan(), budget, limit)
    except BaseException:
        stack.close()
        raise
    if sys.stderr.isatty():
        click.echo(f"plan: {p.describe()} (memory budget {plan.format_bytes(budget[0])})", err=True)
    return stack


def _few_replicates(replicates: int, mc_se: float | None = None) -> None:
    from simulate.run.plan import FEW_REPLICATES

    if replicates < FEW_REPLICATES:
        from simulate.report.sentences.common import few_replicates_warning

        click.echo(f"warning: {few_replicates_warning(replicates, FEW_REPLICATES, mc_se)}", err=True)


def _backend(name: str, jobs: int | None, scheduler: str | None):
    from simulate.run.parallel import Backend

    return Backend(name, jobs, scheduler)


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
