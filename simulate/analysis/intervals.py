"""Intervals of a proportion and of a risk difference (treatment minus control)."""
from __future__ import annotations

import numpy as np
from scipy import special

from simulate.analysis.base import CI_METHODS, Setting, TwoArms, as_counts, check_choice


def _wilson(x, n, z):
    """Wilson score interval, clipped to [0, 1] (statsmodels proportion_confint 'wilson')."""
    q = x / n
    denom = 1 + z**2 / n
    centre = (q + z**2 / (2 * n)) / denom
    half = z * np.sqrt(q * (1 - q) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def wilson_interval(x, n, confidence=0.95):
    """Wilson score interval of the proportion x / n at the given two-sided confidence."""
    return _wilson(np.asarray(x, dtype=float), np.asarray(n, dtype=float), special.ndtri(0.5 + confidence / 2))


def risk_difference(x_c, n_c, x_t, n_t, method="newcombe", confidence=0.95):
    """Estimate and two-sided interval of p_t - p_c: arrays ``(estimate, low, high)``.

    wald: d -/+ z sqrt(p_t q_t / n_t + p_c q_c / n_c) (zero width when both rates are 0 or 1).
    newcombe: Newcombe (1998) method 10, from the Wilson intervals (l_t, u_t), (l_c, u_c):
    low = d - sqrt((p_t - l_t)^2 + (u_c - p_c)^2), high = d + sqrt((u_t - p_t)^2 + (p_c - l_c)^2).
    Both equal statsmodels confint_proportions_2indep(x_t, n_t, x_c, n_c, compare='diff',
    method='wald' / 'newcomb').  An arm of size 0 gives NaN everywhere.
    """
    check_choice(method, CI_METHODS, "method")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    x_c, n_c, x_t, n_t = as_counts(x_c, n_c, x_t, n_t)
    z = special.ndtri(0.5 + confidence / 2)
    empty = (n_c == 0) | (n_t == 0)
    n_c, n_t = np.maximum(n_c, 1), np.maximum(n_t, 1)  # x = 0 there; results masked below
    p_c, p_t = x_c / n_c, x_t / n_t
    est = p_t - p_c
    if method == "wald":
        half = z * np.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
        low, high = est - half, est + half
    else:
        l_t, u_t = _wilson(x_t, n_t, z)
        l_c, u_c = _wilson(x_c, n_c, z)
        low = est - np.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
        high = est + np.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)
    return tuple(np.where(empty, np.nan, a) for a in (est, low, high))


def difference(data: TwoArms, setting: Setting) -> tuple:
    """:func:`risk_difference` of a comparison at the setting's method and confidence, or
    (None, None, None) when the setting wants no interval."""
    if setting.confidence is None:
        return None, None, None
    return risk_difference(data.x_c, data.n_c, data.x_t, data.n_t, setting.ci_method, setting.confidence)
