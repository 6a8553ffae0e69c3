"""Non-inferiority on the risk-difference scale: the Farrington-Manning score test and the
Miettinen-Nurminen score interval, vectorised over many trials.

H0: p_t - p_c <= -margin against H1: p_t - p_c > -margin (one-sided, alternative "greater"); at
margin 0 the statistic is the pooled z. The interval is the Miettinen & Nurminen (1985) score
interval, which carries the N / (N - 1) factor the test does not, so ``ci_low > -margin`` and the
test's rejection can disagree on tables at the edge.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from simulate.analysis.base import Estimates, Setting, TwoArms, as_counts, check_choice, check_margin
from simulate.analysis.large_sample import normal_p
from simulate.design.choices import ALTERNATIVES


def _restricted_rates(a_c, n_c, a_t, n_t, delta):
    """Maximum-likelihood rates (p~_c, p~_t) of two binomial arms under p_t - p_c = delta.

    ``a`` are responder counts (or any non-negative weights: expected counts n p for a sample
    size), ``n`` the arm sizes (> 0); all broadcast, ``delta`` in (-1, 1) may be an array.  With
    observed rates r = a / n, weights w = n / N and rbar = (a_c + a_t) / N, the score equation in
    p = p~_c, w_c (r_c - p) p~_t (1 - p~_t) + w_t (r_t - p~_t) p (1 - p) = 0 with p~_t = p + delta,
    is the cubic (Miettinen & Nurminen 1985; Farrington & Manning 1990, who solve it for the
    other arm)::

        p^3 + B p^2 + C p + D = 0,   B = delta (1 + w_c) - 1 - rbar,
        C = rbar - delta (1 + 2 w_c r_c) + w_c delta^2,   D = w_c r_c delta (1 - delta).

    The score is >= 0 at the lower end of the admissible range [max(0, -delta), min(1, 1 - delta)]
    and <= 0 at its upper end, and the cubic tends to -/+ infinity at -/+ infinity, so its three
    roots are real and the admissible one is the middle root.  By Viete's trigonometric form, with
    s = sqrt(B^2/9 - C/3) and Q = 2 B^3/27 - B C/3 + D::

        p = 2 s cos((2 pi - arccos(-Q / (2 s^3))) / 3) - B/3,

    the formula of Farrington & Manning (1990) (they write it with u = sign(Q) s and
    (pi + arccos(|Q| / (2 s^3))) / 3, the same root) as used by rpact's
    ``.getFarringtonManningValuesDiff``.  Here the arccos argument is clipped to [-1, 1] and
    s = 0 (a triple root) gives -B/3, the root is clipped into the admissible range, and
    delta == 0 gives the pooled rate rbar exactly.  statsmodels 0.14-0.15
    (``score_test_proportions_2indep``) has count0 where nobs0 belongs in C (statsmodels issue
    #10269), so its constrained rates differ from these unless x_c = n_c or delta = 0.
    """
    a_c, n_c, a_t, n_t, delta = (np.asarray(v, dtype=float) for v in (a_c, n_c, a_t, n_t, delta))
    total = n_c + n_t
    r_c, w_c, rbar = a_c / n_c, n_c / total, (a_c + a_t) / total
    b = delta * (1 + w_c) - 1 - rbar
    c = rbar - delta * (1 + 2 * w_c * r_c) + w_c * delta**2
    d = w_c * r_c * delta * (1 - delta)
    s = np.sqrt(np.maximum(b * b / 9 - c / 3, 0.0))
    q = 2 * b**3 / 27 - b * c / 3 + d
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_arg = np.clip(np.where(s > 0, -q / (2 * s**3), 0.0), -1.0, 1.0)
    root = 2 * s * np.cos((2 * np.pi - np.arccos(cos_arg)) / 3) - b / 3
    p_c = np.clip(root, np.maximum(0.0, -delta), np.minimum(1.0, 1.0 - delta))
    p_c = np.where(delta == 0, rbar, p_c)
    return p_c, np.clip(p_c + delta, 0.0, 1.0)


def _fm_parts(x_c, n_c, x_t, n_t, delta):
    """Observed difference minus delta, and the restricted variance
    p~_t (1 - p~_t) / n_t + p~_c (1 - p~_c) / n_c (arm sizes must be > 0).  1 - p~_t is taken
    as (1 - p~_c) - delta, so that a tiny margin with p~_c = 1 keeps a tiny positive variance."""
    p_c, p_t = _restricted_rates(x_c, n_c, x_t, n_t, delta)
    q_c = 1 - p_c
    q_t = np.clip(q_c - delta, 0.0, 1.0)
    return x_t / n_t - x_c / n_c - delta, p_t * q_t / n_t + p_c * q_c / n_c


def farrington_manning_statistic(x_c, n_c, x_t, n_t, margin):
    """Farrington & Manning (1990) score statistic for H0: p_t - p_c = -margin, every trial:

        z = (x_t/n_t - x_c/n_c + margin) / sqrt(p~_t (1 - p~_t)/n_t + p~_c (1 - p~_c)/n_c),

    with (p~_c, p~_t) the maximum-likelihood rates under p_t - p_c = -margin (closed form, see
    :func:`_restricted_rates`) and no n / (n - 1) factor.  Equals the ``statistic`` of statsmodels
    test_proportions_2indep(x_t, n_t, x_c, n_c, value=-margin, method='score', compare='diff',
    correction=False) where statsmodels' constrained rates are right (see
    :func:`_restricted_rates`), and rpact's stage-wise statistic for rates with
    ``thetaH0 = -margin``.  margin = 0 gives the pooled z statistic.  NaN where an arm is empty
    or the restricted variance is 0: for 0 <= margin < 1 that is margin 0 with no responders or
    only responders (numerator 0 too: no information), or a margin so small (below ~1e-300)
    that the variance underflows.  (statsmodels gives NaN for 0 / 0 and +/-inf otherwise.)
    """
    check_margin("farrington_manning", "greater", margin)
    x_c, n_c, x_t, n_t = as_counts(x_c, n_c, x_t, n_t)
    empty = (n_c == 0) | (n_t == 0)
    num, var = _fm_parts(x_c, np.maximum(n_c, 1), x_t, np.maximum(n_t, 1), -float(margin))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = num / np.sqrt(var)
    return np.where(empty | (var == 0), np.nan, z)


def farrington_manning_p(x_c, n_c, x_t, n_t, margin, alternative="greater"):
    """p-value of the Farrington-Manning score test of non-inferiority, every trial.

    "greater" (the non-inferiority test): H0 p_t - p_c <= -margin against H1 p_t - p_c > -margin,
    p = Phi(-z) with z from :func:`farrington_manning_statistic` (Farrington & Manning 1990,
    Stat Med 9:1447-1454; the unit-variance score test of Miettinen & Nurminen 1985 without
    their N / (N - 1) factor).  "two-sided": 2 Phi(-|z|), the score test of p_t - p_c = -margin.
    Where z is NaN (an empty arm, or margin 0 with no responders or only responders) p = 1.
    margin = 0 is the pooled two-proportion z-test (statsmodels
    proportions_ztest), equal to :func:`simulate.analysis.large_sample.ztest_p` up to rounding.
    """
    check_choice(alternative, ALTERNATIVES, "alternative")
    z = farrington_manning_statistic(x_c, n_c, x_t, n_t, margin)
    nan = np.isnan(z)
    z = np.where(nan, 0.0, z)
    return np.where(nan, 1.0, normal_p(z, alternative))


#: Bisection steps of :func:`miettinen_nurminen_interval`: a bracket of width <= 2 shrinks to
#: <= 2 * 2**-42 < 1e-12.
_MN_BISECTION_STEPS = 42


def miettinen_nurminen_interval(x_c, n_c, x_t, n_t, confidence=0.95):
    """Two-sided Miettinen & Nurminen (1985) score interval for p_t - p_c: arrays ``(low, high)``.

    The interval holds every delta with |T(delta)| < z_{(1 + confidence)/2}, where
    T(delta) = (d - delta) / sqrt(N / (N - 1) V(delta)), d = x_t/n_t - x_c/n_c, N = n_c + n_t
    and V(delta) the restricted variance of :func:`farrington_manning_statistic` at
    p_t - p_c = delta (Miettinen & Nurminen 1985, Stat Med 4:213-226).  T decreases in delta
    (statsmodels' and R's root finders assume so too), so each limit is found by bisection,
    vectorised over the distinct tables among the trials, on [-1, d] and [d, 1] (42 halvings:
    within 1e-12).  Equals statsmodels
    confint_proportions_2indep(x_t, n_t, x_c, n_c, method='score', compare='diff',
    correction=True) where statsmodels' constrained rates are right (x_c = n_c; see
    :func:`_restricted_rates`), and R's PropCIs::diffscoreci.  d = -1 or 1 gives the limit -1
    or 1 itself.  An empty arm gives NaN for both limits.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    x_c, n_c, x_t, n_t = as_counts(x_c, n_c, x_t, n_t)
    shape = x_c.shape
    # simulated trials repeat tables: bisect each distinct table once
    tables, inverse = np.unique(np.stack([a.ravel() for a in (x_c, n_c, x_t, n_t)], axis=1),
                                axis=0, return_inverse=True)
    low, high = _mn_limits(*tables.T, special.ndtri(0.5 + confidence / 2))
    inverse = inverse.reshape(-1)
    return low[inverse].reshape(shape), high[inverse].reshape(shape)


