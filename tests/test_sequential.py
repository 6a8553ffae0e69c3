"""simulate.analysis.sequential: group-sequential boundaries against R's rpact, Monte Carlo paths and
published constants.

Every reference number was produced by R 4.2.2 with rpact 3.3.4; the numbers, each with the call
that produced it, are in reference_values.py (``f <- function(x) formatC(x, digits = 12, format =
"f")`` printed them); the suite does not need R. rpact integrates with a 91-point Newton-Cotes rule
and solves its bounds to a tolerance of 1e-8, so its numbers are good to a few 1e-8: the bounds are
compared at 1e-7 and the probabilities at 1e-8. (gsDesign, the second R reference asked for, is not
packaged for this machine's Debian and CRAN cannot be reached from it.)
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import special

from conftest import ROOT
from reference_values import (
    GSDESIGN_HSD_BOUNDS,
    GSDESIGN_REPEATED_TESTING,
    JENNISON_TURNBULL_POCOCK,
    RPACT_ALPHA_SPENT,
    RPACT_DESIGNS,
    RPACT_EFFICACY_BOUNDS,
    RPACT_POCOCK,
)
from simulate.analysis import sequential
from simulate.numerics import find_root, integrate
from simulate.analysis.sequential import (
    beta_spending_design,
    beta_spending_futility,
    conditional_power,
    crossing_probabilities,
    cumulative_spending,
    drift_for_power,
    efficacy_bounds,
    spending,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

ALPHA = 0.025
BOUND_TOL = 1e-7        # rpact's bounds carry errors of up to ~6e-8
PROB_TOL = 1e-8

# ((spending, gamma, fractions), rpact criticalValues), one-sided alpha = 0.025 (the calls: reference_values.py).
ALPHA_SPENDING = [((c["inputs"]["spending"], c["inputs"]["gamma"], c["inputs"]["fractions"]),
                   c["reference"]["criticalValues"]) for c in RPACT_EFFICACY_BOUNDS["cases"]]

# Designs with futility bounds, and getDesignCharacteristics(design) of each (see RPACT_DESIGNS' note):
# the inputs and rpact's numbers in one dict per design.
DESIGNS = {c["label"]: {**c["inputs"], **c["reference"]} for c in RPACT_DESIGNS["cases"]}
BETA_SPENDING = [name for name, d in DESIGNS.items() if "beta_spending" in d]

# Cumulative alpha spent (rpact integrates it at its bounds, hence 0.02499999 at the end).
ALPHA_SPENT = [((c["inputs"]["spending"], c["inputs"]["gamma"], c["inputs"]["fractions"]), c["reference"]["alphaSpent"])
               for c in RPACT_ALPHA_SPENT["cases"]]

# Pocock's constant boundary, one-sided 0.025 (two-sided 0.05), equally spaced looks: rpact's typeOfDesign="P",
# and Jennison & Turnbull (2000), Table 2.1, C_P(K, 0.05) two-sided.
POCOCK = {c["inputs"]["looks"]: c["reference"]["criticalValue"] for c in RPACT_POCOCK["cases"]}
POCOCK_K2, POCOCK_K5 = POCOCK[2], POCOCK[5]
JT_POCOCK = {c["inputs"]["looks"]: c["reference"]["criticalValue"] for c in JENNISON_TURNBULL_POCOCK["cases"]}


def ids(case):
    (name, gamma, t), _ = case
    return f"{name}{'' if gamma is None else f'({gamma:g})'}-{len(t)}-{'/'.join(f'{v:.2g}' for v in t)}"


# ----------------------------------------------------------------------------- alpha-spending


@pytest.mark.parametrize("case", ALPHA_SPENDING, ids=ids)
def test_efficacy_bounds_match_rpact(case):
    (name, gamma, t), expected = case
    bounds = efficacy_bounds(t, ALPHA, name, gamma)
    np.testing.assert_allclose(bounds, expected, rtol=0, atol=BOUND_TOL)


@pytest.mark.parametrize("case", ALPHA_SPENDING, ids=ids)
def test_alpha_spent_per_look_is_the_spending_increment(case):
    (name, gamma, t), _ = case
    bounds = efficacy_bounds(t, ALPHA, name, gamma)
    crossing = crossing_probabilities(bounds, None, t, 0.0)
    increments = np.diff(cumulative_spending(t, ALPHA, name, gamma), prepend=0.0)
    np.testing.assert_allclose(crossing.efficacy, increments, rtol=1e-9, atol=1e-14)
    assert crossing.power == pytest.approx(ALPHA, abs=1e-12)
    assert sum(crossing.efficacy) + sum(crossing.futility) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("case", ALPHA_SPENT, ids=ids)
def test_spending_functions_match_rpact_alpha_spent(case):
    (name, gamma, t), expected = case
    np.testing.assert_allclose(spending(name, np.array(t), ALPHA, gamma), expected, rtol=0, atol=2e-8)


def test_spending_formulas():
    t = np.linspace(0, 1, 11)
    z = special.ndtri(1 - ALPHA / 2)
    with np.errstate(divide="ignore"):
        of = 2 - 2 * special.ndtr(z / np.sqrt(t))          # as written: cancels in the tail
        of_tail = 2 * special.ndtr(-z / np.sqrt(t))        # the same, without the cancellation
    np.testing.assert_allclose(spending("obrien_fleming", t, ALPHA), of, rtol=0, atol=1e-15)
    np.testing.assert_allclose(spending("obrien_fleming", t, ALPHA), of_tail, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(spending("pocock", t, ALPHA), ALPHA * np.log(1 + (math.e - 1) * t), rtol=1e-14)
    for gamma in (-4.0, -2.0, 1.0, 3.0):
        hsd = ALPHA * (1 - np.exp(-gamma * t)) / (1 - np.exp(-gamma))
        np.testing.assert_allclose(spending("hwang_shih_decani", t, ALPHA, gamma), hsd, rtol=1e-14)
    np.testing.assert_allclose(spending("hwang_shih_decani", t, ALPHA, 0.0), ALPHA * t, rtol=1e-15)
    # the gamma -> 0 limit is continuous
    assert spending("hwang_shih_decani", 0.3, ALPHA, 1e-9) == pytest.approx(ALPHA * 0.3, rel=1e-8)
    for name, gamma in (("obrien_fleming", None), ("pocock", None), ("hwang_shih_decani", -4.0)):
        assert spending(name, 0.0, ALPHA, gamma) == 0.0
        assert spending(name, 1.0, ALPHA, gamma) == pytest.approx(ALPHA, rel=1e-14)
        assert np.all(np.diff(spending(name, t, ALPHA, gamma)) > 0)
    assert isinstance(spending("pocock", 0.5, ALPHA), float)


def test_pocock_constant():
    """A constant boundary at K equally spaced looks, solved with the crossing probabilities,
    is Pocock's (rpact's typeOfDesign "P" and Jennison & Turnbull's Table 2.1)."""
    for k, rpact_value in ((2, POCOCK_K2), (5, POCOCK_K5)):
        t = np.arange(1, k + 1) / k
        c = find_root(lambda c: crossing_probabilities([c] * k, None, t, 0.0).power - ALPHA, 1.5, 3.5)
        assert c == pytest.approx(rpact_value, abs=BOUND_TOL)
        assert c == pytest.approx(JT_POCOCK[k], abs=5e-4)


