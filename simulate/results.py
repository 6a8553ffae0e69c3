"""What each stage hands on: frozen result objects, with their JSON form and their tables.

Every type here is a frozen dataclass. ``to_json()`` gives plain JSON values (NaN becomes null)
and ``from_json()`` reads them back (null becomes NaN where the field is a float); the main job
stores its finished pieces this way under ``.pieces/``. ``to_frame()`` gives the table a result
is written as. Nothing here computes a statistic: the numbers are made where the work is done
(:mod:`simulate.power`, :mod:`simulate.pipeline`), and the CLI and the report only show them.
"""

from __future__ import annotations

import functools
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from simulate.scenario import Scenario


# ----------------------------------------------------------------------------- JSON


TYPE_ONE_SE = 2.0
"""A simulated type I error further than this many Monte Carlo SE from alpha is called above or
below it (the report, the summary and the teaching lab all judge it so)."""


def against_alpha(rate: float, mc_se: float, alpha: float) -> int:
    """+1 if a simulated type I error ``rate`` (± ``mc_se``) is above ``alpha`` by more than
    :data:`TYPE_ONE_SE` Monte Carlo SE, -1 if below by more, 0 if within that error."""
    if rate - alpha > TYPE_ONE_SE * mc_se:
        return 1
    if alpha - rate > TYPE_ONE_SE * mc_se:
        return -1
    return 0


class Record:
    """Base of the result types: JSON out and back in, driven by the declared field types."""

    def to_json(self) -> dict:
        return {f.name: _encode(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, data: dict):
        hints = _hints(cls)
        return cls(**{f.name: _decode(data[f.name], hints[f.name])  # type: ignore[call-arg]
                      for f in fields(cls) if f.name in data})  # type: ignore[arg-type]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _decode(value, hint)
    if hint is float:
        return math.nan if value is None else float(value)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_json(value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(v, args[0]) for v in value)
        return tuple(_decode(v, a) for v, a in zip(value, args))
    if origin is dict:
        return {k: _decode(v, args[1]) for k, v in value.items()}
    return value


def _frame(rows: list[dict]) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- power


@dataclass(frozen=True)
class Comparison(Record):
    """One experimental arm against the control over the simulated trials."""

    arm: str
    control: str
    power: float
    """P(this comparison rejects), after any multiplicity adjustment."""
    mc_se: float
    true_difference: float
    mean_risk_difference: float
    risk_difference_bias_se: float
    ci_coverage: float
    mean_ci_width: float
    exaggeration_ratio: float


@dataclass(frozen=True)
class VisitRemission(Record):
    """The mean over trials of the share of an arm's randomised patients seen in the endpoint
    state at a scheduled visit (dropouts count as not in it: intention to treat)."""

    arm: str
    month: float
    remission: float
    mc_se: float


@dataclass(frozen=True)
class Look(Record):
    """One planned look of a group-sequential design over the simulated trials."""

    information_fraction: float
    efficacy_z: float
    """The planned efficacy boundary (z); at the final look, for a trial that randomised the target."""
    futility_z: float | None
    """The planned beta-spending futility boundary (z), or None."""
    p_stop_efficacy: float
    """P(stop for efficacy here); at the final look, P(reject H0 there)."""
    p_stop_efficacy_se: float
    p_stop_futility: float
    """P(stop for futility here); at the final look, P(not reject H0 there)."""
    p_stop_futility_se: float
    p_held: float
    """P(the trial reaches this look): it did not stop before, and had patients enough."""
    mean_month: float
    """Mean calendar month of the look's data cut, over the trials that held it."""
    mean_randomised: float
    """Mean patients randomised by then."""


@dataclass(frozen=True)
class PowerResult(Record):
    """Operating characteristics of a design, each with its Monte Carlo error."""

    scenario: str
    n_per_arm: int
    replicates: int
    seed: int
    engine: str
    test: str
    alpha: float
    alternative: str
    missing_strategy: str
    power: float
    mc_se: float
    ci_low: float
    ci_high: float
    rejections: int
    mean_randomised: float
    mean_dropouts: float
    p_recruitment_on_time: float
    p_recruitment_on_time_se: float
    p_terminated: float
    mean_recruitment_months: float
    recruitment_months_q10: float
    recruitment_months_q50: float
    recruitment_months_q90: float
    mean_duration_months: float
    duration_months_q10: float
    duration_months_q50: float
    duration_months_q90: float
    true_difference: float
    mean_risk_difference: float
    risk_difference_bias: float
    risk_difference_bias_se: float
    ci_coverage: float
    ci_coverage_se: float
    mean_ci_width: float
    """Mean width of the risk difference's interval: how precise one such trial is."""
    mean_abs_risk_difference_if_significant: float
    """Mean |estimated difference| among trials that rejected H0 (nan if none did)."""
    exaggeration_ratio: float
    """That mean over the true |difference|: how much significant trials overstate the effect
    (the winner's curse, or type M error); nan under no true difference."""
    mean_consort: dict[str, float] = field(default_factory=dict)
    """Mean CONSORT counts per trial, keyed by :data:`simulate.engines.CONSORT_FIELDS`."""
    elapsed_seconds: float = 0.0
    hypothesis: str = "superiority"
    margin: float = 0.0
    multiplicity: str = "none"
    success: str = "any"
    """What ``power`` counts with several experimental arms: any, all, or one arm's comparison."""
    power_any: float = math.nan
    """P(at least one comparison rejects), with its Monte Carlo SE below."""
    power_any_mc_se: float = math.nan
    power_all: float = math.nan
    """P(every comparison rejects)."""
    power_all_mc_se: float = math.nan
    comparisons: tuple[Comparison, ...] = ()
    """Each experimental arm against the control (with two arms: one, whose power is ``power``)."""
    remission_by_visit: tuple[VisitRemission, ...] = ()
    """Each arm's mean share in the endpoint state at each scheduled visit."""
    looks: tuple[Look, ...] = ()
    """With interim looks: each planned look (empty for a single final analysis)."""
    expected_randomised: float = math.nan
    """Mean patients randomised (with interim looks: fewer when trials stop early)."""
    expected_duration_months: float = math.nan
    """With interim looks: mean calendar month of the decision (a stop, or the final analysis)."""
    p_overrun_reversal: float = math.nan
    """With interim looks: P(a trial stopped for efficacy whose overrun analysis, with every
    patient randomised by the decision, falls below the planned final look's critical value)."""
    p_overrun_reversal_se: float = math.nan

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self, consort: bool = True, elapsed: bool = True) -> "pd.DataFrame":
        """One row; the mean CONSORT counts as ``mean_<count>`` columns unless ``consort=False``
        (the comparisons and the remission by visit have tables of their own)."""
        d = self.to_dict()
        d.pop("comparisons")
        d.pop("remission_by_visit")
        d.pop("looks")
        means = d.pop("mean_consort")
        if not elapsed:
            d.pop("elapsed_seconds")
        if consort:
            d.update({f"mean_{k}": v for k, v in means.items()})
        return _frame([d])


