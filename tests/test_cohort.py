"""The synthetic referred cohort: reproducibility, marginals, dependencies, common random numbers.

Statistical checks use a fixed seed and a large cohort (N = 200,000) and state their tolerance in
standard errors: 4 SE unless said otherwise, so a correct implementation fails about once in
16,000 checks per seed, while a real error of a few per cent in a parameter fails every time.
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest
from scipy import integrate, stats

from simulate.design import parameters
from simulate.population import covariates as population
from simulate.screening import feasibility, probabilities
from simulate.population.cohort import RELAPSE_DRUGS, Patients, draw_cohort
from simulate.design.parameters import beta_params, lognormal_params
from simulate.fates.draw import candidates_of, draw_fates
from simulate.design.loader import with_overrides
from simulate.design.scenario import Cohort, Scenario
from simulate.seeding import block_sequence, child_sequence, stream
from simulate.engines.story import trial_patients

N_LARGE = 200_000
SEED = 20240611
K_SE = 4.0  # tolerance of every statistical check, in standard errors

FIELD_NAMES = [f.name for f in fields(Patients)]


@pytest.fixture(scope="module")
def params(scenario: Scenario) -> Cohort:
    return scenario.cohort


@pytest.fixture(scope="module")
def big(params: Cohort) -> Patients:
    return draw_cohort(params, N_LARGE, SEED)


def se_mean(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / math.sqrt(len(x)))


def se_sd(x: np.ndarray) -> float:
    """Large-sample SE of the sample sd for any distribution: sqrt(m4 - s^4) / (2 s sqrt(n))."""
    d = x - x.mean()
    m2, m4 = np.mean(d**2), np.mean(d**4)
    return float(math.sqrt(max(m4 - m2**2, 0.0) / len(x)) / (2.0 * math.sqrt(m2)))


def se_prop(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n)


def assert_fraction(flags: np.ndarray, p: float, label: str) -> None:
    n = len(flags)
    got = float(flags.mean())
    assert abs(got - p) < K_SE * se_prop(p, n), f"{label}: {got:.5f} vs {p} (n={n}, tol {K_SE} SE)"


def assert_mean(x: np.ndarray, target: float, label: str) -> None:
    got, se = float(x.mean()), se_mean(x)
    assert abs(got - target) < K_SE * se, f"{label}: mean {got:.4f} vs {target:.4f} (SE {se:.4f})"


def assert_sd(x: np.ndarray, target: float, label: str) -> None:
    got, se = float(x.std(ddof=1)), se_sd(x)
    assert abs(got - target) < K_SE * se, f"{label}: sd {got:.4f} vs {target:.4f} (SE {se:.4f})"


def clipped_normal_moments(mu: float, sigma: float, lo: float, hi: float) -> tuple[float, float]:
    """E[X] and E[X^2] of X = clip(N(mu, sigma), lo, hi), in closed form."""
    a, b = (lo - mu) / sigma, (hi - mu) / sigma
    pa, pb = stats.norm.cdf(a), stats.norm.cdf(b)
    fa, fb = stats.norm.pdf(a), stats.norm.pdf(b)
    mid = pb - pa
    m1 = lo * pa + hi * (1 - pb) + mu * mid + sigma * (fa - fb)
    m2 = (lo**2 * pa + hi**2 * (1 - pb) + (mu**2 + sigma**2) * mid
          + 2 * mu * sigma * (fa - fb) + sigma**2 * (a * fa - b * fb))
    return float(m1), float(m2)


def age_distribution(p: Cohort):
    a = (p.age_min_years - p.age_mean_years) / p.age_sd_years
    b = (p.age_max_years - p.age_mean_years) / p.age_sd_years
    return stats.truncnorm(a, b, loc=p.age_mean_years, scale=p.age_sd_years)


def assert_same(x: Patients, y: Patients, name: str) -> None:
    assert np.array_equal(getattr(x, name), getattr(y, name), equal_nan=True), name


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_same_cohort(params: Cohort) -> None:
    a, b = draw_cohort(params, 5_000, 42), draw_cohort(params, 5_000, 42)
    for name in FIELD_NAMES:
        assert_same(a, b, name)


def test_int_seed_equals_its_seed_sequence(params: Cohort) -> None:
    a, b = draw_cohort(params, 1_000, 42), draw_cohort(params, 1_000, np.random.SeedSequence(42))
    for name in FIELD_NAMES:
        assert_same(a, b, name)


CONTINUOUS = ["age_years", "proteinuria_baseline_g_day", "proteinuria_true_g_day",
              "proteinuria_collection_1_g_day", "proteinuria_collection_2_g_day", "albumin_g_l",
              "egfr_ml_min", "pla2r_titre_ru_ml", "months_on_acei_arb"]


@pytest.mark.parametrize("name", CONTINUOUS)
def test_different_seeds_different_cohort(params: Cohort, name: str) -> None:
    a, b = draw_cohort(params, 1_000, 42), draw_cohort(params, 1_000, 43)
    assert not np.array_equal(getattr(a, name), getattr(b, name))
    assert np.mean(getattr(a, name) == getattr(b, name)) < 0.1  # not merely one element apart


def test_different_seeds_different_flags(params: Cohort) -> None:
    a, b = draw_cohort(params, 1_000, 42), draw_cohort(params, 1_000, 43)
    for name in ["male", "pla2r_positive", "diabetes", "bp_controlled"]:
        assert not np.array_equal(getattr(a, name), getattr(b, name)), name


def test_shapes_and_dtypes(big: Patients) -> None:
    assert len(big) == N_LARGE
    for name in FIELD_NAMES:
        assert getattr(big, name).shape == (N_LARGE,), name
    for name in ["male", "postmenopausal", "contraception_or_sterile", "pregnant_or_breastfeeding",
                 "pla2r_positive", "diabetes", "active_infection", "secondary_cause",
                 "acei_arb_intolerant", "bp_controlled", "resistant_cni", "resistant_rtx",
                 "resistant_alkylating"]:
        assert getattr(big, name).dtype == bool, name
    assert set(np.unique(big.prior_relapse_drug)) <= set(range(len(RELAPSE_DRUGS)))


def test_n_zero(params: Cohort) -> None:
    p = draw_cohort(params, 0, 1)
    assert len(p) == 0
    for name in FIELD_NAMES:
        assert getattr(p, name).shape == (0,), name
    assert len(p.to_frame()) == 0


@pytest.mark.parametrize("n", [-1, -1000])
def test_negative_n_raises(params: Cohort, n: int) -> None:
    with pytest.raises(ValueError, match=str(n)):
        draw_cohort(params, n, 1)


def test_take_selects_patients(params: Cohort) -> None:
    p = draw_cohort(params, 100, 3)
    sub = p.take(np.arange(10, 20))
    assert len(sub) == 10 and np.array_equal(sub.age_years, p.age_years[10:20])
    mask = p.male
    assert len(p.take(mask)) == int(mask.sum())


def test_to_frame_columns(params: Cohort) -> None:
    p = draw_cohort(params, 50, 3)
    frame = p.to_frame()
    assert set(FIELD_NAMES) <= set(frame.columns)
    assert {"proteinuria_mean_g_day", "proteinuria_reduction_fraction"} <= set(frame.columns)
    assert set(frame["prior_relapse_drug"]) <= set(RELAPSE_DRUGS)
    assert np.allclose(frame["proteinuria_mean_g_day"], p.proteinuria_mean_g_day)


# --------------------------------------------------------------------------- marginals


@pytest.mark.parametrize("attr, param", [
    ("male", "male_fraction"),
    ("pla2r_positive", "pla2r_positive_fraction"),
    ("diabetes", "diabetes_fraction"),
    ("secondary_cause", "secondary_cause_fraction"),
    ("active_infection", "active_infection_fraction"),
    ("acei_arb_intolerant", "acei_arb_intolerant_fraction"),
    ("bp_controlled", "bp_controlled_fraction"),
    ("resistant_cni", "resistant_cni_fraction"),
    ("resistant_rtx", "resistant_rtx_fraction"),
    ("resistant_alkylating", "resistant_alkylating_fraction"),
])
def test_binary_fraction(big: Patients, params: Cohort, attr: str, param: str) -> None:
    assert_fraction(getattr(big, attr), getattr(params, param), attr)


def test_prior_exposures(big: Patients, params: Cohort) -> None:
    for months, frac, mean in [
        (big.months_since_steroid_mmf, params.prior_steroid_mmf_fraction, params.months_since_steroid_mmf_mean),
        (big.months_since_alkylating, params.prior_alkylating_fraction, params.months_since_alkylating_mean),
    ]:
        exposed = np.isfinite(months)
        assert_fraction(exposed, frac, "exposed")
        assert np.all(months[exposed] >= 0) and np.all(np.isposinf(months[~exposed]))
        assert_mean(months[exposed], mean, "months since exposure (exponential)")


def test_prior_relapse(big: Patients, params: Cohort) -> None:
    relapsed = big.prior_relapse_drug > 0
    assert_fraction(relapsed, params.prior_relapse_fraction, "prior relapse")
    drug = big.prior_relapse_drug[relapsed]
    assert_fraction(drug == 1, params.prior_relapse_drug_cni_fraction, "relapse after CNI")
    assert_fraction(drug == 2, params.prior_relapse_drug_rtx_fraction, "relapse after RTX")
    assert np.all(np.isnan(big.months_off_drug_at_relapse[~relapsed]))
    assert_mean(big.months_off_drug_at_relapse[relapsed], params.months_off_drug_at_relapse_mean,
                "months off drug at relapse")


def test_true_proteinuria_mean_and_sd(big: Patients, params: Cohort) -> None:
    x = big.proteinuria_true_g_day
    assert np.all(x > 0)
    assert_mean(x, params.proteinuria_mean_g_day, "true proteinuria")
    assert_sd(x, params.proteinuria_sd_g_day, "true proteinuria")
    # lognormal: the log is normal with the moment-matched (mu, sigma)
    mu, sigma = lognormal_params(params.proteinuria_mean_g_day, params.proteinuria_sd_g_day)
    assert_mean(np.log(x), mu, "log proteinuria")
    assert_sd(np.log(x), sigma, "log proteinuria")


def test_collections_are_unbiased_measurements(big: Patients, params: Cohort) -> None:
    """Each collection = true level x a multiplicative error of mean 1 and CV collection_cv."""
    for c in (big.proteinuria_collection_1_g_day, big.proteinuria_collection_2_g_day):
        ratio = c / big.proteinuria_true_g_day
        assert_mean(ratio, 1.0, "collection / true")
        assert_sd(ratio, params.collection_cv, "collection / true")
        assert_mean(c - big.proteinuria_true_g_day, 0.0, "collection - true")
    # the two errors are independent
    r1 = np.log(big.proteinuria_collection_1_g_day / big.proteinuria_true_g_day)
    r2 = np.log(big.proteinuria_collection_2_g_day / big.proteinuria_true_g_day)
    assert abs(np.corrcoef(r1, r2)[0, 1]) < K_SE / math.sqrt(N_LARGE)
    # the mean of two is the registered measure, and is unbiased too
    assert_mean(big.proteinuria_mean_g_day / big.proteinuria_true_g_day, 1.0, "mean of two / true")


def test_collection_cv_zero_means_exact_collections(scenario: Scenario) -> None:
    p = draw_cohort(with_overrides(scenario, {"cohort.collection_cv": 0.0}).cohort, 1_000, 5)
    assert np.array_equal(p.proteinuria_collection_1_g_day, p.proteinuria_true_g_day)
    assert np.array_equal(p.proteinuria_collection_2_g_day, p.proteinuria_true_g_day)


def test_acei_arb_reduction(big: Patients, params: Cohort) -> None:
    tolerant = ~big.acei_arb_intolerant
    r = 1.0 - big.proteinuria_true_g_day[tolerant] / big.proteinuria_baseline_g_day[tolerant]
    assert np.all((r >= 0) & (r < 1))
    assert_mean(r, params.acei_arb_reduction_mean_fraction, "ACEI/ARB reduction")
    assert_sd(r, params.acei_arb_reduction_sd_fraction, "ACEI/ARB reduction")
    a, b = beta_params(params.acei_arb_reduction_mean_fraction, params.acei_arb_reduction_sd_fraction)
    assert math.isclose(stats.beta(a, b).mean(), params.acei_arb_reduction_mean_fraction)
    assert math.isclose(stats.beta(a, b).std(), params.acei_arb_reduction_sd_fraction)
    assert_mean(big.months_on_acei_arb[tolerant], params.months_on_acei_arb_mean, "months on ACEI/ARB")
    assert np.all(big.months_on_acei_arb[~tolerant] == 0.0)


def test_albumin_mean_and_sd(big: Patients, params: Cohort) -> None:
    """Albumin is normal clipped to 8-55 g/L: compare with the clipped normal's exact moments,
    which are within 0.1 g/L of the scenario's mean and sd (the clipping's tiny effect)."""
    x = big.albumin_g_l
    assert x.min() >= 8.0 and x.max() <= 55.0
    m1, m2 = clipped_normal_moments(params.albumin_mean_g_l, params.albumin_sd_g_l, 8.0, 55.0)
    sd = math.sqrt(m2 - m1**2)
    assert abs(m1 - params.albumin_mean_g_l) < 0.1 and abs(sd - params.albumin_sd_g_l) < 0.2
    assert_mean(x, m1, "albumin")
    assert_sd(x, sd, "albumin")


def test_egfr_mean_and_sd(big: Patients, params: Cohort) -> None:
    """eGFR = mean + slope x (age - mean age) + normal residual, clipped to 5-150. Exact moments
    by integrating the clipped normal over the truncated-normal age; clipping (150 is +2.4 sd)
    and age truncation keep them within 0.5 mL/min of the scenario's 84 +- 27."""
    x = big.egfr_ml_min
    assert x.min() >= 5.0 and x.max() <= 150.0
    age = age_distribution(params)
    b = params.egfr_change_per_year_of_age_ml_min
    resid = math.sqrt(params.egfr_sd_ml_min**2 - (b * params.age_sd_years) ** 2)

    def moment(k: int) -> float:
        f = lambda a: age.pdf(a) * clipped_normal_moments(  # noqa: E731
            params.egfr_mean_ml_min + b * (a - params.age_mean_years), resid, 5.0, 150.0)[k]
        return integrate.quad(f, params.age_min_years, params.age_max_years)[0]

    m1, m2 = moment(0), moment(1)
    sd = math.sqrt(m2 - m1**2)
    assert abs(m1 - params.egfr_mean_ml_min) < 0.5 and abs(sd - params.egfr_sd_ml_min) < 0.5
    assert_mean(x, m1, "eGFR")
    assert_sd(x, sd, "eGFR")


