"""Everything random about a block of trials, drawn once, as arrays.

:func:`draw_fates` is the only place a trial's randomness is drawn. Both engines (the
discrete-event reference in :mod:`simulate.engines.des` and the vectorised batch engine) only
read these arrays, so for the same seed they simulate the same trials, patient by patient.

For every trial of the block:

* each site's activation month (uniform on [0, ``site_activation_months_max``]) and its referral
  rate (gamma with mean ``rate_per_site_month`` and shape ``rate_gamma_shape``: Poisson-gamma);
* the site's referrals up to the hard stop as a Poisson process on [activation, hard stop]
  (a Poisson count, then uniform times), merged over sites in time order;
* every referral's covariates (:func:`simulate.cohort.draw_cohort`), screening duration, whether
  they would be lost if deferred, and their potential outcomes under either arm
  (:func:`simulate.outcomes.potential_outcomes`), from uniforms and unit exponentials;
* for each randomisation stratum, an allocation sequence of permuted blocks (block sizes drawn
  from ``block_sizes``) long enough for the whole target.

Arms are indexed 0 = RTX alone (control), 1 = RTX + CsA.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from simulate import scenario as sc
from simulate.cohort import Patients, draw_cohort
from simulate.eligibility import screen
from simulate.outcomes import PotentialOutcomes, calibrate, covariate_score, potential_outcomes
from simulate.seeding import child_sequence, stream

DAYS_PER_MONTH = 365.25 / 12.0
"""Unit conversion: the mean Gregorian month."""


@dataclass(frozen=True)
class Fates:
    n_trials: int
    seed_sequence: np.random.SeedSequence
    site_activation_months: np.ndarray
    """(n_trials, n_sites)."""
    site_rate_per_month: np.ndarray
    """(n_trials, n_sites)."""
    offsets: np.ndarray
    """(n_trials + 1,): referrals of trial t are rows offsets[t]:offsets[t+1]."""
    site: np.ndarray
    referral_month: np.ndarray
    """Calendar month of referral (time order within a trial)."""
    patients: Patients
    screening_months: np.ndarray
    first_failure: np.ndarray
    """First failing eligibility rule (index into simulate.eligibility.RULES), -1 if none."""
    qualifies_in_months: np.ndarray
    """0 eligible at screening, > 0 deferred that long, inf excluded."""
    lost_if_deferred: np.ndarray
    withdrawal: np.ndarray
    """If this patient drops out, it is a withdrawal of consent (else a loss to follow-up)."""
    stratum: np.ndarray
    outcomes: tuple[PotentialOutcomes, PotentialOutcomes]
    """Potential outcomes under arm 0 and arm 1."""
    allocation: np.ndarray
    """(n_trials, n_strata, length) int8: the permuted-block arm sequence of each stratum."""
    u_outcome: np.ndarray
    """(3, n_referrals) uniforms: response, time to remission, complete vs partial."""
    e_outcome: np.ndarray
    """(2, n_referrals) unit exponentials: relapse, dropout."""
    u_withdrawal: np.ndarray

    def rows(self, trial: int) -> slice:
        return slice(int(self.offsets[trial]), int(self.offsets[trial + 1]))

    @cached_property
    def eligible_month(self) -> np.ndarray:
        """Calendar month a referral becomes randomisable (inf if never)."""
        done = self.referral_month + self.screening_months
        ok = np.isfinite(self.qualifies_in_months) & ((self.qualifies_in_months == 0) | ~self.lost_if_deferred)
        return np.where(ok, done + np.where(ok, self.qualifies_in_months, 0.0), np.inf)


def n_strata(scenario: sc.Scenario) -> int:
    return 2 ** len(scenario.randomisation.stratify_by)


def strata_of(scenario: sc.Scenario, patients: Patients) -> np.ndarray:
    """Stratum index: bit k set when stratification factor k is 'high'."""
    r = scenario.randomisation
    index = np.zeros(len(patients), dtype=np.int16)
    for k, factor in enumerate(r.stratify_by):
        if factor == "pla2r_titre_high":
            high = patients.pla2r_titre_ru_ml >= r.pla2r_titre_high_ru_ml
        else:
            high = patients.proteinuria_mean_g_day >= r.proteinuria_high_g_day
        index |= (high.astype(np.int16) << k)
    return index


def _allocation(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int,
                n_target: int | None = None) -> np.ndarray:
    """Permuted blocks for every (trial, stratum), each at least the target long.

    Blocks are drawn block-position-major (all groups' first blocks, then all second blocks,
    ...) from two streams, so a larger target only appends blocks: the sequences of a smaller
    target are a prefix of those of a larger one (common random numbers across n per arm).
    """
    ratio = scenario.trial.allocation_ratio
    unit = sum(ratio)
    sizes = np.asarray(scenario.randomisation.block_sizes)
    target = scenario.trial.n_target if n_target is None else max(n_target, scenario.trial.n_target)
    n_blocks = -(-target // int(sizes.min()))
    groups = n_trials * n_strata(scenario)
    bmax = int(sizes.max())
    chosen = sizes[stream(block_seq, "allocation_sizes").integers(0, len(sizes), size=(n_blocks, groups))].T
    keys = stream(block_seq, "allocation_keys").random((n_blocks, groups, bmax)).transpose(1, 0, 2)
    slot = np.arange(bmax)
    valid = slot < chosen[..., None]
    order = np.argsort(np.where(valid, keys, np.inf), axis=-1, kind="stable")
    # before shuffling, slot j of a block of size b holds arm 1 iff j >= b * ratio[0] / unit
    arm_of_slot = (slot >= (chosen * ratio[0] // unit)[..., None]).astype(np.int8)
    arms = np.take_along_axis(arm_of_slot, order, axis=-1)
    length = target
    # valid slots are the first `chosen` of each block: flatten them in order, per group
    flat = arms[valid]
    starts = np.concatenate([[0], np.cumsum(chosen.sum(axis=1))[:-1]])
    seqs = flat[starts[:, None] + np.arange(length)]
    return seqs.reshape(n_trials, n_strata(scenario), length)


def draw_fates(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int,
               n_target: int | None = None) -> Fates:
    """Draw everything random for ``n_trials`` trials from the block's seed.

    ``n_target`` lengthens the allocation sequences so the same fates serve every design up to
    that many randomised patients (the sequences of smaller targets are prefixes of them); this
    is how a sample-size search evaluates every n on the same trials.
    """
    rec, trial = scenario.recruitment, scenario.trial
    n_sites = rec.sites
    rng = lambda name: stream(block_seq, name)  # noqa: E731

    activation = rng("site_activation").random((n_trials, n_sites)) * rec.site_activation_months_max
    shape = rec.rate_gamma_shape
    rates = rng("site_rate").gamma(shape, rec.rate_per_site_month / shape, size=(n_trials, n_sites))
    window = np.maximum(trial.hard_stop_months - activation, 0.0)
    counts = rng("referral_count").poisson(rates * window)
    flat_counts = counts.ravel()
    total = int(flat_counts.sum())
    pair = np.repeat(np.arange(n_trials * n_sites), flat_counts)
    t_idx, s_idx = pair // n_sites, pair % n_sites
    month = activation.ravel()[pair] + rng("referral_time").random(total) * window.ravel()[pair]
    order = np.lexsort((month, t_idx))
    t_idx, s_idx, month = t_idx[order], s_idx[order], month[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(t_idx, minlength=n_trials))])

    patients = draw_cohort(scenario.cohort, total, child_sequence(block_seq, "cohort"))
    screening = screen(patients, scenario.eligibility)
    days = rng("screening_days").uniform(rec.screening_days_min, rec.screening_days_max, total)
    lost = rng("deferral_loss").random(total) < rec.loss_during_deferral_probability

    fates = Fates(
        n_trials=n_trials, seed_sequence=block_seq, site_activation_months=activation,
        site_rate_per_month=rates, offsets=offsets, site=s_idx.astype(np.int32), referral_month=month,
        patients=patients, screening_months=days / DAYS_PER_MONTH,
        first_failure=screening.first_failure, qualifies_in_months=screening.qualifies_in_months,
        lost_if_deferred=lost, withdrawal=np.zeros(total, dtype=bool), stratum=strata_of(scenario, patients),
        outcomes=(), allocation=_allocation(scenario, block_seq, n_trials, n_target),
        u_outcome=rng("outcome_uniforms").random((3, total)),
        e_outcome=rng("outcome_exponentials").standard_exponential((2, total)),
        u_withdrawal=rng("dropout_reason").random(total),
    )
    return with_outcomes(fates, scenario)


def population_key(scenario: sc.Scenario) -> str:
    """Scenarios with equal keys share referrals, patients and allocation sequences: only their
    outcome model (arms, outcome, dropout) and the target may differ."""
    data = scenario.model_dump(mode="json")
    trial = {k: v for k, v in data["trial"].items() if k != "n_per_arm"}
    return json.dumps({"trial": trial, "block_size": scenario.simulation.block_size,
                       **{k: data[k] for k in ("recruitment", "cohort", "eligibility", "randomisation")}},
                      sort_keys=True)


def with_outcomes(fates: Fates, scenario: sc.Scenario) -> Fates:
    """The same trials' potential outcomes under ``scenario``'s outcome model (arms, outcome,
    dropout), from the fates' own uniforms: a sweep over effects or dropout re-uses its patients."""
    models = calibrate(scenario)
    p = fates.patients
    score = covariate_score(scenario, p.pla2r_titre_ru_ml, p.proteinuria_mean_g_day)
    u, e = fates.u_outcome, fates.e_outcome
    outcomes = tuple(potential_outcomes(models[name], score, u[0], u[1], e[0], u[2], e[1]) for name in sc.ARMS)
    return replace(fates, outcomes=outcomes, withdrawal=fates.u_withdrawal < scenario.dropout.withdrawal_share)


def lab_uniforms(fates: Fates, trial: int, n_visits: int) -> np.ndarray:
    """(n_referrals of the trial, n_visits, 2) uniforms for the lab values shown at visits
    (story mode only), from the trial's own stream."""
    rows = fates.rows(trial)
    rng = stream(fates.seed_sequence, f"visit_labs/{trial}")
    return rng.random((rows.stop - rows.start, n_visits, 2))
