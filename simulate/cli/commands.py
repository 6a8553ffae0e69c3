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

from simulate import __version__
from simulate.cli.calibrate import calibrate
from simulate.cli.support import (DEFAULT_TEACH_SCENARIO, EXIT_USAGE, TEACH_INSTALL_HINT, _backend,
                                  _check_out_file, _check_port_free, _claim_folder, _echo_json, _few_replicates,
                                  _load, _planned, _table, json_opt, limit_opts, scenario_arg, seed_opt, set_opt,
                                  simulation_opts)
from simulate.errors import TrialSimError, UsageError
from simulate.design.scenario import Scenario


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trialsim")
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
    from simulate.run import plan

    sc = _load(scenario, overrides)
    with plan.limits(max_memory, max_minutes):
        plan.check_one_trial(sc)
    click.echo("OK")


# ----------------------------------------------------------------------------- cohort


def _screen_cohort(sc: Scenario, n: int, seed: int):
    import numpy as np

    from simulate.screening.criteria import RULE_NAMES
    from simulate.screening.screen import screen_referrals

    patients, screening = screen_referrals(sc, n, seed)
    frame = patients.to_frame()
    for name, passes in zip(RULE_NAMES, screening.passes):
        frame[f"passes_{name}"] = passes
    frame["first_failure"] = screening.first_failure_name
    frame["qualifies_in_months"] = screening.qualifies_in_months
    frame["status"] = np.select(
        [screening.eligible_now, screening.deferred], ["eligible", "deferred"], "excluded"
    )
    return screening, frame


def _print_funnel(screening, n: int, seed: int, sc: Scenario) -> None:
    from simulate.report.sentences.console import FUNNEL_COLUMNS, funnel_heading, funnel_totals

    click.echo(funnel_heading(sc, n, seed))
    click.echo(_table(screening.funnel()[list(FUNNEL_COLUMNS)]))
    click.echo(funnel_totals(screening.summary(), n))


