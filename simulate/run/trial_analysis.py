"""One trial's analysis, comparison by comparison, as a user can check it by hand from the
trial's own ``patients.csv``.

The trial is replicate 0 of the seed (the one ``trialsim trial`` tells); its analysis is the one
a power run makes of it (:func:`simulate.run.tally.analyse_outcomes`), with what a
statistician refitting it needs beside the decision: the method, the estimate and its standard
error where the method has one (Wald-type analyses), the interval and the statistic. A
covariate-adjusted analysis adds its working model (the terms, as ``patients.csv`` names the
covariates, with each coefficient and its model-based SE), the two standardised rates, and
the risk ratio and odds ratio beside the risk difference; a Mantel-Haenszel analysis adds each
stratum's counts.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from simulate.design import scenario as sc
from simulate.design.choices import IMPUTATION_STRATEGIES

__all__ = ["trial_analysis"]


def _number(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def trial_analysis(scenario: sc.Scenario, seed: int) -> list[dict]:
    """Each experimental arm's comparison with the control in trial 0 of ``seed``."""
    from simulate.analysis import registry
    from simulate.engines.blocks import simulate_block
    from simulate.run.tally import analyse_outcomes, comparison_adjustment

    outcomes = simulate_block(scenario, seed, 0, n_trials=1, engine="batch")
    res = analyse_outcomes(scenario, outcomes)
    a = scenario.analysis
    entry = registry.get(a.test)
    c = scenario.control_index
    x, n = outcomes.counts(a.missing)
    out = []
    for j, (arm, r) in enumerate(zip(res.arms, res.analyses)):
        k = scenario.arm_names.index(arm)
        row = {"arm": arm, "control": scenario.control_arm, "method": entry.name, "title": entry.title,
               "missing": a.missing, "hypothesis": a.hypothesis, "alternative": a.alternative,
               "margin": a.margin, "analysed": {"control": int(n[0, :, c].sum()), "experimental": int(n[0, :, k].sum())},
               "responders": {"control": int(x[0, :, c].sum()), "experimental": int(x[0, :, k].sum())},
               "estimate": _number(r.risk_difference[0]), "se": None,
               "ci_low": None if r.ci_low is None else _number(r.ci_low[0]),
               "ci_high": None if r.ci_high is None else _number(r.ci_high[0]),
               "statistic": _number(r.statistic[0]), "scale": r.scale,
               "p_value": _number(r.statistic[0]) if r.scale == "p_value" else None,
               "reject": bool(res.reject[0, j])}
        if entry.covariates and a.missing in IMPUTATION_STRATEGIES:
            row["note"] = (f"multiple imputation: the estimate, interval and p-value combine {a.imputations} completed "
                           "data sets by Rubin's rules, each analysed by g-computation; there is no single working "
                           "model to report")
        elif entry.covariates:
            row.update(_g_computation(comparison_adjustment(outcomes.patients, c, k, a.missing, a.adjust_for),
                                      a.adjustment_variance))
        elif entry.name == "mantel_haenszel":
            row.update(_mantel_haenszel(x[0, :, c], n[0, :, c], x[0, :, k], n[0, :, k]))
        elif entry.name == "wald":
            with np.errstate(invalid="ignore", divide="ignore"):
                p_c, p_t = x[0, :, c].sum() / n[0, :, c].sum(), x[0, :, k].sum() / n[0, :, k].sum()
                row["se"] = _number(math.sqrt(p_c * (1 - p_c) / n[0, :, c].sum() + p_t * (1 - p_t) / n[0, :, k].sum()))
        out.append(row)
    return out


def _g_computation(data, variance: str) -> dict:
    from simulate.analysis.adjusted import g_computation

    g = g_computation(data, variance)
    log_rr, se_rr = g.ratio(odds=False)
    log_or, se_or = g.ratio(odds=True)
    z = special.ndtri(0.975)
    terms = ["(intercept)", "arm (experimental = 1)", *data.names]
    return {
        "se": _number(g.difference_se[0]), "variance": variance,
        "marginal": {"control": _number(g.theta[0, 0]), "experimental": _number(g.theta[0, 1])},
        "risk_ratio": {"estimate": _number(np.exp(log_rr[0])), "ci_low": _number(np.exp(log_rr[0] - z * se_rr[0])),
                       "ci_high": _number(np.exp(log_rr[0] + z * se_rr[0]))},
        "odds_ratio": {"estimate": _number(np.exp(log_or[0])), "ci_low": _number(np.exp(log_or[0] - z * se_or[0])),
                       "ci_high": _number(np.exp(log_or[0] + z * se_or[0]))},
        "working_model": {
            "family": "binomial", "link": "logit", "converged": bool(g.converged[0]),
            "analysed": int(g.analysed[0]),
            "terms": terms,
            "coefficients": [_number(v) for v in g.coef[0]],
            "se": [_number(math.sqrt(v)) if v > 0 else None for v in np.diag(g.coef_cov[0])],
        },
    }


def _mantel_haenszel(x_c, n_c, x_t, n_t) -> dict:
    from simulate.analysis.adjusted import mantel_haenszel

    _, se = mantel_haenszel(x_c[None], n_c[None], x_t[None], n_t[None])
    return {"se": _number(se[0]),
            "strata": [{"stratum": s, "control": [int(x_c[s]), int(n_c[s])], "experimental": [int(x_t[s]), int(n_t[s])]}
                       for s in range(len(n_c))]}
