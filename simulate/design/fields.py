"""The scenario's shared ground: bounded number types, the named choices of its sections, and the
frozen base model every section derives from.

Every number of a scenario is bounded, each bound for a reason given here or in the field's
docstring: within the bounds a scenario that validates runs to the end (the simulation holds at
every edge), and nothing a trial could mean is refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Fraction = Probability


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

DROPOUT_MECHANISMS = ("mcar", "mar", "mnar")
"""Missing completely at random, missing at random (on the status seen at visits), missing not
at random (on the unobserved endpoint outcome): ICH E9(R1)'s sensitivity analyses' mechanisms."""
DROPOUT_MECHANISM_ALIASES = {"informative": "mnar"}
"""Earlier names of a mechanism, read as it: ``informative`` was mnar's name before mar came."""
DROPOUT_HAZARD_RATIO_MAX = 100.0
"""A dropout hazard ratio of at most 100 either way: one group gone within days while the other
stays for years, beyond any dropout a trial has reported."""
STRATIFICATION_FACTORS = ("pla2r_titre_high", "proteinuria_high")
ENDPOINTS = ("cr_or_pr", "cr")
"""The primary endpoint: complete or partial remission, or complete remission only."""
HYPOTHESES = ("superiority", "non_inferiority")
FRAMEWORKS = ("frequentist", "bayesian")
"""How a comparison decides: a test at a level, or a posterior probability above a threshold."""
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
FUTILITY_RULES = ("none", "beta_spending", "conditional_power", "predictive_probability")
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
        raise TypeError("a scenario is frozen: build a new one (simulate.design.loader.with_overrides)")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __reduce__(self):                      # pickled and copied whole, never item by item
        return FrozenDict, (dict(self),)


class Model(BaseModel):
    """Base of every scenario section: frozen, and typos are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True,
                              allow_inf_nan=False)