def test_single_look_is_the_fixed_design():
    z = special.ndtri(1 - ALPHA)
    assert efficacy_bounds([1.0], ALPHA, "obrien_fleming")[0] == pytest.approx(z, abs=1e-11)
    design = beta_spending_design([1.0], ALPHA, 0.2, "pocock")
    assert design.drift == pytest.approx(special.ndtri(1 - ALPHA) + special.ndtri(0.8), abs=1e-10)
    assert design.futility == design.efficacy


def test_two_looks_against_direct_quadrature():
    """K = 2 needs one integral: P(Z1 < c1, Z2 < c2) = int_{-inf}^{c1} phi(u) Phi((c2 sqrt t2 -
    u sqrt t1) / sqrt(t2 - t1)) du, done here by adaptive quadrature."""
    t1, t2, drift = 0.4, 1.0, 1.7
    c = efficacy_bounds([t1, t2], ALPHA, "hwang_shih_decani", -3.0)

    def continuing_below(u):
        z1 = np.exp(-0.5 * (u - drift * math.sqrt(t1)) ** 2) / math.sqrt(2 * math.pi)
        gap = (c[1] * math.sqrt(t2) - u * math.sqrt(t1) - drift * (t2 - t1)) / math.sqrt(t2 - t1)
        return z1 * special.ndtr(gap)

    miss = integrate(continuing_below, -40.0, c[0], epsabs=1e-15, epsrel=1e-14)
    power = crossing_probabilities(c, None, [t1, t2], drift).power
    assert power == pytest.approx(1 - miss, abs=1e-13)


