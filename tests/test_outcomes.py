"""The outcome model (simulate/population/outcomes.py): calibration of remission at the endpoint, time to
remission, type of remission, relapse and dropout, validated against the scenario's own figures.

Everything here is vectorised: a large synthetic cohort is drawn and screened once
(``draw_cohort`` + ``screen``, a seed different from the calibration's reference sample), and
fresh uniforms / unit exponentials from fixed-seed Generators go through ``potential_outcomes``.
No trial engine is involved.

Tolerances are stated in Monte Carlo standard errors (3 SE unless said otherwise). Where the
covariate model is on, the arm's intercept is calibrated on a fixed reference sample of finite
size, so the population mean of p_i differs from the target by that sample's sampling error
too; its variance is added to the binomial one (:func:`calibration_se`).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from simulate.population import outcomes as om
from simulate.population.cohort import Patients, draw_cohort
from simulate.screening.screen import screen
from simulate.errors import ScenarioError
from simulate.population.outcomes import ArmModel, PotentialOutcomes, calibrate, covariate_score, potential_outcomes
from simulate.design.loader import load_scenario, scenario_from_dict
from simulate.design.scenario import Scenario

ARMS = ("rtx", "rtx_csa")
"""The registered scenario's arms, control first."""

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "nct04743739.toml"
N_REFERRALS = 400_000
"""Referred patients drawn for the test cohort (~116,000 pass the screen)."""
COHORT_SEED = 20240917
"""Not the calibration's reference seed: the calibration must hold in a fresh sample."""
K = 3.0
"""Tolerance in Monte Carlo standard errors."""


def scenario_with(*overrides: str) -> Scenario:
    """The registered scenario with ``path=value`` overrides, without its sensitivity sweep (a
    sweep value that contradicts an override would be rejected, rightly, but is beside the point)."""
    data = tomllib.loads(SCENARIO.read_text(encoding="utf-8"))
    data.pop("sweep", None)
    return scenario_from_dict(data, list(overrides))


@dataclass(frozen=True)
class EligibleCohort:
    patients: Patients
    n: int


@pytest.fixture(scope="module")
def cohort() -> EligibleCohort:
    """The eligible part of a large referred cohort (cohort and eligibility are never overridden
    in this file, so one cohort serves every scenario variant)."""
    sc = scenario_with()
    patients = draw_cohort(sc.cohort, N_REFERRALS, COHORT_SEED)
    eligible = np.isfinite(screen(patients, sc.eligibility).qualifies_in_months)
    return EligibleCohort(patients=patients.take(np.flatnonzero(eligible)), n=int(eligible.sum()))


def draw_outcomes(sc: Scenario, cohort: EligibleCohort, seed: int) -> dict[str, PotentialOutcomes]:
    """Potential outcomes of every eligible patient under each arm, from fresh random numbers."""
    models = calibrate(sc)
    score = covariate_score(sc, cohort.patients.pla2r_titre_ru_ml, cohort.patients.proteinuria_mean_g_day)
    rng = np.random.Generator(np.random.PCG64(seed))
    out = {}
    for name in ARMS:
        u = rng.random((3, cohort.n))
        e = rng.standard_exponential((2, cohort.n))
        out[name] = potential_outcomes(models[name], score, u[0], u[1], e[0], u[2], e[1])
    return out


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n)


def calibration_se(sc: Scenario, name: str, n: int) -> float:
    """SE of an arm's remission rate estimated on n fresh eligible patients.

    Binomial variance r(1-r)/n, plus (covariate effects on) the variance of the calibrated
    population mean: the intercept is fitted on a reference sample of n_ref eligible patients,
    so the population mean of q_a * p_i differs from r_a by about sd(q_a * p_i) / sqrt(n_ref).
    """
    r = sc.arm(name).remission_at_endpoint
    arm = calibrate(sc)[name]
    var = r * (1 - r) / n
    if arm.intercept is not None:
        scores = om._reference_scores(sc)
        q = r / arm.responder_probability
        var += float(np.var(q * special.expit(arm.intercept + scores))) / scores.size
    return math.sqrt(var)


# ------------------------------------------------------------------ calibration at the endpoint

