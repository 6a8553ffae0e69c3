"""Non-inferiority on the risk difference: the Farrington-Manning test, the Miettinen-Nurminen
interval, their place in ``analyse``, exact power and the closed-form sample size.

References, in order of weight:

* an independent restricted MLE written here (every real root of the score polynomial, built
  from its factored form with numpy.polynomial, and the ends of the admissible range: the one
  with the highest likelihood), and intervals inverted from it with scipy's brentq;
* statsmodels ``test_proportions_2indep`` / ``confint_proportions_2indep``.  statsmodels
  0.14-0.15 has ``count0`` where ``nobs0`` belongs in the cubic of its constrained MLE
  (statsmodels issue #10269, fix proposed in PR #10270), so its constrained rates, statistic,
  p-value and score interval are wrong unless x_c = n_c (the two coincide) or the margin is 0
  (pooled shortcut).  The tests compare with statsmodels on those tables, and on every table
  as soon as an installed statsmodels gets the probe table right;
* values from R (rpact 3.3.4, PropCIs), stored with the call that gave them in reference_values.py.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special, stats
from statsmodels.stats import proportion as smp

from reference_values import PROPCIS_MIETTINEN_NURMINEN, RPACT_FARRINGTON_MANNING, RPACT_FM_SAMPLE_SIZE
from simulate.analysis import formulas, noninferiority
from simulate.analysis.compare import analyse, p_values
from simulate.analysis.formulas import exact_power, n_per_arm_farrington_manning, n_per_arm_pooled_normal
from simulate.analysis.intervals import risk_difference
from simulate.analysis.large_sample import ztest_p
from simulate.analysis.noninferiority import (
    farrington_manning_p,
    farrington_manning_statistic,
    miettinen_nurminen_interval,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no NaN/inf leaks from ours

MARGINS = (0.05, 0.1, 0.15, 0.2)
SMALL_ARMS = ((1, 1), (3, 5), (6, 4), (10, 10), (12, 15))
SETTINGS = settings(derandomize=True, max_examples=200, deadline=None)


# ------------------------------------------------------------------------------------------
# the independent reference
# ------------------------------------------------------------------------------------------
def score_residual(x_c, n_c, x_t, n_t, p_c, delta):
    """The restricted score equation, factored form, at p~_c = p_c, p~_t = p_c + delta."""
    p_t = p_c + delta
    return n_c * (x_c / n_c - p_c) * p_t * (1 - p_t) + n_t * (x_t / n_t - p_t) * p_c * (1 - p_c)


def ref_restricted_rates(x_c, n_c, x_t, n_t, delta):
    """(p~_c, p~_t) maximising the likelihood under p_t - p_c = delta, by brute force."""
    poly = np.polynomial.Polynomial
    p_c = poly([0.0, 1.0])
    p_t = p_c + delta
    score = n_c * (x_c / n_c - p_c) * p_t * (1 - p_t) + n_t * (x_t / n_t - p_t) * p_c * (1 - p_c)
    lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)
    roots = [r.real for r in score.roots() if abs(r.imag) < 1e-6]
    candidates = np.clip([r for r in roots if lo - 1e-6 <= r <= hi + 1e-6] + [lo, hi], lo, hi)

    def loglik(q):
        return (special.xlogy(x_c, q) + special.xlogy(n_c - x_c, 1 - q)
                + special.xlogy(x_t, q + delta) + special.xlogy(n_t - x_t, 1 - q - delta))

    with np.errstate(divide="ignore", invalid="ignore"):
        best = max(candidates, key=loglik)
    return best, min(max(best + delta, 0.0), 1.0)


def ref_variance(x_c, n_c, x_t, n_t, delta):
    p_c, p_t = ref_restricted_rates(x_c, n_c, x_t, n_t, delta)
    return p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c


def ref_fm(x_c, n_c, x_t, n_t, margin):
    """(z, one-sided p) of the Farrington-Manning test; p = 1 where z is 0 / 0."""
    num = x_t / n_t - x_c / n_c + margin
    var = ref_variance(x_c, n_c, x_t, n_t, -margin)
    if var == 0:
        assert num == 0
        return np.nan, 1.0
    z = num / np.sqrt(var)
    return z, stats.norm.sf(z)


def ref_mn_interval(x_c, n_c, x_t, n_t, confidence):
    """Miettinen-Nurminen limits by brentq on the reference statistic."""
    z = stats.norm.isf((1 - confidence) / 2)
    d = x_t / n_t - x_c / n_c
    inflate = (n_c + n_t) / (n_c + n_t - 1)

    def stat(delta):
        if delta == d:
            return 0.0
        return (d - delta) / np.sqrt(inflate * ref_variance(x_c, n_c, x_t, n_t, delta))

    eps = 1e-13
    inner = min(max(d, -1 + eps), 1 - eps)  # d = -1 or 1 is a limit itself
    low = -1.0 if d == -1 else optimize.brentq(lambda v: stat(v) - z, -1 + eps, inner, xtol=1e-14)
    high = 1.0 if d == 1 else optimize.brentq(lambda v: stat(v) + z, inner, 1 - eps, xtol=1e-14)
    return low, high


def all_tables(n_c, n_t):
    x_c, x_t = np.meshgrid(np.arange(n_c + 1), np.arange(n_t + 1), indexing="ij")
    return x_c.ravel(), x_t.ravel()


# ------------------------------------------------------------------------------------------
# statsmodels, where it is right
# ------------------------------------------------------------------------------------------
def quiet(call, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def _statsmodels_constrained_mle_is_right() -> bool:
    """Probe statsmodels issue #10269 on one table (x_c < n_c, margin 0.1)."""
    x_c, n_c, x_t, n_t, delta = 10, 40, 12, 30, -0.1
    res = quiet(smp.score_test_proportions_2indep, x_t, n_t, x_c, n_c, value=delta, compare="diff",
                correction=False)
    return abs(score_residual(x_c, n_c, x_t, n_t, res.prop2_null, delta)) < 1e-9


