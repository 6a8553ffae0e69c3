"""The screen as probabilities: who passes, and the covariates of those who do.

A referred patient is *excluded* when they fail a permanent eligibility rule. Only patients
who are not excluded (*candidates*) can ever be randomised, and what a power run needs of an
excluded referral is its referral date: nothing else about it changes a trial. So instead of
drawing every referral's covariates and screening them, the fates (simulate/fates/) split the
Poisson referral process by exact thinning into an excluded process and a candidate process
with rate ``rate x P(candidate)``, and draw covariates for candidates only, from their
distribution *given* that they passed.

This is exact because the cohort (simulate/population/cohort.py) falls into independent groups of
covariates, each screened by its own permanent rules (each criterion names its group:
:data:`simulate.screening.criteria.GROUPS`; :data:`GROUP_PROBABILITIES` has one exact
probability per group):

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
ACEI/ARB reduction integrated in closed form (normal and beta CDFs), by a fixed-order
Gauss-Legendre product rule (:func:`simulate.numerics.gauss_legendre`: the inner limit moves
with the outer variable). The product is P(candidate). Every threshold is read through its
criterion (:meth:`~simulate.screening.criteria.Rule.threshold`), and the closed forms shared
with the feasibility bounds live in :mod:`simulate.screening.closed_forms`. Covariates given a pass are drawn by rejection through the population's own
transforms (:mod:`simulate.population.covariates`, :func:`draw_proteinuria_given_pass`), which is exact
whatever the acceptance rate. The integrals take the distributions' parameters from the same
module, so the probabilities and the draws describe one population.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace

import numpy as np
from scipy import special

from simulate.design import parameters
from simulate.design import scenario as sc
from simulate.numerics import gauss_legendre, integrate
from simulate.population.covariates import (
    collection_errors, collection_sigma, collections, egfr_residual_sd, mean_of_collections, postmenopausal_probability,
    proteinuria_level, proteinuria_lognormal, reduction_beta,
)
from simulate.screening.closed_forms import (
    conditions_pass_probability, egfr_pass_probability, history_pass_probability, reproductive_pass_probability,
)
from simulate.screening.criteria import BY_NAME, GROUPS, flag_fraction
from simulate.seeding import stream

__all__ = ["GROUP_PROBABILITIES", "PassProbabilities", "beta_cdf", "draw_proteinuria_given_pass",
           "exact_pass_probabilities", "pass_probabilities"]

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
    """P(the demography group passes): an integral over age of the reproductive and eGFR rules'
    chances given age (:mod:`simulate.screening.closed_forms`), over the eligible ages."""
    age = BY_NAME["age"]
    lo = max(c.age_min_years, age.threshold(e, ">="))
    hi = min(c.age_max_years, age.threshold(e, "<="))
    if lo >= hi:
        return 0.0
    mass = c.age_range_mass
    slope = c.egfr_change_per_year_of_age_ml_min
    resid = egfr_residual_sd(c)
    thr = BY_NAME["egfr"].threshold(e, ">=")

    def integrand(age: np.ndarray) -> np.ndarray:
        density = np.exp(-0.5 * ((age - c.age_mean_years) / c.age_sd_years) ** 2) / (
            c.age_sd_years * math.sqrt(2 * math.pi) * mass)
        sex_ok = reproductive_pass_probability(c, postmenopausal_probability(c, age))
        return density * sex_ok * egfr_pass_probability(c, e, age, special.ndtr)

    points = [c.menopause_age_mean_years, c.age_mean_years]
    if resid == 0.0 and slope != 0.0 and parameters.EGFR_MIN_ML_MIN < thr <= parameters.EGFR_MAX_ML_MIN:
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
    need = 1.0 - BY_NAME["proteinuria_reduction"].threshold(e, "<=")
    floor = BY_NAME["proteinuria_level"].threshold(e, ">=")

    def level(m: np.ndarray | float) -> np.ndarray | float:
        if floor <= 0.0:
            return np.ones_like(m) if isinstance(m, np.ndarray) else 1.0
        return special.ndtr((mu + np.log(m) - math.log(floor)) / sigma)

    def reduction(m: np.ndarray | float) -> np.ndarray | float:
        return special.betainc(a, b, np.clip(1.0 - need / m, 0.0, 1.0))

    s = collection_sigma(c)
    if s == 0.0:
        return float(level(1.0) * (1.0 >= need)), float(level(1.0) * reduction(1.0))

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
            e1, w1 = gauss_legendre(a_, b_, QUADRATURE_NODES)
            x1 = collection_errors(c, e1)
            rest = 2.0 * need - x1
            with np.errstate(divide="ignore", invalid="ignore"):
                lo = np.where(rest > 0, (np.log(np.where(rest > 0, rest, 1.0)) + 0.5 * s * s) / s, -_TAIL)
            lo = np.clip(lo, -_TAIL, _TAIL)
            e2, w2 = gauss_legendre(lo, _TAIL, QUADRATURE_NODES)
            m = mean_of_collections(x1[:, None], collection_errors(c, e2))
            inner = (w2 * phi(e2) * g(m)).sum(axis=1)
            total += float((w1 * phi(e1) * inner).sum())
        return total

    intolerant = expectation(lambda m: level(m) * (m >= need))
    tolerant = expectation(lambda m: level(m) * reduction(m))
    return intolerant, tolerant


def _proteinuria_group(c: sc.Cohort, e: sc.Eligibility) -> tuple[float, float, float, float]:
    """(P(the proteinuria group passes), P(level and reduction pass | intolerant), the same |
    tolerant, P(intolerant | the group passes)). The blood-pressure rule exempts patients
    intolerant of ACEI/ARB and asks the others for controlled blood pressure (independent)."""
    j_int, j_tol = _proteinuria(c, e)
    bp = BY_NAME["blood_pressure"]
    (exempt,), (controlled,) = bp.exempt, bp.present
    p_int = flag_fraction(c, exempt)
    weight_int = p_int * j_int
    weight_tol = (1.0 - p_int) * flag_fraction(c, controlled) * j_tol
    prot = weight_int + weight_tol
    return prot, j_int, j_tol, weight_int / prot if prot > 0 else 0.0


GROUP_PROBABILITIES = {
    "demography": _demography,
    "conditions": lambda c, e: conditions_pass_probability(c),
    "proteinuria": lambda c, e: _proteinuria_group(c, e)[0],
    "history": history_pass_probability,
}
"""P(pass) of each covariate group of :data:`~simulate.screening.criteria.GROUPS`, as a
function of the cohort and the thresholds."""


def exact_pass_probabilities(cohort: sc.Cohort, rules: sc.Eligibility) -> PassProbabilities:
    """Exact pass probabilities of the screen's groups (computed afresh: a pure function of its
    frozen arguments)."""
    if set(GROUP_PROBABILITIES) != set(GROUPS):
        raise ValueError(f"screen groups {sorted(GROUPS)} but pass probabilities for {sorted(GROUP_PROBABILITIES)}")
    prot, j_int, j_tol, int_given_pass = _proteinuria_group(cohort, rules)
    groups = {g: prot if g == "proteinuria" else f(cohort, rules) for g, f in GROUP_PROBABILITIES.items()}
    return PassProbabilities(**groups, proteinuria_intolerant=j_int, proteinuria_tolerant=j_tol,
                             intolerant_given_pass=int_given_pass)


@functools.lru_cache(maxsize=64)                # frozen models: hashed by value
def pass_probabilities(cohort: sc.Cohort, rules: sc.Eligibility) -> PassProbabilities:
    """:func:`exact_pass_probabilities`, cached per cohort and thresholds."""
    return exact_pass_probabilities(cohort, rules)


# --------------------------------------------------------------------------- sampling given a pass


@dataclass(frozen=True)
class _BetaCdf:
    """P(r <= y) for r ~ beta(a, b), tested against uniforms exactly but fast: a table of the
    CDF on a grid brackets the answer (the CDF is increasing), and only a uniform falling
    between a cell's two bounds (about 1 in a thousand) needs the CDF itself."""

    a: float
    b: float
    table: np.ndarray
    """The CDF at ``cells + 1`` equally spaced points of [0, 1] (read-only)."""

    @property
    def cells(self) -> int:
        return len(self.table) - 1

    def below(self, u: np.ndarray, y: np.ndarray) -> np.ndarray:
        """u <= CDF(y), elementwise (y outside [0, 1] is clipped)."""
        y = np.clip(y, 0.0, 1.0)
        i = np.minimum((y * self.cells).astype(np.intp), self.cells - 1)
        out = u < self.table[i]
        unsure = ~out & (u <= self.table[i + 1])        # a tie with the table decides nothing
        if unsure.any():
            out[unsure] = u[unsure] <= special.betainc(self.a, self.b, y[unsure])
        return out


