"""Intercurrent events as potential outcomes, and the estimand's variable computed from them.

The scenario's ``[intercurrent.<id>]`` events (:mod:`simulate.design.estimand`) are drawn, like
every other outcome, as uniforms from the block's seed (one stream per event, slot-row by
slot-row, so a smaller target's patients are a prefix), and transformed here into, per arm:

* the **month** the event would happen (months after randomisation; inf if it never does): a
  discontinuation at the first arrival of a constant hazard that reaches ``probability`` by
  ``by_month`` and stops there; kidney failure or death at the first arrival of a constant
  hazard that goes on; a rescue at ``at_month`` for the patients offered it (``probability``),
  though only those not in remission then take it;
* what follows a **switch** (a discontinuation or a rescue): the gap to a new remission
  (exponential with ``remission_hazard_after_per_month``) for a patient not in remission at the
  switch, the gap to the loss of a remission (``relapse_hazard_after_per_month``), and the
  type of the new remission.

Which events happen to a patient depends on their path. The rules (the DES plays them as
events, :mod:`simulate.engines.des_model`; :func:`follow` computes them as arrays):

1. The patient starts on the assigned arm's path (first remission, relapse: the outcome model).
2. A switch at month s keeps the past; a remission under way at s ends at s + the relapse gap;
   a patient not in remission at s remits at s + the remission gap (and relapses the relapse gap
   after that). At most one discontinuation happens (the earliest: the assigned treatment stops
   once); a rescue comes after a discontinuation if the patient is not in remission at its visit,
   but no discontinuation follows a rescue (the assigned treatment was replaced).
3. Kidney failure or death at month k ends every remission and the follow-up: no visit after it.

**The estimand's variable** (:func:`variable`): the first intercurrent event before the endpoint
whose strategy is not ``treatment_policy`` decides: ``composite`` gives no remission,
``while_on_treatment`` the status at the last scheduled visit at or before it, ``hypothetical``
a missing value (the status at that visit carried forward for LOCF). Without such an event the
variable is the status at the endpoint visit, missing after a dropout.

**The true value** (:func:`true_values`): the variable of every patient under each arm in the
world where the hypothetical events do not happen (and nobody drops out), averaged over a large
reference sample of eligible patients; the ratio measures are ratios of those means.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from simulate.design import scenario as sc
from simulate.seeding import stream

DRAWS = 4
"""Uniforms per patient per event: its month (or whether rescue is offered), the remission gap,
the relapse gap and the type of a new remission."""
INF = np.inf


def draw_intercurrent(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int,
                      width: int) -> np.ndarray | None:
    """(events, DRAWS, n_trials, width) uniforms of the scenario's intercurrent events for the
    first ``width`` pool slots of each trial (None without events). Each event draws from its
    own stream, slot-row by slot-row: adding an event or widening the pool keeps the others."""
    if not scenario.intercurrent:
        return None
    return np.stack([stream(block_seq, f"intercurrent.{name}").random((width, DRAWS, n_trials)).transpose(1, 2, 0)
                     for name in scenario.intercurrent])


@dataclass(frozen=True)
class Intercurrent:
    """One arm's intercurrent events for every patient (arrays (events, ...) in the scenario's
    order of ``[intercurrent.*]``)."""

    month: np.ndarray
    """When each event would happen (rescue: when it would be taken, if not in remission then)."""
    remission_gap: np.ndarray
    relapse_gap: np.ndarray
    complete: np.ndarray


@dataclass(frozen=True)
class Events:
    """What the events are, in the scenario's order (the same for every arm and patient)."""

    kinds: tuple[str, ...]
    strategies: tuple[str, ...]

    @classmethod
    def of(cls, scenario: sc.Scenario) -> "Events":
        strategies = scenario.strategies
        return cls(tuple(ev.kind for ev in scenario.intercurrent.values()), tuple(strategies.values()))

    def index(self, kind: str) -> list[int]:
        return [i for i, k in enumerate(self.kinds) if k == kind]


def _exponential(u: np.ndarray, rate: float) -> np.ndarray:
    """Exponential gaps of ``rate`` from uniforms (inf at rate 0)."""
    if rate <= 0:
        return np.full(np.shape(u), INF)
    return -np.log1p(-u) / rate


