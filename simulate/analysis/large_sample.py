"""Large-sample tests of two arms: Pearson's chi-squared (with or without Yates' correction)
and the pooled two-proportion z-test, vectorised over many trials.

A degenerate table (an arm of size 0, or no responders / no non-responders at all) carries no
evidence: p = 1.0 there, never NaN. Positive z favours the treatment arm.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from simulate.analysis.base import Estimates, Setting, TwoArms
from simulate.analysis.intervals import difference


def normal_p(z, alternative):
    """p-value of a standard-normal statistic (positive z favours treatment)."""
    if alternative == "greater":
        return special.ndtr(-z)
    return 2.0 * special.ndtr(-np.abs(z))


def chi2_p(x_c, n_c, x_t, n_t, alternative, yates):
    """Pearson chi-square, 1 df: X2 = N (ad - bc)^2 / (r1 r2 c1 c2).

    Yates: N max(|ad - bc| - N/2, 0)^2 / (r1 r2 c1 c2), i.e. every |O - E| shrunk by
    min(0.5, |O - E|) as scipy.stats.chi2_contingency(correction=True) does.  Two-sided
    p = P(chi2_1 > X2); one-sided p = Phi(-sign(p_t - p_c) sqrt(X2)).
    """
    N, k = n_c + n_t, x_c + x_t
    ad_bc = (x_t * (n_c - x_c) - (n_t - x_t) * x_c).astype(float)
    denom = n_t.astype(float) * n_c * k * (N - k)
    ok = denom > 0
    dev = np.abs(ad_bc)
    if yates:
        dev = np.maximum(dev - N / 2.0, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(ok, N * dev**2 / denom, 0.0)
    if alternative == "greater":
        p = special.ndtr(-np.sign(ad_bc) * np.sqrt(stat))
    else:
        p = special.erfc(np.sqrt(stat / 2))  # = P(chi2_1 > stat), far faster than chdtrc
    return np.where(ok, p, 1.0)


def ztest_p(x_c, n_c, x_t, n_t, alternative):
    """Pooled two-proportion z-test (statsmodels proportions_ztest):
    z = (p_t - p_c) / sqrt(pbar (1 - pbar) (1/n_t + 1/n_c)), pbar = (x_t + x_c) / (n_t + n_c)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = x_t / n_t - x_c / n_c
        pooled = (x_t + x_c) / (n_t + n_c)
        var = pooled * (1 - pooled) * (1.0 / n_t + 1.0 / n_c)
        z = diff / np.sqrt(var)
    ok = (n_c > 0) & (n_t > 0) & (var > 0)
    return np.where(ok, normal_p(np.where(ok, z, 0.0), alternative), 1.0)



def _with_interval(data: TwoArms, setting: Setting, p: np.ndarray) -> Estimates:
    est, low, high = difference(data, setting)
    return Estimates(est, low, high, p)


def evaluate_chi2(data: TwoArms, setting: Setting) -> Estimates:
    """Pearson's chi-squared test and the risk difference with its interval."""
    return _with_interval(data, setting, chi2_p(data.x_c, data.n_c, data.x_t, data.n_t, setting.alternative, False))


def evaluate_chi2_yates(data: TwoArms, setting: Setting) -> Estimates:
    """The chi-squared test with Yates' continuity correction and the risk difference."""
    return _with_interval(data, setting, chi2_p(data.x_c, data.n_c, data.x_t, data.n_t, setting.alternative, True))


def evaluate_ztest(data: TwoArms, setting: Setting) -> Estimates:
    """The pooled z-test and the risk difference with its interval."""
    return _with_interval(data, setting, ztest_p(data.x_c, data.n_c, data.x_t, data.n_t, setting.alternative))
