"""Can the scenario be simulated as written? Quick sufficient conditions, exact answers when needed.

Two contradictions are invisible to the field validators: an arm's remission rate that the relapse
model cannot reach (relapse before the endpoint caps the share in remission at q_a, see
:mod:`simulate.population.outcomes`), and a screen that (almost) no referred patient passes (see
:mod:`simulate.screening.probabilities`). Both are decided exactly by numerical integration, which needs scipy
(about half a second to import). Checking a scenario should be instant, so each check first tries
a lower bound computed from closed forms with :mod:`math` alone: when the bound already clears
the requirement the scenario is feasible and nothing more is computed; otherwise the exact value
decides (:func:`simulate.design.loader.feasibility_problems`). The bounds are proved in their
docstrings and tested against the exact values. The screen's bounds read each threshold through
its criterion (:mod:`simulate.screening.criteria`) and share the closed forms of
:mod:`simulate.screening.closed_forms` with the exact probabilities.
"""

from __future__ import annotations

import math

from simulate.design import parameters
from simulate.design import scenario as sc
from simulate.screening.closed_forms import (
    conditions_pass_probability, egfr_pass_probability, history_pass_probability, reproductive_pass_probability,
)
from simulate.screening.criteria import BY_NAME, flag_fraction

MIN_CANDIDATE_PROBABILITY = 5e-4
"""Below this share of referrals passing the screen a scenario is rejected as contradictory."""


def _phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# --------------------------------------------------------------------------- remission


def remission_lower_bound(scenario: sc.Scenario, name: str) -> float:
    """A lower bound of q_a = E[exp(-(H(E) - H(T)))], the chance a responder of arm ``name`` is
    still in remission at the endpoint E (T the time to first remission, H the cumulative relapse
    hazard); 0 when the time to remission is itself impossible.

    By Jensen's inequality q_a >= exp(-(H(E) - E[H(T)])); H is non-negative and increasing and
    T exceeds its median M with probability one half, so E[H(T)] >= H(M) / 2.
    """
    end = scenario.trial.endpoint_month
    median = scenario.arm(name).median_months_to_remission
    limit = parameters.truncated_weibull_median_limit(end, scenario.outcome.weibull_shape_time_to_remission)
    if median >= limit * (1 - 1e-9):
        return 0.0                        # no truncated Weibull has this median: the exact check says why
    hazards = parameters.relapse_hazards(scenario, name)
    h_end = parameters.cumulative_relapse_hazard(*hazards, float(end))
    return math.exp(-(h_end - 0.5 * parameters.cumulative_relapse_hazard(*hazards, float(median))))


# --------------------------------------------------------------------------- the screen


def _demography_lower_bound(c: sc.Cohort, e: sc.Eligibility) -> float:
    """P(age, pregnancy, contraception and eGFR rules pass) >= P(eligible age) x the smallest,
    over eligible ages, chance of passing the sex-specific rules x the smallest chance of the eGFR
    rule: both chances are monotone in age, so their minima sit at the ends of the age range."""
    age = BY_NAME["age"]
    lo = max(c.age_min_years, age.threshold(e, ">="))
    hi = min(c.age_max_years, age.threshold(e, "<="))
    if lo >= hi:
        return 0.0
    p_age = c.age_mass(lo, hi) / c.age_range_mass
    post = _phi((lo - c.menopause_age_mean_years) / c.menopause_age_sd_years)   # rises with age
    sex_ok = reproductive_pass_probability(c, post)
    return p_age * sex_ok * min(egfr_pass_probability(c, e, lo, _phi), egfr_pass_probability(c, e, hi, _phi))


def _proteinuria_lower_bound(c: sc.Cohort, e: sc.Eligibility) -> float:
    """P(level, reduction and blood-pressure rules pass), bounded below.

    With X1, X2 the collections' error factors (lognormal, mean one), m = (X1 + X2) / 2 >= t when
    both are, so P(m >= t) >= P(X >= t)^2. For a tolerant patient the rules pass when m >= t,
    r <= r0 and the true level >= T / t, for any r0 with t (1 - r0) >= 1 - R: independent
    events, and P(r <= r0) >= 1 - E[r] / r0 (Markov). Intolerant patients (r = 0) pass when
    m >= t >= 1 - R and the true level >= T / t. The best of a few t is kept.
    """
    mu, sigma = parameters.proteinuria_lognormal(c)
    s = parameters.collection_sigma(c)
    need = 1.0 - BY_NAME["proteinuria_reduction"].threshold(e, "<=")
    floor = BY_NAME["proteinuria_level"].threshold(e, ">=")

    def both_at_least(t: float) -> float:
        if s == 0.0:
            return float(t <= 1.0)
        return _phi(-(math.log(t) + 0.5 * s * s) / s) ** 2

    def level_given(t: float) -> float:
        return 1.0 if floor <= 0 else _phi((mu - math.log(floor / t)) / sigma)

    mean_r = c.acei_arb_reduction_mean_fraction
    tolerant = intolerant = 0.0
    for t in (0.5, 0.7, 0.85, 1.0, 1.2, 1.5):
        if t >= need:
            intolerant = max(intolerant, both_at_least(t) * level_given(t))
        r0 = 1.0 - need / t
        if r0 > mean_r:
            tolerant = max(tolerant, both_at_least(t) * (1.0 - mean_r / r0) * level_given(t))
    p_int = flag_fraction(c, "acei_arb_intolerant")
    return p_int * intolerant + (1.0 - p_int) * flag_fraction(c, "bp_controlled") * tolerant


def screen_lower_bound(cohort: sc.Cohort, rules: sc.Eligibility) -> float:
    """A lower bound of P(a referral passes every permanent rule): the groups of covariates are
    independent (see :mod:`simulate.screening.probabilities`), so the product of their bounds
    bounds it; the conditions and history groups are exact closed forms."""
    return (_demography_lower_bound(cohort, rules) * conditions_pass_probability(cohort)
            * _proteinuria_lower_bound(cohort, rules) * history_pass_probability(cohort, rules))