STATSMODELS_RIGHT = _statsmodels_constrained_mle_is_right()


def statsmodels_applies(x_c, n_c, margin=None):
    """Whether statsmodels' constrained MLE is right here (for an interval: margin None)."""
    return STATSMODELS_RIGHT or x_c == n_c or margin == 0


def sm_fm(x_c, n_c, x_t, n_t, margin):
    res = quiet(smp.test_proportions_2indep, x_t, n_t, x_c, n_c, value=-margin, method="score",
                compare="diff", alternative="larger", correction=False)
    return res.statistic, res.pvalue


def sm_mn(x_c, n_c, x_t, n_t, confidence):
    """statsmodels' score interval, or None where its root finding fails."""
    try:
        low, high = quiet(smp.confint_proportions_2indep, x_t, n_t, x_c, n_c, method="score",
                          compare="diff", alpha=1 - confidence, correction=True)
    except (ValueError, RuntimeError, ZeroDivisionError):
        return None
    return (low, high) if np.isfinite(low) and np.isfinite(high) else None


def test_statsmodels_bug_is_what_the_tests_assume():
    """Our constrained rates zero the score equation; statsmodels' do exactly when the probe
    says so (documenting why most comparisons with statsmodels are restricted)."""
    x_c, n_c, x_t, n_t, delta = 10, 40, 12, 30, -0.1
    p_c, p_t = noninferiority._restricted_rates(x_c, n_c, x_t, n_t, delta)
    assert p_t - p_c == pytest.approx(delta, abs=1e-15)
    assert abs(score_residual(x_c, n_c, x_t, n_t, p_c, delta)) < 1e-12
    assert p_c == pytest.approx(ref_restricted_rates(x_c, n_c, x_t, n_t, delta)[0], abs=1e-13)
    res = quiet(smp.score_test_proportions_2indep, x_t, n_t, x_c, n_c, value=delta, compare="diff",
                correction=False)
    assert (res.prop2_null == pytest.approx(p_c, abs=1e-10)) == STATSMODELS_RIGHT


