"""The outcome model: remission, its timing and type, relapse and dropout, and their calibration.

For a randomised patient in arm *a* the model is:

* **Response.** The patient is a *responder* (reaches a first remission before the endpoint) with
  probability ``p_i``. Without covariate effects ``p_i = pi_a``; with them
  ``logit p_i = alpha_a + b_titre * log2(max(titre, 1)) + b_prot * proteinuria`` (titre in RU/mL,
  proteinuria the mean of the two screening collections in g/24h). ``alpha_a`` is calibrated so
  that the mean of ``p_i`` over the eligible population equals ``pi_a``: covariates move
  individuals, the arm's marginal rate stays put.
* **Time to first remission** among responders is Weibull with shape ``k`` truncated to
  [0, endpoint]; its scale is solved so that the *median among responders* equals the arm's
  ``median_months_to_remission``.
* **Relapse** after remission has the arm's hazard ``relapse_hazard_per_month``, and
  ``relapse_hazard_off_cni_per_month`` from the *rebound month*: the end of the arm's
  calcineurin-inhibitor course (CNI dependence) or of the B-cell cover of its anti-CD20 course,
  whichever is later (arms without a CNI keep the first hazard). A relapsed patient stays out
  of remission to the end of follow-up.
* **Calibration.** A responder is in remission at the endpoint unless they relapsed first, with
  probability ``q_a = E[exp(-(H(E) - H(T)))]`` (``H`` the cumulative relapse hazard, ``T`` the
  time to remission), which does not depend on covariates. Setting ``pi_a = r_a / q_a`` makes the
  probability of remission at the endpoint exactly the scenario's ``remission_at_endpoint`` r_a
  (with a complete-remission endpoint, r_a is that rate over ``complete_share_of_remission``,
  since the type of a remission is drawn independently).
* **Type of remission.** Complete (CR) with probability ``complete_share_of_remission``, else
  partial (PR); the type holds from the first remission until any relapse.
* **Dropout** comes at the first time the patient's cumulative dropout hazard reaches a unit
  exponential: rate ``lambda_a`` throughout (``mcar``); ``lambda_a`` for patients in remission at
  the endpoint and ``HR * lambda_a`` for the others (``mnar``, read also as ``informative``);
  between visits, ``lambda_a`` after a visit seen in remission and ``HR * lambda_a`` after one
  not (``mar``, :mod:`simulate.population.dropout`). ``lambda_a`` is solved so the chance of
  dropping out before the endpoint is ``dropout.probability_by_endpoint`` in each arm: exactly
  for mcar and mnar, over the reference sample of eligible patients for mar.

Everything random comes in as uniforms or unit exponentials from the fates (simulate/fates/):
this module only transforms them, so both engines get identical patients.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from simulate.design import parameters
from simulate.design import scenario as sc
from simulate.population import dropout
from simulate.errors import ScenarioError
from simulate.numerics import find_root, integrate

CALIBRATION_PATIENTS = 60_000
"""Size of the fixed reference sample of eligible patients over which covariate effects are calibrated."""
CALIBRATION_SEED = 0x7A1A15


@dataclass(frozen=True)
class ArmModel:
    """The calibrated outcome model of one arm."""

    responder_probability: float
    """pi_a: marginal chance of a first remission before the endpoint."""
    intercept: float | None
    """alpha_a with covariate effects on, else None."""
    weibull_scale: float
    weibull_shape: float
    weibull_cdf_at_endpoint: float
    relapse_hazard: float
    relapse_hazard_off_cni: float
    rebound_month: float
    complete_share: float
    dropout_rate: float
    """lambda_a: the dropout hazard of a responder (mnar), after a visit in remission (mar), or
    of everyone (mcar)."""
    dropout_rate_nonresponder: float
    """HR * lambda_a: of a patient not in remission at the endpoint (mnar), or after a visit not
    in remission (mar); lambda_a for mcar."""
    endpoint_month: float
    no_relapse_probability: float = 1.0
    """q_a: the chance that a first remission lasts to the endpoint (no relapse before it)."""
    dropout_mechanism: str = "mcar"
    """mcar, mar or mnar (``dropout.mechanism``)."""
    dropout_in_remission: float = 0.0
    """P(dropout before the endpoint | in remission at the endpoint): the endpoint's probability
    with mcar, below it when non-responders drop out faster (by the model's hazards for mnar, over
    the reference sample for mar)."""
    relapse_scale: float | np.ndarray = 1.0
    """A factor on both relapse hazards (1: as the scenario says). A trial drawn from a design
    prior whose rate lies above what the hazards allow gets a smaller one
    (:mod:`simulate.population.design_prior`); an array of shape (trials, 1) then."""

    def time_to_remission(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF of the truncated Weibull at uniforms ``u``."""
        return self.weibull_scale * (-np.log1p(-u * self.weibull_cdf_at_endpoint)) ** (1.0 / self.weibull_shape)

    def remission_cdf(self, t: float) -> float:
        """F(t) of the (untruncated) Weibull of the time to first remission."""
        return _weibull_cdf(t, self.weibull_scale, self.weibull_shape)

    def cumulative_relapse_hazard(self, t: np.ndarray) -> np.ndarray:
        return parameters.cumulative_relapse_hazard(self.relapse_hazard, self.relapse_hazard_off_cni,
                                                    self.rebound_month, np.asarray(t))

    def relapse_time(self, t_remission: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Time of relapse for remission at ``t_remission`` and unit exponentials ``e``."""
        target = self.cumulative_relapse_hazard(t_remission) + e
        c, h1, h2 = self.rebound_month, self.relapse_hazard, self.relapse_hazard_off_cni
        with np.errstate(divide="ignore", invalid="ignore"):
            before = target / h1 if h1 > 0 else np.full_like(target, np.inf)
            if not math.isfinite(c):                   # no rebound: the first hazard throughout
                return before
            after = c + (target - h1 * c) / h2 if h2 > 0 else np.full_like(target, np.inf)
        return np.where(target <= h1 * c, before, after)


_LOG_FLOAT_MAX = math.log(sys.float_info.max)


def _weibull_cdf(t: float, scale: float, shape: float) -> float:
    """1 - exp(-(t / scale)^shape), computed through logarithms: no power overflows."""
    if t <= 0:
        return 0.0
    return -math.expm1(-math.exp(min(shape * (math.log(t) - math.log(scale)), _LOG_FLOAT_MAX)))


def _truncated_weibull(median: float, shape: float, end: float) -> tuple[float, float]:
    """(scale, F(end)) of the Weibull whose truncation to [0, end] has the given median.

    With x = (end / scale)^shape and r = (median / end)^shape the median's condition
    F(median) = F(end) / 2 reads g(x) = (1 - exp(-r x)) - (1 - exp(-x)) / 2 = 0. As
    1 - exp(-r x) <= r x and 1 - exp(-x) >= x - x^2 / 2, g(x) <= x (r - 1/2 + x / 4) < 0 at
    x = 1 - 2r (r < 1/2: the median is below its limit), and g(4 ln 2 / r) >= 1/2 - 1/16 > 0;
    the root between is found in log x, where no power of the scale over- or underflows,
    whatever the shape.
    """
    # as scale -> 0 the truncated median -> 0; as scale -> inf it -> end * 2**(-1/shape)
    upper_limit = parameters.truncated_weibull_median_limit(end, shape)
    if median >= upper_limit * (1 - 1e-9):
        raise ScenarioError(
            f"median_months_to_remission: got {median}; with weibull_shape_time_to_remission {shape} "
            f"and endpoint {end} it must be < {upper_limit:.4g}"
        )
    log_r = shape * math.log(median / end)

    def gap(log_x: float) -> float:
        return -math.expm1(-math.exp(log_r + log_x)) + 0.5 * math.expm1(-math.exp(min(log_x, _LOG_FLOAT_MAX)))

    log_x = find_root(gap, math.log1p(-2.0 * math.exp(log_r)), math.log(4.0 * math.log(2.0)) - log_r, xtol=1e-14)
    return end * math.exp(-log_x / shape), -math.expm1(-math.exp(min(log_x, _LOG_FLOAT_MAX)))


def _no_relapse_probability(arm: ArmModel) -> float:
    """q_a = P(no relapse by the endpoint | responder)."""
    if arm.relapse_hazard == 0 and arm.relapse_hazard_off_cni == 0:
        return 1.0
    end = arm.endpoint_month
    h_end = float(arm.cumulative_relapse_hazard(np.array(end)))

    def integrand(u: np.ndarray) -> np.ndarray:
        # remission by the endpoint (a uniform a hair below 1 may round past it when F(end) ~ 1)
        with np.errstate(divide="ignore"):
            t = np.minimum(arm.time_to_remission(u), end)
        return np.exp(-(h_end - arm.cumulative_relapse_hazard(t)))

    # the hazard changes when the course ends: a kink at the uniform whose remission falls there
    kinks = ()
    if 0.0 < arm.rebound_month < end:
        kinks = (arm.remission_cdf(arm.rebound_month) / arm.weibull_cdf_at_endpoint,)
    return integrate(integrand, 0.0, 1.0, points=kinks, epsabs=1e-13, epsrel=1e-12)


def covariate_score(scenario: sc.Scenario, titre: np.ndarray, proteinuria: np.ndarray) -> np.ndarray:
    """b_titre * log2(max(titre, 1)) + b_prot * proteinuria (zero with covariate effects off)."""
    o = scenario.outcome
    if not o.covariate_effects:
        return np.zeros(np.shape(titre))
    return (o.log_odds_per_doubling_pla2r_titre * np.log2(np.maximum(titre, 1.0))
            + o.log_odds_per_g_day_proteinuria * proteinuria)


@functools.lru_cache(maxsize=16)
def _reference_covariates(c: sc.Cohort, e: sc.Eligibility) -> tuple[np.ndarray, np.ndarray]:
    """(titre, proteinuria) of a fixed reference sample of patients who pass the screen, drawn
    as the trials' pool draws its patients: ACEI/ARB intolerance given a pass, the proteinuria
    group given a pass, then anti-PLA2R (cached per cohort and thresholds; read-only arrays)."""
    from simulate.population.covariates import mean_of_collections, pla2r
    from simulate.seeding import stream
    from simulate.screening.probabilities import draw_proteinuria_given_pass, pass_probabilities

    seq = np.random.SeedSequence(CALIBRATION_SEED)
    u = stream(seq, "reference_uniforms").random((3, CALIBRATION_PATIENTS))
    intolerant = u[0] < pass_probabilities(c, e).intolerant_given_pass
    group = draw_proteinuria_given_pass(c, e, intolerant, seq, "reference_proteinuria")
    normals = stream(seq, "reference_normals").standard_normal(CALIBRATION_PATIENTS)
    _, titre = pla2r(c, group["z"], u[1], u[2], normals)
    proteinuria = mean_of_collections(group["c1"], group["c2"])
    titre.flags.writeable = proteinuria.flags.writeable = False
    return titre, proteinuria


def _reference_scores(scenario: sc.Scenario) -> np.ndarray:
    """Covariate scores of the fixed reference sample of eligible patients."""
    return covariate_score(scenario, *_reference_covariates(scenario.cohort, scenario.eligibility))


def _calibrate_intercept(scores: np.ndarray, target: float) -> float:
    """alpha with mean(expit(alpha + scores)) == target. The mean lies between
    expit(alpha + min score) and expit(alpha + max score), which brackets the root exactly."""
    if target <= 1e-12:
        return -np.inf
    if target >= 1.0 - 1e-12:
        return np.inf
    gap = lambda a: special.expit(a + scores).mean() - target  # noqa: E731
    lo = special.logit(target) - scores.max() - 1e-9
    hi = special.logit(target) - scores.min() + 1e-9
    return find_root(gap, lo, hi, xtol=1e-12)


def calibrate(scenario: sc.Scenario) -> sc.FrozenDict:
    """The calibrated model of each arm, by arm id (cached per relevant part of the scenario:
    designs that differ only in size or analysis share one calibration)."""
    s = scenario                                # frozen models: hashed and compared by value
    key = (s.trial.endpoint_month, s.trial.endpoint, tuple(s.trial.visit_months), tuple(s.arms.items()), s.outcome,
           s.dropout, s.cohort, s.eligibility)
    return _calibrated(sc.Parts(scenario, key))


@functools.lru_cache(maxsize=64)
def _calibrated(parts: sc.Parts) -> sc.FrozenDict:
    return sc.FrozenDict(_calibrate(parts.scenario))


def _base_model(scenario: sc.Scenario, name: str) -> tuple[ArmModel, float]:
    """An arm's model before response calibration, and its q_a."""
    o, t, dr = scenario.outcome, scenario.trial, scenario.dropout
    a = scenario.arm(name)
    end = t.endpoint_month
    scale, cdf_end = _truncated_weibull(a.median_months_to_remission, o.weibull_shape_time_to_remission, end)
    h, h_after, rebound = parameters.relapse_hazards(scenario, name)
    lam, lam_nr = dropout.closed_form_rates(dr.probability_by_endpoint, end, dr.mechanism,
                                            dr.informative_hazard_ratio, parameters.remission_target(scenario, name))
    in_remission = dr.probability_by_endpoint if dr.mechanism == "mcar" else -math.expm1(-lam * end)
    base = ArmModel(
        responder_probability=1.0, intercept=None, weibull_scale=scale,
        weibull_shape=o.weibull_shape_time_to_remission, weibull_cdf_at_endpoint=cdf_end,
        relapse_hazard=h, relapse_hazard_off_cni=h_after,
        rebound_month=rebound, complete_share=a.complete_share_of_remission,
        dropout_rate=lam, dropout_rate_nonresponder=lam_nr, endpoint_month=end,
        dropout_mechanism=dr.mechanism, dropout_in_remission=in_remission,
    )
    return base, _no_relapse_probability(base)


def no_relapse_probability(arm: ArmModel, scale: float) -> float:
    """q_a with both relapse hazards multiplied by ``scale``."""
    return _no_relapse_probability(replace(arm, relapse_hazard=arm.relapse_hazard * scale,
                                           relapse_hazard_off_cni=arm.relapse_hazard_off_cni * scale))


def reachable_rate(scenario: sc.Scenario, name: str) -> float:
    """The highest remission_at_endpoint arm ``name``'s model can reach: every patient a
    responder, less those who relapse by the endpoint (and, with a complete-remission endpoint,
    those whose remission is partial)."""
    _, q = _base_model(scenario, name)
    a = scenario.arm(name)
    return q if scenario.trial.endpoint == "cr_or_pr" else q * a.complete_share_of_remission


def check_outcome_model(scenario: sc.Scenario) -> list[str]:
    """Contradictions only the outcome model can see (one line each; empty if none)."""
    problems = []
    for name in scenario.arm_names:
        a = scenario.arm(name)
        try:
            _, q = _base_model(scenario, name)
        except ScenarioError as err:
            problems.extend(f"arms.{name}.{line}" for line in err.problems)
            continue
        target = parameters.remission_target(scenario, name)
        reachable = q if scenario.trial.endpoint == "cr_or_pr" else q * a.complete_share_of_remission
        if a.design_prior is not None:
            problems.extend(_design_prior_problems(scenario, name))
        if target > q * (1 + 1e-12):
            problems.append(
                f"arms.{name}.remission_at_endpoint: got {a.remission_at_endpoint}; with relapse "
                f"(relapse_hazard_per_month {a.relapse_hazard_per_month}, {a.off_cni_hazard} once off a CNI) "
                f"at most {reachable:.4g} can be in the endpoint state at the endpoint; lower the relapse "
                "hazards or the rate"
            )
    return problems


def _design_prior_problems(scenario: sc.Scenario, name: str) -> list[str]:
    """An arm's design prior against its model: at most a sliver of it above the highest rate
    the arm can have (with a complete-remission endpoint, the share of remissions that are
    complete)."""
    from simulate.design.prior_reach import MASS_ABOVE_REACH_MAX, mass_above_reach, reach

    above = mass_above_reach(scenario, name)
    if above <= MASS_ABOVE_REACH_MAX:
        return []
    return [f"arms.{name}.design_prior: puts {above:.1%} of its mass above {reach(scenario, name):.4g}, the "
            f"highest rate of complete remission the arm can have (complete_share_of_remission); at most "
            f"{MASS_ABOVE_REACH_MAX:.0%} may lie there"]


def _calibrate(scenario: sc.Scenario) -> dict[str, ArmModel]:
    """Each arm's model (the loader has checked that every arm's rate is reachable)."""
    scores = _reference_scores(scenario) if scenario.outcome.covariate_effects else None
    models: dict[str, ArmModel] = {}
    for name in scenario.arm_names:
        base, q = _base_model(scenario, name)
        target = parameters.remission_target(scenario, name)
        pi = min(target / q, 1.0) if target > 0 else 0.0           # q may be 0: then so is the target
        intercept = _calibrate_intercept(scores, pi) if scores is not None else None
        models[name] = ArmModel(**{**base.__dict__, "responder_probability": pi, "intercept": intercept,
                                   "no_relapse_probability": q})
        if scenario.dropout.mechanism == "mar" and scenario.dropout.probability_by_endpoint > 0:
            models[name] = _with_mar_rates(scenario, models[name], scores)
    return models


def _with_mar_rates(scenario: sc.Scenario, arm: ArmModel, scores: np.ndarray | None) -> ArmModel:
    """The arm's model with its mar dropout hazards, calibrated over the reference sample of
    eligible patients on the arm's path without intercurrent events
    (:mod:`simulate.population.dropout`); with HR = 1, mcar's rate exactly."""
    from simulate.seeding import stream

    d, hr = scenario.dropout.probability_by_endpoint, scenario.dropout.mar_hazard_ratio_not_in_remission
    end, visits = arm.endpoint_month, np.asarray(scenario.trial.visit_months, dtype=float)
    n = CALIBRATION_PATIENTS
    rng = stream(np.random.SeedSequence(CALIBRATION_SEED), "reference_paths")
    u, e = rng.random((3, n)), rng.standard_exponential(n)
    po = potential_outcomes(arm, np.zeros(n) if scores is None else scores, u[0], u[1], e, u[2], np.zeros(n))
    seen = (po.remission_month[:, None] <= visits) & (po.relapse_month[:, None] > visits)
    exposures = dropout.exposure(seen, visits, end, hr)
    lam = -math.log1p(-d) / end if hr == 1.0 else dropout.mar_rate(exposures, d)
    at_end = po.remission_at_endpoint                       # none: the arm's rate is 0, any chance serves
    in_remission = float(np.mean(-np.expm1(-lam * exposures[at_end]))) if at_end.any() else d
    return ArmModel(**{**arm.__dict__, "dropout_rate": lam, "dropout_rate_nonresponder": hr * lam,
                       "dropout_in_remission": in_remission})


@dataclass(frozen=True)
class PotentialOutcomes:
    """One arm's outcomes for every patient (arrays), had they been randomised to it."""

    responder: np.ndarray
    remission_month: np.ndarray
    """Months from randomisation to first remission (inf for non-responders)."""
    relapse_month: np.ndarray
    """Months from randomisation to relapse (inf if none)."""
    complete: np.ndarray
    """The remission, while it lasts, is complete (CR) rather than partial."""
    remission_at_endpoint: np.ndarray
    dropout_month: np.ndarray
    """Months from randomisation to dropout (may fall after the endpoint: no dropout then)."""
    intercurrent: object | None = None
    """The intercurrent events' months and what follows them
    (:mod:`simulate.population.intercurrent`); None without ``[intercurrent.*]`` events."""
    dropout_budget: np.ndarray | None = None
    """With mar dropout (and a chance of it): the unit exponential each patient's cumulative
    dropout hazard must reach (``dropout_month`` is then nan: the month depends on the status
    seen at visits, :func:`simulate.population.dropout.mar_months`); else None."""
    mar_hazards: tuple[float, float] = (0.0, 0.0)
    """With mar dropout: the hazards after a visit in remission and after one not."""


def potential_outcomes(arm: ArmModel, score: np.ndarray, u_response: np.ndarray, u_time: np.ndarray,
                       e_relapse: np.ndarray, u_complete: np.ndarray, e_dropout: np.ndarray) -> PotentialOutcomes:
    """Transform a patient's uniforms and exponentials into outcomes under ``arm`` (vectorised)."""
    if arm.intercept is None:
        p = np.full(np.shape(u_response), arm.responder_probability)
    else:
        p = special.expit(arm.intercept + score)
    responder = u_response < p
    t_rem = np.where(responder, arm.time_to_remission(u_time), np.inf)
    if isinstance(arm.relapse_scale, np.ndarray):        # hazards x s: relapse at H(t) = H(t_rem) + e / s
        with np.errstate(divide="ignore"):
            e_relapse = e_relapse / arm.relapse_scale
    t_rel = np.where(responder, arm.relapse_time(np.where(responder, t_rem, 0.0), e_relapse), np.inf)
    end = arm.endpoint_month
    at_end = responder & (t_rem <= end) & (t_rel > end)
    mar = {}
    if arm.dropout_mechanism == "mar" and arm.dropout_rate > 0:
        t_drop = np.full(np.shape(e_dropout), np.nan)
        mar = {"dropout_budget": e_dropout, "mar_hazards": (arm.dropout_rate, arm.dropout_rate_nonresponder)}
    else:
        rate = np.where(at_end, arm.dropout_rate, arm.dropout_rate_nonresponder)
        with np.errstate(divide="ignore", over="ignore"):
            t_drop = np.where(rate > 0, e_dropout / np.where(rate > 0, rate, 1.0), np.inf)
    return PotentialOutcomes(
        responder=responder, remission_month=t_rem, relapse_month=t_rel,
        complete=u_complete < arm.complete_share, remission_at_endpoint=at_end, dropout_month=t_drop, **mar,
    )


def status_at(po: PotentialOutcomes, month: np.ndarray | float) -> np.ndarray:
    """Remission status at ``month`` after randomisation: 0 none, 1 partial, 2 complete."""
    in_remission = (po.remission_month <= month) & (po.relapse_month > month)
    return np.where(in_remission, np.where(po.complete, 2, 1), 0).astype(np.int8)
