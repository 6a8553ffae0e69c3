"""The prepared design: what a run computes once per design before it simulates any block.

A block of trials needs a few values that depend on the design alone and cost far more than
they weigh: the screen's exact pass probabilities (the fates thin the referral process by them),
the outcome model's calibration of each arm (on a fixed reference sample of 60,000 eligible
patients) and, with interim looks, the group-sequential boundaries. :func:`prepare` computes
them once, in the command's process, into a :class:`PreparedDesign`; every task of the run
carries its designs' prepared values to whatever runs it (this process's threads, loky workers,
a Dask cluster), so no worker computes them again and nothing is kept in module globals between
runs or shipped behind the tasks' backs.

Each value comes from its module's public function (:func:`simulate.selection.pass_probabilities`,
:func:`simulate.population.outcomes.calibrate`, :func:`simulate.analysis.interim.design_for`), which caches it with
:mod:`functools` per the parts of the scenario it depends on: designs of a sample-size search,
which differ only in their size, share one calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from simulate.analysis import interim
from simulate.design import scenario as sc
from simulate.population.outcomes import ArmModel, calibrate
from simulate.screening.probabilities import PassProbabilities, pass_probabilities

__all__ = ["PreparedDesign", "prepare", "prepared"]


@dataclass(frozen=True, eq=False)
class PreparedDesign:
    """A design with the values every block of its trials reads, computed once (immutable)."""

    scenario: sc.Scenario
    pass_probabilities: PassProbabilities
    """The screen's exact pass probabilities, by group (the fates' thinning probability)."""
    arm_models: Mapping[str, ArmModel]
    """The calibrated outcome model of each arm, by arm id (a read-only mapping)."""
    sequential: interim.Design | None
    """The group-sequential design (boundaries on the z scale), or None without interim looks."""


def prepare(scenario: sc.Scenario) -> PreparedDesign:
    """The design's per-design values, computed (or taken from their caches) once."""
    return PreparedDesign(scenario=scenario,
                          pass_probabilities=pass_probabilities(scenario.cohort, scenario.eligibility),
                          arm_models=calibrate(scenario), sequential=interim.design_for(scenario))


def prepared(design: sc.Scenario | PreparedDesign) -> PreparedDesign:
    """``design`` itself if it is prepared already, else :func:`prepare` of it."""
    return design if isinstance(design, PreparedDesign) else prepare(design)
