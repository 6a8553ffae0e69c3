"""The interim looks of a Bayesian design: posterior-probability efficacy, predictive-probability
futility.

A scenario with ``analysis.framework = "bayesian"`` and ``[interim]`` looks holds its looks in
calendar time exactly as a frequentist group-sequential design does (:mod:`simulate.analysis.interim`:
look k when ``ceil(f_k N)`` endpoints are determined, the decision lag, the overrun). What a
look decides is read on the posterior scale instead of the z scale:

* **efficacy**: the posterior probability of benefit, P(p_t - p_c > -margin | data), above
  ``interim.efficacy_threshold`` (unset: ``analysis.success_threshold``) stops the trial;
* **futility** (``interim.futility = "predictive_probability"``): the predictive probability
  that the final analysis of the planned patients succeeds, given the look's data, below
  ``interim.futility_threshold`` stops it (:func:`simulate.analysis.predictive.predictive_probability`);
* **the final analysis** succeeds when the posterior probability exceeds
  ``analysis.success_threshold``, whatever looks came before: a Bayesian rule spends no alpha,
  so its frequentist type I error is whatever the looks make it, which
  ``trialsim calibrate`` measures and controls by moving the thresholds.

The design is a :class:`simulate.analysis.rules.Sequential` rule, so the engines read it as
they read the z-scale one: ``look(k, counts)`` gives the statistic they record and the
decision, ``decide_final`` the final one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulate.analysis import registry, rules
from simulate.analysis.base import Setting, TwoArms
from simulate.design import scenario as sc

__all__ = ["BayesianLooks", "design_of", "final_counts"]


@dataclass(frozen=True, eq=False)
class BayesianLooks:
    """A Bayesian design's looks and their decisions (module docstring)."""

    fractions: tuple[float, ...]
    """Planned information fractions of the looks (the last is 1)."""
    counts: tuple[int, ...]
    """Determined endpoints that trigger each look."""
    n_target: int
    efficacy: np.ndarray
    """The posterior probability above which each look stops for efficacy (the last: the final
    analysis's success threshold)."""
    success_threshold: float
    futility_below: float | None
    """Stop for futility when the predictive probability of success is below this; None: never."""
    final_counts: tuple[int, int]
    """(control's, experimental's) patients the final analysis is planned to see."""
    priors: tuple[np.ndarray, np.ndarray]
    """(control's, experimental's) analysis priors, each (components, 3) of (w, a, b)."""
    margin: float
    lag_months: float
    analysis: registry.Entry
    """The registered analysis that computes the posterior probability."""
    scale: str = field(default="posterior_probability")
    futility: None = None
    """No futility bound on the statistic's own scale (futility is predictive)."""

    @property
    def looks(self) -> int:
        return len(self.fractions)

    def statistic(self, x_c, n_c, x_t, n_t, patients=None) -> np.ndarray:
        """The posterior probability of benefit of each trial's data, by the registered analysis."""
        setting = Setting(alternative="greater", margin=self.margin, confidence=None, priors=self.priors)
        return np.asarray(self.analysis.load()(TwoArms.of(x_c, n_c, x_t, n_t), setting).statistic, dtype=float)

    def predictive(self, x_c, n_c, x_t, n_t) -> np.ndarray:
        """The predictive probability that the planned final analysis succeeds, for each trial's data."""
        from simulate.analysis.predictive import predictive_probability

        return predictive_probability(*self.priors, self.margin, self.success_threshold, x_c, n_c, x_t, n_t,
                                      *self.final_counts)

    def look(self, look: int, x_c, n_c, x_t, n_t, patients=None) -> tuple[np.ndarray, np.ndarray]:
        """Interim look ``look`` (0-based) of each trial's counts: the posterior probability and
        the decision (CONTINUE, REJECT: stop for efficacy, FUTILITY). The predictive
        probability is computed only for trials that do not stop for efficacy."""
        probability = self.statistic(x_c, n_c, x_t, n_t)
        decision = self.decide(probability, look)
        if self.futility_below is not None:
            going = decision == rules.CONTINUE
            if going.any():
                counts = [np.broadcast_to(np.asarray(v), probability.shape)[going] for v in (x_c, n_c, x_t, n_t)]
                futile = self.predictive(*counts) < self.futility_below
                decision[np.flatnonzero(going)[futile]] = rules.FUTILITY
        return probability, decision

    def decide(self, statistic, look: int = -1) -> np.ndarray:
        """Efficacy alone, from the posterior probabilities (futility needs the counts: :meth:`look`)."""
        s = np.asarray(statistic)
        return np.where(s > self.efficacy[look], rules.REJECT, rules.CONTINUE).astype(np.int8)

    def decide_final(self, statistic, reached, n_randomised) -> np.ndarray:
        """REJECT (success) where the final posterior probability exceeds the success threshold
        in a trial with patients, else CONTINUE (H0 stands)."""
        s, _, n = np.broadcast_arrays(np.asarray(statistic), np.asarray(reached), np.asarray(n_randomised))
        return np.where((s > self.success_threshold) & (n > 0), rules.REJECT, rules.CONTINUE).astype(np.int8)

    def final_bound(self, reached: int, n_randomised: int) -> float:
        """The final analysis's threshold (the same however many looks were held)."""
        return self.success_threshold


def final_counts(scenario: sc.Scenario) -> tuple[int, int]:
    """The patients of the control and the first experimental arm that the final analysis is
    planned to see: the target by allocation, times the share the analysis keeps (all with
    dropouts counted as failures or carried forward; fewer with complete cases)."""
    from simulate.design.assumed import dropout_adjustment, primary_arm

    kept = dropout_adjustment(scenario).analysed_fraction
    total = sum(scenario.allocation)
    return tuple(max(1, round(scenario.n_target * scenario.arm(arm).allocation / total * kept))  # type: ignore[return-value]
                 for arm in (scenario.control_arm, primary_arm(scenario)))


def design_of(scenario: sc.Scenario) -> BayesianLooks:
    """The Bayesian looks of a scenario with analysis.framework = "bayesian" and interim looks."""
    from simulate.analysis.map_prior import analysis_priors
    from simulate.design.assumed import primary_arm

    a, i = scenario.analysis, scenario.interim
    fractions = tuple(i.information_fractions)
    at_looks = a.success_threshold if i.efficacy_threshold is None else i.efficacy_threshold
    efficacy = np.array([at_looks if at_looks < 1.0 else math.inf] * (len(fractions) - 1) + [a.success_threshold])
    priors = analysis_priors(scenario)
    return BayesianLooks(
        fractions=fractions, counts=rules.look_counts(fractions, scenario.n_target), n_target=scenario.n_target,
        efficacy=efficacy, success_threshold=a.success_threshold,
        futility_below=i.futility_threshold if i.futility == "predictive_probability" else None,
        final_counts=final_counts(scenario),
        priors=tuple(np.asarray(priors[arm], dtype=float) for arm in (scenario.control_arm, primary_arm(scenario))),
        margin=a.margin, lag_months=i.decision_lag_months, analysis=registry.get(a.test))
