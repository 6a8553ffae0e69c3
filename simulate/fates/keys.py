"""Which designs can share what a block draws: the same fates (:func:`population_key`), and
the same potential outcomes too (:func:`outcome_key`). Read by the blocks
(:mod:`simulate.engines.blocks`), the prepared design and the plan."""

from __future__ import annotations

import json

from simulate.design import scenario as sc


def population_key(scenario: sc.Scenario) -> str:
    """Scenarios with equal keys share referrals, patients and allocation sequences: only their
    outcome model (the arms' effects, outcome, dropout) and the target may differ."""
    data = scenario.model_dump(mode="json")
    trial = {k: v for k, v in data["trial"].items() if k != "n_per_arm"}
    return json.dumps({"trial": trial, "block_size": scenario.simulation.block_size,
                       "allocation": list(scenario.allocation),
                       **{k: data[k] for k in ("recruitment", "cohort", "eligibility", "randomisation")}},
                      sort_keys=True)


UNUSED_BY_OUTCOMES = ("name", "description", "analysis", "interim", "observed", "sweep")
"""Scenario sections that never reach the fates or the potential outcomes (the analysis, the
looks, the report's metadata): designs differing only there, or in their target, share outcomes."""


def outcome_key(scenario: sc.Scenario) -> str:
    """Scenarios with equal keys have the same potential outcomes for the same fates: they may
    differ only in their target (``trial.n_per_arm``), their analysis and their looks (a
    sample-size search's designs, or its fixed design beside the group-sequential one)."""
    data = scenario.model_dump(mode="json", exclude=set(UNUSED_BY_OUTCOMES))
    data["trial"].pop("n_per_arm")
    data["simulation"] = {"block_size": scenario.simulation.block_size}
    return json.dumps(data, sort_keys=True)