def test_age_truncated_normal(big: Patients, params: Cohort) -> None:
    x = big.age_years
    assert x.min() >= params.age_min_years and x.max() <= params.age_max_years
    dist = age_distribution(params)
    assert_mean(x, dist.mean(), "age")
    assert_sd(x, dist.std(), "age")
    # exact truncation: no pile-up at the bounds (a clipped normal would put ~1.4% at age_min)
    assert np.mean(x < params.age_min_years + 0.1) < 2 * dist.cdf(params.age_min_years + 0.1)
    # Kolmogorov-Smirnov against the truncated normal
    assert stats.kstest(x, dist.cdf).pvalue > 1e-4


def test_pla2r_titre_tertiles_among_positives(big: Patients, params: Cohort) -> None:
    """Published tertiles among positives: 20-86 / 87-201 / >= 202 RU/mL, i.e. cuts at 86.5 and
    201.5. The model's lognormal (median 132, log-sd 0.98) places them within 1% of those (the
    parameters are rounded). The sample quantiles are compared with the model's in relative
    terms: the SE of a log-quantile is sigma sqrt(q(1-q)/n) / phi(z_q), about 0.35% here."""
    titre = big.pla2r_titre_ru_ml[big.pla2r_positive]
    assert titre.min() >= params.pla2r_positive_threshold_ru_ml
    assert big.pla2r_titre_ru_ml[~big.pla2r_positive].max() < params.pla2r_positive_threshold_ru_ml
    n = len(titre)
    for q, published in [(1 / 3, 86.5), (2 / 3, 201.5)]:
        z = stats.norm.ppf(q)
        model = params.pla2r_titre_median_ru_ml * math.exp(params.pla2r_titre_log_sd * z)
        assert abs(math.log(model / published)) < 0.01
        se_log = params.pla2r_titre_log_sd * math.sqrt(q * (1 - q) / n) / stats.norm.pdf(z)
        got = float(np.quantile(titre, q))
        assert abs(math.log(got / model)) < K_SE * se_log, (q, got, model)
    assert abs(math.log(np.median(titre) / params.pla2r_titre_median_ru_ml)) < 0.02


