"""The scenario models: a validated and frozen :class:`Scenario`, its recruitment, randomisation,
observed data, simulation settings and sweep, and the checks across its sections (the sections
themselves: :mod:`simulate.design.arms`, :mod:`simulate.design.cohort`,
:mod:`simulate.design.analysis_plan`; their shared bounds: :mod:`simulate.design.fields`).

A scenario says *what* is simulated: the design, the population, the model's assumptions and
the analysis. It is validated once, here, at the boundary: unknown keys, wrong types,
out-of-range values and contradictions between fields each give one line naming the field path,
the value received and what is allowed. Loading (files, overrides, ``base =``, sweeps) and the
checks only the outcome model and the screen can make live in :mod:`simulate.design.loader`; past it
nothing re-checks.

Units live in field names (``_months``, ``_g_day``, ``_g_l``, ``_ml_min``). Every figure taken
from the literature carries its source as a comment in the scenario file; see
``scenarios/nct04743739.toml``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from simulate.analysis import registry
from simulate.analysis.rules import look_counts
from simulate.design.choices import IMPUTATION_STRATEGIES
from simulate.design.fields import (ARM_ID_PATTERN, CalendarMonths, FrozenDict, MAX_ARMS, MIN_ARMS, Model,
                                    PositiveCalendarMonths, PositiveFollowUpMonths, PositiveProteinuria,
                                    Probability, STRATIFICATION_FACTORS, SUCCESS_ALL, Titre)
from simulate.design.analysis_plan import Analysis, Interim
from simulate.design.arms import Arm, Dropout, Outcome, Trial
from simulate.design.priors import HistoricalTrial
from simulate.design.cohort import Cohort, Definitions, Eligibility
from simulate.design.estimand import Estimand, Intercurrent, intercurrent_problems, strategy_of


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
    intercurrent: dict[str, Intercurrent] = {}
    """Intercurrent events (ICH E9(R1)), each an ``[intercurrent.<id>]`` table, in the file's order
    (:mod:`simulate.design.estimand`)."""
    estimand: Estimand | None = None
    """The estimand: population, variable, summary measure and a strategy per intercurrent event
    (without it: the defaults of :mod:`simulate.design.estimand`)."""
    analysis: Analysis = Analysis()
    interim: Interim | None = None
    """Interim looks (a group-sequential design); without it, one final analysis."""
    recruitment: Recruitment = Recruitment()
    randomisation: Randomisation = Randomisation()
    cohort: Cohort = Cohort()
    eligibility: Eligibility = Eligibility()
    definitions: Definitions = Definitions()
    historical: tuple[HistoricalTrial, ...] = ()
    """Earlier trials' control arms (``[[historical]]`` tables), for a meta-analytic-predictive
    analysis prior (analysis_prior = { meta_analytic = true })."""
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
        object.__setattr__(self, "intercurrent", FrozenDict(self.intercurrent))
        if self.estimand is not None:
            object.__setattr__(self.estimand, "strategies", FrozenDict(self.estimand.strategies))
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
        problems += self._design_prior_problems()
        problems += self._historical_problems()
        problems += intercurrent_problems(self.intercurrent, self.estimand, tuple(self.arms),
                                          tuple(self.trial.visit_months), self.trial.endpoint_month)
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

    def _historical_problems(self) -> list[str]:
        """A meta-analytic prior needs earlier trials, and only an analysis prior can be one."""
        problems = []
        for name, arm in self.arms.items():
            if arm.analysis_prior.meta_analytic and name != self.control_arm:
                problems.append(f"arms.{name}.analysis_prior.meta_analytic: got true; the [[historical]] trials are "
                                f"control arms, so only the control ({self.control_arm}) can borrow from them")
            elif arm.analysis_prior.meta_analytic and not self.historical:
                problems.append(f"arms.{name}.analysis_prior.meta_analytic: got true; there are no [[historical]] "
                                "trials to derive it from: add [[historical]] tables (name, responders, n)")
            if arm.design_prior is not None and arm.design_prior.meta_analytic:
                problems.append(f"arms.{name}.design_prior.meta_analytic: got true; only an analysis prior can be "
                                "meta-analytic: give the design prior as beta = [a, b] or a mixture")
        return problems

    def _design_prior_problems(self) -> list[str]:
        """Trials drawn from the design priors need a prior, and dropout whose rates do not hang
        on the arm's rate (the mar and mnar hazards are calibrated to one rate)."""
        problems = []
        priors = any(a.design_prior is not None for a in self.arms.values())
        d = self.dropout
        if priors and d.mechanism != "mcar" and d.probability_by_endpoint > 0:
            problems.append(f"dropout.mechanism: got {d.mechanism!r}; design priors (the assurance) need mcar "
                            "dropout: mar and mnar hazards are calibrated to one rate per arm")
        for name, arm in self.arms.items():
            if arm.design_rate is not None and self.outcome.rates_are != "published":
                problems.append(f"arms.{name}.design_rate: got {arm.design_rate:g}; a design rate is given only where "
                                "the arms' rates are published results: set outcome.rates_are = \"published\", or "
                                "remove it")
        if self.outcome.rates_from != "design_prior":
            return problems
        if not priors:
            problems.append("outcome.rates_from: got 'design_prior'; no arm has a design_prior: give one, e.g. "
                            "arms.<id>.design_prior = { beta = [a, b] }, or keep rates_from = \"assumed\"")
        return problems

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
        counts = look_counts(f, self.n_target)
        same = next((k for k in range(1, len(counts)) if counts[k] == counts[k - 1]), None)
        if same is not None:
            problems.append(f"interim.information_fractions: got {f}; with {self.n_target} patients looks "
                            f"{same} and {same + 1} would both come at {counts[same]} determined endpoints: "
                            "space them further apart")
        if a.framework == "bayesian":
            return problems + self._bayesian_interim_problems()
        if a.adjustment == "mantel_haenszel":
            problems.append("analysis.adjustment: got 'mantel_haenszel'; the Mantel-Haenszel difference is not "
                            "monitored at interim looks: set adjustment = \"g_computation\" (with adjust_for), or "
                            "leave the looks out")
        elif not test.interim:
            usable = " or ".join(f'"{e.name}"' for e in registry.entries() if e.interim and not e.covariates)
            problems.append(f"analysis.test: got {a.test!r}; interim looks use the score statistic: set "
                            f"test = {usable}")
        if test.covariates and a.missing in IMPUTATION_STRATEGIES:
            problems.append(f"analysis.missing: got {a.missing!r}; interim looks decide on the patients seen so far, "
                            "and an adjusted analysis is not imputed at a look: set missing = \"nonresponder\", "
                            "\"complete_case\" or \"locf\", or leave the looks out")
        i = self.interim
        if i.futility == "predictive_probability":
            problems.append("interim.futility: got 'predictive_probability'; the predictive probability of success "
                            "is that of a Bayesian design: set analysis.framework = \"bayesian\", or futility = "
                            "\"conditional_power\" (its frequentist counterpart)")
        if i.efficacy_threshold is not None:
            problems.append(f"interim.efficacy_threshold: got {i.efficacy_threshold}; a posterior-probability "
                            "threshold belongs to a Bayesian design: set analysis.framework = \"bayesian\", or "
                            "bound the looks by interim.efficacy_spending")
        return problems

    def _bayesian_interim_problems(self) -> list[str]:
        """A Bayesian design's looks decide on the posterior probability of benefit (efficacy)
        and the predictive probability of success (futility): the fields of z-scale boundaries
        (alpha and beta spending, conditional power) have no meaning there."""
        i, problems = self.interim, []
        frequentist = [name for name in ("efficacy_spending", "hsd_gamma", "futility_beta", "futility_binding",
                                         "futility_conditional_power")
                       if getattr(i, name) != type(i).model_fields[name].default]     # set away from its default
        for name in frequentist:
            problems.append(f"interim.{name}: got {getattr(i, name)!r}; it bounds the z of a frequentist test, and "
                            "analysis.framework is \"bayesian\": a Bayesian design stops for efficacy when the "
                            "posterior probability of benefit exceeds interim.efficacy_threshold (1: never), and for "
                            "futility by futility = \"predictive_probability\"")
        if i.futility in ("beta_spending", "conditional_power"):
            problems.append(f"interim.futility: got {i.futility!r}; with analysis.framework = \"bayesian\" futility "
                            "is \"predictive_probability\" (below interim.futility_threshold) or \"none\"")
        return problems

    @property
    def sweep_grid(self) -> dict[str, tuple[Any, ...]]:
        """The sensitivity grid as {dotted path: values} (a fresh dict each time)."""
        return {axis.path: axis.values for axis in self.sweep}

    @property
    def strategies(self) -> dict[str, str]:
        """Each intercurrent event's strategy, by id, in the file's order (the estimand's, else
        its kind's default)."""
        return {name: strategy_of(self.intercurrent, self.estimand, name) for name in self.intercurrent}

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
