"""Covariate-adjusted analyses: g-computation against statsmodels' GLM fit and standardisation on
each trial's own data, its two variances computed independently, the Mantel-Haenszel risk
difference and Sato's variance stratum by stratum, the patients' endpoints against the counts
every other analysis reads, and the operating characteristics under the null with covariate
effects on (type I error, coverage) within their Monte Carlo error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from simulate.analysis.adjusted import (AdjustmentData, covariate_matrix, g_computation, mantel_haenszel)
from simulate.design.choices import BASELINE_COVARIATES
from simulate.design.loader import load_scenario
from simulate.engines.blocks import simulate_block
from simulate.run.power import estimate_power
from simulate.run.tally import comparison_adjustment

from conftest import DEFAULT_SCENARIO, PLAIN_SCENARIO, assert_refused
from reference_calls import statsmodels_g_computation
from reference_values import G_COMPUTATION as G_COMP, STATSMODELS_G_COMPUTATION, STRONG_COVARIATES as STRONG
from test_engines import assert_same

COVARIATES = ("log2(pla2r_titre_ru_ml)", "proteinuria_g_day")
GLM_CASE = STATSMODELS_G_COMPUTATION["cases"][0]["inputs"]
"""The block (seed, trials) and the trials compared with statsmodels (reference_values.py)."""


def block_data(overrides=(), seed=3, missing="nonresponder", scenario=PLAIN_SCENARIO, n_trials=40):
    s = load_scenario(scenario, [*G_COMP, f'analysis.missing="{missing}"', *overrides])
    b = simulate_block(s, seed, 0, n_trials=n_trials, engine="batch")
    return s, b, comparison_adjustment(b.patients, s.control_index, 1, missing, COVARIATES)


def test_g_computation_is_statsmodels_glm_and_standardisation_on_each_trial():
    _, _, data = block_data(STRONG, seed=GLM_CASE["seed"], n_trials=GLM_CASE["block_trials"])
    g = g_computation(data)
    for i in range(GLM_CASE["compared_trials"]):
        fit, theta, _, _ = statsmodels_g_computation(data, i)
        np.testing.assert_allclose(g.theta[i], theta, rtol=0, atol=1e-8)
        np.testing.assert_allclose(g.coef[i], fit.params, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(g.coef_cov[i], fit.cov_params(), rtol=1e-5)


def test_the_model_robust_variance_is_ye_et_al_computed_patient_by_patient():
    _, _, data = block_data(STRONG)
    g = g_computation(data, "model_robust")
    for i in range(8):
        _, theta, mu, _ = statsmodels_g_computation(data, i)
        m = data.analysed[i]
        y, arm = data.y[i][m].astype(float), data.arm[i][m]
        n = len(y)
        V = np.zeros((2, 2))
        for a in (0, 1):
            own = arm == a
            pi = own.mean()
            for b in (0, 1):
                term = np.cov(y[arm == b], mu[a][arm == b])[0, 1] + np.cov(y[own], mu[b][own])[0, 1] \
                    - np.cov(mu[a], mu[b])[0, 1]
                V[a, b] = term + (np.var(y[own] - mu[a][own], ddof=1) / pi if a == b else 0.0)
        np.testing.assert_allclose(g.cov[i], V / n, rtol=1e-7)
        se = math.sqrt((V[1, 1] + V[0, 0] - 2 * V[0, 1]) / n)
        assert g.difference_se[i] == pytest.approx(se, rel=1e-7)


def test_the_delta_method_variance_is_ge_et_al_with_the_glm_covariance():
    _, _, data = block_data(STRONG)
    g = g_computation(data, "delta_method")
    for i in range(8):
        fit, _, mu, as_arm = statsmodels_g_computation(data, i)
        grad = np.mean(mu[1][:, None] * (1 - mu[1][:, None]) * as_arm[1]
                       - mu[0][:, None] * (1 - mu[0][:, None]) * as_arm[0], axis=0)
        assert g.difference_se[i] == pytest.approx(math.sqrt(grad @ fit.cov_params() @ grad), rel=1e-5)


@pytest.mark.parametrize("missing", ["nonresponder", "complete_case", "locf"])
@pytest.mark.parametrize("scenario", [PLAIN_SCENARIO, DEFAULT_SCENARIO], ids=["plain", "with-events"])
def test_the_patients_endpoints_are_the_counts_every_analysis_reads(missing, scenario):
    s, b, data = block_data(("dropout.probability_by_endpoint=0.25",), missing=missing, scenario=scenario)
    x, n = b.counts(missing)
    for a, arm in ((0, s.control_index), (1, 1)):
        own = data.analysed & (data.arm == a)
        np.testing.assert_array_equal(own.sum(axis=1), n[..., arm].sum(axis=1))
        np.testing.assert_array_equal((own & (data.y == 1)).sum(axis=1), x[..., arm].sum(axis=1))


def test_the_covariates_are_those_of_patients_csv(tmp_path):
    from simulate.engines.des import simulate_trial
    from simulate.fates.draw import draw_fates
    from simulate.run.plan import trials_per_block
    from simulate.seeding import block_sequence

    s, b, data = block_data(n_trials=4)
    fates = draw_fates(s, block_sequence(3, 0), trials_per_block(s))      # the block's fates, as it drew them
    for i in range(2):
        table = simulate_trial(s, fates, i, detail=False).patients
        got = np.sort(data.X[i][data.analysed[i]], axis=0)
        want = np.sort(np.column_stack([np.log2(table["pla2r_titre_ru_ml"]), table["proteinuria_g_day"]]), axis=0)
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_covariate_matrix_takes_names_and_log2():
    baseline = np.array([[[8.0, 3.5], [0.5, 7.0]]])
    X = covariate_matrix(baseline, BASELINE_COVARIATES, ("proteinuria_g_day", "log2(pla2r_titre_ru_ml)"))
    np.testing.assert_array_equal(X, [[[3.5, 3.0], [7.0, -1.0]]])


def test_mantel_haenszel_and_sato_stratum_by_stratum():
    rng = np.random.default_rng(7)
    n_c, n_t = rng.integers(0, 15, (30, 4)), rng.integers(0, 15, (30, 4))
    x_c, x_t = rng.integers(0, n_c + 1), rng.integers(0, n_t + 1)
    rd, se = mantel_haenszel(x_c, n_c, x_t, n_t)
    for i in range(30):
        num = den = P = Q = 0.0
        for k in range(4):
            a, b, c, d = x_t[i, k], n_t[i, k], x_c[i, k], n_c[i, k]
            N = b + d
            if b == 0 or d == 0:
                continue
            num += (a * d - c * b) / N          # w (a/b - c/d) with w = b d / N
            den += b * d / N
            P += (b * b * c - d * d * a + b * d * (d - b) / 2) / N**2
            Q += (a * (d - c) + c * (b - a)) / (2 * N)
        assert rd[i] == pytest.approx(num / den, abs=1e-14)
        assert se[i] == pytest.approx(math.sqrt((num / den * P + Q) / den**2), rel=1e-12)


def test_one_stratum_mantel_haenszel_is_the_risk_difference():
    rd, se = mantel_haenszel([[30]], [[60]], [[45]], [[60]])
    assert rd[0] == pytest.approx(0.25)
    # Sato's variance in one stratum: (RD P + Q) / w^2
    assert se[0] == pytest.approx(math.sqrt((0.25 * (3600 * 30 - 3600 * 45) / 120**2 + (45 * 30 + 30 * 15) / 240)
                                            / 30**2), rel=1e-12)


def test_the_engines_agree_with_an_adjusted_analysis():
    s = load_scenario(PLAIN_SCENARIO, [*G_COMP, "simulation.block_size=30"])
    assert_same(simulate_block(s, 2, 0, engine="des"), simulate_block(s, 2, 0, engine="batch"), "g-computation")


@pytest.mark.parametrize("variance", ["model_robust", "delta_method"])
def test_type_one_error_and_coverage_under_the_null_with_covariate_effects(variance):
    s = load_scenario(PLAIN_SCENARIO, [*G_COMP, *STRONG, f'analysis.adjustment_variance="{variance}"',
                                       "arms.rtx_csa.remission_at_endpoint=0.6"])
    r = estimate_power(s, replicates=3000, seed=41, jobs=1, engine="batch")
    se = math.sqrt(0.05 * 0.95 / r.replicates)
    assert abs(r.power - 0.05) <= 2 * se, r.power                # within 2 Monte Carlo SE of alpha
    assert 0.93 <= r.ci_coverage <= 0.97, r.ci_coverage


def test_adjusting_for_prognostic_covariates_buys_power_on_the_same_trials():
    s = load_scenario(PLAIN_SCENARIO, [*G_COMP, *STRONG, "arms.rtx_csa.remission_at_endpoint=0.8"])
    plain = load_scenario(PLAIN_SCENARIO, [*STRONG, 'analysis.test="wald"', "arms.rtx_csa.remission_at_endpoint=0.8"])
    adjusted = estimate_power(s, replicates=1500, seed=43, jobs=1, engine="batch")
    unadjusted = estimate_power(plain, replicates=1500, seed=43, jobs=1, engine="batch")
    # the same trials: the difference of two correlated proportions; 0.02 is several of its SEs
    assert adjusted.power > unadjusted.power + 0.02, (adjusted.power, unadjusted.power)


def test_mantel_haenszel_runs_on_stratified_randomisation():
    s = load_scenario(PLAIN_SCENARIO, ['analysis.adjustment="mantel_haenszel"', 'analysis.test="mantel_haenszel"',
                                       'randomisation.stratify_by=["pla2r_titre_high"]',
                                       "arms.rtx_csa.remission_at_endpoint=0.6"])
    r = estimate_power(s, replicates=2000, seed=47, jobs=1, engine="batch")
    assert abs(r.power - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / r.replicates), r.power


@pytest.mark.parametrize("overrides, line", [
    (['analysis.adjustment="g_computation"'], "analysis.test: got 'fisher'; with adjustment = 'g_computation'"),
    (['analysis.adjustment="g_computation"', 'analysis.test="g_computation"'], "analysis.adjust_for: got []"),
    ([*G_COMP[:2], 'analysis.adjust_for=["age_years"]'], "analysis.adjust_for: got 'age_years'; must be one of"),
    (['analysis.adjust_for=["proteinuria_g_day"]'], "covariates are adjusted for by g-computation"),
    (['analysis.adjustment="mantel_haenszel"', 'analysis.test="mantel_haenszel"'], "needs strata"),
])
def test_adjustment_mistakes_are_named(overrides, line):
    assert_refused(overrides, line)


def test_g_computation_with_an_arm_all_responders_stays_finite():
    arm = (np.arange(20) >= 10).astype(np.int8)[None]  # 10 control, then 10 experimental
    y = np.ones((1, 20), dtype=np.int8)
    y[0, :5] = 0                                        # control: 5 of 10 respond; experimental: all 10
    data = AdjustmentData(analysed=np.ones((1, 20), bool), arm=arm, y=y,
                          X=np.random.default_rng(1).normal(size=(1, 20, 1)),
                          names=("x",))
    g = g_computation(data)
    assert g.theta[0, 1] == pytest.approx(1.0, abs=1e-3) and np.isfinite(g.difference[0])


@pytest.mark.parametrize("missing", ["nonresponder", "complete_case"])
def test_trial_json_is_what_statsmodels_gives_from_patients_csv(missing, run_cli, tmp_path):
    """A user refits the trial's own patients.csv (endpoint as the missing-data rule counts it,
    the covariates as named) and gets the analysis trial --json reports."""
    import json

    import pandas as pd

    sets = [x for o in (*G_COMP, *STRONG, f'analysis.missing="{missing}"') for x in ("--set", o)]
    code, out, err = run_cli(["trial", str(PLAIN_SCENARIO), "--json", "--out", str(tmp_path / "t"), *sets])
    assert code == 0, err
    (row,) = json.loads(out)["analysis"]
    table = pd.read_csv(tmp_path / "t" / "patients.csv")
    if missing == "complete_case":
        table = table[table.endpoint_status != "missing"]
    y = table.endpoint_status.isin(["complete", "partial"]).astype(float).to_numpy()
    X = np.column_stack([np.ones(len(table)), (table.arm == "rtx_csa").astype(float),
                         np.log2(table.pla2r_titre_ru_ml), table.proteinuria_g_day])
    fit = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200)
    np.testing.assert_allclose(row["working_model"]["coefficients"], fit.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(row["working_model"]["se"], fit.bse, rtol=1e-5)
    as_arm = [X.copy(), X.copy()]
    as_arm[0][:, 1], as_arm[1][:, 1] = 0.0, 1.0
    theta = [float(np.mean(fit.predict(Z))) for Z in as_arm]
    assert row["marginal"]["control"] == pytest.approx(theta[0], abs=1e-8)
    assert row["estimate"] == pytest.approx(theta[1] - theta[0], abs=1e-8)
    assert row["risk_ratio"]["estimate"] == pytest.approx(theta[1] / theta[0], rel=1e-7)
    assert row["analysed"]["control"] + row["analysed"]["experimental"] == len(table)
    z = (row["estimate"]) / row["se"]
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert row["working_model"]["terms"][2:] == list(COVARIATES)


def test_the_completed_data_sets_are_those_the_wald_imputation_analyses():
    """The Wald test's Rubin-combined estimate from the completed data sets
    g-computation reads equals the Wald imputation's own (the same draws)."""
    from simulate.analysis.imputation import _Pool, wald_risk_difference
    from simulate.analysis.visit_imputation import analyse, completed_endpoints
    from simulate.run.tally import comparison_patients

    s = load_scenario(PLAIN_SCENARIO, ['analysis.test="wald"', 'analysis.missing="mi_mar"', 'dropout.mechanism="mar"',
                                       "dropout.probability_by_endpoint=0.3"])
    b = simulate_block(s, 5, 0, n_trials=30, engine="batch")
    visits = comparison_patients(b.patients, s.control_index, 1, tuple(float(v) for v in s.trial.visit_months))
    pool = _Pool()
    for y in completed_endpoints(visits, 10):
        counts = [((visits.analysed & (visits.arm == a) & (y == 1)).sum(axis=1), (visits.analysed & (visits.arm == a)).sum(axis=1))
                  for a in (0, 1)]
        pool.add(*wald_risk_difference(counts[0][0], counts[0][1], counts[1][0], counts[1][1]))
    reference = analyse(visits, 10, 0.95, "two-sided")
    np.testing.assert_allclose(pool.combine(1.0).estimate, reference.estimate[:, 0, 0], atol=1e-14)
    assert (visits.missing.sum(axis=1) > 0).all()