# ----------------------------------------------------------------------------- sample size


@dataclass(frozen=True)
class SampleSizePoint(Record):
    """Simulated power at one n per arm."""

    n_per_arm: int
    power: float
    mc_se: float
    ci_low: float
    ci_high: float
    mean_randomised: float
    p_recruitment_on_time: float


@dataclass(frozen=True)
class AnalyticReferences(Record):
    """Closed-form n per arm for the scenario's two rates, without dropout and with it (by the
    one rule of :func:`simulate.assumed.dropout_adjustment`); None where the arms do not differ."""

    p_control: float
    p_treat: float
    alpha: float
    power: float
    alternative: str
    pooled_normal: int | None = None
    fleiss_cc: int | None = None
    arcsine: int | None = None
    pooled_normal_with_dropout: int | None = None
    """n per arm to randomise: the pooled normal n for the rates the analysis sees, over the
    share of patients it analyses."""
    fleiss_cc_with_dropout: int | None = None
    dropout_rule: str = ""
    """How dropout was accounted for, in words."""
    note: str = ""
    margin: float = 0.0
    """Non-inferiority margin (0: superiority, and the three forms above apply)."""
    farrington_manning: int | None = None
    """Non-inferiority: Farrington and Manning's n per arm (the forms above do not apply)."""
    farrington_manning_with_dropout: int | None = None


@dataclass(frozen=True)
class SampleSizeResult(Record):
    """The smallest n per arm whose simulated power reaches a target, safe against the saw-tooth."""

    n_per_arm: int | None
    """Smallest n per arm reaching the target and staying there over the window; None if none."""
    power: float | None
    mc_se: float | None
    target: float
    window: int
    curve: tuple[SampleSizePoint, ...]
    """Every n evaluated, in increasing order."""
    analytic: AnalyticReferences
    note: str = ""
    n_range: tuple[int, int] | None = None
    """The n per arm the Monte Carlo error cannot tell apart from the answer: from the smallest
    evaluated n whose 95% power interval reaches the target to the smallest from which every
    interval within the window lies at or above it."""
    replicates: int | None = None
    """Simulated trials per n near the answer (more than asked for when a precision was set)."""
    expected_randomised_h1: float | None = None
    """With interim looks: mean patients randomised at the answer under the scenario's effect ..."""
    expected_randomised_h0: float | None = None
    """... and with no true difference (or, for non-inferiority, at the margin)."""
    fixed_n_per_arm: int | None = None
    """With interim looks: the same search for the design without them."""

    def to_frame(self) -> "pd.DataFrame":
        """The evaluated curve, one row per n."""
        return _frame([asdict(p) for p in self.curve])