def _mn_limits(x_c, n_c, x_t, n_t, z):
    """The limits of :func:`miettinen_nurminen_interval` for 1-D count arrays."""
    empty = (n_c == 0) | (n_t == 0)
    n_c, n_t = np.maximum(n_c, 1), np.maximum(n_t, 1)  # x = 0 there; results masked below
    inflate = (n_c + n_t) / (n_c + n_t - 1.0)
    est = x_t / n_t - x_c / n_c
    # row 0 searches the lower limit in [-1, d], row 1 the upper limit in [d, 1]; ``near`` stays
    # inside the interval, ``far`` outside it
    away = np.array([[-1.0], [1.0]])
    near = np.stack([est, est])
    far = np.broadcast_to(away, near.shape)
    for _ in range(_MN_BISECTION_STEPS):
        mid = 0.5 * (near + far)
        num, var = _fm_parts(x_c, n_c, x_t, n_t, mid)  # num = d - mid
        outside = -away * num > z * np.sqrt(inflate * var)
        far = np.where(outside, mid, far)
        near = np.where(outside, near, mid)
    limits = np.where(empty, np.nan, 0.5 * (near + far))
    return limits[0], limits[1]



def score_z(data: TwoArms, margin: float) -> np.ndarray:
    """The score z of H0: p_t - p_c = -margin (:func:`farrington_manning_statistic`; the pooled
    z at margin 0): the statistic group-sequential looks compare with their bounds."""
    return farrington_manning_statistic(data.x_c, data.n_c, data.x_t, data.n_t, margin)


def evaluate(data: TwoArms, setting: Setting) -> Estimates:
    """The Farrington-Manning test at the setting's margin, and the risk difference with its
    Miettinen-Nurminen interval (``setting.ci_method`` is not used)."""
    p = farrington_manning_p(data.x_c, data.n_c, data.x_t, data.n_t, setting.margin, setting.alternative)
    if setting.confidence is None:
        return Estimates(None, None, None, p)
    est = np.where((data.n_c == 0) | (data.n_t == 0), np.nan,
                   data.x_t / np.maximum(data.n_t, 1) - data.x_c / np.maximum(data.n_c, 1))
    low, high = miettinen_nurminen_interval(data.x_c, data.n_c, data.x_t, data.n_t, setting.confidence)
    return Estimates(est, low, high, p)
