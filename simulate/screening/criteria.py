"""The registered eligibility criteria of NCT04743739, each defined once, as data.

A criterion (:class:`Rule`) says which covariates it reads, its bounds (a covariate, a
comparison and the ``[eligibility]`` field holding the threshold), the flags that fail it or
exempt a patient from it, the covariate group it belongs to, whether failing it defers (a
time-dependent rule, met later by waiting) or excludes, and the words for both. :data:`RULES`
lists them in CONSORT order: permanent exclusions first, then the time-dependent rules
(washouts, ACEI/ARB run-in).

Everything else about the screen derives from these definitions:

* the cohort's screen (:mod:`simulate.screening.screen`): each rule's :meth:`Rule.passes` on
  drawn patients, and the wait of a time-dependent rule from its one bound;
* the fates' screen on uniforms (:mod:`simulate.screening.uniforms`): the time-dependent rules
  in reverse CONSORT order, each bound compared with the uniform of its clock;
* the exact pass probabilities (:mod:`simulate.screening.probabilities`), one per covariate
  group of :data:`GROUPS`, and the quick feasibility bounds
  (:mod:`simulate.screening.feasibility`): both read the thresholds through the rules
  (:meth:`Rule.threshold`) and the closed forms of :mod:`simulate.screening.closed_forms`.

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

This module needs neither numpy nor scipy (validating a scenario reads it): the comparisons are
:mod:`operator`'s, which numpy arrays and plain numbers both understand.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce
from typing import Any

from simulate.design import scenario as sc

COMPARISONS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
"""The comparisons a bound may make, by their symbol."""

GROUP_NAMES = ("demography", "conditions", "proteinuria", "history", "clocks")
"""The covariate groups a rule reads. The first four are independent of each other in the
referred cohort (:mod:`simulate.screening.probabilities`); ``clocks`` (months since a drug, on
ACEI/ARB) only ever defer."""


@dataclass(frozen=True)
class Bound:
    """``measure op threshold``: a covariate (a field or property of
    :class:`~simulate.population.cohort.Patients`), a comparison of :data:`COMPARISONS` and the
    ``[eligibility]`` field holding the threshold. With ``among`` (a covariate and the values
    it takes), the bound applies only to those patients: the others meet it."""

    measure: str
    op: str
    threshold: str
    among: tuple[str, tuple[int, ...]] | None = None

    def __post_init__(self) -> None:
        if self.op not in COMPARISONS:
            raise ValueError(f"Bound.op: got {self.op!r}; must be one of {sorted(COMPARISONS)}")
        if self.threshold not in sc.Eligibility.model_fields:
            raise ValueError(f"Bound.threshold: got {self.threshold!r}; not a field of [eligibility]")

    def value(self, e: sc.Eligibility) -> float:
        """The threshold in force."""
        return getattr(e, self.threshold)

    def holds(self, patients: Any, e: sc.Eligibility) -> Any:
        """Whether each patient meets the bound (a boolean array)."""
        ok = COMPARISONS[self.op](getattr(patients, self.measure), self.value(e))
        if self.among is None:
            return ok
        field, values = self.among
        applies = reduce(operator.or_, (getattr(patients, field) == v for v in values))
        return ~applies | ok


@dataclass(frozen=True)
class Rule:
    """One registered criterion.

    A patient passes when every bound holds, every ``present`` flag is set and no ``absent``
    flag is, or when any ``exempt`` flag is set. A time-dependent rule has one bound, on a
    clock that grows while the patient waits (``>`` or ``>=``): failing it defers by the time
    the clock needs to reach its threshold."""

    name: str
    group: str
    """The covariate group it reads (one of :data:`GROUP_NAMES`)."""
    template: str
    """The criterion in words, with the scenario's thresholds as ``{field}`` placeholders."""
    failure: str
    """Why a patient fails it (how an exclusion or deferral reads in a CONSORT diagram)."""
    bounds: tuple[Bound, ...] = ()
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()
    time_dependent: bool = False

    def __post_init__(self) -> None:
        if self.group not in GROUP_NAMES:
            raise ValueError(f"Rule {self.name}: group {self.group!r}; must be one of {GROUP_NAMES}")
        if not (self.bounds or self.present or self.absent):
            raise ValueError(f"Rule {self.name}: needs a bound, a present or an absent flag")
        if self.time_dependent != (self.group == "clocks"):
            raise ValueError(f"Rule {self.name}: the time-dependent rules, and only they, read the clocks")
        if self.time_dependent and (len(self.bounds) != 1 or self.bounds[0].op not in (">", ">=")
                                    or self.present or self.absent):
            raise ValueError(f"Rule {self.name}: a time-dependent rule is one bound 'clock > or >= threshold'")

    @property
    def clock(self) -> Bound:
        """The one bound of a time-dependent rule: the clock and its threshold."""
        if not self.time_dependent:
            raise ValueError(f"Rule {self.name}: permanent, it has no clock")
        return self.bounds[0]

    def threshold(self, e: sc.Eligibility, op: str | None = None, among: int | None = None) -> float:
        """The threshold in force of the rule's one bound with comparison ``op`` (any if None)
        that applies to patients with the ``among`` value (or to all patients, if None)."""
        found = [b for b in self.bounds if (op is None or b.op == op)
                 and (b.among is None if among is None else b.among is not None and among in b.among[1])]
        if len(found) != 1:
            raise ValueError(f"Rule {self.name}: {len(found)} bounds with op {op!r} among {among!r}; need one")
        return found[0].value(e)

    def passes(self, patients: Any, e: sc.Eligibility) -> Any:
        """Whether each patient passes the rule (a boolean array, one per patient)."""
        parts = ([b.holds(patients, e) for b in self.bounds] + [getattr(patients, f) for f in self.present]
                 + [~getattr(patients, f) for f in self.absent])
        ok = reduce(operator.and_, parts)
        for flag in self.exempt:
            ok = ok | getattr(patients, flag)
        return ok

    def describe(self, e: sc.Eligibility) -> str:
        """The rule in words, with the thresholds in force."""
        return self.template.format(**_values(e))

    def describe_failure(self, e: sc.Eligibility) -> str:
        """Why a patient fails the rule, in words (how an exclusion reads in a CONSORT diagram)."""
        return self.failure.format(**_values(e))


