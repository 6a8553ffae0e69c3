"""Several experimental arms against one shared control: ``adjust_rejections`` (none,
Bonferroni, Holm) against a plain loop and statsmodels, and the exact rejection probabilities
of ``exact_rejection_probabilities``, family-wise error included."""
import itertools
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from simulate.design import choices
from simulate.analysis.compare import p_values
from simulate.analysis.formulas import (
    MAX_EXACT_TABLES,
    exact_power,
    exact_rejection_probabilities,
)
from simulate.analysis.rules import adjust_rejections
from simulate.design.choices import MULTIPLICITY

SETTINGS = settings(derandomize=True, max_examples=300, deadline=None)
ALPHA = 0.05


# ------------------------------------------------------------------------------------------
# adjust_rejections
# ------------------------------------------------------------------------------------------
def loop_decisions(p, alpha, method):
    """One trial's decisions, written out as the textbook states them."""
    m = len(p)
    if method == "none":
        return [q < alpha for q in p]
    if method == "bonferroni":
        return [q < alpha / m for q in p]
    reject = [False] * m
    for step, idx in enumerate(sorted(range(m), key=lambda i: p[i])):  # Holm's step-down
        if not p[idx] < alpha / (m - step):
            break
        reject[idx] = True
    return reject


# p-values with ties and values exactly on a threshold alpha / k
P_VALUE = st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.01, 0.0125, 0.0125, 0.025, 1 / 60,
                                                     0.05, 0.5, 1.0]))


@SETTINGS
@given(m=st.integers(1, 5), trials=st.integers(1, 6), data=st.data(),
       alpha=st.sampled_from([0.05, 0.025, 0.1]))
def test_adjust_rejections_equals_a_loop(m, trials, data, alpha):
    p = np.array(data.draw(st.lists(st.lists(P_VALUE, min_size=m, max_size=m),
                                    min_size=trials, max_size=trials)))
    for method in MULTIPLICITY:
        got = adjust_rejections(p, alpha, method)
        assert got.shape == p.shape and got.dtype == bool
        expected = [loop_decisions(list(row), alpha, method) for row in p]
        np.testing.assert_array_equal(got, expected)


def test_adjust_rejections_match_statsmodels_off_the_thresholds():
    """statsmodels rejects at p <= threshold, we at p < threshold (as analyse does): the
    decisions agree wherever no p-value sits on a threshold alpha / k."""
    rng = np.random.default_rng(11)
    compared = 0
    # multipletests(method='holm') calls gc.collect() every time (40 ms in a test session)
    with mock.patch("gc.collect", return_value=0):
        for _ in range(400):
            m = int(rng.integers(1, 7))
            alpha = float(rng.choice([0.05, 0.1]))
            p = rng.uniform(0, 0.2, size=m) ** rng.choice([1, 2])
            if np.min(np.abs(np.subtract.outer(p, alpha / np.arange(1, m + 1)))) < 1e-12:
                continue
            for method in ("bonferroni", "holm"):
                ours = adjust_rejections(p[None, :], alpha, method)[0]
                np.testing.assert_array_equal(ours, multipletests(p, alpha=alpha, method=method)[0])
            compared += 1
    assert compared > 390


def test_ties_and_the_threshold_itself():
    p = np.array([[0.025, 0.5], [0.02, 0.02], [0.01, 0.04], [0.03, 0.03], [0.025, 0.025]])
    np.testing.assert_array_equal(adjust_rejections(p, 0.05, "bonferroni"),
                                  [[False, False], [True, True], [True, False], [False, False],
                                   [False, False]])
    np.testing.assert_array_equal(adjust_rejections(p, 0.05, "holm"),
                                  [[False, False], [True, True], [True, True], [False, False],
                                   [False, False]])
    # statsmodels counts p == alpha / m as a rejection
    assert multipletests([0.025, 0.5], alpha=0.05, method="bonferroni")[0][0]
    assert multipletests([0.025, 0.5], alpha=0.05, method="holm")[0][0]


def test_holm_rejects_at_least_what_bonferroni_does_and_none_the_most():
    p = np.random.default_rng(3).beta(0.3, 3, size=(5000, 4))
    bonf, holm, none = (adjust_rejections(p, ALPHA, m) for m in ("bonferroni", "holm", "none"))
    assert np.all(holm >= bonf) and np.all(none >= holm)
    assert np.any(holm > bonf) and np.any(none > holm)
    # the smallest p-value decides the same under both: any rejection iff min p < alpha / m
    np.testing.assert_array_equal(holm.any(axis=1), bonf.any(axis=1))


