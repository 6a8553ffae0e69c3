"""Design priors (``[arms.<id>] design_prior``): what the planners believe about each arm's
endpoint rate, and the trials drawn from that belief.

With ``outcome.rates_from = "design_prior"`` each simulated trial draws its own true rate for
every arm that has a design prior (a beta or a mixture of betas, truncated at the highest rate
the arm's outcome model can reach), and its patients' outcomes follow an outcome model
calibrated to that draw. The share of such trials that succeed is the **assurance** (the
probability of success averaged over the prior; O'Hagan, Stevens and Campbell, Pharm Stat
2005;4:187-201).

Calibrating a draw is fast: the responder probability is the rate over the arm's chance of
staying in remission once remitted (a constant of the arm), and with covariate effects the
intercept that gives that responder probability on average comes from a table computed once
(the intercept at :data:`GRID_POINTS` responder probabilities, interpolated monotonically on the
logit scale). The table's largest error in the marginal rate, checked halfway between its
points, is reported (:func:`calibration_error`).
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
from scipy import interpolate, special

from simulate.design import scenario as sc
from simulate.design.prior_reach import reach
from simulate.design.priors import BetaPrior
from simulate.population.outcomes import (ArmModel, _calibrate_intercept, _reference_scores, calibrate,
                                          no_relapse_probability)
from simulate.seeding import stream

SCALE_POINTS = 41
"""Relapse-hazard factors (0 to 1) at which the chance that a remission lasts is computed; a
drawn rate above what the arm's own hazards allow takes the factor that reaches it
(interpolated)."""
GRID_POINTS = 65
"""Responder probabilities at which the intercept of the covariate model is calibrated exactly
(evenly spaced in logit from :data:`GRID_LOGIT` below to above)."""
GRID_LOGIT = 9.0
"""The table spans responder probabilities expit(-9) to expit(9) (1.2e-4 to 0.99988); beyond
them the intercept is extrapolated on the logit scale, where it is nearly linear."""


def components(prior: BetaPrior) -> np.ndarray:
    """(k, 3) array of the prior's (weight, a, b)."""
    return np.asarray(prior.components, dtype=float)


def prior_mean(scenario: sc.Scenario, name: str) -> float:
    """Arm ``name``'s mean true rate in the trials drawn from its design prior (the prior
    truncated at the reachable rate; exact: E[X; X <= r] = a/(a+b) I_r(a+1, b)); its rate
    without a prior."""
    arm = scenario.arm(name)
    if arm.design_prior is None:
        return arm.remission_at_endpoint
    r = reach(scenario, name)
    c = components(arm.design_prior)
    w, a, b = c[:, 0], c[:, 1], c[:, 2]
    below = w * special.betainc(a, b, r)
    return float(np.sum(w * a / (a + b) * special.betainc(a + 1, b, r)) / below.sum())


def draw_rates(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int) -> dict[str, np.ndarray]:
    """Each arm's true rate in each of a block's trials: a draw from its design prior truncated at
    its reachable rate (a component by its weight there, then the inverse of its distribution
    function), or its assumed rate without a prior. Each arm draws from a stream of its own."""
    out = {}
    for name in scenario.arm_names:
        arm = scenario.arm(name)
        if arm.design_prior is None:
            out[name] = np.full(n_trials, arm.remission_at_endpoint)
            continue
        r = reach(scenario, name)
        c = components(arm.design_prior)
        below = special.betainc(c[:, 1], c[:, 2], r)
        weights = c[:, 0] * below
        u = stream(block_seq, f"design_prior.{name}").random((2, n_trials))
        k = np.minimum(np.searchsorted(np.cumsum(weights) / weights.sum(), u[0], side="right"), len(c) - 1)
        out[name] = special.betaincinv(c[k, 1], c[k, 2], u[1] * below[k])
    return out


def trial_models(scenario: sc.Scenario, rates: dict[str, np.ndarray]) -> dict[str, ArmModel]:
    """Each arm's outcome model calibrated to each trial's rate: array parameters of shape
    (trials, 1), which the potential outcomes broadcast over a trial's patients."""
    models = dict(calibrate(scenario))
    for name in scenario.arm_names:
        if scenario.arm(name).design_prior is None:
            continue
        m = models[name]
        target = np.asarray(rates[name], dtype=float)
        if scenario.trial.endpoint == "cr":
            share = scenario.arm(name).complete_share_of_remission
            target = np.minimum(target / share, 1.0) if share > 0 else np.zeros_like(target)
        q = m.no_relapse_probability
        pi = np.clip(target / q, 0.0, 1.0) if q > 0 else np.ones_like(target)
        scale = np.ones_like(target)
        above = target > q
        if above.any():                          # every patient a responder; fewer relapses
            scales, lasting = _lasting(scenario, name)
            scale[above] = np.interp(target[above], lasting, scales)
        intercept = None if m.intercept is None else intercept_of(scenario, pi)[:, None]
        models[name] = replace(m, responder_probability=pi[:, None], intercept=intercept,
                               relapse_scale=scale[:, None])
    return models


