"""Referrals: the sites, their referral processes and when each candidate becomes randomisable.

For every trial of a block (per-site arrays have one row per trial; referrals and candidates are
flat, trial by trial, with each trial's offsets, so the work is proportional to the referrals):

* each site's activation month (uniform on [0, ``site_activation_months_max``]) and its referral
  rate (gamma with mean ``rate_per_site_month`` and shape ``rate_gamma_shape``: Poisson-gamma);
* the site's referrals up to the hard stop, a Poisson process on [activation, hard stop] split
  by exact thinning (:mod:`simulate.screening.probabilities`) into two independent Poisson processes:
  referrals **excluded** at screening (rate x (1 - P(candidate))), of which only the referral
  month matters, and **candidates**, who pass every permanent rule (rate x P(candidate));
* every candidate's screening duration, ACEI/ARB intolerance (given a pass), months on
  ACEI/ARB, washout clocks and whether they would be lost if deferred: hence their deferral
  and the month they become randomisable (*eligible month*).

A candidate's clocks are kept as one uniform each (``u_clocks``): the transforms
of :mod:`simulate.population.covariates` turn them into months (:func:`candidate_clocks`), and the
deferral is the screen on uniforms of :mod:`simulate.screening.uniforms`, derived from the
criteria themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulate.design import scenario as sc
from simulate.design.fields import DAYS_PER_MONTH
from simulate.screening.probabilities import PassProbabilities, pass_probabilities
from simulate.screening.uniforms import CLOCKS, clock_of, defer_on_uniforms
from simulate.seeding import stream

if TYPE_CHECKING:
    from simulate.fates.record import Fates

"""Unit conversion: the mean Gregorian month (defined with the scenario, whose courses count days)."""


def _poisson_referrals(rng_count: np.random.Generator, rng_time: np.random.Generator, activation: np.ndarray,
                       rates: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson processes on each (trial, site) window: a Poisson count, then uniform times.

    Returns (month, site, count), flat: trial by trial, site by site (times within a site are not
    sorted), with ``count`` (n_trials,) each trial's total.
    """
    n_trials, n_sites = rates.shape
    counts = rng_count.poisson(rates * window).ravel()
    month = rng_time.random(int(counts.sum()))                     # uniforms, made months in place:
    month *= np.repeat(window.ravel(), counts)                      # activation + u * window
    month += np.repeat(activation.ravel(), counts)
    site = np.repeat(np.tile(np.arange(n_sites, dtype=np.int16), n_trials), counts)
    return month, site, counts.reshape(n_trials, n_sites).sum(axis=1)


def draw_referrals(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int,
                   probs: PassProbabilities | None = None) -> dict[str, np.ndarray]:
    """Sites, referrals and candidates of ``n_trials`` trials, from the block's streams: the
    fields of the same names of :class:`~simulate.fates.record.Fates`, from ``site_activation_months``
    to ``eligible_month``. ``probs``: the screen's pass probabilities, if already computed."""
    rec, trial, cohort, rules = scenario.recruitment, scenario.trial, scenario.cohort, scenario.eligibility
    n_sites = rec.sites
    rng = lambda name: stream(block_seq, name)  # noqa: E731
    probs = pass_probabilities(cohort, rules) if probs is None else probs
    p_cand = probs.candidate

    activation = rng("site_activation").random((n_trials, n_sites)) * rec.site_activation_months_max
    shape = rec.rate_gamma_shape
    rates = rng("site_rate").gamma(shape, rec.rate_per_site_month / shape, size=(n_trials, n_sites))
    window = np.maximum(trial.hard_stop_months - activation, 0.0)
    ex_month, ex_site, ex_count = _poisson_referrals(rng("excluded_count"), rng("excluded_time"), activation,
                                                     rates * (1.0 - p_cand), window)
    month, site, count = _poisson_referrals(rng("candidate_count"), rng("candidate_time"), activation,
                                            rates * p_cand, window)

    # candidates (flat): screening, then one uniform for each clock (ACEI/ARB, steroid/MMF,
    # alkylating agents), then whether a deferred candidate is lost
    u = rng("candidate_uniforms").random((5, len(month)))
    days = rec.screening_days_min + (rec.screening_days_max - rec.screening_days_min) * u[0]
    screening_months = days / DAYS_PER_MONTH
    p_int = probs.intolerant_given_pass
    intolerant = u[1] < p_int
    wait, first = defer_on_uniforms(cohort, rules, u[1:4], p_int)
    lost = u[4] < rec.loss_during_deferral_probability
    eligible_month = month + screening_months + wait
    np.putmask(eligible_month, lost & (wait > 0.0), np.inf)

    return dict(site_activation_months=activation, site_rate_per_month=rates,
                excluded_offsets=_offsets(ex_count), excluded_month=ex_month, excluded_site=ex_site,
                candidate_offsets=_offsets(count), site=site, referral_month=month,
                screening_months=screening_months, acei_arb_intolerant=intolerant, u_clocks=u[1:4],
                lost_if_deferred=lost, qualifies_in_months=wait, first_failure=first, eligible_month=eligible_month)


def _offsets(count: np.ndarray) -> np.ndarray:
    """(n_trials + 1,) offsets of each trial's rows in flat arrays, from the trials' counts."""
    return np.concatenate([[0], np.cumsum(count)])


def sum_by_trial(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(n_trials,) how many of each trial's rows of a flat array are flagged."""
    starts = offsets[:-1]
    count = np.zeros(len(starts), dtype=np.intp)
    rows = np.flatnonzero(offsets[1:] > starts)          # trials with rows (reduceat needs them)
    if len(rows):
        count[rows] = np.add.reduceat(flags[: offsets[-1]], starts[rows], dtype=np.intp)
    return count


def rows_of(offsets: np.ndarray, trial: int) -> slice:
    """The rows of one trial in flat arrays with these offsets."""
    return slice(int(offsets[trial]), int(offsets[trial + 1]))


def candidate_clocks(scenario: sc.Scenario, fates: Fates, trial: int) -> dict[str, np.ndarray]:
    """Months on ACEI/ARB (0 if intolerant) and months since steroid/MMF and alkylating agents
    (inf if never exposed) of one trial's candidates, from the fates' uniforms."""
    c = scenario.cohort
    p_int = pass_probabilities(c, scenario.eligibility).intolerant_given_pass
    u = fates.u_clocks[:, rows_of(fates.candidate_offsets, trial)]
    return {name: clock_of(c, name, p_int).months(u[row]) for row, name in enumerate(CLOCKS)}
