"""Sensitivity sweeps: power at every point of a scenario's ``[sweep]`` grid, all from the same
seed (common random numbers)."""

from __future__ import annotations

import itertools
import time

from simulate.design import loader
from simulate.run import plan
from simulate.design import scenario as sc
from simulate.design.choices import DEFAULT_ENGINE
from simulate.run.plan import trials_per_block
from simulate.run.power import Jobs, summarise, tally_designs
from simulate.run.results import PowerResult, SweepPoint, SweepResult


def sweep_points(scenario: sc.Scenario) -> list[dict]:
    """Every combination of the scenario's ``[sweep]`` grid, as {path: value} dicts."""
    grid = scenario.sweep_grid
    if not grid:
        return [{}]
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def sweep(scenario: sc.Scenario, replicates: int | None = None, seed: int | None = None,
          jobs: Jobs = None, engine: str = DEFAULT_ENGINE, progress: bool = False,
          planned: dict[str, PowerResult] | None = None) -> SweepResult:
    """Power at every grid point (grid values, power, MC SE, and more); ``.to_frame()`` gives one
    tidy row each.

    ``planned``: where one grid point is the scenario itself, simulated on the blocks it has on
    its own, its full power result (what :func:`simulate.run.power.estimate_power` gives) is put
    there under ``"power"``."""
    replicates = scenario.simulation.replicates if replicates is None else replicates
    seed = scenario.simulation.seed if seed is None else seed
    points = sweep_points(scenario)
    designs = [loader.with_overrides(scenario, point) for point in points]
    t0 = time.perf_counter()
    totals = tally_designs(designs, replicates, seed, jobs, engine, progress,
                           f"{len(points)} grid points, {replicates:,} trials each")
    elapsed = (time.perf_counter() - t0) / len(points)
    if planned is not None:
        itself = _planned_point(scenario, designs)
        if itself is not None:
            planned["power"] = summarise(scenario, totals[itself], seed, engine, elapsed)
    out = []
    for point, d, t in zip(points, designs, totals):
        r = summarise(d, t, seed, engine, elapsed)
        out.append(SweepPoint(values=dict(point), power=r.power, mc_se=r.mc_se, ci_low=r.ci_low, ci_high=r.ci_high,
                              replicates=r.replicates, n_per_arm=r.n_per_arm, mean_randomised=r.mean_randomised,
                              p_recruitment_on_time=r.p_recruitment_on_time,
                              mean_duration_months=r.mean_duration_months, mean_dropouts=r.mean_dropouts,
                              mean_randomised_mc_se=r.mean_randomised_mc_se,
                              p_recruitment_on_time_se=r.p_recruitment_on_time_se,
                              mean_duration_months_mc_se=r.mean_duration_months_mc_se,
                              mean_dropouts_mc_se=r.mean_dropouts_mc_se, true_difference=r.true_difference,
                              mean_risk_difference=r.mean_risk_difference, risk_difference_bias=r.risk_difference_bias,
                              risk_difference_bias_se=r.risk_difference_bias_se, ci_coverage=r.ci_coverage,
                              ci_coverage_se=r.ci_coverage_se, true_difference_mc_se=r.true_difference_mc_se))
    return SweepResult(axes=tuple(scenario.sweep_grid), points=tuple(out))


def _planned_point(scenario: sc.Scenario, designs: list[sc.Scenario]) -> int | None:
    """The index of the design that is the scenario itself (its grid values are the scenario's),
    if the grid's blocks are the size the scenario has alone: its trials are then the same."""
    if trials_per_block(*designs) != trials_per_block(scenario):
        return None
    itself = loader.with_overrides(scenario, {})
    return next((i for i, d in enumerate(designs) if d == itself), None)


def plan_sweep(scenario: sc.Scenario, replicates: int, jobs: int | None = None, engine: str = "batch") -> plan.Plan:
    """What :func:`sweep` will cost (:mod:`simulate.run.plan`): every grid point side by side."""
    designs = [loader.with_overrides(scenario, point) for point in sweep_points(scenario)]
    return plan.plan_trials(designs, replicates, jobs, engine,
                            what=f"a sweep of {len(designs)} grid points ({replicates:,} trials each)")
