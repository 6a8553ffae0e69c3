"""What each stage hands on: frozen result objects, with their JSON form and their tables.

Every type here is a frozen dataclass (:class:`simulate.run.record.Record`): ``to_json()`` gives
plain JSON values through pydantic (NaN becomes null) and ``from_json()`` validates them back
(null becomes NaN where the field is a :data:`~simulate.run.record.Float`); the main job stores
its finished pieces this way under ``.pieces/``. ``to_frame()`` gives the table a result is
written as. The records of the example trial, the funnel, the accrual and the outcome model are
:mod:`simulate.run.trial_results`'s, those of the sample-size search
:mod:`simulate.run.samplesize_results`'s (all of them read here too). Nothing here computes a statistic: the numbers are made where the work is done
(:mod:`simulate.run.power`, :mod:`simulate.run`), and the CLI and the report only show them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from simulate.run.record import Float, Record, frame
from simulate.run.samplesize_results import (AnalyticReferences, ClosedFormPoint, SampleSizePlan,  # noqa: F401
                                             SampleSizePoint, SampleSizeResult)
from simulate.run.trial_results import (Accrual, ExampleTrial, RemissionModel, ScenarioSource, ScreeningFunnel,
                                        ZPath)

if TYPE_CHECKING:
    import pandas as pd

    from simulate.design.scenario import Scenario


# ----------------------------------------------------------------------------- type I error


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


# ----------------------------------------------------------------------------- power


@dataclass(frozen=True)
class Comparison(Record):
    """One experimental arm against the control over the simulated trials: the record of each
    comparison's estimates, each with its Monte Carlo standard error."""

    arm: str
    control: str
    power: Float
    """P(this comparison rejects), after any multiplicity adjustment."""
    mc_se: Float
    true_difference: Float
    mean_risk_difference: Float
    risk_difference_bias_se: Float
    """Monte Carlo SE of the mean estimate (and so of its bias)."""
    ci_coverage: Float
    mean_ci_width: Float
    """Mean width of the risk difference's interval: how precise one such trial is."""
    exaggeration_ratio: Float
    """:attr:`mean_abs_risk_difference_if_significant` over the true |difference|: how much
    significant trials overstate the effect (the winner's curse, or type M error); nan under no
    true difference."""
    rejections: int = 0
    ci_coverage_se: Float = math.nan
    mean_ci_width_mc_se: Float = math.nan
    mean_abs_risk_difference_if_significant: Float = math.nan
    """Mean |estimated difference| among trials that rejected H0 (nan if none did)."""
    mean_abs_risk_difference_if_significant_mc_se: Float = math.nan
    exaggeration_ratio_mc_se: Float = math.nan
    true_difference_mc_se: Float = 0.0
    """Monte Carlo SE of the true difference: 0 when it is the assumed rates' difference, else
    that of its estimate over the reference sample (intercurrent events)."""
    summary_measure: str = "risk_difference"
    """The estimand's summary measure; with a ratio, the figures below are on its scale."""
    true_ratio: Float = math.nan
    """The estimand's true risk or odds ratio (experimental over control)."""
    true_log_ratio_mc_se: Float = math.nan
    mean_log_ratio: Float = math.nan
    """Mean estimated log ratio over the trials (0.5 added to every cell of a table with an empty one)."""
    mean_log_ratio_mc_se: Float = math.nan
    log_ratio_bias: Float = math.nan
    """Mean log ratio less the true one (its SE: :attr:`mean_log_ratio_mc_se`)."""
    ratio_ci_coverage: Float = math.nan
    """Coverage of the true ratio by the 95% Wald interval of the log ratio."""
    ratio_ci_coverage_se: Float = math.nan

    @property
    def risk_difference_bias(self) -> float:
        """Mean estimate less the true difference (its SE: :attr:`risk_difference_bias_se`)."""
        return self.mean_risk_difference - self.true_difference


@dataclass(frozen=True)
class VisitRemission(Record):
    """The mean over trials of the share of an arm's randomised patients seen in the endpoint
    state at a scheduled visit (dropouts count as not in it: intention to treat)."""

    arm: str
    month: Float
    remission: Float
    mc_se: Float


