"""The referred population: how each covariate is made from its uniforms and normals.

Every covariate group has one transform here, a small pure function of the random numbers it
needs and the scenario's ``[cohort]`` parameters. Three callers feed them, each from its own
random numbers: the screened cohort (:func:`simulate.population.cohort.draw_cohort`, one named stream per
covariate), the fates (the candidates' clocks and the pool's proteinuria and anti-PLA2R, see
:mod:`simulate.fates`) and the story of one trial (:mod:`simulate.engines.story`). So a change to a
covariate's distribution is a change here and nowhere else. The exact screen probabilities
(:mod:`simulate.screening.probabilities`) integrate over these distributions and take their parameters from
the helpers here (:func:`proteinuria_lognormal`, :func:`reduction_beta`,
:func:`collection_sigma`, :func:`egfr_centre`, ...).

Clocks (months since a drug, months on ACEI/ARB) are exponential: ``mean x e`` for a standard
exponential ``e``. The cohort draws ``e`` directly; the fates carve it, with the yes/no that
goes with it, out of one uniform (:func:`exposure_months`, :func:`acei_arb_clock`), and compare
that uniform with the bound below which a rule fails (:func:`exposure_uniform_at`,
:func:`acei_arb_uniform_at`), so only the deferred need a logarithm.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from simulate.design import parameters
from simulate.design import scenario as sc

from simulate.design.parameters import (  # noqa: F401 - the parameters are part of the population's vocabulary
    collection_sigma, egfr_centre, egfr_residual_sd, proteinuria_lognormal, reduction_beta,
)


# --------------------------------------------------------------------------- parameterisations


def correlated_normal(z: np.ndarray, rho: float, normal: np.ndarray) -> np.ndarray:
    """A standard normal with correlation ``rho`` to the standard normal ``z``."""
    return rho * z + math.sqrt(1.0 - rho**2) * normal


# --------------------------------------------------------------------------- demography


def age_years(c: sc.Cohort, u: np.ndarray) -> np.ndarray:
    """Age: normal(mean, sd) truncated to [min, max] by the exact inverse CDF of uniforms ``u``.
    A range above the mean is drawn by the mirror image from the upper tail, where Phi's
    complement keeps its precision (Phi itself would round to 1 there)."""
    lo, hi = ((x - c.age_mean_years) / c.age_sd_years for x in (c.age_min_years, c.age_max_years))
    if lo > 0:
        a, b = special.ndtr(-lo), special.ndtr(-hi)
        return c.age_mean_years - c.age_sd_years * special.ndtri(a - (a - b) * u)
    a, b = special.ndtr(lo), special.ndtr(hi)
    return c.age_mean_years + c.age_sd_years * special.ndtri(a + (b - a) * u)


def postmenopausal_probability(c: sc.Cohort, age: np.ndarray | float) -> np.ndarray | float:
    """P(a woman of this age is past her natural menopause): Phi((age - mean) / sd)."""
    return special.ndtr((age - c.menopause_age_mean_years) / c.menopause_age_sd_years)


def reproductive_status(c: sc.Cohort, male: np.ndarray, age: np.ndarray,
                        u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(post-menopausal, contraception or sterile, pregnant or breast feeding) from three rows
    of uniforms ``u``; the last two only among pre-menopausal women."""
    post = ~male & (u[0] < postmenopausal_probability(c, age))
    premenopausal_woman = ~male & ~post
    contraception = premenopausal_woman & (u[1] < c.contraception_or_sterile_fraction)
    pregnant = premenopausal_woman & (u[2] < c.pregnant_or_breastfeeding_fraction)
    return post, contraception, pregnant


