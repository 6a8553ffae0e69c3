"""Monte Carlo power: replicate trials in parallel, analyse each, and summarise with MC error.

Replicates are simulated in blocks of ``simulation.block_size`` trials; block *b* is seeded by
child *b* of the root seed. Blocks run in parallel with joblib and are gathered in block order,
so results are identical for any number of jobs, and asking for more replicates leaves the first
ones unchanged. Sample-size searches and sweeps reuse the same seed at every point (common
random numbers): neighbouring points differ by their design, not by their luck.

The closed-form references beside the simulations (the power curve, the n per arm with dropout,
the first guess of the sample-size search) all see dropout through one rule,
:func:`dropout_adjustment`.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import itertools
import logging
import math
import time
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from simulate.run import plan
from simulate.analysis import intervals
from simulate.design import scenario as sc
from simulate.design.choices import DEFAULT_ENGINE
from simulate.engines.blocks import simulate_block_designs
from simulate.engines.block_outcomes import BlockOutcomes
from simulate.run.parallel import Backend, default_jobs, progress_bar, run_tasks
from simulate.run.plan import trials_per_block
from simulate.run.results import Comparison, Look, PowerResult, VisitRemission
from simulate.run.tally import Tally, mean_se, tally
from simulate.population.intercurrent import estimand_record, true_differences

if TYPE_CHECKING:
    from simulate.run.prepared import PreparedDesign

log = logging.getLogger(__name__)

Jobs = int | Backend | None
"""Loky workers (None: all cores), or a Backend (loky or dask)."""


# ----------------------------------------------------------------------------- replicates


def simulate_replicates(scenario: sc.Scenario, replicates: int, seed: int, jobs: Jobs = None,
                        engine: str = DEFAULT_ENGINE, progress: bool = False) -> BlockOutcomes:
    """The first ``replicates`` trials of the seed tree, run in parallel blocks."""
    return simulate_designs([scenario], replicates, seed, jobs, engine, progress)[0]


def simulate_designs(designs: list[sc.Scenario], replicates: int, seed: int, jobs: Jobs = None,
                     engine: str = DEFAULT_ENGINE, progress: bool = False) -> list[BlockOutcomes]:
    """The same replicate trials under several designs (common random numbers), in parallel blocks.

    ``jobs`` is a number of loky workers (None: all cores) or a :class:`~simulate.run.parallel.Backend`.
    """
    parts: list[list[BlockOutcomes]] = []
    run_blocks(simulate_block_designs, designs, replicates, seed, jobs, engine, progress, parts.append)
    return [BlockOutcomes.concatenate([p[k] for p in parts]) for k in range(len(designs))]


def run_blocks(fn, designs: list[sc.Scenario], replicates: int, seed: int, jobs: Jobs, engine: str,
               progress: bool, consume, label: str | None = None) -> None:
    """Run ``fn(prepared, seed, block, n_trials, engine)`` for every block, ``prepared`` the
    designs prepared once (:class:`~simulate.run.prepared.PreparedDesign`, in the order of
    ``designs``); results go to ``consume`` in block order. ``label`` names the work on the
    progress bar."""
    from simulate.run.prepared import prepare

    size = trials_per_block(*designs)
    n_blocks = -(-replicates // size)
    if label is None:
        label = f"{replicates:,} trials" if len(designs) == 1 else f"{len(designs)} designs, {replicates:,} trials each"
    backend, planned = _within_budget(designs, replicates, as_backend(jobs), engine, label)
    ready = [prepare(d) for d in designs]      # once here; every task carries them to its worker
    tasks = [(ready, seed, b, min(size, replicates - b * size), engine) for b in range(n_blocks)]
    bar = progress_bar(n_blocks, label, progress)
    watcher = _WATCHER.get()
    done = itertools.count(1)

    def tick() -> None:
        bar.update(1)
        if watcher is not None:
            watcher(next(done), n_blocks, label)

    try:
        # the batch engine's blocks are numpy array work, which overlaps on threads; the DES's
        # are Python, which does not
        run_tasks(fn, tasks, backend, on_done=tick, consume=consume, threads=engine == "batch",
                  expected_seconds=planned.work_seconds)
    finally:
        bar.close()


def _within_budget(designs: list[sc.Scenario], replicates: int, backend: Backend, engine: str,
                   label: str) -> tuple[Backend, plan.Plan]:
    """The backend with no more blocks at once than the memory budget holds, and the plan;
    refused before anything is drawn if not even one block fits (:func:`simulate.run.plan.fit_memory`)."""
    local = backend.name == "loky"
    p = plan.fit_memory(plan.plan_trials(designs, replicates, backend.jobs if local else 1, engine, what=label,
                                         processes=backend.processes))
    log.info("%s in blocks of %d trials, %d at once: %s", label, p.trials_per_block, p.at_once, plan.describe_short(p))
    wanted = backend.jobs or default_jobs()
    if local and p.at_once < wanted and -(-replicates // p.trials_per_block) > 1:
        log.info("the memory budget holds %d blocks at once, not %d: running %d at once", p.at_once, wanted, p.at_once)
        return dataclasses.replace(backend, jobs=p.at_once), p
    return backend, p


_WATCHER: contextvars.ContextVar[Callable[[int, int, str], None] | None] = contextvars.ContextVar(
    "trialsim_block_watcher", default=None)


@contextlib.contextmanager
def watching(callback: Callable[[int, int, str], None]) -> Iterator[None]:
    """Inside the ``with`` block (in this thread or task), ``callback(blocks_done, blocks_total,
    label)`` is called as each block of every run is gathered; an exception it raises stops the
    run (how an interactive caller shows progress and cancels)."""
    token = _WATCHER.set(callback)
    try:
        yield
    finally:
        _WATCHER.reset(token)


def as_backend(jobs: Jobs) -> Backend:
    return jobs if isinstance(jobs, Backend) else Backend("loky", jobs)


def sizes_label(ns: list[int], replicates: int) -> str:
    """'n = 63 per arm, 2,000 trials' or 'n = 63-78 per arm, 2,000 trials each'."""
    lo, hi = min(ns), max(ns)
    if lo == hi:
        return f"n = {lo} per arm, {replicates:,} trials"
    gaps = "" if len(set(ns)) == hi - lo + 1 else f" ({len(set(ns))} sizes)"
    return f"n = {lo}-{hi} per arm{gaps}, {replicates:,} trials each"



# ----------------------------------------------------------------------------- analysis


def proportion_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a Monte Carlo proportion (sensible also near 0 and 1)."""
    if n == 0:
        return float("nan"), float("nan")
    low, high = intervals.wilson_interval(k, n, confidence)
    return float(low), float(high)


