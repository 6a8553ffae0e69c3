"""The screen as probabilities: who passes, and the covariates of those who do.

A referred patient is *excluded* when they fail a permanent eligibility rule. Only patients
who are not excluded (*candidates*) can ever be randomised, and what a power run needs of an
excluded referral is its referral date: nothing else about it changes a trial. So instead of
drawing every referral's covariates and screening them, the fates (simulate/fates/) split the
Poisson referral process by exact thinning into an excluded process and a candidate process
with rate ``rate x P(candidate)``, and draw covariates for candidates only, from their
distribution *given* that they passed.

This is exact because the cohort (simulate/cohort.py) falls into independent groups of
covariates, each screened by its own permanent rules (see :data:`GROUPS`):

* **demography**: age, sex, menopause, contraception, pregnancy and eGFR (eGFR depends on age);
* **conditions**: a secondary cause, active infection and diabetes (independent Bernoullis);
* **proteinuria**: the true level, the two 24-h collections, the ACEI/ARB reduction, ACEI/ARB
  intolerance and blood pressure control;
* **history**: resistance to earlier treatments and an earlier remission with relapse.

Washout and ACEI/ARB run-in times are time-dependent rules (deferral, never exclusion), so a
candidate's exposure times and months on ACEI/ARB keep their unconditional distribution, except
that intolerance, which the blood-pressure and reduction rules read, is drawn given a pass.

The probability of passing each group is computed by numerical integration to about 1e-12:
closed forms for conditions and history, a one-dimensional integral over age for demography,
and for proteinuria an integral over the two collection errors with the level and the
ACEI/ARB reduction integrated in closed form (normal and beta CDFs). The product is
P(candidate). Covariates given a pass are drawn by rejection through the population's own
transforms (:mod:`simulate.population`, :func:`draw_proteinuria_given_pass`), which is exact
whatever the acceptance rate. The integrals take the distributions' parameters from the same
module, so the probabilities and the draws describe one population.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from simulate import population
from simulate import scenario as sc
from simulate.eligibility import TIME_RULES
from simulate.population import (
    collection_errors, collections, egfr_centre, egfr_residual_sd,
    mean_of_collections, postmenopausal_probability, proteinuria_level, proteinuria_lognormal, reduction_beta,
)
from simulate.feasibility import conditions_pass_probability, history_pass_probability
from simulate.numerics import integrate
from simulate.seeding import stream

__all__ = ["GROUPS", "TIME_RULES", "PassProbabilities", "pass_probabilities",
           "draw_proteinuria_given_pass"]

GROUPS: dict[str, tuple[str, ...]] = {
    "demography": ("age", "not_pregnant", "contraception", "egfr"),
    "conditions": ("idiopathic", "no_active_infection", "no_diabetes"),
    "proteinuria": ("proteinuria_level", "proteinuria_reduction", "blood_pressure"),
    "history": ("no_prior_resistance",),
}
"""Which permanent rules screen which independent group of covariates (the time-dependent
rules, :data:`TIME_RULES`, defer and never exclude)."""

QUADRATURE_NODES = 160
"""Gauss-Legendre nodes per dimension and piece for the proteinuria integral."""
_TAIL = 12.0
"""Standard-normal scores beyond +-12 carry less than 1e-32 of the mass: integration bounds."""


@dataclass(frozen=True)
class PassProbabilities:
    """P(pass) of each group of permanent rules for one cohort and one set of thresholds."""

    demography: float
    conditions: float
    proteinuria: float
    history: float
    proteinuria_intolerant: float
    """P(level and reduction rules pass | intolerant of ACEI/ARB) (no reduction: r = 0)."""
    proteinuria_tolerant: float
    """P(level and reduction rules pass | on ACEI/ARB) (blood pressure apart)."""
    intolerant_given_pass: float
    """P(intolerant of ACEI/ARB | the proteinuria group passes)."""

    @property
    def candidate(self) -> float:
        """P(a referral passes every permanent rule): the thinning probability."""
        return self.demography * self.conditions * self.proteinuria * self.history


def _demography(c: sc.Cohort, e: sc.Eligibility) -> float:
    lo, hi = max(c.age_min_years, e.age_min_years), min(c.age_max_years, e.age_max_years)
    if lo >= hi:
        return 0.0
    mass = c.age_range_mass
    slope = c.egfr_change_per_year_of_age_ml_min
    resid = egfr_residual_sd(c)
    thr = e.egfr_min_ml_min  # eGFR is clipped: a threshold outside its range decides alone
    women_ok = c.contraception_or_sterile_fraction * (1.0 - c.pregnant_or_breastfeeding_fraction)

    def egfr_ok(age: np.ndarray) -> np.ndarray:
        if thr <= population.EGFR_MIN_ML_MIN:
            return np.ones_like(age)
        if thr > population.EGFR_MAX_ML_MIN:
            return np.zeros_like(age)
        centre = egfr_centre(c, age)
        if resid == 0.0:
            return (centre >= thr).astype(float)
        return special.ndtr((centre - thr) / resid)

    def integrand(age: np.ndarray) -> np.ndarray:
        density = np.exp(-0.5 * ((age - c.age_mean_years) / c.age_sd_years) ** 2) / (
            c.age_sd_years * math.sqrt(2 * math.pi) * mass)
        post = postmenopausal_probability(c, age)
        sex_ok = c.male_fraction + (1.0 - c.male_fraction) * (post + (1.0 - post) * women_ok)
        return density * sex_ok * egfr_ok(age)

    points = [c.menopause_age_mean_years, c.age_mean_years]
    if resid == 0.0 and slope != 0.0 and population.EGFR_MIN_ML_MIN < thr <= population.EGFR_MAX_ML_MIN:
        points.append(c.age_mean_years + (thr - c.egfr_mean_ml_min) / slope)
    return integrate(integrand, lo, hi, points=tuple(points), epsabs=1e-14, epsrel=1e-12)


def _proteinuria(c: sc.Cohort, e: sc.Eligibility) -> tuple[float, float]:
    """(P(pass | intolerant), P(pass | tolerant)) of the level and reduction rules.

    With m the mean of the two collections' error factors (mean one each), the level rule is
    ``true * m >= T``: P = Phi((mu + log m - log T) / sigma) over the true level's normal score;
    the reduction rule is ``m * (1 - r) >= 1 - R``: P = I_x(a, b) with x = 1 - (1 - R) / m for
    r ~ beta(a, b), and ``m >= 1 - R`` for intolerant patients (r = 0). What is left is the
    expectation over the two collection errors, integrated numerically.
    """
    mu, sigma = proteinuria_lognormal(c)
    a, b = reduction_beta(c)
    need = 1.0 - e.proteinuria_max_reduction_fraction
    floor = e.proteinuria_min_g_day

    def level(m: np.ndarray | float) -> np.ndarray | float:
        if floor <= 0.0:
            return np.ones_like(m) if isinstance(m, np.ndarray) else 1.0
        return special.ndtr((mu + np.log(m) - math.log(floor)) / sigma)

    def reduction(m: np.ndarray | float) -> np.ndarray | float:
        return special.betainc(a, b, np.clip(1.0 - need / m, 0.0, 1.0))

    s = population.collection_sigma(c)
    if s == 0.0:
        return float(level(1.0) * (1.0 >= need)), float(level(1.0) * reduction(1.0))

    nodes, weights = np.polynomial.legendre.leggauss(QUADRATURE_NODES)

    def on(lo: np.ndarray | float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """Gauss-Legendre nodes and weights on [lo, hi] (lo may be an array: one row each)."""
        lo = np.asarray(lo, dtype=float)[..., None]
        half = 0.5 * (hi - lo)
        return lo + half * (nodes + 1.0), half * weights

    def phi(x: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def expectation(g) -> float:
        # E[g(m)] over e1, e2 ~ N(0, 1), on the region m >= need where g lives. For given e1 the
        # region is e2 >= lo(e1); once the first factor alone reaches 2 * need it is the whole
        # line, so the outer integral is split there (a kink) and each piece is smooth.
        split = (math.log(2.0 * need) + 0.5 * s * s) / s if need > 0 else -_TAIL
        split = min(max(split, -_TAIL), _TAIL)
        total = 0.0
        for a_, b_ in ((-_TAIL, split), (split, _TAIL)):
            if b_ <= a_:
                continue
            e1, w1 = on(a_, b_)
            x1 = collection_errors(c, e1)
            rest = 2.0 * need - x1
            with np.errstate(divide="ignore", invalid="ignore"):
                lo = np.where(rest > 0, (np.log(np.where(rest > 0, rest, 1.0)) + 0.5 * s * s) / s, -_TAIL)
            lo = np.clip(lo, -_TAIL, _TAIL)
            e2, w2 = on(lo, _TAIL)
            m = mean_of_collections(x1[:, None], collection_errors(c, e2))
            inner = (w2 * phi(e2) * g(m)).sum(axis=1)
            total += float((w1 * phi(e1) * inner).sum())
        return total

    intolerant = expectation(lambda m: level(m) * (m >= need))
    tolerant = expectation(lambda m: level(m) * reduction(m))
    return intolerant, tolerant


@functools.lru_cache(maxsize=64)                # frozen models: hashed by value
def pass_probabilities(cohort: sc.Cohort, rules: sc.Eligibility) -> PassProbabilities:
    """Exact pass probabilities of the screen's groups (cached per cohort and thresholds)."""
    return _pass_probabilities(cohort, rules)


