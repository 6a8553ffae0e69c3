"""simulate.analysis's tests against scipy / statsmodels, on drawn and on hand-picked tables (the reference
p-values: reference_calls.py; the hand-picked tables: reference_values.py)."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.proportion import confint_proportions_2indep

from reference_calls import degenerate, no_wald_variance, ref_fisher, reference_p_value as reference
from reference_values import P_VALUES
from simulate.analysis import fisher, registry
from simulate.analysis.cmh import cmh_p_values
from simulate.analysis.compare import Analysis, analyse, p_values
from simulate.analysis.fisher import fisher_table
from simulate.analysis.intervals import risk_difference
from simulate.analysis.registry import names
from simulate.design.choices import ALTERNATIVES

TESTS = names()
P_VALUE_TESTS = [t for t in TESTS if registry.get(t).statistic == "p_value" and not registry.get(t).strata
                 and not registry.get(t).covariates]     # g-computation reads patients, not tables (test_adjusted.py)
"""The unstratified tests on the p-value scale: those with a reference p-value."""

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no NaN/inf leaks

RTOL = 1e-9
SETTINGS = settings(derandomize=True, max_examples=300, deadline=None)


@st.composite
def tables(draw, n_max=80):
    n_c = draw(st.integers(0, n_max))
    n_t = draw(st.integers(0, n_max))
    return draw(st.integers(0, n_c)), n_c, draw(st.integers(0, n_t)), n_t


def one(test, table, alternative="two-sided"):
    out = p_values(test, *(np.array([v]) for v in table), alternative=alternative)
    assert out.shape == (1,)
    return out[0]


EDGE_TABLES = list(P_VALUES["tables"])
"""Hand-picked tables (x_c, n_c, x_t, n_t): n = 1, zeros, full responders, an empty arm, ties."""


@pytest.mark.parametrize("test", P_VALUE_TESTS)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_edge_tables_match_references(test, alternative):
    for table in EDGE_TABLES:
        got = one(test, table, alternative)
        if degenerate(*table) or (test == "wald" and no_wald_variance(*table)):
            assert got == 1.0, table
        else:
            assert got == pytest.approx(reference(test, table, alternative), rel=RTOL), table


@pytest.mark.parametrize("test", P_VALUE_TESTS)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
@SETTINGS
@given(table=tables())
def test_p_values_match_references(test, alternative, table):
    got = one(test, table, alternative)
    assert 0.0 <= got <= 1.0
    if degenerate(*table) or (test == "wald" and no_wald_variance(*table)):
        assert got == 1.0
    else:
        assert got == pytest.approx(reference(test, table, alternative), rel=RTOL)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_fisher_exhaustive_small_arms(alternative):
    """Every table with arms up to 9 (including all mirror ties when n_c == n_t)."""
    for n_c in range(10):
        for n_t in range(10):
            table = fisher_table(n_c, n_t, alternative)
            for x_c in range(n_c + 1):
                for x_t in range(n_t + 1):
                    ref = ref_fisher(x_c, n_c, x_t, n_t, alternative)
                    assert table[x_c, x_t] == pytest.approx(ref, rel=RTOL), (x_c, n_c, x_t, n_t)


@pytest.mark.parametrize("n", [20, 25, 63])
def test_fisher_equal_arms_exhaustive(n):
    """Equal arms make mirror tables tie exactly: scipy's tolerance rule must be reproduced."""
    table = fisher_table(n, n)
    for x_c in range(n + 1):
        for x_t in range(n + 1):
            assert table[x_c, x_t] == pytest.approx(ref_fisher(x_c, n, x_t, n, "two-sided"),
                                                    rel=RTOL)


