"""Meta-analytic-predictive (MAP) priors: what earlier trials' control arms say about the rate
of the next one (Neuenschwander et al., Clin Trials 2010; Schmidli et al., Biometrics 2014).

The model is the binomial-normal hierarchy: trial j's responders y_j ~ Binomial(n_j, p_j),
logit p_j ~ Normal(mu, tau^2), with mu ~ Normal(0, MU_PRIOR_SD^2) and the between-trial
heterogeneity tau ~ HalfNormal(scale). The MAP prior is the predictive distribution of the next
trial's rate, p* = expit(theta*), theta* ~ Normal(mu, tau^2), given the earlier trials.

No MCMC: the posterior of (mu, tau) is computed on a grid (each trial's marginal likelihood by
Gauss-Hermite quadrature over its logit rate), the predictive density of p* on a fine grid in
(0, 1), and that density is approximated by a mixture of betas (fitted by EM on the grid, the
number of components the fewest whose distribution function is within :data:`FIT_TOLERANCE` of
the predictive's everywhere, at most :data:`MAX_COMPONENTS`). Robustified, the prior gets a
vague Beta(1, 1) component of weight ``robust_weight`` (Schmidli 2014), so that data in conflict
with the history soon outweigh it.

Written here because no Python library computes MAP priors (RBesT, in R, does; it fits the
hierarchy by MCMC and the mixture by EM, as this module does on a grid).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

MU_PRIOR_SD = 2.0
"""Standard deviation of the normal prior on the mean logit rate: vague over rates 0.02-0.98."""
GRID_MU = 121
GRID_TAU = 81
"""Grid points of the posterior of (mu, tau)."""
HERMITE_NODES = 40
"""Gauss-Hermite nodes of each trial's marginal likelihood over its logit rate."""
P_GRID = 600
"""Points of the predictive density of the next rate on (0, 1)."""
MAX_COMPONENTS = 4
FIT_TOLERANCE = 0.005
"""Largest distance allowed between the mixture's distribution function and the predictive's."""
EM_ITERATIONS = 500
EM_TOLERANCE = 1e-7
"""EM stops when no weight or beta parameter moves by more than this (relative, for those above 1)."""


@dataclass(frozen=True)
class MapPrior:
    """A MAP prior as a beta mixture, before and after robustification, with what it rests on."""

    components: tuple[tuple[float, float, float], ...]
    """(w, a, b) of the robustified prior (the analysis prior)."""
    map_components: tuple[tuple[float, float, float], ...]
    """(w, a, b) of the MAP prior itself, before the vague component."""
    fit_error: float
    """Largest distance between the fitted mixture's distribution function and the predictive's."""
    mean: float
    sd: float
    """Mean and standard deviation of the predictive distribution of the next rate."""
    tau_median: float
    """Posterior median of the between-trial heterogeneity (logit scale)."""


def map_prior(responders, n, heterogeneity_scale: float = 0.5, robust_weight: float = 0.2) -> MapPrior:
    """The MAP prior of the next trial's rate from earlier trials' ``responders`` out of ``n``."""
    y, m = np.asarray(responders, dtype=float), np.asarray(n, dtype=float)
    mu, tau, post = _posterior(y, m, heterogeneity_scale)
    p, mass, cdf = _predictive(mu, tau, post)
    right = np.append(p[:-1] + 0.5 / P_GRID, 1.0)
    fitted = None
    for k in range(1, MAX_COMPONENTS + 1):
        comps = _fit_mixture(p, mass, k)
        error = float(np.max(np.abs(_mixture_cdf(comps, right) - cdf)))
        if fitted is None or error < fitted[1]:
            fitted = (comps, error)
        if error <= FIT_TOLERANCE:
            break
    comps, error = fitted
    mean = float(np.sum(p * mass))
    sd = float(math.sqrt(max(np.sum((p - mean) ** 2 * mass) - 1 / (12 * P_GRID**2), 0.0)))
    robust = tuple((w * (1 - robust_weight), a, b) for w, a, b in comps)
    if robust_weight > 0:
        robust += ((robust_weight, 1.0, 1.0),)
    tau_marginal = post.sum(axis=0)
    tau_median = float(tau[np.searchsorted(np.cumsum(tau_marginal) / tau_marginal.sum(), 0.5)])
    return MapPrior(components=robust, map_components=comps, fit_error=error, mean=mean, sd=sd,
                    tau_median=tau_median)