def egfr(c: sc.Cohort, age: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """eGFR: its age line plus a normal residual, clipped to the physiological range
    [EGFR_MIN_ML_MIN, EGFR_MAX_ML_MIN] of :mod:`simulate.design.parameters` (read at each call)."""
    return np.clip(egfr_centre(c, age) + egfr_residual_sd(c) * normal, parameters.EGFR_MIN_ML_MIN,
                   parameters.EGFR_MAX_ML_MIN)


# --------------------------------------------------------------------------- proteinuria


def proteinuria_level(c: sc.Cohort, z: np.ndarray) -> np.ndarray:
    """The current true 24-h proteinuria of normal scores ``z`` (g/day)."""
    mu, sigma = proteinuria_lognormal(c)
    return np.exp(mu + sigma * z)


def collection_errors(c: sc.Cohort, normals: np.ndarray) -> np.ndarray:
    """Multiplicative errors (mean one) of 24-h collections, one per standard normal."""
    s = collection_sigma(c)
    return np.exp(s * normals - 0.5 * s * s)


def collections(level: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """The 24-h collections: the true level times each collection's error."""
    return level * errors


def mean_of_collections(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The mean of the two 24-h collections (what the registered criterion measures)."""
    return 0.5 * (first + second)


def acei_arb_reduction(c: sc.Cohort, u: np.ndarray) -> np.ndarray:
    """The fall of proteinuria on ACEI/ARB as the beta quantile of uniforms ``u`` (u = 0: none)."""
    return special.betaincinv(*reduction_beta(c), u)


def draw_acei_arb_reduction(c: sc.Cohort, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` falls of proteinuria on ACEI/ARB from numpy's beta sampler (how the cohort's own
    stream draws them; the fates keep a uniform and take :func:`acei_arb_reduction`)."""
    return rng.beta(*reduction_beta(c), n)


def proteinuria_baseline(level: np.ndarray, reduction: np.ndarray) -> np.ndarray:
    """The pre-ACEI/ARB baseline of a current level that ACEI/ARB lowered by ``reduction``."""
    return level / (1.0 - reduction)


# --------------------------------------------------------------------------- correlates of proteinuria


def albumin(c: sc.Cohort, z: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Serum albumin (g/L): normal, correlated with the proteinuria score ``z``, clipped to
    [ALBUMIN_MIN_G_L, ALBUMIN_MAX_G_L] of :mod:`simulate.design.parameters` (read at each call)."""
    za = correlated_normal(z, c.albumin_log_proteinuria_correlation, normal)
    return np.clip(c.albumin_mean_g_l + c.albumin_sd_g_l * za, parameters.ALBUMIN_MIN_G_L, parameters.ALBUMIN_MAX_G_L)


def pla2r(c: sc.Cohort, z: np.ndarray, u_positive: np.ndarray, u_negative: np.ndarray,
          normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positive, titre RU/mL). Positive when ``u_positive`` < the positive fraction; then the log
    titre is normal, correlated with the proteinuria score ``z``, and at least the positivity
    threshold. Negatives have a titre uniform below the threshold (``u_negative``)."""
    positive = u_positive < c.pla2r_positive_fraction
    zt = correlated_normal(z, c.pla2r_log_titre_log_proteinuria_correlation, normal)
    threshold = c.pla2r_positive_threshold_ru_ml
    titre_positive = np.maximum(np.exp(np.log(c.pla2r_titre_median_ru_ml) + c.pla2r_titre_log_sd * zt), threshold)
    return positive, np.where(positive, titre_positive, u_negative * threshold)


# --------------------------------------------------------------------------- clocks and history


def months_on_acei_arb(c: sc.Cohort, intolerant: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Months on ACEI/ARB at referral: exponential with mean ``months_on_acei_arb_mean`` (from
    standard exponentials ``e``); 0 for patients intolerant of them."""
    return np.where(intolerant, 0.0, c.months_on_acei_arb_mean * e)


def acei_arb_clock(c: sc.Cohort, u: np.ndarray, p_intolerant: float) -> tuple[np.ndarray, np.ndarray]:
    """(intolerant, months on ACEI/ARB) from one uniform each: intolerant when u < p; otherwise
    (1 - u) / (1 - p) is uniform, and minus its log a standard exponential."""
    intolerant = u < p_intolerant
    with np.errstate(divide="ignore", invalid="ignore"):
        e = -np.log((1.0 - u) / (1.0 - p_intolerant))
    return intolerant, months_on_acei_arb(c, intolerant, e)


def acei_arb_uniform_at(c: sc.Cohort, months: float, p_intolerant: float) -> float:
    """The uniform of :func:`acei_arb_clock` at which a tolerant patient has been on ACEI/ARB
    for ``months``: fewer months iff p <= u < this."""
    return p_intolerant + (1.0 - p_intolerant) * -np.expm1(-months / c.months_on_acei_arb_mean)


def months_since(exposed: np.ndarray, e: np.ndarray, mean_months: float) -> np.ndarray:
    """Months since the last dose of a drug: exponential with mean ``mean_months`` (from
    standard exponentials ``e``) for the exposed, inf for the never exposed."""
    return np.where(exposed, mean_months * e, np.inf)


def exposure_months(u: np.ndarray, fraction: float, mean_months: float) -> np.ndarray:
    """:func:`months_since` from one uniform each: exposed when u < fraction; then u / fraction
    is uniform, and minus its log a standard exponential."""
    with np.errstate(divide="ignore", invalid="ignore"):
        e = -np.log(u / fraction)
    return months_since(u < fraction, e, mean_months)


def exposure_uniform_at(months: float, fraction: float, mean_months: float) -> float:
    """The uniform of :func:`exposure_months` at which the last dose was ``months`` ago: at most
    that long ago iff this <= u < fraction."""
    return fraction * np.exp(-months / mean_months)


def prior_relapse(c: sc.Cohort, u_relapsed: np.ndarray, u_drug: np.ndarray,
                  u_months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(drug, months off it at relapse) of an earlier remission followed by relapse: drug is an
    index into :data:`simulate.population.cohort.RELAPSE_DRUGS` (0 = none, months NaN), months exponential."""
    relapsed = u_relapsed < c.prior_relapse_fraction
    cut1 = c.prior_relapse_drug_cni_fraction
    cut2 = cut1 + c.prior_relapse_drug_rtx_fraction
    drug = np.where(u_drug < cut1, 1, np.where(u_drug < cut2, 2, 3))
    drug = np.where(relapsed, drug, 0).astype(np.int8)
    months_off = np.where(relapsed, -c.months_off_drug_at_relapse_mean * np.log1p(-u_months), np.nan)
    return drug, months_off
