"""Fisher's exact test of two arms, vectorised over many trials.

Conditional on the responder total k, the treatment arm's responders are hypergeometric; the
p-value is the mass of the tables at least as extreme as the observed one, as
scipy.stats.fisher_exact computes it (see :func:`fisher_table`). A degenerate table (an arm of
size 0, or no responders / no non-responders at all) carries no evidence: p = 1.0.

Trials that share their arm sizes share one table of p-values of every outcome; tables are kept
by a bounded :func:`functools.lru_cache` over the (immutable) arm sizes and alternative, tables
too large to keep are never cached, and trials of rare arm sizes are computed row by row.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from simulate.analysis.base import Estimates, Setting, TwoArms, check_choice
from simulate.analysis.intervals import difference
from simulate.design.choices import ALTERNATIVES

#: scipy.stats.fisher_exact (scipy >= 1.11) treats pmf values within this relative distance as
#: ties (``epsilon = 1e-14``, ``gamma = 1 + epsilon``).  R's fisher.test uses 1e-7 instead.
FISHER_RELATIVE_TOLERANCE = 1e-14

TABLES_KEPT = 32
"""Fisher tables the cache keeps (least recently used first out)."""
TABLE_CELLS_MAX = 2**18
"""Largest table the cache keeps, in cells (2 MB): at most TABLES_KEPT x 2 MB are held."""


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
    check_choice(alternative, ALTERNATIVES, "alternative")
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



@lru_cache(maxsize=TABLES_KEPT)
def cached_table(n_c: int, n_t: int, alternative: str) -> np.ndarray:
    """:func:`fisher_table`, read-only and kept by a bounded cache over its arguments."""
    table = fisher_table(n_c, n_t, alternative)
    table.setflags(write=False)
    return table


def fisher_p(x_c, n_c, x_t, n_t, alternative):
    """Fisher p-values of checked count arrays. Trials are grouped by (n_c, n_t): a pair gets a
    cached table when it has at least (n_c + 1) / 4 trials here (building it then costs no more
    than computing its trials one by one) and the table is small enough to keep; the trials of
    other pairs are computed row by row (:func:`_fisher_rows`). Both ways give the same bits."""
    p = np.empty(x_c.shape)
    if x_c.size == 0:
        return p
    xc, nc, xt, nt, out = x_c.ravel(), n_c.ravel(), x_t.ravel(), n_t.ravel(), p.ravel()
    key = nc * (int(nt.max()) + 1) + nt  # one integer per (n_c, n_t) pair
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order], prepend=-1))     # each pair's first trial in ``order``
    sizes = np.diff(starts, append=len(order))
    pc, pt = nc[order[starts]], nt[order[starts]]
    tabled = (4 * sizes >= pc + 1) & ((pc + 1) * (pt + 1) <= TABLE_CELLS_MAX)
    for g in np.flatnonzero(tabled).tolist():
        idx = order[starts[g]: starts[g] + sizes[g]]
        out[idx] = cached_table(int(pc[g]), int(pt[g]), alternative)[xc[idx], xt[idx]]
    if not tabled.all():
        idx = order[np.repeat(~tabled, sizes)]
        out[idx] = _fisher_rows(xc[idx], nc[idx], xt[idx], nt[idx], alternative)
    return p


def evaluate(data: TwoArms, setting: Setting) -> Estimates:
    """Fisher's exact test (p-value) and the risk difference with its interval."""
    check_choice(setting.alternative, ALTERNATIVES, "alternative")
    est, low, high = difference(data, setting)
    return Estimates(est, low, high, fisher_p(data.x_c, data.n_c, data.x_t, data.n_t, setting.alternative))
