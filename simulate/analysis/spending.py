"""Spending functions of a group-sequential design, and the checks of its arguments.

The cumulative error allowed by information fraction t, for a one-sided level alpha (or beta,
for futility), by the formulas of :mod:`simulate.analysis.sequential` (Lan & DeMets 1983;
Hwang, Shih & DeCani 1990).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

SPENDING_FUNCTIONS = ("obrien_fleming", "pocock", "hwang_shih_decani")


# ----------------------------------------------------------------------------- checks


def _check_fractions(fractions) -> np.ndarray:
    t = np.asarray(fractions, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"fractions must be a non-empty 1-D sequence, got {fractions!r}")
    if not np.all(np.isfinite(t)) or t[0] <= 0 or t[-1] > 1:
        raise ValueError(f"information fractions must lie in (0, 1], got {t.tolist()}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"information fractions must be strictly increasing, got {t.tolist()}")
    return t


def _check_alpha(alpha) -> float:
    if not 0 < alpha < 0.5:
        raise ValueError(f"one-sided alpha must lie in (0, 0.5), got {alpha!r}")
    return float(alpha)


def _check_beta(beta, alpha) -> float:
    if not 0 < beta < 1 - alpha:
        raise ValueError(f"beta must lie in (0, 1 - alpha) = (0, {1 - alpha}), got {beta!r}")
    return float(beta)


def _check_name(name, gamma) -> None:
    if name not in SPENDING_FUNCTIONS:
        raise ValueError(f"unknown spending function {name!r}; choose one of "
                         f"{', '.join(SPENDING_FUNCTIONS)}")
    if name == "hwang_shih_decani":
        if gamma is None or not math.isfinite(gamma):
            raise ValueError(f"spending 'hwang_shih_decani' needs a finite gamma, got {gamma!r}")
        if not -40 <= gamma <= 40:       # e^{-gamma} stays far from overflow (rpact: -10..5)
            raise ValueError(f"gamma must lie in [-40, 40], got {gamma!r}")
    elif gamma is not None:
        raise ValueError(f"gamma applies to 'hwang_shih_decani' only, not to {name!r}")


def _check_bounds(values, k: int, what: str, allowed_infinity: float) -> np.ndarray:
    b = np.asarray(values, dtype=float)
    if b.ndim != 1 or b.size != k:
        raise ValueError(f"{what} needs one bound per look ({k}), got {values!r}")
    bad = np.isnan(b) | (np.isinf(b) & (b != allowed_infinity))
    if np.any(bad):
        raise ValueError(f"{what} bounds must be numbers (or {allowed_infinity} for none), "
                         f"got {b.tolist()}")
    return b


def _interim_futility(futility, efficacy: np.ndarray) -> np.ndarray:
    """The futility bounds of looks 1..K-1 followed by c_K: ``futility`` may list the interim
    looks only or every look, its last then equal to the last efficacy bound (a_K = c_K)."""
    k = efficacy.size
    if futility is None:
        return np.concatenate([np.full(k - 1, -np.inf), efficacy[-1:]])
    a = np.asarray(futility, dtype=float)
    if a.ndim != 1 or a.size not in (k - 1, k):
        raise ValueError(f"futility needs a bound for each of the first {k - 1} looks (or for "
                         f"all {k}), got {futility!r}")
    if a.size == k:
        if not abs(a[-1] - efficacy[-1]) <= 1e-6:
            raise ValueError(f"the last look's futility bound ({a[-1]}) must equal its efficacy "
                             f"bound ({efficacy[-1]}): the trial ends there")
        a = a[:-1]
    a = _check_bounds(a, k - 1, "futility", -np.inf)
    if np.any(a > efficacy[:-1]):
        raise ValueError(f"futility bounds {a.tolist()} exceed efficacy bounds "
                         f"{efficacy[:-1].tolist()} at an interim look")
    return np.concatenate([a, efficacy[-1:]])


# ----------------------------------------------------------------------------- spending


def spending(name: str, t, alpha: float, gamma: float | None = None):
    """The cumulative error spent by information fraction ``t`` (scalar or array in [0, 1]) for
    a one-sided level ``alpha`` (alpha for efficacy, beta for futility, in (0, 1)), by the
    formulas of the module docstring; rpact's "asOF"/"bsOF", "asP"/"bsP" and "asHSD"/"bsHSD"
    (gammaA/gammaB = ``gamma``) with sided = 1."""
    _check_name(name, gamma)
    if not 0 < alpha < 1:
        raise ValueError(f"the level to spend must lie in (0, 1), got {alpha!r}")
    x = np.asarray(t, dtype=float)
    if np.any(~np.isfinite(x)) or np.any(x < 0) or np.any(x > 1):
        raise ValueError(f"information fractions must lie in [0, 1], got {t!r}")
    if name == "obrien_fleming":
        # 2 Phi(-z_{1-a/2} / sqrt t), written with ndtri(a/2) = -z_{1-a/2} to keep the tail exact
        with np.errstate(divide="ignore"):
            out = np.where(x > 0, 2.0 * special.ndtr(special.ndtri(alpha / 2) / np.sqrt(x)), 0.0)
    elif name == "pocock":
        out = alpha * np.log1p((math.e - 1.0) * x)
    elif gamma == 0:
        out = alpha * x
    else:
        out = alpha * np.expm1(-gamma * x) / math.expm1(-gamma)
    return float(out) if out.ndim == 0 else out


def cumulative_spending(fractions, level: float, name: str, gamma: float | None = None,
                        final_is_last: bool = True) -> np.ndarray:
    """:func:`spending` at each look, the last look spending all of ``level`` when
    ``final_is_last`` (a trial's final analysis, at whatever fraction it happens)."""
    t = _check_fractions(fractions)
    spent = np.asarray(spending(name, t, level, gamma), dtype=float).copy()
    if final_is_last:
        spent[-1] = level
    return spent