CALIBRATION_CASES = {
    "registered": (),
    "no-covariates": ("outcome.covariate_effects=false",),
    "no-relapse": ("outcome.relapse=false",),
    "neither": ("outcome.covariate_effects=false", "outcome.relapse=false"),
    "rates-0.3-0.7": ("arms.rtx.remission_at_endpoint=0.3", "arms.rtx_csa.remission_at_endpoint=0.7"),
    "rates-0.3-0.7-no-covariates": ("arms.rtx.remission_at_endpoint=0.3", "arms.rtx_csa.remission_at_endpoint=0.7",
                                    "outcome.covariate_effects=false"),
    "rates-0.7-0.3-no-relapse": ("arms.rtx.remission_at_endpoint=0.7", "arms.rtx_csa.remission_at_endpoint=0.3",
                                 "outcome.relapse=false"),
    "strong-relapse": ("arms.rtx.relapse_hazard_per_month=0.006", "arms.rtx_csa.relapse_hazard_per_month=0.006",
                       "arms.rtx_csa.relapse_hazard_off_cni_per_month=0.0072",
                       "arms.rtx_csa.remission_at_endpoint=0.8"),
}


@pytest.mark.parametrize("case", CALIBRATION_CASES, ids=list(CALIBRATION_CASES))
def test_remission_at_endpoint_matches_scenario_within_3_se(cohort: EligibleCohort, case: str) -> None:
    sc = scenario_with(*CALIBRATION_CASES[case])
    po = draw_outcomes(sc, cohort, seed=1000 + list(CALIBRATION_CASES).index(case))
    for name in ARMS:
        r = sc.arm(name).remission_at_endpoint
        p_hat = float(po[name].remission_at_endpoint.mean())
        se = calibration_se(sc, name, cohort.n)
        assert abs(p_hat - r) <= K * se, f"{case} {name}: {p_hat:.4f} vs {r} (3 SE = {K * se:.4f})"


def test_calibration_is_exact_on_the_reference_sample() -> None:
    """The intercept makes mean p_i over the reference sample equal pi_a, and pi_a * q_a = r_a."""
    sc = scenario_with()
    scores = om._reference_scores(sc)
    for name in ARMS:
        arm = calibrate(sc)[name]
        assert arm.intercept is not None
        assert special.expit(arm.intercept + scores).mean() == pytest.approx(arm.responder_probability, abs=1e-9)
        _, q = om._base_model(sc, name)
        assert arm.responder_probability * q == pytest.approx(sc.arm(name).remission_at_endpoint, abs=1e-9)
        assert arm.no_relapse_probability == q  # kept on the model, for the report's time-to-remission plot


def test_without_relapse_every_responder_is_in_remission_at_the_endpoint(cohort: EligibleCohort) -> None:
    sc = scenario_with("outcome.relapse=false")
    po = draw_outcomes(sc, cohort, seed=7)
    for name in ARMS:
        assert np.all(np.isinf(po[name].relapse_month))
        np.testing.assert_array_equal(po[name].remission_at_endpoint, po[name].responder)
        assert calibrate(sc)[name].responder_probability == pytest.approx(sc.arm(name).remission_at_endpoint)


# ------------------------------------------------------------------ covariate effects


def _titre_quartile_rates(sc: Scenario, cohort: EligibleCohort, name: str, seed: int) -> tuple[float, float, int, int]:
    po = draw_outcomes(sc, cohort, seed)[name]
    titre = cohort.patients.pla2r_titre_ru_ml
    lo, hi = np.quantile(titre, [0.25, 0.75])
    bottom, top = titre <= lo, titre >= hi
    return (float(po.remission_at_endpoint[bottom].mean()), float(po.remission_at_endpoint[top].mean()),
            int(bottom.sum()), int(top.sum()))


