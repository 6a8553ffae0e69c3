"""``trialsim calibrate``: the success threshold of a Bayesian design whose type I error under
the null is a target (:mod:`simulate.run.calibrate`)."""

from __future__ import annotations

from pathlib import Path

import click

from simulate.cli.support import (_backend, _echo_json, _few_replicates, _load, _planned, json_opt, scenario_arg,
                                  set_opt, simulation_opts)
from simulate.errors import UsageError


@click.command()
@scenario_arg
@click.option("--target-type1", "target", type=click.FloatRange(0.0001, 0.5), default=0.025, show_default=True,
              help="The type I error the threshold is to give under the null.")
@simulation_opts
@set_opt
@json_opt
def calibrate(scenario: Path, target: float, replicates: int | None, seed: int | None, jobs: int | None,
              backend: str, scheduler: str | None, engine: str, overrides: tuple[str, ...], as_json: bool,
              max_memory: str | None, max_minutes: str | None) -> None:
    """Calibrate a Bayesian design's analysis.success_threshold to a frequentist type I error."""
    from simulate.run import plan
    from simulate.run.calibrate import calibrate as run_calibration
    from simulate.run.parallel import session

    sc = _load(scenario, overrides)
    if sc.analysis.framework != "bayesian":
        raise UsageError(f"{scenario}: analysis.framework: got {sc.analysis.framework!r}; calibrate tunes a Bayesian "
                         "design's success threshold: --set analysis.framework=\"bayesian\"")
    where = _backend(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    with _planned(lambda: plan.plan_power(sc, reps, jobs, engine), max_memory, max_minutes), session(where):
        r = run_calibration(sc, target, replicates, seed, where, engine, progress=not as_json)
    _few_replicates(r.replicates)
    if as_json:
        _echo_json(r.to_json())
        return
    click.echo(f"Calibration of '{sc.name}': {r.replicates:,} null trials, seed {r.seed}\n")
    click.echo(f"  threshold         {r.threshold:.5f} (95% Monte Carlo interval {r.threshold_low:.5f}-"
               f"{r.threshold_high:.5f}): success when the posterior probability of benefit exceeds it")
    click.echo(f"  type I error      {r.type1_error:.4f} on the calibration's trials (target {r.target_type1:g}); "
               f"{r.type1_error_check:.4f} ± {r.type1_error_check_mc_se:.4f} on fresh ones (seed {r.seed + 1})")
    click.echo(f"  power             {r.power:.3f} ± {r.power_mc_se:.3f} at the threshold, at the scenario's rates")
    if r.null_design:
        click.echo(f"  null world        {r.null_design}")
    click.echo(f"\n  use it: --set analysis.success_threshold={r.threshold:.5f}")