def test_integration_has_converged(monkeypatch):
    """Finer panels, more nodes and a wider span change nothing beyond rounding."""
    cases = [((0.2, 0.4, 0.6, 0.8, 1.0), "pocock", None),
             ((0.1, 0.12, 0.5, 0.51, 1.0), "obrien_fleming", None)]
    coarse = [efficacy_bounds(t, ALPHA, name, gamma) for t, name, gamma in cases]
    design = DESIGNS["OF+bsOF binding"]
    coarse_design = beta_spending_design(design["fractions"], ALPHA, 0.2, "obrien_fleming", binding=True)
    monkeypatch.setattr(sequential, "_PANEL", 0.5)
    monkeypatch.setattr(sequential, "_NODES", 24)
    monkeypatch.setattr(sequential, "_SPAN", 11.0)
    for (t, name, gamma), before in zip(cases, coarse):
        np.testing.assert_allclose(efficacy_bounds(t, ALPHA, name, gamma), before, rtol=0, atol=1e-11)
    fine_design = beta_spending_design(design["fractions"], ALPHA, 0.2, "obrien_fleming", binding=True)
    np.testing.assert_allclose(fine_design.futility, coarse_design.futility, rtol=0, atol=1e-10)
    assert fine_design.drift == pytest.approx(coarse_design.drift, abs=1e-10)


# ----------------------------------------------------------------------------- futility


