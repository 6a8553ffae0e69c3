"""Decision rules: what a decision statistic decides at a look.

A rule maps the statistics of a block of trials (shape (trials, comparisons)) to a decision per
trial and comparison: :data:`CONTINUE`, :data:`REJECT` (stop for efficacy / success) or
:data:`FUTILITY`. At a trial's last look, anything but REJECT means H0 stands. The rules here:

* :class:`Level` (one look, each comparison on its own): p < alpha on the p-value scale, or a
  posterior probability above a threshold on that scale;
* :class:`Multiplicity` (one look, several comparisons with one control): Bonferroni or Holm
  over the comparisons' p-values (:func:`adjust_rejections`);
* the group-sequential rules of a design with interim looks (:class:`Sequential`: ``look(k,
  counts)`` at the interim looks and ``decide_final(statistic, reached, n_randomised)`` at the
  final one), on the score z (:class:`simulate.analysis.interim.Design`) or on the posterior
  probability of benefit with predictive-probability futility
  (:class:`simulate.analysis.bayes_looks.BayesianLooks`).

:func:`decision_rule` picks the rule of a fixed design from the scenario's ``[analysis]`` and the
scale of its analysis's statistic (:attr:`simulate.analysis.registry.Entry.statistic`), so a new
scale plugs in here without touching the callers. The engines read a design with interim looks
through :class:`Sequential` alone, so a group-sequential rule on another scale plugs in beside
:class:`~simulate.analysis.interim.Design` without touching them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from simulate.analysis.base import check_choice
from simulate.design.choices import MULTIPLICITY

CONTINUE, REJECT, FUTILITY = 0, 1, 2
"""What a rule decides for a trial and comparison at a look."""


def look_counts(fractions, n_target: int) -> tuple[int, ...]:
    """Patients with a determined endpoint that trigger each look of a design with interim
    looks at information ``fractions``: ceil(f N) (the final look: N)."""
    return tuple(min(n_target, max(1, math.ceil(f * n_target - 1e-9))) for f in fractions)


class Rule(Protocol):
    """What every decision rule offers."""

    def decide(self, statistic: np.ndarray, look: int = -1) -> np.ndarray:
        """int8 codes (:data:`CONTINUE`, :data:`REJECT`, :data:`FUTILITY`), shaped as ``statistic``."""


class Sequential(Rule, Protocol):
    """What the engines read of a design with interim looks: when its looks come, its statistic
    of the patients determined so far, and what it decides at each interim look
    (:meth:`Rule.decide`) and at the final one (:meth:`decide_final`)."""

    counts: tuple[int, ...]
    """Determined endpoints that trigger each planned look (the last: the final look)."""
    n_target: int
    """The patients the design plans to randomise."""
    lag_months: float
    """Months from an interim look's data cut to its decision."""

    @property
    def looks(self) -> int:
        """Planned looks, the final one included."""

    def statistic(self, x_c, n_c, x_t, n_t, patients=None) -> np.ndarray:
        """The decision statistic of each trial's counts (control and experimental arm), and
        its patients one by one where the analysis reads covariates."""

    def look(self, look: int, x_c, n_c, x_t, n_t, patients=None) -> tuple[np.ndarray, np.ndarray]:
        """Interim look ``look`` of each trial's counts: the statistic the engines record and the
        decision (a rule may read more of the counts than the statistic, e.g. a predictive
        probability)."""

    def final_bound(self, reached: int, n_randomised: int) -> float:
        """The final look's bound on the statistic's scale for a trial that held ``reached``
        interim looks and analyses ``n_randomised`` patients."""

    def decide_final(self, statistic, reached, n_randomised) -> np.ndarray:
        """int8 codes at the final look of trials that held ``reached`` interim looks and analyse
        ``n_randomised`` patients: :data:`REJECT`, or :data:`CONTINUE` where H0 stands."""


@dataclass(frozen=True)
class Level:
    """Reject where the statistic passes a fixed threshold: p < ``threshold`` on the p-value
    scale (strict), posterior probability > ``threshold`` on that scale."""

    threshold: float
    scale: str = "p_value"

    @classmethod
    def of(cls, alpha: float, scale: str = "p_value") -> "Level":
        """The rule of a test at level ``alpha``: p < alpha, or a posterior probability of
        benefit above 1 - alpha."""
        return cls(alpha if scale == "p_value" else 1.0 - alpha, scale)

    def rejects(self, statistic) -> np.ndarray:
        s = np.asarray(statistic)
        return s < self.threshold if self.scale == "p_value" else s > self.threshold

    def decide(self, statistic, look: int = -1) -> np.ndarray:
        return np.where(self.rejects(statistic), REJECT, CONTINUE).astype(np.int8)


@dataclass(frozen=True)
class Multiplicity:
    """Several comparisons with one control at a family-wise level ``alpha``
    (:func:`adjust_rejections`); the comparisons run along the last axis."""

    alpha: float
    method: str

    def rejects(self, statistic) -> np.ndarray:
        return adjust_rejections(statistic, self.alpha, self.method)

    def decide(self, statistic, look: int = -1) -> np.ndarray:
        return np.where(self.rejects(statistic), REJECT, CONTINUE).astype(np.int8)


def decision_rule(alpha: float, multiplicity: str, scale: str, n_comparisons: int,
                  threshold: float | None = None) -> Level | Multiplicity:
    """The rule of a design without interim looks: :class:`Multiplicity` for several
    comparisons adjusted for multiplicity (p-values only), else :class:`Level` (a posterior
    probability above ``threshold`` when one is given, else above 1 - alpha)."""
    check_choice(multiplicity, MULTIPLICITY, "multiplicity")
    if n_comparisons > 1 and multiplicity != "none":
        if scale != "p_value":
            raise ValueError(f"multiplicity {multiplicity!r} adjusts p-values; this analysis's statistic is a "
                             f"{scale.replace('_', ' ')}")
        return Multiplicity(alpha, multiplicity)
    if threshold is not None and scale != "p_value":
        return Level(threshold, scale)
    return Level.of(alpha, scale)


def adjust_rejections(p_values, alpha, method) -> np.ndarray:
    """Decisions for m comparisons per trial, from p-values of shape (trials, m) (any leading
    shape; the comparisons run along the last axis); returns booleans of the same shape.

    none: p < alpha each.  bonferroni: p < alpha / m.  holm (Holm 1979, Scand J Stat 6:65-70):
    with each trial's p-values sorted, p_(1) <= ... <= p_(m), the j-th smallest is rejected when
    p_(i) < alpha / (m - i + 1) for every i <= j (step-down; the first failure stops it).  Tied
    p-values get the same decision whatever their order.  Strict ``<`` throughout, as in
    :class:`Level`; statsmodels multipletests rejects at ``<=`` instead, which differs only for a
    p-value exactly on a threshold.  NaN never rejects (and stops Holm's steps).
    """
    check_choice(method, MULTIPLICITY, "multiplicity")
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
