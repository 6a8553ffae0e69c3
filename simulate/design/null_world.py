"""The design under the null hypothesis: the world in which every success is a type I error,
as the sample-size search (expected N under H0 for interim looks) and the teaching lab's null
world build it."""

from __future__ import annotations

from typing import Mapping

from simulate.design import loader
from simulate.design import scenario as sc
from simulate.design.assumed import NI_TOLERANCE, null_rate
from simulate.errors import ScenarioError
from simulate.population.intercurrent import true_differences


def null_scenario(scenario: sc.Scenario, arms: tuple[str, ...] | None = None) -> tuple[sc.Scenario, str]:
    """The design under the null hypothesis, validated like a file, and how it was made (a
    sentence, empty when only the rates moved). ``arms`` (default: every experimental arm) go to
    :func:`null_rate` (the command line's ``--set arms.<id>.remission_at_endpoint=...``).

    Where an arm's own model cannot reach that rate, or where the design has intercurrent events,
    the arm takes the control arm's whole outcome model (its label and allocation kept). With
    intercurrent events equal rates are not a null for the estimand: when patients remit decides
    who is still without remission at a rescue visit. So each event also happens in those arms as
    often as in the control arm, and the arms are then alike in everything: for superiority the
    estimand's true difference is exactly 0; for non-inferiority it is near the margin (the true
    value reported beside the result says how near)."""
    rate = null_rate(scenario)
    arms = scenario.experimental_arms if arms is None else arms
    control_id = scenario.control_arm
    if not scenario.intercurrent:
        try:
            return loader.with_overrides(scenario, {f"arms.{a}.remission_at_endpoint": rate for a in arms}), ""
        except ScenarioError as err:
            why = f"setting the rate alone is refused ({err.problems[0]})"
    else:
        why = ("with intercurrent events, equal remission rates are not a null: the arm that remits sooner "
               "has fewer patients left for a rescue or a switch")
    control = scenario.arm(control_id).model_dump(mode="python")
    changes: dict = {f"arms.{a}": {**control, "label": scenario.arm(a).label,
                                   "allocation": scenario.arm(a).allocation, "remission_at_endpoint": rate}
                     for a in arms}
    for name, event in scenario.intercurrent.items():
        if isinstance(event.probability, Mapping):
            changes[f"intercurrent.{name}.probability"] = {
                **dict(event.probability), **{a: event.probability_of(control_id) for a in arms}}
    labels = ", ".join(scenario.arm(a).label for a in arms)
    control_label = scenario.arm(control_id).label
    events = ", and meets each intercurrent event as often" if scenario.intercurrent else ""
    note = f"{why[0].upper()}{why[1:]}; so here {labels} takes {control_label}'s whole outcome model{events}."
    null = loader.with_overrides(scenario, changes)
    if scenario.intercurrent and scenario.analysis.hypothesis == "non_inferiority":
        null, rate = _at_the_margin(null, arms, rate)
        note += f" Its rate without the events is {rate:.4f}, so that the estimand's true difference is at the margin."
    return null, note


MARGIN_RATE_TOLERANCE = 1e-4
"""How close (in the rate) :func:`_at_the_margin` brackets the rate whose estimand sits at the
non-inferiority margin."""


def _at_the_margin(null: sc.Scenario, arms: tuple[str, ...], rate: float) -> tuple[sc.Scenario, float]:
    """``null`` with ``arms``' rate moved until each one's estimand's true difference is at, or
    just below, minus the margin (bisection on the rate; the true value is computed on a fixed
    reference sample, so it rises with the rate, in small steps)."""
    bound = -null.analysis.margin + NI_TOLERANCE

    def at(r: float) -> tuple[sc.Scenario, bool]:
        s = loader.with_overrides(null, {f"arms.{a}.remission_at_endpoint": r for a in arms})
        return s, max(true_differences(s)[a][0] for a in arms) <= bound

    low, high = max(0.0, rate - 0.1), min(1.0, rate + 0.1)
    best, holds = at(low)
    while not holds and low > 0.0:
        low = max(0.0, low - 0.1)
        best, holds = at(low)
    while high - low > MARGIN_RATE_TOLERANCE:
        mid = (low + high) / 2
        s, holds = at(mid)
        if holds:
            low, best = mid, s
        else:
            high = mid
    return best, low
