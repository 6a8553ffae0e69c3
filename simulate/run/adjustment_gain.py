"""How much covariate adjustment should buy, in closed form, before any trial is simulated; and
the unadjusted counterpart of an adjusted design.

The closed form (:func:`closed_forms`) is the Wald test's n per arm with the risk difference's
variance reduced by what the covariates explain. With 1:1 allocation, mu_a(X) each patient's
probability of the endpoint in arm a given the adjusted covariates, and p_a the arm's rate, the
large-sample variance of an adjusted estimator of the risk difference whose working model holds
is that of the unadjusted one less Var(mu_0(X) + mu_1(X)) / n (Tsiatis, Davidian, Zhang & Lu
2008, *Statistics in Medicine* 27, 4658-4677; Ye, Shao, Yi & Zhao 2023), so

    n_adj = (z_a + z_b)^2 [p_0 (1 - p_0) + p_1 (1 - p_1) - Var(mu_0 + mu_1) / 2] / delta^2,

n per arm times 1 - s, with s (:func:`variance_removed`) the share of the unadjusted variance
removed. The covariates' prognostic value for one arm does not all carry over: whatever of it
differs between the arms (the treatment effect varying with the covariates) stays in the
variance. mu_a comes from the outcome model's reference sample of eligible patients: each
patient's probability of the endpoint in arm a, projected linearly on the adjusted covariates
(for Mantel-Haenszel, on the randomisation strata); each arm's R^2 (:func:`prognostic_r2`) is
Var(mu_a) / (p_a (1 - p_a)). An approximation: the projection is linear where g-computation's
working model is logistic, and dropout and intercurrent events scale each patient's probability
by their arm's average.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from simulate.design import scenario as sc

__all__ = ["UNADJUSTED_TEST", "closed_forms", "prognostic_r2", "unadjusted", "unadjusted_test", "variance_removed"]

UNADJUSTED_TEST = "wald"
"""The unadjusted counterpart's analysis: the Wald test of the risk difference, which both
adjusted analyses reduce to without covariates or strata."""


def unadjusted_test(scenario: sc.Scenario) -> str:
    """The test of the unadjusted counterpart: :data:`UNADJUSTED_TEST`, or with interim looks the
    score test the boundaries are for (Farrington-Manning for non-inferiority, the pooled z
    otherwise), as the Wald test is not monitored at looks."""
    if scenario.interim is not None and scenario.interim.looks > 1:
        return "farrington_manning" if scenario.analysis.hypothesis == "non_inferiority" else "ztest"
    return UNADJUSTED_TEST


def unadjusted(scenario: sc.Scenario) -> sc.Scenario:
    """The same design analysed without adjustment (:func:`unadjusted_test`)."""
    from simulate.design.loader import with_overrides

    return with_overrides(scenario, {"analysis.adjustment": "none", "analysis.adjust_for": [],
                                     "analysis.test": unadjusted_test(scenario)})


def _explained(p: np.ndarray, Z: np.ndarray) -> float:
    """The variance of p's least-squares projection on [1, Z] (population moments)."""
    A = np.column_stack([np.ones(len(p)), Z])
    coef, *_ = np.linalg.lstsq(A, p, rcond=None)
    return float(np.var(A @ coef))


def _projections(scenario: sc.Scenario) -> tuple[dict[str, np.ndarray], dict[str, float]] | None:
    """Each arm's mu_a over the reference sample (module docstring) and its rate; None without
    covariate effects or adjustment."""
    from simulate.analysis.adjusted import covariate_matrix
    from simulate.design.assumed import dropout_adjustment, primary_arm
    from simulate.design.choices import BASELINE_COVARIATES
    from simulate.fates.allocation import strata_from
    from simulate.population.outcomes import _reference_covariates, calibrate, covariate_score

    a = scenario.analysis
    if a.adjustment == "none" or not scenario.outcome.covariate_effects:
        return None
    titre, proteinuria = _reference_covariates(scenario.cohort, scenario.eligibility)
    if a.adjustment == "g_computation":
        Z = covariate_matrix(np.stack([titre, proteinuria], axis=1), BASELINE_COVARIATES, a.adjust_for)
    else:
        stratum = strata_from(scenario, titre, proteinuria)
        Z = (stratum[:, None] == np.arange(1, 2 ** len(scenario.randomisation.stratify_by))[None, :]).astype(float)
    A = np.column_stack([np.ones(len(titre)), Z])
    score = covariate_score(scenario, titre, proteinuria)
    models = calibrate(scenario)
    adj = dropout_adjustment(scenario)
    mu, rates = {}, {}
    for arm, rate in zip((scenario.control_arm, primary_arm(scenario)), (adj.p_control, adj.p_treat)):
        m = models[arm]
        p = special.expit(m.intercept + score) if m.intercept is not None else np.full(len(score), rate)
        p = np.clip(p * (rate / p.mean()), 0.0, 1.0) if p.mean() > 0 else p
        coef, *_ = np.linalg.lstsq(A, p, rcond=None)
        mu[arm], rates[arm] = A @ coef, rate
    return mu, rates


def prognostic_r2(scenario: sc.Scenario) -> dict[str, float]:
    """Each arm's R^2: the share of its outcome variance the adjusted covariates explain (module
    docstring); 0 without covariate effects or adjustment."""
    from simulate.design.assumed import primary_arm

    got = _projections(scenario)
    if got is None:
        return {arm: 0.0 for arm in (scenario.control_arm, primary_arm(scenario))}
    mu, rates = got
    return {arm: float(np.var(mu[arm]) / (r * (1 - r))) if 0 < r < 1 else 0.0 for arm, r in rates.items()}


def variance_removed(scenario: sc.Scenario) -> float:
    """The share s of the unadjusted risk difference's variance that adjustment removes, for 1:1
    allocation: Var(mu_0 + mu_1) / (2 sum_a p_a (1 - p_a)) (module docstring); 0 without
    covariate effects or adjustment."""
    got = _projections(scenario)
    if got is None:
        return 0.0
    mu, rates = got
    total = sum(r * (1 - r) for r in rates.values())
    return float(np.var(sum(mu.values())) / (2 * total)) if total > 0 else 0.0


def closed_forms(scenario: sc.Scenario, targets=(0.8, 0.9)) -> dict[float, tuple[int | None, int | None]]:
    """Per target power: (unadjusted, adjusted) n per arm randomised by the Wald formula for 1:1
    allocation, with dropout as the planned analysis counts it and the adjusted variance reduced
    by :func:`variance_removed`; None where the design has no benefit to detect or its allocation
    is not 1:1."""
    from simulate.design.assumed import dropout_adjustment

    a = scenario.analysis
    adj = dropout_adjustment(scenario)
    gap = adj.p_treat - adj.p_control + a.margin
    equal = len(set(scenario.allocation)) == 1
    share = variance_removed(scenario)
    out = {}
    for target in targets:
        if gap <= 0 or not equal:
            out[target] = (None, None)
            continue
        z = special.ndtri(1 - (a.alpha / 2 if a.alternative == "two-sided" else a.alpha)) + special.ndtri(target)
        plain = z**2 * sum(p * (1 - p) for p in (adj.p_control, adj.p_treat)) / gap**2
        out[target] = (adj.n_randomised(math.ceil(plain - 1e-9)), adj.n_randomised(math.ceil(plain * (1 - share) - 1e-9)))
    return out