def _lasting(scenario: sc.Scenario, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(relapse-hazard factors from 1 down to 0, the chance a remission lasts to the endpoint at
    each): increasing, for interpolation (1 at factor 0)."""
    arm = calibrate(scenario)[name]
    return _lasting_table(sc.Parts(scenario, (arm,)))


@functools.lru_cache(maxsize=32)
def _lasting_table(parts: sc.Parts) -> tuple[np.ndarray, np.ndarray]:
    (arm,) = parts.key
    scales = np.linspace(1.0, 0.0, SCALE_POINTS)
    return scales, np.array([no_relapse_probability(arm, float(s)) for s in scales])


def intercept_of(scenario: sc.Scenario, pi: np.ndarray) -> np.ndarray:
    """The covariate model's intercept giving mean responder probability ``pi`` over the
    reference sample of eligible patients, from the table (-inf at 0, inf at 1)."""
    table = _table(scenario)
    with np.errstate(divide="ignore"):
        x = special.logit(pi)
    out = x + table(np.clip(x, -GRID_LOGIT, GRID_LOGIT))
    return np.where(pi <= 0.0, -np.inf, np.where(pi >= 1.0, np.inf, out))


def calibration_error(scenario: sc.Scenario) -> float:
    """The table's largest error in the mean responder probability, halfway between its points
    (0 without covariate effects: the responder probability is then exact)."""
    if not scenario.outcome.covariate_effects:
        return 0.0
    grid = np.linspace(-GRID_LOGIT, GRID_LOGIT, GRID_POINTS)
    mid = special.expit((grid[:-1] + grid[1:]) / 2)
    scores = _reference_scores(scenario)
    got = special.expit(intercept_of(scenario, mid)[:, None] + scores[None, :]).mean(axis=1)
    return float(np.max(np.abs(got - mid)))


def _table(scenario: sc.Scenario) -> interpolate.PchipInterpolator:
    o = scenario.outcome
    return _intercept_table(sc.Parts(scenario, (o.log_odds_per_doubling_pla2r_titre, o.log_odds_per_g_day_proteinuria,
                                                scenario.cohort, scenario.eligibility)))


@functools.lru_cache(maxsize=16)
def _intercept_table(parts: sc.Parts) -> interpolate.PchipInterpolator:
    """intercept - logit(pi) as a monotone cubic in logit(pi), exact at the grid's points."""
    scores = _reference_scores(parts.scenario)
    grid = np.linspace(-GRID_LOGIT, GRID_LOGIT, GRID_POINTS)
    exact = np.array([_calibrate_intercept(scores, float(special.expit(x))) for x in grid])
    return interpolate.PchipInterpolator(grid, exact - grid, extrapolate=True)


def trial_truths(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int,
                 n: int) -> dict[str, np.ndarray] | None:
    """Each comparison's true difference in the first ``n`` of a block's ``n_trials`` trials
    drawn from the design priors: the drawn rates' difference (nan with intercurrent events,
    whose estimand's value at each draw is not computed); None unless the trials draw their rates."""
    if scenario.outcome.rates_from != "design_prior":
        return None
    if scenario.intercurrent:
        return {arm: np.full(n, np.nan) for arm in scenario.experimental_arms}
    rates = draw_rates(scenario, block_seq, n_trials)
    control = rates[scenario.control_arm][:n]
    return {arm: rates[arm][:n] - control for arm in scenario.experimental_arms}


def mean_difference(scenario: sc.Scenario) -> dict[str, float]:
    """Each comparison's mean true difference over the trials drawn from the design priors (nan
    with intercurrent events)."""
    if scenario.intercurrent:
        return {arm: float("nan") for arm in scenario.experimental_arms}
    control = prior_mean(scenario, scenario.control_arm)
    return {arm: prior_mean(scenario, arm) - control for arm in scenario.experimental_arms}
