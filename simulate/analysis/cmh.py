"""The Cochran-Mantel-Haenszel test of a common odds ratio across strata, vectorised."""
from __future__ import annotations

import numpy as np
from scipy import special

from simulate.analysis.base import Estimates, Setting, TwoArms, as_counts, check_choice
from simulate.analysis.intervals import difference
from simulate.design.choices import ALTERNATIVES


def cmh_p_values(x_c, n_c, x_t, n_t, alternative="two-sided", correction=False) -> np.ndarray:
    """Cochran-Mantel-Haenszel test of a common odds ratio of 1; arrays are (trials, strata).

    With a = x_t, E[a] = n_t m / T and V[a] = n_t n_c m (T - m) / (T^2 (T - 1)) per stratum
    (T patients, m responders), D = sum(a - E[a]) and X2 = (|D| - c)^2 / sum(V), with c = 0.5
    under ``correction`` when |D| >= 0.5, else 0 (R's mantelhaen.test; statsmodels
    StratifiedTable.test_null_odds subtracts 0.5 even when |D| < 0.5, which only moves p-values
    near 1).  Two-sided p = P(chi2_1 > X2); "greater": Phi(-sign(D) sqrt(X2)).  Strata with
    fewer than 2 patients contribute nothing; no information at all gives p = 1.
    """
    check_choice(alternative, ALTERNATIVES, "alternative")
    x_c, n_c, x_t, n_t = as_counts(x_c, n_c, x_t, n_t)
    if x_c.ndim != 2:
        raise ValueError(f"cmh_p_values needs 2-D (trials, strata) arrays, got {x_c.ndim}-D")
    T, m = (n_c + n_t).astype(float), (x_c + x_t).astype(float)
    used = T >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = np.where(used, x_t - n_t * m / T, 0.0).sum(axis=1)
        var = np.where(used, n_t * n_c * m * (T - m) / (T**2 * (T - 1)), 0.0).sum(axis=1)
        shrink = 0.5 * (np.abs(dev) >= 0.5) if correction else 0.0
        z = np.where(var > 0, np.sign(dev) * (np.abs(dev) - shrink) / np.sqrt(var), 0.0)
    p = special.ndtr(-z) if alternative == "greater" else special.erfc(np.abs(z) / np.sqrt(2))
    return np.where(var > 0, p, 1.0)


def evaluate(data: TwoArms, setting: Setting) -> Estimates:
    """The CMH test over the strata, and the risk difference of the totals with its interval."""
    if data.strata is None:
        raise ValueError("test 'cmh' needs stratified counts: 2-D arrays or strata=...")
    est, low, high = difference(data, setting)
    return Estimates(est, low, high, cmh_p_values(*data.strata, alternative=setting.alternative))