@lru_cache(maxsize=16)
def beta_cdf(a: float, b: float, cells: int = 4096) -> _BetaCdf:
    """The tabulated beta(a, b) CDF of :class:`_BetaCdf` (cached by its parameters)."""
    table = special.betainc(a, b, np.linspace(0.0, 1.0, cells + 1))
    table.setflags(write=False)
    return _BetaCdf(a, b, table)


def draw_proteinuria_given_pass(cohort: sc.Cohort, rules: sc.Eligibility, intolerant: np.ndarray,
                                seq: np.random.SeedSequence, name: str) -> dict[str, np.ndarray]:
    """The proteinuria group of candidates (one per element of ``intolerant``), given a pass.

    Exact rejection sampling through the population's transforms (simulate/population/covariates.py): a candidate
    draws the true level's normal score ``z`` and the two collection errors; if the level rule
    passes and they are on ACEI/ARB, a uniform ``u`` whose beta quantile is their reduction r.
    They are kept when the level and reduction rules pass: for the reduction rule,
    r <= 1 - (1 - R) / m (m the collections' mean error factor) is u <= I(1 - (1 - R) / m), the
    beta CDF, so r itself is only computed when a patient's story needs it
    (:func:`simulate.population.covariates.acei_arb_reduction`). Blood pressure is then controlled for every tolerant
    candidate.

    Round j draws, from streams ``name/j/...``, one candidate for every slot still open, in
    slot order, and only the candidates that need one draw a reduction uniform. A slot's values
    depend only on the slots before it, so the first n slots get the same values whatever the
    total: the property that keeps common random numbers across designs of different size.

    Returns ``z``, the ``true`` level, collections ``c1`` and ``c2`` and ``u_reduction`` (0 for
    intolerant candidates: r = 0), one per slot.
    """
    c, e = cohort, rules
    cdf = beta_cdf(*reduction_beta(c))
    need = 1.0 - BY_NAME["proteinuria_reduction"].threshold(e, "<=")
    level = BY_NAME["proteinuria_level"]
    n = len(intolerant)
    out = np.empty((len(_GIVEN_PASS), n))
    open_slots = None                                   # round 0: every slot, in slot order
    rnd = 0
    while open_slots is None or len(open_slots):
        if rnd > 100_000:
            raise RuntimeError(f"{name}: rejection sampling did not finish")
        k = n if open_slots is None else len(open_slots)
        # round 0 writes straight into the result; later rounds fill their open slots, so a
        # slot keeps the values of the round that accepts it
        drawn = out if open_slots is None else np.empty((len(_GIVEN_PASS), k))
        tolerant = ~intolerant if open_slots is None else ~intolerant[open_slots]
        ok = _draw_round(c, e, level, cdf, need, tolerant, drawn, seq, f"{name}/{rnd}")
        if open_slots is None:
            open_slots = np.flatnonzero(~ok)
        else:
            for row in range(len(_GIVEN_PASS)):
                out[row, open_slots] = drawn[row]
            open_slots = open_slots[~ok]
        rnd += 1
    return dict(zip(_GIVEN_PASS, out))