@dataclass(frozen=True)
class Look(Record):
    """One planned look of a group-sequential design over the simulated trials."""

    information_fraction: Float
    efficacy_z: float | None
    """The planned efficacy boundary (z); at the final look, for a trial that randomised the
    target. None for a Bayesian design (:attr:`efficacy_probability`)."""
    futility_z: float | None
    """The planned beta-spending futility boundary (z), or None."""
    p_stop_efficacy: Float
    """P(stop for efficacy here); at the final look, P(reject H0 there)."""
    p_stop_efficacy_se: Float
    p_stop_futility: Float
    """P(stop for futility here); at the final look, P(not reject H0 there)."""
    p_stop_futility_se: Float
    p_held: Float
    """P(the trial reaches this look): it did not stop before, and had patients enough."""
    mean_month: Float
    """Mean calendar month of the look's data cut, over the trials that held it."""
    mean_randomised: Float
    """Mean patients randomised by then."""
    p_held_mc_se: Float = math.nan
    mean_month_mc_se: Float = math.nan
    mean_randomised_mc_se: Float = math.nan
    efficacy_probability: float | None = None
    """A Bayesian design's: the posterior probability of benefit above which the look stops for
    efficacy (at the final look: succeeds); None for a z-scale design, or where it never stops."""
    futility_predictive: float | None = None
    """A Bayesian design's: the predictive probability of success below which an interim look
    stops for futility; None without that rule, and at the final look."""

    @property
    def bound(self) -> float | None:
        """The efficacy bound on the look statistic's scale (z, or posterior probability)."""
        return self.efficacy_z if self.efficacy_probability is None else self.efficacy_probability


class _FirstComparison:
    """A top-level figure of a power result that is its first comparison's (with two arms, the
    only one): a view of the record in :attr:`PowerResult.comparisons`, never a stored copy."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj.comparisons[0], self.name) if obj.comparisons else math.nan


FIRST_COMPARISON_VIEW = ("true_difference", "true_difference_mc_se", "mean_risk_difference", "risk_difference_bias",
                         "risk_difference_bias_se", "ci_coverage", "ci_coverage_se", "mean_ci_width", "mean_ci_width_mc_se",
                         "mean_abs_risk_difference_if_significant", "mean_abs_risk_difference_if_significant_mc_se",
                         "exaggeration_ratio", "exaggeration_ratio_mc_se")
"""The first comparison's figures a power result shows at its top level (``--json``, power.csv)."""


