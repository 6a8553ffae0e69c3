"""The fates' screen on uniforms: deferral of candidates from one uniform per clock.

The fates (:mod:`simulate.fates.referrals`) keep each candidate's clocks (months on ACEI/ARB,
months since steroid/MMF and since alkylating agents) as one uniform each, in the rows of
``u_clocks`` named by :data:`CLOCKS`. The transforms of :mod:`simulate.population.covariates` turn a
uniform into months; each clock reads monotonically in its uniform, so a time-dependent rule of
:mod:`simulate.screening.criteria` fails exactly on an interval of uniforms, found from the
uniform at the rule's threshold, and only the deferred need their months computed. A clock that
is not running (never exposed to the drug; intolerant of ACEI/ARB, whom the run-in exempts)
meets its rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from simulate.design import scenario as sc
from simulate.population.covariates import acei_arb_clock, acei_arb_uniform_at, exposure_months, exposure_uniform_at
from simulate.screening.criteria import RULES

__all__ = ["CLOCKS", "UniformClock", "clock_of", "defer_on_uniforms"]

CLOCKS = ("months_on_acei_arb", "months_since_steroid_mmf", "months_since_alkylating")
"""The candidates' clocks, in the order of the rows of ``u_clocks``."""


@dataclass(frozen=True)
class UniformClock:
    """A clock made from one uniform each: it runs for uniforms in [start, stop) and reads
    ``months(u)`` there, rising with u or falling."""

    start: float
    stop: float
    rising: bool
    months: Callable[[np.ndarray], np.ndarray]
    uniform_at: Callable[[float], float]
    """The uniform at which the clock reads the given months."""

    def below(self, u: np.ndarray, months: float, strict: bool) -> np.ndarray:
        """Whether the clock runs and reads less than ``months`` (at most, if not ``strict``)."""
        at = self.uniform_at(months)
        running = (u >= self.start) & (u < self.stop)
        if self.rising:
            return running & ((u < at) if strict else (u <= at))
        return running & ((u > at) if strict else (u >= at))


def clock_of(cohort: sc.Cohort, measure: str, p_intolerant: float) -> UniformClock:
    """The clock of a covariate of :data:`CLOCKS`. ``p_intolerant``: the candidates' chance of
    ACEI/ARB intolerance (given a pass), the uniforms below which the ACEI/ARB clock is stopped."""
    if measure == "months_on_acei_arb":
        return UniformClock(p_intolerant, np.inf, True, lambda u: acei_arb_clock(cohort, u, p_intolerant)[1],
                            lambda months: acei_arb_uniform_at(cohort, months, p_intolerant))
    drug = measure.removeprefix("months_since_")
    if measure not in CLOCKS:
        raise ValueError(f"clock_of: got {measure!r}; must be one of {CLOCKS}")
    fraction, mean = getattr(cohort, f"prior_{drug}_fraction"), getattr(cohort, f"months_since_{drug}_mean")
    return UniformClock(-np.inf, fraction, False, lambda u: exposure_months(u, fraction, mean),
                        lambda months: exposure_uniform_at(months, fraction, mean))


def defer_on_uniforms(cohort: sc.Cohort, rules: sc.Eligibility, u_clocks: np.ndarray,
                      p_intolerant: float) -> tuple[np.ndarray, np.ndarray]:
    """(months from screening until each candidate qualifies, the index of their first failing
    rule in CONSORT order or -1) from the candidates' clock uniforms (rows as :data:`CLOCKS`).

    The time-dependent rules are taken in reverse CONSORT order, so the first failing rule is
    written last; a candidate waits for the longest of their rules' waits. As in the cohort's
    screen, a rule failed at the exact threshold (a strict ">") qualifies straight after
    screening, recorded as a tiny positive wait."""
    n = u_clocks.shape[1]
    wait = np.zeros(n)
    first = np.full(n, -1, dtype=np.int8)
    for index in reversed(range(len(RULES))):
        rule = RULES[index]
        if not rule.time_dependent:
            continue
        bound = rule.clock
        clock = clock_of(cohort, bound.measure, p_intolerant)
        u = u_clocks[CLOCKS.index(bound.measure)]
        threshold = bound.value(rules)
        fail = np.flatnonzero(clock.below(u, threshold, strict=bound.op == ">="))
        wait[fail] = np.maximum(wait[fail], threshold - clock.months(u[fail]))   # only the deferred need months
        first[fail] = index
    np.putmask(wait, (first >= 0) & (wait == 0.0), np.finfo(float).tiny)
    return wait, first