def test_g_computation_with_multiple_imputation_keeps_alpha_and_matches_the_wald_imputation_without_covariates():
    mar = ('analysis.missing="mi_mar"', 'dropout.mechanism="mar"', "dropout.probability_by_endpoint=0.3",
           "analysis.imputations=10")
    s = load_scenario(PLAIN_SCENARIO, [*G_COMP, *STRONG, *mar, "arms.rtx_csa.remission_at_endpoint=0.6"])
    r = estimate_power(s, replicates=2000, seed=59, jobs=1, engine="batch")
    assert abs(r.power - 0.05) <= 2 * math.sqrt(0.05 * 0.95 / r.replicates), r.power
    assert 0.93 <= r.ci_coverage <= 0.97, r.ci_coverage
    # with the covariates' effects off, g-computation's estimate on each completed data set is the
    # difference of the completed rates: the Rubin-combined estimate is the Wald imputation's
    off = ["outcome.covariate_effects=false"]
    adjusted = estimate_power(load_scenario(PLAIN_SCENARIO, [*G_COMP, *mar, *off]), 200, 61, 1, "batch")
    plain = estimate_power(load_scenario(PLAIN_SCENARIO, ['analysis.test="wald"', *mar, *off]), 200, 61, 1, "batch")
    assert adjusted.mean_risk_difference == pytest.approx(plain.mean_risk_difference, abs=0.01)