@pytest.mark.parametrize("n_c, n_t", [(150, 150), (301, 299), (90, 300)])
def test_fisher_large_arms(n_c, n_t):
    """Beyond N = 170 scipy's hypergeometric pmf switches algorithm; ours must still agree."""
    rng = np.random.default_rng(11)
    x_c = rng.integers(0, n_c + 1, size=60)
    x_t = np.clip(x_c * n_t // max(n_c, 1) + rng.integers(-25, 26, size=60), 0, n_t)
    for alternative in ALTERNATIVES:
        got = p_values("fisher", x_c, n_c, x_t, n_t, alternative)
        ref = [ref_fisher(a, n_c, b, n_t, alternative) for a, b in zip(x_c, x_t)]
        np.testing.assert_allclose(got, ref, rtol=RTOL)


def test_fisher_cache_matches_uncached_computation():
    rng = np.random.default_rng(3)
    n_c = rng.integers(0, 40, size=2000)
    n_t = rng.integers(0, 40, size=2000)
    x_c = rng.binomial(n_c, 0.6)
    x_t = rng.binomial(n_t, 0.85)
    for alternative in ALTERNATIVES:
        fisher.cached_table.cache_clear()
        cold = p_values("fisher", x_c, n_c, x_t, n_t, alternative)
        assert fisher.cached_table.cache_info().currsize > 0
        warm = p_values("fisher", x_c, n_c, x_t, n_t, alternative)
        direct = np.array([fisher_table(c, t, alternative)[a, b]
                           for a, c, b, t in zip(x_c, n_c, x_t, n_t)])
        np.testing.assert_array_equal(cold, direct)
        np.testing.assert_array_equal(warm, direct)


def test_rare_arm_size_pairs_computed_row_by_row_agree_with_tables():
    """Pairs seen too rarely to be worth a table go through the row-by-row path."""
    rng = np.random.default_rng(5)
    n_c = rng.integers(200, 300, size=400)
    n_t = rng.integers(200, 300, size=400)
    x_c, x_t = rng.binomial(n_c, 0.6), rng.binomial(n_t, 0.85)
    for alternative in ALTERNATIVES:
        fisher.cached_table.cache_clear()
        got = p_values("fisher", x_c, n_c, x_t, n_t, alternative)
        assert fisher.cached_table.cache_info().currsize == 0
        direct = [fisher_table(c, t, alternative)[a, b]
                  for a, c, b, t in zip(x_c[:80], n_c[:80], x_t[:80], n_t[:80])]
        np.testing.assert_array_equal(got[:80], direct)


def test_fisher_cache_is_bounded():
    """At most TABLES_KEPT tables of at most TABLE_CELLS_MAX cells: a pair too large for the
    cache goes row by row however many trials share it; cached tables are read-only."""
    assert fisher.cached_table.cache_info().maxsize == fisher.TABLES_KEPT
    fisher.cached_table.cache_clear()
    for n in range(1, fisher.TABLES_KEPT + 10):
        fisher.cached_table(n, n, "two-sided")
    assert fisher.cached_table.cache_info().currsize == fisher.TABLES_KEPT
    np.testing.assert_array_equal(fisher.cached_table(30, 30, "two-sided"), fisher_table(30, 30))
    with pytest.raises(ValueError):
        fisher.cached_table(30, 30, "two-sided")[0, 0] = 0.5
    fisher.cached_table.cache_clear()
    big = int(fisher.TABLE_CELLS_MAX**0.5)                 # (big + 1)^2 cells: one too many
    x = np.arange(0, big, 7)
    got = p_values("fisher", x, big, x[::-1], big)
    assert fisher.cached_table.cache_info().currsize == 0
    np.testing.assert_array_equal(got, fisher_table(big, big)[x, x[::-1]])


def test_ten_thousand_fisher_decisions_match_scipy():
    rng = np.random.default_rng(20210414)
    n_c = rng.integers(55, 64, size=10_000)
    n_t = rng.integers(55, 64, size=10_000)
    x_c = rng.binomial(n_c, 0.60)
    x_t = rng.binomial(n_t, 0.85)
    res = analyse("fisher", 0.05, x_c, n_c, x_t, n_t)
    assert res.p_value.shape == (10_000,) and res.reject.dtype == bool
    for i in rng.choice(10_000, size=300, replace=False):
        ref = ref_fisher(x_c[i], n_c[i], x_t[i], n_t[i], "two-sided")
        assert res.p_value[i] == pytest.approx(ref, rel=RTOL)
        assert res.reject[i] == (ref < 0.05)


def test_arrays_of_any_shape_and_broadcast_sizes():
    x_c = np.array([[10, 20], [30, 40]])
    x_t = np.array([[40, 30], [20, 10]])
    for test in P_VALUE_TESTS:
        p = p_values(test, x_c, 50, x_t, 50)
        assert p.shape == (2, 2)
        assert p[0, 0] == pytest.approx(one(test, (10, 50, 40, 50)), rel=1e-12)


@pytest.mark.parametrize("test", P_VALUE_TESTS)
def test_degenerate_tables_give_one(test):
    x_c = np.array([0, 20, 0, 0, 7])
    n_c = np.array([20, 20, 0, 0, 7])
    x_t = np.array([0, 25, 5, 0, 0])
    n_t = np.array([25, 25, 9, 0, 0])
    for alternative in ALTERNATIVES:
        p = p_values(test, x_c, n_c, x_t, n_t, alternative)
        np.testing.assert_array_equal(p, 1.0)


def test_one_sided_ztest_halves_or_exceeds_half():
    x_c = np.array([20, 30, 35, 50])
    x_t = np.array([35, 40, 36, 45])
    two = p_values("ztest", x_c, 60, x_t, 60)
    one_sided = p_values("ztest", x_c, 60, x_t, 60, alternative="greater")
    np.testing.assert_allclose(one_sided[:3], two[:3] / 2, rtol=1e-12)
    assert one_sided[3] > 0.5
    np.testing.assert_allclose(one_sided[3], 1 - two[3] / 2, rtol=1e-12)
    # without correction, one-sided chi-square is the one-sided z-test
    np.testing.assert_allclose(p_values("chi2", x_c, 60, x_t, 60, "greater"), one_sided,
                               rtol=1e-9)


@pytest.mark.parametrize("name, call", [
    ("fishr", lambda: p_values("fishr", 1, 2, 1, 2)),
    ("cmh", lambda: p_values("cmh", 1, 2, 1, 2)),
    ("less", lambda: p_values("fisher", 1, 2, 1, 2, alternative="less")),
    ("less", lambda: cmh_p_values([[1]], [[2]], [[1]], [[2]], alternative="less")),
    ("score", lambda: risk_difference(1, 2, 1, 2, method="score")),
    ("t-test", lambda: analyse("t-test", 0.05, 1, 2, 1, 2)),
    ("two.sided", lambda: analyse("fisher", 0.05, 1, 2, 1, 2, alternative="two.sided")),
])
def test_bad_names_raise_value_error_naming_the_value(name, call):
    with pytest.raises(ValueError, match=name):
        call()


def test_invalid_counts_raise():
    with pytest.raises(ValueError):
        p_values("chi2", 5, 4, 1, 2)
    with pytest.raises(ValueError):
        p_values("chi2", -1, 4, 1, 2)
    with pytest.raises(ValueError):
        p_values("chi2", 1.5, 4, 1, 2)


# ------------------------------------------------------------------------------------------
# Cochran-Mantel-Haenszel
# ------------------------------------------------------------------------------------------
@st.composite
def strata_tables(draw, k_max=4, n_max=40):
    k = draw(st.integers(1, k_max))
    cells = []
    for _ in range(k):
        n_c = draw(st.integers(1, n_max))
        n_t = draw(st.integers(1, n_max))
        cells.append((draw(st.integers(0, n_c)), n_c, draw(st.integers(0, n_t)), n_t))
    return [np.array(v)[None, :] for v in zip(*cells)]  # four arrays of shape (1, k)


def statsmodels_cmh(x_c, n_c, x_t, n_t, correction):
    cube = np.array([[x_t, n_t - x_t], [x_c, n_c - x_c]], dtype=float)  # 2 x 2 x k
    res = StratifiedTable(cube).test_null_odds(correction=correction)
    n, m = n_c + n_t, x_c + x_t
    dev = np.sum(x_t - n_t * m / n)
    var = np.sum(n_t * n_c * m * (n - m) / (n**2 * (n - 1)))
    return res.pvalue, dev, var


@pytest.mark.parametrize("correction", [False, True])
@SETTINGS
@given(arrays=strata_tables())
def test_cmh_matches_statsmodels(correction, arrays):
    got = cmh_p_values(*arrays, correction=correction)[0]
    greater = cmh_p_values(*arrays, alternative="greater", correction=correction)[0]
    x_c, n_c, x_t, n_t = (a[0] for a in arrays)
    if np.all((x_c + x_t == 0) | (x_c + x_t == n_c + n_t)):
        assert got == 1.0 and greater == 1.0  # no stratum carries information
        return
    ref, dev, var = statsmodels_cmh(x_c, n_c, x_t, n_t, correction)
    if correction and abs(dev) < 0.5:
        # statsmodels subtracts 0.5 even here; R's mantelhaen.test (and we) do not correct
        assert got == pytest.approx(stats.chi2.sf(dev**2 / var, 1), rel=RTOL)
    else:
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-14)
    half = got / 2
    assert greater == pytest.approx(half if dev > 0 else 1 - half, rel=1e-9, abs=1e-15)