# --------------------------------------------------------------------------- dependencies


def test_albumin_falls_with_proteinuria(big: Patients, params: Cohort) -> None:
    r = np.corrcoef(big.albumin_g_l, np.log(big.proteinuria_true_g_day))[0, 1]
    assert r < -K_SE / math.sqrt(N_LARGE)
    # and near the stated correlation (clipping shrinks it slightly)
    assert abs(r - params.albumin_log_proteinuria_correlation) < 0.02


def test_titre_rises_with_proteinuria_among_positives(big: Patients, params: Cohort) -> None:
    pos = big.pla2r_positive
    r = np.corrcoef(np.log(big.pla2r_titre_ru_ml[pos]), np.log(big.proteinuria_true_g_day[pos]))[0, 1]
    assert r > K_SE / math.sqrt(pos.sum())
    assert abs(r - params.pla2r_log_titre_log_proteinuria_correlation) < 0.02


def test_egfr_falls_with_age(big: Patients, params: Cohort) -> None:
    r = np.corrcoef(big.egfr_ml_min, big.age_years)[0, 1]
    assert r < -K_SE / math.sqrt(N_LARGE)
    slope = np.polyfit(big.age_years, big.egfr_ml_min, 1)[0]
    assert abs(slope - params.egfr_change_per_year_of_age_ml_min) < 0.05


