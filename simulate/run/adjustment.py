"""What covariate adjustment buys: the adjusted design against the same design analysed without
adjustment, in sample size, power and type I error, simulated and in closed form.

The unadjusted counterpart (:func:`unadjusted`) is the same scenario analysed by the Wald test
of the risk difference: the estimator g-computation and Mantel-Haenszel reduce to without
covariates or strata. Both are simulated on the same trials (the same seed): the sample size
for 80% and 90% power, the power at the planned n, and the type I error in the design's null
world (:func:`simulate.design.null_world.null_scenario`).

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
from dataclasses import dataclass

import numpy as np
from scipy import special

from simulate.design import scenario as sc
from simulate.run.record import Float, Record
from simulate.run.results import PowerResult, SampleSizePlan

__all__ = ["AdjustmentDetail", "closed_forms", "compute_adjustment", "prognostic_r2", "unadjusted",
           "variance_removed"]

UNADJUSTED_TEST = "wald"
"""The unadjusted counterpart's analysis: the Wald test of the risk difference, which both
adjusted analyses reduce to without covariates or strata."""


def unadjusted(scenario: sc.Scenario) -> sc.Scenario:
    """The same design analysed without adjustment (:data:`UNADJUSTED_TEST`)."""
    from simulate.design.loader import with_overrides

    return with_overrides(scenario, {"analysis.adjustment": "none", "analysis.adjust_for": [],
                                     "analysis.test": UNADJUSTED_TEST})


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


@dataclass(frozen=True)
class AdjustmentDetail(Record):
    """The adjusted design against its unadjusted counterpart (module docstring)."""

    unadjusted_test: str
    unadjusted_power: PowerResult
    """The counterpart's power at the planned n (the run's trials)."""
    unadjusted_samplesize: SampleSizePlan
    """The counterpart's sample-size searches (80% and 90%)."""
    type1_adjusted: Float
    type1_adjusted_mc_se: Float
    type1_unadjusted: Float
    type1_unadjusted_mc_se: Float
    null_design: str
    """How the null world was made (empty when only the experimental arms' rates moved)."""
    prognostic_r2: dict
    """Each arm's R^2 (:func:`prognostic_r2`)."""
    variance_removed: Float
    """The share of the unadjusted risk difference's variance adjustment removes (:func:`variance_removed`)."""
    closed_form: dict
    """Per target power (as text, e.g. "0.8"): [unadjusted, adjusted] n per arm randomised."""


def compute_adjustment(scenario, seed, replicates, jobs, engine, progress=False) -> AdjustmentDetail:
    """The counterpart's power and sample size, both designs' type I error in the null world, the
    prognostic R^2 and the closed forms."""
    from simulate.design.null_world import null_scenario
    from simulate.run.compute import compute_power, compute_samplesize
    from simulate.run.power import estimate_power

    plain = unadjusted(scenario)
    power = compute_power(plain, seed, replicates, jobs, engine, progress)
    plan = compute_samplesize(plain, seed, replicates, jobs, engine, progress)
    null, note = null_scenario(scenario)
    null_adjusted = estimate_power(null, replicates, seed, jobs, engine, progress)
    null_plain = estimate_power(unadjusted(null), replicates, seed, jobs, engine, progress)
    return AdjustmentDetail(
        unadjusted_test=UNADJUSTED_TEST, unadjusted_power=power, unadjusted_samplesize=plan,
        type1_adjusted=null_adjusted.power, type1_adjusted_mc_se=null_adjusted.mc_se,
        type1_unadjusted=null_plain.power, type1_unadjusted_mc_se=null_plain.mc_se, null_design=note,
        prognostic_r2=prognostic_r2(scenario), variance_removed=variance_removed(scenario),
        closed_form={f"{t:g}": list(v) for t, v in closed_forms(scenario).items()})
