"""The sample-size search's records: each n simulated, the closed-form references, the answer
and the plan the main job shows (frozen :class:`~simulate.run.record.Record` types, read
through :mod:`simulate.run.results` as well)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from simulate.run.record import Float, Record, frame

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SampleSizePoint(Record):
    """Simulated power at one n per arm."""

    n_per_arm: int
    power: Float
    mc_se: Float
    ci_low: Float
    ci_high: Float
    mean_randomised: Float
    p_recruitment_on_time: Float
    mean_randomised_mc_se: Float = math.nan
    p_recruitment_on_time_se: Float = math.nan


@dataclass(frozen=True)
class AnalyticReferences(Record):
    """Closed-form n per arm for the scenario's two rates, without dropout and with it (by the
    one rule of :func:`simulate.design.assumed.dropout_adjustment`); None where the arms do not differ."""

    p_control: Float
    p_treat: Float
    alpha: Float
    power: Float
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
    margin: Float = 0.0
    """Non-inferiority margin (0: superiority, and the three forms above apply)."""
    farrington_manning: int | None = None
    """Non-inferiority: Farrington and Manning's n per arm (the forms above do not apply)."""
    farrington_manning_with_dropout: int | None = None
    variance_removed: float | None = None
    """With a covariate-adjusted analysis: the share of the risk difference's variance the
    adjustment removes (:func:`simulate.run.adjustment_gain.variance_removed`)."""
    wald_with_dropout: int | None = None
    """With a covariate-adjusted analysis: the unadjusted Wald test's n per arm randomised."""
    adjusted_with_dropout: int | None = None
    """With a covariate-adjusted analysis: the same with the variance the adjustment removes."""


@dataclass(frozen=True)
class SampleSizeResult(Record):
    """The smallest n per arm whose simulated power reaches a target, safe against the saw-tooth."""

    n_per_arm: int | None
    """Smallest n per arm reaching the target and staying there over the window; None if none."""
    power: float | None
    mc_se: float | None
    target: Float
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
    expected_randomised_h1_mc_se: float | None = None
    expected_randomised_h0_mc_se: float | None = None
    fixed_n_per_arm: int | None = None
    """With interim looks: the same search for the design without them."""
    measure: str = "power"
    """What ``power`` and the curve measure: "power", or "assurance" when the trials draw their
    rates from the design priors (``samplesize --target-assurance``)."""

    def to_frame(self) -> "pd.DataFrame":
        """The evaluated curve, one row per n."""
        return frame([asdict(p) for p in self.curve])


@dataclass(frozen=True)
class ClosedFormPoint(Record):
    """Closed-form power (pooled normal approximation) at one n per arm."""

    n_per_arm: int
    pooled_normal: Float
    """Without dropout: every randomised patient analysed at the scenario's rates."""
    pooled_normal_with_dropout: Float
    """With dropout, by the rule of :func:`simulate.design.assumed.dropout_adjustment`."""


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
        rows = frame([asdict(p) for p in self.curve])
        for s in self.searches:
            chosen = rows.n_per_arm == s.n_per_arm if s.n_per_arm is not None else False
            rows[f"chosen_for_{round(100 * s.target)}"] = chosen
        return rows

    def targets_frame(self) -> "pd.DataFrame":
        """One row per target power: the simulated n per arm, its power and Monte Carlo range, and
        every closed-form n of :class:`AnalyticReferences` (the report's sample-size table)."""
        rows = []
        for s in self.searches:
            low, high = s.n_range if s.n_range else (None, None)
            analytic = {k: v for k, v in asdict(s.analytic).items()
                        if k not in ("power", "alternative", "dropout_rule", "note")}
            rows.append({"target": s.target, "n_per_arm": s.n_per_arm, "power": s.power, "mc_se": s.mc_se,
                         "n_range_low": low, "n_range_high": high, "replicates": s.replicates,
                         **analytic, "note": s.note or s.analytic.note})
        return frame(rows)