def hazard(probability: float, by_month: float) -> float:
    """The constant monthly hazard that reaches ``probability`` by ``by_month``."""
    return -math.log1p(-probability) / by_month if probability > 0 else 0.0


def intercurrent_outcomes(scenario: sc.Scenario, arm: str, draws: np.ndarray) -> Intercurrent:
    """Arm ``arm``'s events from the uniforms of :func:`draw_intercurrent` (any trailing shape)."""
    end = scenario.trial.endpoint_month
    share = scenario.arm(arm).complete_share_of_remission
    months, rem, rel, comp = [], [], [], []
    for ev, u in zip(scenario.intercurrent.values(), draws):
        p = ev.probability_of(arm)
        if ev.kind == "rescue":
            month = np.where(u[0] < p, float(ev.at_month), INF)
        else:
            by = ev.by_month if ev.by_month is not None else end
            month = _exponential(u[0], hazard(p, by))
            if ev.kind == "discontinuation":
                month = np.where(month <= by, month, INF)
        months.append(month)
        rem.append(_exponential(u[1], ev.remission_hazard_after_per_month))
        rel.append(_exponential(u[2], ev.relapse_hazard_after_per_month))
        comp.append(u[3] < (share if ev.complete_share_after is None else ev.complete_share_after))
    return Intercurrent(np.stack(months), np.stack(rem), np.stack(rel), np.stack(comp))


# --------------------------------------------------------------------------- paths as arrays
@dataclass(frozen=True)
class Path:
    """A patient's remission episodes (episodes, ...): in remission from ``start`` (inclusive)
    to ``end`` (exclusive), complete or partial; an unused episode starts at inf. ``occurred``
    (events, ...): the month each intercurrent event happened (inf: it did not)."""

    start: np.ndarray
    end: np.ndarray
    complete: np.ndarray
    occurred: np.ndarray

    def in_remission(self, month, cr_only: bool = False) -> np.ndarray:
        """In the endpoint state at ``month`` (broadcast against a patient's shape)."""
        cover = (self.start <= month) & (month < self.end)
        if cr_only:
            cover &= self.complete
        return cover.any(axis=0)


def _switch(start, end, complete, s, gap_rem, gap_rel, c_after, slot):
    """The episodes after a switch at ``s`` (inf: none) into episode ``slot`` (in place)."""
    on = np.isfinite(s)
    covering = (start <= s) & (s < end)
    in_rem = covering.any(axis=0)
    future = on & (start > s)
    start[...] = np.where(future, INF, start)
    end[...] = np.where(future, INF, np.where(on & covering, s + gap_rel, end))
    new = np.where(on & ~in_rem, s + gap_rem, INF)
    start[slot], end[slot], complete[slot] = new, new + gap_rel, c_after


def follow(remission_month, relapse_month, complete, ice: Intercurrent, events: Events,
           active: tuple[bool, ...]) -> Path:
    """Each patient's path on their arm with the ``active`` intercurrent events (the others do
    not happen: the world of a hypothetical strategy), as arrays (rules in the module's text)."""
    shape = np.shape(remission_month)
    start = np.full((3, *shape), INF)
    end = np.full((3, *shape), INF)
    comp = np.zeros((3, *shape), dtype=bool)
    start[0], end[0], comp[0] = remission_month, relapse_month, complete
    occurred = np.full((len(events.kinds), *shape), INF)
    on = [i for i, a in enumerate(active) if a]
    death = next((i for i in on if events.kinds[i] == "kidney_failure_or_death"), None)
    k = ice.month[death] if death is not None else np.full(shape, INF)
    stops = [i for i in on if events.kinds[i] == "discontinuation"]
    rescue = next((i for i in on if events.kinds[i] == "rescue"), None)
    if stops:
        months = ice.month[stops]
        first = np.argmin(months, axis=0)
        d = np.take_along_axis(months, first[None], axis=0)[0]
        d = np.where(d < k, d, INF)
        pick = [np.take_along_axis(a[stops], first[None], axis=0)[0]
                for a in (ice.remission_gap, ice.relapse_gap, ice.complete)]
    else:
        d, first, pick = np.full(shape, INF), None, None
    r = ice.month[rescue] if rescue is not None else np.full(shape, INF)
    r = np.where(r < k, r, INF)
    rescue_args = () if rescue is None else (ice.remission_gap[rescue], ice.relapse_gap[rescue], ice.complete[rescue])
    if not stops or rescue is None:                 # one kind of switch at most: no order to settle
        rescued = np.zeros(shape, dtype=bool)
        if stops:
            _switch(start, end, comp, d, *pick, 1)
        else:
            rescued = np.isfinite(r) & ~Path(start, end, comp, occurred).in_remission(r)
            if rescue is not None:
                _switch(start, end, comp, np.where(rescued, r, INF), *rescue_args, 1)
        stopped = np.isfinite(d)
    else:
        start, end, comp, rescued, stopped = _both_switches(start, end, comp, occurred, d, r, pick, rescue_args)
    if stops:
        for j, i in enumerate(stops):
            occurred[i] = np.where(stopped & (first == j), d, INF)
    if rescue is not None:
        occurred[rescue] = np.where(rescued, r, INF)
    if death is not None:
        occurred[death] = k
        start = np.where(start >= k, INF, start)
        end = np.minimum(end, k)
    return Path(start, end, comp, occurred)