@pytest.mark.parametrize("name", BETA_SPENDING)
def test_beta_spending_design_matches_rpact(name):
    ref = DESIGNS[name]
    (a_name, a_gamma), (b_name, b_gamma) = ref["spending"], ref["beta_spending"]
    design = beta_spending_design(ref["fractions"], ALPHA, ref["beta"], a_name, a_gamma, binding=ref["binding"],
                                  beta_spending=b_name, beta_gamma=b_gamma)
    np.testing.assert_allclose(design.efficacy, ref["critical"], rtol=0, atol=BOUND_TOL)
    np.testing.assert_allclose(design.futility[:-1], ref["futility"], rtol=0, atol=BOUND_TOL)
    assert design.futility[-1] == design.efficacy[-1]
    assert design.drift == pytest.approx(math.sqrt(ref["shift"]), abs=BOUND_TOL)
    # at the design's drift: beta spent and power, cumulative, as rpact's
    crossing = crossing_probabilities(design.efficacy, design.futility, design.fractions, design.drift)
    np.testing.assert_allclose(np.cumsum(crossing.futility), ref["beta_spent"], rtol=0, atol=PROB_TOL)
    np.testing.assert_allclose(np.cumsum(crossing.efficacy), ref["power"], rtol=0, atol=PROB_TOL)
    # the futility bounds spend beta exactly, and the efficacy bounds alpha (under H0, with the
    # futility bounds stopping the trial when binding, without them when not)
    beta_steps = np.diff(cumulative_spending(design.fractions, ref["beta"], b_name, b_gamma), prepend=0.0)
    np.testing.assert_allclose(crossing.futility, beta_steps, rtol=1e-9, atol=1e-14)
    alpha_steps = np.diff(cumulative_spending(design.fractions, ALPHA, a_name, a_gamma), prepend=0.0)
    null = crossing_probabilities(design.efficacy, design.futility if ref["binding"] else None,
                                  design.fractions, 0.0)
    np.testing.assert_allclose(null.efficacy, alpha_steps, rtol=1e-9, atol=1e-14)
    # given the design's drift and efficacy bounds, beta_spending_futility gives the same bounds,
    # and given rpact's, rpact's
    again = beta_spending_futility(design.fractions, design.efficacy, ref["beta"], design.drift, b_name, b_gamma)
    np.testing.assert_allclose(again, design.futility, rtol=0, atol=1e-10)
    theirs = beta_spending_futility(ref["fractions"], ref["critical"], ref["beta"], math.sqrt(ref["shift"]),
                                    b_name, b_gamma)
    np.testing.assert_allclose(theirs[:-1], ref["futility"], rtol=0, atol=BOUND_TOL)
    assert theirs[-1] == ref["critical"][-1]


@pytest.mark.parametrize("name", list(DESIGNS))
def test_design_characteristics_match_rpact(name):
    """rpact's own bounds in, its getDesignCharacteristics out: the drift giving power 1 - beta,
    the stage-wise rejection and futility probabilities and the expected information."""
    ref = DESIGNS[name]
    t, c, a = ref["fractions"], ref["critical"], ref["futility"]
    drift = drift_for_power(c, a, t, 1 - ref["beta"])
    assert drift == pytest.approx(math.sqrt(ref["shift"]), abs=BOUND_TOL)
    h1 = crossing_probabilities(c, a, t, math.sqrt(ref["shift"]))
    np.testing.assert_allclose(h1.efficacy, ref["rejection"], rtol=0, atol=PROB_TOL)
    np.testing.assert_allclose(h1.futility[:-1], ref["futility_probabilities"], rtol=0, atol=PROB_TOL)
    assert h1.power == pytest.approx(1 - ref["beta"], abs=PROB_TOL)
    to_fraction = ref["n_fixed"] / ref["shift"]
    assert h1.expected_fraction == pytest.approx(ref["asn1"] * to_fraction, abs=PROB_TOL)
    h0 = crossing_probabilities(c, a, t, 0.0)
    assert h0.expected_fraction == pytest.approx(ref["asn0"] * to_fraction, abs=PROB_TOL)
    if "binding" in ref and "beta_spending" not in ref:
        # user-given futility bounds: rpact's criticalValues with and without binding them
        bounds = efficacy_bounds(t, ALPHA, *ref["spending"], futility=a, binding=ref["binding"])
        np.testing.assert_allclose(bounds, c, rtol=0, atol=BOUND_TOL)
        null = crossing_probabilities(bounds, a if ref["binding"] else None, t, 0.0)
        assert null.power == pytest.approx(ALPHA, abs=1e-12)


def test_beta_spending_defaults_to_the_alpha_spending_function():
    t = (0.3, 0.7, 1.0)
    explicit = beta_spending_design(t, ALPHA, 0.2, "hwang_shih_decani", -4.0,
                                    beta_spending="hwang_shih_decani", beta_gamma=-4.0)
    implicit = beta_spending_design(t, ALPHA, 0.2, "hwang_shih_decani", -4.0)
    assert implicit == explicit
    efficacy, futility = implicit               # a design unpacks as its two bounds
    np.testing.assert_array_equal(efficacy, explicit.efficacy)
    np.testing.assert_array_equal(futility, explicit.futility)