def test_shapes_nan_and_bad_arguments():
    assert adjust_rejections([0.01, 0.03], ALPHA, "holm").tolist() == [True, True]
    assert adjust_rejections(np.full((2, 3, 2), 0.01), ALPHA, "holm").shape == (2, 3, 2)
    assert adjust_rejections(np.empty((0, 3)), ALPHA, "holm").shape == (0, 3)
    # NaN never rejects, and stops Holm's steps after the real p-values
    np.testing.assert_array_equal(adjust_rejections([[np.nan, 0.001, 0.02]], ALPHA, "holm"),
                                  [[False, True, True]])
    with pytest.raises(ValueError, match="sidak"):
        adjust_rejections([[0.01]], ALPHA, "sidak")
    with pytest.raises(ValueError):
        adjust_rejections([[0.01]], 1.5, "holm")
    with pytest.raises(ValueError):
        adjust_rejections(0.01, ALPHA, "holm")


# ------------------------------------------------------------------------------------------
# exact rejection probabilities
# ------------------------------------------------------------------------------------------
def brute_force(test, n_c, n_arms, p_c, p_arms, alpha, alternative, method, margin=0.0):
    """Every table, one at a time, decided by the loop above."""
    m = len(n_arms)
    each, any_, all_ = np.zeros(m), 0.0, 0.0
    for x_c in range(n_c + 1):
        for xs in itertools.product(*(range(n + 1) for n in n_arms)):
            prob = stats.binom.pmf(x_c, n_c, p_c)
            for x, n, p in zip(xs, n_arms, p_arms):
                prob *= stats.binom.pmf(x, n, p)
            ps = [float(p_values(test, x_c, n_c, x, n, alternative, margin=margin))
                  for x, n in zip(xs, n_arms)]
            reject = loop_decisions(ps, alpha, method)
            each += prob * np.array(reject)
            any_ += prob * any(reject)
            all_ += prob * all(reject)
    return each, any_, all_