def _pass_probabilities(cohort: sc.Cohort, rules: sc.Eligibility) -> PassProbabilities:
    j_int, j_tol = _proteinuria(cohort, rules)
    p_int = cohort.acei_arb_intolerant_fraction
    weight_int = p_int * j_int
    weight_tol = (1.0 - p_int) * cohort.bp_controlled_fraction * j_tol
    prot = weight_int + weight_tol
    return PassProbabilities(
        demography=_demography(cohort, rules), conditions=conditions_pass_probability(cohort), proteinuria=prot,
        history=history_pass_probability(cohort, rules), proteinuria_intolerant=j_int, proteinuria_tolerant=j_tol,
        intolerant_given_pass=weight_int / prot if prot > 0 else 0.0,
    )


# --------------------------------------------------------------------------- sampling given a pass


class _BetaCdf:
    """P(r <= y) for r ~ beta(a, b), tested against uniforms exactly but fast: a table of the
    CDF on a grid brackets the answer (the CDF is increasing), and only a uniform falling
    between a cell's two bounds (about 1 in a thousand) needs the CDF itself."""

    def __init__(self, a: float, b: float, cells: int = 4096):
        self.a, self.b, self.cells = a, b, cells
        self.table = special.betainc(a, b, np.linspace(0.0, 1.0, cells + 1))

    def below(self, u: np.ndarray, y: np.ndarray) -> np.ndarray:
        """u <= CDF(y), elementwise (y outside [0, 1] is clipped)."""
        y = np.clip(y, 0.0, 1.0)
        i = np.minimum((y * self.cells).astype(np.intp), self.cells - 1)
        out = u < self.table[i]
        unsure = ~out & (u < self.table[i + 1])
        if unsure.any():
            out[unsure] = u[unsure] <= special.betainc(self.a, self.b, y[unsure])
        return out


