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

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from simulate.design import scenario as sc
from simulate.fates.allocation import n_strata, permuted_blocks, strata_from
from simulate.fates.pool import draw_pool
from simulate.fates.referrals import DAYS_PER_MONTH, candidate_clocks, draw_referrals, rows_of
from simulate.population.outcomes import PotentialOutcomes, calibrate, covariate_score, potential_outcomes
from simulate.population.covariates import mean_of_collections

if TYPE_CHECKING:
    from simulate.run.prepared import PreparedDesign

__all__ = ["DAYS_PER_MONTH", "Fates", "candidate_clocks", "candidates_of", "draw_fates", "excluded_of", "n_strata",
           "population_key", "proteinuria_mean", "strata_from", "with_outcomes"]



@dataclass(frozen=True)
class Fates:
    n_trials: int
    seed_sequence: np.random.SeedSequence
    n_max: int
    """Pool length: the largest target these fates serve, or the most randomisable candidates
    of any trial of the block if fewer (no trial can randomise more)."""
    site_activation_months: np.ndarray
    """(n_trials, n_sites)."""
    site_rate_per_month: np.ndarray
    """(n_trials, n_sites)."""
    excluded_offsets: np.ndarray
    """(n_trials + 1,) referrals excluded at screening: trial t's are rows offsets[t]:offsets[t+1]."""
    excluded_month: np.ndarray
    """Referral month of each excluded referral (flat, trial by trial, site by site)."""
    excluded_site: np.ndarray
    candidate_offsets: np.ndarray
    """(n_trials + 1,) candidates: trial t's are rows offsets[t]:offsets[t+1] of the candidate
    arrays below (flat, trial by trial, site by site; a candidate's *column* is its row within
    its trial). Within a trial they are not in time order."""
    site: np.ndarray
    """Candidate's site."""
    referral_month: np.ndarray
    screening_months: np.ndarray
    acei_arb_intolerant: np.ndarray
    """Given a pass."""
    u_clocks: np.ndarray
    """(3, candidates) uniforms of ACEI/ARB (intolerance, months on), steroid/MMF and alkylating
    exposure (exposure, months since): see :func:`candidate_clocks`."""
    lost_if_deferred: np.ndarray
    qualifies_in_months: np.ndarray
    """0 eligible at screening, > 0 deferred that long."""
    first_failure: np.ndarray
    """First failing (time-dependent) rule, index into RULES; -1 if none."""
    eligible_month: np.ndarray
    """Calendar month the candidate becomes randomisable (inf if lost)."""
    n_randomisable: np.ndarray
    """(n_trials,) candidates randomisable before the hard stop."""
    order: np.ndarray
    """(n_trials, n_max) column (row within its trial) of the k-th randomisable candidate (-1 past the last)."""
    randomisable_month: np.ndarray
    """(n_trials, n_max) eligible month of each pool slot, ascending (inf past the last)."""
    slot: np.ndarray
    """Pool slot of each candidate (flat, as the candidate arrays; -1 if not in the pool): the inverse of order."""
    pool: dict
    """Pool covariates, each (n_trials, n_max): z, true, c1, c2, u_reduction (see
    :func:`simulate.population.covariates.acei_arb_reduction`), pla2r_positive, titre."""
    stratum: np.ndarray
    """(n_trials, n_max) randomisation stratum of each pool slot."""
    u_outcome: np.ndarray
    """(3, n_trials, n_max) uniforms: response, time to remission, complete vs partial."""
    e_outcome: np.ndarray
    """(2, n_trials, n_max) unit exponentials: relapse, dropout."""
    u_withdrawal: np.ndarray
    withdrawal: np.ndarray
    """(n_trials, n_max) if this patient drops out, it is a withdrawal of consent."""
    outcomes: tuple[PotentialOutcomes, ...]
    """Potential outcomes of each pool slot under each arm (in arm order), each (n_trials, n_max)."""
    allocation: np.ndarray
    """(n_trials, n_strata, length) int8: the permuted-block arm sequence (arm indices) of each stratum."""


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
    outcomes, withdrawal = _potential_outcomes(scenario, pool["pool"], pool["u_outcome"], pool["e_outcome"],
                                               pool["u_withdrawal"], _models(scenario, prepared))
    width = pool["order"].shape[1]
    return Fates(n_trials=n_trials, seed_sequence=block_seq, n_max=width, **referrals, **pool,
                 withdrawal=withdrawal, outcomes=outcomes,
                 allocation=permuted_blocks(scenario, block_seq, n_trials, n_target, longest=width))


def _models(scenario: sc.Scenario, prepared: PreparedDesign | None):
    """The calibrated model of each arm: the prepared design's, else computed (cached)."""
    return calibrate(scenario) if prepared is None else prepared.arm_models


def _potential_outcomes(scenario: sc.Scenario, covariates: dict, u: np.ndarray, e: np.ndarray,
                        u_withdrawal: np.ndarray, models) -> tuple[tuple[PotentialOutcomes, ...], np.ndarray]:
    """(potential outcomes under each arm, withdrawal) of the pool slots under ``scenario``'s
    outcome model (arms, outcome, dropout; each arm's calibrated model in ``models``), from the
    pool's own uniforms and exponentials."""
    score = covariate_score(scenario, covariates["titre"], mean_of_collections(covariates["c1"], covariates["c2"]))
    outcomes = tuple(potential_outcomes(models[name], score, u[0], u[1], e[0], u[2], e[1])
                     for name in scenario.arm_names)
    return outcomes, u_withdrawal < scenario.dropout.withdrawal_share


def with_outcomes(fates: Fates, scenario: sc.Scenario, prepared: PreparedDesign | None = None) -> Fates:
    """The same trials' potential outcomes under ``scenario``'s outcome model (arms, outcome,
    dropout), from the fates' own uniforms: a sweep over effects or dropout re-uses its patients.
    ``prepared``: the scenario's per-design values, computed here if not given."""
    outcomes, withdrawal = _potential_outcomes(scenario, fates.pool, fates.u_outcome, fates.e_outcome,
                                               fates.u_withdrawal, _models(scenario, prepared))
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


def population_key(scenario: sc.Scenario) -> str:
    """Scenarios with equal keys share referrals, patients and allocation sequences: only their
    outcome model (the arms' effects, outcome, dropout) and the target may differ."""
    data = scenario.model_dump(mode="json")
    trial = {k: v for k, v in data["trial"].items() if k != "n_per_arm"}
    return json.dumps({"trial": trial, "block_size": scenario.simulation.block_size,
                       "allocation": list(scenario.allocation),
                       **{k: data[k] for k in ("recruitment", "cohort", "eligibility", "randomisation")}},
                      sort_keys=True)
