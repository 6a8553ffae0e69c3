"""The ``trialsim`` commands: parse, load, run, print (the words are :mod:`simulate.report.sentences`'s,
the options and checks :mod:`simulate.cli.support`'s). Nothing else.

A user's mistake (a bad scenario, a bad flag) prints one line per problem on stderr, writes
nothing and exits with code 2. Results go to stdout (tables, or one JSON object with --json).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

import simulate.api as api
from simulate.cli.calibrate import calibrate
from simulate.cli.support import (DEFAULT_TEACH_SCENARIO, EXIT_USAGE, TEACH_INSTALL_HINT, _check_port_free, _load,
                                  _range, _show, json_opt, limit_opts, notes_on_stderr, scenario_arg, seed_opt,
                                  set_opt, simulation_opts)
from simulate.errors import TrialSimError, UsageError


def _version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--version``: the version and the hash of the code (:func:`simulate.version.version_line`)."""
    if not value or ctx.resilient_parsing:
        return
    from simulate.version import version_line

    click.echo(version_line())
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Print the version and the hash of the code, and exit.")
@click.option("-v", "--verbose", count=True, help="Log progress to stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """Simulate randomised clinical trials: patients, eligibility, recruitment, follow-up,
    analysis and Monte Carlo power. SCENARIO is a TOML file (see scenarios/)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


cli.add_command(calibrate)


@cli.command()
def scenarios() -> None:
    """List the shipped scenarios (give one by name to any command, e.g. `trialsim run nct04743739`)."""
    from simulate.design.loader import scenario_description, shipped_scenarios

    shipped = shipped_scenarios()
    width = max(map(len, shipped), default=0)
    for name, path in shipped.items():
        click.echo(f"{name:<{width}}  {scenario_description(path)}")
    click.echo(f"\n(files in {next(iter(shipped.values())).parent})" if shipped else "no shipped scenarios")


@cli.command()
@scenario_arg
@set_opt
@limit_opts
def validate(scenario: Path, overrides: tuple[str, ...], max_memory: str | None, max_minutes: str | None) -> None:
    """Check a scenario file; print OK or one line per problem (exit 2). OK also means one of
    its trials fits the memory budget, so every command can plan its work."""
    api.validate(_load(scenario, overrides), max_memory=max_memory, max_minutes=max_minutes)
    click.echo("OK")


# ----------------------------------------------------------------------------- cohort


@cli.command()
@scenario_arg
@click.option("--n", "n", type=_range("n"), default=10_000, show_default=True,
              help="Number of referred patients to draw.")
@seed_opt
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the cohort with its eligibility columns to this CSV file.")
@set_opt
@json_opt
@limit_opts
def cohort(scenario: Path, n: int, seed: int | None, out: Path | None, overrides: tuple[str, ...],
           as_json: bool, max_memory: str | None, max_minutes: str | None) -> None:
    """Draw a synthetic referred cohort and screen it against the registered criteria."""
    if out is not None and out.suffix.lower() != ".csv":
        raise UsageError(f"--out: got '{out}'; must be a .csv file name")
    r = api.cohort(_load(scenario, overrides), n=n, seed=seed, out=out, max_memory=max_memory,
                   max_minutes=max_minutes)
    _show(r, as_json)


# ----------------------------------------------------------------------------- trial


@cli.command()
@scenario_arg
@seed_opt
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for the trial's tables (default results/<scenario-name>/trial-<seed>/, or "
                   "results/<scenario-name>-<hash>/trial-<seed>/ when --set changes the scenario).")
@set_opt
@json_opt
@limit_opts
def trial(scenario: Path, seed: int | None, out_dir: Path | None, overrides: tuple[str, ...], as_json: bool,
          max_memory: str | None, max_minutes: str | None) -> None:
    """Simulate one trial, patient by patient, and tell its story."""
    r = api.trial(_load(scenario, overrides), seed=seed, out=out_dir, save=True, max_memory=max_memory,
                  max_minutes=max_minutes)
    _show(r, as_json)


# ----------------------------------------------------------------------------- power


@cli.command()
@scenario_arg
@simulation_opts
@click.option("--n-per-arm", type=_range("n_per_arm"), default=None,
              help="Override trial.n_per_arm.")
@click.option("--null-world/--no-null-world", "null_world", default=True, show_default=True,
              help="Also simulate the same trials in the design's null world (type I error, expected N and "
                   "duration under H0).")
@set_opt
@json_opt
def power(scenario: Path, replicates: int | None, seed: int | None, n_per_arm: int | None, jobs: int | None,
          backend: str, scheduler: str | None, engine: str, null_world: bool, overrides: tuple[str, ...],
          as_json: bool, max_memory: str | None, max_minutes: str | None) -> None:
    """Estimate power (and operating characteristics, under the assumed effect and in the null
    world) by simulating many trials."""
    if n_per_arm is not None:
        overrides = overrides + (f"trial.n_per_arm={n_per_arm}",)
    r = api.power(_load(scenario, overrides), replicates=replicates, seed=seed, null_world=null_world,
                  engine=engine, jobs=jobs, backend=backend, scheduler=scheduler, max_memory=max_memory,
                  max_minutes=max_minutes, progress=not as_json)
    _show(r, as_json)


@cli.command()
@scenario_arg
@click.option("--target", type=_range("target"), default=None,
              help="Target power.  [default: 0.8]")
@click.option("--target-assurance", type=_range("target_assurance"), default=None,
              help="Target assurance instead: the chance of success over trials drawing their rates from the "
                   "arms' design_prior.")
@click.option("--window", type=_range("window"), default=10, show_default=True,
              help="No n within this many above the answer may fall below target (saw-tooth guard).")
