"""The registered eligibility criteria of NCT04743739 as named rules.

Each rule is a small function of the patients and the scenario's ``[eligibility]`` thresholds
returning a boolean "passes" array. Rules are listed in CONSORT order: permanent exclusions
first, then the time-dependent rules (washout, ACEI/ARB run-in) that a patient can meet later by
waiting. A patient failing only time-dependent rules is *deferred*; :func:`screen` reports, for
each patient, how many months from screening until they would qualify (0 = eligible now,
inf = excluded), so the trial engine can let deferred patients come back.

Boundaries are as registered:

========================  ==========================================================  =========
rule                      passes when                                                 kind
========================  ==========================================================  =========
age                       age_min <= age <= age_max (18-80 years)                     permanent
idiopathic                no secondary cause of MN                                    permanent
no_active_infection       no active infection                                         permanent
no_diabetes               no diabetes mellitus                                        permanent
not_pregnant              not pregnant or breast feeding                              permanent
contraception             men; women post-menopausal, sterile or using contraception  permanent
proteinuria_level         mean of the two 24-h collections >= 4 g/24h                 permanent
proteinuria_reduction     fall from the pre-ACEI/ARB baseline <= 50%                  permanent
egfr                      eGFR >= 40 mL/min/1.73 m2                                   permanent
blood_pressure            ACEI/ARB-intolerant, or blood pressure controlled           permanent
no_prior_resistance       no resistance to CNI, RTX or alkylating agents; an earlier  permanent
                          remission with relapse counts as resistance unless the
                          relapse came > 3 months off a CNI or > 6 months off RTX or
                          an alkylating agent (the registered exception)
washout_steroid_mmf       off steroid / MMF for > 1 month                             time
washout_alkylating        off alkylating agents for > 6 months                        time
acei_arb_run_in           ACEI/ARB for >= 3 months, or intolerant of them             time
========================  ==========================================================  =========

The strict ">" of the washout rules has no effect in continuous time: a deferred patient
qualifies at the moment the washout has lasted its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from simulate import scenario as sc
from simulate.cohort import Patients

if TYPE_CHECKING:
    import pandas as pd

RuleFn = Callable[[Patients, sc.Eligibility], np.ndarray]


@dataclass(frozen=True)
class Rule:
    name: str
    template: str
    """Description with the scenario's thresholds as ``{field}`` placeholders."""
    time_dependent: bool
    passes: RuleFn
    wait_months: Callable[[Patients, sc.Eligibility], np.ndarray] | None = None
    """For time-dependent rules: months from screening until the rule is met (0 if met)."""

    def describe(self, e: sc.Eligibility) -> str:
        """The rule in words, with the thresholds in force."""
        return self.template.format(**_values(e))

    def describe_failure(self, e: sc.Eligibility) -> str:
        """Why a patient fails the rule, in words (how an exclusion reads in a CONSORT diagram)."""
        return FAILURES[self.name].format(**_values(e))


def _values(e: sc.Eligibility) -> dict:
    values = e.model_dump()
    values["proteinuria_max_reduction_pct"] = 100 * e.proteinuria_max_reduction_fraction
    return values


FAILURES = {
    "age": "age < {age_min_years:g} or > {age_max_years:g} years",
    "idiopathic": "secondary cause of MN",
    "no_active_infection": "active infection",
    "no_diabetes": "diabetes mellitus",
    "not_pregnant": "pregnant or breast feeding",
    "contraception": "no effective contraception (woman of child-bearing potential)",
    "proteinuria_level": "proteinuria < {proteinuria_min_g_day:g} g/24h",
    "proteinuria_reduction": "proteinuria fell > {proteinuria_max_reduction_pct:g}% on ACEI/ARB",
    "egfr": "eGFR < {egfr_min_ml_min:g} mL/min/1.73 m2",
    "blood_pressure": "blood pressure uncontrolled on ACEI/ARB",
    "no_prior_resistance": "resistant to CNI, RTX or alkylating agents, or relapsed early",
    "washout_steroid_mmf": "steroid or MMF within {washout_steroid_mmf_months:g} month(s)",
    "washout_alkylating": "alkylating agents within {washout_alkylating_months:g} months",
    "acei_arb_run_in": "on ACEI/ARB for < {acei_arb_run_in_months:g} months",
}
"""Each rule's failure in words: the condition that excludes (or defers), not the criterion."""


def _prior_resistance_free(p: Patients, e: sc.Eligibility) -> np.ndarray:
    resistant = p.resistant_cni | p.resistant_rtx | p.resistant_alkylating
    drug = p.prior_relapse_drug
    off = p.months_off_drug_at_relapse
    # NaN (no relapse) compares False, so only real early relapses count
    early_cni = (drug == 1) & (off <= e.relapse_off_cni_min_months)
    early_other = (drug >= 2) & (off <= e.relapse_off_rtx_or_alkylating_min_months)
    return ~(resistant | early_cni | early_other)


