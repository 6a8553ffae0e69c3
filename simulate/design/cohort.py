"""Who is referred and who is eligible: the cohort's covariate distributions, the eligibility
thresholds, and the definitions of remission and relapse."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field, model_validator

from simulate.design.fields import (AGE_RANGE_MASS_MIN, AGE_YEARS_MAX, Age, Albumin, CalendarMonths,
                                    EGFR_ML_MIN_MAX, Egfr, Fraction, Model, PROTEINURIA_G_DAY_MAX,
                                    PositiveCalendarMonths, PositiveProteinuria, Proteinuria, Titre)


class Cohort(Model):
    """The referred population (see simulate/population/cohort.py for how each is drawn)."""

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
