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

from simulate import analysis
from simulate import scenario as sc
from simulate.engines import CONSORT_FIELDS, BlockOutcomes

MONTHS_PER_BIN = 0.01
"""Resolution of the duration histograms (quantiles of recruitment and trial duration)."""


@dataclass(frozen=True)
class Histogram:
    """Counts of values in bins of ``MONTHS_PER_BIN`` from 0 (values above the top go to the
    last bin), with their exact count and sum."""

    counts: np.ndarray
    n: int = 0
    total: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray, top_months: float) -> "Histogram":
        values = values[np.isfinite(values)]
        n_bins = int(math.ceil(top_months / MONTHS_PER_BIN)) + 1
        index = np.minimum((np.maximum(values, 0.0) / MONTHS_PER_BIN).astype(np.int64), n_bins - 1)
        return cls(np.bincount(index, minlength=n_bins).astype(np.int64), len(values), float(values.sum()))

    def __add__(self, other: "Histogram") -> "Histogram":
        return Histogram(self.counts + other.counts, self.n + other.n, self.total + other.total)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

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


@dataclass(frozen=True)
class Tally:
    """Totals over a set of simulated trials of one design."""

    trials: int
    rejections: int
    on_time: int
    terminated: int
    randomised: float
    dropouts: float
    consort: dict = field(default_factory=dict)
    """Sums of the CONSORT counts over trials."""
    estimates: int = 0
    """Trials with a risk difference (both arms analysed)."""
    estimate_sum: float = 0.0
    estimate_sum_squares: float = 0.0
    covered: int = 0
    width_sum: float = 0.0
    significant: int = 0
    significant_abs_sum: float = 0.0
    recruitment: Histogram | None = None
    duration: Histogram | None = None

    def __add__(self, other: "Tally") -> "Tally":
        plain = {f: getattr(self, f) + getattr(other, f)
                 for f in ("trials", "rejections", "on_time", "terminated", "randomised", "dropouts", "estimates",
                           "estimate_sum", "estimate_sum_squares", "covered", "width_sum", "significant",
                           "significant_abs_sum")}
        consort = {k: self.consort[k] + other.consort[k] for k in self.consort}
        return replace(self, **plain, consort=consort, recruitment=self.recruitment + other.recruitment,
                       duration=self.duration + other.duration)


def analyse_outcomes(scenario: sc.Scenario, outcomes: BlockOutcomes) -> analysis.Analysis:
    """Analyse every trial as the scenario's statistician would."""
    a = scenario.analysis
    x, n = outcomes.counts(a.missing)
    x_c, n_c, x_t, n_t = x[..., 0], n[..., 0], x[..., 1], n[..., 1]
    if a.test == "cmh":
        return analysis.analyse("cmh", a.alpha, x_c.sum(1), n_c.sum(1), x_t.sum(1), n_t.sum(1),
                                alternative=a.alternative, strata=(x_c, n_c, x_t, n_t))
    return analysis.analyse(a.test, a.alpha, x_c.sum(1), n_c.sum(1), x_t.sum(1), n_t.sum(1),
                            alternative=a.alternative)


def tally(scenario: sc.Scenario, outcomes: BlockOutcomes) -> Tally:
    """Analyse a block's trials as the scenario's statistician would, and total them."""
    res = analyse_outcomes(scenario, outcomes)
    truth = scenario.arms.rtx_csa.remission_at_endpoint - scenario.arms.rtx.remission_at_endpoint
    ok = np.isfinite(res.risk_difference)
    est = res.risk_difference[ok]
    significant = res.reject & ok
    top = scenario.trial.hard_stop_months + scenario.trial.max_follow_up_months
    consort = {f: float(getattr(outcomes, f).sum()) for f in CONSORT_FIELDS if f != "randomised"}
    consort["randomised"] = float(outcomes.randomised.sum())
    return Tally(
        trials=len(outcomes), rejections=int(res.reject.sum()), on_time=int(outcomes.on_time.sum()),
        terminated=int(outcomes.terminated.sum()), randomised=float(outcomes.randomised.sum()),
        dropouts=float(outcomes.dropouts.sum()), consort=consort,
        estimates=int(ok.sum()), estimate_sum=float(est.sum()), estimate_sum_squares=float((est**2).sum()),
        covered=int(((res.ci_low <= truth) & (truth <= res.ci_high))[ok].sum()),
        width_sum=float((res.ci_high - res.ci_low)[ok].sum()),
        significant=int(significant.sum()), significant_abs_sum=float(np.abs(res.risk_difference[significant]).sum()),
        recruitment=Histogram.of(outcomes.recruitment_months, top), duration=Histogram.of(outcomes.duration_months, top),
    )


def merge(tallies: list[Tally]) -> Tally:
    """The tallies added up in the order given (block order: deterministic sums)."""
    out = tallies[0]
    for t in tallies[1:]:
        out = out + t
    return out
