"""The bins of the lab's histograms: the estimated differences (a whole number of 1/n steps
wide, so that the estimates of n-patient arms fall evenly into them) and the p-values (alpha as
an edge, so that a bar is all significant trials or all others)."""

from __future__ import annotations

import math

import numpy as np

P_BINS = 20
"""About this many bins in the p-value histogram on [0, 1]."""
P_MAX_BINS = 40
"""At most this many bins of width alpha (alpha down to 0.025); below, [0, alpha] is one bin and
the rest of [0, 1] is cut into :data:`P_BINS` - 1."""


def p_value_edges(alpha: float) -> np.ndarray:
    """Bin edges of the p-value histogram with alpha as an edge, so that a bin holds only
    significant trials or only others: bins of width alpha where there are at most
    :data:`P_MAX_BINS` of them, else [0, alpha] and equal bins above it."""
    k = 1.0 / alpha
    if k <= P_MAX_BINS:
        edges = np.arange(0.0, 1.0, alpha)
        return np.append(edges[edges < 1.0 - 1e-12], 1.0)
    return np.concatenate([[0.0], np.linspace(alpha, 1.0, P_BINS)])
ESTIMATE_BIN = 0.025
"""About this wide, the bins of the estimated difference (a whole number of 1/n steps)."""


def estimate_edges(n_per_arm: int) -> np.ndarray:
    """Bin edges on [-1, 1] centred on multiples of a whole number of 1/n steps, so that the
    estimates of n-patient arms (multiples of 1/n) fall evenly into them."""
    step = 1.0 / n_per_arm
    width = step * max(1, round(ESTIMATE_BIN / step))
    m = math.ceil(1.0 / width)
    return (np.arange(-m, m + 2) - 0.5) * width
