"""What a design assumes, as the closed forms and the group-sequential design read it: the
control's and the primary experimental arm's endpoint rates, and the rates and share of
patients the planned analysis sees once dropout is accounted for; and, next to the design's
hypotheses, the one rule for "this world has no true benefit" (:func:`has_benefit`,
:func:`no_true_benefit`), read by the sample-size search, the CLI, the report, the story and
the teaching lab alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from simulate.analysis import formulas
from simulate.design import scenario as sc

if TYPE_CHECKING:
    from simulate.run.results import PowerResult

NI_TOLERANCE = 1e-12
"""A difference within this of the non-inferiority margin counts as at the margin (0.45 - 0.6
is not exactly -0.15 in floating point)."""


def has_benefit(true_difference: float, hypothesis: str, alternative: str, margin: float = 0.0) -> bool:
    """One comparison's world holds a true benefit: its null hypothesis is false in the direction
    the test can claim. Superiority, one-sided (``greater``): the experimental arm is better than
    the control (an arm worse than the control is still a world of no benefit: every rejection
    is a type I error). Superiority, two-sided: the arms differ (a rejection of a true harm is a
    correct rejection of H0, not a type I error). Non-inferiority: the experimental arm is less
    than the margin worse (at or below the margin H0 holds)."""
    if hypothesis == "non_inferiority":
        return true_difference > -margin + NI_TOLERANCE
    if alternative == "greater":
        return true_difference > 0
    return true_difference != 0


def no_true_benefit(benefit: Mapping[str, bool], success: str) -> bool:
    """The whole design's world holds no true benefit for what its power counts, so every success
    is a type I error and no n reaches a power target: with ``success = "any"``, no comparison
    has a benefit (the global null: the chance of success is the family-wise error rate); with
    ``"all"``, some comparison lacks one (every success includes a false rejection, so its
    chance is at most that comparison's type I error); with a named arm, that arm lacks one.
    ``benefit`` is :func:`has_benefit` per experimental arm. Multiplicity adjustment changes the
    level of each test, not which world this is."""
    if success == "any":
        return not any(benefit.values())
    if success == "all":
        return not all(benefit.values())
    return not benefit[success]


def arm_has_benefit(scenario: sc.Scenario, arm: str) -> bool:
    """:func:`has_benefit` for one experimental arm of a scenario, from its estimand's true
    difference (the assumed rates', without intercurrent events)."""
    from simulate.population.intercurrent import true_differences

    a = scenario.analysis
    return has_benefit(true_differences(scenario)[arm][0], a.hypothesis, a.alternative, a.margin)


def no_benefit(scenario: sc.Scenario) -> bool:
    """:func:`no_true_benefit` for a scenario, before anything is simulated."""
    return no_true_benefit({arm: arm_has_benefit(scenario, arm) for arm in scenario.experimental_arms},
                           scenario.analysis.success)


def result_has_no_benefit(p: PowerResult) -> bool:
    """:func:`no_true_benefit` for a power result, from its comparisons' true differences: the
    same answer as :func:`no_benefit` for the scenario it was simulated from, so the power it
    reports is a type I error."""
    benefit = result_benefits(p)
    return no_true_benefit(benefit, p.success if p.success == "all" or p.success in benefit else "any")


def result_benefits(p: PowerResult) -> dict[str, bool]:
    """:func:`has_benefit` for each comparison of a power result, by experimental arm."""
    return {c.arm: has_benefit(c.true_difference, p.hypothesis, p.alternative, p.margin) for c in p.comparisons}


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
    """(control, primary experimental arm) endpoint rates: the assumed ones, or with intercurrent
    events the estimand's true values (its variable's mean in each arm: what the planned analysis
    compares), so the closed forms size the trial for the difference it estimates."""
    primary = primary_arm(scenario)
    if scenario.intercurrent:
        from simulate.population.intercurrent import true_values

        truth = true_values(scenario)[primary]
        return truth.control, truth.treatment
    return scenario.arm(scenario.control_arm).remission_at_endpoint, scenario.arm(primary).remission_at_endpoint


def null_rate(scenario: sc.Scenario) -> float:
    """An experimental arm's endpoint rate under the null hypothesis: the control's, or for
    non-inferiority the control's less the margin (the rate at which H0 just holds)."""
    control = scenario.arm(scenario.control_arm).remission_at_endpoint
    a = scenario.analysis
    return max(0.0, control - a.margin) if a.hypothesis == "non_inferiority" else control


def dropout_adjustment(scenario: sc.Scenario) -> formulas.DropoutAdjustment:
    """The scenario's dropout as every closed-form reference sees it: the rates and the share of
    patients the planned analysis sees (the rule: :func:`simulate.analysis.formulas.adjust_for_dropout`).

    When dropout depends on the outcome (mnar) or on the status seen at visits (mar), the chance
    that a patient in remission at the endpoint drops out before it comes from the scenario's
    calibrated outcome model, arm by arm: in closed form for mnar, over the model's reference
    sample of eligible patients for mar (without intercurrent events).
    """
    d = scenario.dropout
    in_remission = None
    if d.mechanism != "mcar" and d.probability_by_endpoint > 0:
        from simulate.population.outcomes import calibrate

        models = calibrate(scenario)
        in_remission = tuple(models[arm].dropout_in_remission for arm in (scenario.control_arm, primary_arm(scenario)))
    return formulas.adjust_for_dropout(*rates(scenario), d.probability_by_endpoint, scenario.analysis.missing,
                                       in_remission)  # type: ignore[arg-type]
