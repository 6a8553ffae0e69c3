"""Assurance: the chance of success averaged over what the planners believe about the rates
(``[arms.<id>] design_prior``), beside the power at the rates they assume.

The assurance is simulated: the same seed's trials, each drawing its own true rates from the
design priors (:mod:`simulate.population.design_prior`), every other part of the model (screening,
recruitment, dropout, intercurrent events, the analysis) as in the power run. What lies behind
it (:func:`assurance_detail`) comes with it: the priors and the mean rates drawn, the prior
probability that the experimental arm is truly better (or, for non-inferiority, less than the
margin worse), and how the power conditional on the true rates spreads over the prior (the
normal approximation at each drawn pair, as gsDesign's ``gsPOS`` integrates it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import special

from simulate.design import scenario as sc
from simulate.design.loader import with_overrides
from simulate.run.results import PowerResult

PRIOR_DRAWS = 200_000
"""Draws from the design priors behind the prior probability of benefit and the distribution of
conditional power (their Monte Carlo SE is reported: about 0.001)."""
PRIOR_DRAWS_SEED = 0xA55A
"""Seed of those draws (fixed: the same design gives the same figures)."""
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def has_design_prior(scenario: sc.Scenario) -> bool:
    return any(scenario.arm(a).design_prior is not None for a in scenario.arm_names)


def prior_world(scenario: sc.Scenario) -> sc.Scenario:
    """The scenario whose trials draw their rates from the design priors."""
    return with_overrides(scenario, {"outcome.rates_from": "design_prior"})


def with_assurance(scenario: sc.Scenario, result: PowerResult, replicates: int | None = None,
                   seed: int | None = None, jobs=None, engine: str | None = None,
                   progress: bool = False) -> PowerResult:
    """``result`` (a power run of ``scenario``) with the assurance beside it; unchanged without
    a design prior. A run already drawing from the priors is its own assurance."""
    from simulate.run.power import estimate_power

    if not has_design_prior(scenario):
        return result
    if scenario.outcome.rates_from == "design_prior":
        drawn = result
    else:
        drawn = estimate_power(prior_world(scenario), replicates or result.replicates,
                               result.seed if seed is None else seed, jobs, engine or result.engine, progress)
    return dataclasses.replace(result, assurance=drawn.power, assurance_mc_se=drawn.mc_se,
                               assurance_detail=assurance_detail(scenario, drawn))


def assurance_detail(scenario: sc.Scenario, drawn: PowerResult) -> dict:
    """What lies behind an assurance ``drawn`` (a run of the prior world)."""
    from simulate.design.assumed import primary_arm
    from simulate.design.prior_reach import mass_above_reach
    from simulate.population import design_prior as dp

    priors = {}
    for name in scenario.arm_names:
        prior = scenario.arm(name).design_prior
        priors[name] = {"design_prior": None if prior is None else [list(c) for c in prior.components],
                        "mean_rate": dp.prior_mean(scenario, name),
                        "mass_above_reach": mass_above_reach(scenario, name)}
    arm = primary_arm(scenario)
    rates = _prior_draws(scenario)
    p_benefit = prior_probability_of_benefit(scenario, rates)
    power = conditional_power(scenario, rates[scenario.control_arm], rates[arm])
    return {
        "ci_low": drawn.ci_low, "ci_high": drawn.ci_high, "replicates": drawn.replicates,
        "successes": drawn.rejections, "arms": priors, "primary_arm": arm,
        "mean_true_difference": {c.arm: c.true_difference for c in drawn.comparisons},
        "prior_probability_of_benefit": p_benefit,
        "prior_probability_of_benefit_mc_se": float(np.sqrt(p_benefit * (1 - p_benefit) / PRIOR_DRAWS)),
        "conditional_power": {
            "method": "normal approximation at each pair of rates drawn from the design priors, after dropout "
                      "as the planned analysis counts it" + (" (intercurrent events left out)"
                                                             if scenario.intercurrent else ""),
            "mean": float(power.mean()),
            "quantiles": {f"{q:g}": float(v) for q, v in zip(QUANTILES, np.quantile(power, QUANTILES))},
            "share_below_half": float((power < 0.5).mean()),
        },
        "calibration_error": dp.calibration_error(scenario),
    }


def prior_probability_of_benefit(scenario: sc.Scenario, rates: dict[str, np.ndarray] | None = None) -> float:
    """The design priors' probability of a true benefit as the design's success counts it
    (``analysis.success``): some experimental arm truly better than the control (for
    non-inferiority: less than the margin worse), every one, or the named one; by
    :data:`PRIOR_DRAWS` draws (``rates``, when the caller has drawn them). With a one-sided
    test no n lifts the assurance above it."""
    rates = _prior_draws(scenario) if rates is None else rates
    control = rates[scenario.control_arm]
    benefit = {arm: _benefit(scenario, rates[arm] - control) for arm in scenario.experimental_arms}
    success = scenario.analysis.success
    if success == "any":
        return float(np.any(list(benefit.values()), axis=0).mean())
    if success == "all":
        return float(np.all(list(benefit.values()), axis=0).mean())
    return float(benefit[success].mean())


def ceiling_words(scenario: sc.Scenario) -> str:
    """What the prior probability of benefit bounds: the assurance of a one-sided test; a
    two-sided test's rejections also count significant harm, as its power does."""
    a = scenario.analysis
    if a.alternative == "greater" or a.hypothesis == "non_inferiority":
        return "no number of patients lifts the assurance above that"
    return ("a two-sided test also counts a significant harm as a rejection, as its power does, so the assurance "
            "may pass it")


