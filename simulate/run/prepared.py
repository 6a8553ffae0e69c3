"""The prepared design: what a run computes once per design before it simulates any block.

A block of trials needs a few values that depend on the design alone and cost far more than
they weigh: the screen's exact pass probabilities (the fates thin the referral process by them),
the outcome model's calibration of each arm (on a fixed reference sample of 60,000 eligible
patients) and, with interim looks, the group-sequential boundaries. :func:`prepare` computes
them once, in the command's process, into a :class:`PreparedDesign`; every task of the run
carries its designs' prepared values to whatever runs it (this process's threads, forked or
loky workers, a Dask cluster), so no worker computes them again and nothing is kept in module
globals between runs or shipped behind the tasks' backs.

The design's analysis travels the same way: its registered
:class:`~simulate.analysis.registry.Entry` and the rule that decides on its statistic are
resolved here (:func:`analysis_of`), and the engines and the tally read them from the prepared
design. An analysis registered in the command's process alone (a scoped registration,
:func:`simulate.analysis.registry.registered`) is so used wherever the blocks run, as long as
its implementing module can be imported there.

Each value comes from its module's public function (:func:`simulate.selection.pass_probabilities`,
:func:`simulate.population.outcomes.calibrate`, :func:`simulate.analysis.interim.design_for`), which caches it with
:mod:`functools` per the parts of the scenario it depends on: designs of a sample-size search,
which differ only in their size, share one calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from simulate.analysis import interim, registry, rules
from simulate.design import scenario as sc
from simulate.fates.keys import outcome_key, population_key
from simulate.population.intercurrent import true_differences
from simulate.population.outcomes import ArmModel, calibrate
from simulate.screening.probabilities import PassProbabilities, pass_probabilities

__all__ = ["PreparedDesign", "analysis_of", "prepare", "prepared"]


@dataclass(frozen=True, eq=False)
class PreparedDesign:
    """A design with the values every block of its trials reads, computed once (immutable)."""

    scenario: sc.Scenario
    pass_probabilities: PassProbabilities
    """The screen's exact pass probabilities, by group (the fates' thinning probability)."""
    arm_models: Mapping[str, ArmModel]
    """The calibrated outcome model of each arm, by arm id (a read-only mapping)."""
    sequential: rules.Sequential | None
    """The group-sequential design (boundaries on the z scale, or a Bayesian design's posterior
    and predictive thresholds), or None without interim looks."""
    analysis: registry.Entry
    """The registered analysis of ``analysis.test``, as registered where the design was prepared."""
    rule: rules.Rule
    """What decides on the analysis's statistic: the group-sequential design, or the level with
    any multiplicity adjustment (:func:`analysis_of`)."""
    population_key: str
    """Designs with equal keys share their fates (:func:`simulate.fates.keys.population_key`)."""
    outcome_key: str
    """Designs with equal keys share their potential outcomes too (:func:`simulate.fates.keys.outcome_key`)."""
    truths: Mapping[str, tuple[float, float]]
    """Each experimental arm's estimand: (true difference, its Monte Carlo SE)
    (:func:`simulate.population.intercurrent.true_differences`), computed here once rather than
    by every worker that tallies a block."""
    analysis_priors: Mapping[str, tuple] | None = None
    """With analysis.framework = "bayesian": each arm's analysis prior as (w, a, b) components
    (a meta-analytic one derived once here: :func:`simulate.analysis.map_prior.analysis_priors`)."""


def analysis_of(scenario: sc.Scenario) -> tuple[registry.Entry, rules.Rule]:
    """The scenario's registered analysis and its decision rule: the group-sequential design
    with interim looks (:func:`simulate.analysis.interim.design_for`), else the level with any
    multiplicity adjustment over the comparisons (:func:`simulate.analysis.rules.decision_rule`)."""
    a = scenario.analysis
    entry = registry.get(a.test)
    sequential = interim.design_for(scenario)
    if sequential is not None:
        return entry, sequential
    threshold = a.success_threshold if a.framework == "bayesian" else None
    return entry, rules.decision_rule(a.alpha, a.multiplicity, entry.statistic, len(scenario.experimental_arms),
                                      threshold)


def prepare(scenario: sc.Scenario) -> PreparedDesign:
    """The design's per-design values, computed (or taken from their caches) once."""
    analysis, rule = analysis_of(scenario)
    return PreparedDesign(scenario=scenario,
                          pass_probabilities=pass_probabilities(scenario.cohort, scenario.eligibility),
                          arm_models=calibrate(scenario),
                          sequential=interim.design_for(scenario),
                          analysis=analysis, rule=rule, population_key=population_key(scenario),
                          outcome_key=outcome_key(scenario), truths=true_differences(scenario),
                          analysis_priors=_analysis_priors(scenario))


def _analysis_priors(scenario: sc.Scenario) -> Mapping[str, tuple] | None:
    if scenario.analysis.framework != "bayesian":
        return None
    from simulate.analysis.map_prior import analysis_priors

    return analysis_priors(scenario)


def prepared(design: sc.Scenario | PreparedDesign) -> PreparedDesign:
    """``design`` itself if it is prepared already, else :func:`prepare` of it."""
    return design if isinstance(design, PreparedDesign) else prepare(design)
