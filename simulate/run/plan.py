"""The resource plan: peak memory and wall time of a piece of work, estimated before it starts.

Every command (and every action of the teaching lab) asks :func:`plan_trials` (or
:func:`plan_cohort`, :func:`plan_trial`) what its work will cost *before anything is drawn*,
and :func:`check` refuses, in one line, work that cannot fit the memory budget or whose
estimate passes the time limit. The estimate reads only the design:

* the referrals a trial draws (sites x rate x the months from each site's activation to the
  hard stop), split by the screen's pass probability into excluded referrals and candidates;
* the pool: the most randomisable candidates of any trial of a block (no more than the
  target), with its arms, visits and strata;
* the trials per block, the designs evaluated side by side (a sweep, a sample-size scan), and
  the blocks run at once.

Memory is planned per block: a block of trials holds its fates and its outcomes at once, so a
block's size is capped by :data:`BLOCK_MEMORY_BYTES` (:func:`trials_per_block`), a constant of
the design rather than of the machine, so the seed tree (and every result) is the same on any
machine. The budget (:func:`memory_budget`) then decides how many blocks may run at once;
work whose single block does not fit is refused.

The per-unit costs below were measured with ``tracemalloc`` and timed on the 2-core machine of
the benchmarks (``benchmarks/plan.py`` prints estimate against measured peak for the shipped
scenarios and the large cases); the estimate aims to lie within a factor of 2 of the peak.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import logging
import math
from dataclasses import dataclass
from typing import Iterator

from simulate.design import scenario as sc
from simulate.errors import ResourceError
from simulate.run.budget import MEMORY_ENV, TIME_ENV, memory_budget, time_limit

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ measured costs (see module doc)

BYTES_PER_EXCLUDED = 20
"""Peak bytes per excluded referral drawn (its month and site, and the draws that make them)."""
BYTES_PER_CANDIDATE = 104
"""Peak bytes per candidate: screening, clocks, deferral and the sort of each trial's pool."""
BYTES_PER_SLOT = 130
"""Peak bytes per pool slot of a trial: covariates, uniforms, stratum and the engine's arrays."""
BYTES_PER_SLOT_ARM = 36
"""Peak bytes per pool slot and arm: the potential outcomes and their selection."""
BYTES_PER_SLOT_VISIT = 2.5
"""Peak bytes per pool slot, arm and visit: the status at every scheduled visit."""
BYTES_PER_SLOT_STRATUM = 8
"""Peak bytes per pool slot and stratum: the permuted-block sequences and their draws."""
BYTES_PER_SLOT_ARM_PATHS = 64
"""Peak bytes per pool slot and arm with intercurrent events: the paths that follow a switch of
treatment (:func:`simulate.population.intercurrent.follow`) and the estimand's variable."""
BYTES_PER_SLOT_ARM_EVENT = 40
"""Peak bytes per pool slot, arm and intercurrent event: its draws, month and what follows it."""
BYTES_PER_TRIAL = 1_600
"""Per trial of a block: site arrays, counts and the tallies."""
PROCESS_BYTES = 90 << 20
"""Resident memory of a process that has imported trialsim, numpy, scipy and pandas."""
WORKER_BYTES = 110 << 20
"""Each extra worker process (it imports the same)."""
DES_BYTES_PER_PATIENT = 3_000
"""The discrete-event engine's Python objects per randomised patient of the trial it holds."""

SECONDS_PER_REFERRAL = 2.5e-8
SECONDS_PER_CANDIDATE = 2.6e-8
SECONDS_PER_SLOT = 5.1e-7
SECONDS_PER_TRIAL = 1.4e-5
"""Batch engine time per unit (one core), and a trial's fixed cost."""
SHARED_DESIGN_SHARE = 0.5
"""A design that shares its population's fates with another of the run costs about this share
of a slot's time (its outcomes and the engine; the pool is drawn once)."""
BY_TARGET_SHARE = 0.15
"""A design that differs from another of the run only in its target costs about this share:
both are followed in one pass (:mod:`simulate.engines.by_target`)."""
DES_SECONDS_PER_TRIAL = 6e-4
DES_SECONDS_PER_REFERRAL = 3.3e-7
DES_SECONDS_PER_PATIENT = 1.0e-5
"""The discrete-event engine: per referral handled and per randomised patient followed."""
STORY_BYTES_PER_REFERRAL = 500
STORY_BYTES_PER_PATIENT = 12_000
STORY_SECONDS_PER_REFERRAL = 2e-5
STORY_SECONDS_PER_PATIENT = 1.7e-3
"""One trial told patient by patient: every referral's events and every patient's visits kept."""
START_SECONDS = 0.4
"""Imports and set-up before the first block."""
REPORT_BYTES = 200 << 20
REPORT_SECONDS = 6.0
"""``trialsim run``'s report: the plotting libraries, its figures and the page, drawn in one
process (:func:`report_seconds`)."""
REPORT_SECONDS_FORKED = 2.5
"""The same where forked workers draw the figures side by side (Linux)."""
BYTES_PER_COHORT_PATIENT = 500
"""`trialsim cohort`: a referred patient's covariates, screen and table row."""
SECONDS_PER_COHORT_PATIENT = 4e-6

