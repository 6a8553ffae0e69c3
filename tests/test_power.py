"""Validation of Monte Carlo power against exact calculation, and reproducibility.

The scenario is reduced to a bare two-binomial problem: everyone referred is eligible, referrals
are plentiful (recruitment always completes), covariate effects are off and blocks have size 2
so both arms have exactly n patients. Each patient is then in remission at the endpoint with
probability r_arm, independently, so exact power is a sum over every 2x2 table. Simulated power
must agree within 3 Monte Carlo standard errors.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulate.analysis import formulas
from simulate.engines.blocks import simulate_block
from simulate.run.samplesize import analytic_references, closed_form_curve, find_sample_size
from simulate.design.assumed import dropout_adjustment
from simulate.run.power import estimate_power, simulate_replicates
from simulate.design.loader import load_scenario

from conftest import PLAIN_SCENARIO
from reference_calls import bare_overrides, complete_case_power
from reference_values import EXACT_SIMULATED_POWER

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = PLAIN_SCENARIO     # the registered design without intercurrent events


def bare(n: int, test: str = "fisher", missing: str = "nonresponder", dropout: float = 0.0,
         rates=(0.60, 0.85), extra=()) -> object:
    """The bare two-binomial problem with n per arm (reference_calls.bare_overrides)."""
    return load_scenario(DEFAULT, bare_overrides(n, test, missing, dropout, rates, extra))


def within(sim, exact, replicates, k=3.0):
    se = math.sqrt(max(exact * (1 - exact), 1e-4) / replicates)
    assert abs(sim - exact) <= k * se, f"simulated {sim:.4f} vs exact {exact:.4f} (3 SE = {k * se:.4f})"


SIMULATED = {c["label"]: c["inputs"] for c in EXACT_SIMULATED_POWER["cases"]}
"""Seeds and numbers of trials of the comparisons with exact power (reference_values.py)."""


@pytest.mark.parametrize("test", ["fisher", "chi2", "chi2_yates", "ztest"])
@pytest.mark.parametrize("n", [20, 45])
def test_power_matches_exact_enumeration(test, n):
    case = SIMULATED[f"{n}-{test}"]
    s = bare(**case["bare"])
    r = estimate_power(s, replicates=case["replicates"], seed=case["seed"], jobs=1, engine="batch")
    assert r.p_terminated == 0 and r.mean_randomised == 2 * n
    exact = formulas.exact_power(test, n, n, 0.60, 0.85, 0.05)
    within(r.power, exact, r.replicates)


def test_power_with_dropout_nonresponder_imputation_matches_exact():
    case = SIMULATED["dropout-nonresponder"]
    d, n = case["bare"]["dropout"], case["bare"]["n"]
    s = bare(n, dropout=d)
    r = estimate_power(s, replicates=case["replicates"], seed=case["seed"], jobs=1, engine="batch")
    # MCAR dropout counted as failure: each patient responds with probability r (1 - d)
    exact = formulas.exact_power("fisher", n, n, 0.60 * (1 - d), 0.85 * (1 - d), 0.05)
    within(r.power, exact, r.replicates)


def test_power_with_dropout_complete_case_matches_exact():
    case = SIMULATED["dropout-complete-case"]
    d, n = case["bare"]["dropout"], case["bare"]["n"]
    s = bare(n, missing="complete_case", dropout=d)
    r = estimate_power(s, replicates=case["replicates"], seed=case["seed"], jobs=1, engine="batch")
    # analysed m ~ Binomial(n, 1 - d) per arm, independently; then exact power given (m_c, m_t)
    exact = complete_case_power(n, d, 0.60, 0.85, 0.05)
    within(r.power, exact, r.replicates)


@pytest.mark.parametrize("missing", ["nonresponder", "complete_case"])
def test_closed_form_power_with_dropout_agrees_with_simulation(missing):
    """The one dropout rule, through the closed-form power curve the report draws: the pooled
    normal power with dropout against the simulated power of the z-test (the test the formula
    approximates), MCAR dropout of 20%. Tolerance 4 MC SE (0.044): the normal approximation
    itself is off by about 1 MC SE here (0.010 and 0.009 against exact enumeration), while
    ignoring dropout is 0.08 (complete cases) and 0.27 (nonresponder) off, and taking the other
    strategy's rule 0.19."""
    n, d = 60, 0.2
    s = bare(n, test="ztest", missing=missing, dropout=d)
    r = estimate_power(s, replicates=2000, seed=31, jobs=1, engine="batch")
    (point,) = closed_form_curve(s, [n])
    within(r.power, point.pooled_normal_with_dropout, r.replicates, k=4.0)
    assert abs(point.pooled_normal - point.pooled_normal_with_dropout) > 0.075


