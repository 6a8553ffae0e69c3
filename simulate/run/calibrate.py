"""Calibrating a Bayesian decision rule: the success threshold whose frequentist type I error
under the null is a target (``trialsim calibrate``), as regulators ask of Bayesian designs and
as adaptr's ``calibrate_trial`` does.

The null world is the design's own (:func:`simulate.design.null_world.null_scenario`: the
experimental arms at the control's rate, or at the margin for non-inferiority). Its trials are
simulated once and each one's decision statistic kept: the posterior probability of benefit of
the comparison that decides success (the largest with ``analysis.success = "any"``, the
smallest with ``"all"``, the named arm's otherwise). Success at threshold c is that statistic
above c, so the type I error at every c is read off the same trials, and the threshold is the
(1 - target) quantile of the statistic. Its Monte Carlo uncertainty is the distribution-free
95% interval of that quantile (the order statistics whose ranks bound a binomial 95% interval
of the count above it). Fresh trials (the next seed) then check the type I error at the
threshold, and the design's power at it is reported. With interim looks the threshold is found
by bisection over whole runs of the same null trials (:func:`_calibrate_looks`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from simulate.design import scenario as sc
from simulate.design.loader import with_overrides
from simulate.errors import UsageError
from simulate.run.record import Float, Record

log = logging.getLogger(__name__)

THRESHOLD_MIN, THRESHOLD_MAX = 0.5, 0.99999
"""The thresholds ``analysis.success_threshold`` allows (above 0.5, below 1; 5 decimals)."""
MIN_TRIALS_ABOVE = 10
"""At least this many null trials must succeed at the target level for a threshold to be read
off them (fewer: its Monte Carlo error swamps it)."""


@dataclass(frozen=True)
class Calibration(Record):
    """The calibrated success threshold of a Bayesian design and what it gives."""

    scenario: str
    target_type1: Float
    threshold: Float
    """The smallest threshold at which at most ``target_type1`` of the null trials succeed."""
    threshold_low: Float
    threshold_high: Float
    """The threshold's distribution-free 95% Monte Carlo interval."""
    type1_error: Float
    """The share of the calibration's null trials that succeed at the threshold."""
    type1_error_check: Float
    """The same on fresh null trials (the next seed): the threshold is not tuned to these."""
    type1_error_check_mc_se: Float
    power: Float
    """The design's power at the threshold (the scenario's own rates, its own seed)."""
    power_mc_se: Float
    replicates: int
    seed: int
    null_design: str
    """How the null world was made (empty when only the experimental arms' rates moved)."""
    curve: tuple[dict, ...] = ()
    """Type I error at a grid of thresholds, from the calibration's null trials."""


def calibrate(scenario: sc.Scenario, target: float, replicates: int | None = None, seed: int | None = None,
              jobs=None, engine: str = "batch", progress: bool = False) -> Calibration:
    """Calibrate ``scenario``'s ``analysis.success_threshold`` to a type I error of ``target``."""
    from simulate.design.null_world import null_scenario
    from simulate.run.power import estimate_power

    replicates = scenario.simulation.replicates if replicates is None else replicates
    seed = scenario.simulation.seed if seed is None else seed
    if target * replicates < MIN_TRIALS_ABOVE:
        raise UsageError(f"--target-type1: got {target:g} with {replicates:,} trials; at that level only "
                         f"{target * replicates:.1f} null trials would succeed: simulate at least "
                         f"{math.ceil(MIN_TRIALS_ABOVE / target):,} (--replicates)")
    scenario = with_overrides(scenario, {"outcome.rates_from": "assumed"})   # the null's rates are not drawn
    null, note = null_scenario(scenario)
    if scenario.interim is not None and scenario.interim.looks > 1:
        return _calibrate_looks(scenario, null, note, target, replicates, seed, jobs, engine, progress)
    s = np.sort(null_statistics(null, replicates, seed, jobs, engine, progress))[::-1]   # largest first
    k = int(math.floor(target * replicates + 1e-9))          # trials allowed above the threshold
    exact = s[k] if k < len(s) else THRESHOLD_MIN
    if not THRESHOLD_MIN < exact < THRESHOLD_MAX:
        raise UsageError(f"--target-type1: got {target:g}; the threshold it needs, {exact:.6f}, lies outside what "
                         f"analysis.success_threshold allows (above {THRESHOLD_MIN:g}, below 1): choose another target")
    threshold = _clip(math.ceil(exact * 1e5) / 1e5)          # printed with 5 decimals: rounded up, never below
    lo_k, hi_k = (int(v) for v in stats.binom.ppf([0.025, 0.975], replicates, target))
    threshold_high = _clip(s[min(max(lo_k, 0), len(s) - 1)])
    threshold_low = _clip(s[min(max(hi_k, 0), len(s) - 1)])
    tuned = {"analysis.success_threshold": threshold}
    check = estimate_power(with_overrides(null, tuned), replicates, seed + 1, jobs, engine, progress)
    power = estimate_power(with_overrides(scenario, tuned), replicates, seed, jobs, engine, progress)
    grid = np.unique(np.round(np.concatenate([np.linspace(0.9, 0.999, 100), [threshold]]), 6))
    curve = tuple({"threshold": float(c), "type1_error": float(np.mean(s > c))} for c in grid)
    return Calibration(scenario=scenario.name, target_type1=target, threshold=threshold,
                       threshold_low=threshold_low, threshold_high=threshold_high,
                       type1_error=float(np.mean(s > threshold)), type1_error_check=check.power,
                       type1_error_check_mc_se=check.mc_se, power=power.power, power_mc_se=power.mc_se,
                       replicates=replicates, seed=seed, null_design=note, curve=curve)