BLOCK_MEMORY_BYTES = 512 << 20
"""The most one block of trials may need: a design whose trials are larger runs as more,
smaller blocks (:func:`trials_per_block`)."""
BLOCK_SPREAD_SD = 4.0
"""How far above the mean (in standard deviations) the largest trial of a block is planned:
the pool is as wide as the most candidates of any of its trials."""

FEW_REPLICATES = 100
"""Below this many simulated trials a power figure's Monte Carlo error makes it unusable."""


# ------------------------------------------------------------------ the design's sizes


@dataclass(frozen=True)
class TrialSize:
    """What one trial of a design draws, on average, and the widest pool of a block."""

    referrals: float
    candidates: float
    widest: float
    """Candidates of a block's widest trial (planned :data:`BLOCK_SPREAD_SD` SDs above the mean)."""
    target: int
    arms: int
    visits: int
    strata: int
    events: int = 0
    """Intercurrent events (``[intercurrent.<id>]`` tables)."""

    @property
    def excluded(self) -> float:
        return self.referrals - self.candidates

    @property
    def pool(self) -> float:
        """Pool slots of a block's widest trial: no more than the target."""
        return min(float(self.target), self.widest)


def _site_months(scenario: sc.Scenario) -> float:
    """Expected months a site refers for: from its activation, uniform on [0, A], to the hard stop."""
    h, a = scenario.trial.hard_stop_months, scenario.recruitment.site_activation_months_max
    if a <= 0:
        return h
    if h >= a:
        return h - a / 2
    return h * h / (2 * a)


def trial_size(scenario: sc.Scenario, exact: bool = True) -> TrialSize:
    """The referrals and candidates a trial draws, and the widest pool of a block. Not
    ``exact``: candidates from an upper bound of the screen's pass probability, with
    :mod:`math` alone (the closed forms of :mod:`simulate.screening.feasibility`; no scipy)."""
    rec = scenario.recruitment
    referrals = rec.sites * rec.rate_per_site_month * _site_months(scenario)
    if exact:
        from simulate.screening.probabilities import pass_probabilities

        p = pass_probabilities(scenario.cohort, scenario.eligibility).candidate
    else:
        from simulate.screening.closed_forms import conditions_pass_probability, history_pass_probability

        p = conditions_pass_probability(scenario.cohort) * history_pass_probability(scenario.cohort,
                                                                                   scenario.eligibility)
    candidates = referrals * p
    # the widest trial of a block: site rates are gamma (cv 1/sqrt(shape)) and counts Poisson
    cv = 1.0 / math.sqrt(max(rec.rate_gamma_shape * rec.sites, 1e-9))
    widest = candidates * (1 + BLOCK_SPREAD_SD * cv) + BLOCK_SPREAD_SD * math.sqrt(candidates) + 1
    return TrialSize(referrals=referrals, candidates=candidates, widest=widest, target=scenario.n_target,
                     arms=len(scenario.arms), visits=len(scenario.trial.visit_months),
                     strata=2 ** len(scenario.randomisation.stratify_by), events=len(scenario.intercurrent))


def bytes_per_trial(size: TrialSize, designs: int = 1) -> float:
    """Peak bytes one trial adds to its block (the fates once; outcomes per design)."""
    slot = (BYTES_PER_SLOT + size.strata * BYTES_PER_SLOT_STRATUM
            + designs * size.arms * (BYTES_PER_SLOT_ARM + size.visits * BYTES_PER_SLOT_VISIT
                                     + (BYTES_PER_SLOT_ARM_PATHS + size.events * BYTES_PER_SLOT_ARM_EVENT
                                        if size.events else 0)))
    return (BYTES_PER_TRIAL + size.excluded * BYTES_PER_EXCLUDED + size.candidates * BYTES_PER_CANDIDATE
            + size.pool * slot)