def test_cmh_ignores_tiny_strata_and_degenerate_trials():
    base = [np.array([[12, 20]]), np.array([[30, 30]]), np.array([[25, 27]]),
            np.array([[31, 30]])]
    p0 = cmh_p_values(*base)
    tiny = [np.array([[0, 1, 0]]), np.array([[0, 1, 1]]), np.array([[1, 0, 0]]),
            np.array([[1, 0, 0]])]
    wider = [np.concatenate([b, t], axis=1) for b, t in zip(base, tiny)]
    np.testing.assert_allclose(cmh_p_values(*wider), p0, rtol=1e-12)
    assert np.all(np.isfinite(cmh_p_values(*wider)))
    all_degenerate = [np.array([[0, 5, 1]]), np.array([[4, 5, 1]]), np.array([[0, 5, 0]]),
                      np.array([[3, 5, 0]])]
    np.testing.assert_array_equal(cmh_p_values(*all_degenerate), 1.0)
    with pytest.raises(ValueError, match="2-D"):
        cmh_p_values([1], [2], [1], [2])


# ------------------------------------------------------------------------------------------
# Risk difference
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, sm_method", [("newcombe", "newcomb"), ("wald", "wald")])
@pytest.mark.parametrize("confidence", [0.95, 0.9])
@SETTINGS
@given(table=tables())
def test_risk_difference_matches_statsmodels(method, sm_method, confidence, table):
    x_c, n_c, x_t, n_t = table
    est, low, high = risk_difference(*table, method=method, confidence=confidence)
    if n_c == 0 or n_t == 0:
        assert np.isnan(est) and np.isnan(low) and np.isnan(high)
        return
    ref_low, ref_high = confint_proportions_2indep(x_t, n_t, x_c, n_c, method=sm_method,
                                                   compare="diff", alpha=1 - confidence)
    assert est == pytest.approx(x_t / n_t - x_c / n_c, abs=1e-15)
    assert low == pytest.approx(ref_low, rel=RTOL, abs=1e-12)
    assert high == pytest.approx(ref_high, rel=RTOL, abs=1e-12)
    assert low <= est + 1e-12 and est <= high + 1e-12


