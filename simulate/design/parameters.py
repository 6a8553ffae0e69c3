"""The model's distributions as parameters: plain arithmetic on the scenario's fields.

Each distribution of the population and of the outcome model is parameterised here once, with
:mod:`math` alone, so that the samplers (:mod:`simulate.population.covariates`, :mod:`simulate.population.outcomes`),
the exact screen probabilities (:mod:`simulate.screening.probabilities`) and the quick feasibility bounds of
:mod:`simulate.screening.feasibility` (which must stay cheap to import) all read the same numbers.
"""

from __future__ import annotations

import math

from simulate.design import scenario as sc

ALBUMIN_MIN_G_L = 8.0
ALBUMIN_MAX_G_L = 55.0
"""Serum albumin is clipped to this physiological range."""
EGFR_MIN_ML_MIN = 5.0
EGFR_MAX_ML_MIN = 150.0
"""eGFR is clipped to this range (mL/min/1.73 m2)."""


def lognormal_params(mean: float, sd: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with the given mean and sd."""
    sigma2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)


def beta_params(mean: float, sd: float) -> tuple[float, float]:
    """(a, b) of the beta distribution with the given mean and sd (needs sd^2 < mean(1-mean))."""
    k = mean * (1.0 - mean) / sd**2 - 1.0
    return mean * k, (1.0 - mean) * k


def egfr_centre(c: sc.Cohort, age):
    """Mean eGFR at this age (a number or an array): the mean plus the age slope times the
    distance from the mean age."""
    return c.egfr_mean_ml_min + c.egfr_change_per_year_of_age_ml_min * (age - c.age_mean_years)


def egfr_residual_sd(c: sc.Cohort) -> float:
    """SD of eGFR around its age line, so that the marginal sd is ``egfr_sd_ml_min``."""
    slope = c.egfr_change_per_year_of_age_ml_min
    return math.sqrt(max(c.egfr_sd_ml_min**2 - (slope * c.age_sd_years) ** 2, 0.0))


def proteinuria_lognormal(c: sc.Cohort) -> tuple[float, float]:
    """(mu, sigma) of the current true 24-h proteinuria (lognormal with the cohort's mean and sd)."""
    return lognormal_params(c.proteinuria_mean_g_day, c.proteinuria_sd_g_day)


def collection_sigma(c: sc.Cohort) -> float:
    """Log sd of one 24-h collection's error (lognormal, mean one, cv ``collection_cv``)."""
    return lognormal_params(1.0, c.collection_cv)[1] if c.collection_cv > 0 else 0.0


def reduction_beta(c: sc.Cohort) -> tuple[float, float]:
    """(a, b) of the beta distribution of the fall of proteinuria on ACEI/ARB."""
    return beta_params(c.acei_arb_reduction_mean_fraction, c.acei_arb_reduction_sd_fraction)


def remission_target(scenario: sc.Scenario, name: str) -> float:
    """P(in remission, complete or partial, at the endpoint) that arm ``name`` must reach: its
    ``remission_at_endpoint``, or with a complete-remission endpoint that rate divided by the
    share of remissions that are complete (the type of a remission is drawn independently)."""
    arm = scenario.arm(name)
    if scenario.trial.endpoint == "cr_or_pr":
        return arm.remission_at_endpoint
    share = arm.complete_share_of_remission
    return min(arm.remission_at_endpoint / share, 1.0) if share > 0 else 0.0


def relapse_hazards(scenario: sc.Scenario, name: str) -> tuple[float, float, float]:
    """(relapse hazard per month before the rebound month, hazard from it, the rebound month:
    the end of the arm's CNI course or of its B-cell cover, whichever is later, inf without a
    CNI) of arm ``name`` (zero hazards with ``outcome.relapse`` off)."""
    arm = scenario.arm(name)
    if not scenario.outcome.relapse:
        return 0.0, 0.0, math.inf
    return arm.relapse_hazard_per_month, arm.off_cni_hazard, arm.rebound_month


def cumulative_relapse_hazard(h_before: float, h_after: float, course_end: float, t):
    """The cumulative relapse hazard H(t) (a number or an array) of :func:`relapse_hazards`."""
    if isinstance(t, (int, float)):         # a number: math alone (the quick feasibility bounds)
        return h_before * min(t, course_end) + h_after * max(t - course_end, 0.0)
    import numpy as np

    return h_before * np.minimum(t, course_end) + h_after * np.maximum(t - course_end, 0.0)


def truncated_weibull_median_limit(end: float, shape: float) -> float:
    """The largest median a Weibull truncated to [0, end] can have (as its scale grows)."""
    return end * 2.0 ** (-1.0 / shape)
