"""Running totals of simulated trials: what each block contributes, merged in block order.

A power run never holds its trials: each block is simulated, analysed and reduced to a
:class:`Tally` where it ran (in a worker), and the tallies are merged in block order. Memory is
bounded whatever the replicate count, and because the merge order is fixed the result is
identical for any number of jobs or backend.

Durations are kept as histograms of ``MONTHS_PER_BIN`` months, from which their quantiles are
read to within that resolution; their means are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from simulate.design import scenario as sc
from simulate.analysis import registry, rules
from simulate.analysis.compare import Analysis, analyse
from simulate.analysis.base import Imputation
from simulate.design.choices import IMPUTATION_STRATEGIES
from simulate.engines.block_outcomes import CONSORT_FIELDS, BlockOutcomes, PatientData
from simulate.population.intercurrent import true_differences
from simulate.run.prepared import PreparedDesign, analysis_of

MONTHS_PER_BIN = 0.01
"""Resolution of the duration histograms (quantiles of recruitment and trial duration)."""


@dataclass(frozen=True)
class Histogram:
    """Counts of values in bins of ``MONTHS_PER_BIN`` from 0 (values above the top go to the
    last bin), with their exact count, sum and sum of squares."""

    counts: np.ndarray
    n: int = 0
    total: float = 0.0
    total_squares: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray, top_months: float) -> "Histogram":
        values = values[np.isfinite(values)]
        n_bins = int(math.ceil(top_months / MONTHS_PER_BIN)) + 1
        index = np.minimum((np.maximum(values, 0.0) / MONTHS_PER_BIN).astype(np.int64), n_bins - 1)
        return cls(np.bincount(index, minlength=n_bins).astype(np.int64), len(values), float(values.sum()),
                   float((values**2).sum()))

    def __add__(self, other: "Histogram") -> "Histogram":
        return Histogram(self.counts + other.counts, self.n + other.n, self.total + other.total,
                         self.total_squares + other.total_squares)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

    @property
    def mc_se(self) -> float:
        """Monte Carlo SE of :attr:`mean`."""
        return mean_se(self.total, self.total_squares, self.n)

    def quantile(self, q: float) -> float:
        """The q-quantile, interpolated linearly within its bin."""
        if not self.n:
            return float("nan")
        cum = np.cumsum(self.counts)
        rank = q * self.n
        b = int(np.searchsorted(cum, rank, side="left"))
        before = cum[b - 1] if b else 0
        inside = (rank - before) / self.counts[b] if self.counts[b] else 0.0
        return (b + inside) * MONTHS_PER_BIN


def mean_se(total: float, squares: float, n: int) -> float:
    """Monte Carlo SE of a mean over ``n`` replicates from their sum and sum of squares: the
    sample standard deviation over sqrt(n) (nan below two replicates)."""
    if n < 2:
        return float("nan")
    mean = total / n
    return math.sqrt(max((squares - n * mean**2) / (n - 1), 0.0) / n)


LOOK_FIELDS = ("held", "stop_efficacy", "stop_futility", "month_sum", "randomised_sum", "month_sum_squares",
               "randomised_sum_squares")
"""Totals kept per planned look of a group-sequential design: trials that held it, stopped at it
for efficacy (at the final look: rejected there) or for futility (at the final look: did not
reject), and the sums (and sums of squares) of its calendar month and of the patients
randomised by it."""

COMPARISON_FIELDS = ("rejections", "estimates", "estimate_sum", "estimate_sum_squares", "covered", "width_sum",
                     "significant", "significant_abs_sum", "width_sum_squares", "significant_abs_sum_squares")
"""Totals kept for each comparison of an experimental arm with the control (arrays, one entry
per comparison): rejections (after any multiplicity adjustment), trials with a risk difference
(both arms analysed), its sum and sum of squares, intervals covering the estimand's true
difference and their summed width, and the rejections' count and summed |difference| from H0's
boundary (0, or -margin for non-inferiority: the winner's curse);
then the sums of squares of the widths and of those |differences| (their Monte Carlo SE)."""


@dataclass(frozen=True)
class Tally:
    """Totals over a set of simulated trials of one design."""

    trials: int
    successes: int
    """Trials that succeed as ``analysis.success`` counts them (with two arms: the rejections)."""
    rejections_any: int
    """Trials in which at least one comparison rejects."""
    rejections_all: int
    """Trials in which every comparison rejects."""
    on_time: int
    terminated: int
    randomised: float
    dropouts: float
    consort: dict = field(default_factory=dict)
    """Sums of the CONSORT counts over trials."""
    consort_squares: dict = field(default_factory=dict)
    """Sums of their squares (the Monte Carlo SE of their means)."""
    randomised_squares: float = 0.0
    dropouts_squares: float = 0.0
    comparisons: dict = field(default_factory=dict)
    """:data:`COMPARISON_FIELDS` -> array with one total per comparison, in the order of
    :attr:`simulate.design.scenario.Scenario.experimental_arms`."""
    visit_sum: np.ndarray | None = None
    """(arms, visits) sum over trials of each arm's proportion seen in the endpoint state at
    each visit (trials that randomised nobody to the arm count in neither sum)."""
    visit_sum_squares: np.ndarray | None = None
    visit_trials: np.ndarray | None = None
    """(arms,) trials that randomised somebody to each arm."""
    recruitment: Histogram | None = None
    duration: Histogram | None = None
    looks: dict | None = None
    tipping: dict | None = None
    """With a tipping-point analysis: ``rejections``, ``estimates``, ``estimate_sum`` and
    ``estimate_sum_squares``, each (comparisons, shifts of the control, shifts of the
    experimental arm)."""
    """With interim looks: :data:`LOOK_FIELDS` -> array with one total per planned look, and
    ``decision_month_sum`` (and its sum of squares), ``decided`` and ``overrun_reversals``."""

    def __add__(self, other: "Tally") -> "Tally":
        plain = {f: getattr(self, f) + getattr(other, f)
                 for f in ("trials", "successes", "rejections_any", "rejections_all", "on_time", "terminated",
                           "randomised", "dropouts", "randomised_squares", "dropouts_squares", "visit_sum",
                           "visit_sum_squares", "visit_trials")}
        consort = {k: self.consort[k] + other.consort[k] for k in self.consort}
        consort_squares = {k: self.consort_squares[k] + other.consort_squares[k] for k in self.consort_squares}
        comparisons = {k: self.comparisons[k] + other.comparisons[k] for k in self.comparisons}
        looks = None if self.looks is None else {k: self.looks[k] + other.looks[k] for k in self.looks}
        tipping = None if self.tipping is None else {k: self.tipping[k] + other.tipping[k] for k in self.tipping}
        return replace(self, **plain, consort=consort, consort_squares=consort_squares, comparisons=comparisons,
                       looks=looks, tipping=tipping,
                       recruitment=self.recruitment + other.recruitment, duration=self.duration + other.duration)


@dataclass(frozen=True)
class Comparisons:
    """Every trial's analysis of each experimental arm against the control."""

    arms: tuple[str, ...]
    """The experimental arms, in the scenario's order."""
    analyses: tuple[Analysis, ...]
    """Each comparison's statistics (p-values), risk differences and intervals (unadjusted)."""
    reject: np.ndarray
    """(trials, comparisons) rejections after the multiplicity adjustment."""

    def success(self, rule: str) -> np.ndarray:
        """Per trial: any comparison rejects, all do, or the named arm's does."""
        if rule == "any":
            return self.reject.any(axis=1)
        if rule == "all":
            return self.reject.all(axis=1)
        return self.reject[:, self.arms.index(rule)]


def _resolved(design: sc.Scenario | PreparedDesign) -> tuple[sc.Scenario, registry.Entry, rules.Rule]:
    """The scenario, its registered analysis and its decision rule: those the prepared design
    carries, or a scenario's resolved here (:func:`simulate.run.prepared.analysis_of`)."""
    if isinstance(design, PreparedDesign):
        return design.scenario, design.analysis, design.rule
    return (design, *analysis_of(design))


def analyse_outcomes(design: sc.Scenario | PreparedDesign, outcomes: BlockOutcomes) -> Comparisons:
    """Analyse every trial as the design's statistician would: each experimental arm against
    the control with the design's registered analysis, then its decision rule (the
    group-sequential decision the engine made at the looks when the design has interim looks,
    else the level with any multiplicity adjustment: :func:`simulate.analysis.rules.decision_rule`).
    A prepared design brings its analysis and rule (:class:`~simulate.run.prepared.PreparedDesign`:
    where it runs, the analysis need not be registered); a scenario's are resolved here."""
    scenario, entry, rule = _resolved(design)
    a = scenario.analysis
    x, n = outcomes.counts(a.missing)
    c = scenario.control_index
    extra = {"margin": a.margin} if a.margin else {}
    if a.framework == "bayesian":
        extra["threshold"] = a.success_threshold
    imputing = a.missing in IMPUTATION_STRATEGIES and outcomes.patients is not None
    if imputing:
        extra["imputation"] = Imputation(a.missing.removeprefix("mi_"), a.imputations)
    resolved_priors = None
    if a.framework == "bayesian":
        from simulate.analysis.map_prior import analysis_priors

        resolved_priors = design.analysis_priors if isinstance(design, PreparedDesign) and design.analysis_priors \
            else analysis_priors(scenario)
    analyses = []
    for arm in scenario.experimental_arms:
        k = scenario.arm_names.index(arm)
        x_c, n_c, x_t, n_t = x[..., c], n[..., c], x[..., k], n[..., k]
        strata = (x_c, n_c, x_t, n_t) if entry.strata else None
        patients = None if not imputing else comparison_patients(
            outcomes.patients, c, k, tuple(float(v) for v in scenario.trial.visit_months))
        if entry.covariates:
            patients = replace(comparison_adjustment(outcomes.patients, c, k, a.missing, a.adjust_for), visits=patients)
        priors = None if a.framework != "bayesian" else tuple(
            np.asarray(resolved_priors[name]) for name in (scenario.control_arm, arm))
        analyses.append(analyse(entry, a.alpha, x_c.sum(1), n_c.sum(1), x_t.sum(1), n_t.sum(1),
                                alternative=a.alternative, strata=strata, patients=patients, priors=priors,
                                adjustment_variance=a.adjustment_variance, **extra))
    if outcomes.sequential_reject is not None:          # a group-sequential design decides at its looks
        reject = outcomes.sequential_reject[:, None]
    else:
        reject = rule.decide(np.stack([r.statistic for r in analyses], axis=1)) == rules.REJECT
    return Comparisons(arms=scenario.experimental_arms, analyses=tuple(analyses), reject=reject)


def comparison_patients(p: PatientData, control: int, arm: int, visit_months: tuple[float, ...]):
    """The patients of one comparison (the control and arm ``arm``) for the imputation, as
    :class:`~simulate.analysis.visit_imputation.VisitData`, block segment by segment."""
    from simulate.analysis.visit_imputation import VisitData

    (seed, size, first, count), *more = p.segments
    if more:
        raise ValueError("a comparison's patients are analysed one block at a time")
    return VisitData(analysed=p.randomised & ((p.arm == control) | (p.arm == arm)), arm=(p.arm == arm).astype(np.int8),
                     value=p.value, history=p.history, covariates=p.covariates, seed=seed, block_trials=size,
                     visit_months=visit_months[: p.history.shape[2]], first_trial=first)


def comparison_adjustment(p: PatientData, control: int, arm: int, missing: str, adjust_for: tuple[str, ...]):
    """The patients of one comparison (the control and arm ``arm``) for a covariate-adjusted
    analysis, as :class:`~simulate.analysis.adjusted.AdjustmentData`: each analysed patient's
    endpoint as the missing-data rule counts it (a missing one as a failure, left out, or the
    status of the last visit seen) and the covariates ``adjust_for``."""
    from simulate.analysis.adjusted import AdjustmentData, covariate_matrix
    from simulate.design.choices import BASELINE_COVARIATES

    if p is None or p.baseline is None:
        raise ValueError("a covariate-adjusted analysis needs the patients' baseline covariates")
    pair = p.randomised & ((p.arm == control) | (p.arm == arm))
    if missing == "locf":
        y, analysed = p.carried == 1, pair
    else:
        y = p.value == 1
        analysed = pair & (p.value >= 0) if missing == "complete_case" else pair
    return AdjustmentData(analysed=analysed, arm=(p.arm == arm).astype(np.int8), y=y.astype(np.int8),
                          X=covariate_matrix(p.baseline, BASELINE_COVARIATES, adjust_for), names=tuple(adjust_for))


def tally(design: sc.Scenario | PreparedDesign, outcomes: BlockOutcomes,
          analysed: Comparisons | None = None, trial_truths: dict[str, np.ndarray] | None = None) -> Tally:
    """Analyse a block's trials as the design's statistician would (unless ``analysed`` is
    that analysis, already made: :func:`analyse_outcomes`), and total them. ``trial_truths``:
    each comparison's true difference trial by trial, when the trials draw their own rates
    (:func:`simulate.population.design_prior.trial_truths`); else the design's one truth."""
    scenario, _, rule = _resolved(design)
    res = analyse_outcomes(design, outcomes) if analysed is None else analysed
    truths = design.truths if isinstance(design, PreparedDesign) else true_differences(scenario)
    if trial_truths is not None:
        truths = {arm: (trial_truths[arm], 0.0) for arm in trial_truths}
    # the winner's curse is measured from H0's boundary: 0, or -margin for non-inferiority
    shift = scenario.analysis.margin if scenario.analysis.hypothesis == "non_inferiority" else 0.0
    per: dict[str, list] = {k: [] for k in COMPARISON_FIELDS}
    for j, (arm, r) in enumerate(zip(res.arms, res.analyses)):
        truth = truths[arm][0]
        ok = np.isfinite(r.risk_difference)
        est = r.risk_difference[ok]
        significant = res.reject[:, j] & ok
        beyond = r.risk_difference[significant] + shift
        width = (r.ci_high - r.ci_low)[ok]
        for key, value in (
            ("rejections", int(res.reject[:, j].sum())), ("estimates", int(ok.sum())),
            ("estimate_sum", float(est.sum())), ("estimate_sum_squares", float((est**2).sum())),
            ("covered", int(((r.ci_low <= truth) & (truth <= r.ci_high))[ok].sum())
             if np.all(np.isfinite(truth)) else math.nan),
            ("width_sum", float((r.ci_high - r.ci_low)[ok].sum())), ("significant", int(significant.sum())),
            ("significant_abs_sum", float(np.abs(beyond).sum())),
            ("width_sum_squares", float((width**2).sum())),
            ("significant_abs_sum_squares", float((beyond**2).sum())),
        ):
            per[key].append(value)
    _ratio_totals(scenario, outcomes, res, per)
    top = scenario.trial.hard_stop_months + scenario.trial.max_follow_up_months
    consort = {f: float(getattr(outcomes, f).sum()) for f in CONSORT_FIELDS if f != "randomised"}
    consort["randomised"] = float(outcomes.randomised.sum())
    consort_squares = {f: float((getattr(outcomes, f).astype(float) ** 2).sum()) for f in CONSORT_FIELDS}
    n_arm = outcomes.n_randomised.sum(axis=1)                      # (trials, arms)
    has = n_arm > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(has[..., None], outcomes.x_visits / np.maximum(n_arm, 1)[..., None], 0.0)
    return Tally(
        trials=len(outcomes), successes=int(res.success(scenario.analysis.success).sum()),
        rejections_any=int(res.reject.any(axis=1).sum()), rejections_all=int(res.reject.all(axis=1).sum()),
        on_time=int(outcomes.on_time.sum()), terminated=int(outcomes.terminated.sum()),
        randomised=float(outcomes.randomised.sum()), dropouts=float(outcomes.dropouts.sum()), consort=consort,
        consort_squares=consort_squares, randomised_squares=float((outcomes.randomised.astype(float) ** 2).sum()),
        dropouts_squares=float((outcomes.dropouts.astype(float) ** 2).sum()),
        comparisons={k: np.asarray(v) for k, v in per.items()},
        visit_sum=share.sum(axis=0), visit_sum_squares=(share**2).sum(axis=0), visit_trials=has.sum(axis=0),
        recruitment=Histogram.of(outcomes.recruitment_months, top), duration=Histogram.of(outcomes.duration_months, top),
        looks=_look_totals(rule, outcomes), tipping=_tipping_totals(scenario, outcomes),
    )


RATIO_FIELDS = ("ratio_estimates", "log_ratio_sum", "log_ratio_sum_squares", "ratio_covered")
"""Totals kept per comparison when the estimand's summary measure is a risk or odds ratio: the
trials with a ratio, the sum (and sum of squares) of its log, and the intervals covering the
true ratio."""


def log_ratio(measure: str, x_c, n_c, x_t, n_t) -> tuple[np.ndarray, np.ndarray]:
    """(log ratio, its SE) per trial: the log risk ratio (SE sqrt(1/x_t - 1/n_t + 1/x_c - 1/n_c))
    or the log odds ratio (Woolf's SE); a table with an empty cell takes 0.5 in every cell
    (Haldane and Anscombe); nan where an arm is empty."""
    x_c, n_c, x_t, n_t = (np.asarray(a, dtype=float) for a in (x_c, n_c, x_t, n_t))
    zero = (x_c == 0) | (x_t == 0) | (x_c == n_c) | (x_t == n_t)
    h = np.where(zero, 0.5, 0.0)
    a, b, c, d = x_t + h, n_t - x_t + h, x_c + h, n_c - x_c + h
    with np.errstate(invalid="ignore", divide="ignore"):
        if measure == "risk_ratio":
            est = np.log(a / (a + b)) - np.log(c / (c + d))
            se = np.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
        else:
            est = np.log(a * d / (b * c))
            se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    empty = (n_c == 0) | (n_t == 0)
    return np.where(empty, np.nan, est), np.where(empty, np.nan, se)


def _ratio_totals(scenario: sc.Scenario, outcomes: BlockOutcomes, res: Comparisons, per: dict) -> None:
    """With a ratio summary measure (``estimand.summary_measure``): each comparison's log ratio
    from the analysed counts, its 95% Wald interval on the log scale, and whether it covers the
    estimand's true ratio (not for multiple imputation, which combines risk differences)."""
    e, a = scenario.estimand, scenario.analysis
    if e is None or e.summary_measure == "risk_difference" or a.missing in IMPUTATION_STRATEGIES:
        return
    from simulate.population.intercurrent import true_values

    truth = true_values(scenario)
    x, n = outcomes.counts(a.missing)
    x, n = x.sum(axis=1), n.sum(axis=1)
    c = scenario.control_index
    z = 1.959963984540054                                        # the normal's 97.5% point
    for key in RATIO_FIELDS:
        per[key] = []
    for arm in res.arms:
        k = scenario.arm_names.index(arm)
        est, se = log_ratio(e.summary_measure, x[:, c], n[:, c], x[:, k], n[:, k])
        ok = np.isfinite(est)
        target = math.log(truth[arm].ratio) if truth[arm].ratio > 0 else math.nan
        covered = ok & (est - z * se <= target) & (target <= est + z * se)
        for key, value in (("ratio_estimates", int(ok.sum())), ("log_ratio_sum", float(est[ok].sum())),
                           ("log_ratio_sum_squares", float((est[ok] ** 2).sum())),
                           ("ratio_covered", int(covered.sum()))):
            per[key].append(value)


def _tipping_totals(scenario: sc.Scenario, outcomes: BlockOutcomes) -> dict | None:
    """The tipping-point analysis of every comparison (None without one): each pair of shifts of
    the imputed patients' log-odds, its rejections at the comparison's unadjusted level and the
    sum of its estimates (one fit and one set of random numbers serve every pair)."""
    a = scenario.analysis
    if not a.tipping_point_deltas or a.missing not in IMPUTATION_STRATEGIES or outcomes.patients is None:
        return None
    from simulate.analysis.visit_imputation import analyse as imputed

    confidence = 1 - a.alpha if a.alternative == "two-sided" else 1 - 2 * a.alpha
    visits = tuple(float(v) for v in scenario.trial.visit_months)
    out: dict[str, list] = {"rejections": [], "estimates": [], "estimate_sum": [], "estimate_sum_squares": []}
    for arm in scenario.experimental_arms:
        data = comparison_patients(outcomes.patients, scenario.control_index, scenario.arm_names.index(arm), visits)
        res = imputed(data, a.imputations, confidence, a.alternative, a.margin, a.missing.removeprefix("mi_"),
                      a.tipping_point_deltas, a.tipping_point_deltas)
        ok = np.isfinite(res.estimate)
        est = np.where(ok, res.estimate, 0.0)
        out["rejections"].append((res.p_value < a.alpha).sum(axis=0))
        out["estimates"].append(ok.sum(axis=0))
        out["estimate_sum"].append(est.sum(axis=0))
        out["estimate_sum_squares"].append((est**2).sum(axis=0))
    return {k: np.stack(v) for k, v in out.items()}


def _look_totals(design: rules.Sequential, o: BlockOutcomes) -> dict | None:
    """The totals per look of a group-sequential design's trials (None without looks)."""
    if o.look_month is None:
        return None
    from simulate.analysis.interim import EFFICACY, FUTILITY

    held = ~np.isnan(o.look_month)
    L = o.look_month.shape[1]
    at = o.stop_look[:, None] == np.arange(L)
    final = o.stop_look < 0
    efficacy = (at & (o.stop_reason == EFFICACY)[:, None])
    futility = (at & (o.stop_reason == FUTILITY)[:, None])
    efficacy[:, -1] = final & o.sequential_reject & held[:, -1]
    futility[:, -1] = final & ~o.sequential_reject & held[:, -1]
    stopped_eff = o.stop_reason == EFFICACY
    # what the planned final look would have decided on the overrun's data
    overrun = design.decide_final(o.overrun_z, design.looks - 1, design.n_target)
    return {
        "held": held.sum(axis=0), "stop_efficacy": efficacy.sum(axis=0), "stop_futility": futility.sum(axis=0),
        "month_sum": np.where(held, o.look_month, 0.0).sum(axis=0),
        "randomised_sum": np.where(held, o.look_randomised, 0).sum(axis=0).astype(float),
        "month_sum_squares": (np.where(held, o.look_month, 0.0) ** 2).sum(axis=0),
        "randomised_sum_squares": (np.where(held, o.look_randomised, 0).astype(float) ** 2).sum(axis=0),
        "decision_month_sum": np.array([np.nansum(o.decision_month)]),
        "decision_month_sum_squares": np.array([np.nansum(o.decision_month**2)]),
        "decided": np.array([np.isfinite(o.decision_month).sum()]),
        "overrun_reversals": np.array([(stopped_eff & (overrun != EFFICACY)).sum()]),
    }


def merge(tallies: list[Tally]) -> Tally:
    """The tallies added up in the order given (block order: deterministic sums)."""
    out = tallies[0]
    for t in tallies[1:]:
        out = out + t
    return out
