"""What covariate adjustment buys: the adjusted design against the same design analysed without
adjustment, in sample size, power and type I error, simulated and in closed form.

The unadjusted counterpart (:func:`unadjusted`) is the same scenario analysed by the Wald test
of the risk difference: the estimator g-computation and Mantel-Haenszel reduce to without
covariates or strata (with interim looks, the score test the boundaries are for). Both are simulated on the same trials (the same seed): the sample size
for 80% and 90% power, the power at the planned n, and the type I error in the design's null
world (:func:`simulate.design.null_world.null_scenario`).

The closed form is :mod:`simulate.run.adjustment_gain`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulate.run.adjustment_gain import (closed_forms, prognostic_r2, unadjusted, unadjusted_test,  # noqa: F401
                                         variance_removed)
from simulate.run.record import Float, Record
from simulate.run.results import PowerResult, SampleSizePlan

__all__ = ["AdjustmentDetail", "closed_forms", "compute_adjustment", "prognostic_r2", "unadjusted",
           "variance_removed"]


@dataclass(frozen=True)
class AdjustmentDetail(Record):
    """The adjusted design against its unadjusted counterpart (module docstring)."""

    unadjusted_test: str
    unadjusted_power: PowerResult
    """The counterpart's power at the planned n (the run's trials)."""
    unadjusted_samplesize: SampleSizePlan
    """The counterpart's sample-size searches (80% and 90%)."""
    type1_adjusted: Float
    type1_adjusted_mc_se: Float
    type1_unadjusted: Float
    type1_unadjusted_mc_se: Float
    null_design: str
    """How the null world was made (empty when only the experimental arms' rates moved)."""
    prognostic_r2: dict
    """Each arm's R^2 (:func:`prognostic_r2`)."""
    variance_removed: Float
    """The share of the unadjusted risk difference's variance adjustment removes (:func:`variance_removed`)."""
    closed_form: dict
    """Per target power (as text, e.g. "0.8"): [unadjusted, adjusted] n per arm randomised."""


def compute_adjustment(scenario, seed, replicates, jobs, engine, progress=False) -> AdjustmentDetail:
    """The counterpart's power and sample size, both designs' type I error in the null world, the
    prognostic R^2 and the closed forms."""
    from simulate.design.null_world import null_scenario
    from simulate.run.compute import compute_power, compute_samplesize
    from simulate.run.power import estimate_power

    plain = unadjusted(scenario)
    power = compute_power(plain, seed, replicates, jobs, engine, progress)
    plan = compute_samplesize(plain, seed, replicates, jobs, engine, progress)
    null, note = null_scenario(scenario)
    null_adjusted = estimate_power(null, replicates, seed, jobs, engine, progress)
    null_plain = estimate_power(unadjusted(null), replicates, seed, jobs, engine, progress)
    return AdjustmentDetail(
        unadjusted_test=unadjusted_test(scenario), unadjusted_power=power, unadjusted_samplesize=plan,
        type1_adjusted=null_adjusted.power, type1_adjusted_mc_se=null_adjusted.mc_se,
        type1_unadjusted=null_plain.power, type1_unadjusted_mc_se=null_plain.mc_se, null_design=note,
        prognostic_r2=prognostic_r2(scenario), variance_removed=variance_removed(scenario),
        closed_form={f"{t:g}": list(v) for t, v in closed_forms(scenario).items()})