@dataclass(frozen=True)
class ClosedFormPoint(Record):
    """Closed-form power (pooled normal approximation) at one n per arm."""

    n_per_arm: int
    pooled_normal: float
    """Without dropout: every randomised patient analysed at the scenario's rates."""
    pooled_normal_with_dropout: float
    """With dropout, by the rule of :func:`simulate.assumed.dropout_adjustment`."""


@dataclass(frozen=True)
class SampleSizePlan(Record):
    """The sample-size piece of the main job: a search per target power, the simulated curve
    they evaluated together, and the closed-form curve over the same range."""

    searches: tuple[SampleSizeResult, ...]
    curve: tuple[SampleSizePoint, ...]
    closed_form: tuple[ClosedFormPoint, ...]
    dropout_rule: str = ""

    def to_frame(self) -> "pd.DataFrame":
        """The simulated curve with a ``chosen_for_<target %>`` column per search."""
        rows = _frame([asdict(p) for p in self.curve])
        for s in self.searches:
            chosen = rows.n_per_arm == s.n_per_arm if s.n_per_arm is not None else False
            rows[f"chosen_for_{round(100 * s.target)}"] = chosen
        return rows


# ----------------------------------------------------------------------------- sweep


@dataclass(frozen=True)
class SweepPoint(Record):
    """Simulated power at one point of the sensitivity grid."""

    values: dict[str, Any]
    """The grid's values at this point, by dotted scenario path."""
    power: float
    mc_se: float
    ci_low: float
    ci_high: float
    replicates: int
    n_per_arm: int
    mean_randomised: float
    p_recruitment_on_time: float
    mean_duration_months: float
    mean_dropouts: float


@dataclass(frozen=True)
class SweepResult(Record):
    """Power over a scenario's ``[sweep]`` grid, one point per combination."""

    axes: tuple[str, ...]
    points: tuple[SweepPoint, ...]

    def to_frame(self) -> "pd.DataFrame":
        """One tidy row per point: the grid values (one column per axis), then the results."""
        rows = []
        for p in self.points:
            row = asdict(p)
            rows.append({**row.pop("values"), **row})
        return _frame(rows)


# ----------------------------------------------------------------------------- screening


@dataclass(frozen=True)
class FunnelStep(Record):
    """One eligibility criterion of the funnel, in the registry's order."""

    criterion: str
    description: str
    kind: str
    """``permanent`` (excludes) or ``time-dependent`` (defers)."""
    failing: int
    excluded: int
    deferred: int
    remaining: int
    exclusion: str = ""
    """The failed condition in words ("diabetes mellitus", "age < 18 or > 80 years"): how an
    exclusion reads in the CONSORT diagram."""


@dataclass(frozen=True)
class ScreeningFunnel(Record):
    """The eligibility funnel of a large simulated referred cohort."""

    screened: int
    eligible: int
    deferred: int
    excluded: int
    steps: tuple[FunnelStep, ...]

    def to_frame(self) -> "pd.DataFrame":
        return _frame([asdict(s) for s in self.steps])


# ----------------------------------------------------------------------------- example trial


@dataclass(frozen=True)
class Consort(Record):
    """The CONSORT counts of one trial. The totals are :data:`simulate.engines.CONSORT_FIELDS`."""

    referred: int
    excluded_total: int
    deferred: int
    lost_during_deferral: int
    not_randomised_enrolment_closed: int
    randomised: int
    excluded: dict[str, int]
    """Excluded patients by the first criterion they failed."""
    randomised_per_arm: dict[str, int]
    discontinued_per_arm: dict[str, int]
    analysed_per_arm: dict[str, int]


@dataclass(frozen=True)
class TrialCalendar(Record):
    """When one trial recruited and ended (months from its start; None if nobody was randomised)."""

    first_randomisation_month: float | None
    last_randomisation_month: float | None
    recruitment_months: float | None
    enrolment_closed_month: float | None
    enrolment_close_reason: str
    duration_months: float
    terminated: bool
    recruited_on_time: bool


@dataclass(frozen=True)
class PatientCourse(Record):
    """One randomised patient's course (months from randomisation; NaN where it did not happen)."""

    patient: int
    arm: str
    remission_month: float
    relapse_month: float
    dropout_month: float
    dropout_reason: str
    endpoint_status: str
    """``complete``, ``partial``, ``none`` or ``missing`` (dropped out)."""


@dataclass(frozen=True)
class KaplanMeierStep(Record):
    """A step of a cumulative-incidence curve: its month, the share reached by then, and the
    patients at risk just before it."""

    month: float
    cumulative_remission: float
    at_risk: int


