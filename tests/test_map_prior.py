"""Meta-analytic-predictive priors (``analysis_prior = { meta_analytic = true }`` with
``[[historical]]`` trials): the grid computation against an independent Monte Carlo of the same
hierarchy, its limits, and a Bayesian trial under a MAP prior against exact enumeration."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import special, stats

from simulate.analysis.beta_posterior import ess
from simulate.analysis.map_prior import MU_PRIOR_SD, map_prior
from simulate.design.loader import load_scenario
from simulate.run.power import estimate_power
from test_posterior import BAYES, exact_bayes_power
from test_power import bare, within

from conftest import PLAIN_SCENARIO

HISTORY = ([39, 23], [65, 37])        # MENTOR 39/65 at 24 months, RI-CYCLO 23/37 at 12 months (rituximab arms)


def importance_sample(y, n, scale, draws=2_000_000, seed=5):
    """The MAP prior's mean and sd by sampling the hierarchy from its priors and weighting each
    draw by the likelihood of the historical trials (a method independent of the grid)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, MU_PRIOR_SD, draws)
    tau = np.abs(rng.normal(0.0, scale, draws))
    log_w = np.zeros(draws)
    for yj, nj in zip(y, n):
        theta = mu + tau * rng.standard_normal(draws)
        log_w += stats.binom.logpmf(yj, nj, special.expit(theta))
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    p = special.expit(mu + tau * rng.standard_normal(draws))
    mean = float(np.sum(w * p))
    return mean, float(np.sqrt(np.sum(w * (p - mean) ** 2))), 1.0 / float(np.sum(w**2))


@pytest.mark.parametrize("scale", [0.25, 0.5, 1.0])
def test_the_map_prior_matches_an_independent_monte_carlo_of_the_hierarchy(scale) -> None:
    m = map_prior(*HISTORY, heterogeneity_scale=scale, robust_weight=0.0)
    mean, sd, effective = importance_sample(*HISTORY, scale)
    assert effective > 20_000                                 # enough weight for 3-decimal moments
    assert m.mean == pytest.approx(mean, abs=0.003)
    assert m.sd == pytest.approx(sd, rel=0.03)
    fitted = np.asarray(m.map_components)
    fit_mean = float(np.sum(fitted[:, 0] * fitted[:, 1] / (fitted[:, 1] + fitted[:, 2])))
    assert fit_mean == pytest.approx(m.mean, abs=0.003) and m.fit_error <= 0.005


def test_without_heterogeneity_the_map_prior_is_the_pooled_trials() -> None:
    m = map_prior(*HISTORY, heterogeneity_scale=0.001, robust_weight=0.0)
    y, n = sum(HISTORY[0]), sum(HISTORY[1])
    assert m.mean == pytest.approx(y / n, abs=0.004)
    assert m.sd == pytest.approx(np.sqrt(y / n * (1 - y / n) / n), rel=0.05)
    assert ess(np.asarray(m.map_components)) == pytest.approx(n, rel=0.1)   # worth the pooled patients


def test_heterogeneity_discounts_the_history_and_the_robust_component_is_vague() -> None:
    strong, weak = map_prior(*HISTORY, 0.1, 0.2), map_prior(*HISTORY, 1.0, 0.2)
    assert ess(np.asarray(weak.map_components)) < ess(np.asarray(strong.map_components)) < sum(HISTORY[1]) * 1.1
    assert weak.components[-1] == (0.2, 1.0, 1.0)
    assert sum(c[0] for c in weak.components) == pytest.approx(1.0)
    assert [c[0] for c in weak.components[:-1]] == pytest.approx([0.8 * c[0] for c in weak.map_components])


def borrowing(n: int, rates=(0.6, 0.85), extra=()) -> object:
    history = ['historical=[{name = "MENTOR", responders = 39, n = 65}, {name = "RI-CYCLO", responders = 23, n = 37}]',
               "arms.rtx.analysis_prior={ meta_analytic = true, robust_weight = 0.2 }"]
    return bare(n, test="posterior", rates=rates, extra=[*BAYES, *history, *extra])


def test_a_trial_under_a_map_prior_matches_exact_enumeration() -> None:
    s = borrowing(30)
    m = map_prior(*HISTORY, 0.5, 0.2)
    r = estimate_power(s, replicates=2000, seed=13, jobs=1)
    assert r.bayes["prior"]["rtx"] == [list(c) for c in m.components]
    within(r.power, exact_bayes_power(30, 0.6, 0.85, 0.975, prior_c=m.components), r.replicates)
    null = estimate_power(borrowing(30, rates=(0.6, 0.6)), replicates=2000, seed=14, jobs=1)
    within(null.power, exact_bayes_power(30, 0.6, 0.6, 0.975, prior_c=m.components), null.replicates)


def test_prior_data_conflict_raises_the_type_one_error_less_with_a_robust_prior() -> None:
    """The control truly at 0.75 while the history says 0.6: borrowing pulls the control's
    estimate down, so a trial with no true difference looks like a benefit; the robust
    component limits it. Below the history (0.45) borrowing errs the other way."""
    def type1(p, robust_weight=None):
        prior = {} if robust_weight is None else {"prior_c": map_prior(*HISTORY, 0.5, robust_weight).components}
        return exact_bayes_power(30, p, p, 0.975, **prior)

    assert type1(0.75, 0.0) > type1(0.75, 0.5) > type1(0.75)
    assert type1(0.45, 0.0) < type1(0.45)


def test_power_json_reports_the_map_prior(run_cli) -> None:
    history = '[{name = "MENTOR", responders = 39, n = 65, month = 24, source = "Fervenza 2019"}]'
    sets = ['analysis.framework="bayesian"', 'analysis.test="posterior"', 'analysis.alternative="greater"',
            f"historical={history}", "arms.rtx.analysis_prior={ meta_analytic = true }", "simulation.block_size=50"]
    code, out, err = run_cli(["power", PLAIN_SCENARIO, "--replicates", "100", "--json",
                              *(x for s in sets for x in ("--set", s))])
    assert code == 0, err
    b = json.loads(out)["bayes"]
    assert b["historical"][0]["name"] == "MENTOR" and b["map"]["rtx"]["robust_weight"] == 0.2
    assert 0 < b["map"]["rtx"]["map_ess"] <= 65 * 1.1 and b["prior_ess"]["rtx"] < b["map"]["rtx"]["map_ess"]


@pytest.mark.parametrize("sets, line", [
    (["arms.rtx.analysis_prior={ meta_analytic = true }"], "arms.rtx.analysis_prior.meta_analytic: got true; there "
                                                           "are no [[historical]] trials"),
    (["arms.rtx.design_prior={ meta_analytic = true }", 'historical=[{name = "A", responders = 3, n = 9}]'],
     "arms.rtx.design_prior.meta_analytic: got true; only an analysis prior can be meta-analytic"),
    (['historical=[{name = "A", responders = 12, n = 9}]'], "responders: got 12; at most n (9)"),
    (["arms.rtx.analysis_prior={ beta = [1, 1], meta_analytic = true }"], "one of them"),
])
def test_borrowing_mistakes_are_one_clear_error(sets, line) -> None:
    from simulate.errors import ScenarioError

    with pytest.raises(ScenarioError) as info:
        load_scenario(PLAIN_SCENARIO, sets)
    assert any(line in p for p in info.value.problems), info.value.problems