def test_independent_covariates_are_uncorrelated(big: Patients) -> None:
    tol = K_SE / math.sqrt(N_LARGE)
    for a, b in [(big.age_years, np.log(big.proteinuria_true_g_day)),
                 (big.diabetes, big.male), (big.egfr_ml_min, big.albumin_g_l)]:
        assert abs(np.corrcoef(a, b)[0, 1]) < tol


INDEPENDENT_FLAGS = ["male", "pla2r_positive", "diabetes", "active_infection", "secondary_cause",
                     "acei_arb_intolerant", "bp_controlled", "resistant_cni", "resistant_rtx",
                     "resistant_alkylating"]


def test_independent_flags_do_not_share_random_numbers(big: Patients) -> None:
    """Every pair of independently drawn yes/no covariates is uncorrelated. Two flags drawn from
    the same uniforms would have a correlation of order 0.1-1; the SE of a correlation is
    1/sqrt(N) = 0.0022. With 45 pairs the tolerance is 5 SE (per-pair false alarm ~6e-7)."""
    tol = 5.0 / math.sqrt(N_LARGE)
    for i, a in enumerate(INDEPENDENT_FLAGS):
        for b in INDEPENDENT_FLAGS[i + 1:]:
            r = np.corrcoef(getattr(big, a), getattr(big, b))[0, 1]
            assert abs(r) < tol, (a, b, r)