# ------------------------------------------------------------------------------------------
# analyse
# ------------------------------------------------------------------------------------------
def test_analyse_returns_frozen_dataclass_with_strict_rejection():
    x_c, n_c, x_t, n_t = np.array([30, 38, 0]), np.array([60, 63, 0]), \
        np.array([50, 53, 5]), np.array([60, 63, 8])
    res = analyse("chi2", 0.05, x_c, n_c, x_t, n_t)
    assert isinstance(res, Analysis)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.p_value = None
    np.testing.assert_array_equal(res.p_value, p_values("chi2", x_c, n_c, x_t, n_t))
    np.testing.assert_array_equal(res.reject, res.p_value < 0.05)
    assert res.p_value[2] == 1.0 and not res.reject[2] and np.isnan(res.risk_difference[2])
    at_p = analyse("chi2", res.p_value[0], x_c, n_c, x_t, n_t)
    assert not at_p.reject[0]  # p == alpha does not reject
    est, low, high = risk_difference(x_c, n_c, x_t, n_t, "newcombe", 0.95)
    np.testing.assert_array_equal(res.ci_low, low)
    one_sided = analyse("ztest", 0.025, x_c, n_c, x_t, n_t, alternative="greater")
    np.testing.assert_allclose(one_sided.ci_low, low)  # one-sided 97.5% bound = 95% CI bound


def test_analyse_cmh_with_stratified_arrays():
    rng = np.random.default_rng(7)
    n_c = rng.integers(10, 30, size=(50, 2))
    n_t = rng.integers(10, 30, size=(50, 2))
    x_c, x_t = rng.binomial(n_c, 0.6), rng.binomial(n_t, 0.85)
    res = analyse("cmh", 0.05, x_c, n_c, x_t, n_t)
    np.testing.assert_array_equal(res.p_value, cmh_p_values(x_c, n_c, x_t, n_t))
    totals = [a.sum(axis=1) for a in (x_c, n_c, x_t, n_t)]
    np.testing.assert_allclose(res.risk_difference, totals[2] / totals[3] - totals[0] / totals[1])
    res2 = analyse("cmh", 0.05, *totals, strata=(x_c, n_c, x_t, n_t))
    np.testing.assert_array_equal(res2.p_value, res.p_value)
    with pytest.raises(ValueError, match="cmh"):
        analyse("cmh", 0.05, *totals)