def test_binding_lowers_later_efficacy_bounds():
    t = (0.3, 0.6, 1.0)
    free = efficacy_bounds(t, ALPHA, "obrien_fleming", futility=[0.0, 0.8])
    bound = efficacy_bounds(t, ALPHA, "obrien_fleming", futility=[0.0, 0.8], binding=True)
    assert free[0] == bound[0] and np.all(bound[1:] < free[1:])
    np.testing.assert_array_equal(free, efficacy_bounds(t, ALPHA, "obrien_fleming"))
    # non-binding bounds keep the type I error below alpha when the trial does stop for futility
    assert crossing_probabilities(free, [0.0, 0.8], t, 0.0).power < ALPHA


# ----------------------------------------------------------------------------- stopping short


def test_final_is_last_spends_everything_at_the_last_look():
    planned = efficacy_bounds((0.3, 0.6, 1.0), ALPHA, "pocock")
    so_far = efficacy_bounds((0.3, 0.6), ALPHA, "pocock", final_is_last=False)
    stopped = efficacy_bounds((0.3, 0.6), ALPHA, "pocock")
    # the looks so far of a trial that goes on have the planned bounds: spending depends on t only
    np.testing.assert_allclose(so_far, planned[:2], rtol=0, atol=1e-11)
    assert stopped[0] == so_far[0] and stopped[1] < so_far[1]
    spent_so_far = crossing_probabilities(so_far, None, (0.3, 0.6), 0.0).power
    assert spent_so_far == pytest.approx(spending("pocock", 0.6, ALPHA), abs=1e-12)
    assert crossing_probabilities(stopped, None, (0.3, 0.6), 0.0).power == pytest.approx(ALPHA, abs=1e-12)
    # with t_K = 1 the flag changes nothing
    np.testing.assert_array_equal(efficacy_bounds((0.3, 0.6, 1.0), ALPHA, "pocock", final_is_last=False), planned)
    np.testing.assert_array_equal(cumulative_spending((0.3, 0.6), ALPHA, "pocock")[-1], ALPHA)


def test_futility_at_the_looks_so_far():
    t = (1 / 3, 2 / 3, 1.0)
    c = efficacy_bounds(t, ALPHA, "obrien_fleming")
    full = beta_spending_futility(t, c, 0.2, 2.9, "obrien_fleming")
    so_far = beta_spending_futility(t[:2], c[:2], 0.2, 2.9, "obrien_fleming", final_is_last=False)
    np.testing.assert_allclose(so_far, full[:2], rtol=0, atol=1e-11)
    assert full[-1] == c[-1]


# ----------------------------------------------------------------------------- Monte Carlo


def first_crossings(rng, t, efficacy, futility, drift, paths):
    """Simulated Brownian paths: per look the share first crossing each bound."""
    steps = np.diff(np.concatenate([[0.0], t]))
    b = np.cumsum(rng.normal(drift * steps, np.sqrt(steps), size=(paths, t.size)), axis=1)
    z = b / np.sqrt(t)
    running = np.ones(paths, dtype=bool)
    up, down = [], []
    for k in range(t.size):
        hit_up = running & (z[:, k] >= efficacy[k])
        hit_down = running & ~hit_up & (z[:, k] < futility[k])
        up.append(hit_up.mean())
        down.append(hit_down.mean())
        running &= ~(hit_up | hit_down)
    return np.array(up), np.array(down)