def _wait(elapsed: np.ndarray, needed: float) -> np.ndarray:
    return np.maximum(needed - elapsed, 0.0)


RULES: tuple[Rule, ...] = (
    Rule("age", "aged {age_min_years:g}-{age_max_years:g} years", False,
         lambda p, e: (p.age_years >= e.age_min_years) & (p.age_years <= e.age_max_years)),
    Rule("idiopathic", "idiopathic MN: no secondary cause", False, lambda p, e: ~p.secondary_cause),
    Rule("no_active_infection", "no active infection", False, lambda p, e: ~p.active_infection),
    Rule("no_diabetes", "no diabetes mellitus", False, lambda p, e: ~p.diabetes),
    Rule("not_pregnant", "not pregnant or breast feeding", False, lambda p, e: ~p.pregnant_or_breastfeeding),
    Rule("contraception", "women post-menopausal, sterile or using effective contraception", False,
         lambda p, e: p.male | p.postmenopausal | p.contraception_or_sterile),
    Rule("proteinuria_level", "proteinuria >= {proteinuria_min_g_day:g} g/24h (mean of two 24-h collections)", False,
         lambda p, e: p.proteinuria_mean_g_day >= e.proteinuria_min_g_day),
    Rule("proteinuria_reduction", "proteinuria decreased <= {proteinuria_max_reduction_pct:g}% from baseline", False,
         lambda p, e: p.proteinuria_reduction_fraction <= e.proteinuria_max_reduction_fraction),
    Rule("egfr", "eGFR >= {egfr_min_ml_min:g} mL/min/1.73 m2", False, lambda p, e: p.egfr_ml_min >= e.egfr_min_ml_min),
    Rule("blood_pressure", "blood pressure controlled on ACEI/ARB, or intolerant of them", False,
         lambda p, e: p.acei_arb_intolerant | p.bp_controlled),
    Rule("no_prior_resistance", "no resistance to CNI, RTX or alkylating agents (late relapse allowed)", False,
         _prior_resistance_free),
    Rule("washout_steroid_mmf", "off steroid or MMF for > {washout_steroid_mmf_months:g} month(s)", True,
         lambda p, e: p.months_since_steroid_mmf > e.washout_steroid_mmf_months,
         lambda p, e: _wait(p.months_since_steroid_mmf, e.washout_steroid_mmf_months)),
    Rule("washout_alkylating", "off alkylating agents for > {washout_alkylating_months:g} months", True,
         lambda p, e: p.months_since_alkylating > e.washout_alkylating_months,
         lambda p, e: _wait(p.months_since_alkylating, e.washout_alkylating_months)),
    Rule("acei_arb_run_in", "ACEI/ARB for >= {acei_arb_run_in_months:g} months before randomisation, or intolerant", True,
         lambda p, e: p.acei_arb_intolerant | (p.months_on_acei_arb >= e.acei_arb_run_in_months),
         lambda p, e: np.where(p.acei_arb_intolerant, 0.0, _wait(p.months_on_acei_arb, e.acei_arb_run_in_months))),
)
RULE_NAMES = tuple(r.name for r in RULES)
TIME_RULES = tuple(r.name for r in RULES if r.time_dependent)
"""The time-dependent rules: failing only these defers a patient."""
PERMANENT = np.array([not r.time_dependent for r in RULES])
"""Boolean per rule (in :data:`RULES` order): failing it excludes."""
PERMANENT.setflags(write=False)


@dataclass(frozen=True)
class Screening:
    """The outcome of screening N patients against every rule."""

    passes: np.ndarray
    """Boolean (n_rules, N): rule r passed by patient i (rules in :data:`RULES` order)."""
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
            wait = np.maximum(wait, np.where(fails[i], rule.wait_months(patients, rules), 0.0))
    qualifies = np.where(excluded, np.inf, wait)
    # a time-dependent rule failed at the exact threshold (strict >) still needs "no more" wait:
    # such patients qualify immediately after screening, recorded as a tiny positive wait
    qualifies = np.where(~excluded & any_fail & (qualifies == 0.0), np.finfo(float).tiny, qualifies)
    return Screening(passes=passes, first_failure=first, qualifies_in_months=qualifies, rules=rules)


def screen_referrals(scenario: sc.Scenario, n: int, seed: int) -> tuple[Patients, Screening]:
    """Draw ``n`` referred patients from the seed's cohort stream and screen them."""
    from simulate.cohort import draw_cohort
    from simulate.seeding import child_sequence, root_sequence

    patients = draw_cohort(scenario.cohort, n, child_sequence(root_sequence(seed), "cohort"))
    return patients, screen(patients, scenario.eligibility)
