"""Assurance over design priors (``[arms.<id>] design_prior``, ``outcome.rates_from``).

The exact reference: with each arm's rate drawn from a Beta(a, b) prior, a trial's count of
responders out of n is beta-binomial, so the exact assurance of the bare two-binomial problem
(tests/test_power.py) is the beta-binomial probability of every 2x2 table the test rejects,
summed. Simulated figures must lie within 3 Monte Carlo SE of it, with fixed seeds.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, stats

from simulate.analysis.compare import p_values
from simulate.design.loader import load_scenario
from simulate.engines.blocks import simulate_block
from simulate.population import design_prior as dp
from simulate.population.outcomes import reachable_rate
from simulate.run.assurance import conditional_power, prior_probability_of_benefit, with_assurance
from simulate.run.power import estimate_power
from test_power import bare, within

from conftest import PLAIN_SCENARIO

DRAWN = ['outcome.rates_from="design_prior"']


def exact_assurance(n: int, prior_c: tuple[float, float], prior_t: tuple[float, float], test: str = "fisher",
                    alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """Sum over every table the test rejects of the beta-binomial probabilities of its counts."""
    x_c, x_t = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    reject = p_values(test, x_c, n, x_t, n, alternative) < alpha
    k = np.arange(n + 1)
    return float(stats.betabinom.pmf(k, n, *prior_c) @ (reject @ stats.betabinom.pmf(k, n, *prior_t)))


def priors(c: tuple[float, float], t: tuple[float, float]) -> list[str]:
    return [f"arms.rtx.design_prior={{ beta = [{c[0]}, {c[1]}] }}",
            f"arms.rtx_csa.design_prior={{ beta = [{t[0]}, {t[1]}] }}"]


@pytest.mark.parametrize("n, prior_c, prior_t", [
    (30, (12.0, 8.0), (17.0, 3.0)),     # RTX+CsA often above what its relapse hazards allow: fewer relapses there
    (45, (6.0, 4.0), (8.0, 2.0)),       # vaguer beliefs
])
def test_assurance_matches_exact_beta_binomial_enumeration(n, prior_c, prior_t) -> None:
    s = bare(n, extra=[*priors(prior_c, prior_t), *DRAWN])
    r = estimate_power(s, replicates=2000, seed=7, jobs=1, engine="batch")
    assert r.p_terminated == 0 and r.mean_randomised == 2 * n
    within(r.power, exact_assurance(n, prior_c, prior_t), r.replicates)


def test_drawn_rates_reach_each_arm_as_the_prior_says_with_covariate_effects_and_relapse() -> None:
    """The mean share in remission at the endpoint per arm is the prior's mean (3 MC SE), with
    the covariate model's intercept read from its table and relapses thinned above the reach."""
    s = load_scenario(PLAIN_SCENARIO, ["simulation.block_size=100", "dropout.probability_by_endpoint=0",
                                       *priors((12.0, 8.0), (30.0, 3.0)), *DRAWN])
    assert dp.calibration_error(s) < 1e-5
    r = estimate_power(s, replicates=600, seed=3, jobs=1, engine="batch")
    end = s.trial.endpoint_month
    for v in r.remission_by_visit:
        if v.month == end:
            mean = dp.prior_mean(s, v.arm)
            assert abs(v.remission - mean) <= 3 * v.mc_se, (v.arm, v.remission, mean)
    assert dp.prior_mean(s, "rtx_csa") > reachable_rate(s, "rtx_csa")   # the thinned relapses were used


def test_a_prior_concentrated_at_the_assumed_rates_gives_the_power() -> None:
    s = bare(30)
    point = estimate_power(s, replicates=1000, seed=5, jobs=1, engine="batch")
    sharp = bare(30, extra=[*priors((600_000.0, 400_000.0), (850_000.0, 150_000.0)), *DRAWN])
    drawn = estimate_power(sharp, replicates=1000, seed=5, jobs=1, engine="batch")
    assert abs(drawn.power - point.power) <= 2 * point.mc_se


def test_both_engines_simulate_the_same_drawn_trials() -> None:
    s = load_scenario(PLAIN_SCENARIO, ["simulation.block_size=30", *priors((12.0, 8.0), (17.0, 3.0)), *DRAWN])
    for seed in (1, 2):
        a, b = simulate_block(s, seed, 0, engine="des"), simulate_block(s, seed, 0, engine="batch")
        ours, theirs = a.arrays(), b.arrays()
        for name, x in ours.items():
            if x is not None:
                np.testing.assert_allclose(x, theirs[name], rtol=0, atol=1e-9, err_msg=name)