def test_a_tipping_point_grid_is_refused_with_adjustment():
    assert_refused([*G_COMP, 'analysis.missing="mi_mar"', "analysis.tipping_point_deltas=[0, -1]"],
                   "analysis.tipping_point_deltas: got [0.0, -1.0]")


LOOKS = ('analysis.alternative="greater"', "analysis.alpha=0.025", "interim.information_fractions=[0.5, 1.0]")


@pytest.mark.parametrize("extra", [(), ('analysis.missing="complete_case"', "dropout.probability_by_endpoint=0.3",
                                        'interim.futility="beta_spending"', "interim.decision_lag_months=2")],
                         ids=["obf", "complete-case-futility-lag"])
def test_the_engines_agree_on_adjusted_looks(extra):
    """Trial by trial the same looks, stops and decisions; the z of a logistic fit agrees to
    1e-12 (the engines hand it the same patients in another order and width of padding)."""
    s = load_scenario(PLAIN_SCENARIO, [*G_COMP, *STRONG, *LOOKS, *extra, "simulation.block_size=30"])
    for seed in (1, 2):
        a, b = simulate_block(s, seed, 0, engine="des"), simulate_block(s, seed, 0, engine="batch")
        ours, theirs = a.arrays(), b.arrays()
        assert ours.keys() == theirs.keys()
        for name, x in ours.items():
            if name in ("look_z", "overrun_z"):
                np.testing.assert_allclose(x, theirs[name], rtol=1e-12, atol=1e-12, err_msg=name)
            elif x is not None:
                np.testing.assert_array_equal(x, theirs[name], err_msg=f"seed {seed}: {name}")
        assert np.isfinite(b.look_z[:, 0]).any() and (b.stop_look >= 0).any()


