"""The estimand's ratio summary measures: the true risk or odds ratio, each trial's log ratio
against statsmodels, and the simulated estimates landing on the truth (tolerances in Monte
Carlo SE, fixed seeds)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from simulate.design.loader import load_scenario
from simulate.population.intercurrent import true_values
from simulate.run.power import estimate_power
from simulate.run.tally import log_ratio


@pytest.mark.parametrize("table", [(12, 63, 40, 55), (30, 63, 53, 63), (0, 20, 5, 20), (20, 20, 11, 20), (7, 14, 9, 18)])
def test_each_trials_log_ratio_is_statsmodels_with_the_half_correction(table) -> None:
    from statsmodels.stats.contingency_tables import Table2x2

    x_c, n_c, x_t, n_t = table
    h = 0.5 if 0 in (x_c, x_t) or x_c == n_c or x_t == n_t else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = Table2x2(np.array([[x_t + h, n_t - x_t + h], [x_c + h, n_c - x_c + h]]))
    for measure, est, se in (("risk_ratio", t.log_riskratio, t.log_riskratio_se),
                             ("odds_ratio", t.log_oddsratio, t.log_oddsratio_se)):
        got, got_se = log_ratio(measure, np.array([x_c]), np.array([n_c]), np.array([x_t]), np.array([n_t]))
        assert got[0] == pytest.approx(est, rel=1e-12) and got_se[0] == pytest.approx(se, rel=1e-12)


@pytest.mark.parametrize("measure, truth", [("risk_ratio", 0.85 / 0.60), ("odds_ratio", (0.85 / 0.15) / (0.6 / 0.4))])
def test_without_intercurrent_events_the_true_ratio_is_the_assumed_rates(measure, truth) -> None:
    """The reference sample's control variate is exact without events: the ratio of the
    assumed rates, to rounding."""
    s = load_scenario("nct04743739", [f'estimand={{summary_measure = "{measure}"}}', "intercurrent={}"])
    s2 = load_scenario("nct04743739_estimand", [f'estimand.summary_measure="{measure}"',
                                                "intercurrent.csa_toxicity.probability=0.0",
                                                "intercurrent.rescue.probability=0.0",
                                                "intercurrent.kidney_failure_or_death.probability=0.0"])
    assert true_values(s2)["rtx_csa"].ratio == pytest.approx(truth, rel=1e-12)
    r = estimate_power(s, replicates=200, seed=1, jobs=1)
    assert r.comparisons[0].true_ratio == pytest.approx(truth, rel=1e-12)


@pytest.mark.parametrize("measure", ["risk_ratio", "odds_ratio"])
def test_the_simulated_log_ratio_lands_on_the_true_one(measure) -> None:
    """No dropout, the trial's estimand (events on), 2,000 trials: the mean log ratio lands
    within 3 MC SE of the truth's log plus the small-sample bias theory gives a log ratio of
    rates estimated from 63 patients an arm (of order 1/n: 0.009 for the risk ratio, 0.05 for
    the odds ratio here); each 95% interval covers the true ratio in 0.93-0.97 of the trials."""
    s = load_scenario("nct04743739_estimand", [f'estimand.summary_measure="{measure}"',
                                                "dropout.probability_by_endpoint=0.0", "sweep={}"])
    r = estimate_power(s, replicates=2000, seed=3, jobs=1)
    c = r.comparisons[0]
    se = math.hypot(c.mean_log_ratio_mc_se, c.true_log_ratio_mc_se)
    # the second-order bias of a log rate, E[log p^] - log p = -(1 - p) / (2 n p), and of a
    # logit, (2p - 1) / (2 n p (1 - p)), per arm (n: the mean randomised to it)
    truth = r.estimand["true_values"][0]
    n = r.mean_randomised / 2
    p_c, p_t = truth["true_control"], truth["true_treatment"]
    if measure == "risk_ratio":
        expected = -(1 - p_t) / (2 * n * p_t) + (1 - p_c) / (2 * n * p_c)
    else:
        expected = (2 * p_t - 1) / (2 * n * p_t * (1 - p_t)) - (2 * p_c - 1) / (2 * n * p_c * (1 - p_c))
    assert abs(c.log_ratio_bias - expected) < 3 * se, (c.log_ratio_bias, expected, se)
    assert 0.93 <= c.ratio_ci_coverage <= 0.97
    assert c.summary_measure == measure