def test_coverage_is_judged_against_each_trials_own_truth() -> None:
    """The truth differs trial by trial: the mean estimate is unbiased for the prior's mean
    difference without dropout, and a 95% interval covers its own trial's truth 93-97% of the time."""
    s = bare(60, test="ztest", missing="complete_case", extra=[*priors((12.0, 8.0), (17.0, 3.0)), *DRAWN])
    r = estimate_power(s, replicates=2000, seed=9, jobs=1, engine="batch")
    c = r.comparisons[0]
    truth = dp.prior_mean(s, "rtx_csa") - dp.prior_mean(s, "rtx")
    assert c.true_difference == pytest.approx(truth)
    assert abs(c.mean_risk_difference - truth) <= 3 * c.risk_difference_bias_se
    assert 0.93 <= c.ci_coverage <= 0.97


def test_the_prior_probability_of_benefit_matches_numerical_integration() -> None:
    s = bare(30, extra=priors((12.0, 8.0), (14.0, 6.0)))
    f_t, f_c = stats.beta(14.0, 6.0), stats.beta(12.0, 8.0)
    exact = integrate.quad(lambda x: f_t.pdf(x) * f_c.cdf(x), 0.0, 1.0, epsabs=1e-12)[0]
    got = prior_probability_of_benefit(s)
    assert abs(got - exact) <= 4 * math.sqrt(exact * (1 - exact) / 200_000)


def test_conditional_power_is_the_unpooled_normal_approximation() -> None:
    s = bare(40, dropout=0.0)
    got = conditional_power(s, np.array([0.6, 0.5]), np.array([0.85, 0.5]))
    se = math.sqrt(0.6 * 0.4 / 40 + 0.85 * 0.15 / 40)
    z = 0.25 / se
    expected = stats.norm.cdf(z - 1.959963984540054) + stats.norm.cdf(-z - 1.959963984540054)
    assert got[0] == pytest.approx(expected, rel=1e-12)
    assert got[1] == pytest.approx(0.05, rel=1e-12)               # no difference: the two tails


def test_power_json_carries_the_assurance_beside_the_power(run_cli) -> None:
    sets = ["--set", "arms.rtx_csa.design_prior={ beta = [34, 6] }", "--set", "simulation.block_size=50"]
    code, out, err = run_cli(["power", PLAIN_SCENARIO, "--replicates", "200", "--json", *sets])
    assert code == 0, err
    d = json.loads(out)
    assert d["rates_from"] == "assumed" and 0 < d["assurance"] < 1 and d["assurance_mc_se"] > 0
    detail = d["assurance_detail"]
    assert detail["replicates"] == 200 and detail["primary_arm"] == "rtx_csa"
    assert detail["arms"]["rtx_csa"]["design_prior"] == [[1.0, 34.0, 6.0]] and detail["arms"]["rtx"]["design_prior"] is None
    assert detail["arms"]["rtx_csa"]["mean_rate"] == pytest.approx(0.85)
    q = detail["conditional_power"]["quantiles"]
    assert q["0.05"] <= q["0.5"] <= q["0.95"]
    drawn = estimate_power(load_scenario(PLAIN_SCENARIO, [*(x for x in sets if x != "--set"), *DRAWN]), 200,
                           d["seed"], 1)
    assert d["assurance"] == drawn.power                              # the same seed's trials, drawn
    code, out, _ = run_cli(["power", PLAIN_SCENARIO, "--replicates", "200", "--set", sets[1], "--set", sets[3]])
    assert "assurance" in out and "prior probability of a true benefit" in out
    code, out, _ = run_cli(["power", PLAIN_SCENARIO, "--replicates", "100", "--json", "--set", sets[3]])
    plain = json.loads(out)
    assert plain["assurance"] is None and plain["assurance_detail"] is None


def test_with_assurance_leaves_a_design_without_priors_alone() -> None:
    s = bare(20)
    r = estimate_power(s, replicates=100, seed=1, jobs=1)
    assert with_assurance(s, r) is r


@pytest.mark.parametrize("sets, line", [
    (['outcome.rates_from="design_prior"'], "outcome.rates_from: got 'design_prior'; no arm has a design_prior"),
    (["arms.rtx_csa.design_prior={ beta = [34, 6] }", *DRAWN, 'dropout.mechanism="mar"'],
     "dropout.mechanism: got 'mar'; design priors (the assurance) need mcar dropout"),
    (['trial.endpoint="cr"', "arms.rtx.remission_at_endpoint=0.3", "arms.rtx_csa.remission_at_endpoint=0.4",
      "arms.rtx_csa.design_prior={ beta = [9, 3] }"],
     "arms.rtx_csa.design_prior: puts"),
    (["arms.rtx_csa.design_prior={ beta = [0, 3] }"], "arms.rtx_csa.design_prior.beta"),
])
def test_design_prior_mistakes_are_one_clear_error(sets, line, run_cli) -> None:
    code, out, err = run_cli(["validate", PLAIN_SCENARIO, *(x for s in sets for x in ("--set", s))])
    assert code == 2 and out == "" and "Traceback" not in err
    assert any(line in e for e in err.splitlines()), err


