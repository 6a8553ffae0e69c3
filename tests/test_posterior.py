"""The Bayesian analysis (analysis.framework = "bayesian"): simulated power and type I error of
the posterior-probability rule against exact enumeration of every 2x2 table (the bare
two-binomial problem of tests/test_power.py), with flat and informative priors, superiority
and non-inferiority; within 3 Monte Carlo SE."""

from __future__ import annotations

import numpy as np
import pytest

from simulate.analysis.beta_posterior import posterior_mixture, prob_difference_greater
from simulate.analysis.formulas import _binomial_pmf
from simulate.run.power import estimate_power
from test_power import bare, within

BAYES = ['analysis.framework="bayesian"', 'analysis.alternative="greater"']


def exact_bayes_power(n: int, p_c: float, p_t: float, threshold: float, prior_c=((1.0, 1.0, 1.0),),
                      prior_t=((1.0, 1.0, 1.0),), margin: float = 0.0) -> float:
    """Sum over every table (x_c, x_t) of its binomial probability where the posterior
    probability of p_t - p_c > -margin exceeds the threshold."""
    x_c, x_t = (a.ravel() for a in np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij"))
    n_arr = np.full(x_c.shape, n)
    post = prob_difference_greater(posterior_mixture(np.asarray(prior_t), x_t, n_arr),
                                   posterior_mixture(np.asarray(prior_c), x_c, n_arr), -margin)
    succeed = (post > threshold).reshape(n + 1, n + 1)
    return float(_binomial_pmf(n, p_c) @ (succeed @ _binomial_pmf(n, p_t)))


@pytest.mark.parametrize("n, threshold", [(20, 0.975), (40, 0.95)])
def test_power_of_the_posterior_rule_matches_exact_enumeration(n, threshold) -> None:
    s = bare(n, test="posterior", extra=[*BAYES, f"analysis.success_threshold={threshold}"])
    r = estimate_power(s, replicates=2000, seed=7, jobs=1)
    within(r.power, exact_bayes_power(n, 0.60, 0.85, threshold), r.replicates)


def test_type_one_error_under_the_null_matches_exact_enumeration() -> None:
    s = bare(40, test="posterior", rates=(0.6, 0.6), extra=BAYES)
    r = estimate_power(s, replicates=4000, seed=8, jobs=1)
    exact = exact_bayes_power(40, 0.6, 0.6, 0.975)
    within(r.power, exact, r.replicates)
    assert exact < 0.05


def test_an_informative_mixture_prior_on_the_control_moves_the_decision_as_it_must() -> None:
    """A robust mixture prior on the control (0.8 of Beta(60, 40), 0.2 of Beta(1, 1)) and a
    margin: the simulated power is the exact one computed with the same priors and margin."""
    prior = "arms.rtx.analysis_prior={mixture = [[0.8, 60.0, 40.0], [0.2, 1.0, 1.0]]}"
    s = bare(30, test="posterior", extra=[*BAYES, prior, 'analysis.hypothesis="non_inferiority"',
                                          "analysis.margin=0.1"])
    r = estimate_power(s, replicates=2000, seed=9, jobs=1)
    exact = exact_bayes_power(30, 0.60, 0.85, 0.975, prior_c=((0.8, 60.0, 40.0), (0.2, 1.0, 1.0)), margin=0.1)
    within(r.power, exact, r.replicates)
    assert exact != pytest.approx(exact_bayes_power(30, 0.60, 0.85, 0.975, margin=0.1), abs=0.01)


@pytest.mark.parametrize("overrides, field", [
    (('analysis.framework="bayesian"',), "analysis.test"),
    (('analysis.test="posterior"', 'analysis.alternative="greater"'), "analysis.test"),
    (("arms.rtx.analysis_prior={mixture = [[0.5, 1.0, 1.0], [0.4, 2.0, 2.0]]}",), "arms.rtx.analysis_prior"),
    (("arms.rtx.analysis_prior={beta = [1.0, 1.0], mixture = [[1.0, 1.0, 1.0]]}",), "arms.rtx.analysis_prior"),
    (("arms.rtx.analysis_prior={beta = [0.0, 1.0]}",), "arms.rtx.analysis_prior.beta"),
    (("analysis.success_threshold=0.4",), "analysis.success_threshold"),
])
def test_bayesian_settings_that_do_not_fit_are_one_clear_error(overrides, field, capsys) -> None:
    from simulate.cli.commands import main

    code = main(["validate", "nct04743739", *(x for o in overrides for x in ("--set", o))])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and field in lines[0], err


def test_power_json_reports_the_threshold_and_each_priors_effective_sample_size(capsys) -> None:
    """``bayes`` in ``power --json``: the threshold, each arm's prior and its effective sample
    size (Beta(a, b): a + b; the robust mixture: less than its informative component's 100)."""
    import json

    from simulate.cli.commands import main

    code = main(["power", "nct04743739", "--replicates", "50", "--json", *(x for o in [
        *BAYES, 'analysis.test="posterior"', "analysis.success_threshold=0.9",
        "arms.rtx.analysis_prior={mixture = [[0.8, 60.0, 40.0], [0.2, 1.0, 1.0]]}",
        "arms.rtx_csa.analysis_prior={beta = [2.0, 3.0]}"] for x in ("--set", o))])
    assert code == 0
    bayes = json.loads(capsys.readouterr().out)["bayes"]
    assert bayes["threshold"] == 0.9
    assert bayes["prior"]["rtx"] == [[0.8, 60.0, 40.0], [0.2, 1.0, 1.0]]
    assert bayes["prior_ess"]["rtx_csa"] == pytest.approx(5.0)
    assert 2.0 < bayes["prior_ess"]["rtx"] < 100.0


def test_tables_too_large_to_remember_are_computed_as_they_come() -> None:
    """Counts from 32,768 patients an arm do not pack into the remembered tables' keys: the
    posterior probability is then computed directly, and agrees with the remembered path."""
    from simulate.analysis import registry
    from simulate.analysis.compare import analyse

    entry = registry.get("posterior")
    big = analyse(entry, 0.05, np.array([19_800, 20]), np.array([33_000, 33]), np.array([20_300, 25]),
                  np.array([33_000, 33]), alternative="greater", threshold=0.975)
    small = analyse(entry, 0.05, np.array([20]), np.array([33]), np.array([25]), np.array([33]),
                    alternative="greater", threshold=0.975)
    assert big.statistic[1] == pytest.approx(small.statistic[0], abs=1e-12)
    assert big.statistic[0] > 0.99                   # 61.5% against 60% of 33,000
