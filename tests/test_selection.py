"""The screen as probabilities (simulate/screening/probabilities.py) and the fates built on it.

The fates never screen a referral: they thin the referral process by the exact probability of
passing every permanent rule and draw the candidates' covariates given a pass. Each test here
compares that construction with the plain one (draw the cohort, screen it) on a large fixed
cohort, with tolerances in Monte Carlo standard errors (K = 4: with fixed seeds a test either
always passes or always fails, and 4 SE keeps a correct model's false alarm rate per check
below 1 in 15,000).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, special

from simulate.population.cohort import draw_cohort
from simulate.design.parameters import beta_params, lognormal_params
from simulate.screening.criteria import GROUPS, RULE_NAMES, RULES, TIME_RULES
from simulate.screening.screen import screen
from simulate.fates.referrals import candidate_clocks
from simulate.fates.draw import candidates_of, draw_fates, proteinuria_mean
from simulate.engines.story import trial_exclusions, trial_patients
from simulate.design.loader import load_scenario
from simulate.seeding import block_sequence
from simulate.population.covariates import acei_arb_reduction, collection_sigma
from simulate.screening.probabilities import beta_cdf, pass_probabilities

K = 4.0
REGISTERED = Path(__file__).resolve().parents[1] / "scenarios" / "nct04743739.toml"
N_COHORT = 400_000

VARIANTS = {
    "registered": [],
    "noisy-collections": ["cohort.collection_cv=0.6", "cohort.acei_arb_intolerant_fraction=0.4"],
    "exact-collections": ["cohort.collection_cv=0.0", "eligibility.proteinuria_max_reduction_fraction=0.3"],
    "loose-thresholds": ["eligibility.proteinuria_min_g_day=0.0", "eligibility.egfr_min_ml_min=3.0",
                         "eligibility.proteinuria_max_reduction_fraction=1.0", "eligibility.age_max_years=95"],
    "strict-thresholds": ["eligibility.proteinuria_min_g_day=7.0", "eligibility.egfr_min_ml_min=70.0",
                          "eligibility.relapse_off_cni_min_months=12", "cohort.prior_relapse_fraction=0.5"],
}


def scenario(name: str):
    return load_scenario(REGISTERED, VARIANTS[name])


def cohort_screen(sc, n: int = N_COHORT, seed: int = 99):
    patients = draw_cohort(sc.cohort, n, seed)
    return patients, screen(patients, sc.eligibility)


def within(observed: float, expected: float, n: int, what: str) -> None:
    se = math.sqrt(max(expected * (1 - expected), 1e-12) / n)
    assert abs(observed - expected) <= K * se, f"{what}: {observed:.5f} vs exact {expected:.5f} ({K:g} SE = {K * se:.5f})"


def test_every_permanent_rule_belongs_to_exactly_one_group() -> None:
    grouped = [r for rules in GROUPS.values() for r in rules]
    permanent = [r.name for r in RULES if not r.time_dependent]
    assert sorted(grouped) == sorted(permanent) and len(set(grouped)) == len(grouped)
    assert sorted(TIME_RULES) == sorted(r.name for r in RULES if r.time_dependent)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pass_probabilities_match_a_screened_cohort(variant: str) -> None:
    sc = scenario(variant)
    probs = pass_probabilities(sc.cohort, sc.eligibility)
    patients, s = cohort_screen(sc)
    for group, rules in GROUPS.items():
        idx = [RULE_NAMES.index(r) for r in rules]
        within(float(s.passes[idx].all(axis=0).mean()), getattr(probs, group), N_COHORT, group)
    within(float(np.isfinite(s.qualifies_in_months).mean()), probs.candidate, N_COHORT, "candidate")
    g3 = s.passes[[RULE_NAMES.index(r) for r in GROUPS["proteinuria"]]].all(axis=0)
    within(float(patients.acei_arb_intolerant[g3].mean()), probs.intolerant_given_pass, int(g3.sum()),
           "intolerant given a pass")


def test_the_tabulated_beta_cdf_is_exact_shared_and_read_only() -> None:
    """The rejection sampler's beta CDF: the table brackets, betainc decides; one table per
    (a, b), computed once and never written to."""
    a, b = beta_params(0.3, 0.12)
    cdf = beta_cdf(a, b)
    assert beta_cdf(a, b) is cdf and beta_cdf(b, a) is not cdf
    assert not cdf.table.flags.writeable
    rng = np.random.default_rng(4)
    y = np.concatenate([rng.random(200_000), np.linspace(0, 1, 4097), [-0.5, 1.5]])
    u = np.concatenate([rng.random(200_000), special.betainc(a, b, np.linspace(0, 1, 4097)), [0.5, 0.5]])
    np.testing.assert_array_equal(cdf.below(u, y), u <= special.betainc(a, b, np.clip(y, 0, 1)))


def reference_proteinuria(sc) -> tuple[float, float]:
    """P(level and reduction pass | intolerant / tolerant) by adaptive nested quadrature."""
    c, e = sc.cohort, sc.eligibility
    mu, sigma = lognormal_params(c.proteinuria_mean_g_day, c.proteinuria_sd_g_day)
    a, b = beta_params(c.acei_arb_reduction_mean_fraction, c.acei_arb_reduction_sd_fraction)
    s, need, floor = collection_sigma(c), 1 - e.proteinuria_max_reduction_fraction, e.proteinuria_min_g_day
    phi = lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # noqa: E731
    level = lambda m: special.ndtr((mu + math.log(m) - math.log(floor)) / sigma)  # noqa: E731

    def expect(g):
        def inner(e1):
            x1 = math.exp(s * e1 - s * s / 2)
            f = lambda e2: phi(e2) * g(0.5 * (x1 + math.exp(s * e2 - s * s / 2)))  # noqa: E731
            return phi(e1) * integrate.quad(f, -14, 14, epsabs=1e-14, limit=400,
                                            points=[(math.log(max(2 * need - x1, 1e-300)) + s * s / 2) / s])[0]
        return integrate.quad(inner, -14, 14, epsabs=1e-14, limit=400)[0]

    return (expect(lambda m: level(m) * (m >= need)),
            expect(lambda m: level(m) * special.betainc(a, b, min(max(1 - need / m, 0.0), 1.0))))


@pytest.mark.parametrize("variant", ["registered", "noisy-collections", "strict-thresholds"])
def test_proteinuria_quadrature_agrees_with_adaptive_quadrature(variant: str) -> None:
    sc = scenario(variant)
    probs = pass_probabilities(sc.cohort, sc.eligibility)
    j_int, j_tol = reference_proteinuria(sc)
    assert probs.proteinuria_intolerant == pytest.approx(j_int, abs=1e-9)
    assert probs.proteinuria_tolerant == pytest.approx(j_tol, abs=1e-9)


@pytest.fixture(scope="module")
def registered_fates():
    sc = scenario("registered")
    return sc, draw_fates(sc, block_sequence(5, 0), 600)


def test_candidates_defer_as_screened_candidates_do(registered_fates) -> None:
    sc, f = registered_fates
    patients, s = cohort_screen(sc)
    cand = np.isfinite(s.qualifies_in_months)
    real = slice(None)                     # every candidate (flat arrays, no padding)
    n = len(f.site)
    # deferral and which time rule defers, among candidates
    deferred = s.qualifies_in_months[cand] > 0
    within(float((f.qualifies_in_months[real] > 0).mean()), float(deferred.mean()), n, "deferred")
    for rule in TIME_RULES:
        k = RULE_NAMES.index(rule)
        within(float((f.first_failure[real] == k).mean()), float((s.first_failure[cand] == k).mean()), n, rule)
    # the wait of the deferred: same mean within 4 SE (of the cohort's sd)
    waits = s.qualifies_in_months[cand][deferred]
    fw = f.qualifies_in_months[f.qualifies_in_months > 0]
    assert abs(fw.mean() - waits.mean()) <= K * waits.std() * math.sqrt(1 / len(fw) + 1 / len(waits))
    # the clocks behind it reproduce the waits exactly
    clocks = candidate_clocks(sc, f, 0)
    first = candidates_of(f, 0)
    row = f.qualifies_in_months[first]
    e = sc.eligibility
    need = np.maximum.reduce([
        np.where(clocks["months_since_steroid_mmf"] <= e.washout_steroid_mmf_months,
                 e.washout_steroid_mmf_months - clocks["months_since_steroid_mmf"], 0.0),
        np.where(clocks["months_since_alkylating"] <= e.washout_alkylating_months,
                 e.washout_alkylating_months - clocks["months_since_alkylating"], 0.0),
        np.where(~f.acei_arb_intolerant[first] & (clocks["months_on_acei_arb"] < e.acei_arb_run_in_months),
                 e.acei_arb_run_in_months - clocks["months_on_acei_arb"], 0.0),
    ])
    np.testing.assert_allclose(np.where(row > 1e-300, row, 0.0), need, rtol=0, atol=1e-9)


def two_sample_means(a: np.ndarray, b: np.ndarray, what: str) -> None:
    se = math.sqrt(a.var() / len(a) + b.var() / len(b))
    assert abs(a.mean() - b.mean()) <= K * se, f"{what}: {a.mean():.4f} vs {b.mean():.4f} ({K:g} SE = {K * se:.4f})"


def test_pool_covariates_are_those_of_screened_candidates(registered_fates) -> None:
    """Given ACEI/ARB tolerance (the only way the pool's selection sees the proteinuria group),
    the pool's proteinuria, reduction and titre are distributed as in the screened cohort."""
    sc, f = registered_fates
    patients, s = cohort_screen(sc)
    cand = np.isfinite(s.qualifies_in_months) & ~patients.acei_arb_intolerant
    in_pool = f.order >= 0
    cols = np.maximum(f.order, 0)
    tolerant = in_pool & ~f.acei_arb_intolerant[f.candidate_offsets[:-1, None] + cols]
    pool_mean = proteinuria_mean(f)
    reduction = 1 - pool_mean / (f.pool["true"] / (1 - acei_arb_reduction(sc.cohort, f.pool["u_reduction"])))
    two_sample_means(pool_mean[tolerant], patients.proteinuria_mean_g_day[cand], "proteinuria")
    two_sample_means(np.log(pool_mean[tolerant]), np.log(patients.proteinuria_mean_g_day[cand]), "log proteinuria")
    two_sample_means(reduction[tolerant], patients.proteinuria_reduction_fraction[cand], "reduction")
    two_sample_means(np.log(f.pool["titre"][tolerant]), np.log(patients.pla2r_titre_ru_ml[cand]), "log titre")
    two_sample_means((f.pool["titre"][tolerant] >= 150).astype(float),
                     (patients.pla2r_titre_ru_ml[cand] >= 150).astype(float), "titre >= 150")
    # and every pool patient passes the rules the pool covers
    assert np.all(pool_mean[in_pool] >= sc.eligibility.proteinuria_min_g_day)
    assert np.all(reduction[in_pool] <= sc.eligibility.proteinuria_max_reduction_fraction + 1e-12)


def test_story_covariates_pass_their_rules_and_follow_the_cohort(registered_fates) -> None:
    sc, f = registered_fates
    patients, s = cohort_screen(sc)
    cand = np.isfinite(s.qualifies_in_months)
    story = [trial_patients(sc, f, t) for t in range(40)]
    ages = np.concatenate([p.age_years for p in story])
    egfr = np.concatenate([p.egfr_ml_min for p in story])
    two_sample_means(ages, patients.age_years[cand], "age")
    two_sample_means(egfr, patients.egfr_ml_min[cand], "eGFR")
    for t, p in zip(range(3), story):
        n = min(int(f.n_randomisable[t]), f.n_max)
        sub = p.take(np.arange(n))
        assert np.all(np.isfinite(screen(sub, sc.eligibility).qualifies_in_months)), "a story patient fails a rule"


def test_story_exclusions_follow_the_screened_funnel(registered_fates) -> None:
    sc, f = registered_fates
    patients, s = cohort_screen(sc)
    excluded = np.isinf(s.qualifies_in_months)
    firsts = np.concatenate([trial_exclusions(sc, f, t)[1] for t in range(60)])
    assert np.all(firsts >= 0)
    for k, rule in enumerate(RULES):
        if rule.time_dependent:
            assert not np.any(firsts == k)
            continue
        within(float((firsts == k).mean()), float((s.first_failure[excluded] == k).mean()), len(firsts), rule.name)


def test_a_larger_pool_only_appends_patients() -> None:
    """Common random numbers across n per arm: the fates of a smaller target are a prefix."""
    sc = scenario("registered")
    small = draw_fates(sc, block_sequence(3, 1), 40)
    large = draw_fates(sc, block_sequence(3, 1), 40, n_target=300)
    n = small.n_max
    np.testing.assert_array_equal(small.order, large.order[:, :n])
    for name in small.pool:
        np.testing.assert_array_equal(small.pool[name], large.pool[name][:, :n])
    np.testing.assert_array_equal(small.stratum, large.stratum[:, :n])
    for a, b in zip(small.outcomes, large.outcomes):
        np.testing.assert_array_equal(a.dropout_month, b.dropout_month[:, :n])
        np.testing.assert_array_equal(a.remission_at_endpoint, b.remission_at_endpoint[:, :n])
    np.testing.assert_array_equal(small.allocation, large.allocation[:, :, : small.allocation.shape[2]])


def test_a_screen_nobody_passes_is_a_scenario_error_at_load_time() -> None:
    from simulate.errors import ScenarioError

    with pytest.raises(ScenarioError, match="eligibility: only .* pass the screen"):
        load_scenario(REGISTERED, ["eligibility.proteinuria_min_g_day=60"])
    # a sweep point that nobody passes is named with its value
    with pytest.raises(ScenarioError, match=r"sweep.eligibility.proteinuria_min_g_day = 60: eligibility: only"):
        load_scenario(REGISTERED, ["sweep={\"eligibility.proteinuria_min_g_day\" = [4, 60]}"])