@click.option("--n-max", type=_range("n_max"), default=2000, show_default=True,
              help="Largest n per arm searched.")
@click.option("--precision", type=_range("precision"), default=None,
              help="Resolve n to +-this at 95%: more trials near the answer (same seed) until its Monte "
                   "Carlo range is that narrow.")
@click.option("--power", "power_of", metavar="any|all|ARM", default=None,
              help="With several experimental arms, the power to reach: at least one comparison (any), "
                   "every one (all), or one arm's (its id). Default: the scenario's analysis.success.")
@simulation_opts
@set_opt
@json_opt
def samplesize(scenario: Path, target: float | None, target_assurance: float | None, window: int, n_max: int,
               replicates: int | None, seed: int | None, jobs: int | None, backend: str, scheduler: str | None,
               engine: str, overrides: tuple[str, ...], as_json: bool, power_of: str | None, precision: int | None,
               max_memory: str | None, max_minutes: str | None) -> None:
    """Smallest n per arm reaching the target power (or assurance), beside the closed-form references."""
    r = api.sample_size(_load(scenario, overrides), target=target, target_assurance=target_assurance,
                        power_of=power_of, window=window, n_max=n_max, precision=precision, replicates=replicates,
                        seed=seed, engine=engine, jobs=jobs, backend=backend, scheduler=scheduler,
                        max_memory=max_memory, max_minutes=max_minutes, progress=not as_json)
    _show(r, as_json)


@cli.command()
@scenario_arg
@simulation_opts
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV file for the grid (default results/<scenario-name>/sweep/sweep.csv, or "
                   "results/<scenario-name>-<hash>/sweep/sweep.csv when --set changes the scenario; never a file "
                   "of a folder trialsim filled).")
@set_opt
@json_opt
def sweep(scenario: Path, replicates: int | None, seed: int | None, jobs: int | None, backend: str,
          scheduler: str | None, engine: str, out: Path | None, overrides: tuple[str, ...], as_json: bool,
          max_memory: str | None, max_minutes: str | None) -> None:
    """Power over the scenario's [sweep] grid: one tidy CSV row per grid point."""
    r = api.sweep(_load(scenario, overrides), replicates=replicates, seed=seed, engine=engine, jobs=jobs,
                  backend=backend, scheduler=scheduler, out=out, save=True, max_memory=max_memory,
                  max_minutes=max_minutes, progress=not as_json)
    _show(r, as_json)


# ----------------------------------------------------------------------------- run


@cli.command()
@scenario_arg
@simulation_opts
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Results folder: new, empty, or an earlier run of the same scenario (default "
                   "results/<scenario-name>/, or results/<scenario-name>-<hash>/ when --set changes the scenario).")
@set_opt
def run(scenario: Path, replicates: int | None, seed: int | None, jobs: int | None, backend: str,
        scheduler: str | None, engine: str, out_dir: Path | None, overrides: tuple[str, ...],
        max_memory: str | None, max_minutes: str | None) -> None:
    """The main job: power, sample size, sweep, an example trial, plots and report.html."""
    r = api.run(_load(scenario, overrides), out=out_dir, replicates=replicates, seed=seed, engine=engine, jobs=jobs,
                backend=backend, scheduler=scheduler, max_memory=max_memory, max_minutes=max_minutes, progress=True)
    click.echo(r.summary())


# ----------------------------------------------------------------------------- teach


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="Port of the lab on 127.0.0.1.")
def teach(scenario: Path | None, port: int) -> None:
    """The teaching lab in the browser: design a trial, watch one run, simulate many
    (default scenario: the registered NCT04743739 design)."""
    try:
        import shiny
    except ImportError:
        raise UsageError(f"teach: the teaching lab needs Shiny for Python; install it with: {TEACH_INSTALL_HINT}") from None
    path = scenario if scenario is not None else Path(DEFAULT_TEACH_SCENARIO)
    sc = _load(path, ())
    _check_port_free(port)
    from simulate.teach.app import build_app

    click.echo(f"trialsim teaching lab for '{sc.name}' at http://127.0.0.1:{port}/ (Ctrl-C to stop)", err=True)
    shiny.run_app(build_app(path, sc), host="127.0.0.1", port=port, launch_browser=False, dev_mode=False,
                  log_level="warning")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: workers are closed and nothing is left half-written."""


_TERMINATED = False


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001 - the signal handler's signature
    import signal

    global _TERMINATED
    _TERMINATED = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)      # a second SIGTERM does not cut the clean-up short
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: SIGTERM is handled like Ctrl-C while it runs."""
    import signal
    import threading

    global _TERMINATED
    _TERMINATED = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(args: list[str]) -> int:
    try:
        # not cli.main(): it prints a blank line of its own on Ctrl-C
        with notes_on_stderr(), cli.make_context("trialsim", args) as ctx:
            cli.invoke(ctx)
    except TrialSimError as err:
        for line in err.problems:
            click.echo(f"error: {line}", err=True)
        return EXIT_USAGE
    except (click.exceptions.Abort, KeyboardInterrupt) as err:
        if _TERMINATED or isinstance(err, _Terminated):
            click.echo("terminated", err=True)
            return 143
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as err:
        if type(err).__name__ == "NoArgsIsHelpError":    # plain `trialsim`: the help, no error
            click.echo(err.format_message(), err=True)
            return err.exit_code
        # a bad flag: one line naming the option, the value and what is allowed
        hint = ""
        if isinstance(err, click.UsageError) and err.ctx is not None:
            hint = f" (see: {err.ctx.command_path} --help)"
        click.echo(f"error: {err.format_message()}{hint}", err=True)
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    except BrokenPipeError:                              # the reader went away (`| head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    return 0

