"""Interim looks of a Bayesian design: the predictive probability of success against a brute
sum over every future table, both engines trial by trial, and the operating characteristics
against exact enumeration of the whole design over all stage-wise tables (the bare
two-binomial reduction of tests/test_interim.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from simulate.analysis import interim
from simulate.analysis.beta_posterior import posterior_mixture, prob_difference_greater
from simulate.analysis.predictive import predictive_probability, success_boundary
from simulate.design.loader import load_scenario
from simulate.engines.blocks import simulate_block
from simulate.run.power import estimate_power

from conftest import PLAIN_SCENARIO, assert_refused
from reference_calls import next_stage
from test_engines import assert_same
from test_power import bare, within

BAYES = ('analysis.framework="bayesian"', 'analysis.test="posterior"', 'analysis.alternative="greater"')
FLAT = np.array([[1.0, 1.0, 1.0]])
MIXTURE = np.array([[0.8, 12.0, 8.0], [0.2, 1.0, 1.0]])


def brute_predictive(prior_c, prior_t, margin, threshold, x_c, n_c, x_t, n_t, final_c, final_t) -> float:
    """Every future table (y_c, y_t) weighted by its beta-binomial-mixture probability, its
    final posterior probability computed directly."""
    def pmf(prior, x, n, m):
        w, a, b = posterior_mixture(prior, x, n)
        return sum(w[k] * stats.betabinom.pmf(np.arange(m + 1), m, a[k], b[k]) for k in range(len(w)))

    m_c, m_t = final_c - n_c, final_t - n_t
    y_c, y_t = np.meshgrid(np.arange(m_c + 1), np.arange(m_t + 1), indexing="ij")
    p = prob_difference_greater(posterior_mixture(prior_t, (x_t + y_t).ravel(), final_t),
                                posterior_mixture(prior_c, (x_c + y_c).ravel(), final_c), -margin)
    return float(np.sum(np.outer(pmf(prior_c, x_c, n_c, m_c), pmf(prior_t, x_t, n_t, m_t)).ravel() * (p > threshold)))


@pytest.mark.parametrize("prior_c, prior_t, margin", [(FLAT, FLAT, 0.0), (MIXTURE, FLAT, 0.0),
                                                      (MIXTURE, np.array([[1.0, 0.5, 0.5]]), 0.15)],
                         ids=["flat", "mixture-control", "jeffreys-margin"])
def test_predictive_probability_is_the_sum_over_every_future_table(prior_c, prior_t, margin):
    rng = np.random.default_rng(5)
    n_c, n_t = rng.integers(0, 25, 40), rng.integers(0, 25, 40)
    x_c, x_t = rng.integers(0, n_c + 1), rng.integers(0, n_t + 1)
    got = predictive_probability(prior_c, prior_t, margin, 0.975, x_c, n_c, x_t, n_t, 26, 28)
    want = [brute_predictive(prior_c, prior_t, margin, 0.975, *t, 26, 28) for t in zip(x_c, n_c, x_t, n_t)]
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert 0.01 < np.mean(got) < 0.99           # the cases are not all settled


def test_the_success_boundary_is_the_grid_of_final_decisions():
    n_c, n_t = 20, 23
    boundary = success_boundary(MIXTURE, FLAT, 0.0, 0.9, n_c, n_t)
    X_c, X_t = np.meshgrid(np.arange(n_c + 1), np.arange(n_t + 1), indexing="ij")
    p = prob_difference_greater(posterior_mixture(FLAT, X_t.ravel(), n_t), posterior_mixture(MIXTURE, X_c.ravel(), n_c))
    success = (p > 0.9).reshape(X_c.shape)
    np.testing.assert_array_equal(success, X_t >= boundary[:, None])
    assert boundary[0] <= n_t and boundary[-1] == n_t + 1       # some tables succeed, and none with every control responding


def test_a_finished_trial_has_predictive_probability_zero_or_one():
    p = predictive_probability(FLAT, FLAT, 0.0, 0.975, [5, 5], [20, 20], [18, 8], [20, 20], 20, 20)
    np.testing.assert_array_equal(p, [1.0, 0.0])


@pytest.mark.parametrize("overrides", [
    ["interim.information_fractions=[0.5, 1.0]", 'interim.futility="predictive_probability"'],
    ["interim.information_fractions=[0.3, 0.6, 1.0]", 'interim.futility="predictive_probability"',
     "interim.futility_threshold=0.2", "interim.efficacy_threshold=0.995", "interim.decision_lag_months=3",
     "dropout.probability_by_endpoint=0.3", 'analysis.missing="complete_case"'],
    ['analysis.hypothesis="non_inferiority"', "analysis.margin=0.15", "arms.rtx_csa.remission_at_endpoint=0.6",
     "interim.information_fractions=[0.5, 1.0]", 'interim.futility="predictive_probability"',
     "arms.rtx.analysis_prior={beta=[12, 8]}"],
], ids=["pp-2", "pp-3-lag-dropout", "non-inferiority-prior"])
def test_engines_agree_on_bayesian_looks(overrides):
    s = load_scenario(PLAIN_SCENARIO, [*BAYES, *overrides, "simulation.block_size=40"])
    assert interim.design_for(s).scale == "posterior_probability"
    stopped = 0
    for seed in (1, 2):
        a = simulate_block(s, seed, 0, engine="des")
        b = simulate_block(s, seed, 0, engine="batch")
        assert_same(a, b, f"seed {seed}")
        stopped += int((b.stop_look >= 0).sum())
    assert stopped > 0                                  # the looks decided something


def exact_bayesian_sequential(stage_n, p_c, p_t, efficacy, success, futility_below, final_n):
    """P(success at each look) of the Bayesian design with flat priors, every stage-wise table
    enumerated: a trial stops for efficacy when its posterior probability exceeds the look's
    threshold, for futility when the predictive probability of success falls below
    ``futility_below``."""
    state = {(0, 0): 1.0}
    n, out = 0, []
    for k, m in enumerate(stage_n):
        n += m
        keys, probs = next_stage(state, m, p_c, p_t)
        post = prob_difference_greater(posterior_mixture(FLAT, keys[:, 1], n), posterior_mixture(FLAT, keys[:, 0], n))
        last = k == len(stage_n) - 1
        up = post > (success if last else efficacy)
        down = np.zeros(len(keys), bool)
        if not last:
            pp = np.array([brute_predictive(FLAT, FLAT, 0.0, success, xc, n, xt, n, final_n, final_n)
                           for xc, xt in keys])
            down = ~up & (pp < futility_below)
        out.append(float(probs[up].sum()))
        state = {tuple(key): w for key, w, stop in zip(keys.tolist(), probs, up | down) if not stop}
    return out


@pytest.mark.parametrize("rates", [(0.6, 0.85), (0.6, 0.6)], ids=["power", "null"])
def test_bayesian_looks_match_exact_enumeration(rates):
    n = 16
    s = bare(n, "posterior", rates=rates, extra=[*BAYES, "interim.information_fractions=[0.5, 1.0]",
                                                  'interim.futility="predictive_probability"',
                                                  "interim.futility_threshold=0.15", "interim.efficacy_threshold=0.99"])
    design = interim.design_for(s)
    assert design.final_counts == (n, n) and design.counts == (n, 2 * n)
    r = estimate_power(s, replicates=3000, seed=19, jobs=1, engine="batch")
    assert r.p_terminated == 0 and r.mean_randomised == 2 * n
    exact = exact_bayesian_sequential([n // 2, n // 2], *rates, 0.99, 0.975, 0.15, n)
    for look, p in zip(r.looks, exact):
        within(look.p_stop_efficacy, p, r.replicates)
    within(r.power, sum(exact), r.replicates)


def test_power_json_gives_the_bayesian_looks(run_cli):
    code, out, err = run_cli(["power", str(PLAIN_SCENARIO), "--replicates", "300", "--json",
                              *sum((["--set", o] for o in (*BAYES, "interim.information_fractions=[0.5, 1.0]",
                                                           'interim.futility="predictive_probability"')), [])])
    assert code == 0, err
    first, final = json.loads(out)["looks"]
    assert first["efficacy_z"] is None and first["efficacy_probability"] == 0.975
    assert first["futility_predictive"] == 0.1 and final["futility_predictive"] is None
    assert first["p_stop_futility"] > 0


@pytest.mark.parametrize("overrides, line", [
    (['analysis.alternative="greater"', 'analysis.test="ztest"', "interim.information_fractions=[0.5, 1.0]",
      'interim.futility="predictive_probability"'], "the predictive probability of success is that of a Bayesian"),
    (['analysis.alternative="greater"', 'analysis.test="ztest"', "interim.information_fractions=[0.5, 1.0]",
      "interim.efficacy_threshold=0.99"], "interim.efficacy_threshold: got 0.99; a posterior-probability"),
    ([*BAYES, "interim.information_fractions=[0.5, 1.0]", 'interim.efficacy_spending="pocock"'],
     "interim.efficacy_spending: got 'pocock'; it bounds the z of a frequentist test"),
    ([*BAYES, "interim.information_fractions=[0.5, 1.0]", 'interim.futility="conditional_power"'],
     "interim.futility: got 'conditional_power'; with analysis.framework = \"bayesian\""),
    ([*BAYES, "interim.information_fractions=[0.5, 1.0]", "interim.efficacy_threshold=0.4"],
     "interim.efficacy_threshold"),
])
def test_bayesian_look_mistakes_are_named(overrides, line):
    assert_refused(overrides, line)


def test_a_threshold_of_one_never_stops_for_efficacy():
    s = load_scenario(PLAIN_SCENARIO, [*BAYES, "interim.information_fractions=[0.5, 1.0]",
                                       "interim.efficacy_threshold=1", "arms.rtx_csa.remission_at_endpoint=0.86"])
    b = simulate_block(s, 3, 0, n_trials=60, engine="batch")
    assert not (b.stop_look >= 0).any() and b.sequential_reject.mean() > 0.5
    assert math.isinf(interim.design_for(s).efficacy[0])