def _binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n else float("nan")


def _comparison(t: Tally, j: int, arm: str, control: str, truth: float, truth_se: float = 0.0,
                shift: float = 0.0, ratio: tuple[str, float, float] | None = None) -> Comparison:
    """Comparison ``j`` (``arm`` against the control) from the totals, each estimate with its
    Monte Carlo SE; ``truth``: the estimand's true difference (``truth_se`` its Monte Carlo SE),
    ``shift``: the distance of H0's boundary below 0 (a non-inferiority margin) from which the
    winner's curse is measured."""
    nan = float("nan")
    c = {k: v[j] for k, v in t.comparisons.items()}
    R, n_est, n_sig = t.trials, int(c["estimates"]), int(c["significant"])
    rejections = int(c["rejections"])
    coverage = c["covered"] / n_est if n_est else nan
    sig_abs = c["significant_abs_sum"] / n_sig if n_sig else nan
    sig_abs_se = mean_se(c["significant_abs_sum"], c["significant_abs_sum_squares"], n_sig)
    away = truth + shift                                  # the true effect beyond H0's boundary
    scaled = abs(away) > 1e-12 and math.isfinite(sig_abs)
    return Comparison(
        arm=arm, control=control, power=rejections / R, mc_se=_binomial_se(rejections / R, R), true_difference=truth,
        mean_risk_difference=c["estimate_sum"] / n_est if n_est else nan,
        risk_difference_bias_se=mean_se(c["estimate_sum"], c["estimate_sum_squares"], n_est),
        ci_coverage=coverage, mean_ci_width=c["width_sum"] / n_est if n_est else nan,
        exaggeration_ratio=sig_abs / abs(away) if scaled else nan, rejections=rejections,
        ci_coverage_se=_binomial_se(coverage, n_est) if n_est else nan,
        mean_ci_width_mc_se=mean_se(c["width_sum"], c["width_sum_squares"], n_est),
        mean_abs_risk_difference_if_significant=sig_abs, mean_abs_risk_difference_if_significant_mc_se=sig_abs_se,
        exaggeration_ratio_mc_se=sig_abs_se / abs(away) if scaled else nan, true_difference_mc_se=truth_se,
        **_ratio(c, ratio),
    )


