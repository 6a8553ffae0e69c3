"""simulate.analysis.formulas: the literature sample sizes for NCT04743739 and independent cross-checks."""
import math

import numpy as np
import pytest
from scipy import optimize
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

from reference_calls import brute_force_power, r_power_prop_test
from reference_values import (
    EXACT_TABLE_BY_TABLE,
    LITERATURE_SAMPLE_SIZES,
    STATSMODELS_ARCSINE,
    STATSMODELS_POOLED_NORMAL,
)
from simulate.analysis import formulas
from simulate.analysis.formulas import (
    ExactSampleSize,
    analytic_references,
    cohens_h,
    exact_power,
    n_per_arm_arcsine,
    n_per_arm_exact,
    n_per_arm_fleiss_cc,
    n_per_arm_pooled_normal,
    power_fleiss_cc,
    power_pooled_normal,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

P_C, P_T, ALPHA = 0.60, 0.85, 0.05  # NCT04743739: RTX alone vs RTX + CsA, two-sided 5%

# LITERATURE reference table: n per arm at 80% and 90% power (reference_values.py), as {method: {power: n}}.
LITERATURE = {key: {c["inputs"]["power"]: c["reference"][key] for c in LITERATURE_SAMPLE_SIZES["cases"]}
              for key in ("pooled_normal", "arcsine", "fleiss_cc", "fisher_first_n")}
POOLED_NORMAL_GRID = STATSMODELS_POOLED_NORMAL["grid"]


@pytest.mark.parametrize("power", [0.8, 0.9])
def test_literature_closed_forms(power):
    refs = analytic_references(P_C, P_T, ALPHA, power)
    assert refs == {key: LITERATURE[key][power] for key in ("pooled_normal", "fleiss_cc", "arcsine")}
    assert n_per_arm_pooled_normal(P_C, P_T, ALPHA, power) == LITERATURE["pooled_normal"][power]
    assert n_per_arm_arcsine(P_C, P_T, ALPHA, power) == LITERATURE["arcsine"][power]
    assert n_per_arm_fleiss_cc(P_C, P_T, ALPHA, power) == LITERATURE["fleiss_cc"][power]
    # the formulas are symmetric in the two rates for a two-sided test
    assert analytic_references(P_T, P_C, ALPHA, power) == refs


@pytest.mark.parametrize("power", [0.8, 0.9])
def test_literature_fisher_exact_first_n(power):
    res = n_per_arm_exact("fisher", P_C, P_T, ALPHA, power, n_max=120, window=15)
    assert isinstance(res, ExactSampleSize)
    assert res.first_n == LITERATURE["fisher_first_n"][power]
    assert res.first_power >= power
    assert exact_power("fisher", res.first_n - 1, res.first_n - 1, P_C, P_T, ALPHA) < power
    assert res.stable_n is not None and res.stable_n >= res.first_n
    assert all(p >= power for p in res.powers[res.stable_n - res.n_min:])
    assert res.checked_to == res.stable_n + 15


@pytest.mark.parametrize("p_c, p_t", POOLED_NORMAL_GRID["rates"])
@pytest.mark.parametrize("power", POOLED_NORMAL_GRID["power"])
@pytest.mark.parametrize("alternative", POOLED_NORMAL_GRID["alternative"])
def test_pooled_normal_agrees_with_r_and_statsmodels(p_c, p_t, power, alternative):
    if alternative == "greater" and p_t < p_c:
        with pytest.raises(ValueError, match="greater"):
            n_per_arm_pooled_normal(p_c, p_t, ALPHA, power, alternative)
        return
    tside = 2 if alternative == "two-sided" else 1
    n_r = optimize.brentq(lambda n: r_power_prop_test(n, p_c, p_t, ALPHA, tside) - power, 2, 1e6,
                          xtol=1e-10)
    sm_alt = "two-sided" if alternative == "two-sided" else "larger"
    n_sm = samplesize_proportions_2indep_onetail(p_t - p_c, p_c, power, ratio=1, alpha=ALPHA,
                                                 alternative=sm_alt)
    raw = formulas._n_pooled_raw(p_c, p_t, ALPHA, power, alternative)
    assert raw == pytest.approx(n_r, rel=1e-8)
    assert raw == pytest.approx(n_sm, rel=1e-10)
    assert n_per_arm_pooled_normal(p_c, p_t, ALPHA, power, alternative) == math.ceil(n_r)
    # and the power function is its inverse
    assert power_pooled_normal(raw, p_c, p_t, ALPHA, alternative) == pytest.approx(power, abs=1e-10)


@pytest.mark.parametrize("power", [0.8, 0.9])
def test_arcsine_agrees_with_statsmodels_normal_ind_power(power):
    h = cohens_h(P_C, P_T)
    assert h == pytest.approx(STATSMODELS_ARCSINE["cases"][0]["reference"]["h"], abs=5e-4)
    n_sm = NormalIndPower().solve_power(effect_size=h, alpha=ALPHA, power=power, ratio=1)
    assert n_per_arm_arcsine(P_C, P_T, ALPHA, power) == math.ceil(n_sm)


@pytest.mark.parametrize("power", [0.8, 0.9])
def test_power_functions_bracket_the_sample_sizes(power):
    n = n_per_arm_pooled_normal(P_C, P_T, ALPHA, power)
    assert power_pooled_normal(n, P_C, P_T, ALPHA) >= power > power_pooled_normal(n - 1, P_C, P_T)
    n = n_per_arm_fleiss_cc(P_C, P_T, ALPHA, power)
    assert power_fleiss_cc(n, P_C, P_T, ALPHA) >= power > power_fleiss_cc(n - 1, P_C, P_T, ALPHA)
    curve = power_pooled_normal(np.arange(10, 200), P_C, P_T, ALPHA)
    assert curve.shape == (190,) and np.all(np.diff(curve) > 0)
    assert np.all(power_fleiss_cc(np.arange(10, 200), P_C, P_T, ALPHA) < curve)


@pytest.mark.parametrize("test, n_c, n_t, alternative", [
    tuple(c["inputs"][k] for k in ("test", "n_c", "n_t", "alternative")) for c in EXACT_TABLE_BY_TABLE["cases"]
])
def test_exact_power_equals_table_by_table_enumeration(test, n_c, n_t, alternative):
    got = exact_power(test, n_c, n_t, 0.3, 0.8, 0.05, alternative)
    assert got == pytest.approx(brute_force_power(test, n_c, n_t, 0.3, 0.8, 0.05, alternative),
                                rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("p_c, p_t, n", [(0.6, 0.7, 400), (0.6, 0.85, 150), (0.2, 0.3, 500)])
def test_exact_power_of_large_sample_tests_is_close_to_normal_approximation(p_c, p_t, n):
    approx = power_pooled_normal(n, p_c, p_t, ALPHA)
    for test in ("chi2", "ztest"):
        assert exact_power(test, n, n, p_c, p_t, ALPHA) == pytest.approx(approx, abs=0.015)
    # two-sided uncorrected chi-square and the pooled z-test are the same test
    assert exact_power("chi2", n, n, p_c, p_t, ALPHA) == pytest.approx(
        exact_power("ztest", n, n, p_c, p_t, ALPHA), abs=1e-9)
    # Fisher and Yates are conservative relative to the uncorrected test
    assert exact_power("fisher", n, n, p_c, p_t, ALPHA) <= exact_power("chi2", n, n, p_c, p_t)


@pytest.mark.parametrize("n_c, n_t", [(10, 10), (25, 31), (56, 56), (63, 63), (120, 100)])
@pytest.mark.parametrize("p", [0.2, 0.6, 0.85])
@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_fisher_type_one_error_at_most_alpha(n_c, n_t, p, alternative):
    size = exact_power("fisher", n_c, n_t, p, p, ALPHA, alternative)
    assert 0 < size <= ALPHA


def test_stable_n_differs_from_first_n_on_a_saw_tooth():
    """Pick a target between the two powers around a dip of the z-test's power curve."""
    scan = n_per_arm_exact("ztest", P_C, P_T, ALPHA, 0.5, n_max=80)
    powers = np.array(scan.powers)
    dips = [i for i in range(1, len(powers)) if powers[i] < powers[i - 1]
            and powers[i - 1] > powers[:i - 1].max(initial=0) and powers[i] > 0.3]
    assert dips, "the exact power of the z-test is saw-toothed"
    i = dips[0]
    target = (powers[i] + powers[i - 1]) / 2
    res = n_per_arm_exact("ztest", P_C, P_T, ALPHA, target, n_max=80)
    assert res.first_n == scan.n_min + i - 1
    assert res.stable_n > res.first_n
    assert res.powers[res.stable_n - res.n_min - 1] < target
    assert min(res.powers[res.stable_n - res.n_min:]) >= target
    windowed = n_per_arm_exact("ztest", P_C, P_T, ALPHA, target, n_max=80, window=0)
    assert windowed.stable_n == windowed.first_n == res.first_n
    assert windowed.checked_to == res.first_n


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="t-test"):
        exact_power("t-test", 10, 10, 0.6, 0.85)
    with pytest.raises(ValueError, match="cmh"):
        exact_power("cmh", 10, 10, 0.6, 0.85)
    with pytest.raises(ValueError, match="less"):
        n_per_arm_pooled_normal(0.6, 0.85, alternative="less")
    with pytest.raises(ValueError, match="no effect"):
        n_per_arm_arcsine(0.6, 0.6)
    with pytest.raises(ValueError, match="power"):
        n_per_arm_fleiss_cc(0.6, 0.85, power=1.2)
    with pytest.raises(ValueError, match="n_min"):
        n_per_arm_exact("fisher", 0.6, 0.85, n_max=1, n_min=5)


# ----------------------------------------------------------------------------- dropout


def test_dropout_rule_by_strategy():
    """MCAR dropout d = 0.2: nonresponder dilutes the rates, complete cases lose patients, LOCF is
    taken at its lower bound (the nonresponder rates)."""
    nr = formulas.adjust_for_dropout(P_C, P_T, 0.2, "nonresponder")
    assert (nr.p_control, nr.p_treat, nr.analysed_fraction) == pytest.approx((0.48, 0.68, 1.0))
    cc = formulas.adjust_for_dropout(P_C, P_T, 0.2, "complete_case")
    assert (cc.p_control, cc.p_treat, cc.analysed_fraction) == (P_C, P_T, pytest.approx(0.8))
    assert cc.n_randomised(57) == 72                      # 57 / 0.8 = 71.25
    assert cc.n_randomised(56) == 70                      # 56 / 0.8 = 70 (no rounding noise)
    locf = formulas.adjust_for_dropout(P_C, P_T, 0.2, "locf")
    assert (locf.p_control, locf.p_treat, locf.analysed_fraction) == (nr.p_control, nr.p_treat, 1.0)
    assert "lower bound" in locf.rule
    none = formulas.adjust_for_dropout(P_C, P_T, 0.0, "complete_case")
    assert (none.p_control, none.p_treat, none.analysed_fraction) == (P_C, P_T, 1.0)


def test_dropout_rule_with_informative_dropout():
    """Patients in remission at the endpoint drop out with chance 0.1 (control) and 0.15 (treated)
    while the overall chance is 0.2: responders counted are p (1 - 0.1) and p (1 - 0.15); among
    complete cases the rates are those over 1 - 0.2."""
    nr = formulas.adjust_for_dropout(P_C, P_T, 0.2, "nonresponder", (0.1, 0.15))
    assert (nr.p_control, nr.p_treat) == pytest.approx((0.54, 0.7225))
    cc = formulas.adjust_for_dropout(P_C, P_T, 0.2, "complete_case", (0.1, 0.15))
    assert (cc.p_control, cc.p_treat, cc.analysed_fraction) == pytest.approx((0.675, 0.903125, 0.8))
    # unrelated to the outcome: the same as MCAR
    assert formulas.adjust_for_dropout(P_C, P_T, 0.2, "nonresponder", (0.2, 0.2)) == \
        formulas.adjust_for_dropout(P_C, P_T, 0.2, "nonresponder")


def test_dropout_rule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="missing"):
        formulas.adjust_for_dropout(P_C, P_T, 0.2, "impute")
    with pytest.raises(ValueError, match="dropout"):
        formulas.adjust_for_dropout(P_C, P_T, 1.0, "nonresponder")