@dataclass(frozen=True)
class PowerResult(Record):
    """Operating characteristics of a design, each with its Monte Carlo error.

    The comparisons are the record of each arm's estimates; the estimate figures at the top
    level (:data:`FIRST_COMPARISON_VIEW`) are read from the first of them, and
    ``expected_randomised`` is ``mean_randomised``: views, not copies.
    """

    scenario: str
    n_per_arm: int
    replicates: int
    seed: int
    engine: str
    test: str
    alpha: Float
    alternative: str
    missing_strategy: str
    power: Float
    mc_se: Float
    ci_low: Float
    ci_high: Float
    rejections: int
    mean_randomised: Float
    """Mean patients randomised (with interim looks: fewer when trials stop early)."""
    mean_randomised_mc_se: Float
    mean_dropouts: Float
    mean_dropouts_mc_se: Float
    p_recruitment_on_time: Float
    p_recruitment_on_time_se: Float
    p_terminated: Float
    p_terminated_mc_se: Float
    mean_recruitment_months: Float
    mean_recruitment_months_mc_se: Float
    recruitment_months_q10: Float
    recruitment_months_q50: Float
    recruitment_months_q90: Float
    mean_duration_months: Float
    mean_duration_months_mc_se: Float
    duration_months_q10: Float
    duration_months_q50: Float
    duration_months_q90: Float
    mean_consort: dict[str, Float] = field(default_factory=dict)
    """Mean CONSORT counts per trial, keyed by :data:`simulate.engines.blocks.CONSORT_FIELDS`."""
    mean_consort_mc_se: dict[str, Float] = field(default_factory=dict)
    elapsed_seconds: Float = 0.0
    hypothesis: str = "superiority"
    margin: Float = 0.0
    multiplicity: str = "none"
    success: str = "any"
    """What ``power`` counts with several experimental arms: any, all, or one arm's comparison."""
    power_any: Float = math.nan
    """P(at least one comparison rejects), with its Monte Carlo SE below."""
    power_any_mc_se: Float = math.nan
    power_all: Float = math.nan
    """P(every comparison rejects)."""
    power_all_mc_se: Float = math.nan
    comparisons: tuple[Comparison, ...] = ()
    """Each experimental arm against the control (with two arms: one, whose power is ``power``)."""
    remission_by_visit: tuple[VisitRemission, ...] = ()
    """Each arm's mean share in the endpoint state at each scheduled visit."""
    looks: tuple[Look, ...] = ()
    """With interim looks: each planned look (empty for a single final analysis)."""
    expected_duration_months: Float = math.nan
    """With interim looks: mean calendar month of the decision (a stop, or the final analysis)."""
    expected_duration_months_mc_se: Float = math.nan
    p_overrun_reversal: Float = math.nan
    """With interim looks: P(a trial stopped for efficacy whose overrun analysis, with every
    patient randomised by the decision, falls below the planned final look's critical value)."""
    p_overrun_reversal_se: Float = math.nan
    tipping_point: tuple[dict, ...] = ()
    """With ``analysis.tipping_point_deltas``: per comparison and pair of shifts of the imputed
    patients' log-odds of remission (``delta_control``, ``delta_experimental``), the power at the
    comparison's unadjusted level with its Monte Carlo SE, and the mean estimate."""
    tipping_point_overturn: tuple[dict, ...] = ()
    """Per comparison, with a tipping-point grid: the experimental arm's shift nearest 0 (the
    control's at 0, if in the grid, else its shift nearest 0) at which significance is
    overturned on average (power below one half: most trials no longer reject), or None if no
    shift in the grid does."""
    bayes: dict | None = None
    """With analysis.framework = "bayesian": the success ``threshold`` and each arm's analysis
    prior (``prior``: [[w, a, b], ...]) with its effective sample size (``prior_ess``, moment
    matching: :func:`simulate.analysis.beta_posterior.ess`)."""
    estimand: dict | None = None
    """The estimand (ICH E9(R1)): its population, variable, summary measure, the intercurrent
    events and their strategies, and each comparison's true value with its Monte Carlo SE
    (:func:`simulate.population.intercurrent.estimand_record`)."""
    rates_from: str = "assumed"
    """``outcome.rates_from``: "design_prior" when each trial drew its own rates (``power`` is
    then the assurance)."""
    assurance: Float = math.nan
    """With a design prior on some arm: the chance of success over trials that draw their true
    rates from the design priors (the same seed's trials otherwise), beside ``power`` at the
    assumed rates; nan without one."""
    assurance_mc_se: Float = math.nan
    assurance_detail: dict | None = None
    """What lies behind the assurance (:func:`simulate.run.assurance.assurance_detail`): its
    interval and trials, each arm's design prior and mean drawn rate, the prior probability of a
    true benefit, the distribution of conditional power over the prior (normal approximation)
    and the calibration's largest error."""
    null_world: dict | None = None
    """The same design in its null world, on the same seed's trials
    (:func:`simulate.run.operating.null_world_record`): the type I error with its Monte Carlo SE
    (with several arms the family-wise error and each comparison's; with looks the overall alpha
    and the stopping per look), and the expected number randomised and duration under H0."""
    design_stage: dict | None = None
    """Where the rates are published results and the arms give the rates their design assumed
    (:func:`simulate.run.operating.with_design_stage`): those rates and the power at them."""

    true_difference = _FirstComparison()
    true_difference_mc_se = _FirstComparison()
    mean_risk_difference = _FirstComparison()
    risk_difference_bias = _FirstComparison()
    risk_difference_bias_se = _FirstComparison()
    ci_coverage = _FirstComparison()
    ci_coverage_se = _FirstComparison()
    mean_ci_width = _FirstComparison()
    mean_ci_width_mc_se = _FirstComparison()
    mean_abs_risk_difference_if_significant = _FirstComparison()
    mean_abs_risk_difference_if_significant_mc_se = _FirstComparison()
    exaggeration_ratio = _FirstComparison()
    exaggeration_ratio_mc_se = _FirstComparison()

    @property
    def expected_randomised(self) -> float:
        """Mean patients randomised: with interim looks, fewer when trials stop early."""
        return self.mean_randomised

    @property
    def expected_randomised_mc_se(self) -> float:
        return self.mean_randomised_mc_se

    def to_dict(self) -> dict:
        """Every field, with the derived top-level figures where readers find them: the first
        comparison's after the durations, ``expected_randomised`` before the expected duration."""
        out: dict = {}
        for key, value in asdict(self).items():
            if key == "mean_consort":
                out.update({name: getattr(self, name) for name in FIRST_COMPARISON_VIEW})
            if key == "expected_duration_months":
                out.update(expected_randomised=self.expected_randomised,
                           expected_randomised_mc_se=self.expected_randomised_mc_se)
            out[key] = value
        return out

    def to_frame(self, consort: bool = True, elapsed: bool = True) -> "pd.DataFrame":
        """One row; the mean CONSORT counts as ``mean_<count>`` columns unless ``consort=False``
        (the comparisons and the remission by visit have tables of their own)."""
        d = self.to_dict()
        d.pop("comparisons")
        d.pop("remission_by_visit")
        d.pop("looks")
        d.pop("estimand")
        d.pop("bayes")
        d.pop("assurance_detail")
        d.pop("design_stage")
        null = d.pop("null_world") or {}
        for key in ("type1_error", "mc_se", "family_wise_error", "expected_randomised", "expected_duration_months"):
            if key in null:
                d[f"null_{key}"] = null[key]
        d.pop("tipping_point")
        d.pop("tipping_point_overturn")
        means = d.pop("mean_consort")
        ses = d.pop("mean_consort_mc_se")
        if not elapsed:
            d.pop("elapsed_seconds")
        if consort:
            d.update({f"mean_{k}": v for k, v in means.items()})
            d.update({f"mean_{k}_mc_se": v for k, v in ses.items()})
        return frame([d])


