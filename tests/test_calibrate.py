"""``trialsim calibrate``: a Bayesian design's success threshold tuned to a type I error under
the null, checked against exact enumeration of every 2x2 table of the bare two-binomial problem
(tests/test_power.py; the posterior probabilities as tests/test_posterior.py computes them)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulate.analysis.beta_posterior import posterior_mixture, prob_difference_greater
from simulate.analysis.formulas import _binomial_pmf
from simulate.run.calibrate import calibrate
from test_posterior import BAYES, exact_bayes_power
from test_power import bare

from conftest import PLAIN_SCENARIO


def exact_threshold(n: int, p: float, target: float) -> float:
    """The smallest posterior probability c with exact P(posterior > c) <= target when both
    arms' rate is p: the tables' posterior probabilities, largest first, their mass summed."""
    x_c, x_t = (a.ravel() for a in np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij"))
    n_arr = np.full(x_c.shape, n)
    flat = np.asarray(((1.0, 1.0, 1.0),))
    post = prob_difference_greater(posterior_mixture(flat, x_t, n_arr), posterior_mixture(flat, x_c, n_arr), 0.0)
    mass = np.outer(_binomial_pmf(n, p), _binomial_pmf(n, p)).ravel()
    values = np.unique(post)[::-1]
    above = np.array([mass[post > v].sum() for v in values])
    return float(values[np.argmax(above > target) - 1])


def test_the_calibrated_threshold_gives_the_target_type_one_error_exactly_enough() -> None:
    n, target = 40, 0.025
    s = bare(n, test="posterior", extra=BAYES)                     # 0.60 vs 0.85; the null takes 0.60 in both
    r = calibrate(s, target, replicates=4000, seed=21, jobs=1)
    se = np.sqrt(target * (1 - target) / r.replicates)
    exact_at = exact_bayes_power(n, 0.6, 0.6, r.threshold)
    assert abs(r.type1_error - exact_at) <= 3 * se                # the calibration's trials estimate it
    assert abs(r.type1_error_check - exact_at) <= 3 * se          # and so do fresh ones
    assert r.threshold_low <= exact_threshold(n, 0.6, target) + 1e-9 and r.threshold_high >= r.threshold
    assert abs(r.power - exact_bayes_power(n, 0.6, 0.85, r.threshold)) <= 3 * np.sqrt(0.25 / r.replicates)
    curve = {c["threshold"]: c["type1_error"] for c in r.curve}
    assert list(curve.values()) == sorted(curve.values(), reverse=True)   # higher thresholds, fewer successes


def test_calibrate_prints_the_threshold_and_json_reads_back(run_cli) -> None:
    sets = ["--set", 'analysis.framework="bayesian"', "--set", 'analysis.test="posterior"',
            "--set", 'analysis.alternative="greater"', "--set", "simulation.block_size=100"]
    code, out, err = run_cli(["calibrate", PLAIN_SCENARIO, "--replicates", "400", *sets])
    assert code == 0, err
    assert "threshold" in out and "use it: --set analysis.success_threshold=" in out
    code, out, err = run_cli(["calibrate", PLAIN_SCENARIO, "--replicates", "400", "--json", *sets])
    d = json.loads(out)
    assert 0.5 < d["threshold"] < 1 and d["replicates"] == 400 and d["target_type1"] == 0.025


@pytest.mark.parametrize("sets, line", [
    ([], "analysis.framework: got 'frequentist'; calibrate tunes a Bayesian design's success threshold"),
])
def test_calibrate_refuses_what_it_cannot_calibrate(sets, line, run_cli) -> None:
    code, out, err = run_cli(["calibrate", PLAIN_SCENARIO, *(x for s in sets for x in ("--set", s))])
    assert code == 2 and out == "" and line in err, err


def test_calibrate_refuses_too_few_trials_for_its_target_and_ignores_drawn_rates(run_cli) -> None:
    sets = ["--set", 'analysis.framework="bayesian"', "--set", 'analysis.test="posterior"',
            "--set", 'analysis.alternative="greater"', "--set", "simulation.block_size=100"]
    code, out, err = run_cli(["calibrate", PLAIN_SCENARIO, "--replicates", "400", "--target-type1", "0.01", *sets])
    assert code == 2 and out == "" and "only 4.0 null trials would succeed: simulate at least 1,000" in err
    drawn = [*sets, "--set", "arms.rtx_csa.design_prior={ beta = [17, 3] }",
             "--set", 'outcome.rates_from="design_prior"']
    _, plain, _ = run_cli(["calibrate", PLAIN_SCENARIO, "--replicates", "400", "--json", *sets])
    _, with_priors, _ = run_cli(["calibrate", PLAIN_SCENARIO, "--replicates", "400", "--json", *drawn])
    assert json.loads(with_priors)["threshold"] == json.loads(plain)["threshold"]   # the null's rates are not drawn


def test_a_design_with_looks_is_calibrated_by_bisection_against_exact_enumeration() -> None:
    from test_bayes_looks import exact_bayesian_sequential

    n, target = 16, 0.05
    s = bare(n, test="posterior", extra=[*BAYES, "interim.information_fractions=[0.5, 1.0]",
                                         'interim.futility="predictive_probability"'])
    r = calibrate(s, target, replicates=1500, seed=29, jobs=1)
    se = np.sqrt(target * (1 - target) / r.replicates)
    exact_at = sum(exact_bayesian_sequential([n // 2, n // 2], 0.6, 0.6, r.threshold, r.threshold, 0.1, n))
    assert abs(r.type1_error - exact_at) <= 3 * se and r.type1_error <= target
    assert abs(r.type1_error_check - exact_at) <= 3 * se          # fresh trials
    assert r.threshold_low <= r.threshold <= r.threshold_high
    # one grid step below the threshold, the same trials exceed the target
    curve = {c["threshold"]: c["type1_error"] for c in r.curve}
    assert curve[round(r.threshold - 1e-5, 5)] > target
    assert list(dict(sorted(curve.items())).values()) == sorted(curve.values(), reverse=True)