GRID = 100_000
"""Thresholds are searched on a grid of 1e-5 (the five decimals they are printed with)."""


def _calibrate_looks(scenario: sc.Scenario, null: sc.Scenario, note: str, target: float, replicates: int, seed: int,
                     jobs, engine: str, progress: bool) -> Calibration:
    """A design with interim looks: the threshold moves the looks' efficacy threshold (unless set
    apart) and the final analysis's, and with them the predictive probability of success, so no
    single statistic of a trial decides it. Each null trial still succeeds at every threshold
    below some value of its own (a lower threshold stops it for efficacy no later and for
    futility no sooner), so with the same trials at every threshold (the same seed) the type I
    error falls step by step as the threshold rises, and bisection finds the smallest threshold
    on the grid whose type I error is at most the target; the Monte Carlo interval is the
    thresholds whose counts of successes bound the binomial 95% interval, found the same way."""
    from simulate.run.power import estimate_power

    errors: dict[int, float] = {}

    def error(c: int) -> float:
        if c not in errors:
            null_at = with_overrides(null, {"analysis.success_threshold": c / GRID})
            errors[c] = estimate_power(null_at, replicates, seed, jobs, engine, False).power
        return errors[c]

    def smallest(level: float, strict: bool = True) -> int:
        """The smallest grid threshold whose type I error is at most ``level``; not ``strict`` (an
        end of the Monte Carlo interval), the grid's end where none, or every one, is."""
        lo, hi = math.floor(THRESHOLD_MIN * GRID) + 1, round(THRESHOLD_MAX * GRID)
        if not strict and error(hi) > level + 1e-12:
            return hi
        if not strict and error(lo) <= level + 1e-12:
            return lo
        if error(hi) > level + 1e-12 or error(lo) <= level + 1e-12:
            where = "even at the strictest" if error(hi) > level + 1e-12 else "already at the most lenient"
            raise UsageError(f"--target-type1: got {target:g}; {where} threshold analysis.success_threshold allows "
                             f"({hi / GRID if error(hi) > level + 1e-12 else lo / GRID:g}) the null trials succeed in "
                             f"{error(hi if error(hi) > level + 1e-12 else lo):.4f}: choose another target")
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if error(mid) <= level + 1e-12 else (mid + 1, hi)
        return lo

    log.info("calibrating the looks by bisection: %s null trials at each threshold tried", f"{replicates:,}")
    threshold = smallest(target)
    lo_k, hi_k = (int(v) for v in stats.binom.ppf([0.025, 0.975], replicates, target))
    threshold_high, threshold_low = smallest(lo_k / replicates, False), smallest(hi_k / replicates, False)
    tuned = {"analysis.success_threshold": threshold / GRID}
    check = estimate_power(with_overrides(null, tuned), replicates, seed + 1, jobs, engine, progress)
    power = estimate_power(with_overrides(scenario, tuned), replicates, seed, jobs, engine, progress)
    curve = tuple({"threshold": c / GRID, "type1_error": errors[c]} for c in sorted(errors))
    return Calibration(scenario=scenario.name, target_type1=target, threshold=threshold / GRID,
                       threshold_low=threshold_low / GRID, threshold_high=threshold_high / GRID,
                       type1_error=errors[threshold], type1_error_check=check.power,
                       type1_error_check_mc_se=check.mc_se, power=power.power, power_mc_se=power.mc_se,
                       replicates=replicates, seed=seed, null_design=note, curve=curve)


def _clip(c: float) -> float:
    return float(min(max(c, THRESHOLD_MIN + 1e-9), THRESHOLD_MAX))


def null_statistics(null: sc.Scenario, replicates: int, seed: int, jobs=None, engine: str = "batch",
                    progress: bool = False) -> np.ndarray:
    """Each null trial's deciding posterior probability, in trial order."""
    from simulate.run.power import run_blocks

    parts: list[np.ndarray] = []
    run_blocks(_statistics_block, [null], replicates, seed, jobs, engine, progress,
               lambda part: parts.append(part[0]), f"{replicates:,} null trials")
    return np.concatenate(parts)


def _statistics_block(designs, seed: int, block: int, n_trials: int, engine: str) -> list[np.ndarray]:
    from simulate.engines.blocks import simulate_block_designs
    from simulate.run.tally import analyse_outcomes

    out = []
    for design, outcomes in zip(designs, simulate_block_designs(designs, seed, block, n_trials, engine)):
        scenario = design.scenario
        res = analyse_outcomes(design, outcomes)
        statistic = np.stack([r.statistic for r in res.analyses], axis=1)
        success = scenario.analysis.success
        if success == "any":
            out.append(statistic.max(axis=1))
        elif success == "all":
            out.append(statistic.min(axis=1))
        else:
            out.append(statistic[:, list(scenario.experimental_arms).index(success)])
    return out