# ------------------------------------------------------------------------------------------
# the restricted MLE and the Farrington-Manning test
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_c, n_t", SMALL_ARMS + ((30, 25),))
@pytest.mark.parametrize("margin", MARGINS + (0.5, 0.9))
def test_restricted_rates_maximise_the_likelihood_on_every_table(n_c, n_t, margin):
    x_c, x_t = all_tables(n_c, n_t)
    p_c, p_t = noninferiority._restricted_rates(x_c, n_c, x_t, n_t, -margin)
    np.testing.assert_allclose(p_t - p_c, -margin, atol=1e-12)
    assert np.all((p_c >= margin) & (p_c <= 1) & (p_t >= 0) & (p_t <= 1 - margin))
    ref = np.array([ref_restricted_rates(a, n_c, b, n_t, -margin)[0] for a, b in zip(x_c, x_t)])
    # about 1e-15 in general; ~1e-8 (the square root of machine precision) where the
    # admissible root is a double root at an end of the range, e.g. (2, 2, 0, 1) at margin 0.5
    np.testing.assert_allclose(p_c, ref, atol=1e-7)


@pytest.mark.parametrize("n_c, n_t", SMALL_ARMS)
@pytest.mark.parametrize("margin", MARGINS)
def test_fm_on_every_small_table(n_c, n_t, margin):
    x_c, x_t = all_tables(n_c, n_t)
    z = farrington_manning_statistic(x_c, n_c, x_t, n_t, margin)
    p = farrington_manning_p(x_c, n_c, x_t, n_t, margin)
    compared = 0
    for i, (a, b) in enumerate(zip(x_c, x_t)):
        ref_z, ref_p = ref_fm(a, n_c, b, n_t, margin)
        assert z[i] == pytest.approx(ref_z, rel=1e-7, abs=1e-7), (a, n_c, b, n_t, margin)
        assert p[i] == pytest.approx(ref_p, rel=1e-6, abs=1e-300), (a, n_c, b, n_t, margin)
        if statsmodels_applies(a, n_c, margin):
            sm_z, sm_p = sm_fm(a, n_c, b, n_t, margin)
            if np.isnan(sm_z):  # its arccos argument rounded past 1 (a double root), or 0 / 0
                continue
            assert z[i] == pytest.approx(sm_z, rel=1e-7, abs=1e-7), (a, n_c, b, n_t, margin)
            assert p[i] == pytest.approx(sm_p, rel=1e-6, abs=1e-300), (a, n_c, b, n_t, margin)
            compared += 1
    assert compared >= n_t  # the row x_c = n_c, but for a table at most


@st.composite
def tables(draw, n_max=120, n_min=1):
    n_c = draw(st.integers(n_min, n_max))
    n_t = draw(st.integers(n_min, n_max))
    x_c = draw(st.one_of(st.just(n_c), st.integers(0, n_c)))  # x_c = n_c often: statsmodels
    return x_c, n_c, draw(st.integers(0, n_t)), n_t


@SETTINGS
@given(table=tables(), margin=st.one_of(st.sampled_from((0.0,) + MARGINS), st.floats(1e-3, 0.6)))
def test_fm_on_drawn_tables(table, margin):
    z = farrington_manning_statistic(*table, margin)
    p = farrington_manning_p(*table, margin)
    ref_z, ref_p = ref_fm(*table, margin)
    if np.isnan(ref_z):
        assert np.isnan(z) and p == 1.0
        return
    assert z == pytest.approx(ref_z, rel=1e-7, abs=1e-7)
    assert p == pytest.approx(ref_p, rel=1e-6, abs=1e-300)
    if statsmodels_applies(table[0], table[1], margin):
        sm_z, sm_p = sm_fm(*table, margin)
        if np.isnan(sm_z):  # statsmodels' arccos argument rounded past 1 (a double root)
            return
        assert z == pytest.approx(sm_z, rel=1e-7, abs=1e-7)
        assert p == pytest.approx(sm_p, rel=1e-6, abs=1e-300)