def _values(e: sc.Eligibility) -> dict:
    values = e.model_dump()
    values["proteinuria_max_reduction_pct"] = 100 * e.proteinuria_max_reduction_fraction
    return values


RULES: tuple[Rule, ...] = (
    Rule("age", "demography", "aged {age_min_years:g}-{age_max_years:g} years",
         "age < {age_min_years:g} or > {age_max_years:g} years",
         bounds=(Bound("age_years", ">=", "age_min_years"), Bound("age_years", "<=", "age_max_years"))),
    Rule("idiopathic", "conditions", "idiopathic MN: no secondary cause", "secondary cause of MN",
         absent=("secondary_cause",)),
    Rule("no_active_infection", "conditions", "no active infection", "active infection",
         absent=("active_infection",)),
    Rule("no_diabetes", "conditions", "no diabetes mellitus", "diabetes mellitus", absent=("diabetes",)),
    Rule("not_pregnant", "demography", "not pregnant or breast feeding", "pregnant or breast feeding",
         absent=("pregnant_or_breastfeeding",)),
    Rule("contraception", "demography", "women post-menopausal, sterile or using effective contraception",
         "no effective contraception (woman of child-bearing potential)",
         present=("contraception_or_sterile",), exempt=("male", "postmenopausal")),
    Rule("proteinuria_level", "proteinuria",
         "proteinuria >= {proteinuria_min_g_day:g} g/24h (mean of two 24-h collections)",
         "proteinuria < {proteinuria_min_g_day:g} g/24h",
         bounds=(Bound("proteinuria_mean_g_day", ">=", "proteinuria_min_g_day"),)),
    Rule("proteinuria_reduction", "proteinuria",
         "proteinuria decreased <= {proteinuria_max_reduction_pct:g}% from baseline",
         "proteinuria fell > {proteinuria_max_reduction_pct:g}% on ACEI/ARB",
         bounds=(Bound("proteinuria_reduction_fraction", "<=", "proteinuria_max_reduction_fraction"),)),
    Rule("egfr", "demography", "eGFR >= {egfr_min_ml_min:g} mL/min/1.73 m2", "eGFR < {egfr_min_ml_min:g} mL/min/1.73 m2",
         bounds=(Bound("egfr_ml_min", ">=", "egfr_min_ml_min"),)),
    Rule("blood_pressure", "proteinuria", "blood pressure controlled on ACEI/ARB, or intolerant of them",
         "blood pressure uncontrolled on ACEI/ARB", present=("bp_controlled",), exempt=("acei_arb_intolerant",)),
    Rule("no_prior_resistance", "history", "no resistance to CNI, RTX or alkylating agents (late relapse allowed)",
         "resistant to CNI, RTX or alkylating agents, or relapsed early",
         bounds=(Bound("months_off_drug_at_relapse", ">", "relapse_off_cni_min_months", ("prior_relapse_drug", (1,))),
                 Bound("months_off_drug_at_relapse", ">", "relapse_off_rtx_or_alkylating_min_months",
                       ("prior_relapse_drug", (2, 3)))),
         absent=("resistant_cni", "resistant_rtx", "resistant_alkylating")),
    Rule("washout_steroid_mmf", "clocks", "off steroid or MMF for > {washout_steroid_mmf_months:g} month(s)",
         "steroid or MMF within {washout_steroid_mmf_months:g} month(s)",
         bounds=(Bound("months_since_steroid_mmf", ">", "washout_steroid_mmf_months"),), time_dependent=True),
    Rule("washout_alkylating", "clocks", "off alkylating agents for > {washout_alkylating_months:g} months",
         "alkylating agents within {washout_alkylating_months:g} months",
         bounds=(Bound("months_since_alkylating", ">", "washout_alkylating_months"),), time_dependent=True),
    Rule("acei_arb_run_in", "clocks",
         "ACEI/ARB for >= {acei_arb_run_in_months:g} months before randomisation, or intolerant",
         "on ACEI/ARB for < {acei_arb_run_in_months:g} months",
         bounds=(Bound("months_on_acei_arb", ">=", "acei_arb_run_in_months"),), exempt=("acei_arb_intolerant",),
         time_dependent=True),
)
"""Every criterion, in CONSORT order (permanent rules first)."""
RULE_NAMES = tuple(r.name for r in RULES)
BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}
TIME_RULES = tuple(r.name for r in RULES if r.time_dependent)
"""The time-dependent rules: failing only these defers a patient."""
GROUPS: dict[str, tuple[str, ...]] = {
    g: tuple(r.name for r in RULES if r.group == g and not r.time_dependent) for g in GROUP_NAMES[:-1]}
"""Which permanent rules screen which independent group of covariates (in CONSORT order)."""


def flag_fraction(c: sc.Cohort, flag: str) -> float:
    """P(a referred patient has a yes/no covariate): the ``[cohort]`` field ``<flag>_fraction``
    of a covariate drawn as an independent Bernoulli (:mod:`simulate.population.cohort`)."""
    return getattr(c, f"{flag}_fraction")