def test_adjusted_looks_keep_the_overall_alpha_and_their_z_is_the_adjusted_analysis():
    s = load_scenario(PLAIN_SCENARIO, [*G_COMP, *STRONG, *LOOKS, "arms.rtx_csa.remission_at_endpoint=0.6"])
    r = estimate_power(s, replicates=3000, seed=67, jobs=1, engine="batch")
    assert abs(r.power - 0.025) <= 2 * math.sqrt(0.025 * 0.975 / r.replicates), r.power
    # the final look's z of a trial that went to the end is the adjusted analysis of its patients
    b = simulate_block(s, 3, 0, n_trials=20, engine="batch")
    data = comparison_adjustment(b.patients, s.control_index, 1, "nonresponder", COVARIATES)
    g = g_computation(data)
    final = b.stop_look < 0
    np.testing.assert_allclose(b.overrun_z[final], (g.difference / g.difference_se)[final], rtol=1e-9)


def test_non_inferiority_at_the_margin_keeps_alpha():
    s = load_scenario(PLAIN_SCENARIO, [*G_COMP, *STRONG, 'analysis.hypothesis="non_inferiority"', "analysis.margin=0.15",
                                       'analysis.alternative="greater"', "analysis.alpha=0.025",
                                       "arms.rtx_csa.remission_at_endpoint=0.45",      # 0.60 - 0.15: at the margin
                                       "dropout.probability_by_endpoint=0"])           # dropouts as failures would move it
    r = estimate_power(s, replicates=3000, seed=71, jobs=1, engine="batch")
    assert abs(r.power - 0.025) <= 2 * math.sqrt(0.025 * 0.975 / r.replicates), r.power


