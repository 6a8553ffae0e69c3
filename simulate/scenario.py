"""The scenario models: a validated and frozen :class:`Scenario` and its sections.

A scenario says *what* is simulated: the design, the population, the model's assumptions and
the analysis. It is validated once, here, at the boundary: unknown keys, wrong types,
out-of-range values and contradictions between fields each give one line naming the field path,
the value received and what is allowed. Loading (files, overrides, ``base =``, sweeps) and the
checks only the outcome model and the screen can make live in :mod:`simulate.loader`; past it
nothing re-checks.

Units live in field names (``_months``, ``_g_day``, ``_g_l``, ``_ml_min``). Every figure taken
from the literature carries its source as a comment in the scenario file; see
``scenarios/nct04743739.toml``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simulate.analysis import registry
from simulate.choices import ALTERNATIVES, MISSING_STRATEGIES, MULTIPLICITY

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Fraction = Probability

# Every number of a scenario is bounded, each bound for a reason given here or in the field's
# docstring: within the bounds a scenario that validates runs to the end (the simulation holds
# at every edge), and nothing a trial could mean is refused.

FOLLOW_UP_MONTHS_MAX = 240.0
"""Twenty years, longer than any trial follows its patients to a primary endpoint: the bound of
every month counted from randomisation (endpoint, follow-up, visits, courses, medians)."""
CALENDAR_MONTHS_MAX = 600.0
"""Fifty years, longer than any trial has recruited: the bound of every month of the trial's
calendar (recruitment window, hard stop, site activation, a look's decision lag) and of the
cohort's clocks (months since a drug, months on ACEI/ARB)."""
FOLLOW_UP_MONTHS_MIN = 0.01
"""About seven hours: the shortest endpoint, follow-up or median time to remission, below the
resolution of any visit schedule."""
FollowUpMonths = Annotated[float, Field(ge=0.0, le=FOLLOW_UP_MONTHS_MAX)]
PositiveFollowUpMonths = Annotated[float, Field(ge=FOLLOW_UP_MONTHS_MIN, le=FOLLOW_UP_MONTHS_MAX)]
CalendarMonths = Annotated[float, Field(ge=0.0, le=CALENDAR_MONTHS_MAX)]
PositiveCalendarMonths = Annotated[float, Field(gt=0.0, le=CALENDAR_MONTHS_MAX)]
AGE_YEARS_MAX = 120.0
"""An age hardly anyone reaches (the oldest documented person lived to 122): older than any
patient a trial will meet."""
Age = Annotated[float, Field(ge=0.0, le=AGE_YEARS_MAX)]
PROTEINURIA_G_DAY_MAX = 100.0
"""Ten times the top of the usual nephrotic range (about 10 g/24h): no 24-h collection reaches it."""
Proteinuria = Annotated[float, Field(ge=0.0, le=PROTEINURIA_G_DAY_MAX)]
PositiveProteinuria = Annotated[float, Field(gt=0.0, le=PROTEINURIA_G_DAY_MAX)]
ALBUMIN_G_L_MAX = 100.0
"""Twice the top of the normal range of serum albumin (35-50 g/L)."""
Albumin = Annotated[float, Field(gt=0.0, le=ALBUMIN_G_L_MAX)]
EGFR_ML_MIN_MAX = 200.0
"""Above any measured glomerular filtration rate (mL/min/1.73 m2; the model clips eGFR to 150)."""
Egfr = Annotated[float, Field(gt=0.0, le=EGFR_ML_MIN_MAX)]
TITRE_RU_ML_MAX = 100_000.0
"""Far above the anti-PLA2R titres reported in membranous nephropathy (hundreds to a few
thousand RU/mL)."""
Titre = Annotated[float, Field(gt=0.0, le=TITRE_RU_ML_MAX)]
LOG_ODDS_SLOPE_MAX = 3.0
"""A covariate's change in the log-odds of response per unit of at most 3 (an odds ratio of 20
per unit) either way: far beyond any published effect, and the calibrated intercept stays well
conditioned."""
LogOddsSlope = Annotated[float, Field(ge=-LOG_ODDS_SLOPE_MAX, le=LOG_ODDS_SLOPE_MAX)]
RELAPSE_HAZARD_MAX = 1.0
"""A relapse hazard of one a month (a remission lasting a month on average), far above any
published relapse rate (about 0.01 a month in membranous nephropathy)."""
RelapseHazard = Annotated[float, Field(ge=0.0, le=RELAPSE_HAZARD_MAX)]

DROPOUT_MECHANISMS = ("mcar", "informative")
STRATIFICATION_FACTORS = ("pla2r_titre_high", "proteinuria_high")
ENDPOINTS = ("cr_or_pr", "cr")
"""The primary endpoint: complete or partial remission, or complete remission only."""
HYPOTHESES = ("superiority", "non_inferiority")
DRUG_CLASSES = ("anti_cd20", "cni", "alkylating", "steroid", "other")
"""Classes of the drugs in an arm's courses; the relapse model reads anti-CD20 (B-cell cover)
and CNI (dependence: relapse once the course ends) courses."""
AGE_RANGE_MASS_MIN = 1e-6
"""The least share of the cohort's normal ages that must fall in its age range: referrals are
drawn from the normal truncated to the range, which needs the range to hold some of it."""
MIN_ARMS = 2
MAX_ARMS = 8
MAX_VISITS = 250
"""At most this many scheduled visits: more than a visit a month over the longest follow-up
(FOLLOW_UP_MONTHS_MAX), and the visit tables grow with visits x patients."""
MAX_LOOKS = 20
"""At most this many looks of a group-sequential design, as in rpact (kMax <= 20)."""
ARM_ID_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
EFFICACY_SPENDING = ("none", "obrien_fleming", "pocock", "hwang_shih_decani")
"""Lan-DeMets alpha-spending functions of the interim looks' efficacy boundaries."""
FUTILITY_RULES = ("none", "beta_spending", "conditional_power")
SUCCESS_ALL = ("any", "all")
"""With several experimental arms a trial succeeds when ``any`` comparison rejects, when
``all`` do, or when the comparison of one named arm does (``analysis.success``)."""
DAYS_PER_MONTH = 365.25 / 12.0
"""Days are counted from day 1, the day of randomisation: day d falls (d - 1) / DAYS_PER_MONTH
months after it."""


class FrozenDict(dict):
    """A dict that cannot change after it is built, and hashes by value: how a frozen scenario
    holds its table of arms."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a scenario is frozen: build a new one (simulate.loader.with_overrides)")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __reduce__(self):                      # pickled and copied whole, never item by item
        return FrozenDict, (dict(self),)


class Model(BaseModel):
    """Base of every scenario section: frozen, and typos are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True,
                              allow_inf_nan=False)


