"""What every registered analysis takes and returns, and the checks they share.

An analysis is a function ``evaluate(data: TwoArms, setting: Setting) -> Estimates``, vectorised
over the trials of a block. :class:`TwoArms` holds the counts of one comparison (responders and
analysed patients of the control and of the experimental arm, one element per trial, and per
stratum when the randomisation is stratified); :class:`Setting` says what is tested and at what
confidence the interval is drawn; :class:`Estimates` is the answer: the estimate (treatment minus
control), its two-sided interval and the decision statistic on the analysis's own scale
(:attr:`simulate.analysis.registry.Entry.statistic`).

The 2x2 table of a trial is, in scipy's orientation::

    [[x_t, n_t - x_t],     row 0: treatment
     [x_c, n_c - x_c]]     row 1: control;  column 0: responders

and ``alternative="greater"`` is the one-sided hypothesis "treatment rate > control rate".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simulate.analysis import registry
from simulate.design.choices import ALTERNATIVES

CI_METHODS = ("newcombe", "wald")
"""Intervals of a risk difference for analyses without one of their own
(:func:`simulate.analysis.intervals.risk_difference`)."""

def check_choice(value, allowed, what):
    """A ValueError naming ``value`` and what is allowed, unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(map(repr, allowed))}")


def as_counts(x_c, n_c, x_t, n_t):
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


def takes_margin(test: str | registry.Entry) -> bool:
    """Whether ``test`` (an id or a registered :class:`~simulate.analysis.registry.Entry`) tests
    non-inferiority (and so takes a margin)."""
    return "non_inferiority" in registry.get(test).hypotheses


def check_margin(test, alternative, margin, one_sided_only=True):
    """A margin belongs to a non-inferiority test alone, lies in [0, 1), and (unless
    ``one_sided_only`` is False) comes with an alternative the test allows."""
    if not np.isscalar(margin) or not np.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")
    entry = registry.get(test)
    if not takes_margin(entry):
        if margin != 0:
            users = [e.name for e in registry.entries() if "non_inferiority" in e.hypotheses]
            raise ValueError(f"a margin is only used by test {' or '.join(map(repr, users))}; test {entry.name!r} "
                             f"needs margin=0, got {margin!r}")
        return
    if not 0 <= margin < 1:
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    if one_sided_only and alternative not in entry.alternatives:
        raise ValueError(f"test {entry.name!r} is one-sided: alternative must be "
                         f"{' or '.join(map(repr, entry.alternatives))}, got {alternative!r}")


@dataclass(frozen=True)
class TwoArms:
    """One comparison's counts over a block of trials: (trials,) totals, and with stratified
    counts ``strata`` = (x_c, n_c, x_t, n_t) of shape (trials, strata); ``patients``: the
    comparison's patients one by one (:class:`simulate.analysis.visit_imputation.VisitData`)
    when the analysis imputes missing endpoints, else None."""

    x_c: np.ndarray
    n_c: np.ndarray
    x_t: np.ndarray
    n_t: np.ndarray
    strata: tuple[np.ndarray, ...] | None = None
    patients: Any = None

    @classmethod
    def of(cls, x_c, n_c, x_t, n_t, strata=None) -> "TwoArms":
        """Checked counts; ``strata`` 2-D when given."""
        if strata is not None:
            strata = as_counts(*strata)
            if strata[0].ndim != 2:
                raise ValueError(f"stratified counts must be 2-D (trials, strata), got {strata[0].ndim}-D")
        return cls(*as_counts(x_c, n_c, x_t, n_t), strata=strata)

    @classmethod
    def stratified(cls, x_c, n_c, x_t, n_t) -> "TwoArms":
        """From (trials, strata) counts; the totals are their sums over strata."""
        strata = as_counts(x_c, n_c, x_t, n_t)
        return cls(*(a.sum(axis=1) for a in strata), strata=strata)


@dataclass(frozen=True)
class Imputation:
    """How missing endpoints are imputed: ``method`` mar (from the patient's own arm) or j2r
    (jump to reference), with ``imputations`` completed data sets."""

    method: str
    imputations: int


@dataclass(frozen=True)
class Setting:
    """What an analysis tests and how wide its interval is."""

    alternative: str = "two-sided"
    margin: float = 0.0
    """Non-inferiority margin on the risk difference (H0: p_t - p_c <= -margin); 0 otherwise."""
    confidence: float | None = 0.95
    """Two-sided confidence of the interval (1 - 2 alpha for a one-sided test, so that its lower
    limit is the matching one-sided bound); None when only the statistic is wanted (exact
    enumeration over every table), and the estimate and interval may then be None."""
    ci_method: str = "newcombe"
    """The interval of the risk difference where the analysis has no interval of its own:
    ``newcombe`` or ``wald`` (:func:`simulate.analysis.intervals.risk_difference`)."""
    imputation: Imputation | None = None
    """Multiple imputation of missing endpoints (``analysis.missing`` = mi_mar or mi_j2r), for
    the analyses that take it; None otherwise."""
    priors: tuple | None = None
    """(control's, experimental's) analysis priors, each an array (components, 3) of (w, a, b),
    for a Bayesian analysis; None: Beta(1, 1) each."""
    adjustment_variance: str = "model_robust"
    """A g-computation's variance: model_robust or delta_method (:mod:`simulate.analysis.adjusted`)."""

    def __post_init__(self) -> None:
        check_choice(self.alternative, ALTERNATIVES, "alternative")
        if self.confidence is not None and not 0 < self.confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {self.confidence!r}")

    @classmethod
    def at_level(cls, alpha: float, alternative: str = "two-sided", margin: float = 0.0,
                 ci_method: str = "newcombe", imputation: Imputation | None = None,
                 priors: tuple | None = None, adjustment_variance: str = "model_robust") -> "Setting":
        """The setting of a test at level ``alpha``: its interval two-sided at 1 - alpha, or at
        1 - 2 alpha for "greater"."""
        confidence = 1 - alpha if alternative == "two-sided" else 1 - 2 * alpha
        return cls(alternative, margin, confidence, ci_method, imputation, priors, adjustment_variance)


@dataclass(frozen=True)
class Estimates:
    """An analysis's answer for each trial of a block."""

    estimate: np.ndarray | None
    """The risk difference, treatment minus control (NaN where an arm is empty)."""
    ci_low: np.ndarray | None
    ci_high: np.ndarray | None
    statistic: np.ndarray
    """The decision statistic on the analysis's scale (a p-value: 1.0 where the table carries
    no evidence, never NaN)."""