AGE_BANDS = [(16, 35), (35, 45), (45, 48), (48, 51), (51, 54), (54, 60), (60, 91)]


def test_menopause_rises_with_age(big: Patients, params: Cohort) -> None:
    women = ~big.male
    fractions = []
    for lo, hi in AGE_BANDS:
        band = women & (big.age_years >= lo) & (big.age_years < hi)
        # expected: the mean over these women of P(post) = Phi((age - mean) / sd)
        p_i = stats.norm.cdf((big.age_years[band] - params.menopause_age_mean_years) / params.menopause_age_sd_years)
        expected = float(p_i.mean())
        se = math.sqrt(np.sum(p_i * (1 - p_i))) / band.sum()
        got = float(big.postmenopausal[band].mean())
        assert abs(got - expected) <= K_SE * se + 1e-12, (lo, hi, got, expected)
        fractions.append(got)
    assert all(a < b for a, b in zip(fractions, fractions[1:])), fractions
    assert fractions[0] < 0.001  # below 35: Phi(-4.1)
    assert fractions[-1] > 0.995  # above 60: Phi(3.0) or more


def test_men_are_never_postmenopausal_pregnant_or_flagged_for_contraception(big: Patients) -> None:
    assert not big.postmenopausal[big.male].any()
    assert not big.pregnant_or_breastfeeding[big.male].any()
    assert not big.contraception_or_sterile[big.male].any()