def trials_per_block(*designs: sc.Scenario) -> int:
    """Trials per seeded block: ``simulation.block_size``, or fewer where a block of a design's
    trials would need more than :data:`BLOCK_MEMORY_BYTES` whatever its target (so every n of
    a sample-size search shares its trials). Designs run side by side (a sweep) share the
    smallest. A property of the designs, never of the machine: a seed gives the same trials
    everywhere."""
    return min(_trials_per_block(d) for d in designs)


@functools.lru_cache(maxsize=256)
def _trials_per_block(scenario: sc.Scenario) -> int:
    return _block_for(scenario, trial_size(scenario))


def _block_for(scenario: sc.Scenario, size: TrialSize) -> int:
    per = bytes_per_trial(dataclasses.replace(size, target=max(size.target, math.ceil(size.widest))))
    fit = int(BLOCK_MEMORY_BYTES // per) if per > 0 else scenario.simulation.block_size
    return max(1, min(scenario.simulation.block_size, fit))


# ------------------------------------------------------------------ plans


@dataclass(frozen=True)
class Plan:
    """What a piece of work will cost: its peak resident memory (all processes) and wall time."""

    what: str
    """The work in a few words, e.g. ``2,000 trials of 1 design``."""
    peak_bytes: float
    seconds: float
    block_bytes: float = 0.0
    """One block's own peak (the part that multiplies with blocks run at once)."""
    trials_per_block: int = 0
    at_once: int = 1
    """Blocks run at the same time (threads or worker processes)."""
    work_seconds: float = 0.0
    """The simulations' time on one core, before it is shared (what decides whether worker
    processes are started: :func:`simulate.run.parallel.workers_repay`)."""
    referrals_per_trial: float = 0.0

    def describe(self) -> str:
        return f"{self.what}: about {format_bytes(self.peak_bytes)} and {format_seconds(self.seconds)}"


def format_bytes(n: float) -> str:
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{max(n, 0) / 1024:.3g} kB"


def format_seconds(s: float) -> str:
    if s < 60:
        return f"{max(s, 0.1):.2g} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"


def _seconds_per_trial(size: TrialSize, engine: str, designs: int) -> float:
    if engine == "des":
        patients = min(size.pool, size.candidates)
        return designs * (DES_SECONDS_PER_TRIAL + size.referrals * DES_SECONDS_PER_REFERRAL
                          + patients * size.arms / 2 * DES_SECONDS_PER_PATIENT)
    return (SECONDS_PER_TRIAL + size.referrals * SECONDS_PER_REFERRAL + size.candidates * SECONDS_PER_CANDIDATE
            + designs * min(size.pool, size.candidates) * size.arms / 2 * SECONDS_PER_SLOT)


def plan_trials(designs: list[sc.Scenario], replicates: int, jobs: int | None = None, engine: str = "batch",
                what: str | None = None, passes: int = 1, processes: bool = True) -> Plan:
    """Simulating ``replicates`` trials of each design side by side (common random numbers), in
    blocks; ``passes`` such runs one after another (a sample-size search's rounds).
    ``processes=False``: this process's threads only (see :class:`simulate.run.parallel.Backend`)."""
    from simulate.run.parallel import THREAD_SHARE, default_jobs, start_seconds, workers_repay

    sizes = [trial_size(d) for d in designs]
    # designs side by side share a draw of fates where they can, and each design's arrays are
    # freed before the next design's are made: a block holds about the widest design's
    widest = max(sizes, key=lambda s: bytes_per_trial(s))
    per_trial = bytes_per_trial(widest)
    block = trials_per_block(*designs)
    in_block = min(block, replicates)
    block_bytes = in_block * per_trial
    n_blocks = -(-replicates // block)
    workers = jobs or default_jobs()
    at_once = max(1, min(workers, n_blocks))
    if engine == "des":
        block_bytes += widest.pool * widest.arms * DES_BYTES_PER_PATIENT
    if engine == "des":
        per_trial_s = sum(_seconds_per_trial(s, engine, 1) for s in sizes)
    else:   # designs of one population share its referrals; each design computes its own outcomes,
        # or follows an earlier one's in its pass when it differs from it only in its target
        # (neither has looks)
        from simulate.fates.keys import outcome_key, population_key

        keys = [population_key(d) for d in designs]
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        models = [(k, outcome_key(d), d.interim is None) for k, d in zip(keys, designs)]
        by_target = [m[2] and m in models[:i] for i, m in enumerate(models)]
        draw = lambda s: _seconds_per_trial(dataclasses.replace(s, target=0), engine, 1)  # noqa: E731
        share = lambda i, k: 1.0 if first[k] == i else BY_TARGET_SHARE if by_target[i] else SHARED_DESIGN_SHARE  # noqa: E731
        per_trial_s = sum(draw(sizes[i]) for i in first.values()) + sum(
            (_seconds_per_trial(s, engine, 1) - draw(s)) * share(i, k) for i, (k, s) in enumerate(zip(keys, sizes)))
    serial = passes * replicates * per_trial_s
    # as simulate.run.parallel.run_tasks does: an explicit number of jobs starts that many workers;
    # by default the work runs in this process (the batch engine on a thread per core) unless
    # what it would save repays starting the workers
    if not processes:
        processes = 0
        if engine == "des":
            at_once = 1
    elif jobs is None:
        start = start_seconds()
        processes = at_once if workers_repay(serial, at_once, start) else 0
        if engine == "des" and not processes:
            at_once = 1
    else:
        processes = at_once if at_once > 1 else 0
    peak = PROCESS_BYTES + processes * WORKER_BYTES + at_once * block_bytes
    # worker processes share the work fully; threads of one process only partly (the GIL)
    speedup = at_once if processes else 1 + (at_once - 1) * THREAD_SHARE
    seconds = START_SECONDS + serial / speedup + (start_seconds() if processes else 0.0)
    label = what or (f"{replicates:,} simulated trials" + (f" of {len(designs)} designs" if len(designs) > 1 else ""))
    return Plan(what=label, peak_bytes=peak, seconds=seconds, block_bytes=block_bytes, trials_per_block=block,
                at_once=at_once, referrals_per_trial=widest.referrals, work_seconds=serial)


def plan_trial(scenario: sc.Scenario, exact: bool = True) -> Plan:
    """One trial told patient by patient (``trialsim trial``): a block's fates, one trial followed
    with every event and visit kept (not ``exact``: an upper bound, see :func:`trial_size`)."""
    size = trial_size(scenario, exact)
    block = trials_per_block(scenario) if exact else _block_for(scenario, size)
    fates = block * bytes_per_trial(size)
    patients = min(size.pool, size.candidates)
    des = size.referrals * STORY_BYTES_PER_REFERRAL + patients * STORY_BYTES_PER_PATIENT
    seconds = (START_SECONDS + block * _seconds_per_trial(size, "batch", 1) + size.referrals * STORY_SECONDS_PER_REFERRAL
               + patients * STORY_SECONDS_PER_PATIENT)
    return Plan(what="one trial", peak_bytes=PROCESS_BYTES + fates + des, seconds=seconds, block_bytes=fates + des,
                trials_per_block=block, referrals_per_trial=size.referrals)


def check_one_trial(scenario: sc.Scenario) -> None:
    """Refuse (:class:`~simulate.errors.ResourceError`) a design of which not even one trial
    fits the memory budget in force: what ``trialsim validate`` adds to the scenario's checks.
    The bound decides most designs without scipy; only one near the budget needs the exact plan."""
    budget, _ = current_limits()
    try:
        check(plan_trial(scenario, exact=False), budget, (math.inf, ""))
    except ResourceError:
        check(plan_trial(scenario), budget, (math.inf, ""))


def plan_cohort(n: int) -> Plan:
    """``trialsim cohort --n N``: N referred patients drawn, screened and tabled at once."""
    return Plan(what=f"a cohort of {n:,} referred patients", peak_bytes=PROCESS_BYTES + n * BYTES_PER_COHORT_PATIENT,
                seconds=START_SECONDS + n * SECONDS_PER_COHORT_PATIENT, block_bytes=n * BYTES_PER_COHORT_PATIENT)


MEMORY_HINT = f"make the work smaller, or raise the budget with --max-memory (or {MEMORY_ENV}) if this machine has the memory"
TIME_HINT = f"ask for fewer replicates, or raise the limit with --max-minutes (or {TIME_ENV})"


def check(plan: Plan, budget: tuple[int, str], limit: tuple[float, str], memory_hint: str = MEMORY_HINT,
          time_hint: str = TIME_HINT) -> Plan:
    """Refuse, in one line, work that cannot fit the memory budget or would pass the time limit."""
    memory, memory_source = budget
    seconds, time_source = limit
    if math.isfinite(seconds):
        log.info("plan: %s (memory budget %s from %s; time limit %s from %s)", plan.describe(), format_bytes(memory),
                 memory_source, format_seconds(seconds), time_source)
    if plan.peak_bytes > memory:
        one = PROCESS_BYTES + plan.block_bytes
        if plan.at_once > 1 and one <= memory:
            return check(_fewer_at_once(plan, memory), budget, limit, memory_hint, time_hint)
        unit = ("one trial" if plan.trials_per_block <= 1 else f"a block of {plan.trials_per_block} trials") \
            if plan.trials_per_block else "it"
        n = plan.referrals_per_trial
        size = f" (each trial draws about {n:,.0f} referrals)" if 0 < n < 1e9 else \
            f" (each trial draws about {n:.2g} referrals)" if n else ""
        head = "" if plan.what == unit else f"{plan.what}: "
        raise ResourceError(
            f"{head}{unit} needs about {format_bytes(one)} of memory{size}, more than the memory budget of "
            f"{format_bytes(memory)} ({memory_source}); {memory_hint}")
    if plan.seconds > seconds:
        raise ResourceError(
            f"{plan.what} would take about {format_seconds(plan.seconds)}, past the time limit of "
            f"{format_seconds(seconds)} ({time_source}); {time_hint}")
    return plan


def _fewer_at_once(plan: Plan, memory: int) -> Plan:
    """The same work with only as many blocks at once as the budget holds (slower, never more)."""
    at_once = max(1, int((memory - PROCESS_BYTES) // max(plan.block_bytes + WORKER_BYTES, 1)))
    at_once = min(at_once, plan.at_once)
    peak = PROCESS_BYTES + (at_once * (plan.block_bytes + WORKER_BYTES) if at_once > 1 else plan.block_bytes)
    return Plan(what=plan.what, peak_bytes=peak, seconds=plan.seconds * plan.at_once / at_once,
                block_bytes=plan.block_bytes, trials_per_block=plan.trials_per_block, at_once=at_once,
                referrals_per_trial=plan.referrals_per_trial)


# ------------------------------------------------------------------ the commands' work

SEARCH_DESIGNS = 30
"""Designs (n per arm) a sample-size search typically evaluates: a scan, the window above the
first hit and the n below it (the search's own rounds decide; this is for the estimate)."""
SCAN_DESIGNS = 11
"""Designs a sample-size scan evaluates side by side in one round."""


def plan_power(scenario: sc.Scenario, replicates: int, jobs: int | None = None, engine: str = "batch",
               processes: bool = True, null_world: bool = False) -> Plan:
    """``replicates`` trials of the design, and with ``null_world`` the same trials in its null
    world after them (:func:`simulate.run.operating.with_null_world`)."""
    return plan_trials([scenario], replicates, jobs, engine, what=f"{replicates:,} simulated trials",
                       processes=processes, passes=2 if null_world else 1)


_LIMITS: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("trialsim_limits", default=None)


@contextlib.contextmanager
def limits(max_memory: str | int | None = None, max_minutes: str | float | None = None) -> Iterator[None]:
    """Inside the ``with`` block, work is planned against this budget and time limit (the
    command line's ``--max-memory`` and ``--max-minutes``); outside, the defaults."""
    token = _LIMITS.set((memory_budget(max_memory), time_limit(max_minutes)))
    try:
        yield
    finally:
        _LIMITS.reset(token)


def current_limits() -> tuple[tuple[int, str], tuple[float, str]]:
    """((budget bytes, source), (time limit seconds, source)) in force here."""
    return _LIMITS.get() or (memory_budget(), time_limit())


def fit_memory(plan: Plan) -> Plan:
    """The plan with as many blocks at once as the budget in force holds; refused in one line
    (:class:`~simulate.errors.ResourceError`) if not even one block fits. Time is not checked."""
    budget, _ = current_limits()
    return check(plan, budget, (math.inf, ""))


def describe_short(plan: Plan) -> str:
    return f"about {format_bytes(plan.peak_bytes)} and {format_seconds(plan.seconds)}"


def report_seconds() -> float:
    """What ``trialsim run``'s report takes here: :data:`REPORT_SECONDS_FORKED` where forked
    workers draw its figures, else :data:`REPORT_SECONDS`."""
    from simulate.run.parallel import forks_cheaply

    return REPORT_SECONDS_FORKED if forks_cheaply() else REPORT_SECONDS
