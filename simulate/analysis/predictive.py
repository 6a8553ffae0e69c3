"""The predictive probability that a Bayesian trial succeeds at its final analysis, given the
data of an interim look.

At a look the control arm has x_c responders of n_c analysed and the experimental arm x_t of
n_t; the final analysis will see N_c and N_t. Each arm's rate has a beta-mixture posterior
(:func:`simulate.analysis.beta_posterior.posterior_mixture`), so the responders among its
m = N - n patients still to come follow the posterior predictive, a mixture of beta-binomials
(component k: BetaBinomial(m, a_k + x, b_k + n - x), weighted by its posterior weight). The two
arms' futures are independent, and the final analysis succeeds when
P(p_t - p_c > -margin | final data) > threshold. The predictive probability of success is

    PP = sum_{y_c = 0}^{m_c} f_c(y_c) P(Y_t >= T(x_c + y_c) - x_t),

where f_c is the control's predictive probability function and T(X_c) the fewest experimental
responders of N_t with which the final analysis succeeds when the control has X_c of N_c
(:func:`success_boundary`). The boundary exists because the final posterior probability rises
with X_t and falls with X_c: a beta-mixture posterior is ordered in its count by the
likelihood ratio p^x (1 - p)^(n - x), for any prior. So PP is an exact finite sum, with no
simulation of the futures; the boundary needs about log2(N_t) posterior probabilities per value
of X_c (bisection), and those are the tables of the final analysis itself, remembered by
:func:`simulate.analysis.posterior.probabilities`.

References: Spiegelhalter, Freedman & Blackburn (1986), "Monitoring clinical trials:
conditional or predictive power?", *Controlled Clinical Trials* 7, 8-17; Lee & Liu (2008), "A
predictive probability design for phase II cancer clinical trials", *Clinical Trials* 5,
93-106 (the one-arm version of this sum); Saville et al. (2014), "The utility of Bayesian
predictive probabilities for interim monitoring of clinical trials", *Clinical Trials* 11,
485-493.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from simulate.analysis.beta_posterior import posterior_mixture
from simulate.analysis.posterior import probabilities

__all__ = ["predictive_probability", "success_boundary"]


def success_boundary(prior_c, prior_t, margin: float, threshold: float, n_c: int, n_t: int) -> np.ndarray:
    """T[X_c] for X_c = 0..n_c: the fewest experimental responders of ``n_t`` with which the
    analysis of (X_c of n_c, X_t of n_t) succeeds, P(p_t - p_c > -margin | data) > threshold;
    n_t + 1 where no X_t does. Bisection on X_t for every X_c at once (the probability rises
    with X_t: module docstring)."""
    x_c = np.arange(n_c + 1)
    lo, hi = np.zeros(n_c + 1, dtype=np.int64), np.full(n_c + 1, n_t + 1, dtype=np.int64)
    while np.any(lo < hi):
        open_ = lo < hi
        mid = (lo + hi) // 2
        succeeds = np.zeros(n_c + 1, dtype=bool)
        succeeds[open_] = probabilities(prior_c, prior_t, margin, x_c[open_], n_c, mid[open_], n_t) > threshold
        hi = np.where(open_ & succeeds, mid, hi)
        lo = np.where(open_ & ~succeeds, mid + 1, lo)
    return lo


def _predictive_pmf(prior, x, n, m, top: int) -> np.ndarray:
    """(trials, top + 1): the posterior predictive probability of y = 0..top responders among
    each trial's m patients to come, given x of n (0 for y > m)."""
    w, a, b = posterior_mixture(prior, x, n)                  # (trials, components)
    y = np.arange(top + 1)[None, :, None]
    pmf = stats.betabinom.pmf(y, np.asarray(m)[:, None, None], a[:, None, :], b[:, None, :])
    return np.einsum("tyk,tk->ty", pmf, w)


def predictive_probability(prior_c, prior_t, margin: float, threshold: float, x_c, n_c, x_t, n_t,
                           final_c: int, final_t: int) -> np.ndarray:
    """The predictive probability of success at the final analysis for each trial's interim data
    (arrays of one shape), the final analysis seeing ``final_c`` control and ``final_t``
    experimental patients (an arm with more already is taken as complete). Each distinct table
    is computed once."""
    x_c, n_c, x_t, n_t = (np.asarray(v, dtype=np.int64) for v in np.broadcast_arrays(x_c, n_c, x_t, n_t))
    shape = x_c.shape
    tables, where = np.unique(np.stack([a.reshape(-1) for a in (x_c, n_c, x_t, n_t)]), axis=1, return_inverse=True)
    out = np.empty(tables.shape[1])
    N_c, N_t = np.maximum(final_c, tables[1]), np.maximum(final_t, tables[3])
    for pair in np.unique(np.stack([N_c, N_t]), axis=1).T:
        rows = (N_c == pair[0]) & (N_t == pair[1])
        xc, nc, xt, nt = tables[:, rows]
        boundary = success_boundary(prior_c, prior_t, margin, threshold, int(pair[0]), int(pair[1]))
        m_c, m_t = pair[0] - nc, pair[1] - nt
        f_c = _predictive_pmf(prior_c, xc, nc, m_c, int(m_c.max()))
        f_t = _predictive_pmf(prior_t, xt, nt, m_t, int(m_t.max()))
        # at_least[:, k] = P(Y_t >= k), k = 0 .. max m_t + 1 (the last 0)
        at_least = np.concatenate([np.cumsum(f_t[:, ::-1], axis=1)[:, ::-1], np.zeros((len(xt), 1))], axis=1)
        final_x_c = np.minimum(xc[:, None] + np.arange(f_c.shape[1])[None, :], pair[0])
        need = np.clip(boundary[final_x_c] - xt[:, None], 0, at_least.shape[1] - 1)
        out[rows] = np.sum(f_c * np.take_along_axis(at_least, need, axis=1), axis=1)
    return np.clip(out[where.reshape(-1)].reshape(shape), 0.0, 1.0)