@pytest.mark.parametrize("test, n_c, n_arms, p_c, p_arms, alternative, method", [
    ("fisher", 5, [4, 6], 0.3, [0.6, 0.8], "two-sided", "holm"),
    ("ztest", 6, [5, 4], 0.4, [0.4, 0.9], "greater", "holm"),
    ("chi2", 4, [4, 4], 0.5, [0.5, 0.5], "two-sided", "none"),
    ("chi2_yates", 6, [5, 6], 0.2, [0.7, 0.6], "two-sided", "bonferroni"),
    ("fisher", 3, [3, 2, 4], 0.3, [0.8, 0.7, 0.9], "greater", "holm"),
    ("farrington_manning", 5, [6, 5], 0.7, [0.7, 0.6], "greater", "holm"),
])
def test_exact_probabilities_equal_table_by_table_enumeration(test, n_c, n_arms, p_c, p_arms,
                                                              alternative, method):
    margin = 0.2 if test == "farrington_manning" else 0.0
    # with m = 2 at alpha 0.2 Holm's second step (0.2) differs from Bonferroni's (0.1)
    alpha = 0.2
    got = exact_rejection_probabilities(test, n_c, n_arms, p_c, p_arms, alpha, alternative,
                                        method, margin=margin)
    each, any_, all_ = brute_force(test, n_c, n_arms, p_c, p_arms, alpha, alternative, method,
                                   margin)
    np.testing.assert_allclose(got.per_comparison, each, rtol=1e-12, atol=1e-15)
    assert got.any_rejected == pytest.approx(any_, rel=1e-12, abs=1e-15)
    assert got.all_rejected == pytest.approx(all_, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("test", ["fisher", "ztest"])
def test_single_comparisons_are_exact_power(test):
    n_c, n_arms, p_c, p_arms = 20, [18, 25], 0.4, [0.6, 0.75]
    none = exact_rejection_probabilities(test, n_c, n_arms, p_c, p_arms, ALPHA, "two-sided", "none")
    bonf = exact_rejection_probabilities(test, n_c, n_arms, p_c, p_arms, ALPHA, "two-sided",
                                         "bonferroni")
    holm = exact_rejection_probabilities(test, n_c, n_arms, p_c, p_arms, ALPHA, "two-sided", "holm")
    for k, (n, p) in enumerate(zip(n_arms, p_arms)):
        assert none.per_comparison[k] == pytest.approx(exact_power(test, n_c, n, p_c, p, ALPHA),
                                                       rel=1e-12)
        assert bonf.per_comparison[k] == pytest.approx(
            exact_power(test, n_c, n, p_c, p, ALPHA / 2), rel=1e-12)
        assert bonf.per_comparison[k] < holm.per_comparison[k] < none.per_comparison[k]
    for r in (none, bonf, holm):
        assert r.all_rejected <= min(r.per_comparison) <= max(r.per_comparison) <= r.any_rejected
    assert bonf.any_rejected == pytest.approx(holm.any_rejected, rel=1e-12)


NULL_CASES = [(n, p) for n in (10, 25, 40) for p in (0.2, 0.5, 0.8)]


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
@pytest.mark.parametrize("method", ["bonferroni", "holm"])
def test_fisher_family_wise_error_at_most_alpha(alternative, method):
    """Fisher's p-values are valid (P(p <= u) <= u), so Bonferroni's union bound and Holm keep
    the family-wise error at alpha, however the shared control ties the comparisons."""
    for n, p in NULL_CASES:
        r = exact_rejection_probabilities("fisher", n, [n, n], p, [p, p], ALPHA, alternative, method)
        assert r.any_rejected <= ALPHA + 1e-12, (n, p)
    for n, p in [(8, 0.3), (15, 0.5)]:
        r = exact_rejection_probabilities("fisher", n, [n, n, n], p, [p] * 3, ALPHA, alternative,
                                          method)
        assert r.any_rejected <= ALPHA + 1e-12, (n, p)


def test_without_adjustment_the_family_wise_error_exceeds_alpha():
    r = exact_rejection_probabilities("fisher", 40, [40, 40], 0.5, [0.5, 0.5], ALPHA, "two-sided",
                                      "none")
    assert r.any_rejected > ALPHA  # 0.0609: Fisher, although conservative, fails unadjusted
    r = exact_rejection_probabilities("fisher", 12, [12] * 3, 0.5, [0.5] * 3, ALPHA, "two-sided",
                                      "none")
    assert r.any_rejected > ALPHA  # 0.0602


@pytest.mark.parametrize("test", ["ztest", "chi2"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_large_sample_tests_family_wise_error_within_the_union_bound(test, alternative):
    """For the z-test and chi-square Bonferroni / Holm keep the family-wise error below the sum
    of the single comparisons' exact sizes at alpha / m (the union bound), and Holm's equals
    Bonferroni's under the global null.  The bound itself may exceed alpha: those tests are
    not exact, and at small n their size at alpha / m is above alpha / m."""
    for n, p in NULL_CASES:
        bonf = exact_rejection_probabilities(test, n, [n, n], p, [p, p], ALPHA, alternative,
                                             "bonferroni")
        holm = exact_rejection_probabilities(test, n, [n, n], p, [p, p], ALPHA, alternative, "holm")
        size = exact_power(test, n, n, p, p, ALPHA / 2, alternative)
        assert bonf.any_rejected <= 2 * size + 1e-12, (n, p)
        assert holm.any_rejected == pytest.approx(bonf.any_rejected, rel=1e-12)


def test_ztest_family_wise_error_can_exceed_alpha_even_with_holm():
    """The adjustment is not at fault: the single z-test's own size at alpha / 2 is too big."""
    n, p = 10, 0.5
    holm = exact_rejection_probabilities("ztest", n, [n, n], p, [p, p], ALPHA, "two-sided", "holm")
    assert holm.any_rejected > 0.07  # 0.0759
    assert exact_power("ztest", n, n, p, p, ALPHA / 2) > ALPHA / 2


def test_farrington_manning_arms():
    """Non-inferiority arms at the margin's edge (p_k = p_c - margin): each comparison's chance
    is the single test's exact size."""
    n, p_c, margin = 20, 0.8, 0.15
    r = exact_rejection_probabilities("farrington_manning", n, [n, n], p_c, [p_c - margin] * 2,
                                      0.025, "greater", "none", margin=margin)
    size = exact_power("farrington_manning", n, n, p_c, p_c - margin, 0.025, "greater",
                       margin=margin)
    np.testing.assert_allclose(r.per_comparison, [size, size], rtol=1e-12)
    with pytest.raises(ValueError, match="greater"):
        exact_rejection_probabilities("farrington_manning", n, [n, n], p_c, [p_c, p_c], 0.025,
                                      "two-sided", "holm", margin=margin)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="entry per"):
        exact_rejection_probabilities("fisher", 10, [10, 10], 0.5, [0.5], ALPHA, "two-sided", "holm")
    with pytest.raises(ValueError, match="sidak"):
        exact_rejection_probabilities("fisher", 10, [10], 0.5, [0.5], ALPHA, "two-sided", "sidak")
    with pytest.raises(ValueError, match="cmh"):
        exact_rejection_probabilities("cmh", 10, [10], 0.5, [0.5], ALPHA, "two-sided", "holm")
    with pytest.raises(ValueError, match="MAX_EXACT_TABLES"):
        big = int(round(MAX_EXACT_TABLES ** (1 / 3))) + 1
        exact_rejection_probabilities("fisher", big, [big, big], 0.5, [0.5, 0.5], ALPHA,
                                      "two-sided", "holm")
    assert choices.MULTIPLICITY == ("none", "bonferroni", "holm")