def _ratio(c: dict, ratio: tuple[str, float, float] | None) -> dict:
    """A ratio summary measure's figures from a comparison's totals (none for the difference)."""
    if ratio is None or "ratio_estimates" not in c:
        return {}
    measure, true_ratio, true_log_se = ratio
    n = int(c["ratio_estimates"])
    mean_log = c["log_ratio_sum"] / n if n else math.nan
    return {"summary_measure": measure, "true_ratio": true_ratio, "true_log_ratio_mc_se": true_log_se,
            "mean_log_ratio": mean_log, "mean_log_ratio_mc_se": mean_se(c["log_ratio_sum"], c["log_ratio_sum_squares"], n),
            "log_ratio_bias": mean_log - math.log(true_ratio) if true_ratio > 0 else math.nan,
            "ratio_ci_coverage": c["ratio_covered"] / n if n else math.nan,
            "ratio_ci_coverage_se": _binomial_se(c["ratio_covered"] / n, n) if n else math.nan}


def _remission_by_visit(scenario: sc.Scenario, t: Tally) -> tuple[VisitRemission, ...]:
    out = []
    for k, arm in enumerate(scenario.arm_names):
        n = int(t.visit_trials[k])
        for v, month in enumerate(scenario.trial.visit_months):
            mean = t.visit_sum[k, v] / n if n else float("nan")
            out.append(VisitRemission(arm=arm, month=float(month), remission=float(mean),
                                      mc_se=mean_se(t.visit_sum[k, v], t.visit_sum_squares[k, v], n)))
    return tuple(out)


def summarise(scenario: sc.Scenario, t: Tally, seed: int, engine: str, elapsed: float = 0.0) -> PowerResult:
    """Power and operating characteristics from the totals of a set of simulated trials, each
    estimate with its Monte Carlo SE.

    ``power`` is the chance of success as ``analysis.success`` counts it; each comparison's
    estimates are in ``comparisons`` (the top-level estimate figures are the first's)."""
    R = t.trials
    power = t.successes / R
    lo, hi = proportion_interval(t.successes, R)
    a = scenario.analysis
    truths = true_differences(scenario)
    if scenario.outcome.rates_from == "design_prior":  # the truth varies: its mean over the trials
        from simulate.population.design_prior import mean_difference

        truths = {arm: (d, 0.0) for arm, d in mean_difference(scenario).items()}
    shift = a.margin if a.hypothesis == "non_inferiority" else 0.0
    ratios = _true_ratios(scenario)
    comparisons = tuple(_comparison(t, j, arm, scenario.control_arm, *truths[arm], shift=shift, ratio=ratios.get(arm))
                        for j, arm in enumerate(scenario.experimental_arms))
    on_time, terminated = t.on_time / R, t.terminated / R
    rec, dur = t.recruitment, t.duration
    any_, all_ = t.rejections_any / R, t.rejections_all / R
    return PowerResult(
        scenario=scenario.name, n_per_arm=scenario.trial.n_per_arm, replicates=R, seed=seed, engine=engine,
        test=a.test, alpha=a.alpha, alternative=a.alternative, missing_strategy=a.missing,
        power=power, mc_se=_binomial_se(power, R), ci_low=lo, ci_high=hi, rejections=t.successes,
        mean_randomised=t.randomised / R, mean_randomised_mc_se=mean_se(t.randomised, t.randomised_squares, R),
        mean_dropouts=t.dropouts / R, mean_dropouts_mc_se=mean_se(t.dropouts, t.dropouts_squares, R),
        p_recruitment_on_time=on_time, p_recruitment_on_time_se=_binomial_se(on_time, R),
        p_terminated=terminated, p_terminated_mc_se=_binomial_se(terminated, R),
        mean_recruitment_months=rec.mean, mean_recruitment_months_mc_se=rec.mc_se,
        recruitment_months_q10=rec.quantile(0.1), recruitment_months_q50=rec.quantile(0.5),
        recruitment_months_q90=rec.quantile(0.9),
        mean_duration_months=dur.mean, mean_duration_months_mc_se=dur.mc_se, duration_months_q10=dur.quantile(0.1),
        duration_months_q50=dur.quantile(0.5), duration_months_q90=dur.quantile(0.9),
        mean_consort={k: v / R for k, v in t.consort.items()},
        mean_consort_mc_se={k: mean_se(t.consort[k], t.consort_squares[k], R) for k in t.consort},
        elapsed_seconds=elapsed, hypothesis=a.hypothesis, margin=a.margin, multiplicity=a.multiplicity,
        success=a.success,
        power_any=any_, power_any_mc_se=_binomial_se(any_, R), power_all=all_, power_all_mc_se=_binomial_se(all_, R),
        comparisons=comparisons, remission_by_visit=_remission_by_visit(scenario, t), **_looks(scenario, t),
        estimand=estimand_record(scenario), bayes=_bayes(scenario), **_tipping(scenario, t),
        rates_from=scenario.outcome.rates_from,
    )