# rpact 3.3.4 (R): getStageResults(..., normalApproximation = TRUE) on each table, the call in
# reference_values.py (group 1 is the treatment; thetaH0 is the margin on the difference scale).
RPACT_FM = [  # x_c, n_c, x_t, n_t, margin, z, p
    (*(c["inputs"][k] for k in ("x_c", "n_c", "x_t", "n_t", "margin")), c["reference"]["z"], c["reference"]["p"])
    for c in RPACT_FARRINGTON_MANNING["cases"]
]


@pytest.mark.parametrize("x_c, n_c, x_t, n_t, margin, z, p", RPACT_FM)
def test_fm_matches_rpact(x_c, n_c, x_t, n_t, margin, z, p):
    assert farrington_manning_statistic(x_c, n_c, x_t, n_t, margin) == pytest.approx(z, rel=1e-12)
    # rpact takes 1 - pnorm(z), which loses digits in the far tail (p ~ 1e-12: 3e-5 relative)
    tol = 1e-12 if p > 1e-6 else 1e-4
    assert farrington_manning_p(x_c, n_c, x_t, n_t, margin) == pytest.approx(p, rel=tol)
    assert farrington_manning_p(x_c, n_c, x_t, n_t, margin) == pytest.approx(stats.norm.sf(z),
                                                                              rel=1e-12)


@pytest.mark.parametrize("n_c, n_t", SMALL_ARMS + ((40, 35), (80, 80)))
@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_margin_zero_is_the_pooled_z_test(n_c, n_t, alternative):
    x_c, x_t = all_tables(n_c, n_t)
    got = farrington_manning_p(x_c, n_c, x_t, n_t, 0.0, alternative)
    np.testing.assert_allclose(got, ztest_p(x_c, n_c, x_t, n_t, alternative), rtol=1e-12)
    np.testing.assert_allclose(p_values("farrington_manning", x_c, n_c, x_t, n_t, alternative),
                               p_values("ztest", x_c, n_c, x_t, n_t, alternative), rtol=1e-12)


def test_edges_and_conventions():
    # an empty arm: no information
    assert np.isnan(farrington_manning_statistic([0, 3], [0, 5], [2, 0], [4, 0], 0.1)).all()
    np.testing.assert_array_equal(farrington_manning_p([0, 3], [0, 5], [2, 0], [4, 0], 0.1), 1.0)
    # margin 0 and no responders / only responders: 0 / 0, p = 1
    assert np.isnan(farrington_manning_statistic(0, 5, 0, 7, 0.0))
    assert farrington_manning_p(0, 5, 0, 7, 0.0) == 1.0 == farrington_manning_p(5, 5, 7, 7, 0.0)
    # a tiny margin there is a tiny numerator over a tiny standard error: z ~ 0, p ~ 1/2
    # (computing 1 - p~_t as 1 - (1 - 1e-200) would give variance 0 and z = +inf)
    assert farrington_manning_statistic(5, 5, 7, 7, 1e-200) == pytest.approx(0.0, abs=1e-90)
    assert farrington_manning_p(0, 5, 0, 7, 1e-200) == pytest.approx(0.5)
    # with a margin the restricted variance is positive even then: equal observed rates are
    # evidence of non-inferiority
    assert 0 < farrington_manning_p(0, 50, 0, 50, 0.1) < 0.05
    assert 0 < farrington_manning_p(50, 50, 50, 50, 0.1) < 0.05
    # shape and broadcasting
    p = farrington_manning_p(np.array([[10, 20], [30, 40]]), 50, np.array([[40, 30], [20, 10]]), 50, 0.1)
    assert p.shape == (2, 2)
    assert p[0, 1] == pytest.approx(float(farrington_manning_p(20, 50, 30, 50, 0.1)), rel=1e-15)
    # the larger the margin, the easier non-inferiority
    ps = [float(farrington_manning_p(30, 50, 27, 50, m)) for m in (0.0, 0.05, 0.1, 0.2)]
    assert ps == sorted(ps, reverse=True)