@pytest.mark.parametrize("args, line", [
    (["--target-assurance", "0.7"], "--target-assurance: got 0.7; no arm of 'nct04743739' has a design_prior"),
    (["--target-assurance", "0.7", "--target", "0.8", "--set", "arms.rtx_csa.design_prior={ beta = [34, 6] }"],
     "--target-assurance: got 0.7 with --target 0.8; give one of them"),
    (["--target-assurance", "0.9", "--set", "arms.rtx_csa.design_prior={ beta = [10, 6] }",
      "--set", 'analysis.alternative="greater"'], "which no n can exceed"),
])
def test_target_assurance_mistakes_are_usage_errors(args, line, run_cli) -> None:
    code, out, err = run_cli(["samplesize", PLAIN_SCENARIO, *args])
    assert code == 2 and out == "" and line in err, err


def test_samplesize_by_assurance_finds_an_n_whose_assurance_reaches_the_target(run_cli) -> None:
    code, out, err = run_cli(["samplesize", PLAIN_SCENARIO, "--replicates", "400", "--json", "--target-assurance",
                              "0.6", "--set", "arms.rtx_csa.design_prior={ beta = [34, 6] }",
                              "--set", "simulation.block_size=100"])
    assert code == 0, err
    r = json.loads(out)
    assert r["measure"] == "assurance" and r["target"] == 0.6 and r["n_per_arm"] is not None
    at = {p["n_per_arm"]: p for p in r["curve"]}[r["n_per_arm"]]
    assert at["power"] >= 0.6 - 2 * at["mc_se"]


def test_the_summary_gives_the_assurance_beside_the_power() -> None:
    from simulate.report.sentences.summary import assurance_sentence, plain_summary
    from simulate.run.results import SampleSizePlan

    s = load_scenario("nct04743739_assurance", ["simulation.block_size=50", "sweep={}"])
    r = with_assurance(s, estimate_power(s, 100, 1, 1), 100, 1, 1)
    line = assurance_sentence(r)
    assert line in plain_summary(s, r, SampleSizePlan((), (), ()))
    assert f"the assurance, is {r.assurance:.3f} ± {r.assurance_mc_se:.3f}" in line
    d = r.assurance_detail
    assert f"probability of {d['prior_probability_of_benefit']:.2f}" in line
    # the shipped priors: MENTOR's rituximab arm, and a mixture for RTX + CsA
    assert d["arms"]["rtx"]["design_prior"] == [[1.0, 40.0, 27.0]]
    assert d["arms"]["rtx_csa"]["mean_rate"] == pytest.approx(0.7 * 0.85 + 0.3 * 40 / 67)


def test_the_lab_gives_the_same_drawn_trials_as_trialsim_power() -> None:
    """Started on a scenario whose trials draw their rates, the lab's many trials are exactly
    trialsim power's, coverage judged trial by trial as there."""
    from simulate.teach import lab

    s = load_scenario(PLAIN_SCENARIO, ["simulation.block_size=40", "simulation.replicates=120",
                                       *priors((12.0, 8.0), (17.0, 3.0)), *DRAWN])
    many = lab.many_trials(s)
    r = estimate_power(s, 120, s.simulation.seed, 1)
    assert many.power.power == r.power and many.power.ci_coverage == r.ci_coverage


def test_the_ceiling_counts_benefit_as_the_design_counts_success() -> None:
    """Three arms, success if any beats the control: the prior probability of a benefit is that
    of some arm's, not the first one's."""
    sets = ['analysis.alternative="greater"', "arms.rtx_csa.design_prior={ beta = [20, 20] }",
            "arms.rtx_tac.design_prior={ beta = [16, 4] }", "simulation.block_size=50"]
    s = load_scenario("three_arm", sets)
    rtx_tac_alone = load_scenario("three_arm", [*sets, 'analysis.success="rtx_tac"'])
    assert prior_probability_of_benefit(s) >= prior_probability_of_benefit(rtx_tac_alone) > 0.5
    both = load_scenario("three_arm", [*sets, 'analysis.success="all"'])
    assert prior_probability_of_benefit(both) < 0.2