def test_reproductive_flags_of_women(big: Patients, params: Cohort) -> None:
    pre = ~big.male & ~big.postmenopausal
    assert not big.pregnant_or_breastfeeding[big.postmenopausal].any()
    assert not big.contraception_or_sterile[big.postmenopausal].any()
    assert_fraction(big.contraception_or_sterile[pre], params.contraception_or_sterile_fraction, "contraception")
    assert_fraction(big.pregnant_or_breastfeeding[pre], params.pregnant_or_breastfeeding_fraction, "pregnant")
    # drawn independently: P(pregnant | contraception) = P(pregnant)
    assert_fraction(big.pregnant_or_breastfeeding[pre & big.contraception_or_sterile],
                    params.pregnant_or_breastfeeding_fraction, "pregnant among women using contraception")


def test_baseline_proteinuria_and_acei_tolerance(big: Patients) -> None:
    tol = ~big.acei_arb_intolerant
    assert np.all(big.proteinuria_baseline_g_day[tol] >= big.proteinuria_true_g_day[tol])
    assert np.mean(big.proteinuria_baseline_g_day[tol] > big.proteinuria_true_g_day[tol]) > 0.99
    assert np.array_equal(big.proteinuria_baseline_g_day[~tol], big.proteinuria_true_g_day[~tol])


# --------------------------------------------------------------------------- common random numbers

REPRODUCTIVE = {"postmenopausal", "contraception_or_sterile", "pregnant_or_breastfeeding"}
PROTEINURIA = {"proteinuria_baseline_g_day", "proteinuria_true_g_day",
               "proteinuria_collection_1_g_day", "proteinuria_collection_2_g_day"}

CRN_CASES = [
    ("diabetes_fraction", 0.30, {"diabetes"}),
    ("secondary_cause_fraction", 0.30, {"secondary_cause"}),
    ("male_fraction", 0.40, {"male"} | REPRODUCTIVE),
    ("age_mean_years", 55.0, {"age_years", "egfr_ml_min"} | REPRODUCTIVE),
    ("proteinuria_mean_g_day", 8.0, PROTEINURIA),
    ("collection_cv", 0.10, {"proteinuria_collection_1_g_day", "proteinuria_collection_2_g_day"}),
    ("albumin_mean_g_l", 30.0, {"albumin_g_l"}),
    ("egfr_mean_ml_min", 70.0, {"egfr_ml_min"}),
    ("pla2r_positive_fraction", 0.50, {"pla2r_positive", "pla2r_titre_ru_ml"}),
    ("prior_steroid_mmf_fraction", 0.50, {"months_since_steroid_mmf"}),
    ("acei_arb_intolerant_fraction", 0.20, {"acei_arb_intolerant", "months_on_acei_arb",
                                             "proteinuria_baseline_g_day"}),
    ("resistant_rtx_fraction", 0.20, {"resistant_rtx"}),
]