def _prior_draws(scenario: sc.Scenario) -> dict[str, np.ndarray]:
    from simulate.population.design_prior import draw_rates

    return draw_rates(scenario, np.random.SeedSequence(PRIOR_DRAWS_SEED), PRIOR_DRAWS)


def _benefit(scenario: sc.Scenario, difference: np.ndarray) -> np.ndarray:
    """A true benefit at each drawn difference: better than the control (superiority), or less
    than the margin worse (non-inferiority)."""
    a = scenario.analysis
    return difference > (-a.margin if a.hypothesis == "non_inferiority" else 0.0)


def conditional_power(scenario: sc.Scenario, p_control: np.ndarray, p_treat: np.ndarray) -> np.ndarray:
    """The normal approximation to the power at each pair of rates (arrays): the unpooled z test
    of the difference (beyond the margin, for non-inferiority) at the design's n per arm and
    level, with dropout counted as the planned analysis counts it (as failures: rates times the
    share who stay; complete cases and imputation: fewer patients)."""
    from simulate.design.assumed import primary_arm

    a, d = scenario.analysis, scenario.dropout.probability_by_endpoint
    alloc = scenario.allocation
    arms = scenario.arm_names
    low = min(alloc)
    n_c = scenario.trial.n_per_arm * alloc[arms.index(scenario.control_arm)] / low
    n_t = scenario.trial.n_per_arm * alloc[arms.index(primary_arm(scenario))] / low
    if a.missing == "nonresponder" or a.missing == "locf":
        p_c, p_t = p_control * (1 - d), p_treat * (1 - d)
    else:
        p_c, p_t, n_c, n_t = p_control, p_treat, n_c * (1 - d), n_t * (1 - d)
    se = np.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    se = np.maximum(se, 1e-12)
    shift = a.margin if a.hypothesis == "non_inferiority" else 0.0
    two_sided = a.alternative == "two-sided"
    z_a = special.ndtri(1 - (a.alpha / 2 if two_sided else a.alpha))
    z = (p_t - p_c + shift) / se
    power = special.ndtr(z - z_a)
    if two_sided:
        power = power + special.ndtr(-z - z_a)
    return power
