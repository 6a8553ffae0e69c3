"""What the teaching lab computes, without a browser: one trial, many trials (in blocks, so
partial answers can be shown), the null world and the sample size, each planned before it runs
(its inputs and the exported design: :mod:`simulate.teach.inputs`).

Every answer comes from the functions the command line uses: for the same inputs and seed the
lab's power is ``trialsim power``'s, digit for digit.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulate.design import loader
from simulate.design import scenario as sc
from simulate.design.assumed import primary_arm
from simulate.analysis import registry
from simulate.design.choices import DEFAULT_ENGINE
from simulate.engines.blocks import simulate_block_designs
from simulate.errors import ScenarioError
from simulate.run.parallel import Backend
from simulate.run.plan import trials_per_block
from simulate.run.results import PowerResult, SampleSizePlan
from simulate.run.workers import release_freed_memory
from simulate.run.trial_results import Accrual, ExampleTrial

# ----------------------------------------------------------------------------- the plan of a view


from simulate.teach.bins import P_BINS, P_MAX_BINS, estimate_edges, p_value_edges  # noqa: F401

IN_PROCESS = Backend("loky", None, processes=False)
"""The lab computes on its own process's threads, one per core, and starts no worker
processes: a long-lived server's memory returns to its idle level after each computation."""
LAB_MAX_MINUTES = 5.0
"""The lab refuses work estimated to take longer (a class waits for it); the command line,
whose limit can be raised, takes the rest."""
LAB_MEMORY_HINT = "make the design smaller here (fewer referrals per site-month)"
LAB_TIME_HINT = ("ask for fewer simulated trials here, or take the design to the command line (Export), whose "
                 "--max-minutes raises the limit")
VIEWS = ("many_view", "methods_view", "null_view", "how_many_view")
"""The lab's views that simulate many trials, each planned before it starts (:func:`plan_view`)."""


def plan_view(scenario: sc.Scenario, view: str, engine: str = DEFAULT_ENGINE):
    """What a view's computation will cost (:mod:`simulate.run.plan`) on the lab's own threads
    (:data:`IN_PROCESS`): many trials, the null world (the same trials once per usable test)
    or the sample-size search (one per target)."""
    from simulate.run import plan
    from simulate.run.compute import TARGETS

    reps = scenario.simulation.replicates
    if view == "many_view":
        return plan.plan_power(scenario, reps, None, engine, processes=False)
    if view == "methods_view":
        designs = list(method_designs(scenario)[0].values()) or [scenario]
        reps = designs[0].simulation.replicates
        return plan.plan_trials(designs, reps, None, engine, what=f"the missing-data methods ({len(designs)} "
                                f"methods, {reps:,} trials each)", processes=False)
    if view == "what_if_view":
        from simulate.run.assurance import has_design_prior, prior_world

        designs = [scenario, prior_world(scenario)] if has_design_prior(scenario) else [scenario]
        return plan.plan_trials(designs, reps, None, engine, what=f"power and assurance ({reps:,} trials each)",
                                processes=False)
    if view == "null_view":
        designs = list(usable_tests(scenario)[0].values()) or [scenario]
        return plan.plan_trials(designs, reps, None, engine, what=f"the null world ({len(designs)} tests, "
                                f"{reps:,} trials each)", processes=False)
    from simulate.run.samplesize import plan_samplesize

    parts = [plan_samplesize(scenario, reps, None, engine, t, processes=False) for t in TARGETS]
    return dataclasses.replace(max(parts, key=lambda p: p.peak_bytes), what=f"the sample-size search ({reps:,} "
                               "trials per n)", seconds=sum(p.seconds for p in parts))


def view_problem(scenario: sc.Scenario, view: str) -> str | None:
    """The one line that refuses a view's computation before it starts (None: it fits the
    memory budget and the lab's time limit)."""
    from simulate.run import plan
    from simulate.errors import ResourceError

    budget, _ = plan.current_limits()
    try:
        plan.check(plan_view(scenario, view), budget, (60 * LAB_MAX_MINUTES, "the lab's limit"),
                   memory_hint=LAB_MEMORY_HINT, time_hint=LAB_TIME_HINT)
    except ResourceError as err:
        return err.problems[0]
    return None