@pytest.mark.parametrize("call", [
    lambda: farrington_manning_p(1, 2, 1, 2, -0.1),
    lambda: farrington_manning_p(1, 2, 1, 2, 1.0),
    lambda: farrington_manning_p(1, 2, 1, 2, float("nan")),
    lambda: farrington_manning_p(1, 2, 1, 2, 0.1, alternative="less"),
    lambda: miettinen_nurminen_interval(1, 2, 1, 2, 1.0),
])
def test_bad_arguments_raise(call):
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------------------------------------------------
# the Miettinen-Nurminen interval
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("confidence, sizes", [(0.95, range(1, 13)), (0.9, range(1, 16, 2))])
def test_mn_interval_matches_statsmodels_where_it_is_right(confidence, sizes):
    compared = 0
    for n_c in sizes:
        for n_t in sizes:
            x_c, x_t = all_tables(n_c, n_t)
            keep = np.array([statsmodels_applies(a, n_c) for a in x_c])
            x_c, x_t = x_c[keep], x_t[keep]
            low, high = miettinen_nurminen_interval(x_c, n_c, x_t, n_t, confidence)
            for i, (a, b) in enumerate(zip(x_c, x_t)):
                ref = sm_mn(a, n_c, b, n_t, confidence)
                if ref is not None:  # statsmodels' brentq brackets fail on many edge tables
                    np.testing.assert_allclose((low[i], high[i]), ref, atol=1e-6,
                                               err_msg=str((a, n_c, b, n_t)))
                    compared += 1
    assert compared >= 50  # statsmodels fails on most tables with x_c = n_c (its Wald bracket)


@pytest.mark.parametrize("n_c, n_t", SMALL_ARMS)
def test_mn_interval_on_every_small_table(n_c, n_t):
    x_c, x_t = all_tables(n_c, n_t)
    low, high = miettinen_nurminen_interval(x_c, n_c, x_t, n_t, 0.95)
    for i, (a, b) in enumerate(zip(x_c, x_t)):
        np.testing.assert_allclose((low[i], high[i]), ref_mn_interval(a, n_c, b, n_t, 0.95),
                                   atol=1e-8, err_msg=str((a, n_c, b, n_t)))