def _bayes(scenario: sc.Scenario) -> dict | None:
    """A Bayesian design's threshold and analysis priors with their effective sample sizes."""
    a = scenario.analysis
    if a.framework != "bayesian":
        return None
    from simulate.analysis.beta_posterior import ess
    from simulate.analysis.map_prior import analysis_priors, map_prior_of

    priors = analysis_priors(scenario)
    out = {"threshold": a.success_threshold, "prior": {arm: [list(c) for c in p] for arm, p in priors.items()},
           "prior_ess": {arm: ess(np.asarray(p)) for arm, p in priors.items()}}
    meta = [arm for arm in scenario.arm_names if scenario.arm(arm).analysis_prior.meta_analytic]
    if meta:
        out["historical"] = [h.model_dump(mode="json") for h in scenario.historical]
        out["map"] = {}
        for arm in meta:
            m, p = map_prior_of(scenario, arm), scenario.arm(arm).analysis_prior
            out["map"][arm] = {"map_prior": [list(c) for c in m.map_components], "map_ess": ess(np.asarray(m.map_components)),
                               "mean": m.mean, "sd": m.sd, "tau_median": m.tau_median, "fit_error": m.fit_error,
                               "robust_weight": p.robust_weight, "heterogeneity_scale": p.heterogeneity_scale}
    return out


def _tipping(scenario: sc.Scenario, t: Tally) -> dict:
    """The tipping-point table and, per comparison, the shift that overturns significance on
    average (nothing without a grid)."""
    rows = _tipping_point(scenario, t)
    if not rows:
        return {}
    d_c = min(scenario.analysis.tipping_point_deltas, key=abs)
    overturn = []
    for arm in scenario.experimental_arms:
        line = sorted((r for r in rows if r["arm"] == arm and r["delta_control"] == d_c),
                      key=lambda r: abs(r["delta_experimental"]))
        hit = next((r for r in line if r["power"] < 0.5), None)
        overturn.append({"arm": arm, "delta_control": d_c,
                         "delta_experimental": None if hit is None else hit["delta_experimental"],
                         "power": None if hit is None else hit["power"]})
    return {"tipping_point": rows, "tipping_point_overturn": tuple(overturn)}


def _true_ratios(scenario: sc.Scenario) -> dict[str, tuple[str, float, float]]:
    """(measure, true ratio, MC SE of its log) per experimental arm when the estimand's summary
    measure is a ratio (else empty)."""
    e = scenario.estimand
    if e is None or e.summary_measure == "risk_difference":
        return {}
    from simulate.population.intercurrent import true_values

    return {arm: (e.summary_measure, t.ratio, t.log_ratio_se) for arm, t in true_values(scenario).items()}


def _tipping_point(scenario: sc.Scenario, t: Tally) -> tuple[dict, ...]:
    """The tipping-point table from the totals (empty without one)."""
    if t.tipping is None:
        return ()
    deltas = scenario.analysis.tipping_point_deltas
    rows = []
    for j, arm in enumerate(scenario.experimental_arms):
        for a, d_c in enumerate(deltas):
            for b, d_t in enumerate(deltas):
                n = int(t.tipping["estimates"][j, a, b])
                power = float(t.tipping["rejections"][j, a, b]) / t.trials
                rows.append({"arm": arm, "delta_control": d_c, "delta_experimental": d_t, "power": power,
                             "mc_se": _binomial_se(power, t.trials),
                             "mean_estimate": float(t.tipping["estimate_sum"][j, a, b]) / n if n else math.nan,
                             "mean_estimate_mc_se": mean_se(float(t.tipping["estimate_sum"][j, a, b]),
                                                            float(t.tipping["estimate_sum_squares"][j, a, b]), n)})
    return tuple(rows)


