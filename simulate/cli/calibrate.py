"""``trialsim calibrate``: the success threshold of a Bayesian design whose type I error under
the null is a target (:mod:`simulate.run.calibrate`)."""

from __future__ import annotations

from pathlib import Path

import click

import simulate.api as api
from simulate.cli.support import _load, _range, _show, json_opt, scenario_arg, set_opt, simulation_opts


@click.command()
@scenario_arg
@click.option("--target-type1", "target", type=_range("target_type1"), default=0.025, show_default=True,
              help="The type I error the threshold is to give under the null.")
@simulation_opts
@set_opt
@json_opt
def calibrate(scenario: Path, target: float, replicates: int | None, seed: int | None, jobs: int | None,
              backend: str, scheduler: str | None, engine: str, overrides: tuple[str, ...], as_json: bool,
              max_memory: str | None, max_minutes: str | None) -> None:
    """Calibrate a Bayesian design's analysis.success_threshold to a frequentist type I error."""
    r = api.calibrate(_load(scenario, overrides), target_type1=target, replicates=replicates, seed=seed,
                      engine=engine, jobs=jobs, backend=backend, scheduler=scheduler, max_memory=max_memory,
                      max_minutes=max_minutes, progress=not as_json)
    _show(r, as_json)
