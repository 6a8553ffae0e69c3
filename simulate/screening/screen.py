"""The cohort's screen: every rule of :mod:`simulate.screening.criteria` applied to drawn patients.

:func:`screen` reports, for each patient, which rules pass, the first failing rule in CONSORT
order and how many months from screening until they would qualify (0 = eligible now, inf =
excluded), so the trial engine can let deferred patients come back. A patient failing only
time-dependent rules is *deferred*: each such rule's wait is the time its clock needs to reach
its threshold, and the patient waits for the longest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulate.design import scenario as sc
from simulate.population.cohort import Patients
from simulate.screening.criteria import RULE_NAMES, RULES, Rule

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PERMANENT", "Screening", "screen", "screen_referrals", "wait_months"]

PERMANENT = np.array([not r.time_dependent for r in RULES])
"""Boolean per rule (in :data:`~simulate.screening.criteria.RULES` order): failing it excludes."""
PERMANENT.setflags(write=False)


def wait_months(rule: Rule, patients: Patients, e: sc.Eligibility) -> np.ndarray:
    """Months from screening until a time-dependent rule is met: its threshold less its clock's
    reading (0 once met, and for patients the rule exempts)."""
    bound = rule.clock
    wait = np.maximum(bound.value(e) - getattr(patients, bound.measure), 0.0)
    for flag in rule.exempt:
        wait = np.where(getattr(patients, flag), 0.0, wait)
    return wait


@dataclass(frozen=True)
class Screening:
    """The outcome of screening N patients against every rule."""

    passes: np.ndarray
    """Boolean (n_rules, N): rule r passed by patient i (rules in CONSORT order)."""
    first_failure: np.ndarray
    """Index of the first failing rule in CONSORT order, -1 if none fails."""
    qualifies_in_months: np.ndarray
    """0 = eligible now; > 0 = deferred, eligible after this many months; inf = excluded."""
    rules: sc.Eligibility
    """The thresholds the patients were screened against."""

    @property
    def eligible_now(self) -> np.ndarray:
        return self.qualifies_in_months == 0.0

    @property
    def deferred(self) -> np.ndarray:
        return np.isfinite(self.qualifies_in_months) & (self.qualifies_in_months > 0.0)

    @property
    def excluded(self) -> np.ndarray:
        return np.isinf(self.qualifies_in_months)

    @property
    def first_failure_name(self) -> np.ndarray:
        names = np.asarray(RULE_NAMES + ("",), dtype=object)
        return names[self.first_failure]

    def funnel(self) -> pd.DataFrame:
        """One row per rule in CONSORT order.

        ``failing``: patients failing the rule (whatever else they fail); ``excluded``: patients
        excluded with this rule as their first failing permanent rule; ``deferred``: patients
        whose first failing rule is this time-dependent one and who fail no permanent rule;
        ``remaining``: patients still in after this step. Summed, excluded + deferred + eligible
        now = screened.
        """
        import pandas as pd

        n = self.passes.shape[1]
        counts = np.bincount(self.first_failure[self.first_failure >= 0], minlength=len(RULES))
        rows, remaining = [], n
        for i, rule in enumerate(RULES):
            k = int(counts[i])
            remaining -= k
            rows.append({
                "criterion": rule.name,
                "description": rule.describe(self.rules),
                "exclusion": rule.describe_failure(self.rules),
                "kind": "time-dependent" if rule.time_dependent else "permanent",
                "failing": int(n - self.passes[i].sum()),
                "excluded": 0 if rule.time_dependent else k,
                "deferred": k if rule.time_dependent else 0,
                "remaining": remaining,
            })
        return pd.DataFrame(rows)

    def summary(self) -> dict:
        """The funnel as a plain dict (what ``trialsim cohort --json`` prints)."""
        f = self.funnel()
        return {
            "screened": int(self.passes.shape[1]),
            "eligible": int(self.eligible_now.sum()),
            "deferred": int(self.deferred.sum()),
            "excluded": int(self.excluded.sum()),
            "funnel": [
                {"criterion": r.criterion, "excluded": int(r.excluded), "deferred": int(r.deferred),
                 "failing": int(r.failing), "kind": r.kind}
                for r in f.itertuples()
            ],
        }


def screen(patients: Patients, rules: sc.Eligibility) -> Screening:
    """Apply every registered rule to every patient (vectorised)."""
    n = len(patients)
    passes = np.empty((len(RULES), n), dtype=bool)
    for i, rule in enumerate(RULES):
        passes[i] = rule.passes(patients, rules)
    fails = ~passes
    any_fail = fails.any(axis=0)
    first = np.where(any_fail, fails.argmax(axis=0), -1)
    excluded = fails[PERMANENT].any(axis=0)
    wait = np.zeros(n)
    for i, rule in enumerate(RULES):
        if rule.time_dependent:
            wait = np.maximum(wait, np.where(fails[i], wait_months(rule, patients, rules), 0.0))
    qualifies = np.where(excluded, np.inf, wait)
    # a time-dependent rule failed at the exact threshold (strict >) still needs "no more" wait:
    # such patients qualify immediately after screening, recorded as a tiny positive wait
    qualifies = np.where(~excluded & any_fail & (qualifies == 0.0), np.finfo(float).tiny, qualifies)
    return Screening(passes=passes, first_failure=first, qualifies_in_months=qualifies, rules=rules)


def screen_referrals(scenario: sc.Scenario, n: int, seed: int) -> tuple[Patients, Screening]:
    """Draw ``n`` referred patients from the seed's cohort stream and screen them."""
    from simulate.population.cohort import draw_cohort
    from simulate.seeding import child_sequence, root_sequence

    patients = draw_cohort(scenario.cohort, n, child_sequence(root_sequence(seed), "cohort"))
    return patients, screen(patients, scenario.eligibility)