@pytest.mark.parametrize("param, value, allowed", CRN_CASES, ids=[c[0] for c in CRN_CASES])
def test_one_parameter_changes_only_its_covariates(scenario: Scenario, param: str, value: float,
                                                   allowed: set[str]) -> None:
    base = draw_cohort(scenario.cohort, 20_000, 11)
    changed = draw_cohort(with_overrides(scenario, {f"cohort.{param}": value}).cohort, 20_000, 11)
    differs = {n for n in FIELD_NAMES
               if not np.array_equal(getattr(base, n), getattr(changed, n), equal_nan=True)}
    assert differs, f"changing {param} changed nothing"
    assert differs <= allowed, f"changing {param} also changed {sorted(differs - allowed)}"


# --------------------------------------------------------------------------- one population, three callers


def test_cohort_pool_and_story_make_covariates_with_the_same_transforms(scenario: Scenario) -> None:
    """Given the same random numbers, the screened cohort, the fates' pool and candidate clocks
    and the story of a trial hold exactly what the transforms of simulate.population.covariates make of
    them: each covariate's formula is written once."""
    c = scenario.cohort
    n, seq = 5_000, np.random.SeedSequence(77)
    p = draw_cohort(c, n, seq)
    z = stream(seq, "proteinuria").standard_normal(n)
    level = population.proteinuria_level(c, z)
    collected = population.collections(
        level, population.collection_errors(c, stream(seq, "collections").standard_normal((2, n))))
    acei = stream(seq, "acei_arb").random((2, n))
    t = stream(seq, "pla2r").random((2, n))
    positive, titre = population.pla2r(c, z, t[0], t[1], stream(seq, "pla2r_titre").standard_normal(n))
    steroid = stream(seq, "steroid_mmf")
    exposed = steroid.random(n) < c.prior_steroid_mmf_fraction
    cohort_made = {
        "age_years": population.age_years(c, stream(seq, "age").random(n)),
        "proteinuria_true_g_day": level,
        "proteinuria_collection_1_g_day": collected[0],
        "proteinuria_collection_2_g_day": collected[1],
        "albumin_g_l": population.albumin(c, z, stream(seq, "albumin").standard_normal(n)),
        "egfr_ml_min": population.egfr(c, p.age_years, stream(seq, "egfr").standard_normal(n)),
        "pla2r_positive": positive,
        "pla2r_titre_ru_ml": titre,
        "months_on_acei_arb": population.months_on_acei_arb(c, p.acei_arb_intolerant, -np.log1p(-acei[1])),
        "months_since_steroid_mmf": population.months_since(exposed, steroid.standard_exponential(n),
                                                            c.months_since_steroid_mmf_mean),
    }
    for name, made in cohort_made.items():
        np.testing.assert_array_equal(getattr(p, name), made, err_msg=f"cohort: {name}")

    # the pool: proteinuria given a pass and anti-PLA2R, from the pool's own streams
    n_trials = 3
    f = draw_fates(scenario, block_sequence(8, 0), n_trials)
    in_pool = f.order >= 0
    u = stream(f.seed_sequence, "pool_uniforms").random((f.n_max, 6, n_trials)).transpose(1, 2, 0)
    normal = stream(f.seed_sequence, "pool_normals").standard_normal((f.n_max, n_trials)).T
    positive, titre = population.pla2r(c, f.pool["z"], u[0], u[1], normal)
    np.testing.assert_array_equal(f.pool["pla2r_positive"][in_pool], positive[in_pool])
    np.testing.assert_array_equal(f.pool["titre"][in_pool], titre[in_pool])
    np.testing.assert_array_equal(f.pool["true"][in_pool], population.proteinuria_level(c, f.pool["z"])[in_pool])

    # the story of trial 0: albumin from the trial's stream, clocks from the candidates' uniforms
    story = trial_patients(scenario, f, 0)
    cols = np.maximum(f.order[0], 0)
    u_clocks = f.u_clocks[:, candidates_of(f, 0)]
    p_int = probabilities.pass_probabilities(c, scenario.eligibility).intolerant_given_pass
    normal = stream(child_sequence(f.seed_sequence, "story/0"), "albumin_bp").standard_normal(f.n_max)
    story_made = {
        "albumin_g_l": population.albumin(c, f.pool["z"][0], normal),
        "proteinuria_baseline_g_day": population.proteinuria_baseline(
            f.pool["true"][0], population.acei_arb_reduction(c, f.pool["u_reduction"][0])),
        "months_on_acei_arb": population.acei_arb_clock(c, u_clocks[0], p_int)[1][cols],
        "months_since_steroid_mmf": population.exposure_months(
            u_clocks[1], c.prior_steroid_mmf_fraction, c.months_since_steroid_mmf_mean)[cols],
        "months_since_alkylating": population.exposure_months(
            u_clocks[2], c.prior_alkylating_fraction, c.months_since_alkylating_mean)[cols],
    }
    for name, made in story_made.items():
        np.testing.assert_array_equal(getattr(story, name), made, err_msg=f"story: {name}")


