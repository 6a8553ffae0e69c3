"""Everything random about a block of trials, drawn once, as arrays.

:func:`draw_fates` is the only place a trial's randomness is drawn. Both engines (the
discrete-event reference in :mod:`simulate.engines.des` and the vectorised batch engine) only
read these arrays, so for the same seed they simulate the same trials, patient by patient.

The fates of a block come in three parts, each its own module:

* **referrals** (:mod:`simulate.fates.referrals`): each site's activation and referral rate,
  the referrals of each site split by exact thinning into those excluded at screening and the
  candidates, and each candidate's screening, deferral clocks and eligible month;
* **the pool** (:mod:`simulate.fates.pool`): the randomisable candidates of each trial in order
  of eligible month, with the rest of their covariates (the proteinuria group given a pass,
  anti-PLA2R, hence stratum) and the draws behind their potential outcomes under either arm
  (:func:`simulate.population.outcomes.potential_outcomes`, computed here);
* **allocation** (:mod:`simulate.fates.allocation`): each stratum's permuted-block sequence.

Each part draws from its own named streams of the block's seed (:mod:`simulate.seeding`), and
covariates are made from their draws by the transforms of :mod:`simulate.population.covariates`.

What only the story of one trial shows (the rule that excluded each referral, a randomised
patient's age, sex, eGFR, albumin and treatment history) is drawn per trial on demand from the
trial's own streams (:mod:`simulate.engines.story`); nothing a power run counts depends on it.

Arms are indexed in the scenario's order (:attr:`simulate.design.scenario.Scenario.arm_names`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from simulate.design import scenario as sc
from simulate.fates.allocation import permuted_blocks
from simulate.fates.pool import draw_pool
from simulate.fates.record import Fates
from simulate.fates.referrals import draw_referrals, rows_of
from simulate.population.outcomes import PotentialOutcomes, calibrate, covariate_score, potential_outcomes
from simulate.population.covariates import mean_of_collections
from simulate.population.intercurrent import draw_intercurrent, intercurrent_outcomes

if TYPE_CHECKING:
    from simulate.run.prepared import PreparedDesign


def draw_fates(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int,
               n_target: int | None = None, prepared: PreparedDesign | None = None) -> Fates:
    """Draw everything random for ``n_trials`` trials from the block's seed.

    ``n_target`` lengthens the pool and the allocation sequences so the same fates serve every
    design up to that many randomised patients (those of smaller targets are prefixes of
    them); this is how a sample-size search evaluates every n on the same trials.
    ``prepared``: the scenario's per-design values (:mod:`simulate.run.prepared`), computed
    here if not given.
    """
    n_max = scenario.n_target if n_target is None else max(n_target, scenario.n_target)
    referrals = draw_referrals(scenario, block_seq, n_trials,
                               None if prepared is None else prepared.pass_probabilities)
    pool = draw_pool(scenario, block_seq, referrals["candidate_offsets"], referrals["eligible_month"],
                     referrals["acei_arb_intolerant"], n_max)
    width = pool["order"].shape[1]
    outcomes, withdrawal = _potential_outcomes(scenario, pool["pool"], pool["u_outcome"], pool["e_outcome"],
                                               pool["u_withdrawal"], _models(scenario, prepared, block_seq, n_trials),
                                               draw_intercurrent(scenario, block_seq, n_trials, width))
    return Fates(n_trials=n_trials, seed_sequence=block_seq, n_max=width, **referrals, **pool,
                 withdrawal=withdrawal, outcomes=outcomes,
                 allocation=permuted_blocks(scenario, block_seq, n_trials, n_target, longest=width))


def _models(scenario: sc.Scenario, prepared: PreparedDesign | None, block_seq: np.random.SeedSequence,
            n_trials: int):
    """The calibrated model of each arm: the prepared design's, else computed (cached); with
    ``outcome.rates_from = "design_prior"``, calibrated to each trial's own draw of the rates
    (:mod:`simulate.population.design_prior`)."""
    if scenario.outcome.rates_from == "design_prior":
        from simulate.population.design_prior import draw_rates, trial_models

        return trial_models(scenario, draw_rates(scenario, block_seq, n_trials))
    return calibrate(scenario) if prepared is None else prepared.arm_models


def _potential_outcomes(scenario: sc.Scenario, covariates: dict, u: np.ndarray, e: np.ndarray,
                        u_withdrawal: np.ndarray, models, u_intercurrent: np.ndarray | None,
                        ) -> tuple[tuple[PotentialOutcomes, ...], np.ndarray]:
    """(potential outcomes under each arm, withdrawal) of the pool slots under ``scenario``'s
    outcome model (arms, outcome, dropout, intercurrent events; each arm's calibrated model in
    ``models``), from the pool's own uniforms and exponentials and the events' uniforms
    (:func:`~simulate.population.intercurrent.draw_intercurrent`)."""
    score = covariate_score(scenario, covariates["titre"], mean_of_collections(covariates["c1"], covariates["c2"]))
    outcomes = tuple(potential_outcomes(models[name], score, u[0], u[1], e[0], u[2], e[1])
                     for name in scenario.arm_names)
    if u_intercurrent is not None:
        outcomes = tuple(replace(po, intercurrent=intercurrent_outcomes(scenario, name, u_intercurrent))
                         for po, name in zip(outcomes, scenario.arm_names))
    return outcomes, u_withdrawal < scenario.dropout.withdrawal_share


def with_outcomes(fates: Fates, scenario: sc.Scenario, prepared: PreparedDesign | None = None) -> Fates:
    """The same trials' potential outcomes under ``scenario``'s outcome model (arms, outcome,
    dropout), from the fates' own uniforms: a sweep over effects or dropout re-uses its patients.
    ``prepared``: the scenario's per-design values, computed here if not given."""
    draws = draw_intercurrent(scenario, fates.seed_sequence, fates.n_trials, fates.n_max)
    outcomes, withdrawal = _potential_outcomes(scenario, fates.pool, fates.u_outcome, fates.e_outcome,
                                               fates.u_withdrawal,
                                               _models(scenario, prepared, fates.seed_sequence, fates.n_trials), draws)
    return replace(fates, outcomes=outcomes, withdrawal=withdrawal)


def excluded_of(fates: Fates, trial: int) -> tuple[np.ndarray, np.ndarray]:
    """(referral months, sites) of one trial's excluded referrals."""
    rows = rows_of(fates.excluded_offsets, trial)
    return fates.excluded_month[rows], fates.excluded_site[rows]


def candidates_of(fates: Fates, trial: int) -> slice:
    """The rows of one trial's candidates in the fates' candidate arrays (index them by column)."""
    return rows_of(fates.candidate_offsets, trial)


def proteinuria_mean(fates: Fates) -> np.ndarray:
    """(n_trials, n_max) mean of the two screening collections of each pool slot."""
    return mean_of_collections(fates.pool["c1"], fates.pool["c2"])
