"""The sample size: the smallest n per arm whose simulated power reaches a target, beside the
closed forms (pooled normal, Fleiss, arcsine; Farrington and Manning for non-inferiority).

Every n of a search is simulated from the same seed (common random numbers): neighbouring n
differ by their design, not by their luck. The closed forms see dropout through one rule,
:func:`simulate.design.assumed.dropout_adjustment`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from simulate.design import loader
from simulate.run import plan
from simulate.design import scenario as sc
from simulate.analysis import formulas
from simulate.design.assumed import dropout_adjustment, no_benefit, primary_arm, rates as _rates
from simulate.design.null_world import null_scenario
from simulate.design.choices import DEFAULT_ENGINE
from simulate.run.evaluations import Evaluations
from simulate.run.plan import trials_per_block
from simulate.run.power import Jobs, sizes_label, summarise, tally_designs
from simulate.run.results import (AnalyticReferences, ClosedFormPoint, PowerResult, SampleSizePoint, SampleSizeResult)


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
                                  farrington_manning_with_dropout=None if seen is None else adj.n_randomised(seen),
                                  **_adjusted_references(scenario, target))
    refs = formulas.analytic_references(rc, rt, alpha, target, a.alternative)
    with_dropout = {}
    if adj.p_control != adj.p_treat:
        args = (adj.p_control, adj.p_treat, alpha, target, a.alternative)
        with_dropout = {"pooled_normal_with_dropout": adj.n_randomised(formulas.n_per_arm_pooled_normal(*args)),
                        "fleiss_cc_with_dropout": adj.n_randomised(formulas.n_per_arm_fleiss_cc(*args))}
    return AnalyticReferences(**given, **refs, **with_dropout, dropout_rule=adj.rule,
                              **_adjusted_references(scenario, target))


def _adjusted_references(scenario: sc.Scenario, target: float) -> dict:
    """With a covariate-adjusted analysis, the Wald test's closed form without and with the
    variance the adjustment removes (:func:`simulate.run.adjustment_gain.closed_forms`)."""
    if scenario.analysis.adjustment == "none":
        return {}
    from simulate.run.adjustment_gain import closed_forms, variance_removed

    plain, adjusted = closed_forms(scenario, (target,))[target]
    return {"variance_removed": variance_removed(scenario), "wald_with_dropout": plain,
            "adjusted_with_dropout": adjusted}


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


def power_curve(scenario: sc.Scenario, ns: list[int], replicates: int, seed: int, jobs: Jobs,
                engine: str = DEFAULT_ENGINE, progress: bool = False) -> dict[int, PowerResult]:
    """Power at each n per arm, all from the same replicate trials (common random numbers)."""
    ns = [int(n) for n in ns]
    if not ns:
        return {}
    t0 = time.perf_counter()
    designs = [loader.with_overrides(scenario, {"trial.n_per_arm": n}) for n in ns]
    totals = tally_designs(designs, replicates, seed, jobs, engine, progress, sizes_label(ns, replicates))
    elapsed = (time.perf_counter() - t0) / len(ns)
    return {n: summarise(d, t, seed, engine, elapsed) for n, d, t in zip(ns, designs, totals)}


def first_guess(scenario: sc.Scenario, target: float) -> int:
    """The analysis's own closed-form n for what it sees, as a place to start: the one its
    registration names (:attr:`simulate.analysis.registry.Entry.sample_size`, through
    :func:`simulate.analysis.formulas.closed_form_n`: Fleiss' continuity-corrected n for Fisher's
    test, Farrington and Manning's for theirs), or for an analysis without one Fleiss' n
    (Farrington and Manning's for non-inferiority)."""
    adj = dropout_adjustment(scenario)
    a = scenario.analysis
    if a.hypothesis == "non_inferiority" and adj.p_treat - adj.p_control <= -a.margin:
        return 4
    given = dict(p_control=adj.p_control, p_treat=adj.p_treat, alpha=_alpha_per_comparison(scenario), power=target,
                 alternative=a.alternative, margin=a.margin)
    n = formulas.closed_form_n(a.test, **given)
    if n is None:
        n = (formulas.n_per_arm_farrington_manning if a.hypothesis == "non_inferiority"
             else formulas.n_per_arm_fleiss_cc)(**given)
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
    (result,) = find_sample_sizes(scenario, (target,), replicates, seed, jobs, engine, window, n_max, progress,
                                  precision)
    return result


def find_sample_sizes(scenario: sc.Scenario, targets: tuple[float, ...], replicates: int | None = None,
                      seed: int | None = None, jobs: Jobs = None, engine: str = DEFAULT_ENGINE,
                      window: int = 10, n_max: int = 2000, progress: bool = False,
                      precision: int | None = None) -> tuple[SampleSizeResult, ...]:
    """:func:`find_sample_size` for each target, one after another; an n that an earlier search
    simulated is not simulated again (:class:`~simulate.run.evaluations.Evaluations`): each
    search's answer and curve are those it gives on its own."""
    replicates = scenario.simulation.replicates if replicates is None else replicates
    seed = scenario.simulation.seed if seed is None else seed
    evaluations = Evaluations(seed, jobs, engine, progress)
    return _side_by_side([_search(scenario, t, replicates, evaluations, window, n_max, precision) for t in targets],
                         evaluations)


@dataclass(frozen=True)
class _Ask:
    """What a search step asks next: the power of ``scenario`` at each n of ``ns`` from
    ``replicates`` trials, and the n of ``ahead`` that a later step of it will ask for."""

    scenario: sc.Scenario
    replicates: int
    ns: frozenset[int]
    ahead: frozenset[int] = frozenset()


Steps = Generator[_Ask, None, SampleSizeResult]
"""A search as its steps: it yields what it asks next, and returns its result."""


def _side_by_side(searches: list[Steps], evaluations: Evaluations) -> tuple[SampleSizeResult, ...]:
    """Run the searches step by step together: what all of them ask next is simulated in one
    pass over the blocks of trials (designs side by side), then each reads its answers from
    ``evaluations`` and takes its next step. A search's powers do not depend on the designs
    beside them (common random numbers), so each search's result is the one it gives alone; a
    step whose n would need blocks of different sizes is left to the search itself."""
    results: list[SampleSizeResult | None] = [None] * len(searches)
    asks: dict[int, _Ask] = {}

    def step(i: int) -> None:
        try:
            asks[i] = next(searches[i])
        except StopIteration as done:
            results[i] = done.value

    for i in range(len(searches)):
        step(i)
    while asks:
        together: dict[tuple[sc.Scenario, int], list[_Ask]] = {}
        for ask in asks.values():
            together.setdefault((ask.scenario, ask.replicates), []).append(ask)
        for (scenario, replicates), group in together.items():
            ns = frozenset().union(*(a.ns for a in group))
            ahead = frozenset().union(*(a.ahead for a in group)) - ns
            if len(group) > 1 and len({trials_per_block(evaluations.design(scenario, n)) for n in ns | ahead}) == 1:
                evaluations.power(scenario, replicates, ns, ahead)
        for i in list(asks):
            del asks[i]
            step(i)
    return tuple(results)  # type: ignore[arg-type]


def _search(scenario: sc.Scenario, target: float, replicates: int, evaluations: Evaluations, window: int,
            n_max: int, precision: int | None) -> Steps:
    """The steps of :func:`find_sample_size`, its powers from (and into) ``evaluations``."""
    search = _Search(scenario, target, replicates, evaluations, window, n_max)
    analytic = analytic_references(scenario, target)
    measure = "assurance" if scenario.outcome.rates_from == "design_prior" else "power"
    give_up = lambda note: SampleSizeResult(None, None, None, target, window, _curve_points(search.curve),  # noqa: E731
                                            analytic, note, measure=measure)
    if no_benefit(scenario):
        return give_up((yield from search.no_benefit()))
    first_hit = yield from search.bracket(first_guess(scenario, target))
    if isinstance(first_hit, str):
        return give_up(first_hit)
    chosen = yield from search.settle(first_hit)
    if isinstance(chosen, str):
        return give_up(chosen)
    chosen, n_range, used = yield from search.refine(chosen, precision)
    note = ""
    if precision is not None and n_range[1] - n_range[0] > 2 * precision:
        note = (f"n resolved to {n_range[0]}-{n_range[1]} after {used:,} trials per n near the answer, short of "
                f"+-{precision}: raise --replicates")
    r = search.curve[chosen]
    extra = (yield from _sequential_sizes(scenario, chosen, target, used, evaluations, window, n_max, precision)) \
        if scenario.interim is not None and scenario.interim.looks > 1 else {}
    return SampleSizeResult(chosen, r.power, r.mc_se, target, window, _curve_points(search.curve), analytic, note,
                            n_range=n_range, replicates=used, measure=measure, **extra)


class _Search:
    """One sample-size search: the power curve evaluated so far, every n from the same seed
    (common random numbers), and the steps of :func:`find_sample_size`. A step that finds no
    answer returns the note saying why."""

    def __init__(self, scenario: sc.Scenario, target: float, replicates: int, evaluations: Evaluations,
                 window: int, n_max: int) -> None:
        self.scenario, self.target, self.replicates, self.evaluations = scenario, target, replicates, evaluations
        self.window, self.n_max = window, n_max
        self.curve: dict[int, PowerResult] = {}

    def _new(self, ns) -> set[int]:
        return {int(n) for n in ns if 2 <= n <= self.n_max} - set(self.curve)

    def evaluate(self, ns, ahead=()) -> Generator[_Ask, None, None]:
        """Power at each n of ``ns`` not on the curve yet, onto it; the n of ``ahead`` (which a
        later step will ask for) are simulated in the same pass, not put on the curve."""
        todo = self._new(ns)
        if todo:
            yield _Ask(self.scenario, self.replicates, frozenset(todo), frozenset(self._new(ahead)))
            self.curve.update(self.evaluations.power(self.scenario, self.replicates, todo, self._new(ahead)))

    def no_benefit(self) -> Generator[_Ask, None, str]:
        """A scan around the planned n (power is the type I error there), and why no n is the answer."""
        s = self.scenario
        rc, rt = _rates(s)
        n = s.trial.n_per_arm
        yield from self.evaluate(range(max(2, n // 2), 2 * n + 1, max(1, n // 6)))
        treat, control = s.arm(primary_arm(s)).label, s.arm(s.control_arm).label
        if s.analysis.hypothesis == "non_inferiority":
            return (f"{treat} ({rt}) is worse than {control} ({rc}) by the margin "
                    f"({s.analysis.margin:g}) or more: no n reaches the target")
        return (f"no true benefit of {treat} over {control} ({rt} vs {rc}): simulated power is the type I "
                "error at every n, and no n reaches the target")

    def _capped(self, n: int, tail: str) -> str | None:
        """The note when recruitment caps the trial at n per arm (fewer than 80% randomised)."""
        r, planned = self.curve[n], _n_target(self.scenario, n)
        if r.mean_randomised >= 0.8 * planned:
            return None
        return (f"recruitment caps the trial: at n = {n} per arm only {r.mean_randomised:.0f} of {planned} patients "
                f"are randomised on average before the hard stop ({self.scenario.trial.hard_stop_months:g} months), "
                + tail.format(power=r.power))

    def bracket(self, guess: int) -> Generator[_Ask, None, int | str]:
        """A coarse scan from about the closed form's n, doubling until some n reaches the target:
        the first n that does."""
        lo, hi = max(2, int(guess * 0.6)), max(int(guess * 1.4), 8)
        while True:
            yield from self.evaluate(range(lo, hi + 1, max(1, (hi - lo) // 10)))
            if not self.curve:
                return (f"the search starts above n_max ({self.n_max} per arm): the closed form suggests "
                        f"about {guess} per arm; raise n_max")
            hits = [n for n in sorted(self.curve) if self.curve[n].power >= self.target]
            if hits:
                return hits[0]
            capped = self._capped(max(self.curve), "and power is {power:.3f}")
            if capped:
                return capped
            if hi >= self.n_max:
                return f"power did not reach {self.target} up to n = {max(self.curve)} per arm"
            lo, hi = hi, min(self.n_max, hi * 2)

    def choose(self, default: int | None = None) -> int | None:
        """The smallest n reaching the target from which no evaluated n within the window falls
        below it by more than two Monte Carlo SE."""
        c, target = self.curve, self.target
        return next((n for n in sorted(c) if c[n].power >= target and all(
            c[m].power >= target - 2 * c[m].mc_se for m in c if n < m <= n + self.window)), default)

    def settle(self, first_hit: int) -> Generator[_Ask, None, int | str]:
        """Every n from the bracket to the window above the first hit, then :meth:`choose`.

        :meth:`refine` asks next for the n from the last below the bracket whose interval stays
        under the target (or a later one evaluated here) to the answer: those below the bracket
        are simulated ahead, in the same pass."""
        below = [n for n in self.curve if n < first_hit]
        start = max(below) + 1 if below else first_hit
        under = [n for n in below if self.curve[n].ci_high < self.target]
        yield from self.evaluate(range(start, first_hit + self.window + 1),
                                 ahead=range(max(under) + 1, start) if under else ())
        while True:
            chosen = self.choose()
            if chosen is None or chosen + self.window <= max(self.curve) or max(self.curve) >= self.n_max:
                break
            yield from self.evaluate(range(max(self.curve) + 1, min(self.n_max, chosen + self.window) + 1))
        if chosen is None:
            return (f"no n up to {max(self.curve)} per arm stays at or above {self.target} over a window of "
                    f"{self.window}")
        return self._capped(chosen, "though power reaches {power:.3f} with those") or chosen

    def refine(self, chosen: int, precision: int | None) -> Generator[_Ask, None, tuple[int, tuple[int, int], int]]:
        """(answer, the range of n its Monte Carlo error allows, replicates used): every n between
        the last whose interval stays below the target and the answer, so the range is read off a
        dense curve; with ``precision``, more trials near the crossing until the range is narrow."""
        below = [n for n in self.curve if n < chosen and self.curve[n].ci_high < self.target]
        yield from self.evaluate(range(max(below) + 1 if below else chosen, chosen))
        n_range = _n_range(self.curve, chosen, self.target, self.window)
        used = self.replicates
        while precision is not None and n_range[1] - n_range[0] > 2 * precision \
                and used < self.replicates * MAX_REFINEMENT:
            # more trials for every n near the crossing; the first ones are the same (common random numbers)
            used *= 2
            near = range(max(2, n_range[0] - 1), min(self.n_max, n_range[1] + self.window) + 1)
            yield _Ask(self.scenario, used, frozenset(near))
            self.curve.update(self.evaluations.power(self.scenario, used, near))
            chosen = self.choose(chosen)
            n_range = _n_range(self.curve, chosen, self.target, self.window)
        return chosen, n_range, used


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


def _sequential_sizes(scenario: sc.Scenario, n: int, target: float, replicates: int, evaluations: Evaluations,
                      window: int, n_max: int, precision: int | None) -> Generator[_Ask, None, dict]:
    """For a group-sequential design at n per arm: the expected randomised under the effect and
    under H0, and the fixed design's n for the same target."""
    yield _Ask(scenario, replicates, frozenset({n}))
    h1 = evaluations.power(scenario, replicates, [n])[n]
    null = null_scenario(scenario, (primary_arm(scenario),))[0]
    yield _Ask(null, replicates, frozenset({n}))
    h0 = evaluations.power(null, replicates, [n])[n]
    fixed = yield from _search(loader.with_overrides(scenario, {"interim": None}), target, replicates, evaluations,
                               window, n_max, precision)
    return {"expected_randomised_h1": h1.expected_randomised, "expected_randomised_h0": h0.expected_randomised,
            "expected_randomised_h1_mc_se": h1.expected_randomised_mc_se,
            "expected_randomised_h0_mc_se": h0.expected_randomised_mc_se, "fixed_n_per_arm": fixed.n_per_arm}


def _curve_points(curve: dict[int, PowerResult]) -> tuple[SampleSizePoint, ...]:
    return tuple(SampleSizePoint(n, r.power, r.mc_se, r.ci_low, r.ci_high, r.mean_randomised,
                                 r.p_recruitment_on_time, r.mean_randomised_mc_se, r.p_recruitment_on_time_se)
                 for n, r in sorted(curve.items()))


def plan_samplesize(scenario: sc.Scenario, replicates: int, jobs: int | None = None, engine: str = "batch",
                    target: float = 0.8, n_max: int = 2000, processes: bool = True) -> plan.Plan:
    """What :func:`find_sample_size` will cost (:mod:`simulate.run.plan`): a search around the
    closed form's n, :data:`simulate.run.plan.SCAN_DESIGNS` designs side by side at most, about
    :data:`simulate.run.plan.SEARCH_DESIGNS` in all."""
    guess = 2 * scenario.trial.n_per_arm if no_benefit(scenario) else first_guess(scenario, target)
    n = min(n_max, max(4, int(1.4 * guess)))
    wide = loader.with_overrides(scenario, {"trial.n_per_arm": n})
    scan = plan.plan_trials([wide] * plan.SCAN_DESIGNS, replicates, jobs, engine, processes=processes)
    # the designs of a search differ only in n: followed side by side, as the plan counts them
    seconds = plan.plan_trials([wide] * plan.SEARCH_DESIGNS, replicates, jobs, engine, processes=processes).seconds
    return dataclasses.replace(scan, what=f"a sample-size search ({replicates:,} trials per n)", seconds=seconds)