def test_dropout_rule_is_exact_under_informative_nonresponder_dropout():
    """Non-responders drop out three times as fast: a patient counts as a responder when in
    remission at the endpoint and still in the trial, with the probability the rule gives, so
    exact Fisher power at the rule's rates matches the simulation."""
    n = 40
    s = bare(n, dropout=0.3, extra=["dropout.mechanism=informative", "dropout.informative_hazard_ratio=3"])
    adj = dropout_adjustment(s)
    assert adj.analysed_fraction == 1 and 0.60 * 0.7 < adj.p_control < 0.60 and 0.85 * 0.7 < adj.p_treat < 0.85
    r = estimate_power(s, replicates=2000, seed=32, jobs=1, engine="batch")
    within(r.power, formulas.exact_power("fisher", n, n, adj.p_control, adj.p_treat, 0.05), r.replicates)


@pytest.mark.parametrize("missing", ["nonresponder", "complete_case", "locf"])
def test_every_closed_form_reference_uses_the_one_dropout_rule(missing):
    d = 0.2
    s = bare(63, missing=missing, dropout=d)
    adj = dropout_adjustment(s)
    refs = analytic_references(s, 0.8)
    args = (adj.p_control, adj.p_treat, 0.05, 0.8)
    assert refs.pooled_normal_with_dropout == adj.n_randomised(formulas.n_per_arm_pooled_normal(*args))
    assert refs.fleiss_cc_with_dropout == adj.n_randomised(formulas.n_per_arm_fleiss_cc(*args))
    (point,) = closed_form_curve(s, [63])
    assert point.pooled_normal_with_dropout == pytest.approx(
        formulas.power_pooled_normal(63 * adj.analysed_fraction, adj.p_control, adj.p_treat))
    if missing == "complete_case":   # same rates, fewer patients: n / (1 - d)
        assert refs.pooled_normal_with_dropout == math.ceil(refs.pooled_normal / (1 - d))
    else:                            # everyone analysed, rates diluted by dropout (LOCF: its lower bound)
        assert (adj.p_control, adj.p_treat) == pytest.approx((0.60 * (1 - d), 0.85 * (1 - d)))
        assert refs.pooled_normal_with_dropout == formulas.n_per_arm_pooled_normal(0.48, 0.68)


def test_sample_size_progress_is_labelled_by_n_per_arm():
    from simulate.run.power import sizes_label

    assert sizes_label(list(range(63, 79)), 2000) == "n = 63-78 per arm, 2,000 trials each"
    assert sizes_label([40, 50, 60], 500) == "n = 40-60 per arm (3 sizes), 500 trials each"
    assert sizes_label([63], 2000) == "n = 63 per arm, 2,000 trials"


def test_fisher_type_one_error_at_most_alpha():
    s = bare(40, rates=(0.6, 0.6))
    r = estimate_power(s, replicates=3000, seed=8, jobs=1, engine="batch")
    alpha = 0.05
    assert r.power <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / r.replicates)
    exact = formulas.exact_power("fisher", 40, 40, 0.6, 0.6, alpha)
    within(r.power, exact, r.replicates)


def test_calibrated_model_gives_the_scenario_rates_through_the_pipeline():
    """Full outcome model (covariates, relapse) but no dropout: power equals exact power."""
    s = bare(35, extra=["outcome.covariate_effects=true", "outcome.relapse=true"])
    r = estimate_power(s, replicates=1500, seed=21, jobs=1, engine="batch")
    within(r.power, formulas.exact_power("fisher", 35, 35, 0.60, 0.85, 0.05), r.replicates)


def test_same_seed_same_results_for_one_and_two_jobs():
    s = load_scenario(DEFAULT, ["simulation.block_size=40"])
    a = estimate_power(s, replicates=120, seed=3, jobs=1, engine="des")
    b = estimate_power(s, replicates=120, seed=3, jobs=2, engine="des")
    da, db = a.to_dict(), b.to_dict()
    da.pop("elapsed_seconds"), db.pop("elapsed_seconds")
    assert da == db