def test_the_clip_bounds_are_the_parameters_modules_alone(scenario: Scenario, monkeypatch: pytest.MonkeyPatch,
                                                          request: pytest.FixtureRequest) -> None:
    """Narrowing the physiological bounds in simulate.design.parameters narrows them for the cohort,
    the story of a trial, the exact screen probabilities and the feasibility bounds alike: no
    other module keeps a copy."""
    c, e = scenario.cohort, scenario.eligibility
    fates = draw_fates(scenario, block_sequence(2, 0), 1)      # (calibrated with the shipped bounds)
    monkeypatch.setattr(parameters, "ALBUMIN_MIN_G_L", 20.0)
    monkeypatch.setattr(parameters, "ALBUMIN_MAX_G_L", 30.0)
    monkeypatch.setattr(parameters, "EGFR_MIN_ML_MIN", 50.0)
    monkeypatch.setattr(parameters, "EGFR_MAX_ML_MIN", 90.0)
    probabilities.pass_probabilities.cache_clear()     # computed afresh with these bounds, and forgotten after
    request.addfinalizer(probabilities.pass_probabilities.cache_clear)

    p = draw_cohort(c, 20_000, 3)
    assert (p.albumin_g_l.min(), p.albumin_g_l.max()) == (20.0, 30.0)
    assert (p.egfr_ml_min.min(), p.egfr_ml_min.max()) == (50.0, 90.0)
    story = trial_patients(scenario, fates, 0)
    assert np.all((story.albumin_g_l >= 20.0) & (story.albumin_g_l <= 30.0))
    assert np.all((story.egfr_ml_min >= 50.0) & (story.egfr_ml_min <= 90.0))
    # a threshold below the lower bound passes everyone, one above the upper bound no one
    at = {thr: e.model_copy(update={"egfr_min_ml_min": thr}) for thr in (3.0, 45.0, 95.0)}
    demography = {thr: probabilities.pass_probabilities(c, rules).demography for thr, rules in at.items()}
    assert demography[45.0] == demography[3.0] > 0.0
    assert demography[95.0] == 0.0
    bound = {thr: feasibility.screen_lower_bound(c, rules) for thr, rules in at.items()}
    assert bound[45.0] == bound[3.0] > 0.0 and bound[95.0] == 0.0


@pytest.mark.parametrize("months", [0.25, 1.0, 6.0, 30.0])
def test_the_clock_bounds_invert_the_clocks(params: Cohort, months: float) -> None:
    """The fates defer a candidate by comparing a clock's uniform with the uniform at the rule's
    threshold: that uniform gives back the threshold through the clock's own transform."""
    mean = params.months_since_steroid_mmf_mean
    at = population.exposure_uniform_at(months, 0.2, mean)
    assert population.exposure_months(np.array([at]), 0.2, mean)[0] == pytest.approx(months, rel=1e-12)
    at = population.acei_arb_uniform_at(params, months, 0.1)
    assert population.acei_arb_clock(params, np.array([at]), 0.1)[1][0] == pytest.approx(months, rel=1e-12)
