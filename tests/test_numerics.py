"""The root finder and the integrator of simulate/numerics.py against scipy's brentq and quad,
and the two integrals and three roots of a run's set-up against independent computations."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate as scipy_integrate
from scipy import optimize

from simulate.numerics import NumericsError, find_root, gauss_legendre, integrate


@pytest.mark.parametrize("f, lo, hi", [
    (lambda x: x**3 - 2 * x - 5, 2.0, 3.0),                       # Wallis's example
    (lambda x: math.cos(x) - x, 0.0, 1.0),
    (lambda x: math.expm1(x) - 1e-9, -1.0, 1.0),                  # a root near 0
    (lambda x: math.tanh(50 * (x - 0.3)), -1.0, 1.0),            # steep
    (lambda x: (x - 1e6) * 1e-12, 0.0, 1e7),                     # flat and far
    (lambda x: 1.0 / (1.0 + math.exp(-x)) - 0.999999, -40.0, 40.0),
])
def test_find_root_agrees_with_brentq(f, lo, hi):
    ours = find_root(f, lo, hi, xtol=1e-14)
    theirs = optimize.brentq(f, lo, hi, xtol=1e-14)
    assert ours == pytest.approx(theirs, abs=4e-14 + 8 * np.finfo(float).eps * abs(theirs))


@given(st.floats(-50, 50), st.floats(0.01, 100), st.floats(-10, 10))
@settings(max_examples=200, deadline=None)
def test_find_root_of_monotone_functions(root, width, offset):
    lo, hi = root - width * 0.3 + offset * 0, root + width
    f = lambda x: math.atan(x - root) * 3 + (x - root) ** 3  # noqa: E731 - increasing, one root
    assert find_root(f, lo, hi, xtol=1e-13) == pytest.approx(root, abs=2e-13 + 8e-16 * abs(root))


def test_find_root_refuses_an_unbracketed_interval():
    with pytest.raises(NumericsError, match="same sign"):
        find_root(lambda x: x * x + 1, -1.0, 1.0)
    assert find_root(lambda x: x, 0.0, 1.0) == 0.0                  # a root at an end


@pytest.mark.parametrize("f, lo, hi, points, exact", [
    (np.exp, 0.0, 1.0, (), math.e - 1),
    (lambda x: np.abs(x - 0.3), 0.0, 1.0, (0.3,), 0.5 * 0.3**2 + 0.5 * 0.7**2),       # a kink, given
    (lambda x: np.abs(x - 0.3), 0.0, 1.0, (), 0.5 * 0.3**2 + 0.5 * 0.7**2),           # a kink, found
    (np.cbrt, 0.0, 1.0, (), 0.75),                                                    # infinite slope at 0
    (np.sqrt, 0.0, 2.0, (), 2.0 / 3.0 * 2.0**1.5),
    (lambda x: np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), -12.0, 12.0, (), 1.0),
    (lambda x: 1.0 / (1.0 + 1e4 * (x - 0.5) ** 2), 0.0, 1.0, (), 2 * math.atan(50) / 100),  # a sharp peak
])
def test_integrate_exact_values(f, lo, hi, points, exact):
    assert integrate(f, lo, hi, points=points) == pytest.approx(exact, rel=1e-12, abs=1e-13)


@pytest.mark.parametrize("nodes", [4, 32, 160])
def test_gauss_legendre_is_exact_for_polynomials_up_to_its_degree(nodes):
    x, w = gauss_legendre(-0.5, 2.0, nodes)
    for degree in (0, 1, nodes, 2 * nodes - 1):
        exact = (2.0 ** (degree + 1) - (-0.5) ** (degree + 1)) / (degree + 1)
        assert float((w * x**degree).sum()) == pytest.approx(exact, rel=1e-11)


def test_gauss_legendre_takes_one_interval_per_row_and_agrees_with_integrate():
    """A lower limit per outer node (as in an inner integral over a moving region): each row is
    that interval's rule, and a smooth integral agrees with the adaptive integrator."""
    lo = np.array([[-3.0, 0.0], [0.5, 1.9]])
    x, w = gauss_legendre(lo, 2.0, 40)
    assert x.shape == w.shape == (2, 2, 40)
    got = (w * np.exp(-x * x)).sum(axis=-1)
    for i, j in np.ndindex(lo.shape):
        assert got[i, j] == pytest.approx(integrate(lambda t: np.exp(-t * t), lo[i, j], 2.0), rel=1e-13, abs=1e-15)
        assert x[i, j].min() > lo[i, j] and x[i, j].max() < 2.0


def test_integrate_empty_interval_and_no_convergence():
    assert integrate(np.exp, 1.0, 1.0) == 0.0
    with pytest.raises(NumericsError, match="no convergence"):
        integrate(lambda x: np.where(x < 0.5, 0.0, 1.0) * np.sin(1e9 * x), 0.0, 1.0, max_depth=5)


@given(shape=st.sampled_from([0.5, 1.0, 1.5, 3.0]), end=st.sampled_from([6.0, 12.0, 24.0]),
       scale_factor=st.floats(0.05, 5.0), h1=st.floats(0.0, 0.05), multiplier=st.sampled_from([1.0, 2.0, 5.0]),
       course=st.sampled_from([3.0, 9.0, math.inf]))
@settings(max_examples=150, deadline=None)
def test_no_relapse_probability_matches_integral_over_time(shape, end, scale_factor, h1, multiplier, course):
    """q = P(no relapse by the endpoint | remission), as the outcome model integrates it over
    the remission uniform, equals scipy's quad of the same integral over remission time."""
    from simulate.population.outcomes import ArmModel, _no_relapse_probability

    scale = end * scale_factor
    cdf_end = -math.expm1(-((end / scale) ** shape))
    h2 = h1 * multiplier
    arm = ArmModel(responder_probability=0.5, intercept=0.0, weibull_scale=scale, weibull_shape=shape, weibull_cdf_at_endpoint=cdf_end,
                   relapse_hazard=h1, relapse_hazard_off_cni=h2, rebound_month=course,
                   complete_share=0.5, dropout_rate=0.0, dropout_rate_nonresponder=0.0, endpoint_month=end)
    H = lambda t: h1 * min(t, course) + h2 * max(t - course, 0.0)  # noqa: E731

    def density(t: float) -> float:
        return (shape / scale) * (t / scale) ** (shape - 1) * math.exp(-((t / scale) ** shape)) / cdf_end

    kinks = [p for p in (course, scale) if 0 < p < end]
    expected, _ = scipy_integrate.quad(lambda t: math.exp(-(H(end) - H(t))) * density(t), 0.0, end,
                                       points=kinks or None, epsabs=1e-14, epsrel=1e-13, limit=500)
    if h1 == 0 and h2 == 0:
        expected = 1.0
    assert _no_relapse_probability(arm) == pytest.approx(expected, abs=1e-10)


def test_power_imports_neither_scipy_integrate_nor_optimize() -> None:
    """What these tools are for: a cold `trialsim power` does without the two slow packages; and
    its printed summary, whose words live beside the report's, draws in no plotting library."""
    import subprocess
    import sys
    from pathlib import Path

    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "nct04743739.toml"
    code = ("import sys; from simulate.cli import main; main(['power', %r, '--replicates', '20']); "
            "print(sorted(m for m in ('scipy.integrate', 'scipy.optimize', 'scipy.stats', 'pandas', 'simpy', 'matplotlib', "
            "'seaborn') "
            "if m in sys.modules))" % str(scenario))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