def test_adding_replicates_leaves_the_first_unchanged():
    s = load_scenario(DEFAULT, ["simulation.block_size=50"])
    small = simulate_replicates(s, 70, seed=4, jobs=1, engine="batch")
    large = simulate_replicates(s, 160, seed=4, jobs=1, engine="batch")
    for name in ("n_randomised", "x_endpoint", "recruitment_months", "referred"):
        np.testing.assert_array_equal(getattr(small, name), getattr(large, name)[:70])


@pytest.mark.parametrize("scenario", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.stem)
def test_batch_engine_reproduces_the_des_trial_by_trial(scenario):
    s = load_scenario(scenario, ["simulation.block_size=30"])
    for seed in (1, 2):
        a = simulate_block(s, seed, 0, engine="des")
        b = simulate_block(s, seed, 0, engine="batch")
        ours, theirs = a.arrays(), b.arrays()
        assert ours.keys() == theirs.keys()
        for name, x in ours.items():
            y = theirs[name]
            assert (x is None) == (y is None), name
            if x is not None:
                np.testing.assert_allclose(x, y, rtol=0, atol=1e-9, err_msg=f"{scenario.stem} seed {seed}: {name}")


def test_null_scenario_is_a_type_one_error_run():
    s = load_scenario(DEFAULT, ["arms.rtx_csa.remission_at_endpoint=0.60"])
    r = estimate_power(s, replicates=1000, seed=2, jobs=1, engine="batch")
    assert r.true_difference == 0
    assert r.power <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / r.replicates)


@pytest.mark.slow
def test_sample_size_agrees_with_exact_fisher():
    """Bare problem, Fisher, 60% vs 85%: exact first n reaching 80% is 56 (LITERATURE.md)."""
    s = bare(50)
    r = find_sample_size(s, 0.8, replicates=2000, seed=9, jobs=1, engine="batch", window=6)
    exact = formulas.n_per_arm_exact("fisher", 0.60, 0.85, 0.05, 0.8, window=6)
    assert r.n_per_arm is not None
    # the power curve rises ~0.006 per patient here; 3 MC SE (~0.027) spans about 5 patients
    assert abs(r.n_per_arm - exact.stable_n) <= 6, (r.n_per_arm, exact.stable_n)
    for point in r.curve:
        n = point.n_per_arm
        within(point.power, formulas.exact_power("fisher", n, n, 0.60, 0.85, 0.05), 2000, k=4.0)
    assert r.analytic.pooled_normal == 49 and r.analytic.fleiss_cc == 57


def test_significant_small_trials_overstate_the_effect():
    """Winner's curse: at 7 per arm only large observed differences reach significance, so the
    mean |difference| of significant trials is at least the smallest significant one."""
    from simulate.analysis import compare

    n = 7
    r = estimate_power(bare(n), replicates=3000, seed=12, jobs=1, engine="batch")
    x_c, x_t = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    p = compare.p_values("fisher", x_c.ravel(), np.full(x_c.size, n), x_t.ravel(), np.full(x_c.size, n))
    smallest = np.abs(x_t.ravel() - x_c.ravel())[p < 0.05].min() / n
    assert r.rejections > 0
    assert r.mean_abs_risk_difference_if_significant >= smallest - 1e-12
    assert r.exaggeration_ratio >= smallest / 0.25 > 1.5


def test_well_powered_trials_barely_overstate_the_effect():
    r = estimate_power(bare(150), replicates=800, seed=13, jobs=1, engine="batch")
    assert r.power > 0.99
    # nearly every trial is significant, so the conditional mean is the plain mean: unbiased
    se = r.risk_difference_bias_se
    assert abs(r.mean_abs_risk_difference_if_significant - 0.25) <= 3 * se + 0.002


def test_sample_size_range_holds_the_exact_answer_and_precision_narrows_it():
    """The Monte Carlo range of n brackets the exact Fisher answer; asking for +-1 adds trials
    near the crossing (same seed) until the range is that narrow."""
    s = bare(50)
    exact = formulas.n_per_arm_exact("fisher", 0.60, 0.85, 0.05, 0.8, window=6)
    rough = find_sample_size(s, 0.8, replicates=500, seed=9, jobs=1, engine="batch", window=6)
    fine = find_sample_size(s, 0.8, replicates=500, seed=9, jobs=1, engine="batch", window=6, precision=1)
    assert rough.n_range[0] <= rough.n_per_arm <= rough.n_range[1]
    assert rough.n_range[1] - rough.n_range[0] > 2                  # 500 trials cannot resolve n to +-1
    assert fine.n_range[1] - fine.n_range[0] <= 2 or fine.note
    assert fine.replicates > rough.replicates == 500
    assert fine.n_range[1] - fine.n_range[0] < rough.n_range[1] - rough.n_range[0]
    first_hit = exact.first_n                                        # the exact first n reaching 80%
    assert fine.n_range[0] - 2 <= first_hit <= fine.n_range[1] + 2, (fine.n_range, first_hit)