class Trial(Model):
    """The design as registered."""

    n_per_arm: Annotated[int, Field(ge=1, le=100_000)] = 63
    """Target randomised patients in the arm with the smallest allocation (63 per arm = the
    planned 126 at 1:1); at most 100,000, more than any trial has randomised to one arm."""
    control_arm: str | None = None
    """Id of the control arm (an ``[arms.<id>]`` table); default: the first arm listed."""
    endpoint: Literal[ENDPOINTS] = "cr_or_pr"
    """The primary endpoint: cr_or_pr (complete or partial remission) or cr (complete only)."""
    endpoint_month: PositiveFollowUpMonths = 24.0
    """Month after randomisation of the primary endpoint visit."""
    max_follow_up_months: PositiveFollowUpMonths = 24.0
    """Follow-up after randomisation; must reach the endpoint visit."""
    recruitment_months: PositiveCalendarMonths = 20.0
    """Planned recruitment window from the trial's start."""
    hard_stop_months: PositiveCalendarMonths = 44.0
    """Enrolment closes at this month whatever was reached; below target the trial is terminated."""
    visit_months: Annotated[tuple[FollowUpMonths, ...], Field(max_length=MAX_VISITS)] = (
        0, 1, 3, 6, 9, 12, 15, 18, 21, 24)
    """Scheduled visits, months after randomisation; must include 0 and the endpoint."""

    @model_validator(mode="after")
    def _check(self) -> "Trial":
        problems = []
        if self.endpoint_month > self.max_follow_up_months:
            problems.append(
                f"trial.endpoint_month: got {self.endpoint_month}; must be <= "
                f"trial.max_follow_up_months ({self.max_follow_up_months})"
            )
        if self.recruitment_months > self.hard_stop_months:
            problems.append(
                f"trial.recruitment_months: got {self.recruitment_months}; must be <= "
                f"trial.hard_stop_months ({self.hard_stop_months})"
            )
        visits = list(self.visit_months)
        if visits != sorted(set(visits)):
            problems.append(f"trial.visit_months: got {visits}; must be strictly increasing")
        if 0 not in visits:
            problems.append(f"trial.visit_months: got {visits}; must include 0 (baseline)")
        if not any(math.isclose(v, self.endpoint_month) for v in visits):
            problems.append(
                f"trial.visit_months: got {visits}; must include trial.endpoint_month "
                f"({self.endpoint_month})"
            )
        if visits and max(visits) > self.max_follow_up_months:
            problems.append(
                f"trial.visit_months: got {visits}; no visit may fall after "
                f"trial.max_follow_up_months ({self.max_follow_up_months})"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Course(Model):
    """One drug course of an arm: infusions or pulses on given days, or a continuous course of
    so many months at full dose and then a taper."""

    drug: Annotated[str, Field(min_length=1, max_length=60)]
    """The drug, as the protocol names it (e.g. rituximab, cyclosporine)."""
    drug_class: Literal[DRUG_CLASSES]
    """anti_cd20, cni (calcineurin inhibitor), alkylating, steroid or other."""
    dose_days: tuple[Annotated[float, Field(ge=1.0, le=FOLLOW_UP_MONTHS_MAX * DAYS_PER_MONTH + 1.0)], ...] = ()
    """Days of infusions or pulses after randomisation (day 1 = the day of randomisation), up to
    the last day of the longest follow-up."""
    start_month: FollowUpMonths = 0.0
    """A continuous course starts this many months after randomisation."""
    months: FollowUpMonths = 0.0
    """Length at full dose of a continuous course (0 for infusions on ``dose_days``)."""
    taper_months: FollowUpMonths = 0.0
    """Taper after the full-dose months; the course ends when the taper does."""
    b_cell_cover_months: FollowUpMonths = 0.0
    """anti_cd20 only: months B cells stay depleted after the last dose (the cover that keeps a
    CNI's withdrawal from raising the relapse hazard)."""

    @property
    def end_month(self) -> float:
        """Month after randomisation the course ends: the last dose, or the end of the taper."""
        last_dose = (max(self.dose_days) - 1.0) / DAYS_PER_MONTH if self.dose_days else 0.0
        continuous = self.start_month + self.months + self.taper_months if self.months > 0 else 0.0
        return max(last_dose, continuous)

    @model_validator(mode="after")
    def _check(self) -> "Course":
        problems = []
        if self.dose_days and self.months > 0:
            problems.append(f"months: got {self.months}; a course is either infusions on dose_days or a continuous "
                            "course of months, not both (write two courses)")
        if not self.dose_days and self.months <= 0:
            problems.append("dose_days: got []; give dose_days (infusions) or months > 0 (a continuous course)")
        if list(self.dose_days) != sorted(self.dose_days):
            problems.append(f"dose_days: got {list(self.dose_days)}; must be in increasing order")
        if self.b_cell_cover_months > 0 and self.drug_class != "anti_cd20":
            problems.append(f"b_cell_cover_months: got {self.b_cell_cover_months}; only anti_cd20 courses "
                            f"give B-cell cover (this one is {self.drug_class})")
        if self.taper_months > 0 and self.months <= 0:
            problems.append(f"taper_months: got {self.taper_months}; a taper follows a continuous course "
                            "(set months)")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Arm(Model):
    """One arm: its treatment (courses), its assumed effect and its relapse hazards."""

    label: Annotated[str, Field(min_length=1, max_length=60)]
    """Arm name shown in tables and plots."""
    allocation: Annotated[int, Field(ge=1, le=20)] = 1
    """Allocation weight (e.g. 1 and 1 for 1:1, 2 and 1 for 2:1); at most 20 (20:1)."""
    remission_at_endpoint: Probability
    """P(the endpoint) at the endpoint visit over the eligible population: complete or partial
    remission, or complete remission only with ``trial.endpoint = "cr"``."""
    median_months_to_remission: PositiveFollowUpMonths
    """Median time from randomisation to first remission among patients who remit by the endpoint."""
    complete_share_of_remission: Probability
    """Share of remissions that are complete (CR) rather than partial (PR)."""
    relapse_hazard_per_month: RelapseHazard = 0.0
    """Relapse hazard after remission (per month), except after a CNI course as below."""
    relapse_hazard_off_cni_per_month: RelapseHazard | None = None
    """Relapse hazard once the arm's CNI course has ended and any B-cell cover has lapsed
    (CNI dependence); default: the same as relapse_hazard_per_month."""
    courses: tuple[Course, ...] = ()
    """The arm's drug courses (an inline table each: drug, drug_class, dose_days or months, ...)."""

    @model_validator(mode="after")
    def _check(self) -> "Arm":
        problems = []
        has_cni = any(c.drug_class == "cni" for c in self.courses)
        if self.relapse_hazard_off_cni_per_month is not None and not has_cni:
            problems.append(f"relapse_hazard_off_cni_per_month: got {self.relapse_hazard_off_cni_per_month}; the "
                            "arm has no CNI course (drug_class = \"cni\"), so it would never apply")
        covered = [c.b_cell_cover_months for c in self.courses if c.b_cell_cover_months > 0]
        if covered and not has_cni:
            problems.append(f"courses: b_cell_cover_months {covered[0]} given but the arm has no CNI course: the "
                            "cover only delays the relapse that follows a CNI's end")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def off_cni_hazard(self) -> float:
        h = self.relapse_hazard_off_cni_per_month
        return self.relapse_hazard_per_month if h is None else h

    @property
    def rebound_month(self) -> float:
        """Month after randomisation from which the off-CNI relapse hazard applies: the end of
        the last CNI course or of the B-cell cover, whichever is later (inf without a CNI)."""
        cni = [c.end_month for c in self.courses if c.drug_class == "cni"]
        if not cni:
            return math.inf
        cover = [c.end_month + c.b_cell_cover_months for c in self.courses if c.drug_class == "anti_cd20"]
        return max([*cni, *cover])


class Outcome(Model):
    """The remission, relapse and covariate model (see simulate/outcomes.py)."""

    covariate_effects: bool = True
    """Shift individual remission odds by covariates while each arm's marginal rate stays put."""
    log_odds_per_doubling_pla2r_titre: LogOddsSlope = -0.25
    """Change in the log-odds of response per doubling of the anti-PLA2R titre (RU/mL)."""
    log_odds_per_g_day_proteinuria: LogOddsSlope = -0.10
    """Change in the log-odds of response per g/24h of screening proteinuria."""
    weibull_shape_time_to_remission: Annotated[float, Field(ge=0.25, le=10.0)] = 1.5
    """Weibull shape of the time to first remission (>1: hazard rises with time). From 0.25 (a
    hazard falling so steeply that the median among responders must lie below 1/16 of the
    endpoint month) to 10 (responders remit within about 12% of the same time)."""
    relapse: bool = True
    """Patients in remission may relapse (each arm's relapse hazards); false = remission lasts."""


class Dropout(Model):
    probability_by_endpoint: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.10
    """Chance a randomised patient drops out (loss to follow-up, withdrawal) before the endpoint;
    below 1, so that some patients reach it."""
    mechanism: Literal[DROPOUT_MECHANISMS] = "mcar"
    """mcar: dropout independent of outcome; informative: non-responders drop out faster."""
    informative_hazard_ratio: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0
    """With mechanism = informative: dropout hazard of non-responders relative to responders
    (1, as for mcar, to 100)."""
    withdrawal_share: Probability = 0.4
    """Share of dropouts that are withdrawals of consent (the rest: lost to follow-up)."""


class Analysis(Model):
    hypothesis: Literal[HYPOTHESES] = "superiority"
    """superiority (H0: no difference) or non_inferiority (H0: experimental - control <= -margin)."""
    margin: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """Non-inferiority margin on the risk-difference scale (> 0; only with non_inferiority);
    below 1, the largest difference of two rates."""
    test: Annotated[str, registry.RegisteredName()] = "fisher"
    """The analysis of each comparison, one of the registered analyses (simulate/analysis/registry.py;
    farrington_manning is the default for non_inferiority):"""
    alpha: Annotated[float, Field(ge=1e-6, le=0.5)] = 0.05
    """Significance level of each comparison before any multiplicity adjustment (two-sided
    unless alternative = greater; one-sided for non_inferiority). From 1e-6, stricter than any
    trial's level, to 0.5 (a one-sided level must be below it)."""
    alternative: Literal[ALTERNATIVES] = "two-sided"
    """``greater``: one-sided, the experimental arm better than the control (required for
    non_inferiority)."""
    missing: Literal[MISSING_STRATEGIES] = "nonresponder"
    """nonresponder (dropout = failure, ITT), complete_case, or locf (last visit's status)."""
    multiplicity: Literal[MULTIPLICITY] = "none"
    """With several experimental arms, each compared with the control: none, bonferroni or holm."""
    success: str = "any"
    """What power counts with several experimental arms: any (at least one comparison
    rejects), all (every one does), or an arm id (that arm's comparison)."""

    @model_validator(mode="before")
    @classmethod
    def _default_test(cls, data: Any) -> Any:
        if isinstance(data, dict) and "test" not in data and data.get("hypothesis") == "non_inferiority":
            # the first registered analysis that tests non-inferiority (farrington_manning)
            data = {**data, "test": next(e.name for e in registry.entries() if "non_inferiority" in e.hypotheses)}
        return data

    @field_validator("test", mode="before")
    @classmethod
    def _registered(cls, value: Any) -> Any:
        """One of the analyses registered when the scenario is read."""
        if not isinstance(value, str) or value not in registry.names():
            shown = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
            raise ValueError(f"analysis.test: got {shown}; must be one of "
                             f"{', '.join(map(repr, registry.names()))}")
        return value

    @model_validator(mode="after")
    def _check(self) -> "Analysis":
        problems = []
        if self.hypothesis == "non_inferiority":
            if self.margin <= 0:
                problems.append("analysis.margin: got 0.0; non_inferiority needs a margin > 0 on the "
                                "risk-difference scale (e.g. 0.15)")
            if self.alternative != "greater":
                problems.append(f"analysis.alternative: got {self.alternative!r}; non_inferiority is one-sided: "
                                "set alternative = \"greater\" (alpha is then the one-sided level)")
        elif self.margin != 0:
            problems.append(f"analysis.margin: got {self.margin}; a margin is only used with "
                            "hypothesis = \"non_inferiority\"")
        if self.alternative == "greater" and self.alpha >= 0.5:
            problems.append(f"analysis.alpha: got {self.alpha}; a one-sided level must be < 0.5")
        entry = registry.get(self.test)
        problems += entry.problems(self.hypothesis, self.alternative)
        if self.multiplicity != "none" and entry.statistic != "p_value":
            problems.append(f"analysis.multiplicity: got {self.multiplicity!r}; {self.test} decides on a "
                            f"{entry.statistic.replace('_', ' ')}, which no multiplicity adjustment reads: "
                            "set multiplicity = \"none\"")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Interim(Model):
    """Interim analyses in calendar time (a group-sequential design); see simulate/analysis/sequential.py."""

    information_fractions: Annotated[tuple[Annotated[float, Field(gt=0.0, le=1.0)], ...],
                                     Field(max_length=MAX_LOOKS)] = (1.0,)
    """Looks, as fractions of the planned patients whose endpoint is determined (reached the
    endpoint visit or dropped out before it); the last is 1 (the final analysis)."""
    efficacy_spending: Literal[EFFICACY_SPENDING] = "obrien_fleming"
    """Lan-DeMets spending of alpha over the looks: obrien_fleming, pocock, hwang_shih_decani,
    or none (no efficacy stop before the final look)."""
    hsd_gamma: Annotated[float, Field(ge=-40.0, le=40.0)] = -4.0
    """The Hwang-Shih-DeCani spending function's gamma (used with hwang_shih_decani); from -40
    to 40, beyond which the spending no longer changes (all alpha at the last look, or at the
    first)."""
    futility: Literal[FUTILITY_RULES] = "none"
    """Stop for futility: none, beta_spending (O'Brien-Fleming-type beta spending at the design
    effect), or conditional_power (conditional power under the design effect below a threshold)."""
    futility_binding: bool = False
    """Binding futility bounds lower the efficacy bounds; non-binding ones leave them as without."""
    futility_beta: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.2
    """With futility = beta_spending: the type II error the futility bounds spend (as rpact's
    beta: the bounds are those of the design with power 1 - beta, so below 0.5)."""
    futility_conditional_power: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    """With futility = conditional_power: stop when the conditional power under the design
    effect falls below this."""
    decision_lag_months: CalendarMonths = 0.0
    """Months from a look's data cut to its decision; recruitment goes on meanwhile."""

    @model_validator(mode="after")
    def _check(self) -> "Interim":
        problems = []
        f = list(self.information_fractions)
        if not f:
            problems.append("interim.information_fractions: got []; give the looks, ending with the final "
                            "analysis at 1.0 (e.g. [0.5, 1.0])")
        elif f != sorted(set(f)):
            problems.append(f"interim.information_fractions: got {f}; must be strictly increasing")
        elif f[-1] != 1.0:
            problems.append(f"interim.information_fractions: got {f}; the last look is the final analysis: "
                            "end with 1.0")
        if self.futility == "beta_spending" and self.efficacy_spending == "none":
            problems.append("interim.futility: got 'beta_spending'; beta-spending futility bounds are those of "
                            "a design that also spends alpha: set interim.efficacy_spending")
        if self.futility_binding and self.futility != "beta_spending":
            problems.append("interim.futility_binding: got true; only beta_spending futility bounds can bind "
                            f"(futility is {self.futility!r})")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def looks(self) -> int:
        return len(self.information_fractions)


class Recruitment(Model):
    sites: Annotated[int, Field(ge=1, le=1000)] = 4
    """Number of recruiting sites; at most 1,000, as many as the largest trials have opened."""
    rate_per_site_month: Annotated[float, Field(ge=0.0, le=100.0)] = 6.0
    """Mean referrals to screening per open site per month; at most 100 (several a day at every
    site, more than any trial's sites screen)."""
    rate_gamma_shape: Annotated[float, Field(ge=0.1, le=1e6)] = 2.0
    """Shape of the gamma distribution of site rates (Poisson-gamma model); large = homogeneous.
    From 0.1 (site rates varying with a coefficient of variation of 3) to 1e6 (all sites alike)."""
    site_activation_months_max: CalendarMonths = 6.0
    """Sites open at a uniform time between 0 and this month."""
    screening_days_min: Annotated[float, Field(ge=0.0, le=365.0)] = 7.0
    """Shortest screening (days from referral to the eligibility decision; at most a year)."""
    screening_days_max: Annotated[float, Field(ge=0.0, le=365.0)] = 14.0
    """Two 24-h collections within two weeks: screening takes a uniform time in this range."""
    loss_during_deferral_probability: Probability = 0.2
    """Chance a patient deferred by a time-dependent rule never comes back."""

    @model_validator(mode="after")
    def _check(self) -> "Recruitment":
        if self.screening_days_min > self.screening_days_max:
            raise ValueError(
                f"recruitment.screening_days_min: got {self.screening_days_min}; must be <= "
                f"recruitment.screening_days_max ({self.screening_days_max})"
            )
        return self


class Randomisation(Model):
    block_sizes: tuple[Annotated[int, Field(ge=1, le=1000)], ...] = (2, 4)
    """Permuted block sizes, drawn at random per block; each a multiple of the arms' summed
    allocation, and at most 1,000 (more than the largest summed allocation, 8 arms x 20)."""
    stratify_by: tuple[Literal[STRATIFICATION_FACTORS], ...] = ()
    """Stratification factors: pla2r_titre_high, proteinuria_high (2^k strata)."""
    pla2r_titre_high_ru_ml: Titre = 150.0
    """Anti-PLA2R titre at or above which a patient is in the high stratum."""
    proteinuria_high_g_day: PositiveProteinuria = 8.0
    """Screening proteinuria at or above which a patient is in the high stratum."""


class Cohort(Model):
    """The referred population (see simulate/cohort.py for how each is drawn)."""

    age_mean_years: Age = 47.0
    """Mean age of referred patients (normal, truncated to the min-max range)."""
    age_sd_years: Annotated[float, Field(ge=0.1, le=AGE_YEARS_MAX)] = 14.0
    """SD of age before truncation (at least 0.1 year)."""
    age_min_years: Age = 16.0
    """Youngest referral."""
    age_max_years: Age = 90.0
    """Oldest referral."""
    male_fraction: Fraction = 0.60
    """Share of men."""
    menopause_age_mean_years: Age = 49.5
    """Mean age at natural menopause (a woman is post-menopausal once past it)."""
    menopause_age_sd_years: Annotated[float, Field(gt=0.0, le=AGE_YEARS_MAX)] = 3.5
    """SD of the age at menopause."""
    contraception_or_sterile_fraction: Fraction = 0.80
    """Pre-menopausal women using effective contraception or sterile."""
    pregnant_or_breastfeeding_fraction: Fraction = 0.03
    """Pre-menopausal women pregnant or breast feeding."""
    proteinuria_mean_g_day: Annotated[float, Field(ge=0.01, le=PROTEINURIA_G_DAY_MAX)] = 5.3
    """Mean current 24-h proteinuria (lognormal); at least 0.01 g/24h, a tenth of normal urine protein."""
    proteinuria_sd_g_day: Annotated[float, Field(ge=0.01, le=PROTEINURIA_G_DAY_MAX)] = 2.7
    """SD of current 24-h proteinuria."""
    acei_arb_reduction_mean_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.25
    """Mean fall of proteinuria from its pre-ACEI/ARB baseline (beta)."""
    acei_arb_reduction_sd_fraction: Annotated[float, Field(ge=1e-4, lt=0.5)] = 0.15
    """SD of that fall: at least 1e-4 (the same fall in every patient, to a hundredth of a
    percentage point), below 0.5 (the largest SD of a fraction)."""
    collection_cv: Annotated[float, Field(ge=0.0, le=1.0)] = 0.25
    """Coefficient of variation of one 24-h collection around the true level (at most 1: an
    error as large as the level)."""
    albumin_mean_g_l: Albumin = 25.0
    """Mean serum albumin."""
    albumin_sd_g_l: Albumin = 8.0
    """SD of serum albumin."""
    albumin_log_proteinuria_correlation: Annotated[float, Field(ge=-1.0, le=1.0)] = -0.5
    """Correlation of albumin with log proteinuria (negative: albumin falls as proteinuria rises)."""
    egfr_mean_ml_min: Egfr = 84.0
    """Mean eGFR (mL/min/1.73 m2)."""
    egfr_sd_ml_min: Egfr = 27.0
    """SD of eGFR."""
    egfr_change_per_year_of_age_ml_min: Annotated[float, Field(ge=-10.0, le=10.0)] = -0.8
    """eGFR change per year of age above the mean age (at most 10 either way, ten times the
    usual fall of about 1 a year)."""
    pla2r_positive_fraction: Fraction = 0.68
    """Share anti-PLA2R positive."""
    pla2r_positive_threshold_ru_ml: Titre = 14.0
    """Titre at or above which a patient is anti-PLA2R positive."""
    pla2r_titre_median_ru_ml: Titre = 132.0
    """Median titre among positives (lognormal)."""
    pla2r_titre_log_sd: Annotated[float, Field(gt=0.0, le=3.0)] = 0.98
    """SD of the log titre among positives; at most 3 (the middle 95% of titres then spans a
    factor of 10^5)."""
    pla2r_log_titre_log_proteinuria_correlation: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.3
    """Correlation of log titre with log proteinuria among positives."""
    diabetes_fraction: Fraction = 0.11
    """Share with diabetes mellitus."""
    active_infection_fraction: Fraction = 0.03
    """Share with an active infection."""
    secondary_cause_fraction: Fraction = 0.10
    """Share with a secondary cause of MN."""
    prior_steroid_mmf_fraction: Fraction = 0.20
    """Share recently on steroids or MMF."""
    months_since_steroid_mmf_mean: PositiveCalendarMonths = 6.0
    """Mean months since the last steroid/MMF dose (exponential)."""
    prior_alkylating_fraction: Fraction = 0.08
    """Share previously on alkylating agents."""
    months_since_alkylating_mean: PositiveCalendarMonths = 12.0
    """Mean months since the last alkylating agent (exponential)."""
    acei_arb_intolerant_fraction: Fraction = 0.05
    """Share intolerant of ACEI/ARB."""
    months_on_acei_arb_mean: PositiveCalendarMonths = 9.0
    """Mean months on ACEI/ARB at referral (exponential)."""
    bp_controlled_fraction: Fraction = 0.85
    """Share with controlled blood pressure."""
    resistant_cni_fraction: Fraction = 0.05
    """Share with a history of resistance to CsA or another CNI."""
    resistant_rtx_fraction: Fraction = 0.04
    """Share with a history of resistance to RTX."""
    resistant_alkylating_fraction: Fraction = 0.02
    """Share with a history of resistance to alkylating agents."""
    prior_relapse_fraction: Fraction = 0.08
    """Share with an earlier remission followed by relapse."""
    prior_relapse_drug_cni_fraction: Fraction = 0.5
    """Of those, the share whose remission was on a CNI."""
    prior_relapse_drug_rtx_fraction: Fraction = 0.3
    """Of those, the share on RTX (the rest: alkylating agents)."""
    months_off_drug_at_relapse_mean: PositiveCalendarMonths = 9.0
    """Mean months from stopping that drug to the relapse (exponential)."""

    def age_mass(self, lo: float, hi: float) -> float:
        """The share of the untruncated normal's ages between ``lo`` and ``hi`` (from the tail
        the range lies in, so that no difference of two numbers near 1 is taken)."""
        a, b = ((x - self.age_mean_years) / self.age_sd_years for x in (lo, hi))
        tail = lambda z: 0.5 * math.erfc(z / math.sqrt(2.0))  # noqa: E731 - P(Z > z)
        return tail(a) - tail(b) if a > 0 else tail(-b) - tail(-a)

    @property
    def age_range_mass(self) -> float:
        """The share of the untruncated normal's ages in the cohort's age range."""
        return self.age_mass(self.age_min_years, self.age_max_years)

    @model_validator(mode="after")
    def _check(self) -> "Cohort":
        problems = []
        if self.age_min_years >= self.age_max_years:
            problems.append(
                f"cohort.age_min_years: got {self.age_min_years}; must be < cohort.age_max_years "
                f"({self.age_max_years})"
            )
        elif (mass := self.age_range_mass) < AGE_RANGE_MASS_MIN:
            problems.append(
                f"cohort.age_mean_years: got {self.age_mean_years}; with cohort.age_sd_years "
                f"({self.age_sd_years}) {mass:.3g} of the normal's ages fall between cohort.age_min_years and "
                f"age_max_years ({self.age_min_years} to {self.age_max_years}); at least {AGE_RANGE_MASS_MIN:g} "
                "must: bring the mean nearer the range or widen the sd"
            )
        s = self.prior_relapse_drug_cni_fraction + self.prior_relapse_drug_rtx_fraction
        if s > 1.0:
            problems.append(
                f"cohort.prior_relapse_drug_rtx_fraction: got {self.prior_relapse_drug_rtx_fraction}; "
                f"with prior_relapse_drug_cni_fraction ({self.prior_relapse_drug_cni_fraction}) the "
                f"sum must be <= 1 (the rest relapsed after alkylating agents)"
            )
        m, sd = self.acei_arb_reduction_mean_fraction, self.acei_arb_reduction_sd_fraction
        if sd * sd >= m * (1.0 - m):
            problems.append(
                f"cohort.acei_arb_reduction_sd_fraction: got {sd}; a beta distribution with mean "
                f"{m} needs sd < {math.sqrt(m * (1 - m)):.4g}"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Eligibility(Model):
    """Thresholds of the registered criteria (NCT04743739); see simulate/screening/criteria.py."""

    age_min_years: Age = 18.0
    """Youngest eligible age."""
    age_max_years: Age = 80.0
    """Oldest eligible age."""
    washout_steroid_mmf_months: CalendarMonths = 1.0
    """Off steroid or MMF for more than this (time-dependent: deferral)."""
    washout_alkylating_months: CalendarMonths = 6.0
    """Off alkylating agents for more than this (time-dependent: deferral)."""
    acei_arb_run_in_months: CalendarMonths = 3.0
    """On ACEI/ARB for at least this before randomisation, unless intolerant (deferral)."""
    proteinuria_min_g_day: Proteinuria = 4.0
    """Minimum mean of the two screening collections."""
    proteinuria_max_reduction_fraction: Fraction = 0.5
    """Largest allowed fall of proteinuria from the pre-ACEI/ARB baseline."""
    egfr_min_ml_min: Annotated[float, Field(ge=0.0, le=EGFR_ML_MIN_MAX)] = 40.0
    """Minimum eGFR."""
    relapse_off_cni_min_months: CalendarMonths = 3.0
    """A relapse more than this long off a CNI is not resistance (eligible)."""
    relapse_off_rtx_or_alkylating_min_months: CalendarMonths = 6.0
    """A relapse more than this long off RTX or alkylating agents is not resistance."""


class Definitions(Model):
    """The trial's own remission definitions (used to show lab values at visits)."""

    complete_max_proteinuria_g_day: PositiveProteinuria = 0.5
    """Complete remission: proteinuria at most this ..."""
    complete_min_albumin_g_l: Albumin = 35.0
    """... and albumin at least this."""
    partial_min_reduction_fraction: Fraction = 0.5
    """Partial remission: proteinuria fallen by at least this fraction from baseline ..."""
    partial_max_proteinuria_g_day: PositiveProteinuria = 3.5
    """... and below this."""


class ObservedRemission(Model):
    """A published share of an arm's randomised patients in the endpoint state at a month."""

    arm: str
    """The arm's id."""
    month: PositiveFollowUpMonths
    """Months after randomisation."""
    remission: Probability
    """The published proportion (intention to treat: of all randomised to the arm)."""
    source: str = ""
    """Where the proportion was published."""


class Observed(Model):
    """What the real trial achieved, for comparison in plots and the report (optional; changes
    nothing simulated)."""

    n_randomised: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    """Patients the real trial randomised (at most ten million, more than any trial has) ..."""
    months: PositiveCalendarMonths | None = None
    """... over this many months of enrolment."""
    source: str = ""
    """Where the real trial's accrual was published."""
    remission: tuple[ObservedRemission, ...] = ()
    """Published remission by arm and month, shown beside the simulated time course."""

    @model_validator(mode="after")
    def _check(self) -> "Observed":
        if (self.n_randomised is None) != (self.months is None):
            raise ValueError("observed.n_randomised: give it together with observed.months (the real "
                             "trial's accrual), or neither")
        return self

    @property
    def accrual(self) -> bool:
        """The real trial's accrual is known."""
        return self.n_randomised is not None


class Simulation(Model):
    """How, not what: run settings that never change a trial's meaning."""

    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 20210414
    """Root seed of the seed tree (replicates are reproducible from it); any non-negative 64-bit
    signed integer."""
    replicates: Annotated[int, Field(ge=1, le=100_000_000)] = 2000
    """Simulated trials per design point (power, each sample-size candidate, each sweep point);
    at most 10^8, where the Monte Carlo error of a power is below 0.0001."""
    block_size: Annotated[int, Field(ge=1, le=10_000)] = 250
    """Trials per seeded block (fixed, so results do not depend on the number of jobs). A block
    is drawn at once (an example trial draws its whole block): 10,000 trials of the registered
    design take about 0.7 GB, so no block is larger."""


class SweepAxis(Model):
    """One axis of the sensitivity grid: a dotted field path and the values it takes."""

    path: str
    """A dotted field path, e.g. arms.rtx_csa.remission_at_endpoint."""
    values: tuple[Any, ...]
    """The values the field takes along this axis."""

    @model_validator(mode="after")
    def _check(self) -> "SweepAxis":
        if self.path.startswith(("simulation.", "sweep", "name", "description")):
            raise ValueError(f"sweep.{self.path}: only design and model fields can be swept, not run settings")
        return self


class Scenario(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", min_length=1, max_length=80)]
    """Short name: results go to results/<name>/, or results/<name>-<hash>/ for another content of
    the same name (a letter or digit, then letters, digits, _ . -); defaults to the scenario
    file's name without .toml."""
    description: str = ""
    """One line saying what the scenario is for."""
    trial: Trial = Trial()
    arms: Annotated[dict[str, Arm], Field(min_length=MIN_ARMS, max_length=MAX_ARMS)]
    """The arms, each an ``[arms.<id>]`` table, in the file's order."""
    outcome: Outcome = Outcome()
    dropout: Dropout = Dropout()
    analysis: Analysis = Analysis()
    interim: Interim | None = None
    """Interim looks (a group-sequential design); without it, one final analysis."""
    recruitment: Recruitment = Recruitment()
    randomisation: Randomisation = Randomisation()
    cohort: Cohort = Cohort()
    eligibility: Eligibility = Eligibility()
    definitions: Definitions = Definitions()
    observed: Observed | None = None
    """The real trial's accrual, if known (shown beside the simulations; changes nothing simulated)."""
    simulation: Simulation = Simulation()
    sweep: tuple[SweepAxis, ...] = ()
    """Sensitivity grid, written as a table of dotted field path -> list of values; every
    combination is one grid point. Held as a tuple of axes, in the file's order."""

    @model_validator(mode="before")
    @classmethod
    def _sweep_from_table(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("sweep"), dict):
            axes = []
            for k, v in data["sweep"].items():
                if not isinstance(v, (list, tuple)):
                    raise ValueError(f"sweep.{k}: got {v!r}; must be a list of values, e.g. [0.1, 0.2]")
                axes.append({"path": k, "values": tuple(v)})
            data = {**data, "sweep": tuple(axes)}
        return data

    @model_validator(mode="after")
    def _check(self) -> "Scenario":
        object.__setattr__(self, "arms", FrozenDict(self.arms))
        problems = []
        ids = list(self.arms)
        bad_ids = [i for i in ids if not re.match(ARM_ID_PATTERN, i)]
        if bad_ids:
            problems.append(f"arms: got id {bad_ids[0]!r}; an arm id is a lower-case letter, then lower-case "
                            "letters, digits or _ (at most 32)")
        control = self.trial.control_arm
        if control is not None and control not in self.arms:
            problems.append(f"trial.control_arm: got {control!r}; must be one of the arms: {', '.join(ids)}")
        unit = sum(a.allocation for a in self.arms.values())
        bad = [b for b in self.randomisation.block_sizes if b % unit]
        if not self.randomisation.block_sizes:
            problems.append("randomisation.block_sizes: got []; give at least one block size")
        elif bad:
            problems.append(
                f"randomisation.block_sizes: got {list(self.randomisation.block_sizes)}; each must "
                f"be a multiple of the arms' summed allocation ({unit})"
            )
        if len(set(self.randomisation.stratify_by)) != len(self.randomisation.stratify_by):
            problems.append(
                f"randomisation.stratify_by: got {list(self.randomisation.stratify_by)}; "
                "list each factor once"
            )
        test = registry.get(self.analysis.test)
        if test.strata and not self.randomisation.stratify_by:
            problems.append(f"analysis.test: got {test.name!r}; the {test.title.split(' (')[0]} needs strata: "
                            "set randomisation.stratify_by")
        success = self.analysis.success
        if success not in SUCCESS_ALL and (success not in self.arms or success == self.control_arm):
            allowed = [*SUCCESS_ALL, *(i for i in ids if i != self.control_arm)]
            problems.append(f"analysis.success: got {success!r}; allowed: {', '.join(allowed)}")
        for name, a in self.arms.items():
            if a.median_months_to_remission >= self.trial.endpoint_month:
                problems.append(
                    f"arms.{name}.median_months_to_remission: got {a.median_months_to_remission}; "
                    f"must be < trial.endpoint_month ({self.trial.endpoint_month})"
                )
            if self.trial.endpoint == "cr" and a.remission_at_endpoint > a.complete_share_of_remission:
                problems.append(
                    f"arms.{name}.remission_at_endpoint: got {a.remission_at_endpoint}; with trial.endpoint "
                    f"= \"cr\" it is the rate of complete remission, at most the share of remissions "
                    f"that are complete (complete_share_of_remission {a.complete_share_of_remission})"
                )
        problems += self._interim_problems()
        for i, point in enumerate(self.observed.remission if self.observed else ()):
            if point.arm not in self.arms:
                problems.append(f"observed.remission[{i}].arm: got {point.arm!r}; must be one of the arms: "
                                f"{', '.join(ids)}")
            if point.month > self.trial.max_follow_up_months:
                problems.append(f"observed.remission[{i}].month: got {point.month}; must be <= "
                                f"trial.max_follow_up_months ({self.trial.max_follow_up_months})")
        if self.eligibility.age_min_years >= self.eligibility.age_max_years:
            problems.append(
                f"eligibility.age_min_years: got {self.eligibility.age_min_years}; must be < "
                f"eligibility.age_max_years ({self.eligibility.age_max_years})"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _interim_problems(self) -> list[str]:
        """What a group-sequential design (``[interim]`` with looks) needs of the arms and the
        analysis: two arms, a one-sided test whose registered analysis has a look statistic, and
        looks that come at different counts of determined endpoints."""
        if self.interim is None or self.interim.looks < 2:
            return []
        problems, ids, test = [], list(self.arms), registry.get(self.analysis.test)
        a = self.analysis
        if len(ids) != 2:
            problems.append(f"interim: a group-sequential design compares two arms; this scenario has "
                            f"{len(ids)}")
        if a.alternative != "greater":
            problems.append(f"analysis.alternative: got {a.alternative!r}; interim looks test one-sided: set "
                            "alternative = \"greater\" (alpha is then the one-sided level)")
        f = list(self.interim.information_fractions)
        counts = [min(self.n_target, max(1, math.ceil(x * self.n_target - 1e-9))) for x in f]
        same = next((k for k in range(1, len(counts)) if counts[k] == counts[k - 1]), None)
        if same is not None:
            problems.append(f"interim.information_fractions: got {f}; with {self.n_target} patients looks "
                            f"{same} and {same + 1} would both come at {counts[same]} determined endpoints: "
                            "space them further apart")
        if not test.interim:
            usable = " or ".join(f'"{e.name}"' for e in registry.entries() if e.interim)
            problems.append(f"analysis.test: got {a.test!r}; interim looks use the score statistic: set "
                            f"test = {usable}")
        return problems

    @property
    def sweep_grid(self) -> dict[str, tuple[Any, ...]]:
        """The sensitivity grid as {dotted path: values} (a fresh dict each time)."""
        return {axis.path: axis.values for axis in self.sweep}

    @property
    def arm_names(self) -> tuple[str, ...]:
        """Arm ids in the file's order; arm k of the engines' arrays is ``arm_names[k]``."""
        return tuple(self.arms)

    def arm(self, name: str) -> Arm:
        return self.arms[name]

    @property
    def control_arm(self) -> str:
        return self.trial.control_arm if self.trial.control_arm is not None else next(iter(self.arms))

    @property
    def control_index(self) -> int:
        return self.arm_names.index(self.control_arm)

    @property
    def experimental_arms(self) -> tuple[str, ...]:
        """The arms compared with the control, in the file's order."""
        return tuple(a for a in self.arms if a != self.control_arm)

    @property
    def allocation(self) -> tuple[int, ...]:
        """Allocation weights in arm order."""
        return tuple(a.allocation for a in self.arms.values())

    @property
    def n_target(self) -> int:
        """Total patients to randomise: n_per_arm in the smallest-allocation arm, the others in
        proportion."""
        alloc = self.allocation
        return int(round(self.trial.n_per_arm * sum(alloc) / min(alloc)))


def scenario_hash(scenario: Scenario) -> str:
    """A short stable hash of the scenario's content (keys results on disk)."""
    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Parts:
    """A scenario as a computation sees it when it reads only some of its parts: hashed and
    compared by ``key`` (those parts, frozen values), so a :func:`functools.lru_cache` keyed on
    it shares one result among scenarios that differ elsewhere (another ``n_per_arm``, another
    seed). ``key`` must hold every part the computation reads."""

    __slots__ = ("scenario", "key")

    def __init__(self, scenario: Scenario, key: tuple) -> None:
        self.scenario, self.key = scenario, key

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Parts) and self.key == other.key