@pytest.mark.parametrize("drift_kind", ["null", "design"])
def test_monte_carlo_first_crossings(drift_kind):
    design = beta_spending_design((0.25, 0.5, 0.8, 1.0), ALPHA, 0.1, "hwang_shih_decani", -2.0, beta_spending="pocock")
    drift = 0.0 if drift_kind == "null" else design.drift
    t = np.array(design.fractions)
    paths = 400_000
    up, down = first_crossings(np.random.default_rng(20250101), t, design.efficacy, design.futility, drift, paths)
    crossing = crossing_probabilities(design.efficacy, design.futility, design.fractions, drift)
    for simulated, computed in ((up, crossing.efficacy), (down, crossing.futility)):
        computed = np.array(computed)
        se = np.sqrt(computed * (1 - computed) / paths)
        assert np.all(np.abs(simulated - computed) <= 4.5 * se + 1e-12), (simulated, computed, se)


# ----------------------------------------------------------------------------- conditional power


def test_conditional_power():
    c, t = 1.969, 0.5
    z = np.array([-1.0, 0.0, 1.0, 2.5])
    drift = np.array([[0.0], [2.8]])
    cp = conditional_power(z, t, c, drift)
    assert cp.shape == (2, 4)
    expected = 1 - special.ndtr((c - z * math.sqrt(t) - drift * (1 - t)) / math.sqrt(1 - t))
    np.testing.assert_allclose(cp, expected, rtol=1e-12, atol=1e-16)
    assert np.all(np.diff(cp, axis=1) > 0) and np.all(cp[1] > cp[0])
    assert isinstance(conditional_power(1.0, 0.5, c, 2.0), float)
    # at t = 0 it is a single look's power
    assert conditional_power(0.0, 0.0, c, 2.8) == pytest.approx(special.ndtr(2.8 - c), rel=1e-14)
    # averaged over Z_t it is the power of the final look alone (no stop at t)
    mean = 2.8 * math.sqrt(t)
    average = integrate(lambda u: np.exp(-0.5 * (u - mean) ** 2) / math.sqrt(2 * math.pi)
                        * conditional_power(u, t, c, 2.8), mean - 12, mean + 12)
    no_stop = crossing_probabilities([math.inf, c], None, [t, 1.0], 2.8)
    assert no_stop.efficacy[0] == 0.0
    assert average == pytest.approx(no_stop.power, abs=1e-12)
    assert no_stop.power == pytest.approx(special.ndtr(2.8 - c), abs=1e-12)


# ----------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("fractions, message", [
    ((0.5, 0.5, 1.0), "strictly increasing"),
    ((0.7, 0.4, 1.0), "strictly increasing"),
    ((0.0, 0.5, 1.0), r"lie in \(0, 1\]"),
    ((0.5, 1.2), r"lie in \(0, 1\]"),
    ((-0.1, 1.0), r"lie in \(0, 1\]"),
    ((0.5, float("nan")), r"lie in \(0, 1\]"),
    ((), "non-empty"),
])
def test_invalid_fractions(fractions, message):
    with pytest.raises(ValueError, match=message):
        efficacy_bounds(fractions, ALPHA, "pocock")
    with pytest.raises(ValueError, match=message):
        crossing_probabilities([2.0] * max(len(fractions), 1), None, fractions, 0.0)


@pytest.mark.parametrize("alpha", [0.0, 0.5, -0.1, 0.7, float("nan")])
def test_invalid_alpha(alpha):
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 0.5\)"):
        efficacy_bounds((0.5, 1.0), alpha, "obrien_fleming")
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 0.5\)"):
        beta_spending_design((0.5, 1.0), alpha, 0.2, "obrien_fleming")


