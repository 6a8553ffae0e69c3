"""What a block's fates hold: :class:`Fates`, every random draw of a block of trials as arrays
(drawn by :func:`simulate.fates.draw.draw_fates`, read by both engines)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from simulate.population.outcomes import PotentialOutcomes


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