def _se(values) -> float:
    """Monte Carlo SE of a mean: the sample SD of the finite replicates over sqrt(their count)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.std(ddof=1) / math.sqrt(len(x)))


INTERIM = ['analysis.alternative="greater"', 'analysis.test="ztest"', "analysis.alpha=0.025",
           "interim.information_fractions=[0.5, 1.0]", 'interim.futility="beta_spending"']


@pytest.mark.parametrize("sets", [[], INTERIM], ids=["fixed", "interim"])
def test_every_mean_carries_the_monte_carlo_se_of_its_replicates(sets):
    """The SE of each mean, totalled block by block (three blocks here), is the sample SD of the
    replicates over sqrt(n) as numpy computes it from the same trials; proportions are binomial."""
    from simulate.run.power import simulate_replicates
    from simulate.run.tally import analyse_outcomes

    s = load_scenario(DEFAULT, ["simulation.block_size=30", *sets])
    r = estimate_power(s, 90, 3, 1, "batch")
    o = simulate_replicates(s, 90, 3, 1, "batch")
    assert r.mean_randomised_mc_se == pytest.approx(_se(o.randomised), rel=1e-9)
    assert r.mean_dropouts_mc_se == pytest.approx(_se(o.dropouts), rel=1e-9)
    assert r.mean_duration_months_mc_se == pytest.approx(_se(o.duration_months), rel=1e-9)
    assert r.mean_recruitment_months_mc_se == pytest.approx(_se(o.recruitment_months), rel=1e-9)
    assert r.mean_consort_mc_se["referred"] == pytest.approx(_se(o.referred), rel=1e-9)
    p = o.terminated.mean()
    assert r.p_terminated == p and r.p_terminated_mc_se == pytest.approx(math.sqrt(p * (1 - p) / 90), rel=1e-12)
    a = analyse_outcomes(s, o).analyses[0]
    ok = np.isfinite(a.risk_difference)
    assert r.mean_ci_width_mc_se == pytest.approx(_se((a.ci_high - a.ci_low)[ok]), rel=1e-9)
    assert r.risk_difference_bias_se == pytest.approx(_se(a.risk_difference[ok]), rel=1e-9)
    assert r.expected_randomised_mc_se == r.mean_randomised_mc_se
    if sets:
        assert r.expected_duration_months_mc_se == pytest.approx(_se(o.decision_month), rel=1e-9)
        first = r.looks[0]
        held = ~np.isnan(o.look_month[:, 0])
        assert first.mean_month_mc_se == pytest.approx(_se(o.look_month[held, 0]), rel=1e-9)
        assert first.mean_randomised_mc_se == pytest.approx(_se(o.look_randomised[held, 0]), rel=1e-9)
    else:
        assert math.isnan(r.expected_duration_months_mc_se)


def test_the_top_level_estimates_are_the_first_comparisons():
    """A power result stores each estimate once, in its comparisons: the top-level figures read
    the first, and ``expected_randomised`` is ``mean_randomised``."""
    from dataclasses import fields

    from simulate.run.results import FIRST_COMPARISON_VIEW, PowerResult

    s = load_scenario("three_arm", ["simulation.block_size=20"])
    r = estimate_power(s, 40, 1, 1)
    stored = {f.name for f in fields(PowerResult)}
    assert not stored & set(FIRST_COMPARISON_VIEW) and "expected_randomised" not in stored
    d = r.to_dict()
    first = r.comparisons[0]
    for name in FIRST_COMPARISON_VIEW:
        assert d[name] == getattr(first, name) or (math.isnan(d[name]) and math.isnan(getattr(first, name)))
    assert d["expected_randomised"] == d["mean_randomised"]
    assert first.risk_difference_bias == first.mean_risk_difference - first.true_difference
