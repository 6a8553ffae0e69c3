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

from simulate import loader, plan
from simulate.analysis import formulas, intervals
from simulate import scenario as sc
from simulate.engines import DEFAULT_ENGINE, BlockOutcomes, simulate_block_designs
from simulate.parallel import Backend, default_jobs, progress_bar, run_tasks
from simulate.plan import trials_per_block
from simulate.results import (AnalyticReferences, ClosedFormPoint, Comparison, Look, PowerResult, VisitRemission, SampleSizePoint,
                              SampleSizeResult, SweepPoint, SweepResult)
from simulate.assumed import (dropout_adjustment, no_benefit, null_rate, primary_arm,  # noqa: F401 - used here and by the report
                              rates as _rates)
from simulate.tally import Tally, mean_se, tally

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

    ``jobs`` is a number of loky workers (None: all cores) or a :class:`~simulate.parallel.Backend`.
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
    backend = _within_budget(designs, replicates, as_backend(jobs), engine, label)
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
        run_tasks(fn, tasks, backend, on_done=tick, consume=consume, threads=engine == "batch")
    finally:
        bar.close()


def _within_budget(designs: list[sc.Scenario], replicates: int, backend: Backend, engine: str, label: str) -> Backend:
    """The backend with no more blocks at once than the memory budget holds; refused before
    anything is drawn if not even one block fits (:func:`simulate.plan.fit_memory`)."""
    local = backend.name == "loky"
    p = plan.fit_memory(plan.plan_trials(designs, replicates, backend.jobs if local else 1, engine, what=label,
                                         processes=backend.processes))
    log.info("%s in blocks of %d trials, %d at once: %s", label, p.trials_per_block, p.at_once, plan.describe_short(p))
    wanted = backend.jobs or default_jobs()
    if local and p.at_once < wanted and -(-replicates // p.trials_per_block) > 1:
        log.info("the memory budget holds %d blocks at once, not %d: running %d at once", p.at_once, wanted, p.at_once)
        return dataclasses.replace(backend, jobs=p.at_once)
    return backend


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


# ----------------------------------------------------------------------------- analysis


def proportion_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a Monte Carlo proportion (sensible also near 0 and 1)."""
    if n == 0:
        return float("nan"), float("nan")
    low, high = intervals.wilson_interval(k, n, confidence)
    return float(low), float(high)


def _binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n else float("nan")


def _comparison(t: Tally, j: int, arm: str, control: str, truth: float) -> Comparison:
    """Comparison ``j`` (``arm`` against the control) from the totals, each estimate with its
    Monte Carlo SE."""
    nan = float("nan")
    c = {k: v[j] for k, v in t.comparisons.items()}
    R, n_est, n_sig = t.trials, int(c["estimates"]), int(c["significant"])
    rejections = int(c["rejections"])
    coverage = c["covered"] / n_est if n_est else nan
    sig_abs = c["significant_abs_sum"] / n_sig if n_sig else nan
    sig_abs_se = mean_se(c["significant_abs_sum"], c["significant_abs_sum_squares"], n_sig)
    scaled = truth != 0 and math.isfinite(sig_abs)
    return Comparison(
        arm=arm, control=control, power=rejections / R, mc_se=_binomial_se(rejections / R, R), true_difference=truth,
        mean_risk_difference=c["estimate_sum"] / n_est if n_est else nan,
        risk_difference_bias_se=mean_se(c["estimate_sum"], c["estimate_sum_squares"], n_est),
        ci_coverage=coverage, mean_ci_width=c["width_sum"] / n_est if n_est else nan,
        exaggeration_ratio=sig_abs / abs(truth) if scaled else nan, rejections=rejections,
        ci_coverage_se=_binomial_se(coverage, n_est) if n_est else nan,
        mean_ci_width_mc_se=mean_se(c["width_sum"], c["width_sum_squares"], n_est),
        mean_abs_risk_difference_if_significant=sig_abs, mean_abs_risk_difference_if_significant_mc_se=sig_abs_se,
        exaggeration_ratio_mc_se=sig_abs_se / abs(truth) if scaled else nan,
    )


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
    control = scenario.arm(scenario.control_arm).remission_at_endpoint
    comparisons = tuple(_comparison(t, j, arm, scenario.control_arm, scenario.arm(arm).remission_at_endpoint - control)
                        for j, arm in enumerate(scenario.experimental_arms))
    on_time, terminated = t.on_time / R, t.terminated / R
    rec, dur = t.recruitment, t.duration
    a = scenario.analysis
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
    )


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
        looks.append(Look(
            information_fraction=f, efficacy_z=float(design.efficacy[k]),
            futility_z=None if design.futility is None else float(design.futility[k]),
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
    return [tally(d.scenario, o) for d, o in zip(designs, outcomes)]


def estimate_power(scenario: sc.Scenario, replicates: int | None = None, seed: int | None = None,
                   jobs: Jobs = None, engine: str = DEFAULT_ENGINE, progress: bool = False) -> PowerResult:
    """Simulate ``replicates`` trials of the scenario and estimate its power."""
    replicates = scenario.simulation.replicates if replicates is None else replicates
    seed = scenario.simulation.seed if seed is None else seed
    t0 = time.perf_counter()
    (totals,) = tally_designs([scenario], replicates, seed, jobs, engine, progress,
                              _sizes_label([scenario.trial.n_per_arm], replicates))
    return summarise(scenario, totals, seed, engine, time.perf_counter() - t0)


def _sizes_label(ns: list[int], replicates: int) -> str:
    """'n = 63 per arm, 2,000 trials' or 'n = 63-78 per arm, 2,000 trials each'."""
    lo, hi = min(ns), max(ns)
    if lo == hi:
        return f"n = {lo} per arm, {replicates:,} trials"
    gaps = "" if len(set(ns)) == hi - lo + 1 else f" ({len(set(ns))} sizes)"
    return f"n = {lo}-{hi} per arm{gaps}, {replicates:,} trials each"


# ----------------------------------------------------------------------------- closed forms


def _equal_allocation(scenario: sc.Scenario) -> bool:
    """The closed forms here are for 1:1 allocation of the control and the primary arm."""
    return scenario.arm(scenario.control_arm).allocation == scenario.arm(primary_arm(scenario)).allocation


def _alpha_per_comparison(scenario: sc.Scenario) -> float:
    """alpha as the closed forms use it: split by Bonferroni over the comparisons when the
    analysis adjusts for multiplicity (Holm's first step; conservative for the others)."""
    a = scenario.analysis
    m = len(scenario.experimental_arms)
    return a.alpha / m if m > 1 and a.multiplicity != "none" else a.alpha


def analytic_references(scenario: sc.Scenario, target: float) -> AnalyticReferences:
    """Closed-form sample sizes for the control's and the primary experimental arm's rates,
    without and with dropout: pooled normal, Fleiss and arcsine for superiority, Farrington and
    Manning for non-inferiority (alpha split over the comparisons when they are adjusted)."""
    a = scenario.analysis
    alpha = _alpha_per_comparison(scenario)
    rc, rt = _rates(scenario)
    given = dict(p_control=rc, p_treat=rt, alpha=alpha, power=target, alternative=a.alternative, margin=a.margin)
    if no_benefit(scenario):
        what = ("the experimental arm is worse than the control by the margin or more"
                if a.hypothesis == "non_inferiority" else "no benefit of treatment to detect")
        return AnalyticReferences(**given, note=f"{what}: no sample size reaches the target")
    if not _equal_allocation(scenario):
        return AnalyticReferences(**given, note="the closed forms are for 1:1 allocation; this design's is not")
    adj = dropout_adjustment(scenario)
    if a.hypothesis == "non_inferiority":
        n = formulas.n_per_arm_farrington_manning(rc, rt, a.margin, alpha, target)
        seen = formulas.n_per_arm_farrington_manning(adj.p_control, adj.p_treat, a.margin, alpha, target) \
            if adj.p_treat - adj.p_control > -a.margin else None
        return AnalyticReferences(**given, farrington_manning=n, dropout_rule=adj.rule,
                                  farrington_manning_with_dropout=None if seen is None else adj.n_randomised(seen))
    refs = formulas.analytic_references(rc, rt, alpha, target, a.alternative)
    with_dropout = {}
    if adj.p_control != adj.p_treat:
        args = (adj.p_control, adj.p_treat, alpha, target, a.alternative)
        with_dropout = {"pooled_normal_with_dropout": adj.n_randomised(formulas.n_per_arm_pooled_normal(*args)),
                        "fleiss_cc_with_dropout": adj.n_randomised(formulas.n_per_arm_fleiss_cc(*args))}
    return AnalyticReferences(**given, **refs, **with_dropout, dropout_rule=adj.rule)


def closed_form_curve(scenario: sc.Scenario, ns) -> tuple[ClosedFormPoint, ...]:
    """Pooled-normal power at each n per arm, without dropout and with it (empty when the arms
    do not differ, and for non-inferiority, whose closed form is the sample size only)."""
    a = scenario.analysis
    rc, rt = _rates(scenario)
    adj = dropout_adjustment(scenario)
    ns = [int(n) for n in ns]
    if rc == rt or adj.p_control == adj.p_treat or not ns or a.hypothesis == "non_inferiority" \
            or not _equal_allocation(scenario):
        return ()
    alpha = _alpha_per_comparison(scenario)
    n = np.asarray(ns, dtype=float)
    plain = formulas.power_pooled_normal(n, rc, rt, alpha, a.alternative)
    dropped = formulas.power_pooled_normal(n * adj.analysed_fraction, adj.p_control, adj.p_treat, alpha,
                                           a.alternative)
    return tuple(ClosedFormPoint(k, float(p), float(q)) for k, p, q in zip(ns, plain, dropped))


# ----------------------------------------------------------------------------- sample size


def power_curve(scenario: sc.Scenario, ns: list[int], replicates: int, seed: int, jobs: Jobs,
                engine: str = DEFAULT_ENGINE, progress: bool = False) -> dict[int, PowerResult]:
    """Power at each n per arm, all from the same replicate trials (common random numbers)."""
    ns = [int(n) for n in ns]
    if not ns:
        return {}
    t0 = time.perf_counter()
    designs = [loader.with_overrides(scenario, {"trial.n_per_arm": n}) for n in ns]
    totals = tally_designs(designs, replicates, seed, jobs, engine, progress, _sizes_label(ns, replicates))
    elapsed = (time.perf_counter() - t0) / len(ns)
    return {n: summarise(d, t, seed, engine, elapsed) for n, d, t in zip(ns, designs, totals)}


def first_guess(scenario: sc.Scenario, target: float) -> int:
    """Fleiss' continuity-corrected n (Farrington and Manning's for non-inferiority) for what the
    analysis sees, as a place to start."""
    adj = dropout_adjustment(scenario)
    a = scenario.analysis
    alpha = _alpha_per_comparison(scenario)
    if a.hypothesis == "non_inferiority":
        if adj.p_treat - adj.p_control <= -a.margin:
            return 4
        n = formulas.n_per_arm_farrington_manning(adj.p_control, adj.p_treat, a.margin, alpha, target)
    else:
        n = formulas.n_per_arm_fleiss_cc(adj.p_control, adj.p_treat, alpha, target, a.alternative)
    return max(4, adj.n_randomised(n))


def _n_target(scenario: sc.Scenario, n_per_arm: int) -> int:
    ratio = scenario.allocation
    return int(round(n_per_arm * sum(ratio) / min(ratio)))


def find_sample_size(scenario: sc.Scenario, target: float = 0.8, replicates: int | None = None,
                     seed: int | None = None, jobs: Jobs = None, engine: str = DEFAULT_ENGINE,
                     window: int = 10, n_max: int = 2000, progress: bool = False,
                     precision: int | None = None) -> SampleSizeResult:
    """Smallest n per arm with simulated power >= target, safe against the saw-tooth.

    A coarse scan brackets the target, then every n from the bracket to ``window`` above the
    first hit is evaluated. The answer is the smallest n whose power reaches the target and from
    which no evaluated n within ``window`` falls below the target by more than two Monte Carlo
    standard errors. All points share one seed (common random numbers).

    ``n_range`` brackets the answer by its Monte Carlo error; with ``precision`` the n near the
    crossing get twice the replicates, again and again (common random numbers: the first trials
    stay the same), until that range is at most ``2 * precision`` wide (or the replicates have
    grown :data:`MAX_REFINEMENT` times). With interim looks the result also gives the expected
    randomised under the effect and under H0 at the answer, and the fixed design's n.

    No n is returned, with a note saying why, when the arms do not differ in the tested
    direction (power is then the type I error at every n), or when recruitment caps the trial
    (at the largest n scanned, fewer than 80% of the target are randomised before the hard stop).
    """
    replicates = scenario.simulation.replicates if replicates is None else replicates
    seed = scenario.simulation.seed if seed is None else seed
    analytic = analytic_references(scenario, target)
    curve: dict[int, PowerResult] = {}

    def evaluate(ns) -> None:
        todo = sorted({int(n) for n in ns if 2 <= n <= n_max} - set(curve))
        curve.update(power_curve(scenario, todo, replicates, seed, jobs, engine, progress))

    def give_up(note: str) -> SampleSizeResult:
        return SampleSizeResult(None, None, None, target, window, _curve_points(curve), analytic, note)

    if no_benefit(scenario):
        rc, rt = _rates(scenario)
        n = scenario.trial.n_per_arm
        evaluate(range(max(2, n // 2), 2 * n + 1, max(1, n // 6)))
        treat, control = scenario.arm(primary_arm(scenario)).label, scenario.arm(scenario.control_arm).label
        if scenario.analysis.hypothesis == "non_inferiority":
            return give_up(f"{treat} ({rt}) is worse than {control} ({rc}) by the margin "
                           f"({scenario.analysis.margin:g}) or more: no n reaches the target")
        return give_up(f"no true benefit of {treat} over {control} ({rt} vs {rc}): simulated power is the type I "
                       "error at every n, and no n reaches the target")
    guess = first_guess(scenario, target)
    lo, hi = max(2, int(guess * 0.6)), max(int(guess * 1.4), 8)
    first_hit = None
    while first_hit is None:
        evaluate(range(lo, hi + 1, max(1, (hi - lo) // 10)))
        if not curve:
            return give_up(f"the search starts above n_max ({n_max} per arm): the closed form suggests "
                           f"about {guess} per arm; raise n_max")
        hits = [n for n in sorted(curve) if curve[n].power >= target]
        if hits:
            first_hit = hits[0]
            break
        largest = curve[max(curve)]
        if largest.mean_randomised < 0.8 * _n_target(scenario, largest.n_per_arm):
            return give_up(
                f"recruitment caps the trial: at n = {largest.n_per_arm} per arm only "
                f"{largest.mean_randomised:.0f} of {_n_target(scenario, largest.n_per_arm)} patients are "
                f"randomised on average before the hard stop ({scenario.trial.hard_stop_months:g} months), "
                f"and power is {largest.power:.3f}")
        if hi >= n_max:
            return give_up(f"power did not reach {target} up to n = {max(curve)} per arm")
        lo, hi = hi, min(n_max, hi * 2)
    below = [n for n in curve if n < first_hit]
    evaluate(range(max(below) + 1 if below else first_hit, first_hit + window + 1))
    while True:
        chosen = next((n for n in sorted(curve) if curve[n].power >= target and all(
            curve[m].power >= target - 2 * curve[m].mc_se for m in curve if n < m <= n + window)), None)
        if chosen is None or chosen + window <= max(curve) or max(curve) >= n_max:
            break
        evaluate(range(max(curve) + 1, min(n_max, chosen + window) + 1))
    if chosen is None:
        return give_up(f"no n up to {max(curve)} per arm stays at or above {target} over a window of {window}")
    at = curve[chosen]
    if at.mean_randomised < 0.8 * _n_target(scenario, chosen):
        return give_up(
            f"recruitment caps the trial: at n = {chosen} per arm only {at.mean_randomised:.0f} of "
            f"{_n_target(scenario, chosen)} patients are randomised on average before the hard stop "
            f"({scenario.trial.hard_stop_months:g} months), though power reaches {at.power:.3f} with those")
    # every n between the last whose interval stays below the target and the answer, so that
    # the range of n the Monte Carlo error allows is read off a dense curve
    below = [n for n in curve if n < chosen and curve[n].ci_high < target]
    evaluate(range(max(below) + 1 if below else chosen, chosen))
    n_range = _n_range(curve, chosen, target, window)
    used = replicates
    while precision is not None and n_range[1] - n_range[0] > 2 * precision and used < replicates * MAX_REFINEMENT:
        # more trials for every n near the crossing; the first ones are the same (common random numbers)
        used *= 2
        near = range(max(2, n_range[0] - 1), min(n_max, n_range[1] + window) + 1)
        curve.update(power_curve(scenario, list(near), used, seed, jobs, engine, progress))
        chosen = next((n for n in sorted(curve) if curve[n].power >= target and all(
            curve[m].power >= target - 2 * curve[m].mc_se for m in curve if n < m <= n + window)), chosen)
        n_range = _n_range(curve, chosen, target, window)
    note = ""
    if precision is not None and n_range[1] - n_range[0] > 2 * precision:
        note = (f"n resolved to {n_range[0]}-{n_range[1]} after {used:,} trials per n near the answer, short of "
                f"+-{precision}: raise --replicates")
    r = curve[chosen]
    extra = _sequential_sizes(scenario, chosen, target, used, seed, jobs, engine, window, n_max, precision) \
        if scenario.interim is not None and scenario.interim.looks > 1 else {}
    return SampleSizeResult(chosen, r.power, r.mc_se, target, window, _curve_points(curve), analytic, note,
                            n_range=n_range, replicates=used, **extra)


MAX_REFINEMENT = 64
"""With a precision asked for, replicates near the answer grow at most this many times."""


def _n_range(curve: dict[int, PowerResult], chosen: int, target: float, window: int) -> tuple[int, int]:
    """(smallest evaluated n whose power interval reaches the target, smallest n from which
    every evaluated interval within the window lies at or above it)."""
    ns = sorted(curve)
    low = next((n for n in ns if curve[n].ci_high >= target), chosen)
    high = next((n for n in ns if n >= low and all(curve[m].ci_low >= target for m in ns if n <= m <= n + window)),
                max(ns))
    return min(low, chosen), max(high, chosen)


def _sequential_sizes(scenario: sc.Scenario, n: int, target: float, replicates: int, seed: int, jobs: Jobs,
                      engine: str, window: int, n_max: int, precision: int | None) -> dict:
    """For a group-sequential design at n per arm: the expected randomised under the effect and
    under H0, and the fixed design's n for the same target."""
    h1 = power_curve(scenario, [n], replicates, seed, jobs, engine)[n]
    null = loader.with_overrides(scenario,
                                 {f"arms.{primary_arm(scenario)}.remission_at_endpoint": null_rate(scenario)})
    h0 = power_curve(null, [n], replicates, seed, jobs, engine)[n]
    fixed = find_sample_size(loader.with_overrides(scenario, {"interim": None}), target, replicates, seed, jobs,
                             engine, window, n_max, precision=precision)
    return {"expected_randomised_h1": h1.expected_randomised, "expected_randomised_h0": h0.expected_randomised,
            "expected_randomised_h1_mc_se": h1.expected_randomised_mc_se,
            "expected_randomised_h0_mc_se": h0.expected_randomised_mc_se, "fixed_n_per_arm": fixed.n_per_arm}


def _curve_points(curve: dict[int, PowerResult]) -> tuple[SampleSizePoint, ...]:
    return tuple(SampleSizePoint(n, r.power, r.mc_se, r.ci_low, r.ci_high, r.mean_randomised,
                                 r.p_recruitment_on_time, r.mean_randomised_mc_se, r.p_recruitment_on_time_se)
                 for n, r in sorted(curve.items()))


def plan_samplesize(scenario: sc.Scenario, replicates: int, jobs: int | None = None, engine: str = "batch",
                    target: float = 0.8, n_max: int = 2000, processes: bool = True) -> plan.Plan:
    """What :func:`find_sample_size` will cost (:mod:`simulate.plan`): a search around the
    closed form's n, :data:`simulate.plan.SCAN_DESIGNS` designs side by side at most, about
    :data:`simulate.plan.SEARCH_DESIGNS` in all."""
    guess = 2 * scenario.trial.n_per_arm if no_benefit(scenario) else first_guess(scenario, target)
    n = min(n_max, max(4, int(1.4 * guess)))
    wide = loader.with_overrides(scenario, {"trial.n_per_arm": n})
    scan = plan.plan_trials([wide] * plan.SCAN_DESIGNS, replicates, jobs, engine, processes=processes)
    one = plan.plan_trials([wide], replicates, jobs, engine, processes=processes)
    seconds = plan.START_SECONDS + plan.SEARCH_DESIGNS * (one.seconds - plan.START_SECONDS)
    return dataclasses.replace(scan, what=f"a sample-size search ({replicates:,} trials per n)", seconds=seconds)


# ----------------------------------------------------------------------------- sweeps


def sweep_points(scenario: sc.Scenario) -> list[dict]:
    """Every combination of the scenario's ``[sweep]`` grid, as {path: value} dicts."""
    grid = scenario.sweep_grid
    if not grid:
        return [{}]
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def sweep(scenario: sc.Scenario, replicates: int | None = None, seed: int | None = None,
          jobs: Jobs = None, engine: str = DEFAULT_ENGINE, progress: bool = False) -> SweepResult:
    """Power at every grid point (grid values, power, MC SE, and more); ``.to_frame()`` gives one
    tidy row each."""
    replicates = scenario.simulation.replicates if replicates is None else replicates
    seed = scenario.simulation.seed if seed is None else seed
    points = sweep_points(scenario)
    designs = [loader.with_overrides(scenario, point) for point in points]
    t0 = time.perf_counter()
    totals = tally_designs(designs, replicates, seed, jobs, engine, progress,
                           f"{len(points)} grid points, {replicates:,} trials each")
    elapsed = (time.perf_counter() - t0) / len(points)
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
                              mean_dropouts_mc_se=r.mean_dropouts_mc_se))
    return SweepResult(axes=tuple(scenario.sweep_grid), points=tuple(out))


def plan_sweep(scenario: sc.Scenario, replicates: int, jobs: int | None = None, engine: str = "batch") -> plan.Plan:
    """What :func:`sweep` will cost (:mod:`simulate.plan`): every grid point side by side."""
    designs = [loader.with_overrides(scenario, point) for point in sweep_points(scenario)]
    return plan.plan_trials(designs, replicates, jobs, engine,
                            what=f"a sweep of {len(designs)} grid points ({replicates:,} trials each)")