def test_invalid_spending_and_other_inputs():
    with pytest.raises(ValueError, match="unknown spending function 'kim_demets'; choose one of obrien_fleming"):
        efficacy_bounds((0.5, 1.0), ALPHA, "kim_demets")
    with pytest.raises(ValueError, match="unknown spending function"):
        spending("asOF", 0.5, ALPHA)
    with pytest.raises(ValueError, match="needs a finite gamma"):
        efficacy_bounds((0.5, 1.0), ALPHA, "hwang_shih_decani")
    with pytest.raises(ValueError, match="gamma applies to 'hwang_shih_decani' only"):
        efficacy_bounds((0.5, 1.0), ALPHA, "pocock", gamma=-4)
    with pytest.raises(ValueError, match=r"gamma must lie in \[-40, 40\]"):
        efficacy_bounds((0.5, 1.0), ALPHA, "hwang_shih_decani", gamma=1000.0)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        spending("pocock", 1.5, ALPHA)
    with pytest.raises(ValueError, match="beta must lie"):
        beta_spending_design((0.5, 1.0), ALPHA, 0.99, "pocock")
    with pytest.raises(ValueError, match="one bound per look"):
        crossing_probabilities([2.0, 2.0], None, (0.3, 0.6, 1.0), 0.0)
    with pytest.raises(ValueError, match="futility needs a bound"):
        crossing_probabilities([3.0, 2.5, 2.0], [0.0], (0.3, 0.6, 1.0), 0.0)
    with pytest.raises(ValueError, match="must equal its efficacy bound"):
        crossing_probabilities([3.0, 2.5, 2.0], [0.0, 0.5, 1.0], (0.3, 0.6, 1.0), 0.0)
    with pytest.raises(ValueError, match="exceed efficacy bounds"):
        crossing_probabilities([3.0, 2.5, 2.0], [0.0, 2.6], (0.3, 0.6, 1.0), 0.0)
    with pytest.raises(ValueError, match="not below the efficacy bound"):
        efficacy_bounds((0.3, 0.6, 1.0), ALPHA, "pocock", futility=[0.0, 3.0], binding=True)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\)"):
        conditional_power(1.0, 1.0, 1.96, 2.0)
    with pytest.raises(ValueError, match="power must lie between"):
        drift_for_power([2.0, 2.0], None, (0.5, 1.0), 0.01)


def test_imports_fast():
    """Only numpy and scipy.special: the slow scipy subpackages stay unloaded."""
    code = ("import sys, simulate.analysis.sequential; "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('scipy.')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded = set(eval(out.stdout))
    assert not loaded & {"stats", "optimize", "integrate", "interpolate", "linalg", "sparse"}, loaded


# ------------------------------------------------------------------ gsDesign's published values
# gsDesign is not installable here (no Debian package, CRAN unreachable); these are values its own
# test suite publishes (github.com/keaven/gsDesign, tests/testthat/).


def test_hwang_shih_decani_bounds_match_gsdesign_default_design():
    """gsDesign(nFixSurv = 0, k = 5, test.type = 1, n.fix = 1): the default one-sided design,
    sfHSD with gamma = -4, alpha = 0.025, equal spacing; gsBoundSummary prints Z to 4 decimals
    (tests/testthat/_snaps/independent-test-gsBoundSummary.md)."""
    (case,) = GSDESIGN_HSD_BOUNDS["cases"]
    published = case["reference"]["Z"]
    ours = sequential.efficacy_bounds([0.2, 0.4, 0.6, 0.8, 1.0], 0.025, "hwang_shih_decani", -4.0)
    np.testing.assert_allclose(ours, published, atol=0.5e-4 + 1e-9)


@pytest.mark.parametrize("k, published", [(c["inputs"]["looks"], c["reference"]["crossing"])
                                          for c in GSDESIGN_REPEATED_TESTING["cases"]])
def test_repeated_testing_inflation_matches_gsdesign(k, published):
    """gsProbability(k, theta = 0, n.I = 1:k, a = qnorm(.025), b = qnorm(.975)): the chance of
    crossing 1.96 at some look when testing k times at the unadjusted level, rounded to 3
    decimals in gsDesign's tests (test-outputs.R, "test.Deming.gsProb")."""
    fractions = [i / k for i in range(1, k + 1)]
    z = 1.959963984540054
    probs = sequential.crossing_probabilities([z] * k, [-z] * (k - 1), fractions, 0.0)  # the last lower bound stops nothing more
    assert round(float(np.sum(probs.efficacy)), 3) == published
