"""Run a registered analysis on a block of trials: its p-values (or other statistic), estimates,
intervals and the decision at a fixed level.

Every function takes integer arrays ``x_c, n_c, x_t, n_t`` (responders and analysed patients in
the control arm and the treatment arm), one element per trial; scalars broadcast. The table's
orientation and the meaning of ``alternative`` are those of :mod:`simulate.analysis.base`.

Conventions
-----------
* A degenerate table (an arm of size 0, or no responders / no non-responders at all) carries
  no evidence: every test returns p = 1.0 there, never NaN.
* ``analyse`` rejects when ``p_value < alpha`` (strict): :class:`simulate.analysis.rules.Level`.
* Risk differences are treatment minus control; an arm of size 0 gives NaN for the estimate
  and both limits.
* A non-inferiority test (``"farrington_manning"``) takes a ``margin`` (H0: p_t - p_c <=
  -margin); every other test takes no margin (it must be 0).
* Several experimental arms against one shared control: :mod:`simulate.analysis.rules` turns
  the (trials, arms) p-values into decisions under no, Bonferroni or Holm adjustment.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simulate.analysis import registry
from simulate.analysis.base import CI_METHODS, Setting, TwoArms, check_choice, check_margin
from simulate.analysis.rules import Level
from simulate.design.choices import ALTERNATIVES


def p_values(test, x_c, n_c, x_t, n_t, alternative="two-sided", margin=0.0) -> np.ndarray:
    """The decision statistic (the p-value) of the two-arm ``test`` for every trial.

    fisher: Fisher's exact test, equal to scipy.stats.fisher_exact on the table in
    :mod:`simulate.analysis.base`; chi2 / chi2_yates: scipy.stats.chi2_contingency(correction=
    False / True); ztest: statsmodels proportions_ztest([x_t, x_c], [n_t, n_c]) ('larger' for
    "greater"); farrington_manning: :func:`simulate.analysis.noninferiority.farrington_manning_p`
    at ``margin`` (its two-sided form too, the score test of p_t - p_c = -margin; :func:`analyse`
    allows only "greater").  ``margin`` must be 0 for every other test.  Degenerate tables give
    1.0.  A stratified test (cmh) needs :func:`analyse` or its own module.  No interval is
    computed (exact enumeration calls this on every table).
    """
    entry = registry.get(test)
    if entry.strata:
        raise ValueError(f"test {entry.name!r} needs stratified counts: use analyse or {entry.implementation}")
    check_choice(alternative, ALTERNATIVES, "alternative")
    check_margin(test, alternative, margin, one_sided_only=False)
    setting = Setting(alternative, margin, confidence=None)
    return entry.load()(TwoArms.of(x_c, n_c, x_t, n_t), setting).statistic


@dataclass(frozen=True)
class Analysis:
    """Per-trial results of one comparison: the decision statistic (a p-value for every
    built-in test), ``reject`` at the fixed level, and the risk difference (treatment minus
    control) with its interval (Newcombe by default; Miettinen-Nurminen for
    farrington_manning)."""

    statistic: np.ndarray
    reject: np.ndarray
    risk_difference: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    scale: str = "p_value"
    """The statistic's scale (:data:`simulate.analysis.registry.SCALES`)."""

    @property
    def estimate(self) -> np.ndarray:
        return self.risk_difference

    @property
    def p_value(self) -> np.ndarray:
        """The statistic when it is a p-value; NaN for an analysis on another scale."""
        return self.statistic if self.scale == "p_value" else np.full(np.shape(self.statistic), np.nan)


def two_arms(test, x_c, n_c, x_t, n_t, strata=None) -> TwoArms:
    """The counts ``test`` analyses: for a stratified test either ``strata = (x_c, n_c, x_t,
    n_t)`` of shape (trials, strata) beside the 1-D totals, or the main arguments themselves in
    2-D (the totals are then their sums over strata); other tests ignore ``strata``."""
    entry = registry.get(test)
    if not entry.strata:
        return TwoArms.of(x_c, n_c, x_t, n_t)
    if strata is not None:
        return TwoArms.of(x_c, n_c, x_t, n_t, strata)
    if np.ndim(x_c) != 2:
        raise ValueError(f"test {entry.name!r} needs stratified counts: 2-D arrays or strata=...")
    return TwoArms.stratified(x_c, n_c, x_t, n_t)


def analyse(test, alpha, x_c, n_c, x_t, n_t, alternative="two-sided", strata=None,
            ci_method="newcombe", margin=0.0, patients=None, imputation=None, priors=None,
            threshold=None, adjustment_variance="model_robust") -> Analysis:
    """Run the registered analysis ``test`` (its id, or its
    :class:`~simulate.analysis.registry.Entry`) on every trial and decide at level ``alpha``
    (reject when p < alpha).

    Stratified counts as :func:`two_arms` takes them.  The interval is two-sided at 1 - alpha,
    or at 1 - 2 alpha for "greater" so that ``ci_low`` is the matching one-sided bound.

    ``test == "farrington_manning"`` is the non-inferiority test of H0: p_t - p_c <= -margin;
    it needs ``alternative="greater"``, and its interval is the Miettinen-Nurminen score
    interval (``ci_method`` is not used).  That interval carries the N / (N - 1) factor the test
    does not, so ``ci_low > -margin`` and ``reject`` can disagree on tables at the edge.  Every
    other test needs ``margin == 0``.

    ``patients`` and ``imputation`` (:class:`simulate.analysis.base.Imputation`): the
    comparison's patients one by one and how to impute their missing endpoints, for an
    analysis that imputes (:attr:`simulate.analysis.registry.Entry.imputes`). ``priors`` and
    ``threshold``: a Bayesian analysis's (control's, experimental's) priors and the posterior
    probability above which it succeeds (default 1 - alpha). ``adjustment_variance``: a
    g-computation's variance (``patients`` then :class:`simulate.analysis.adjusted.AdjustmentData`).
    """
    entry = registry.get(test)
    check_choice(alternative, ALTERNATIVES, "alternative")
    check_margin(entry, alternative, margin)
    check_choice(ci_method, CI_METHODS, "method")
    if not 0 < alpha < (0.5 if alternative == "greater" else 1):
        raise ValueError(f"alpha must lie in (0, 1) (below 0.5 one-sided), got {alpha!r}")
    data = two_arms(entry, x_c, n_c, x_t, n_t, strata)
    if patients is not None:
        data = replace(data, patients=patients)
    res = entry.load()(data, Setting.at_level(alpha, alternative, margin, ci_method, imputation, priors,
                                              adjustment_variance))
    rule = Level(threshold, entry.statistic) if threshold is not None and entry.statistic != "p_value" \
        else Level.of(alpha, entry.statistic)
    return Analysis(statistic=res.statistic, reject=rule.rejects(res.statistic), risk_difference=res.estimate,
                    ci_low=res.ci_low, ci_high=res.ci_high, scale=entry.statistic)