@cli.command()
@scenario_arg
@click.option("--n", "n", type=click.IntRange(1, 20_000_000), default=10_000, show_default=True,
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
    from simulate.run import plan
    from simulate.io import write_csv_atomic

    if out is not None and out.suffix.lower() != ".csv":
        raise UsageError(f"--out: got '{out}'; must be a .csv file name")
    sc = _load(scenario, overrides)
    if out is not None:
        _check_out_file(out)
    seed = sc.simulation.seed if seed is None else seed
    with _planned(lambda: plan.plan_cohort(n), max_memory, max_minutes):
        screening, frame = _screen_cohort(sc, n, seed)
    if out is not None:
        write_csv_atomic(out, frame)
    if as_json:
        _echo_json(screening.summary())
    else:
        _print_funnel(screening, n, seed, sc)
        if out is not None:
            click.echo(f"cohort written to {out}")


# ----------------------------------------------------------------------------- trial


def _trial_summary(sc: Scenario, seed: int, result) -> dict:
    from simulate.run.trial_analysis import trial_analysis

    c, cal = result.consort, result.calendar
    return {
        "scenario": sc.name, "seed": seed, "consort": c,
        "n_randomised": c["randomised"], "n_per_arm": c["randomised_per_arm"],
        "recruitment_months": cal["recruitment_months"], "duration_months": cal["duration_months"],
        "terminated": cal["terminated"], "calendar": cal,
        "remission_at_endpoint": result.remission_at_endpoint(sc.trial.endpoint == "cr"),
        "analysis": trial_analysis(sc, seed),
        **({} if result.sequential is None else {"sequential": {
            k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in result.sequential.items()}}),
    }


def _print_story(sc: Scenario, seed: int, result) -> None:
    from simulate.report.sentences.trial import story_lines

    for line in story_lines(sc, seed, result):
        click.echo(line)


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
    from simulate.run import plan
    from simulate.run.folders import TRIAL_FILES
    from simulate.io import write_csv_atomic, write_json_atomic

    sc = _load(scenario, overrides)
    seed = sc.simulation.seed if seed is None else seed
    from simulate.engines.des import example_trial

    with _planned(lambda: plan.plan_trial(sc), max_memory, max_minutes):
        taken = _claim_folder("trial", scenario, overrides, sc, out_dir, {"seed": seed}, TRIAL_FILES,
                              sub=f"trial-{seed}")
        out_dir = taken.folder
        result = example_trial(sc, seed)
    summary = _trial_summary(sc, seed, result)
    taken.begin()
    write_csv_atomic(out_dir / "patients.csv", result.patients)
    write_csv_atomic(out_dir / "visits.csv", result.visits)
    write_csv_atomic(out_dir / "events.csv", result.events)
    from simulate.io import json_ready

    summary = json_ready(summary)
    write_json_atomic(out_dir / "trial.json", summary)
    taken.finish(TRIAL_FILES)
    if as_json:
        _echo_json(summary)
    else:
        _print_story(sc, seed, result)
        click.echo(f"\ntables written to {out_dir}/")


# ----------------------------------------------------------------------------- power


@cli.command()
@scenario_arg
@simulation_opts
@click.option("--n-per-arm", type=click.IntRange(1, 100_000), default=None,
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
    from simulate.run import plan
    from simulate.run.parallel import session
    from simulate.run.assurance import with_assurance
    from simulate.run.operating import with_design_stage, with_null_world
    from simulate.run.power import estimate_power

    if n_per_arm is not None:
        overrides = overrides + (f"trial.n_per_arm={n_per_arm}",)
    sc = _load(scenario, overrides)
    where = _backend(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    with _planned(lambda: plan.plan_power(sc, reps, jobs, engine, null_world=null_world), max_memory, max_minutes), \
            session(where):
        r = estimate_power(sc, replicates, seed, where, engine, progress=not as_json)
        r = with_assurance(sc, r, replicates, seed, where, engine, progress=not as_json)
        r = with_design_stage(sc, r, replicates, seed, where, engine, progress=not as_json)
        if null_world:
            r = with_null_world(sc, r, replicates, seed, where, engine, progress=not as_json)
    _few_replicates(r.replicates, r.mc_se)
    if as_json:
        _echo_json(r.to_dict())
        return
    from simulate.report.sentences.console import power_lines

    click.echo("\n".join(power_lines(sc, r)))


@cli.command()
@scenario_arg
@click.option("--target", type=click.FloatRange(0.01, 0.999), default=None,
              help="Target power.  [default: 0.8]")
@click.option("--target-assurance", type=click.FloatRange(0.01, 0.999), default=None,
              help="Target assurance instead: the chance of success over trials drawing their rates from the "
                   "arms' design_prior.")
@click.option("--window", type=click.IntRange(0, 200), default=10, show_default=True,
              help="No n within this many above the answer may fall below target (saw-tooth guard).")
@click.option("--n-max", type=click.IntRange(2, 100_000), default=2000, show_default=True,
              help="Largest n per arm searched.")
@click.option("--precision", type=click.IntRange(1, 100), default=None,
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
    from simulate.run.parallel import session
    from simulate.run.samplesize import find_sample_size

    sc = _load(scenario, overrides)
    if power_of is not None:
        allowed = ("any", "all", *sc.experimental_arms)
        if power_of not in allowed:
            raise UsageError(f"--power: got {power_of!r}; allowed: {', '.join(allowed)}")
        sc = _load(scenario, overrides + (f'analysis.success="{power_of}"',))
    if target_assurance is not None:
        if target is not None:
            raise UsageError(f"--target-assurance: got {target_assurance} with --target {target}; give one of them")
        sc, target = _assurance_world(sc, target_assurance), target_assurance
    target = 0.8 if target is None else target
    where = _backend(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    from simulate.run.samplesize import plan_samplesize

    with _planned(lambda: plan_samplesize(sc, reps, jobs, engine, target, n_max), max_memory, max_minutes), \
            session(where):
        r = find_sample_size(sc, target, replicates, seed, where, engine, window, n_max, progress=not as_json,
                             precision=precision)
    _few_replicates(reps)
    if as_json:
        _echo_json(r.to_json())
        return
    from simulate.report.sentences.console import SAMPLESIZE_COLUMNS, samplesize_heading, samplesize_lines

    click.echo(samplesize_heading(sc, target))
    if r.curve:
        click.echo(_table(r.to_frame()[list(SAMPLESIZE_COLUMNS)].round(4)))
    click.echo("\n".join(samplesize_lines(r, precision, sc)))


def _assurance_world(sc, target: float):
    """The scenario whose trials draw their rates from the design priors, for a sample size by
    assurance; a usage error without a design prior, or for a target the prior rules out (with
    a one-sided or non-inferiority test the assurance cannot pass the prior probability of a
    true benefit, however many patients)."""
    from simulate.run.assurance import has_design_prior, prior_probability_of_benefit, prior_world

    if not has_design_prior(sc):
        raise UsageError(f"--target-assurance: got {target}; no arm of '{sc.name}' has a design_prior: give one, "
                         "e.g. --set 'arms.<id>.design_prior={ beta = [a, b] }'")
    a = sc.analysis
    if a.alternative == "greater" or a.hypothesis == "non_inferiority":
        ceiling = prior_probability_of_benefit(sc)
        if target >= ceiling:
            raise UsageError(f"--target-assurance: got {target}; the design priors give a true benefit a probability "
                             f"of {ceiling:.3f}, which no n can exceed: target less than that")
    return prior_world(sc)


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
    from simulate.io import write_csv_atomic
    from simulate.run.sweep import sweep as run_sweep

    sc = _load(scenario, overrides)
    if not sc.sweep:
        raise UsageError(f"{scenario}: sweep: the scenario has no [sweep] table; add one such as "
                         "\"dropout.probability_by_endpoint\" = [0.0, 0.1, 0.2]")
    if out is not None and out.suffix.lower() != ".csv":
        raise UsageError(f"--out: got '{out}'; must be a .csv file name")
    from simulate.run.parallel import session
    from simulate.run.sweep import plan_sweep

    where = _backend(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    from simulate.run.folders import SWEEP_FILES

    with _planned(lambda: plan_sweep(sc, reps, jobs, engine), max_memory, max_minutes):
        taken = None
        if out is None:                 # the default folder is the sweep's own, with its manifest
            from simulate.run.main_job import run_settings

            settings = run_settings(sc.simulation.seed if seed is None else seed,
                                    sc.simulation.replicates if replicates is None else replicates, engine)
            taken = _claim_folder("sweep", scenario, overrides, sc, None, settings, SWEEP_FILES, sub="sweep")
            out = taken.folder / SWEEP_FILES[0]
        else:
            out = _check_out_file(out)
        with session(where):
            frame = run_sweep(sc, replicates, seed, where, engine, progress=not as_json).to_frame()
    _few_replicates(reps)
    if taken is not None:
        taken.begin()
    write_csv_atomic(out, frame)
    if taken is not None:
        taken.finish(SWEEP_FILES)
    if as_json:
        _echo_json({"grid": frame.to_dict(orient="records"), "out": str(out)})
    else:
        click.echo(_table(frame.round(4)))
        click.echo(f"\nsweep written to {out}")


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
    from simulate.run.parallel import session
    from simulate.run.main_job import plan_run, run_all, run_files, run_settings

    sc = _load(scenario, overrides)
    settings = run_settings(sc.simulation.seed if seed is None else seed,
                            sc.simulation.replicates if replicates is None else replicates, engine)
    where = _backend(backend, jobs, scheduler)
    tell = (lambda what: click.echo(f"  {what}", err=True)) if sys.stderr.isatty() else None
    reps = replicates or sc.simulation.replicates
    with _planned(lambda: plan_run(sc, reps, jobs, engine), max_memory, max_minutes):
        taken = _claim_folder("run", scenario, overrides, sc, out_dir, settings, run_files(sc))
        out_dir = taken.folder
        _few_replicates(reps)
        with session(where):
            click.echo(f"Running '{sc.name}' into {out_dir}/ ...", err=True)
            results = run_all(sc, out_dir, seed, replicates, where, engine, scenario_path=scenario,
                              overrides=overrides, progress=True, on_piece=tell, claim=taken)
    click.echo("\n".join(results.summary))
    click.echo(f"\nresults, plots and report.html written to {out_dir}/")


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
        with cli.make_context("trialsim", args) as ctx:
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

