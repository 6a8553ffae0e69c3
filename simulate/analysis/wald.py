"""The Wald test of the risk difference, on counts or, with multiple imputation, by Rubin's rules.

On counts: d = p_t - p_c, its unpooled variance p_t(1 - p_t)/n_t + p_c(1 - p_c)/n_c, the
statistic (d + margin) / se against the standard normal (H0: p_t - p_c = -margin, or <= -margin
one-sided; margin 0 for superiority) and the Wald interval. A degenerate table (an empty arm, or
rates of 0 or 1 in both arms: no variance) carries no evidence: p = 1.0.

With ``analysis.missing = "mi_mar"`` or ``"mi_j2r"`` the comparison's patients come one by one
(:class:`simulate.analysis.visit_imputation.VisitData`): their missing endpoints are imputed
visit by visit and each completed data set's Wald estimate and variance are combined by Rubin's
rules, the statistic then on Barnard and Rubin's t reference (:mod:`simulate.analysis.visit_imputation`).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from simulate.analysis.base import Estimates, Setting, TwoArms
from simulate.analysis.intervals import risk_difference
from simulate.analysis.large_sample import normal_p


def wald_p(x_c, n_c, x_t, n_t, alternative: str, margin: float = 0.0) -> np.ndarray:
    """p-value of the Wald statistic (d + margin) / se (unpooled variance); 1.0 where there is
    no variance."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p_c, p_t = x_c / np.maximum(n_c, 1), x_t / np.maximum(n_t, 1)
        var = p_t * (1 - p_t) / np.maximum(n_t, 1) + p_c * (1 - p_c) / np.maximum(n_c, 1)
        z = (p_t - p_c + margin) / np.sqrt(var)
    ok = (n_c > 0) & (n_t > 0) & (var > 0)
    return np.where(ok, normal_p(np.where(ok, z, 0.0), alternative), 1.0)


def evaluate(data: TwoArms, setting: Setting) -> Estimates:
    """The Wald test and interval of the risk difference (by multiple imputation when the
    setting asks for it and the data bring the patients)."""
    mi = setting.imputation
    if mi is not None and data.patients is not None:
        from simulate.analysis import visit_imputation

        res = visit_imputation.analyse(data.patients, mi.imputations, setting.confidence or 0.95,
                                       setting.alternative, setting.margin, mi.method)
        return Estimates(res.estimate[:, 0, 0], res.ci_low[:, 0, 0], res.ci_high[:, 0, 0], res.p_value[:, 0, 0])
    p = wald_p(data.x_c, data.n_c, data.x_t, data.n_t, setting.alternative, setting.margin)
    if setting.confidence is None:
        return Estimates(None, None, None, p)
    est, low, high = risk_difference(data.x_c, data.n_c, data.x_t, data.n_t, "wald", setting.confidence)
    return Estimates(est, low, high, p)


def n_per_arm(p_control: float, p_treat: float, alpha: float, power: float, alternative: str = "two-sided",
              margin: float = 0.0) -> int:
    """Closed-form n per arm of the Wald test (unpooled variance under the alternative):
    n = (z_a + z_b)^2 (p_t q_t + p_c q_c) / (p_t - p_c + margin)^2, rounded up."""
    z_a = special.ndtri(1 - (alpha / 2 if alternative == "two-sided" else alpha))
    z_b = special.ndtri(power)
    gap = p_treat - p_control + margin
    if gap <= 0:
        raise ValueError("the assumed difference must exceed -margin for a closed form")
    var = p_treat * (1 - p_treat) + p_control * (1 - p_control)
    return int(np.ceil((z_a + z_b) ** 2 * var / gap**2 - 1e-9))
