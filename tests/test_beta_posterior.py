"""Beta-mixture posteriors and P(p_t - p_c > delta) of simulate/analysis/beta_posterior.py
against independent computations: the conjugate update, scipy.stats's densities, the exact
finite sum for integer parameters (Cook 2005; E. Miller, "Formulas for Bayesian A/B testing"),
scipy.integrate.quad and Monte Carlo draws."""

import itertools

import numpy as np
import pytest
from scipy import integrate, special, stats

from simulate.analysis.beta_posterior import ess, posterior_mixture, prob_difference_greater

JEFFREYS = [[1.0, 0.5, 0.5]]
MIXTURE = [[0.6, 0.5, 2.0], [0.4, 3.0, 1.5]]
ROBUST = [[0.8, 12.0, 28.0], [0.2, 1.0, 1.0]]


def prob_x_greater_exact(a1, b1, a2, b2):
    """P(X > Y), X ~ Beta(a1, b1), Y ~ Beta(a2, b2), integer a1: the finite sum
    sum_{i < a1} B(a2 + i, b1 + b2) / ((b1 + i) B(1 + i, b1) B(a2, b2)), in logs."""
    i = np.arange(a1)
    terms = (special.betaln(a2 + i, b1 + b2) - np.log(b1 + i) - special.betaln(1 + i, b1)
             - special.betaln(a2, b2))
    top = terms.max()
    return float(np.exp(top) * np.exp(terms - top).sum())


def one(posterior, trial=0):
    """One trial's posterior as a (weights, a, b) of shape (1, components)."""
    return tuple(v[trial : trial + 1] for v in posterior)


def mixture(posterior, trial, function, p):
    w, a, b = (v[trial] for v in posterior)
    return sum(wk * function(p, ak, bk) for wk, ak, bk in zip(w, a, b))


def prob_by_quad(post_t, post_c, delta, trial=0):
    """P(p_t - p_c > delta) as the integral of the control's density times the treatment's
    survival function at p_c + delta, plus the control's mass below -delta."""
    lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)
    value, _ = integrate.quad(
        lambda p: (mixture(post_c, trial, stats.beta.pdf, p)
                   * mixture(post_t, trial, stats.beta.sf, p + delta)),
        lo, hi, epsabs=1e-12, epsrel=1e-11, limit=500)
    return value + mixture(post_c, trial, stats.beta.cdf, lo)


def draws(posterior, trial, size, rng):
    w, a, b = (v[trial] for v in posterior)
    k = rng.choice(len(w), size=size, p=w)
    return rng.beta(a[k], b[k])


# -- posterior_mixture ------------------------------------------------------------------------

def test_single_beta_update_is_conjugate():
    x, n = np.array([0, 3, 17, 40]), np.array([0, 10, 17, 100])
    w, a, b = posterior_mixture([[1.0, 2.5, 4.0]], x, n)
    assert w.shape == a.shape == b.shape == (4, 1)
    assert np.all(w == 1.0)
    np.testing.assert_array_equal(a[:, 0], 2.5 + x)
    np.testing.assert_array_equal(b[:, 0], 4.0 + n - x)


@pytest.mark.parametrize("prior", [MIXTURE, ROBUST, [[0.5, 1.0, 1.0], [0.5, 40.0, 10.0]]])
@pytest.mark.parametrize("x, n", [(0, 0), (0, 12), (7, 12), (12, 12), (30, 200)])
def test_mixture_weights_are_the_marginal_likelihoods(prior, x, n):
    # w_k proportional to w0_k times the beta-binomial likelihood of x under component k
    w0, a0, b0 = np.array(prior).T
    like = w0 * stats.betabinom.pmf(x, n, a0, b0)
    w, a, b = posterior_mixture(prior, np.array([x]), np.array([n]))
    np.testing.assert_allclose(w[0], like / like.sum(), rtol=1e-12)
    np.testing.assert_array_equal(a[0], a0 + x)
    np.testing.assert_array_equal(b[0], b0 + n - x)


def test_mixture_weights_do_not_underflow():
    # with 5000 patients the marginal likelihoods are ~1e-3000: only their ratio is used
    w, _, _ = posterior_mixture(ROBUST, np.array([1500]), np.array([5000]))
    log_like = (np.log([0.8, 0.2]) + special.betaln([1512, 1501], [3528, 3501])
                - special.betaln([12, 1], [28, 1]))
    np.testing.assert_allclose(w[0], np.exp(log_like - np.logaddexp.reduce(log_like)), rtol=1e-10)


def test_prior_is_checked():
    for bad in ([[0.5, 1, 1]], [[1.0, 0.0, 1.0]], [[1.0, 1.0]], [[1.2, 1, 1], [-0.2, 1, 1]]):
        with pytest.raises(ValueError):
            posterior_mixture(bad, np.array([1]), np.array([2]))
    with pytest.raises(ValueError):
        posterior_mixture(JEFFREYS, np.array([3]), np.array([2]))


# -- prob_difference_greater ------------------------------------------------------------------