_GIVEN_PASS = ("z", "true", "c1", "c2", "u_reduction")
"""The rows of :func:`draw_proteinuria_given_pass`'s draws, in order."""


def _draw_round(c: sc.Cohort, e: sc.Eligibility, level, cdf: _BetaCdf, need: float, tolerant: np.ndarray,
                drawn: np.ndarray, seq: np.random.SeedSequence, name: str) -> np.ndarray:
    """One round of :func:`draw_proteinuria_given_pass` for ``len(tolerant)`` open slots: their
    draws into the rows of ``drawn`` (:data:`_GIVEN_PASS`), and whether each is accepted."""
    k = len(tolerant)
    # slot-major (one triple per slot, in slot order) so a slot's numbers never depend on
    # how many slots come after it; then one row per variate, for contiguous arithmetic
    normals = np.ascontiguousarray(stream(seq, f"{name}/normals").standard_normal((k, 3)).T)
    drawn[0] = normals[0]
    drawn[1] = proteinuria_level(c, normals[0])
    factors = collection_errors(c, normals[1:])
    m = mean_of_collections(factors[0], factors[1])
    drawn[2:4] = collections(drawn[1], factors)
    measured = SimpleNamespace(proteinuria_mean_g_day=mean_of_collections(drawn[2], drawn[3]))
    ok = level.passes(measured, e)                                 # the level rule, as the screen applies it
    ok &= (m >= need) | tolerant                                   # intolerant: r = 0
    needs = np.flatnonzero(ok & tolerant)
    u = stream(seq, f"{name}/reduction").random(len(needs))
    drawn[4] = 0.0
    drawn[4, needs] = u
    ok[needs] = cdf.below(u, 1.0 - need / m[needs])
    return ok
