"""Tests of a binary endpoint between two arms, vectorised over many simulated trials.

Every function takes integer arrays ``x_c, n_c, x_t, n_t`` (responders and analysed
patients in the control arm, RTX alone, and the treatment arm, RTX + CsA), one element per
trial; scalars broadcast.  The 2x2 table of a trial is, in scipy's orientation::

    [[x_t, n_t - x_t],     row 0: treatment
     [x_c, n_c - x_c]]     row 1: control;  column 0: responders

``alternative="greater"`` is the one-sided hypothesis "treatment rate > control rate"
(odds ratio > 1 for this table).

Conventions
-----------
* A degenerate table (an arm of size 0, or no responders / no non-responders at all) carries
  no evidence: every test returns p = 1.0 there, never NaN.
* ``analyse`` rejects when ``p_value < alpha`` (strict).
* Risk differences are treatment minus control; an arm of size 0 gives NaN for the estimate
  and both limits.
* ``"farrington_manning"`` is the non-inferiority score test on the risk difference, with a
  ``margin`` (H0: p_t - p_c <= -margin); every other test takes no margin (it must be 0).
* Several experimental arms against one shared control: :func:`adjust_rejections` turns the
  (trials, arms) p-values into decisions under no, Bonferroni or Holm multiplicity adjustment.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special

from simulate.choices import (  # noqa: F401 - the analysis's choices, defined there
    ALTERNATIVES,
    MISSING_STRATEGIES,
    MULTIPLICITY,
    TESTS,
)

CI_METHODS = ("newcombe", "wald")

#: scipy.stats.fisher_exact (scipy >= 1.11) treats pmf values within this relative distance as
#: ties (``epsilon = 1e-14``, ``gamma = 1 + epsilon``).  R's fisher.test uses 1e-7 instead.
FISHER_RELATIVE_TOLERANCE = 1e-14


def _check_choice(value, allowed, what):
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(map(repr, allowed))}")


def _as_counts(x_c, n_c, x_t, n_t):
    """Broadcast to int64 arrays of one shape and check 0 <= x <= n."""
    arrays = []
    for name, a in (("x_c", x_c), ("n_c", n_c), ("x_t", x_t), ("n_t", n_t)):
        a = np.asarray(a)
        if a.dtype.kind not in "iub":
            if a.dtype.kind != "f" or not np.all(np.isfinite(a) & (a == np.round(a))):
                raise ValueError(f"{name} must hold whole numbers")
        arrays.append(a.astype(np.int64))
    x_c, n_c, x_t, n_t = np.broadcast_arrays(*arrays)
    if np.any((x_c < 0) | (x_t < 0) | (x_c > n_c) | (x_t > n_t)):
        raise ValueError("counts must satisfy 0 <= x <= n in both arms")
    return x_c, n_c, x_t, n_t


# --------------------------------------------------------------------------------------------
# Fisher's exact test: one table of p-values per pair of arm sizes, kept in a bounded cache.
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _binomial_row(n: int):
    """C(n, j), j = 0..n, as float mantissas and power-of-two exponents (no overflow).

    C(n, j) == mant[j] * 2**exp[j] with mant correctly rounded from the exact integer, so the
    hypergeometric pmf built from it has a relative error of a few 1e-16: mathematically tied
    tables (for instance mirror tables when n_c == n_t) stay tied well within scipy's 1e-14.
    """
    exact = [1]
    for j in range(n):
        exact.append(exact[-1] * (n - j) // (j + 1))
    exps = [max(v.bit_length() - 60, 0) for v in exact]
    mant = np.array([v / (1 << e) for v, e in zip(exact, exps)], dtype=float)
    return mant, np.array(exps, dtype=np.int32)


def _comb(n, j):
    """C(n, j) as (mantissa, exponent) arrays, broadcasting n and j; 0 unless 0 <= j <= n."""
    values, inv = np.unique(n, return_inverse=True)
    inv = inv.reshape(np.shape(n))
    mant = np.zeros((len(values), int(values.max()) + 1))
    exp = np.zeros(mant.shape, dtype=np.int32)
    for row, v in enumerate(values.tolist()):
        mant[row, : v + 1], exp[row, : v + 1] = _binomial_row(v)
    ok = (j >= 0) & (j <= n)
    j = np.where(ok, j, 0)
    return np.where(ok, mant[inv, j], 0.0), exp[inv, j]


def _hypergeom_pmf(y, k, n_c, n_t):
    """P(X_t = y | k responders) = C(n_t, y) C(n_c, k - y) / C(n_c + n_t, k), broadcast."""
    (m1, e1), (m2, e2), (m3, e3) = _comb(n_t, y), _comb(n_c, k - y), _comb(n_c + n_t, k)
    return np.ldexp(m1 * m2 / m3, e1 + e2 - e3)


def fisher_table(n_c: int, n_t: int, alternative: str = "two-sided") -> np.ndarray:
    """Fisher p-values of every table with arm sizes (n_c, n_t): ``p[x_c, x_t]``, uncached.

    Conditional on the responder total k, x_t is hypergeometric.  One-sided ("greater"):
    P(X_t >= x_t).  Two-sided, exactly scipy's rule: p = 1 if pmf(x_t) ties with the pmf at
    the mode floor((k + 1)(n_t + 1) / (N + 2)); otherwise the whole tail on the observed side
    of the mode, plus the tables on the other side whose pmf is <= pmf(x_t) * (1 + 1e-14)
    (strictly below when the observed table is left of the mode, as in scipy).
    """
    _check_choice(alternative, ALTERNATIVES, "alternative")
    n_c, n_t = int(n_c), int(n_t)
    K = np.arange(n_c + n_t + 1)[:, None]
    Y = np.arange(n_t + 2)[None, :]  # a zero column at y = n_t + 1 pads the tails
    kk, yy = np.nonzero((Y <= np.minimum(K, n_t)) & (K - Y <= n_c))
    p = _fisher_from_pmf(_hypergeom_pmf(Y, K, n_c, n_t), kk, yy, kk, n_c, n_t, alternative)
    table = np.empty((n_c + 1, n_t + 1))
    table[kk - yy, yy] = p
    return table


def _fisher_rows(x_c, n_c, x_t, n_t, alternative, cells=2**20):
    """Fisher p-values trial by trial (one pmf row per trial), in chunks of ~``cells``."""
    p = np.empty(x_c.shape)
    step = max(1, cells // (int(n_t.max()) + 2))
    for s in range(0, len(x_c), step):
        xc, nc, xt, nt = (a[s : s + step, None] for a in (x_c, n_c, x_t, n_t))
        pmf = _hypergeom_pmf(np.arange(int(nt.max()) + 2)[None, :], xc + xt, nc, nt)
        k = (xc + xt)[:, 0]
        p[s : s + step] = _fisher_from_pmf(pmf, np.arange(len(k)), xt[:, 0], k, nc[:, 0],
                                           nt[:, 0], alternative)
    return p


def _fisher_from_pmf(pmf, rows, y, k, n_c, n_t, alternative):
    """p-values of observed x_t = y, where pmf[rows] is the pmf given the margin k."""
    upper = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # upper[r, y] = P(X >= y)
    lower = np.zeros_like(pmf)  # lower[r, y + 1] = P(X <= y)
    lower[:, 1:] = np.cumsum(pmf[:, :-1], axis=1)
    if alternative == "greater":
        p = upper[rows, y]
    else:
        p = _fisher_two_sided(pmf, lower, upper, rows, y, *np.broadcast_arrays(k, n_c, n_t, y)[:3])
    p = np.minimum(p, 1.0)
    p[(k == 0) | (k == n_c + n_t) | (n_c == 0) | (n_t == 0)] = 1.0  # no evidence
    return p


def _bisect_last(ok, lo, hi):
    """Vectorised binary search: the last i in (lo, hi] with ok(i) true, else lo (a sentinel);
    ``ok`` must be true then false along each search range (pmf monotone beside the mode)."""
    lo, hi = lo.copy(), hi.copy()
    while np.any(active := lo < hi):
        mid = np.where(active, (lo + hi + 1) // 2, lo)
        good = ok(np.maximum(mid, 0))
        lo = np.where(active & good, mid, lo)
        hi = np.where(active & ~good, mid - 1, hi)
    return lo


def _fisher_two_sided(pmf, lower, upper, rows, yy, k, n_c, n_t):
    mode = ((k + 1) * (n_t + 1)) // (n_c + n_t + 2)
    p_obs, p_mode = pmf[rows, yy], pmf[rows, mode]
    with np.errstate(invalid="ignore", divide="ignore"):
        tie = np.abs(p_obs - p_mode) / np.maximum(p_obs, p_mode) <= FISHER_RELATIVE_TOLERANCE
    thr = p_obs * (1.0 + FISHER_RELATIVE_TOLERANCE)
    p = np.ones(yy.shape)
    # observed left of the mode: last y in [mode, min(k, n_t)] with pmf >= thr
    sel = ~tie & (yy < mode)
    r, t = rows[sel], thr[sel]
    last = _bisect_last(lambda y: pmf[r, y] >= t, mode[sel] - 1, np.minimum(k, n_t)[sel])
    p[sel] = lower[r, yy[sel] + 1] + upper[r, last + 1]
    # observed right of the mode: last y in [max(0, k - n_c), mode] with pmf <= thr
    sel = ~tie & (yy > mode)
    r, t = rows[sel], thr[sel]
    last = _bisect_last(lambda y: pmf[r, y] <= t, np.maximum(k - n_c, 0)[sel] - 1, mode[sel])
    p[sel] = upper[r, yy[sel]] + lower[r, last + 1]
    return p


class _FisherCache:
    """Thread-safe LRU of Fisher p-value tables keyed by (n_c, n_t, alternative), bounded in bytes."""

    def __init__(self, max_bytes: int = 64 * 2**20):
        self.max_bytes = max_bytes
        self._tables: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, n_c: int, n_t: int, alternative: str) -> np.ndarray:
        key = (int(n_c), int(n_t), alternative)
        with self._lock:
            if key in self._tables:
                self._tables.move_to_end(key)
                return self._tables[key]
        table = fisher_table(*key)
        table.setflags(write=False)
        with self._lock:
            if key not in self._tables:
                self._tables[key] = table
                self._bytes += table.nbytes
                while self._bytes > self.max_bytes and len(self._tables) > 1:
                    self._bytes -= self._tables.popitem(last=False)[1].nbytes
        return table

    def __contains__(self, key) -> bool:
        return key in self._tables

    def __len__(self) -> int:
        return len(self._tables)

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()
            self._bytes = 0


FISHER_CACHE = _FisherCache()


def _fisher_p(x_c, n_c, x_t, n_t, alternative):
    """Group trials by (n_c, n_t).  A pair gets a cached table when it is already cached or
    has at least (n_c + 1) / 4 trials here (building it then costs no more than computing its
    trials one by one); trials of rarer pairs are computed row by row (:func:`_fisher_rows`)."""
    p = np.empty(x_c.shape)
    if x_c.size == 0:
        return p
    xc, nc, xt, nt, out = x_c.ravel(), n_c.ravel(), x_t.ravel(), n_t.ravel(), p.ravel()
    key = nc * (int(nt.max()) + 1) + nt  # one integer per (n_c, n_t) pair
    order = np.argsort(key, kind="stable")
    rare = []
    for idx in np.split(order, np.flatnonzero(np.diff(key[order])) + 1):
        pair = (int(nc[idx[0]]), int(nt[idx[0]]), alternative)
        if pair in FISHER_CACHE or 4 * len(idx) >= pair[0] + 1:
            out[idx] = FISHER_CACHE.get(*pair)[xc[idx], xt[idx]]
        else:
            rare.append(idx)
    if rare:
        idx = np.concatenate(rare)
        out[idx] = _fisher_rows(xc[idx], nc[idx], xt[idx], nt[idx], alternative)
    return p


# --------------------------------------------------------------------------------------------
# Large-sample tests
# --------------------------------------------------------------------------------------------
def _normal_p(z, alternative):
    """p-value of a standard-normal statistic (positive z favours treatment)."""
    if alternative == "greater":
        return special.ndtr(-z)
    return 2.0 * special.ndtr(-np.abs(z))


def _chi2_p(x_c, n_c, x_t, n_t, alternative, yates):
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


def _ztest_p(x_c, n_c, x_t, n_t, alternative):
    """Pooled two-proportion z-test (statsmodels proportions_ztest):
    z = (p_t - p_c) / sqrt(pbar (1 - pbar) (1/n_t + 1/n_c)), pbar = (x_t + x_c) / (n_t + n_c)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = x_t / n_t - x_c / n_c
        pooled = (x_t + x_c) / (n_t + n_c)
        var = pooled * (1 - pooled) * (1.0 / n_t + 1.0 / n_c)
        z = diff / np.sqrt(var)
    ok = (n_c > 0) & (n_t > 0) & (var > 0)
    return np.where(ok, _normal_p(np.where(ok, z, 0.0), alternative), 1.0)