# ----------------------------------------------------------------------------- sweep


@dataclass(frozen=True)
class SweepPoint(Record):
    """Simulated power at one point of the sensitivity grid."""

    values: dict[str, Any]
    """The grid's values at this point, by dotted scenario path."""
    power: Float
    mc_se: Float
    ci_low: Float
    ci_high: Float
    replicates: int
    n_per_arm: int
    mean_randomised: Float
    p_recruitment_on_time: Float
    mean_duration_months: Float
    mean_dropouts: Float
    mean_randomised_mc_se: Float = math.nan
    p_recruitment_on_time_se: Float = math.nan
    mean_duration_months_mc_se: Float = math.nan
    mean_dropouts_mc_se: Float = math.nan
    true_difference: Float = math.nan
    """The first comparison's estimand: its true difference, and how its estimates land on it
    (the mean estimate, the bias with its Monte Carlo SE, the interval's coverage)."""
    mean_risk_difference: Float = math.nan
    risk_difference_bias: Float = math.nan
    risk_difference_bias_se: Float = math.nan
    ci_coverage: Float = math.nan
    ci_coverage_se: Float = math.nan
    true_difference_mc_se: Float = math.nan
    """Monte Carlo SE of the true difference (0 when it is the assumed rates' difference)."""


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
        return frame(rows)


# ----------------------------------------------------------------------------- the run


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
    """A hash of trialsim's source (:func:`simulate.run.pieces.code_hash`), as run.json records it."""
    remission_model: RemissionModel | None = None
    """What the outcome model implies per arm (first remission, how much of it lasts)."""
    folder: str = ""
    """The folder the run wrote (as given or chosen by the default-folder rule)."""
    oc_curve: Any = None
    """The power over the true effect (:class:`simulate.run.operating.OCCurve`)."""
    adjustment: Any = None
    """With a covariate-adjusted analysis: the unadjusted counterpart beside it
    (:class:`simulate.run.adjustment.AdjustmentDetail`)."""