"""The ACEI/ARB reduction r of a pool slot: the beta quantile of its stored uniform."""


def draw_proteinuria_given_pass(cohort: sc.Cohort, rules: sc.Eligibility, intolerant: np.ndarray,
                                seq: np.random.SeedSequence, name: str) -> dict[str, np.ndarray]:
    """The proteinuria group of candidates (one per element of ``intolerant``), given a pass.

    Exact rejection sampling through the population's transforms (simulate/population.py): a candidate
    draws the true level's normal score ``z`` and the two collection errors; if the level rule
    passes and they are on ACEI/ARB, a uniform ``u`` whose beta quantile is their reduction r.
    They are kept when the level and reduction rules pass: for the reduction rule,
    r <= 1 - (1 - R) / m (m the collections' mean error factor) is u <= I(1 - (1 - R) / m), the
    beta CDF, so r itself is only computed when a patient's story needs it
    (:func:`simulate.population.acei_arb_reduction`). Blood pressure is then controlled for every tolerant
    candidate.

    Round j draws, from streams ``name/j/...``, one candidate for every slot still open, in
    slot order, and only the candidates that need one draw a reduction uniform. A slot's values
    depend only on the slots before it, so the first n slots get the same values whatever the
    total: the property that keeps common random numbers across designs of different size.

    Returns ``z``, the ``true`` level, collections ``c1`` and ``c2`` and ``u_reduction`` (0 for
    intolerant candidates: r = 0), one per slot.
    """
    c, e = cohort, rules
    cdf = _beta_cdf(c)
    need = 1.0 - e.proteinuria_max_reduction_fraction
    n = len(intolerant)
    names = ("z", "true", "c1", "c2", "u_reduction")
    out = np.empty((len(names), n))
    open_slots = np.arange(n)
    rnd = 0
    while len(open_slots):
        if rnd > 100_000:
            raise RuntimeError(f"{name}: rejection sampling did not finish")
        # slot-major (one triple per slot, in slot order) so a slot's numbers never depend on
        # how many slots come after it; then one row per variate, for contiguous arithmetic
        k = len(open_slots)
        normals = np.ascontiguousarray(stream(seq, f"{name}/{rnd}/normals").standard_normal((k, 3)).T)
        drawn = np.empty((len(names), k))
        drawn[0] = normals[0]
        drawn[1] = proteinuria_level(c, normals[0])
        factors = collection_errors(c, normals[1:])
        m = mean_of_collections(factors[0], factors[1])
        drawn[2:4] = collections(drawn[1], factors)
        ok = mean_of_collections(drawn[2], drawn[3]) >= e.proteinuria_min_g_day       # as the screen computes it
        tol = ~intolerant[open_slots]
        ok &= (m >= need) | tol                                   # intolerant: r = 0
        needs = np.flatnonzero(ok & tol)
        u = stream(seq, f"{name}/{rnd}/reduction").random(len(needs))
        drawn[4] = 0.0
        drawn[4, needs] = u
        ok[needs] = cdf.below(u, 1.0 - need / m[needs])
        kept = np.flatnonzero(ok)
        out[:, open_slots[kept]] = drawn[:, kept]
        open_slots = open_slots[~ok]
        rnd += 1
    return dict(zip(names, out))


def _beta_cdf(c: sc.Cohort) -> _BetaCdf:
    return _beta_cdf_of(*reduction_beta(c))


@functools.lru_cache(maxsize=16)
def _beta_cdf_of(a: float, b: float) -> _BetaCdf:
    return _BetaCdf(a, b)