def _looks(scenario: sc.Scenario, t: Tally) -> dict:
    """The looks of a group-sequential design from the totals (nothing without one)."""
    if t.looks is None:
        return {}
    from simulate.analysis import interim

    design = interim.design_for(scenario)
    R, lk = t.trials, t.looks
    looks = []
    for k, f in enumerate(design.fractions):
        held = int(lk["held"][k])
        eff, fut = lk["stop_efficacy"][k] / R, lk["stop_futility"][k] / R
        se = {"p_held_mc_se": _binomial_se(held / R, R),
              "mean_month_mc_se": mean_se(lk["month_sum"][k], lk["month_sum_squares"][k], held),
              "mean_randomised_mc_se": mean_se(lk["randomised_sum"][k], lk["randomised_sum_squares"][k], held)}
        bayesian = design.scale == "posterior_probability"
        bound = float(design.efficacy[k])
        looks.append(Look(
            information_fraction=f, efficacy_z=None if bayesian else bound,
            futility_z=None if design.futility is None else float(design.futility[k]),
            efficacy_probability=bound if bayesian and math.isfinite(bound) else None,
            futility_predictive=design.futility_below if bayesian and k < design.looks - 1 else None,
            p_stop_efficacy=float(eff), p_stop_efficacy_se=_binomial_se(eff, R),
            p_stop_futility=float(fut), p_stop_futility_se=_binomial_se(fut, R), p_held=held / R,
            mean_month=float(lk["month_sum"][k] / held) if held else float("nan"),
            mean_randomised=float(lk["randomised_sum"][k] / held) if held else float("nan"), **se))
    reversal = float(lk["overrun_reversals"][0] / R)
    decided = int(lk["decided"][0])
    return dict(looks=tuple(looks),
                expected_duration_months=float(lk["decision_month_sum"][0] / decided) if decided else float("nan"),
                expected_duration_months_mc_se=mean_se(lk["decision_month_sum"][0],
                                                       lk["decision_month_sum_squares"][0], decided),
                p_overrun_reversal=reversal, p_overrun_reversal_se=_binomial_se(reversal, R))


def tally_designs(designs: list[sc.Scenario], replicates: int, seed: int, jobs: Jobs = None,
                  engine: str = DEFAULT_ENGINE, progress: bool = False, label: str | None = None) -> list[Tally]:
    """Like :func:`simulate_designs`, but each block is analysed and totalled where it ran, so
    memory stays bounded whatever the replicate count."""
    totals: list[Tally | None] = [None] * len(designs)

    def fold(part: list[Tally]) -> None:          # called in block order
        for k, t in enumerate(part):
            totals[k] = t if totals[k] is None else totals[k] + t

    run_blocks(_tally_block, designs, replicates, seed, jobs, engine, progress, fold, label)
    return totals  # type: ignore[return-value]


def _tally_block(designs: list[PreparedDesign], seed: int, block: int, n_trials: int, engine: str) -> list[Tally]:
    outcomes = simulate_block_designs(designs, seed, block, n_trials, engine)
    size = trials_per_block(*(d.scenario for d in designs))
    return [tally(d, o, trial_truths=trial_truths_of(d.scenario, seed, block, size, len(o.n_randomised)))
            for d, o in zip(designs, outcomes)]


def trial_truths_of(scenario: sc.Scenario, seed: int, block: int, size: int, n: int) -> dict | None:
    """Trial-by-trial truths when the trials draw their rates from the design priors."""
    if scenario.outcome.rates_from != "design_prior":
        return None
    from simulate.population.design_prior import trial_truths
    from simulate.seeding import block_sequence

    return trial_truths(scenario, block_sequence(seed, block), size, n)


def estimate_power(scenario: sc.Scenario, replicates: int | None = None, seed: int | None = None,
                   jobs: Jobs = None, engine: str = DEFAULT_ENGINE, progress: bool = False) -> PowerResult:
    """Simulate ``replicates`` trials of the scenario and estimate its power."""
    replicates = scenario.simulation.replicates if replicates is None else replicates
    seed = scenario.simulation.seed if seed is None else seed
    t0 = time.perf_counter()
    (totals,) = tally_designs([scenario], replicates, seed, jobs, engine, progress,
                              sizes_label([scenario.trial.n_per_arm], replicates))
    return summarise(scenario, totals, seed, engine, time.perf_counter() - t0)
