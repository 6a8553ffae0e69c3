"""Two numerical tools the set-up of every run needs: a bracketed root and a 1-D integral.

scipy.optimize.brentq and scipy.integrate.quad do both jobs well, but importing those two
packages costs about 0.2 s, which every ``trialsim power`` would pay before its first trial
for two scalar roots and two smooth integrals. These are written here for that reason only, in
a few lines each, and tested against scipy's (tests/test_numerics.py):

* :func:`find_root`: Brent's method (inverse quadratic interpolation, secant, bisection),
  as in Brent (1973), *Algorithms for Minimization without Derivatives*, ch. 4;
* :func:`integrate`: adaptive Gauss-Legendre quadrature (nodes and weights from
  :func:`numpy.polynomial.legendre.leggauss`) with a vectorised integrand, splitting at the
  given break points (kinks) and bisecting the pieces whose two halves disagree with the whole
  by more than their share of the tolerance, until the disagreements add up to less than it.
* :func:`gauss_legendre`: the same rule's nodes and weights on one interval, for a fixed-order
  product rule over an inner integral whose limits move with the outer variable (one row of
  nodes per outer node), which :func:`integrate` (one interval at a time) cannot take.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np

__all__ = ["find_root", "gauss_legendre", "integrate", "legendre_rule", "NumericsError"]

_EPS = np.finfo(float).eps


class NumericsError(ArithmeticError):
    """A root that is not bracketed, or an integral that does not converge."""


def find_root(f: Callable[[float], float], lo: float, hi: float, xtol: float = 1e-12,
              max_iterations: int = 200) -> float:
    """A root of ``f`` in [lo, hi], where f(lo) and f(hi) differ in sign, to within
    ``xtol + 4 eps |x|``."""
    a, b = float(lo), float(hi)
    fa, fb = float(f(a)), float(f(b))
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    if (fa > 0) == (fb > 0):
        raise NumericsError(f"find_root: f({a}) = {fa} and f({b}) = {fb} have the same sign")
    c, fc = a, fa
    d = e = b - a
    for _ in range(max_iterations):
        if (fb > 0) == (fc > 0):              # keep the root between b and c
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):                 # b is the best guess so far
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 2.0 * _EPS * abs(b) + 0.5 * xtol
        m = 0.5 * (c - b)
        if abs(m) <= tol or fb == 0.0:
            return b
        if abs(e) >= tol and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:                        # secant
                p, q = 2.0 * m * s, 1.0 - s
            else:                             # inverse quadratic interpolation
                q, r = fa / fc, fb / fc
                p = s * (2.0 * m * q * (q - r) - (b - a) * (r - 1.0))
                q = (q - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0:
                q = -q
            p = abs(p)
            if 2.0 * p < min(3.0 * m * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q               # interpolation accepted
            else:
                d = e = m                     # bisection
        else:
            d = e = m
        a, fa = b, fb
        b += d if abs(d) > tol else math.copysign(tol, m)
        fb = float(f(b))
    raise NumericsError(f"find_root: no convergence in {max_iterations} iterations on [{lo}, {hi}]")


@lru_cache(maxsize=8)
def legendre_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``nodes``-point Gauss-Legendre nodes and weights on [-1, 1] (read-only, computed once):
    the one rule every integral of trialsim is built from."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def gauss_legendre(lo, hi, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``nodes``-point Gauss-Legendre rule on [lo, hi], exact for
    polynomials of degree up to 2 nodes - 1. ``lo`` and ``hi`` may be arrays (broadcast
    together): one row of nodes and weights per element, so an inner integral with a lower limit
    per outer node is one weighted sum along the last axis."""
    x, w = legendre_rule(nodes)
    lo = np.asarray(lo, dtype=float)[..., None]
    half = 0.5 * (np.asarray(hi, dtype=float)[..., None] - lo)
    return lo + half * (x + 1.0), half * w


def integrate(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, points: tuple[float, ...] = (),
              epsabs: float = 1e-13, epsrel: float = 1e-12, nodes: int = 32, max_depth: int = 60) -> float:
    """The integral of ``f`` (vectorised: an array of x in, an array of f(x) out) over
    [lo, hi], split at ``points`` (where f has kinks) and refined until the pieces' error
    estimates (their two halves against the whole) add up to at most
    ``max(epsabs, epsrel * |integral|)``; an endpoint where f is continuous but not smooth
    (e.g. like the cube root of x) costs a few dozen bisections of the piece next to it."""
    x, w = legendre_rule(nodes)
    width = hi - lo
    if width <= 0:
        return 0.0
    cuts = [lo, *sorted(p for p in points if lo < p < hi), hi]

    def rule(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        half = 0.5 * (b - a)
        values = f((a + half)[:, None] + half[:, None] * x)
        return half * (values @ w)

    a, b = np.array(cuts[:-1], dtype=float), np.array(cuts[1:], dtype=float)
    whole = rule(a, b)
    total = error = 0.0
    for _ in range(max_depth):
        mid = 0.5 * (a + b)
        left, right = rule(a, mid), rule(mid, b)
        refined = left + right
        gap = np.abs(refined - whole)
        tol = max(epsabs, epsrel * abs(total + refined.sum()))
        if error + gap.sum() <= tol:          # all that is left is within the tolerance
            return total + float(refined.sum())
        done = gap <= tol * (b - a) / width   # this piece's share of the tolerance
        total += float(refined[done].sum())
        error += float(gap[done].sum())
        keep = ~done
        a = np.concatenate([a[keep], mid[keep]])
        b = np.concatenate([mid[keep], b[keep]])
        whole = np.concatenate([left[keep], right[keep]])
    raise NumericsError(f"integrate: no convergence on [{lo}, {hi}] in {max_depth} bisections")