def plan_problems(scenario: sc.Scenario, base: sc.Scenario, values: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Input id -> the plan's refusal of this design, under the input that drives it: the
    number of simulated trials for time, else the referral rate, which makes trials large.
    Checked for the Many trials view and one trial, the lab's first steps; the other views are
    planned when asked for (:func:`view_problem`)."""
    from simulate.run import plan
    from simulate.errors import ResourceError

    line = view_problem(scenario, "many_view")
    if line is None:
        budget, _ = plan.current_limits()
        try:
            plan.check(plan.plan_trial(scenario), budget, (math.inf, ""))
        except ResourceError as err:
            line = err.problems[0]
    if line is None:
        return {}
    # trials grow with the referrals they draw (the pool is no wider than their candidates): the
    # rate is to blame if the design at the scenario's own rate would fit
    key = "rate_per_site_month"
    if "time limit" in line:
        rate = "recruitment.rate_per_site_month"
        at_base = loader.with_overrides(scenario, {rate: base.recruitment.rate_per_site_month})
        if at_base == scenario or view_problem(at_base, "many_view") is not None:
            key = "replicates"
    return {key if key in values else next(iter(values)): (f"error: {line}",)}


# ----------------------------------------------------------------------------- progress


class Cancelled(Exception):
    """The person at the lab stopped the computation."""


_LIVE: weakref.WeakSet = weakref.WeakSet()
"""Every :class:`Progress` not yet forgotten (so that a shutdown can stop them all)."""


def cancel_all() -> None:
    """Stop every computation still running (the lab is shutting down)."""
    for progress in list(_LIVE):
        progress.cancel()


class Progress:
    """What a running computation has done, read by the page while it runs (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.done = self.total = 0
        self.label = ""
        self.partial: Any = None
        _LIVE.add(self)

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def update(self, done: int, total: int, label: str, partial: Any = None) -> None:
        """Note a gathered block; raises :class:`Cancelled` if the lab asked to stop."""
        with self._lock:
            self.done, self.total, self.label = done, total, label
            if partial is not None:
                self.partial = partial
        if self._stop.is_set():
            raise Cancelled()

    def read(self) -> tuple[int, int, str, Any]:
        with self._lock:
            return self.done, self.total, self.label, self.partial


# ----------------------------------------------------------------------------- many trials


@dataclass(frozen=True)
class Spread:
    """Counts of one comparison's estimates and p-values over trials (the primary comparison)."""

    edges: np.ndarray
    """Bin edges of the estimated risk difference (experimental minus control)."""
    significant: np.ndarray
    """Trials with the estimate in each bin that rejected H0."""
    not_significant: np.ndarray
    p_edges: np.ndarray
    p_counts: np.ndarray
    """Trials with the (unadjusted) p-value in each bin."""

    def __add__(self, other: "Spread") -> "Spread":
        return Spread(self.edges, self.significant + other.significant, self.not_significant + other.not_significant,
                      self.p_edges, self.p_counts + other.p_counts)


def _spread(scenario: sc.Scenario, analysed) -> Spread:
    j = scenario.experimental_arms.index(primary_arm(scenario))
    r = analysed.analyses[j]
    ok = np.isfinite(r.risk_difference)
    edges = estimate_edges(scenario.trial.n_per_arm)
    significant = analysed.reject[:, j] & ok
    sig, _ = np.histogram(r.risk_difference[significant], edges)
    non, _ = np.histogram(r.risk_difference[ok & ~significant], edges)
    p_edges = p_value_edges(scenario.analysis.alpha)
    p = r.p_value[ok & np.isfinite(r.p_value)]              # the same trials as the estimates
    p_counts, _ = np.histogram(np.clip(p, 0.0, 1.0), p_edges)
    return Spread(edges, sig, non, p_edges, p_counts)


def _lab_block(designs: list, seed: int, block: int, n_trials: int, engine: str) -> list[tuple]:
    """A block of trials of each design (prepared: :class:`~simulate.run.prepared.PreparedDesign`),
    analysed once: its tally (what ``trialsim power`` totals) and the spread of its estimates
    and p-values."""
    from simulate.run.power import trial_truths_of
    from simulate.run.tally import analyse_outcomes, tally

    out = []
    size = trials_per_block(*(d.scenario for d in designs))
    for prepared, outcomes in zip(designs, simulate_block_designs(designs, seed, block, n_trials, engine)):
        analysed = analyse_outcomes(prepared, outcomes)
        truths = trial_truths_of(prepared.scenario, seed, block, size, len(outcomes.n_randomised))
        out.append((tally(prepared, outcomes, analysed, trial_truths=truths), _spread(prepared.scenario, analysed)))
    return out


@dataclass(frozen=True)
class ManyTrials:
    """A design's power (exactly ``trialsim power``'s) and how its trials' answers spread."""

    power: PowerResult
    spread: Spread
    complete: bool = True
    """False while blocks are still arriving."""

    @property
    def true_difference(self) -> float:
        return self.power.true_difference

    @property
    def null(self) -> bool:
        """No true benefit in this world (:func:`simulate.design.assumed.result_has_no_benefit`, the rule
        the CLI and the report read): its power is a type I error."""
        from simulate.design.assumed import result_has_no_benefit

        return result_has_no_benefit(self.power)


def primary_comparison(scenario: sc.Scenario, power: PowerResult):
    """The comparison of the experimental arm the lab shows (:func:`primary_arm`) in a power
    result: its true difference, mean estimate, bias and coverage (None if it has none)."""
    arm = primary_arm(scenario)
    return next((c for c in power.comparisons if c.arm == arm), None)


def simulate_many(designs: list[sc.Scenario], progress: Progress | None = None, jobs=IN_PROCESS,
                  engine: str = DEFAULT_ENGINE) -> list[ManyTrials]:
    """Each design's ``simulation.replicates`` trials from its ``simulation.seed`` (the designs
    share both: common random numbers), gathered block by block. ``progress`` is told of each
    block, with the first design's answer so far; it stops the run when cancelled."""
    from simulate.run.power import run_blocks, summarise

    first = designs[0]
    seed, replicates = first.simulation.seed, first.simulation.replicates
    totals: list[tuple | None] = [None] * len(designs)
    size = trials_per_block(*designs)
    n_blocks = -(-replicates // size)
    done = 0
    t0 = time.perf_counter()

    def result(k: int, complete: bool) -> ManyTrials:
        t, s = totals[k]  # type: ignore[misc]
        return ManyTrials(summarise(designs[k], t, seed, engine, time.perf_counter() - t0), s, complete)

    def fold(part: list[tuple]) -> None:             # in block order, as trialsim power folds them
        nonlocal done
        for k, (t, s) in enumerate(part):
            totals[k] = (t, s) if totals[k] is None else (totals[k][0] + t, totals[k][1] + s)  # type: ignore[index]
        done += 1
        if progress is not None:
            progress.update(done, n_blocks, f"{min(done * size, replicates):,} of "
                            f"{replicates:,} trials", result(0, done == n_blocks))

    if progress is not None and progress.cancelled:
        raise Cancelled()
    try:
        run_blocks(_lab_block, designs, replicates, seed, jobs, engine, False, fold)
    finally:
        release_freed_memory()          # the lab is a server: the blocks' freed arrays go back to the system
    return [result(k, True) for k in range(len(designs))]


def many_trials(scenario: sc.Scenario, progress: Progress | None = None, jobs=IN_PROCESS,
                engine: str = DEFAULT_ENGINE) -> ManyTrials:
    """The design's power over its replicates, as ``trialsim power`` estimates it."""
    return simulate_many([scenario], progress, jobs, engine)[0]


# ----------------------------------------------------------------------------- the null world


@dataclass(frozen=True)
class NullWorld:
    """Each test's type I error: the same design and trials with no true difference."""

    results: dict[str, ManyTrials]
    """Test -> its trials (tests the design allows)."""
    refused: dict[str, str]
    """Test -> why the design cannot use it (the loader's message)."""
    note: str = ""
    """How the null was made, when setting the rate alone was not enough."""


def null_design(scenario: sc.Scenario) -> tuple[sc.Scenario, str]:
    """The design under the null hypothesis and how it was made
    (:func:`simulate.design.assumed.null_scenario`, as the command line builds it)."""
    from simulate.design.null_world import null_scenario

    return null_scenario(scenario)


def usable_tests(scenario: sc.Scenario) -> tuple[dict[str, sc.Scenario], dict[str, str]]:
    """The registered analyses (:mod:`simulate.analysis.registry`) the design can use (test ->
    the design with it, ``--set analysis.test=<test>``) and those it cannot (test -> the loader's
    reason); the covariate-adjusted ones (``analysis.adjustment``) are not offered as tests."""
    from simulate.design.choices import ADJUSTMENTS

    designs, refused = {}, {}
    for test in registry.names():
        if test in ADJUSTMENTS:                 # adjusted analyses come with the adjustment, not as a test
            continue
        try:
            designs[test] = loader.with_overrides(scenario, {"analysis.test": test})
        except ScenarioError as err:
            refused[test] = err.problems[0]
    return designs, refused


def type_one_verdict(rate: float, mc_se: float, alpha: float) -> str:
    """What a test's simulated type I error ``rate`` (± ``mc_se``) says against ``alpha``: more
    than 2 Monte Carlo SE above or below it, or within that error (the report's words)."""
    from simulate.report.sentences.common import against_alpha_word

    word = against_alpha_word(rate, mc_se, alpha)
    return f"{word} α" + {"above": ": the test is anti-conservative here",
                          "below": ": the test is conservative here"}.get(word, "")


def null_world(scenario: sc.Scenario, progress: Progress | None = None, jobs=IN_PROCESS,
               engine: str = DEFAULT_ENGINE) -> NullWorld:
    """The type I error of every registered analysis the design allows, on
    the same simulated trials of the design under the null (:func:`null_design`)."""
    try:
        null, note = null_design(scenario)
    except ScenarioError as err:
        return NullWorld({}, {}, f"No null design could be built: {err.problems[0]}")
    designs, refused = usable_tests(null)
    runs = simulate_many(list(designs.values()), progress, jobs, engine) if designs else []
    return NullWorld(dict(zip(designs, runs)), refused, note)


# ----------------------------------------------------------------------------- missing-data methods


METHODS_REPLICATES = 500
"""The missing-data methods are compared on at most this many trials each (the design's own
number if smaller): five power runs, the imputing ones the slowest, kept within a class's wait.
A bias is read within about ±0.01 (2 Monte Carlo SE) at 500."""


@dataclass(frozen=True)
class MethodsComparison:
    """The same simulated trials analysed by each missing-data method (``analysis.missing``)."""

    results: dict[str, ManyTrials]
    """Method -> its trials' power, estimates and coverage (exactly ``trialsim power``'s)."""
    tests: dict[str, str]
    """Method -> the test it was analysed with: the design's, or for an imputation the test that
    combines imputed data sets where the design's cannot."""
    refused: dict[str, str]
    """Method -> why the design cannot use it (the loader's message)."""


def imputing_test(scenario: sc.Scenario) -> str | None:
    """The design's test if it can analyse multiply imputed data, else the first registered
    analysis that can (the Wald test); None if none is registered."""
    if registry.get(scenario.analysis.test).imputes:
        return scenario.analysis.test
    return next((e.name for e in registry.entries() if e.imputes), None)


def method_designs(scenario: sc.Scenario) -> tuple[dict[str, sc.Scenario], dict[str, str], dict[str, str]]:
    """The design once per missing-data method (``--set analysis.missing=<method>``, and for an
    imputation ``analysis.test=wald`` if the design's test cannot combine imputations), on
    ``min(replicates,`` :data:`METHODS_REPLICATES` ``)`` trials; the tests they use; and the
    methods the loader refuses, with its reason."""
    from simulate.design.choices import IMPUTATION_STRATEGIES, MISSING_STRATEGIES

    reps = min(scenario.simulation.replicates, METHODS_REPLICATES)
    designs, tests, refused = {}, {}, {}
    for method in MISSING_STRATEGIES:
        test = imputing_test(scenario) if method in IMPUTATION_STRATEGIES else scenario.analysis.test
        try:
            designs[method] = loader.with_overrides(scenario, {"analysis.missing": method, "analysis.test": test,
                                                               "simulation.replicates": reps})
            tests[method] = test  # type: ignore[assignment]
        except ScenarioError as err:
            refused[method] = err.problems[0]
    return designs, tests, refused


def compare_methods(scenario: sc.Scenario, progress: Progress | None = None, jobs=IN_PROCESS,
                    engine: str = DEFAULT_ENGINE) -> MethodsComparison:
    """Every missing-data method the design allows (:func:`method_designs`), on the same
    simulated trials: each method's result is ``trialsim power --replicates R --set
    analysis.missing=<method>``'s."""
    designs, tests, refused = method_designs(scenario)
    runs = simulate_many(list(designs.values()), progress, jobs, engine) if designs else []
    return MethodsComparison(dict(zip(designs, runs)), tests, refused)


# ----------------------------------------------------------------------------- one trial


@dataclass(frozen=True)
class OneTrial:
    """One replicate of the seed: its story (the ``trial`` command's), its analysis, and the
    randomisation months beside the first trials' accrual."""

    replicate: int
    record: ExampleTrial
    randomisation_months: tuple[float, ...]
    fan: Accrual
    table: dict[str, tuple[int, int]]
    """Arm -> (responders, analysed) as the planned analysis counts them."""
    p_value: float
    risk_difference: float
    ci_low: float
    ci_high: float
    reject: bool
    story: tuple[str, ...]
    """The trial's story as ``trialsim trial`` prints it."""


def one_trial(scenario: sc.Scenario, replicate: int = 0, engine: str = DEFAULT_ENGINE) -> OneTrial:
    """Trial ``replicate`` of the seed: told by the discrete-event engine (as ``trialsim
    trial``), analysed as replicate ``replicate`` of ``trialsim power`` analyses it."""
    from simulate.engines.blocks import simulate_block
    from simulate.engines.des import example_trial
    from simulate.run.compute import compute_accrual, trial_record
    from simulate.report.sentences.trial import story_lines
    from simulate.run.tally import analyse_outcomes

    seed = scenario.simulation.seed
    result = example_trial(scenario, seed, replicate=replicate)
    block, index = divmod(replicate, trials_per_block(scenario))
    outcomes = simulate_block(scenario, seed, block, index + 1, engine).take(slice(index, index + 1))
    x, n = outcomes.counts(scenario.analysis.missing)
    analysed = analyse_outcomes(scenario, outcomes)
    j = scenario.experimental_arms.index(primary_arm(scenario))
    r = analysed.analyses[j]
    table = {arm: (int(x[0, :, k].sum()), int(n[0, :, k].sum())) for k, arm in enumerate(scenario.arm_names)}
    return OneTrial(
        replicate=replicate, record=trial_record(scenario, result),
        randomisation_months=tuple(np.sort(result.randomised.randomisation_month).tolist()),
        fan=compute_accrual(scenario, seed), table=table, p_value=float(r.p_value[0]),
        risk_difference=float(r.risk_difference[0]), ci_low=float(r.ci_low[0]), ci_high=float(r.ci_high[0]),
        reject=bool(analysed.reject[0, j]), story=tuple(story_lines(scenario, seed, result)))


# ----------------------------------------------------------------------------- how many patients


def how_many(scenario: sc.Scenario, progress: Progress | None = None, jobs=IN_PROCESS,
             engine: str = DEFAULT_ENGINE) -> SampleSizePlan:
    """The sample-size piece of ``trialsim run``: n for 80% and 90% power, the simulated curve
    and the closed forms. ``progress`` is told of each block; it stops the search when cancelled."""
    from simulate.run.compute import compute_samplesize
    from simulate.run.power import watching

    s = scenario.simulation
    if progress is None:
        return compute_samplesize(scenario, s.seed, s.replicates, jobs, engine)
    with watching(progress.update):
        return compute_samplesize(scenario, s.seed, s.replicates, jobs, engine)