def test_several_arms_with_holm_adjust_each_comparison_and_keep_the_familywise_error():
    s = load_scenario("three_arm", [*G_COMP, *STRONG, "sweep={}", "arms.rtx_csa.remission_at_endpoint=0.6",
                                    "arms.rtx_tac.remission_at_endpoint=0.6", 'analysis.success="any"'])
    assert s.analysis.multiplicity == "holm" and len(s.experimental_arms) == 2
    r = estimate_power(s, replicates=2000, seed=73, jobs=1, engine="batch")
    assert r.power <= s.analysis.alpha + 2 * math.sqrt(s.analysis.alpha * (1 - s.analysis.alpha) / r.replicates)
    assert len(r.comparisons) == 2 and all(0.93 <= c.ci_coverage <= 0.97 for c in r.comparisons)


@pytest.mark.parametrize("overrides, line", [
    ([*G_COMP, 'analysis.missing="mi_mar"', *LOOKS], "analysis.missing: got 'mi_mar'; interim looks decide"),
    (['analysis.adjustment="mantel_haenszel"', 'analysis.test="mantel_haenszel"', *LOOKS,
      'randomisation.stratify_by=["pla2r_titre_high"]'], "not monitored at interim looks"),
    (['analysis.adjustment="mantel_haenszel"', 'analysis.test="mantel_haenszel"', 'analysis.missing="mi_mar"',
      'randomisation.stratify_by=["pla2r_titre_high"]'], "not combined over imputed data sets"),
    ([*G_COMP, 'analysis.framework="bayesian"', 'analysis.alternative="greater"'],
     "covariate adjustment is a frequentist analysis"),
    (['analysis.adjustment="g_computation"', 'analysis.adjust_for=["proteinuria_g_day"]'],
     "set test = \"g_computation\" too"),
])
def test_combinations_adjustment_cannot_make_are_named_once(overrides, line):
    assert_refused(overrides, line)


def test_run_with_adjusted_looks_compares_with_the_score_test(tmp_path):
    from simulate.run.adjustment_gain import unadjusted, unadjusted_test
    from simulate.run.main_job import run_all

    s = load_scenario(PLAIN_SCENARIO, [*G_COMP, *LOOKS, "simulation.block_size=50", "sweep={}"])
    assert unadjusted_test(s) == "ztest" and unadjusted(s).analysis.test == "ztest"
    results = run_all(s, tmp_path / "out", replicates=100)
    assert results.adjustment.unadjusted_test == "ztest" and (tmp_path / "out" / "adjustment.csv").is_file()
