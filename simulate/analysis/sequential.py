"""Group-sequential boundaries for a one-sided test on the z scale, by recursive integration.

**Model.** A trial looks at its data K times, at information fractions
0 < t_1 < ... < t_K <= 1 of its maximum information I_max. At look k it has the standardised
statistic Z_k (large when the treatment is better), whose joint distribution is the canonical
one (Jennison & Turnbull 2000, *Group Sequential Methods with Applications to Clinical Trials*,
section 3.1)::

    Z_k ~ N(drift sqrt(t_k), 1),   Cov(Z_j, Z_k) = sqrt(t_j / t_k) for t_j <= t_k,

where ``drift`` = theta sqrt(I_max) is the expected z at full information (0 under H0). That is
Z_k = B(t_k) / sqrt(t_k) for a Brownian motion B with drift ``drift``; the score S_k = B(t_k)
sqrt(I_max) has independent increments, which is what the recursion below uses.

**Boundaries.** The trial stops at the first look k with Z_k >= c_k (efficacy: reject
H0: theta <= 0) or Z_k < a_k (futility); at the last look there is no continuing, so a_K = c_K.
c_k = +inf means no efficacy stop at look k and a_k = -inf no futility stop.

**Spending** (Lan & DeMets 1983, Biometrika 70:659-663; Hwang, Shih & DeCani 1990, Stat Med
9:1439-1445): the cumulative error allowed by fraction t, for a one-sided level alpha (or beta,
for futility),

* ``obrien_fleming`` (O'Brien-Fleming type): alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t));
* ``pocock`` (Pocock type): alpha(t) = alpha ln(1 + (e - 1) t);
* ``hwang_shih_decani``: alpha(t) = alpha (1 - e^{-gamma t}) / (1 - e^{-gamma}) for gamma != 0,
  alpha t for gamma = 0 (gamma = -4 is close to O'Brien-Fleming, gamma = 1 to Pocock).

The efficacy bounds spend alpha under H0: P_0(first crossing of c at look k) =
alpha(t_k) - alpha(t_{k-1}), with the paths stopped by *binding* futility bounds removed, and
without them when the futility bounds are non-binding (which keeps the type I error at most
alpha whether or not the trial stops for futility). Futility bounds by beta-spending
(Pampallona, Tsiatis & Kim 2001, Stat Med 20:1135-1146; rpact's ``typeBetaSpending``) spend beta
under the design's drift: P_drift(first crossing of a at look k) = beta(t_k) - beta(t_{k-1}).
By default the last look spends whatever is left (cumulative alpha and beta there are alpha and
beta, whatever t_K is), so a trial that stops short at t_K < 1 still uses its whole alpha; with
``final_is_last=False`` it spends alpha(t_K), as for the bounds of the looks so far of a trial
that goes on.

**rpact's conventions**, which these functions follow: ``futilityBounds`` lists a_1..a_{K-1}
(a bound of -6 or below means none); beta-spending futility bounds count only the paths that
crossed neither bound before (under the alternative a trial stops for efficacy too), binding or
not; a beta-spending design's drift is the one at which the futility bounds, solved for look by
look, reach c_K at the last look, which is where the power is 1 - beta, and
getDesignCharacteristics' ``shift`` is drift^2 (``nFixed`` = (z_{1-alpha} + z_{1-beta})^2); with
binding futility c_1 stays the same and c_2..c_K are solved with the binding a's, alternately
with them, for each trial drift. getDesignCharacteristics' power, rejection and futility
probabilities and average sample numbers let the futility bounds stop the trial even when
they are non-binding, as :func:`crossing_probabilities` does.

**Recursive integration** (Armitage, McPherson & Rowe 1969, JRSS A 132:235-244; Jennison &
Turnbull 2000, ch. 19). Let f_k be the sub-density of Z_k on the paths still running at look k
(a_j < Z_j < c_j for j < k); f_1 is the N(drift sqrt(t_1), 1) density and, with
d_k = t_k - t_{k-1},::

    f_k(z) = int_{a_{k-1}}^{c_{k-1}} f_{k-1}(u) sqrt(t_k / d_k)
                 phi((z sqrt(t_k) - u sqrt(t_{k-1}) - drift d_k) / sqrt(d_k)) du,
    P(first crossing above c at k) = int f_{k-1}(u) Phi((u sqrt(t_{k-1}) + drift d_k - c sqrt(t_k)) / sqrt(d_k)) du,
    P(first crossing below a at k) = int f_{k-1}(u) Phi((a sqrt(t_k) - u sqrt(t_{k-1}) - drift d_k) / sqrt(d_k)) du.

(On the score scale this is the convolution of the running sub-density with the N(theta d I,
d I) increment; the z scale only rescales it.) f_k is carried as its values at quadrature nodes
(a Nystrom method): the continuation region, cut to drift sqrt(t_k) +- 9 (f_k lies below the
unstopped N(drift sqrt(t_k), 1) density, whose mass beyond 9 sd is 2e-19), is split into equal
panels with 16 Gauss-Legendre nodes each. f_k varies on the scale sqrt(d_k / t_k) (it is a
Gaussian smoothing of a truncated f_{k-1}) and the next step's kernel on the scale
sqrt(d_{k+1} / t_k), so a panel is twice the smaller of the two (errors above rounding appear
only from six times); f_k is smooth up to the ends of its region, where Gauss-Legendre needs no
special care. Each look then costs one (nodes x nodes) matrix of normal densities: 150 to 200
nodes for looks a fifth apart, at most 2,000 (32 MB). Looks closer than d / t = 0.002 get fewer
nodes than the rule asks for, which costs no accuracy down to d / t = 0.0005 but 3e-4 in the
bound at d / t = 0.00002, looks that no trial plans. Finer panels, more nodes and a
wider span change the boundaries by less than 1e-11 (tests/test_sequential.py): the error is that
of rounding. For comparison, Jennison & Turnbull's Simpson rule on 6r - 1 points spreading into
the tails is good to about 1e-6 with r = 16 (their p. 350; gsDesign uses r = 18), and rpact
integrates with a 7-point Newton-Cotes rule on 91 points between the bounds (cut at -6 and 8)
and solves for its bounds to 1e-8, so its bounds differ from these by up to 6e-8.

Each bound is a root of its crossing probability (Brent's method,
:func:`simulate.numerics.find_root`, to 1e-12 in z); since the density of the earlier looks does
not depend on the bound being solved for, one root costs a handful of dot products.

**Why written here.** No well-kept Python library computes these boundaries: the references are
the R packages rpact and gsDesign; scipy and statsmodels have none, and what PyPI offers
(gsdesign 0.1, gsmethods 0.0.2, earlysign 0.2 and the like at the time of writing) is small,
early and not validated against them. This module is written from the method above, not ported;
it imports numpy, scipy.special and :mod:`simulate.numerics` only, so that it loads in
milliseconds. tests/test_sequential.py checks it against rpact 3.3.4's getDesignGroupSequential
(bounds to 1e-7) and getDesignCharacteristics (probabilities to 1e-8), Monte Carlo paths, a
direct quadrature and Pocock's constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from simulate.analysis.spending import (
    SPENDING_FUNCTIONS,
    _check_alpha,
    _check_beta,
    _check_bounds,
    _check_fractions,
    _interim_futility,
    cumulative_spending,
    spending,
)
from simulate.numerics import find_root, legendre_rule

__all__ = [
    "SPENDING_FUNCTIONS",
    "CrossingProbabilities",
    "GroupSequentialDesign",
    "spending",
    "cumulative_spending",
    "efficacy_bounds",
    "beta_spending_futility",
    "beta_spending_design",
    "crossing_probabilities",
    "drift_for_power",
    "conditional_power",
]


_SPAN = 9.0            # half-width, in sd of the unstopped Z_k, of the region kept
_NODES = 16            # Gauss-Legendre nodes per panel
_PANEL = 2.0           # panel width over the narrower Gaussian scale of the step
_MAX_NODES = 2000      # one look's (nodes x nodes) matrix stays under 32 MB
_Z_RANGE = 50.0        # brackets for the roots: probabilities beyond +-50 are 0 in doubles
_XTOL = 1e-12
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ----------------------------------------------------------------------------- the recursion


@dataclass(frozen=True)
class _Running:
    """The paths still running after the look at fraction ``t``: Z there at nodes ``x``, with
    ``g`` = quadrature weight x sub-density. The start (t = 0) is a point mass at 0, so the
    first look goes through the same formulas as the others."""

    t: float
    x: np.ndarray
    g: np.ndarray


_START = _Running(0.0, np.zeros(1), np.ones(1))


def _gap(state: _Running, t: float, drift: float, bound: float) -> np.ndarray:
    """Standardised distance from each node's expected next value to ``bound``: Z_k >= bound
    exactly when the increment's standard normal part is at least this."""
    d = t - state.t
    return (bound * math.sqrt(t) - state.x * math.sqrt(state.t) - drift * d) / math.sqrt(d)


