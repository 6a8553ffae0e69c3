"""The ``trialsim`` command: parse, load, run, write. Nothing else.

A user's mistake (a bad scenario, a bad flag) prints one line per problem on stderr, writes
nothing and exits with code 2. Results go to stdout (tables, or one JSON object with --json).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd

from simulate import __version__
from simulate.errors import TrialSimError, UsageError
from simulate.scenario import Scenario, load_scenario

EXIT_USAGE = 2

scenario_arg = click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
set_opt = click.option(
    "--set", "overrides", multiple=True, metavar="PATH=VALUE",
    help="Override a scenario field, e.g. --set dropout.probability_by_endpoint=0.2 (repeatable).",
)
seed_opt = click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
                        help="Root seed (default: the scenario's simulation.seed).")
json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


def _load(path: Path, overrides: tuple[str, ...]) -> Scenario:
    return load_scenario(path, overrides)


def _echo_json(obj: dict) -> None:
    click.echo(json.dumps(obj, indent=2, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


def _table(frame: pd.DataFrame) -> str:
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 70):
        return frame.to_string(index=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trialsim")
@click.option("-v", "--verbose", count=True, help="Log progress to stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """Simulate randomised clinical trials: patients, eligibility, recruitment, follow-up,
    analysis and Monte Carlo power. SCENARIO is a TOML file (see scenarios/)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@cli.command()
@scenario_arg
@set_opt
def validate(scenario: Path, overrides: tuple[str, ...]) -> None:
    """Check a scenario file; print OK or one line per problem (exit 2)."""
    _load(scenario, overrides)
    click.echo("OK")


# ----------------------------------------------------------------------------- cohort


def _screen_cohort(sc: Scenario, n: int, seed: int):
    from simulate.cohort import draw_cohort
    from simulate.eligibility import RULE_NAMES, screen
    from simulate.seeding import child_sequence, root_sequence

    patients = draw_cohort(sc.cohort, n, child_sequence(root_sequence(seed), "cohort"))
    screening = screen(patients, sc.eligibility)
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
    s = screening.summary()
    click.echo(f"Screening {n:,} referred patients of scenario '{sc.name}' (seed {seed})\n")
    f = screening.funnel()[["criterion", "kind", "failing", "excluded", "deferred", "remaining"]]
    click.echo(_table(f))
    pct = lambda k: f"{k:,} ({100 * k / max(n, 1):.1f}%)"  # noqa: E731
    click.echo(
        f"\nscreened {n:,}   excluded {pct(s['excluded'])}   deferred {pct(s['deferred'])}   "
        f"eligible now {pct(s['eligible'])}"
    )


@cli.command()
@scenario_arg
@click.option("--n", "n", type=click.IntRange(1, 20_000_000), default=10_000, show_default=True,
              help="Number of referred patients to draw.")
@seed_opt
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the cohort with its eligibility columns to this CSV file.")
@set_opt
@json_opt
def cohort(scenario: Path, n: int, seed: int | None, out: Path | None, overrides: tuple[str, ...],
           as_json: bool) -> None:
    """Draw a synthetic referred cohort and screen it against the registered criteria."""
    from simulate.io import write_csv_atomic

    if out is not None and out.suffix.lower() != ".csv":
        raise UsageError(f"--out: got '{out}'; must be a .csv file name")
    sc = _load(scenario, overrides)
    seed = sc.simulation.seed if seed is None else seed
    screening, frame = _screen_cohort(sc, n, seed)
    if out is not None:
        write_csv_atomic(out, frame)
    if as_json:
        _echo_json(screening.summary())
    else:
        _print_funnel(screening, n, seed, sc)
        if out is not None:
            click.echo(f"cohort written to {out}")


# ----------------------------------------------------------------------------- run


@cli.command()
@scenario_arg
@seed_opt
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Results folder (default results/<scenario-name>/).")
@click.option("--n", "n", type=click.IntRange(1, 20_000_000), default=10_000, show_default=True,
              help="Referred patients drawn for the screening funnel.")
@set_opt
def run(scenario: Path, seed: int | None, out_dir: Path | None, n: int, overrides: tuple[str, ...]) -> None:
    """The main job on a scenario: screen a synthetic cohort and write the results folder."""
    from simulate.io import write_csv_atomic, write_json_atomic

    sc = _load(scenario, overrides)
    seed = sc.simulation.seed if seed is None else seed
    out_dir = out_dir or Path("results") / sc.name
    screening, frame = _screen_cohort(sc, n, seed)
    write_csv_atomic(out_dir / "funnel.csv", screening.funnel())
    write_json_atomic(out_dir / "run.json", {
        "scenario": sc.model_dump(mode="json"), "seed": seed, "n_referred": n,
        "trialsim_version": __version__, "numpy_version": np.__version__,
    })
    _print_funnel(screening, n, seed, sc)
    click.echo(f"\nresults written to {out_dir}/")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    try:
        cli.main(args=argv, prog_name="trialsim", standalone_mode=False)
    except TrialSimError as err:
        for line in err.problems:
            click.echo(f"error: {line}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