@dataclass(frozen=True)
class ExampleTrial(Record):
    """Trial 0 of the seed (the ``trial`` command's trial): its counts, calendar and patients."""

    consort: Consort
    calendar: TrialCalendar
    remission_at_endpoint: dict[str, float]
    """Observed share in remission at the endpoint per arm (dropouts count as failures)."""
    patients: tuple[PatientCourse, ...]
    kaplan_meier: dict[str, tuple[KaplanMeierStep, ...]]
    """Cumulative first remission per arm (1 - Kaplan-Meier), from month 0."""


@dataclass(frozen=True)
class ArmRemission(Record):
    """What the calibrated outcome model (:mod:`simulate.outcomes`) implies for one arm over the
    eligible population, dropout aside."""

    arm: str
    first_remission: float
    """P(a first remission, complete or partial, by the endpoint): what a time-to-first-remission
    curve with dropouts censored estimates at the endpoint."""
    lasting: float
    """P(no relapse before the endpoint | a first remission)."""
    endpoint_rate: float
    """P(in the endpoint state at the endpoint): the arm's assumed ``remission_at_endpoint``."""
    rebound_month: float
    """Month from which the off-CNI relapse hazard applies (the end of the CNI course or of the
    B-cell cover, whichever is later); nan without a CNI, or when it falls after the endpoint."""


@dataclass(frozen=True)
class RemissionModel(Record):
    """Each arm's :class:`ArmRemission`, in the scenario's order (as remission_model.csv)."""

    endpoint_month: float
    arms: tuple[ArmRemission, ...]

    def to_frame(self) -> "pd.DataFrame":
        return _frame([asdict(a) for a in self.arms])


# ----------------------------------------------------------------------------- accrual


@dataclass(frozen=True)
class ObservedAccrual(Record):
    """What the real trial achieved."""

    n_randomised: int
    months: float
    source: str


@dataclass(frozen=True)
class Accrual(Record):
    """Randomisation months of the first simulated trials (the fan), beside the plan."""

    curves: tuple[tuple[float, ...], ...]
    """Per trial, its randomisation months in increasing order."""
    n_target: int
    recruitment_months: float
    hard_stop_months: float
    observed: ObservedAccrual | None


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class ScenarioSource(Record):
    """The scenario file a run was loaded from, with the sources written beside its figures."""

    path: str
    header: str
    """The file's opening comment."""
    comments: dict[str, str]
    """Each dotted key's comment (its source or assumption)."""


@dataclass(frozen=True)
class ZPath(Record):
    """One simulated trial's path through a group-sequential design: its z at each look held."""

    trial: int
    """The trial's index in the run (block 0)."""
    information: tuple[float, ...]
    """Information fraction of each look held: determined endpoints over the planned total at an
    interim look, patients analysed over the planned total at the final look."""
    z: tuple[float, ...]
    month: tuple[float, ...]
    """Calendar month of each look's data cut."""
    outcome: str
    """``efficacy`` or ``futility`` (stopped at an interim look), or ``final``."""
    rejected: bool
    """H0 rejected: an efficacy stop, or the final bound crossed."""
    final_bound: float
    """The efficacy bound of the final look the trial reached (nan after a stop): the planned one,
    or the one spending the remaining alpha at the information of a trial short of its target."""
    overrun_information: float
    """After an efficacy stop: patients randomised by the decision over the planned total (nan otherwise)."""
    overrun_z: float
    """The z of that overrun analysis (nan otherwise)."""


@dataclass(frozen=True)
class InterimDetail(Record):
    """What the report shows of a group-sequential design beyond the power piece's looks: the
    same scenario without ``[interim]`` (same seed and trials: the fixed design it replaces) and
    the z paths of the first trials of the run."""

    fixed: PowerResult
    paths: tuple[ZPath, ...]


@dataclass(frozen=True)
class RunResults:
    """Everything the main job computed for one scenario: what the report renders."""

    scenario: "Scenario"
    seed: int
    replicates: int
    engine: str
    screening: ScreeningFunnel
    power: PowerResult
    samplesize: SampleSizePlan
    sweep: SweepResult | None
    example_trial: ExampleTrial
    accrual: Accrual
    summary: tuple[str, ...]
    """The plain-language summary, one sentence per item."""
    source: ScenarioSource | None = None
    overrides: tuple[str, ...] = ()
    """The ``--set PATH=VALUE`` texts the scenario was loaded with."""
    interim: InterimDetail | None = None
    """With interim looks: the fixed design and the first trials' z paths."""
    created: str = ""
    """When the run was made (UTC, ISO 8601 to the minute), as run.json records it."""
    code_hash: str = ""
    """A hash of trialsim's source (:func:`simulate.pipeline.code_hash`), as run.json records it."""
    remission_model: RemissionModel | None = None
    """What the outcome model implies per arm (first remission, how much of it lasts)."""
    folder: str = ""
    """The folder the run wrote (as given or chosen by the default-folder rule)."""