def _p_above(state: _Running, t: float, drift: float, bound: float) -> float:
    if bound == math.inf or state.g.size == 0:
        return 0.0
    if bound == -math.inf:
        return float(state.g.sum())
    return float(state.g @ special.ndtr(-_gap(state, t, drift, bound)))


def _p_below(state: _Running, t: float, drift: float, bound: float) -> float:
    if bound == -math.inf or state.g.size == 0:
        return 0.0
    if bound == math.inf:
        return float(state.g.sum())
    return float(state.g @ special.ndtr(_gap(state, t, drift, bound)))


def _advance(state: _Running, t: float, drift: float, lower: float, upper: float,
             t_next: float) -> _Running:
    """The paths still running after the look at ``t`` (lower < Z < upper there), given those
    running before it, on the nodes that the step to ``t_next`` needs."""
    mean = drift * math.sqrt(t)
    lo, hi = max(lower, mean - _SPAN), min(upper, mean + _SPAN)
    if hi <= lo or state.g.size == 0:
        return _Running(t, np.zeros(0), np.zeros(0))
    d = t - state.t
    scale = math.sqrt(min(d, t_next - t) / t)
    panels = max(1, min(math.ceil((hi - lo) / (_PANEL * scale)), _MAX_NODES // _NODES))
    x, w = legendre_rule(_NODES)
    half = 0.5 * (hi - lo) / panels
    centres = lo + half * (2 * np.arange(panels) + 1)
    nodes = (centres[:, None] + half * x).ravel()
    weights = np.tile(half * w, panels)
    arg = (nodes[:, None] * math.sqrt(t) - state.x * math.sqrt(state.t) - drift * d) / math.sqrt(d)
    density = (np.exp(-0.5 * arg * arg) @ state.g) * (_INV_SQRT_2PI * math.sqrt(t / d))
    return _Running(t, nodes, weights * density)


def _solve_upper(state: _Running, t: float, drift: float, target: float) -> float | None:
    """c with P(running before, Z >= c at t) = target: +inf for nothing to spend, None when the
    running paths hold less than ``target``."""
    if target <= 0:
        return math.inf
    if _p_above(state, t, drift, -_Z_RANGE) <= target:
        return None
    return find_root(lambda c: _p_above(state, t, drift, c) - target, -_Z_RANGE, _Z_RANGE,
                     xtol=_XTOL)


def _solve_lower(state: _Running, t: float, drift: float, target: float, cap: float) -> float:
    """a with P(running before, Z < a at t) = target, at most ``cap`` (the efficacy bound: when
    less than ``target`` lies below it, every path stops here): -inf for nothing to spend."""
    if target <= 0:
        return -math.inf
    top = min(cap, _Z_RANGE)
    if _p_below(state, t, drift, top) <= target:
        return cap
    return find_root(lambda a: _p_below(state, t, drift, a) - target, -_Z_RANGE, top, xtol=_XTOL)


def _forward(t: np.ndarray, upper: np.ndarray, lower: np.ndarray, drift: float):
    """Per look the probabilities of first crossing above ``upper`` and below ``lower``
    (lower[-1] = upper[-1]: the trial ends at the last look)."""
    state, up, down = _START, [], []
    for k, tk in enumerate(t):
        up.append(_p_above(state, tk, drift, upper[k]))
        down.append(_p_below(state, tk, drift, min(lower[k], upper[k])))
        if k + 1 < t.size:
            state = _advance(state, tk, drift, lower[k], upper[k], t[k + 1])
    return np.array(up), np.array(down)


# ----------------------------------------------------------------------------- boundaries


def efficacy_bounds(fractions, alpha: float, spending: str, gamma: float | None = None,
                    futility=None, binding: bool = False, final_is_last: bool = True) -> np.ndarray:
    """Upper z bounds c_1..c_K with P_0(first crossing of c at look k) = alpha(t_k) -
    alpha(t_{k-1}) for the spending function ``spending`` (a name of
    :data:`SPENDING_FUNCTIONS`, ``gamma`` for Hwang-Shih-DeCani).

    ``futility``: lower bounds a_1..a_{K-1} (or a_1..a_K with a_K = c_K; -inf for none at a
    look). With ``binding`` the paths they stop are no longer at risk of crossing c, which lowers
    the later c; without it they are ignored (non-binding). ``final_is_last``: the last look
    spends all of alpha (see the module docstring). A look with nothing to spend gets +inf.
    rpact: getDesignGroupSequential(sided = 1, typeOfDesign = "asOF" / "asP" / "asHSD",
    informationRates = fractions, futilityBounds = ..., bindingFutility = ...)$criticalValues.
    """
    t = _check_fractions(fractions)
    alpha = _check_alpha(alpha)
    spent = cumulative_spending(t, alpha, spending, gamma, final_is_last)
    lower = np.full(t.size, -np.inf)
    if futility is not None:
        a = np.asarray(futility, dtype=float)
        if a.ndim != 1 or a.size not in (t.size - 1, t.size):
            raise ValueError(f"futility needs a bound for each of the first {t.size - 1} looks "
                             f"(or for all {t.size}), got {futility!r}")
        a = _check_bounds(a[: t.size - 1], t.size - 1, "futility", -np.inf)
        if binding:
            lower[:-1] = a
    state, bounds, before = _START, [], 0.0
    for k, tk in enumerate(t):
        c = _solve_upper(state, tk, 0.0, spent[k] - before)
        if c is None:
            raise ValueError(f"look {k + 1}: the binding futility bounds {lower[:k].tolist()} "
                             f"leave less than the {spent[k] - before:.3g} of alpha to spend")
        if k + 1 < t.size and lower[k] >= c:
            raise ValueError(f"look {k + 1}: the futility bound {lower[k]} is not below the "
                             f"efficacy bound {c}; every trial would stop there")
        bounds.append(c)
        before = spent[k]
        if k + 1 < t.size:
            state = _advance(state, tk, 0.0, lower[k], c, t[k + 1])
    return np.array(bounds)


def _futility_pass(t: np.ndarray, efficacy: np.ndarray, spent: np.ndarray, drift: float,
                   last: int):
    """Futility bounds a_1..a_last by beta-spending under ``drift``, and the paths running
    after look ``last``."""
    state, bounds, before = _START, [], 0.0
    for k in range(last):
        a = _solve_lower(state, t[k], drift, spent[k] - before, efficacy[k])
        bounds.append(a)
        before = spent[k]
        if k + 1 < t.size:
            state = _advance(state, t[k], drift, a, efficacy[k], t[k + 1])
    return np.array(bounds), state


def beta_spending_futility(fractions, efficacy, beta: float, drift: float, spending: str,
                           gamma: float | None = None, final_is_last: bool = True) -> np.ndarray:
    """Lower z bounds a_1..a_K by beta-spending: P_drift(first crossing below a at look k) =
    beta(t_k) - beta(t_{k-1}), the paths counted being those between a_j and c_j at every
    earlier look (a trial under the alternative stops for efficacy too). ``drift`` is the
    expected z at full information under the alternative, theta sqrt(I_max).

    With ``final_is_last`` (the default) a_K = c_K: the last look ends the trial, and the beta
    actually spent by then equals ``beta`` only at the drift that gives power 1 - beta
    (:func:`beta_spending_design` finds it, as rpact does). Without it a_K also spends
    beta(t_K), as for the looks so far of a trial that goes on. A bound that would exceed its
    efficacy bound is set equal to it (every running path stops there).

    A binding design's efficacy bounds depend on these bounds and these on the drift, so a
    binding beta-spending design is computed as a whole by :func:`beta_spending_design`.
    """
    t = _check_fractions(fractions)
    c = _check_bounds(efficacy, t.size, "efficacy", np.inf)
    if not 0 < beta < 1:
        raise ValueError(f"beta must lie in (0, 1), got {beta!r}")
    if not math.isfinite(drift):
        raise ValueError(f"drift must be a finite number, got {drift!r}")
    spent = cumulative_spending(t, beta, spending, gamma, final_is_last=False)
    if final_is_last:
        bounds, _ = _futility_pass(t, c, spent, float(drift), t.size - 1)
        return np.append(bounds, c[-1])
    bounds, _ = _futility_pass(t, c, spent, float(drift), t.size)
    return bounds


@dataclass(frozen=True)
class GroupSequentialDesign:
    """A one-sided design with efficacy and beta-spending futility bounds.

    ``futility[-1] == efficacy[-1]``; ``drift`` (theta sqrt(I_max)) is the one at which the
    power is 1 - beta: rpact's sqrt(getDesignCharacteristics(design)$shift). The maximum
    information is (drift / theta)^2, which is drift^2 / (z_{1-alpha} + z_{1-beta})^2 (rpact's
    inflationFactor) times that of the single-look design with the same alpha and power."""

    fractions: tuple[float, ...]
    efficacy: tuple[float, ...]
    futility: tuple[float, ...]
    drift: float
    alpha: float
    beta: float
    binding: bool

    def __iter__(self):
        """``efficacy, futility = design``: the two bounds as arrays."""
        return iter((np.array(self.efficacy), np.array(self.futility)))


def beta_spending_design(fractions, alpha: float, beta: float, spending: str,
                         gamma: float | None = None, binding: bool = False,
                         beta_spending: str | None = None,
                         beta_gamma: float | None = None) -> GroupSequentialDesign:
    """Efficacy bounds by alpha-spending (``spending``, ``gamma``) and futility bounds by
    beta-spending (``beta_spending``, ``beta_gamma``; by default the same function and gamma),
    at the drift where they meet at the last look (a_K = c_K), which is where the power is
    exactly 1 - beta.

    Non-binding: c from :func:`efficacy_bounds` without futility, then the drift solved for with
    the futility bounds of :func:`beta_spending_futility`. Binding: for each trial drift the
    bounds are built look by look, c_k under H0 given the binding a_1..a_{k-1}, then a_k under
    the drift; the drift is solved for in the same way. Both as rpact's
    getDesignGroupSequential(sided = 1, typeOfDesign = ..., typeBetaSpending = ...,
    bindingFutility = ...), whose ``futilityBounds`` are a_1..a_{K-1}.
    """
    t = _check_fractions(fractions)
    alpha = _check_alpha(alpha)
    beta = _check_beta(beta, alpha)
    if beta_spending is None:
        beta_spending, beta_gamma = spending, gamma if beta_gamma is None else beta_gamma
    alpha_spent = cumulative_spending(t, alpha, spending, gamma)
    beta_spent = cumulative_spending(t, beta, beta_spending, beta_gamma)
    last_share = beta - (beta_spent[-2] if t.size > 1 else 0.0)
    fixed = efficacy_bounds(t, alpha, spending, gamma) if not binding else None

    def build(drift: float):
        """(efficacy, futility, excess): excess > 0 when the drift is too small."""
        if not binding:
            a, state = _futility_pass(t, fixed, beta_spent, drift, t.size - 1)
            c = fixed
        else:
            h0, h1, c, a, before_a, before_b = _START, _START, [], [], 0.0, 0.0
            for k, tk in enumerate(t):
                ck = _solve_upper(h0, tk, 0.0, alpha_spent[k] - before_a)
                if ck is None:
                    # binding futility bounds so high that alpha cannot be spent: they come
                    # from too large a drift
                    return None, None, -last_share
                c.append(ck)
                before_a = alpha_spent[k]
                if k + 1 == t.size:
                    break
                ak = _solve_lower(h1, tk, drift, beta_spent[k] - before_b, ck)
                a.append(ak)
                before_b = beta_spent[k]
                h0 = _advance(h0, tk, 0.0, ak, ck, t[k + 1])
                h1 = _advance(h1, tk, drift, ak, ck, t[k + 1])
            c, a, state = np.array(c), np.array(a), h1
        # the chance of reaching the last look and missing c_K, against what beta has left
        return c, a, _p_below(state, t[-1], drift, c[-1]) - last_share

    # the power at drift 0 is at most alpha < 1 - beta; the upper end doubles until too big
    upper = 2.0 * float(special.ndtri(1 - alpha) + special.ndtri(1 - beta))
    for _ in range(10):
        if build(upper)[2] < 0:
            break
        upper *= 2.0
    else:
        raise ValueError(f"no drift up to {upper:g} gives power 1 - beta")
    drift = find_root(lambda d: build(d)[2], 0.0, upper, xtol=_XTOL)
    c, a, _ = build(drift)
    return GroupSequentialDesign(
        fractions=tuple(float(v) for v in t),
        efficacy=tuple(float(v) for v in c),
        futility=tuple(float(v) for v in a) + (float(c[-1]),),
        drift=float(drift), alpha=alpha, beta=beta, binding=bool(binding))


# ----------------------------------------------------------------------------- operating characteristics


@dataclass(frozen=True)
class CrossingProbabilities:
    """Per look, the chance that the trial stops there by crossing the efficacy bound
    (``efficacy``) or the futility bound (``futility``; at the last look: ending without
    crossing the efficacy bound). ``power`` = sum(efficacy) (the type I error at drift 0);
    ``expected_fraction``: the expected information at stopping over I_max, sum t_k P(stop at k)
    (rpact's averageSampleNumber times nFixed / shift)."""

    efficacy: tuple[float, ...]
    futility: tuple[float, ...]
    power: float
    expected_fraction: float


def crossing_probabilities(efficacy, futility, fractions, drift: float) -> CrossingProbabilities:
    """First-crossing probabilities of the bounds ``efficacy`` (c_1..c_K, +inf for no efficacy
    stop) and ``futility`` (a_1..a_{K-1}, or a_1..a_K with a_K = c_K; None or -inf for none) at
    information ``fractions`` when the expected z at full information is ``drift``. The
    futility bounds count as binding here: a trial stops when it crosses them."""
    t = _check_fractions(fractions)
    c = _check_bounds(efficacy, t.size, "efficacy", np.inf)
    if not math.isfinite(drift):
        raise ValueError(f"drift must be a finite number, got {drift!r}")
    a = _interim_futility(futility, c)
    up, down = _forward(t, c, a, float(drift))
    return CrossingProbabilities(
        efficacy=tuple(float(v) for v in up), futility=tuple(float(v) for v in down),
        power=float(up.sum()), expected_fraction=float(t @ (up + down)))


def drift_for_power(efficacy, futility, fractions, power: float) -> float:
    """The drift (theta sqrt(I_max)) at which the bounds give ``power``: rpact's
    sqrt(getDesignCharacteristics(design)$shift) for power 1 - beta."""
    t = _check_fractions(fractions)
    c = _check_bounds(efficacy, t.size, "efficacy", np.inf)
    a = _interim_futility(futility, c)
    size = float(_forward(t, c, a, 0.0)[0].sum())
    if not size < power < 1:
        raise ValueError(f"power must lie between the type I error ({size:.4g}) and 1, "
                         f"got {power!r}")

    def shortfall(drift: float) -> float:
        return float(_forward(t, c, a, drift)[0].sum()) - power

    upper = 1.0
    while shortfall(upper) < 0:
        upper *= 2.0
        if upper > 1e3:
            raise ValueError(f"no drift up to 1000 reaches power {power}")
    return find_root(shortfall, 0.0, upper, xtol=_XTOL)


def conditional_power(z, t, final_bound, drift):
    """The chance of ending above ``final_bound`` (c_K, at full information) given z = ``z`` at
    fraction ``t`` in [0, 1), when the expected z at full information is ``drift``::

        CP = 1 - Phi((c_K - z sqrt(t) - drift (1 - t)) / sqrt(1 - t)),

    since B(1) - B(t) ~ N(drift (1 - t), 1 - t) is independent of B(t) = z sqrt(t) (Lan, Simon &
    Halperin 1982). Interim looks between t and 1 are not accounted for. Arguments broadcast;
    drift = z / sqrt(t) is the "current trend" and drift = theta sqrt(I_max) the design's."""
    z, t, c, d = (np.asarray(v, dtype=float) for v in (z, t, final_bound, drift))
    if np.any(~(t >= 0)) or np.any(~(t < 1)):
        raise ValueError(f"t must lie in [0, 1), got {t.tolist()}")
    out = special.ndtr((z * np.sqrt(t) + d * (1 - t) - c) / np.sqrt(1 - t))
    return float(out) if out.ndim == 0 else out