# --------------------------------------------------------------------------------------------
# Non-inferiority on the risk-difference scale: Farrington-Manning / Miettinen-Nurminen
# --------------------------------------------------------------------------------------------
def _check_margin(test, alternative, margin, one_sided_only=True):
    """A margin belongs to farrington_manning alone, lies in [0, 1), and (unless
    ``one_sided_only`` is False) comes with alternative "greater"."""
    if not np.isscalar(margin) or not np.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")
    if test != "farrington_manning":
        if margin != 0:
            raise ValueError(f"a margin is only used by test 'farrington_manning'; test {test!r} "
                             f"needs margin=0, got {margin!r}")
        return
    if not 0 <= margin < 1:
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    if one_sided_only and alternative != "greater":
        raise ValueError(f"test 'farrington_manning' is one-sided: alternative must be 'greater', "
                         f"got {alternative!r}")


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
    _check_margin("farrington_manning", "greater", margin)
    x_c, n_c, x_t, n_t = _as_counts(x_c, n_c, x_t, n_t)
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
    proportions_ztest), equal to :func:`_ztest_p` up to rounding.
    """
    _check_choice(alternative, ALTERNATIVES, "alternative")
    z = farrington_manning_statistic(x_c, n_c, x_t, n_t, margin)
    nan = np.isnan(z)
    z = np.where(nan, 0.0, z)
    return np.where(nan, 1.0, _normal_p(z, alternative))


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
    x_c, n_c, x_t, n_t = _as_counts(x_c, n_c, x_t, n_t)
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


def p_values(test, x_c, n_c, x_t, n_t, alternative="two-sided", margin=0.0) -> np.ndarray:
    """p-values of ``test`` in {"fisher", "chi2", "chi2_yates", "ztest", "farrington_manning"}
    for every trial.

    fisher: Fisher's exact test, equal to scipy.stats.fisher_exact on the table in the module
    docstring; chi2 / chi2_yates: scipy.stats.chi2_contingency(correction=False / True);
    ztest: statsmodels proportions_ztest([x_t, x_c], [n_t, n_c]) ('larger' for "greater");
    farrington_manning: :func:`farrington_manning_p` at ``margin`` (its two-sided form too, the
    score test of p_t - p_c = -margin; :func:`analyse` allows only "greater").  ``margin`` must
    be 0 for every other test.  Degenerate tables give 1.0.  Use :func:`cmh_p_values` for
    stratified data.
    """
    if test == "cmh":
        raise ValueError("test 'cmh' needs stratified counts: use cmh_p_values or analyse")
    _check_choice(test, TESTS, "test")
    _check_choice(alternative, ALTERNATIVES, "alternative")
    _check_margin(test, alternative, margin, one_sided_only=False)
    if test == "farrington_manning":
        return farrington_manning_p(x_c, n_c, x_t, n_t, margin, alternative)
    x_c, n_c, x_t, n_t = _as_counts(x_c, n_c, x_t, n_t)
    if test == "fisher":
        return _fisher_p(x_c, n_c, x_t, n_t, alternative)
    if test == "ztest":
        return _ztest_p(x_c, n_c, x_t, n_t, alternative)
    return _chi2_p(x_c, n_c, x_t, n_t, alternative, yates=test == "chi2_yates")


def cmh_p_values(x_c, n_c, x_t, n_t, alternative="two-sided", correction=False) -> np.ndarray:
    """Cochran-Mantel-Haenszel test of a common odds ratio of 1; arrays are (trials, strata).

    With a = x_t, E[a] = n_t m / T and V[a] = n_t n_c m (T - m) / (T^2 (T - 1)) per stratum
    (T patients, m responders), D = sum(a - E[a]) and X2 = (|D| - c)^2 / sum(V), with c = 0.5
    under ``correction`` when |D| >= 0.5, else 0 (R's mantelhaen.test; statsmodels
    StratifiedTable.test_null_odds subtracts 0.5 even when |D| < 0.5, which only moves p-values
    near 1).  Two-sided p = P(chi2_1 > X2); "greater": Phi(-sign(D) sqrt(X2)).  Strata with
    fewer than 2 patients contribute nothing; no information at all gives p = 1.
    """
    _check_choice(alternative, ALTERNATIVES, "alternative")
    x_c, n_c, x_t, n_t = _as_counts(x_c, n_c, x_t, n_t)
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


# --------------------------------------------------------------------------------------------
# Risk difference and the complete analysis
# --------------------------------------------------------------------------------------------
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
    _check_choice(method, CI_METHODS, "method")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    x_c, n_c, x_t, n_t = _as_counts(x_c, n_c, x_t, n_t)
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


@dataclass(frozen=True)
class Analysis:
    """Per-trial results: p-value, ``reject = p_value < alpha``, and the risk difference
    (treatment minus control) with its interval (Newcombe by default; Miettinen-Nurminen for
    farrington_manning)."""

    p_value: np.ndarray
    reject: np.ndarray
    risk_difference: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def analyse(test, alpha, x_c, n_c, x_t, n_t, alternative="two-sided", strata=None,
            ci_method="newcombe", margin=0.0) -> Analysis:
    """Run ``test`` on every trial and decide at level ``alpha`` (reject when p < alpha).

    For ``test == "cmh"`` the stratified counts are either ``strata = (x_c, n_c, x_t, n_t)``
    of shape (trials, strata), with the 1-D totals as the main arguments, or, when ``strata``
    is None, the main arguments themselves in 2-D (totals are then their sums over strata).
    Other tests ignore ``strata``.  The interval is two-sided at 1 - alpha, or at 1 - 2 alpha
    for "greater" so that ``ci_low`` is the matching one-sided bound.

    ``test == "farrington_manning"`` is the non-inferiority test of H0: p_t - p_c <= -margin
    (:func:`farrington_manning_p`); it needs ``alternative="greater"``, and its interval is the
    Miettinen-Nurminen score interval (:func:`miettinen_nurminen_interval`, ``ci_method`` is not
    used).  That interval carries the N / (N - 1) factor the test does not, so ``ci_low > -margin``
    and ``reject`` can disagree on tables at the edge.  Every other test needs ``margin == 0``.
    """
    _check_choice(test, TESTS, "test")
    _check_choice(alternative, ALTERNATIVES, "alternative")
    _check_margin(test, alternative, margin)
    if not 0 < alpha < (0.5 if alternative == "greater" else 1):
        raise ValueError(f"alpha must lie in (0, 1) (below 0.5 one-sided), got {alpha!r}")
    if test == "cmh":
        if strata is None:
            if np.ndim(x_c) != 2:
                raise ValueError("test 'cmh' needs stratified counts: 2-D arrays or strata=...")
            strata = _as_counts(x_c, n_c, x_t, n_t)
            x_c, n_c, x_t, n_t = (a.sum(axis=1) for a in strata)
        p = cmh_p_values(*strata, alternative=alternative)
    else:
        p = p_values(test, x_c, n_c, x_t, n_t, alternative, margin=margin)
    confidence = 1 - alpha if alternative == "two-sided" else 1 - 2 * alpha
    est, low, high = risk_difference(x_c, n_c, x_t, n_t, ci_method, confidence)
    if test == "farrington_manning":
        low, high = miettinen_nurminen_interval(x_c, n_c, x_t, n_t, confidence)
    return Analysis(p_value=p, reject=p < alpha, risk_difference=est, ci_low=low, ci_high=high)


# --------------------------------------------------------------------------------------------
# Several experimental arms against one control
# --------------------------------------------------------------------------------------------
def adjust_rejections(p_values, alpha, method) -> np.ndarray:
    """Decisions for m comparisons per trial, from p-values of shape (trials, m) (any leading
    shape; the comparisons run along the last axis); returns booleans of the same shape.

    none: p < alpha each.  bonferroni: p < alpha / m.  holm (Holm 1979, Scand J Stat 6:65-70):
    with each trial's p-values sorted, p_(1) <= ... <= p_(m), the j-th smallest is rejected when
    p_(i) < alpha / (m - i + 1) for every i <= j (step-down; the first failure stops it).  Tied
    p-values get the same decision whatever their order.  Strict ``<`` throughout, as in
    :func:`analyse`; statsmodels multipletests rejects at ``<=`` instead, which differs only for a
    p-value exactly on a threshold.  NaN never rejects (and stops Holm's steps).
    """
    _check_choice(method, MULTIPLICITY, "multiplicity")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    p = np.asarray(p_values, dtype=float)
    if p.ndim == 0:
        raise ValueError("p_values needs a last axis of comparisons, got a scalar")
    m = p.shape[-1]
    if method == "none" or m == 0:
        return p < alpha
    if method == "bonferroni":
        return p < alpha / m
    order = np.argsort(p, axis=-1, kind="stable")  # NaN sorts last
    passed = np.take_along_axis(p, order, axis=-1) < alpha / np.arange(m, 0, -1)
    passed = np.logical_and.accumulate(passed, axis=-1)
    reject = np.empty_like(passed)
    np.put_along_axis(reject, order, passed, axis=-1)
    return reject