def test_covariates_move_individual_probabilities_higher_titre_remits_less(cohort: EligibleCohort) -> None:
    sc = scenario_with()
    models = calibrate(sc)
    score = covariate_score(sc, cohort.patients.pla2r_titre_ru_ml, cohort.patients.proteinuria_mean_g_day)
    for name in ARMS:
        p = special.expit(models[name].intercept + score)
        assert p.std() > 0.01, f"{name}: individual probabilities do not vary (sd {p.std():.4f})"
    # the titre effect is negative in the scenario: top-quartile titres remit less than bottom
    assert sc.outcome.log_odds_per_doubling_pla2r_titre < 0
    for name in ARMS:
        bottom, top, n_b, n_t = _titre_quartile_rates(sc, cohort, name, seed=11)
        se = math.sqrt(bottom * (1 - bottom) / n_b + top * (1 - top) / n_t)
        assert bottom - top > K * se, f"{name}: bottom {bottom:.3f} vs top {top:.3f} (3 SE {K * se:.3f})"


def test_without_covariate_effects_titre_quartiles_remit_alike(cohort: EligibleCohort) -> None:
    sc = scenario_with("outcome.covariate_effects=false")
    for name in ARMS:
        assert calibrate(sc)[name].intercept is None
        bottom, top, n_b, n_t = _titre_quartile_rates(sc, cohort, name, seed=12)
        r = sc.arm(name).remission_at_endpoint
        se = math.sqrt(r * (1 - r) * (1 / n_b + 1 / n_t))
        assert abs(bottom - top) <= K * se, f"{name}: bottom {bottom:.3f} vs top {top:.3f}"


# ------------------------------------------------------------------ time and type of remission


@pytest.mark.parametrize("overrides", [(), ("outcome.weibull_shape_time_to_remission=0.8",)],
                         ids=["shape-1.5", "shape-0.8"])
def test_median_time_to_remission_among_responders(cohort: EligibleCohort, overrides: tuple[str, ...]) -> None:
    """The fraction of responders remitting by the arm's median is 1/2 within 3 binomial SE."""
    sc = scenario_with(*overrides)
    po = draw_outcomes(sc, cohort, seed=2100)
    medians = {}
    for name in ARMS:
        t = po[name].remission_month[po[name].responder]
        m = sc.arm(name).median_months_to_remission
        assert np.all((t >= 0) & (t <= sc.trial.endpoint_month)), "responders remit by the endpoint"
        frac = float((t <= m).mean())
        assert abs(frac - 0.5) <= K * binomial_se(0.5, t.size), f"{name}: P(T <= {m}) = {frac:.4f}"
        assert np.all(np.isinf(po[name].remission_month[~po[name].responder]))
        medians[name] = float(np.median(t))
    assert medians["rtx_csa"] < medians["rtx"]


def test_rtx_csa_remits_faster_than_rtx(cohort: EligibleCohort) -> None:
    """Stochastic order: at every month, a larger share of RTX+CsA responders has remitted."""
    sc = scenario_with()
    po = draw_outcomes(sc, cohort, seed=22)
    t0 = po["rtx"].remission_month[po["rtx"].responder]
    t1 = po["rtx_csa"].remission_month[po["rtx_csa"].responder]
    for month in (1, 3, 6, 12):
        f0, f1 = (t0 <= month).mean(), (t1 <= month).mean()
        se = math.sqrt(f0 * (1 - f0) / t0.size + f1 * (1 - f1) / t1.size)
        assert f1 - f0 > K * se, f"month {month}: rtx_csa {f1:.3f} vs rtx {f0:.3f}"


@pytest.mark.parametrize("overrides", [
    (),
    ("arms.rtx.complete_share_of_remission=0.2", "arms.rtx_csa.complete_share_of_remission=0.9"),
], ids=["registered", "0.2-0.9"])
def test_complete_share_of_remissions_at_endpoint(cohort: EligibleCohort, overrides: tuple[str, ...]) -> None:
    sc = scenario_with(*overrides)
    po = draw_outcomes(sc, cohort, seed=31)
    for name in ARMS:
        at_end = po[name].remission_at_endpoint
        share = float(po[name].complete[at_end].mean())
        c = sc.arm(name).complete_share_of_remission
        assert abs(share - c) <= K * binomial_se(c, int(at_end.sum())), f"{name}: CR share {share:.4f} vs {c}"


# ------------------------------------------------------------------ relapse