def _both_switches(start, end, comp, occurred, d, r, pick, rescue_args):
    """The paths with a discontinuation (at ``d``) and a rescue (offered at ``r``) both possible:
    whichever comes first applies first (a rescue only out of remission; no discontinuation
    after a rescue). Returns (start, end, complete, rescued, stopped)."""
    # order A: the discontinuation first (before the rescue visit), then a rescue if still needed
    a = [start.copy(), end.copy(), comp.copy()]
    _switch(*a, np.where(d < r, d, INF), *pick, 1)
    rescued_a = np.isfinite(r) & ~Path(*a, occurred).in_remission(r)
    _switch(*a, np.where(rescued_a, r, INF), *rescue_args, 2)
    # order B: the rescue first; then no discontinuation for the rescued
    b = [start, end, comp]
    rescued_b = np.isfinite(r) & ~Path(*b, occurred).in_remission(r)
    _switch(*b, np.where(rescued_b, r, INF), *rescue_args, 1)
    _switch(*b, np.where(~rescued_b & (d >= r), d, INF), *pick, 2)
    first_a = d < r
    start, end, comp = (np.where(first_a, x, y) for x, y in zip(a, b))
    rescued = np.where(first_a, rescued_a, rescued_b)
    stopped = np.isfinite(d) & (first_a | ~rescued_b)
    return start, end, comp, rescued, stopped


@dataclass(frozen=True)
class Variable:
    """The estimand's variable per patient: ``value`` (in the endpoint state), ``missing``, and
    ``carried`` (the last observed status, for LOCF); ``finish``: the months after randomisation
    at which the patient's follow-up for the endpoint ended (the endpoint visit, a dropout, or
    kidney failure or death)."""

    value: np.ndarray
    missing: np.ndarray
    carried: np.ndarray
    finish: np.ndarray
    deciding: np.ndarray
    """The month of the event that decided the variable (inf: none): the data after it do not
    enter the analysis."""


def variable(path: Path, events: Events, visits: np.ndarray, endpoint: float, cr_only: bool,
             seen_until: np.ndarray | float = INF) -> Variable:
    """The estimand's variable of each patient whose data stop at ``seen_until`` (a dropout's
    month; visits then and after are missed), from their path (rules in the module's text)."""
    shape = np.shape(path.start[0])
    seen_until = np.broadcast_to(seen_until, shape)
    deciding = np.full(shape, INF)
    strategy = np.full(shape, -1)
    for i, s in enumerate(events.strategies):
        if s == "treatment_policy":
            continue
        t = path.occurred[i]
        sooner = (t <= endpoint) & (t < seen_until) & (t < deciding)
        deciding = np.where(sooner, t, deciding)
        strategy = np.where(sooner, i, strategy)
    codes = np.array([("treatment_policy", "composite", "hypothetical", "while_on_treatment").index(s)
                      for s in events.strategies] or [0])
    kind = np.where(strategy >= 0, codes[np.maximum(strategy, 0)], 0)
    decided = strategy >= 0
    dropped = ~decided & (seen_until <= endpoint)
    # the last visit at or before the deciding event, or before the dropout
    before = np.where(decided, np.searchsorted(visits, deciding, side="right"),
                      np.searchsorted(visits, np.minimum(seen_until, endpoint), side="left")) - 1
    last = visits[np.maximum(before, 0)]
    carried = (before >= 0) & path.in_remission(last, cr_only)
    at_end = path.in_remission(endpoint, cr_only)
    value = np.where(decided, np.where(kind == 3, carried, False), at_end)
    missing = (decided & (kind == 2)) | dropped
    value &= ~missing
    death = events.index("kidney_failure_or_death")
    gone = np.minimum(seen_until, path.occurred[death[0]]) if death else seen_until
    finish = np.minimum(np.where(gone <= endpoint, gone, endpoint), endpoint)
    return Variable(value=value, missing=missing, carried=np.where(missing, carried, value), finish=finish,
                    deciding=deciding)