@settings(derandomize=True, max_examples=100, deadline=None)
@given(table=tables(n_max=150), confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_mn_interval_on_drawn_tables(table, confidence):
    low, high = miettinen_nurminen_interval(*table, confidence)
    assert (float(low), float(high)) == pytest.approx(ref_mn_interval(*table, confidence), abs=1e-8)
    est = table[2] / table[3] - table[0] / table[1]
    assert -1 <= low <= est <= high <= 1


def test_mn_interval_matches_r_propcis():
    # R: library(PropCIs); diffscoreci(7, 34, 1, 34, 0.95), as recorded in statsmodels'
    # test_confint_2indep_propcis (x1 = treatment)
    (case,) = PROPCIS_MIETTINEN_NURMINEN["cases"]
    low, high = miettinen_nurminen_interval(1, 34, 7, 34, 0.95)
    assert (float(low), float(high)) == pytest.approx(case["reference"]["interval"], abs=1e-7)


def test_mn_interval_edges():
    low, high = miettinen_nurminen_interval([0, 5, 0, 3, 2], [5, 5, 0, 4, 6], [4, 0, 1, 0, 3],
                                            [4, 4, 3, 0, 6], 0.95)
    assert high[0] == 1.0 and 0 < low[0] < 1  # d = 1
    assert low[1] == -1.0 and -1 < high[1] < 0  # d = -1
    assert np.isnan(low[2:4]).all() and np.isnan(high[2:4]).all()  # an empty arm
    assert low[4] < 1 / 6 < high[4]
    # repeated tables, any shape
    x_c = np.array([[3, 3, 4], [3, 4, 3]])
    lo2, hi2 = miettinen_nurminen_interval(x_c, 10, 7, 12)
    assert lo2.shape == (2, 3)
    assert lo2[0, 0] == lo2[1, 2] and lo2[0, 2] == lo2[1, 1] != lo2[0, 0]
    lo1, hi1 = miettinen_nurminen_interval(4, 10, 7, 12)
    assert lo2[0, 2] == lo1 and hi2[0, 2] == hi1


def test_mn_interval_and_the_corrected_one_sided_score_test_agree():
    """ci_low at 1 - 2 alpha is above -margin exactly when the one-sided score test with the
    N / (N - 1) factor rejects: the FM statistic times sqrt((N - 1) / N) above z_{1-alpha}."""
    alpha, margin = 0.025, 0.1
    agree = 0
    for n_c, n_t in ((20, 20), (33, 29)):
        x_c, x_t = all_tables(n_c, n_t)
        low, _ = miettinen_nurminen_interval(x_c, n_c, x_t, n_t, 1 - 2 * alpha)
        z = farrington_manning_statistic(x_c, n_c, x_t, n_t, margin)
        corrected = z * np.sqrt((n_c + n_t - 1) / (n_c + n_t)) - special.ndtri(1 - alpha)
        clear = np.abs(corrected) > 1e-6  # leave out ties with the bisection's tolerance
        np.testing.assert_array_equal((low > -margin)[clear], (corrected > 0)[clear])
        agree += clear.sum()
    assert agree > 1000


# ------------------------------------------------------------------------------------------
# analyse
# ------------------------------------------------------------------------------------------
def test_analyse_farrington_manning():
    rng = np.random.default_rng(7)
    n_c, n_t = rng.integers(40, 60, 500), rng.integers(40, 60, 500)
    x_c, x_t = rng.binomial(n_c, 0.8), rng.binomial(n_t, 0.78)
    alpha, margin = 0.025, 0.15
    res = analyse("farrington_manning", alpha, x_c, n_c, x_t, n_t, alternative="greater",
                  margin=margin)
    p = farrington_manning_p(x_c, n_c, x_t, n_t, margin)
    np.testing.assert_array_equal(res.p_value, p)
    np.testing.assert_array_equal(res.reject, p < alpha)
    np.testing.assert_array_equal(res.risk_difference, risk_difference(x_c, n_c, x_t, n_t)[0])
    low, high = miettinen_nurminen_interval(x_c, n_c, x_t, n_t, 1 - 2 * alpha)
    np.testing.assert_array_equal(res.ci_low, low)
    np.testing.assert_array_equal(res.ci_high, high)
    assert 0.2 < res.reject.mean() < 0.95
    # the MN interval carries N / (N - 1), the test does not: they agree on these trials
    assert np.mean((res.ci_low > -margin) == res.reject) > 0.99


def test_analyse_other_tests_unchanged_with_margin_zero():
    x_c, x_t = np.array([20, 30, 35]), np.array([35, 40, 36])
    for test in ("fisher", "chi2", "chi2_yates", "ztest"):
        for alternative in ("two-sided", "greater"):
            a = analyse(test, 0.05, x_c, 60, x_t, 60, alternative)
            b = analyse(test, 0.05, x_c, 60, x_t, 60, alternative, margin=0.0)
            for field in ("p_value", "reject", "risk_difference", "ci_low", "ci_high"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("name, call", [
    ("two-sided", lambda: analyse("farrington_manning", 0.05, 1, 2, 1, 2, margin=0.1)),
    ("margin", lambda: analyse("fisher", 0.05, 1, 2, 1, 2, margin=0.1)),
    ("margin", lambda: analyse("cmh", 0.05, [[1]], [[2]], [[1]], [[2]], margin=0.1)),
    ("margin", lambda: p_values("ztest", 1, 2, 1, 2, margin=0.1)),
    ("margin", lambda: analyse("farrington_manning", 0.05, 1, 2, 1, 2, "greater", margin=1.2)),
])
def test_analyse_rejects_misused_margins(name, call):
    with pytest.raises(ValueError, match=name):
        call()


# ------------------------------------------------------------------------------------------
# exact power and the sample size
# ------------------------------------------------------------------------------------------
def test_exact_power_equals_table_by_table_enumeration():
    n_c, n_t, p_c, p_t, margin, alpha = 9, 12, 0.7, 0.65, 0.15, 0.05
    total = 0.0
    for a in range(n_c + 1):
        for b in range(n_t + 1):
            if ref_fm(a, n_c, b, n_t, margin)[1] < alpha:
                total += stats.binom.pmf(a, n_c, p_c) * stats.binom.pmf(b, n_t, p_t)
    got = exact_power("farrington_manning", n_c, n_t, p_c, p_t, alpha, "greater", margin=margin)
    assert got == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("n", [15, 40])
def test_exact_power_with_margin_zero_is_the_one_sided_z_test(n):
    fm = exact_power("farrington_manning", n, n + 3, 0.5, 0.7, 0.025, "greater", margin=0.0)
    z = exact_power("ztest", n, n + 3, 0.5, 0.7, 0.025, "greater")
    assert fm == pytest.approx(z, abs=1e-12)


def test_exact_power_farrington_manning_checks():
    with pytest.raises(ValueError, match="greater"):
        exact_power("farrington_manning", 10, 10, 0.6, 0.6, 0.025, margin=0.1)
    with pytest.raises(ValueError, match="margin"):
        exact_power("fisher", 10, 10, 0.6, 0.6, 0.025, margin=0.1)
    with pytest.raises(ValueError):
        exact_power("cmh", 10, 10, 0.6, 0.7)


# rpact 3.3.4 (R): getSampleSizeRates(..., normalApproximation = TRUE)$nFixed1, per group and not
# rounded; the call is in reference_values.py.
RPACT_N = [  # p_control, p_treat, margin, alpha, power, nFixed1
    (*(c["inputs"][k] for k in ("p_control", "p_treat", "margin", "alpha", "power")), c["reference"]["nFixed1"])
    for c in RPACT_FM_SAMPLE_SIZE["cases"]
]


@pytest.mark.parametrize("p_c, p_t, margin, alpha, power, n_rpact", RPACT_N)
def test_farrington_manning_sample_size_matches_rpact(p_c, p_t, margin, alpha, power, n_rpact):
    assert n_per_arm_farrington_manning(p_c, p_t, margin, alpha, power) == int(np.ceil(n_rpact))
    # the docstring's formula, unrounded, to rpact's 10 decimals: the same restricted rates
    r_c, r_t = noninferiority._restricted_rates(p_c, 1.0, p_t, 1.0, -margin)
    spread_h0 = np.sqrt(r_c * (1 - r_c) + r_t * (1 - r_t))
    spread_h1 = np.sqrt(p_c * (1 - p_c) + p_t * (1 - p_t))
    raw = ((special.ndtri(1 - alpha) * spread_h0 + special.ndtri(power) * spread_h1)
           / (p_t - p_c + margin)) ** 2
    assert raw == pytest.approx(n_rpact, abs=1e-9)


@pytest.mark.parametrize("p_c, p_t", [(0.6, 0.85), (0.3, 0.4), (0.5, 0.52)])
def test_sample_size_with_margin_zero_is_pooled_normal(p_c, p_t):
    assert n_per_arm_farrington_manning(p_c, p_t, 0.0, 0.025, 0.8) == \
        n_per_arm_pooled_normal(p_c, p_t, 0.025, 0.8, "greater")


@pytest.mark.parametrize("p_c, p_t, margin", [(0.6, 0.7, 0.15), (0.6, 0.6, 0.15), (0.85, 0.85, 0.1)])
def test_sample_size_gives_about_the_power_exactly(p_c, p_t, margin):
    n = n_per_arm_farrington_manning(p_c, p_t, margin, 0.025, 0.8)
    power = exact_power("farrington_manning", n, n, p_c, p_t, 0.025, "greater", margin=margin)
    assert power == pytest.approx(0.8, abs=0.01)
    size = exact_power("farrington_manning", n, n, p_c, p_c - margin, 0.025, "greater", margin=margin)
    assert size == pytest.approx(0.025, abs=0.005)


def test_sample_size_checks():
    with pytest.raises(ValueError, match="exceed"):
        n_per_arm_farrington_manning(0.6, 0.4, 0.15)
    with pytest.raises(ValueError):
        n_per_arm_farrington_manning(0.6, 0.6, 1.0)
    with pytest.raises(ValueError):
        n_per_arm_farrington_manning(0.6, 0.6, 0.1, alpha=0.6)
    assert formulas.n_per_arm_farrington_manning(0.6, 0.6, 0.15, 0.025, 0.8) == 166
