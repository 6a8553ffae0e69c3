"""The trial and its arms: the design's size and endpoint, each arm's treatment courses and its
assumed outcome, and dropout."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from simulate.design.priors import UNIFORM, BetaPrior
from simulate.design.fields import (DAYS_PER_MONTH, DROPOUT_HAZARD_RATIO_MAX, DROPOUT_MECHANISM_ALIASES,
                                    DROPOUT_MECHANISMS, DRUG_CLASSES, ENDPOINTS,
                                    FOLLOW_UP_MONTHS_MAX, FollowUpMonths, LogOddsSlope, MAX_VISITS, Model,
                                    PositiveCalendarMonths, PositiveFollowUpMonths, Probability, RelapseHazard)


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
    analysis_prior: BetaPrior = UNIFORM
    """With analysis.framework = "bayesian": the prior of the arm's rate the analysis assumes,
    { beta = [a, b] } or { mixture = [[w, a, b], ...] } (default Beta(1, 1), uniform)."""
    design_prior: BetaPrior | None = None
    """What the planners believe about remission_at_endpoint, { beta = [a, b] } or { mixture =
    [[w, a, b], ...] }: power --json then adds the assurance (each simulated trial draws its own
    true rate from it; outcome.rates_from = "design_prior" runs that world alone). None: the
    rate is taken as known."""
    design_rate: Probability | None = None
    """Where remission_at_endpoint is a published result (outcome.rates_are = "published"): the
    rate the trial's planners assumed for this arm. The run then also simulates the design at
    these rates, the question the design had to answer before any result was known."""

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
    """The remission, relapse and covariate model (see simulate/population/outcomes.py)."""

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
    rates_from: Literal["assumed", "design_prior"] = "assumed"
    """Each trial's true endpoint rates: the arms' remission_at_endpoint (assumed), or a draw per
    trial from each arm's design_prior (design_prior; arms without one keep their rate): the
    chance of success is then the assurance."""
    rates_are: Literal["assumed", "published"] = "assumed"
    """What the arms' remission_at_endpoint are: design assumptions, or a trial's published
    results (the power is then what a rerun with those true rates would have, and the report
    says so; arms.<id>.design_rate gives the rates the design assumed)."""


class Dropout(Model):
    probability_by_endpoint: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.10
    """Chance a randomised patient drops out (loss to follow-up, withdrawal) before the endpoint;
    below 1, so that some patients reach it."""
    mechanism: Literal[DROPOUT_MECHANISMS] = "mcar"
    """mcar: dropout independent of outcome (missing completely at random); mar (missing at
    random): the hazard depends on the status seen at the last visit (see
    mar_hazard_ratio_not_in_remission); mnar (missing not at random): non-responders at the
    endpoint, an outcome a dropout hides, drop out faster (informative_hazard_ratio).
    ``informative``, mnar's earlier name, is read as mnar."""
    informative_hazard_ratio: Annotated[float, Field(ge=1.0, le=DROPOUT_HAZARD_RATIO_MAX)] = 2.0
    """With mechanism = mnar: dropout hazard of non-responders relative to responders
    (1, as for mcar, to 100)."""
    mar_hazard_ratio_not_in_remission: Annotated[
        float, Field(ge=1.0 / DROPOUT_HAZARD_RATIO_MAX, le=DROPOUT_HAZARD_RATIO_MAX)] = 2.0
    """With mechanism = mar: dropout hazard between two visits of a patient not seen in remission
    (complete or partial) at the earlier one, relative to a patient seen in remission (1/100 to
    100; 1 is mcar). Nobody is in remission at baseline."""
    withdrawal_share: Probability = 0.4
    """Share of dropouts that are withdrawals of consent (the rest: lost to follow-up)."""

    @field_validator("mechanism", mode="before")
    @classmethod
    def _earlier_name(cls, value: object) -> object:
        """A mechanism's earlier name (``informative``) read as the mechanism (``mnar``)."""
        return DROPOUT_MECHANISM_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> "Dropout":
        ratio = self.mar_hazard_ratio_not_in_remission
        if self.mechanism != "mar" and ratio != type(self).model_fields["mar_hazard_ratio_not_in_remission"].default:
            raise ValueError(f"dropout.mar_hazard_ratio_not_in_remission: got {ratio}; it is used only with "
                             f"dropout.mechanism = \"mar\" (the mechanism is \"{self.mechanism}\"): set the "
                             "mechanism to mar or leave the ratio out")
        return self