def test_exact_sum_orientation_by_monte_carlo():
    rng = np.random.default_rng(20240601)
    x, y = rng.beta(7, 3, 10**6), rng.beta(4, 5, 10**6)
    mc = np.mean(x > y)
    assert abs(prob_x_greater_exact(7, 3, 4, 5) - mc) < 4 * np.sqrt(mc * (1 - mc) / 10**6)
    assert prob_x_greater_exact(7, 3, 4, 5) > 0.5


def grid_tables():
    tables = []
    for n_c, n_t in itertools.product([0, 1, 7, 40, 200], repeat=2):
        for x_c, x_t in itertools.product(sorted({0, 1, n_c // 3, n_c - 1, n_c}),
                                          sorted({0, 1, n_t // 2, n_t - 1, n_t})):
            if 0 <= x_c <= n_c and 0 <= x_t <= n_t:
                tables.append((x_c, n_c, x_t, n_t))
    return np.array(tables).T


@pytest.mark.parametrize("a0, b0", [(1, 1), (2, 3)])
def test_single_integer_betas_match_the_exact_sum(a0, b0):
    x_c, n_c, x_t, n_t = grid_tables()
    prior = [[1.0, a0, b0]]
    got = prob_difference_greater(posterior_mixture(prior, x_t, n_t), posterior_mixture(prior, x_c, n_c), 0.0)
    exact = [prob_x_greater_exact(a0 + xt, b0 + nt - xt, a0 + xc, b0 + nc - xc)
             for xc, nc, xt, nt in zip(x_c, n_c, x_t, n_t)]
    np.testing.assert_allclose(got, np.minimum(exact, 1.0), rtol=0, atol=1e-9)


QUAD_CASES = [
    (prior, x_t, n_t, x_c, n_c, delta)
    for prior in (JEFFREYS, MIXTURE, ROBUST)
    for (x_t, n_t, x_c, n_c) in [(0, 3, 0, 5), (3, 3, 5, 5), (2, 10, 6, 10), (0, 0, 4, 30),
                                 (45, 150, 30, 120), (150, 300, 40, 60), (0, 250, 1, 250)]
    for delta in (-0.2, -0.05, 0.0, 0.1)
]


@pytest.mark.parametrize("prior, x_t, n_t, x_c, n_c, delta", QUAD_CASES)
def test_matches_quad(prior, x_t, n_t, x_c, n_c, delta):
    post_t = posterior_mixture(prior, np.array([x_t]), np.array([n_t]))
    post_c = posterior_mixture(prior, np.array([x_c]), np.array([n_c]))
    got = prob_difference_greater(post_t, post_c, delta)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(prob_by_quad(post_t, post_c, delta), abs=1e-7)


def test_different_priors_per_arm_match_quad():
    post_t = posterior_mixture(MIXTURE, np.array([9]), np.array([20]))
    post_c = posterior_mixture(JEFFREYS, np.array([4]), np.array([25]))
    for delta in (-0.1, 0.0, 0.15):
        assert prob_difference_greater(post_t, post_c, delta)[0] == pytest.approx(
            prob_by_quad(post_t, post_c, delta), abs=1e-7)


def test_mixture_matches_monte_carlo():
    rng = np.random.default_rng(7)
    post_t = posterior_mixture(ROBUST, np.array([14]), np.array([40]))
    post_c = posterior_mixture(MIXTURE, np.array([9]), np.array([40]))
    delta = -0.1
    size = 10**6
    mc = np.mean(draws(post_t, 0, size, rng) - draws(post_c, 0, size, rng) > delta)
    got = prob_difference_greater(post_t, post_c, delta)[0]
    assert abs(got - mc) < 4 * np.sqrt(mc * (1 - mc) / size)


def test_delta_outside_the_rates():
    post = posterior_mixture(MIXTURE, np.array([3, 0]), np.array([9, 0]))
    np.testing.assert_allclose(prob_difference_greater(post, post, -1.0), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(prob_difference_greater(post, post, 1.0), 0.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(prob_difference_greater(post, post, 0.0), 0.5, atol=1e-12)


def test_block_equals_trial_by_trial():
    rng = np.random.default_rng(3)
    trials = 1000
    n_c, n_t = rng.integers(0, 300, trials), rng.integers(0, 300, trials)
    x_c, x_t = rng.binomial(n_c, 0.3), rng.binomial(n_t, 0.4)
    delta = rng.choice([-0.1, 0.0, 0.05], trials)
    post_t, post_c = posterior_mixture(ROBUST, x_t, n_t), posterior_mixture(MIXTURE, x_c, n_c)
    block = prob_difference_greater(post_t, post_c, delta)
    single = [prob_difference_greater(one(post_t, i), one(post_c, i), delta[i])[0] for i in range(trials)]
    np.testing.assert_allclose(block, single, rtol=0, atol=1e-15)


# -- ess --------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [(1, 1), (0.5, 0.5), (12, 28), (300, 20)])
def test_ess_of_a_beta_is_a_plus_b(a, b):
    assert ess([[1.0, a, b]]) == pytest.approx(a + b, rel=1e-12)
    assert ess([[0.3, a, b], [0.7, a, b]]) == pytest.approx(a + b, rel=1e-12)


def test_vague_component_lowers_ess():
    informative = ess([[1.0, 12, 28]])
    assert ess(ROBUST) < informative
    assert ess([[0.95, 12, 28], [0.05, 1, 1]]) > ess(ROBUST)
