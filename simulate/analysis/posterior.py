"""A Bayesian analysis of a comparison: the posterior probability of benefit.

Each arm's rate has a beta or beta-mixture prior (``[arms.<id>] analysis_prior``, default
Beta(1, 1)); with x responders of n analysed the posterior is a beta mixture by conjugacy, and
the decision statistic is P(p_t - p_c > -margin | data) (margin 0 for superiority), computed
exactly up to quadrature error below 1e-11 (:mod:`simulate.analysis.beta_posterior`), on the
``posterior_probability`` scale: the comparison succeeds when it exceeds
``analysis.success_threshold`` (:class:`simulate.analysis.rules.Level`). The estimate and
interval reported beside it are the observed risk difference and its Newcombe interval, as for
the other analyses.
"""

from __future__ import annotations

import numpy as np

from simulate.analysis.base import Estimates, Setting, TwoArms
from simulate.analysis.beta_posterior import posterior_mixture, prob_difference_greater
from simulate.analysis.intervals import difference

FLAT = np.array([[1.0, 1.0, 1.0]])
"""Beta(1, 1): the prior of an arm that names none."""


def evaluate(data: TwoArms, setting: Setting) -> Estimates:
    """The posterior probability of benefit of every trial, and the risk difference."""
    prior_c, prior_t = setting.priors if setting.priors is not None else (FLAT, FLAT)
    probability = prob_difference_greater(posterior_mixture(prior_t, data.x_t, data.n_t),
                                          posterior_mixture(prior_c, data.x_c, data.n_c), -setting.margin)
    est, low, high = difference(data, setting)
    return Estimates(est, low, high, probability)