def test_some_responders_relapse_before_the_endpoint_at_the_calibrated_rate(cohort: EligibleCohort) -> None:
    """P(relapse before the endpoint | responder) = 1 - q_a = 1 - r_a / pi_a, within 3 SE."""
    sc = scenario_with()
    po = draw_outcomes(sc, cohort, seed=41)
    end = sc.trial.endpoint_month
    for name in ARMS:
        resp = po[name].responder
        relapsed = po[name].relapse_month[resp] <= end
        assert relapsed.sum() > 0
        assert np.all(po[name].relapse_month[resp] > po[name].remission_month[resp])
        expected = 1 - sc.arm(name).remission_at_endpoint / calibrate(sc)[name].responder_probability
        got = float(relapsed.mean())
        assert abs(got - expected) <= K * binomial_se(expected, int(resp.sum())), f"{name}: {got:.4f} vs {expected:.4f}"
        # a relapsed patient is out of remission at the endpoint
        assert not np.any(po[name].remission_at_endpoint[resp][relapsed])


def _empirical_hazard(start: np.ndarray, event: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Events per month in [lo, hi) for subjects at risk from ``start`` until ``event``, and its SE."""
    enter = np.maximum(start, lo)
    leave = np.minimum(event, hi)
    exposure = np.clip(leave - enter, 0.0, None).sum()
    n_events = int(((event >= lo) & (event < hi) & (event >= start)).sum())
    return n_events / exposure, math.sqrt(n_events) / exposure


def test_relapse_hazard_rises_after_the_csa_course() -> None:
    """Empirical relapse hazards before and after the end of CsA match the arm's two hazards
    (Poisson SE); in the RTX arm (no CsA) the hazard is the same in both windows."""
    sc = scenario_with()
    models = calibrate(sc)
    h = sc.arm("rtx_csa").relapse_hazard_per_month
    h_off = sc.arm("rtx_csa").relapse_hazard_off_cni_per_month
    c = sc.arm("rtx_csa").rebound_month
    assert c == 9.0                                    # CsA 6 months, then a 3-month taper
    rng = np.random.Generator(np.random.PCG64(42))
    n = 2_000_000
    for name, after_expected in (("rtx_csa", h_off), ("rtx", sc.arm("rtx").relapse_hazard_per_month)):
        arm = models[name]
        t_rem = arm.time_to_remission(rng.random(n))
        t_rel = arm.relapse_time(t_rem, rng.standard_exponential(n))
        before, se_b = _empirical_hazard(t_rem, t_rel, 0.0, c)
        after, se_a = _empirical_hazard(t_rem, t_rel, c, 48.0)
        assert abs(before - h) <= K * se_b, f"{name}: hazard before month {c} {before:.5f} vs {h}"
        assert abs(after - after_expected) <= K * se_a, f"{name}: hazard after {after:.5f} vs {after_expected}"
    assert models["rtx_csa"].relapse_hazard_off_cni > models["rtx_csa"].relapse_hazard


def test_cumulative_relapse_hazard_slopes() -> None:
    sc = scenario_with()
    models = calibrate(sc)
    h = sc.arm("rtx").relapse_hazard_per_month
    h_off = sc.arm("rtx_csa").relapse_hazard_off_cni_per_month
    c = sc.arm("rtx_csa").rebound_month

    def slope(arm: ArmModel, a: float, b: float) -> float:
        h_a, h_b = arm.cumulative_relapse_hazard(np.array(a)), arm.cumulative_relapse_hazard(np.array(b))
        return float((h_b - h_a) / (b - a))

    assert slope(models["rtx_csa"], 0.0, c) == pytest.approx(h)
    assert slope(models["rtx_csa"], c, 24.0) == pytest.approx(h_off)
    assert slope(models["rtx"], 0.0, c) == pytest.approx(h)
    assert slope(models["rtx"], c, 24.0) == pytest.approx(h)
    # relapse_time inverts the cumulative hazard
    t = np.array([0.5, 3.0, 8.0, 12.0])
    e = np.array([0.01, 0.02, 0.1, 0.3])
    for arm in models.values():
        rel = arm.relapse_time(t, e)
        np.testing.assert_allclose(arm.cumulative_relapse_hazard(rel) - arm.cumulative_relapse_hazard(t), e, rtol=1e-10)


# ------------------------------------------------------------------ dropout


@pytest.mark.parametrize("mechanism", ["mcar", "informative"])
@pytest.mark.parametrize("d", [0.1, 0.3])
def test_dropout_probability_by_endpoint_per_arm(cohort: EligibleCohort, mechanism: str, d: float) -> None:
    sc = scenario_with(f"dropout.probability_by_endpoint={d}", f'dropout.mechanism="{mechanism}"')
    po = draw_outcomes(sc, cohort, seed=51)
    for name in ARMS:
        got = float((po[name].dropout_month < sc.trial.endpoint_month).mean())
        assert abs(got - d) <= K * binomial_se(d, cohort.n), f"{mechanism} {name}: {got:.4f} vs {d}"


def _dropout_hazard_ratio(po: PotentialOutcomes, end: float) -> tuple[float, float]:
    """Log hazard ratio (not in remission at the endpoint vs in remission) of dropout, with SE."""
    t = po.dropout_month
    exposure = np.minimum(t, end)
    event = t < end
    groups = []
    for mask in (~po.remission_at_endpoint, po.remission_at_endpoint):
        n_events = int(event[mask].sum())
        groups.append((n_events, float(exposure[mask].sum())))
    (e1, x1), (e0, x0) = groups
    return math.log((e1 / x1) / (e0 / x0)), math.sqrt(1 / e1 + 1 / e0)


def test_informative_dropout_hits_nonresponders_by_the_hazard_ratio(cohort: EligibleCohort) -> None:
    hr = 3.0
    sc = scenario_with("dropout.probability_by_endpoint=0.2", 'dropout.mechanism="informative"',
                       f"dropout.informative_hazard_ratio={hr}")
    po = draw_outcomes(sc, cohort, seed=61)
    for name in ARMS:
        log_hr, se = _dropout_hazard_ratio(po[name], sc.trial.endpoint_month)
        assert log_hr > 0
        assert abs(log_hr - math.log(hr)) <= K * se, f"{name}: HR {math.exp(log_hr):.3f} vs {hr}"


def test_mcar_dropout_does_not_depend_on_response(cohort: EligibleCohort) -> None:
    sc = scenario_with("dropout.probability_by_endpoint=0.2", 'dropout.mechanism="mcar"')
    po = draw_outcomes(sc, cohort, seed=62)
    for name in ARMS:
        log_hr, se = _dropout_hazard_ratio(po[name], sc.trial.endpoint_month)
        assert abs(log_hr) <= K * se, f"{name}: HR {math.exp(log_hr):.3f} vs 1"


def test_no_dropout_when_probability_is_zero(cohort: EligibleCohort) -> None:
    sc = scenario_with("dropout.probability_by_endpoint=0")
    po = draw_outcomes(sc, cohort, seed=63)
    for name in ARMS:
        assert np.all(np.isinf(po[name].dropout_month))


# ------------------------------------------------------------------ status over time


def test_status_at_endpoint_agrees_with_remission_at_endpoint(cohort: EligibleCohort) -> None:
    sc = scenario_with()
    po = draw_outcomes(sc, cohort, seed=71)
    for name in ARMS:
        status = om.status_at(po[name], sc.trial.endpoint_month)
        np.testing.assert_array_equal(status > 0, po[name].remission_at_endpoint)
        np.testing.assert_array_equal(status[status > 0] == 2, po[name].complete[status > 0])
        before = po[name].remission_month > 1.0
        assert np.all(om.status_at(po[name], 1.0)[before] == 0), "in remission before remitting"


# ------------------------------------------------------------------ unreachable remission rates


@pytest.mark.parametrize("overrides, arm", [
    (("arms.rtx_csa.remission_at_endpoint=0.99",), "rtx_csa"),
    (("arms.rtx.relapse_hazard_per_month=0.01", "arms.rtx_csa.relapse_hazard_per_month=0.01", "arms.rtx_csa.relapse_hazard_off_cni_per_month=0.015",), "rtx_csa"),
    (("arms.rtx.relapse_hazard_per_month=0.05", "arms.rtx_csa.relapse_hazard_per_month=0.05", "arms.rtx_csa.relapse_hazard_off_cni_per_month=0.075", "arms.rtx_csa.remission_at_endpoint=0.2"), "rtx"),
], ids=["rate-0.99", "hazard-0.01", "hazard-0.05-rtx"])
def test_unreachable_remission_rate_is_rejected_at_load(overrides: tuple[str, ...], arm: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(SCENARIO, list(overrides))
    problems = info.value.problems
    path = f"arms.{arm}.remission_at_endpoint"
    assert any(p.startswith(path) for p in problems), problems
    other = next(a for a in ARMS if a != arm)
    assert not any(p.startswith(f"arms.{other}.remission_at_endpoint") for p in problems), problems
    line = next(p for p in problems if p.startswith(path))
    assert "at most" in line and "got" in line


HAZARD_001 = ("arms.rtx.relapse_hazard_per_month=0.01", "arms.rtx_csa.relapse_hazard_per_month=0.01",
              "arms.rtx_csa.relapse_hazard_off_cni_per_month=0.015")


def test_reachable_limit_is_accepted() -> None:
    """Just below the ceiling q_a the scenario loads (so the check is not over-eager)."""
    sc = scenario_with(*HAZARD_001, "arms.rtx_csa.remission_at_endpoint=0.5")
    _, q = om._base_model(sc, "rtx_csa")
    ok = scenario_with(*HAZARD_001, f"arms.rtx_csa.remission_at_endpoint={q - 1e-6:.8f}")
    assert calibrate(ok)["rtx_csa"].responder_probability == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ScenarioError):
        scenario_with(*HAZARD_001, f"arms.rtx_csa.remission_at_endpoint={q + 1e-4:.8f}")


@pytest.mark.parametrize("shape", [0.25, 0.8, 1.5, 10.0, 20.0, 50.0])
@pytest.mark.parametrize("share", [1e-6, 0.01, 0.3, 0.99])
def test_the_truncated_weibull_has_its_median_at_any_shape(shape: float, share: float) -> None:
    # the median as a share of its largest possible value, end x 2^(-1/shape): powers of
    # end / scale overflow at large shapes, so the scale is solved in log space
    end = 24.0
    median = share * end * 2.0 ** (-1.0 / shape)
    scale, cdf_end = om._truncated_weibull(median, shape, end)
    cdf = lambda t: -math.expm1(-math.exp(shape * (math.log(t) - math.log(scale))))  # noqa: E731
    assert 0.0 < cdf_end <= 1.0 and cdf_end == pytest.approx(cdf(end), rel=1e-12)
    assert cdf(median) / cdf_end == pytest.approx(0.5, rel=1e-9)


def test_an_arm_whose_remissions_never_last_calibrates_without_dividing_by_zero(monkeypatch) -> None:
    # q = 0 (no remission lasts to the endpoint) with a target of 0: no responder, not 0 / 0
    s = load_scenario(SCENARIO, ["arms.rtx.remission_at_endpoint=0", "arms.rtx_csa.remission_at_endpoint=0",
                                 "outcome.weibull_shape_time_to_remission=10", "sweep={}"])
    monkeypatch.setattr(om, "_no_relapse_probability", lambda arm: 0.0)
    models = om._calibrate(s)
    assert models["rtx"].responder_probability == 0.0 and models["rtx"].no_relapse_probability == 0.0


def test_a_calibration_is_shared_by_designs_that_differ_only_where_it_does_not_look() -> None:
    """Cached per the parts of the scenario it reads: another size or test shares it; another
    remission rate gets its own. The arms' models and the reference sample cannot be changed
    in place (the cache hands the same objects to every caller)."""
    base = scenario_with()
    assert calibrate(scenario_with("trial.n_per_arm=40", 'analysis.test="chi2"')) is calibrate(base)
    other = calibrate(scenario_with("arms.rtx_csa.remission_at_endpoint=0.7"))
    assert other is not calibrate(base)
    assert other["rtx_csa"].responder_probability != calibrate(base)["rtx_csa"].responder_probability
    with pytest.raises(TypeError):
        calibrate(base)["rtx"] = other["rtx"]                     # type: ignore[index]
    titre, proteinuria = om._reference_covariates(base.cohort, base.eligibility)
    with pytest.raises(ValueError):
        titre[0] = 1.0
    with pytest.raises(ValueError):
        proteinuria[0] = 1.0