def seen_runs(path: Path, visits: np.ndarray, gone: np.ndarray, cr_only: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per episode, the run of scheduled visits ``first <= j < stop`` at which the patient is
    seen in the endpoint state (visits from ``gone`` on are not attended)."""
    runs = []
    for e in range(path.start.shape[0]):
        first = np.searchsorted(visits, path.start[e], side="left")
        stop = np.searchsorted(visits, np.minimum(path.end[e], gone), side="left")
        if cr_only:
            stop = np.where(path.complete[e], stop, 0)
        runs.append((first, stop))
    return runs


# --------------------------------------------------------------------------- the true value
TRUTH_REPEATS = 2
"""Outcome draws per patient of the reference sample (60,000 eligible patients: 120,000 in all;
the Monte Carlo SE of a true difference is then about 0.001, reported beside it)."""
TRUTH_SEED = 0xE5717A


@dataclass(frozen=True)
class Truth:
    """An estimand's true value for one comparison, with its Monte Carlo SE."""

    control: float
    """The control arm's mean variable."""
    treatment: float
    difference: float
    difference_se: float
    ratio: float
    """The summary measure's value when it is a ratio (risk or odds ratio), else nan."""
    log_ratio_se: float


def true_differences(scenario: sc.Scenario) -> dict[str, tuple[float, float]]:
    """(true difference, its Monte Carlo SE) of each experimental arm against the control: the
    arms' assumed rates without intercurrent events (exact), else the estimand's
    (:func:`true_values`)."""
    if not scenario.intercurrent:
        control = scenario.arm(scenario.control_arm).remission_at_endpoint
        return {arm: (scenario.arm(arm).remission_at_endpoint - control, 0.0) for arm in scenario.experimental_arms}
    return {arm: (t.difference, t.difference_se) for arm, t in true_values(scenario).items()}


def estimand_record(scenario: sc.Scenario) -> dict:
    """The estimand's five attributes and each comparison's true value, as ``power --json``
    reports them."""
    e, t = scenario.estimand, scenario.trial
    state = "complete remission" if t.endpoint == "cr" else "complete or partial remission"
    truths = true_values(scenario) if scenario.intercurrent else None
    comparisons = []
    for arm, (diff, se) in true_differences(scenario).items():
        row = {"arm": arm, "control": scenario.control_arm, "true_difference": diff, "true_difference_mc_se": se}
        if truths is not None:
            x = truths[arm]
            row.update(true_control=x.control, true_treatment=x.treatment)
            if not math.isnan(x.ratio):
                row.update(true_ratio=x.ratio, true_log_ratio_mc_se=x.log_ratio_se)
        else:
            row.update(true_control=scenario.arm(scenario.control_arm).remission_at_endpoint,
                       true_treatment=scenario.arm(arm).remission_at_endpoint)
        comparisons.append(row)
    return {
        "population": e.population if e else "all randomised patients (intention to treat)",
        "treatments": {arm: scenario.arm(arm).label for arm in scenario.arm_names},
        "variable": (e.variable if e and e.variable else f"{state} at month {t.endpoint_month:g}"),
        "summary_measure": e.summary_measure if e else "risk_difference",
        "intercurrent_events": [
            {"id": name, "kind": ev.kind, "reason": ev.reason, "strategy": strategy,
             "probability": {arm: ev.probability_of(arm) for arm in scenario.arm_names}}
            for (name, ev), strategy in zip(scenario.intercurrent.items(), scenario.strategies.values())],
        "true_values": comparisons,
    }


def true_values(scenario: sc.Scenario) -> dict[str, Truth]:
    """Each experimental arm's true estimand against the control (cached per outcome model)."""
    key = (scenario.trial.endpoint_month, scenario.trial.endpoint, tuple(scenario.trial.visit_months),
           tuple(scenario.arms.items()), scenario.outcome, scenario.cohort, scenario.eligibility,
           tuple(scenario.intercurrent.items()), scenario.estimand, scenario.control_arm)
    return _true_values(sc.Parts(scenario, key))


@functools.lru_cache(maxsize=64)
def _true_values(parts: sc.Parts) -> dict[str, Truth]:
    from simulate.population.outcomes import _reference_scores, calibrate, potential_outcomes

    s = parts.scenario
    if not s.intercurrent:                               # the assumed rates, exactly
        return {arm: _from_rates(s, arm) for arm in s.experimental_arms}
    scores = np.tile(_reference_scores(s), TRUTH_REPEATS)
    seq = np.random.SeedSequence(TRUTH_SEED)
    u = stream(seq, "truth_uniforms").random((3, len(scores)))
    e = stream(seq, "truth_exponentials").standard_exponential((2, len(scores)))
    draws = stream(seq, "truth_intercurrent").random((len(s.intercurrent), DRAWS, len(scores)))
    models, events = calibrate(s), Events.of(s)
    active = tuple(st != "hypothetical" for st in events.strategies)
    visits = np.asarray(s.trial.visit_months, dtype=float)
    end, cr_only = s.trial.endpoint_month, s.trial.endpoint == "cr"
    values, base = {}, {}
    for arm in s.arm_names:
        po = potential_outcomes(models[arm], scores, u[0], u[1], e[0], u[2], e[1])
        path = follow(po.remission_month, po.relapse_month, po.complete,
                      intercurrent_outcomes(s, arm, draws), events, active)
        values[arm] = variable(path, events, visits, end, cr_only).value.astype(float)
        base[arm] = po.remission_at_endpoint & (po.complete if cr_only else True)
    return {arm: _truth(s, arm, values, base) for arm in s.experimental_arms}


def _from_rates(s: sc.Scenario, arm: str) -> Truth:
    """The truth without intercurrent events: the arms' assumed rates (no Monte Carlo error)."""
    p_c, p_t = s.arm(s.control_arm).remission_at_endpoint, s.arm(arm).remission_at_endpoint
    measure = s.estimand.summary_measure if s.estimand else "risk_difference"
    ratio = math.nan
    if measure != "risk_difference" and 0 < p_c < 1 and 0 < p_t < 1:
        ratio = p_t / p_c if measure == "risk_ratio" else (p_t / (1 - p_t)) / (p_c / (1 - p_c))
    return Truth(control=p_c, treatment=p_t, difference=p_t - p_c, difference_se=0.0, ratio=ratio,
                 log_ratio_se=0.0 if math.isfinite(ratio) else math.nan)


def _truth(s: sc.Scenario, arm: str, values: dict, base: dict) -> Truth:
    """One comparison's truth: the scenario's rates (exact by calibration) plus the change the
    events make, estimated on the reference sample (a control variate: only the patients the
    events touch vary)."""
    c = s.control_arm
    n = len(values[arm])
    shift_t = values[arm] - base[arm]
    shift_c = values[c] - base[c]
    p_t = s.arm(arm).remission_at_endpoint + shift_t.mean()
    p_c = s.arm(c).remission_at_endpoint + shift_c.mean()
    se = float(np.std(shift_t - shift_c, ddof=1) / math.sqrt(n))
    measure = s.estimand.summary_measure if s.estimand else "risk_difference"
    ratio, log_se = math.nan, math.nan
    if measure != "risk_difference" and 0 < p_c < 1 and 0 < p_t < 1:
        # delta method on log means (or log odds) of the per-patient shifts
        gt, gc = (1 / p_t, 1 / p_c) if measure == "risk_ratio" else (1 / (p_t * (1 - p_t)), 1 / (p_c * (1 - p_c)))
        ratio = p_t / p_c if measure == "risk_ratio" else (p_t / (1 - p_t)) / (p_c / (1 - p_c))
        log_se = float(np.std(gt * shift_t - gc * shift_c, ddof=1) / math.sqrt(n))
    return Truth(control=float(p_c), treatment=float(p_t), difference=float(p_t - p_c), difference_se=se,
                 ratio=ratio, log_ratio_se=log_se)