def _posterior(y: np.ndarray, n: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu grid, tau grid, posterior weights on the grid (mu, tau), summing to 1)."""
    pooled = special.logit(np.clip((y.sum() + 0.5) / (n.sum() + 1.0), 1e-6, 1 - 1e-6))
    mu = np.linspace(pooled - 4.0, pooled + 4.0, GRID_MU)
    tau = np.linspace(0.0, 4.0 * scale, GRID_TAU + 1)[1:]               # tau > 0; the half-normal's bulk
    nodes, weights = np.polynomial.hermite_e.hermegauss(HERMITE_NODES)  # for exp(-x^2 / 2)
    weights = weights / math.sqrt(2 * math.pi)
    theta = mu[:, None, None] + tau[None, :, None] * nodes[None, None, :]          # (mu, tau, node)
    log_p, log_q = -np.logaddexp(0.0, -theta), -np.logaddexp(0.0, theta)          # log expit, log (1 - expit)
    log_lik = np.zeros((GRID_MU, GRID_TAU))
    for yj, nj in zip(y, n):
        binom = special.gammaln(nj + 1) - special.gammaln(yj + 1) - special.gammaln(nj - yj + 1)
        log_lik += np.log(np.exp(binom + yj * log_p + (nj - yj) * log_q) @ weights)
    # the normal prior on mu and the half-normal on tau, up to constants
    log_post = log_lik - 0.5 * (mu / MU_PRIOR_SD)[:, None] ** 2 - 0.5 * (tau / scale)[None, :] ** 2
    post = np.exp(log_post - log_post.max())
    return mu, tau, post / post.sum()


def _predictive(mu: np.ndarray, tau: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The predictive distribution of the next rate on a grid of (0, 1): (cell midpoints, each
    cell's probability, the distribution function at the cells' right edges). The distribution
    function is the posterior mixture of logit-normal ones, exact at every edge however narrow
    the components (a density sampled at points would miss a component narrower than a cell)."""
    edges = np.arange(1, P_GRID) / P_GRID
    x = special.logit(edges)
    keep = post > post.max() * 1e-9
    m, t, w = (np.broadcast_to(mu[:, None], post.shape)[keep], np.broadcast_to(tau[None, :], post.shape)[keep],
               post[keep])
    w = w / w.sum()
    # each mu grid point stands for its cell, the posterior taken as even across it: the
    # normal's distribution function averaged over the cell, G(z) = z Phi(z) + phi(z)
    half = (mu[1] - mu[0]) / 2

    def g(z: np.ndarray) -> np.ndarray:
        return z * special.ndtr(z) + np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    cdf = np.zeros(len(edges))
    for start in range(0, len(w), 256):                 # the grid's points, in chunks
        sl = slice(start, start + 256)
        ts = t[sl, None]
        d = x[None, :] - m[sl, None]
        cdf += w[sl] @ ((g((d + half) / ts) - g((d - half) / ts)) * ts / (2 * half))
    cdf = np.append(cdf, 1.0)
    mass = np.diff(cdf, prepend=0.0)
    return (np.arange(P_GRID) + 0.5) / P_GRID, np.maximum(mass, 0.0), cdf


def _fit_mixture(p: np.ndarray, mass: np.ndarray, k: int) -> tuple[tuple[float, float, float], ...]:
    """A k-component beta mixture fitted to a distribution on a grid (each cell's probability at
    its midpoint) by EM, each component's (a, b) by matching its weighted mean and variance."""
    weight = mass / mass.sum()
    cdf = np.cumsum(weight)
    edges = np.searchsorted(cdf, np.linspace(0, 1, k + 1)[1:-1])
    labels = np.searchsorted(edges, np.arange(len(p)), side="right")
    resp = np.eye(k)[labels]                                       # start: k quantile slices
    log_p, log_q = np.log(p), np.log1p(-p)
    comps = None
    for _ in range(EM_ITERATIONS):
        rw = resp * weight[:, None]
        w = np.maximum(rw.sum(axis=0), 1e-300)        # an emptied component keeps a (vanishing) weight
        mean = (rw * p[:, None]).sum(axis=0) / w
        var = (rw * (p[:, None] - mean) ** 2).sum(axis=0) / w
        # no component narrower than a grid cell (a spike on one cell is the grid's, not the prior's)
        var = np.minimum(np.maximum(var, (1.0 / P_GRID) ** 2), mean * (1 - mean) * 0.999)
        nu = mean * (1 - mean) / var - 1
        a, b = mean * nu, (1 - mean) * nu
        new = tuple((float(wi), float(ai), float(bi)) for wi, ai, bi in zip(w, a, b))
        if comps is not None and max(abs(x - y) / max(abs(y), 1.0)
                                     for c0, c1 in zip(comps, new) for x, y in zip(c0, c1)) < EM_TOLERANCE:
            comps = new
            break
        comps = new
        log_dens = (np.log(np.maximum(w, 1e-300)) - special.betaln(a, b))[None, :] \
            + (a - 1)[None, :] * log_p[:, None] + (b - 1)[None, :] * log_q[:, None]
        resp = np.exp(log_dens - special.logsumexp(log_dens, axis=1, keepdims=True))
    total = sum(c[0] for c in comps)
    return tuple((wi / total, ai, bi) for wi, ai, bi in comps)


def _mixture_cdf(comps, p: np.ndarray) -> np.ndarray:
    return sum(w * special.betainc(a, b, p) for w, a, b in comps)


def analysis_priors(scenario) -> dict[str, tuple[tuple[float, float, float], ...]]:
    """Each arm's analysis prior as (w, a, b) components: its beta or mixture, or the robustified
    MAP prior from the scenario's [[historical]] trials (computed once per history and settings)."""
    out = {}
    for name in scenario.arm_names:
        prior = scenario.arm(name).analysis_prior
        out[name] = map_prior_of(scenario, name).components if prior.meta_analytic else prior.components
    return out


def map_prior_of(scenario, name: str) -> MapPrior:
    """Arm ``name``'s MAP prior (its analysis_prior must be meta-analytic)."""
    prior = scenario.arm(name).analysis_prior
    history = tuple((h.responders, h.n) for h in scenario.historical)
    return _cached(history, prior.heterogeneity_scale, prior.robust_weight)


@functools.lru_cache(maxsize=32)
def _cached(history: tuple[tuple[int, int], ...], scale: float, robust_weight: float) -> MapPrior:
    y, n = zip(*history)
    return map_prior(y, n, scale, robust_weight)
