"""How far an arm's design prior (``[arms.<id>] design_prior``) may reach: the highest rate an
arm can be drawn at, and the share of a prior beyond it (the loader refuses more than a sliver)."""

from __future__ import annotations

from simulate.design.priors import prior_cdf
from simulate.design.scenario import Scenario

MASS_ABOVE_REACH_MAX = 0.01
"""A design prior may put at most this much of its mass above the highest rate an arm can have:
1, or with a complete-remission endpoint the share of remissions that are complete; trials draw
from the prior truncated there, and the mass cut off is reported."""


def reach(scenario: Scenario, name: str) -> float:
    """The highest rate arm ``name`` can be drawn at: 1, or with a complete-remission endpoint
    the share of its remissions that are complete (every patient remitting and none relapsing;
    a draw above what the arm's relapse hazards allow lowers them for that trial)."""
    return 1.0 if scenario.trial.endpoint == "cr_or_pr" else scenario.arm(name).complete_share_of_remission


def mass_above_reach(scenario: Scenario, name: str) -> float:
    """The share of arm ``name``'s design prior above :func:`reach`."""
    prior = scenario.arm(name).design_prior
    return 0.0 if prior is None else 1.0 - prior_cdf(prior, reach(scenario, name))
