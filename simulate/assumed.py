"""What a design assumes, as the closed forms and the group-sequential design read it: the
control's and the primary experimental arm's endpoint rates, and the rates and share of
patients the planned analysis sees once dropout is accounted for."""

from __future__ import annotations

import math

from simulate.analysis import formulas
from simulate import scenario as sc


def primary_arm(scenario: sc.Scenario) -> str:
    """The experimental arm the closed forms speak of: the one ``analysis.success`` names; with
    ``any``, the arm with the largest difference from the control (it drives the chance that at
    least one comparison succeeds); with ``all``, the one with the smallest (it limits the chance
    that every one does). Ties go to the first listed; with two arms it is the only one."""
    success = scenario.analysis.success
    arms = scenario.experimental_arms
    if success in arms:
        return success
    gap = {a: scenario.arm(a).remission_at_endpoint for a in arms}
    pick = max if success == "any" else min
    best = pick(gap.values())
    return next(a for a in arms if gap[a] == best)


def rates(scenario: sc.Scenario) -> tuple[float, float]:
    """(control, primary experimental arm) endpoint rates."""
    return (scenario.arm(scenario.control_arm).remission_at_endpoint,
            scenario.arm(primary_arm(scenario)).remission_at_endpoint)


def null_rate(scenario: sc.Scenario) -> float:
    """An experimental arm's endpoint rate under the null hypothesis: the control's, or for
    non-inferiority the control's less the margin (the rate at which H0 just holds)."""
    control = scenario.arm(scenario.control_arm).remission_at_endpoint
    a = scenario.analysis
    return max(0.0, control - a.margin) if a.hypothesis == "non_inferiority" else control


def dropout_adjustment(scenario: sc.Scenario) -> formulas.DropoutAdjustment:
    """The scenario's dropout as every closed-form reference sees it: the rates and the share of
    patients the planned analysis sees (the rule: :func:`simulate.analysis.formulas.adjust_for_dropout`).

    Under informative dropout, the chance that a patient in remission at the endpoint drops out
    before it comes from the scenario's calibrated dropout hazards, arm by arm.
    """
    d = scenario.dropout
    in_remission = None
    if d.mechanism != "mcar" and d.probability_by_endpoint > 0:
        from simulate.outcomes import calibrate

        models = calibrate(scenario)
        in_remission = tuple(-math.expm1(-models[arm].dropout_rate * models[arm].endpoint_month)
                             for arm in (scenario.control_arm, primary_arm(scenario)))
    return formulas.adjust_for_dropout(*rates(scenario), d.probability_by_endpoint, scenario.analysis.missing,
                                       in_remission)  # type: ignore[arg-type]
