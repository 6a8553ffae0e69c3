"""The pool: the candidates a trial could randomise, in order of eligible month.

The first ``n_max`` randomisable candidates of each trial in order of eligible month (those
that could be randomised, whatever happens; no wider than the most any trial of the block has) get the rest of their covariates: the proteinuria
group given a pass (:func:`simulate.screening.probabilities.draw_proteinuria_given_pass`) and anti-PLA2R
(:func:`simulate.population.covariates.pla2r`), hence their stratum; and the uniforms and exponentials
their potential outcomes are made of. Pool draws are made slot-row by slot-row across trials
(``k``-major), so a larger ``n_max`` only appends slots: the patients of a smaller target are a
prefix of those of a larger one.
"""

from __future__ import annotations

import numpy as np

from simulate.design import scenario as sc
from simulate.fates.allocation import strata_from
from simulate.fates.referrals import sum_by_trial
from simulate.population.covariates import mean_of_collections, pla2r
from simulate.seeding import stream
from simulate.screening.probabilities import draw_proteinuria_given_pass

def draw_pool(scenario: sc.Scenario, block_seq: np.random.SeedSequence, offsets: np.ndarray,
              eligible_month: np.ndarray, intolerant: np.ndarray, n_max: int) -> dict:
    """The first ``n_max`` randomisable candidates of each trial (by ``eligible_month``; the
    candidate arrays are flat, trial t's at rows ``offsets[t]:offsets[t+1]``) with their
    covariates and outcome draws: the fields of the same names of
    :class:`~simulate.fates.record.Fates`, from ``n_randomisable`` to ``u_withdrawal`` (``pool``: the
    covariates)."""
    n_trials = len(offsets) - 1
    count = np.diff(offsets)
    first = offsets[:-1]
    n_randomisable = sum_by_trial(eligible_month < scenario.trial.hard_stop_months, offsets)
    # no trial of the block can randomise more than its randomisable candidates: the pool is
    # no wider than the most of them in any trial (the draws are k-major, so the slots kept are
    # exactly those of a wider pool, and a design of huge target costs what its referrals cost)
    n_max = max(1, min(n_max, int(n_randomisable.max()) if n_trials else 0))
    order = _first_by_month(eligible_month, first, count, n_max)
    in_pool = np.arange(n_max)[None, :] < np.minimum(n_randomisable, n_max)[:, None]
    order = np.where(in_pool, order, -1)
    row = (first[:, None] + order)[in_pool]                          # the pool's candidates, flat
    pool_month = np.full((n_trials, n_max), np.inf)
    pool_month[in_pool] = eligible_month[row]
    slot_intolerant = np.zeros((n_trials, n_max), dtype=bool)
    slot_intolerant[in_pool] = intolerant[row]
    slot = np.full(len(eligible_month), -1, dtype=np.int32)
    slot[row] = np.broadcast_to(np.arange(n_max, dtype=np.int32), in_pool.shape)[in_pool]

    covariates = _proteinuria_group(scenario, block_seq, slot_intolerant, in_pool)
    # the other pool draws: one row of (trial) values per slot row, so rows are prefixes too
    u = stream(block_seq, "pool_uniforms").random((n_max, 6, n_trials)).transpose(1, 2, 0)
    e = stream(block_seq, "pool_exponentials").standard_exponential((n_max, 2, n_trials)).transpose(1, 2, 0)
    nz = stream(block_seq, "pool_normals").standard_normal((n_max, n_trials)).T
    covariates["pla2r_positive"], covariates["titre"] = pla2r(scenario.cohort, covariates["z"], u[0], u[1], nz)
    stratum = strata_from(scenario, covariates["titre"], mean_of_collections(covariates["c1"], covariates["c2"]))
    return dict(n_randomisable=n_randomisable, order=order, randomisable_month=pool_month, slot=slot,
                pool=covariates, stratum=stratum, u_outcome=u[2:5], e_outcome=e, u_withdrawal=u[5])


SORTED_TOGETHER = 32
"""Trials whose candidates are ordered in one sort: trials of similar candidate counts, so
that few padding cells are sorted with them."""


def _first_by_month(eligible_month: np.ndarray, first: np.ndarray, count: np.ndarray, n_max: int) -> np.ndarray:
    """(n_trials, n_max) the columns (rows within their trial) of each trial's first ``n_max``
    candidates by eligible month (arbitrary past its candidates).

    Trials are sorted a few at a time, those of similar counts together, one row each padded
    with inf (a full sort of each row is faster than a partition and a sort of its head). Equal
    finite eligible months have probability zero, and the infinite ones never enter the pool,
    so the order is the same whatever the padding."""
    n_trials = len(count)
    order = np.zeros((n_trials, n_max), dtype=np.intp)
    by_count = np.argsort(count, kind="stable")
    for g in range(0, n_trials, SORTED_TOGETHER):
        rows = by_count[g: g + SORTED_TOGETHER]
        width = int(count[rows[-1]])
        if width == 0:
            continue
        columns = np.arange(width)
        real = columns[None, :] < count[rows][:, None]
        key = np.full(real.shape, np.inf)
        key[real] = eligible_month[(first[rows][:, None] + columns)[real]]
        head = np.argsort(key, axis=1)[:, :n_max]
        order[rows, : head.shape[1]] = head
    return order


def _proteinuria_group(scenario: sc.Scenario, block_seq: np.random.SeedSequence, intolerant: np.ndarray,
                       in_pool: np.ndarray) -> dict[str, np.ndarray]:
    """The proteinuria group of the pool slots given a pass (``intolerant``: of ACEI/ARB, per
    slot), drawn slot-row by slot-row (k-major); (n_trials, n_max) each, with neutral values
    past a trial's last slot."""
    # valid slots in k-major order: (k, trial) for k < the trial's pool length
    by_slot = in_pool.T
    drawn = draw_proteinuria_given_pass(scenario.cohort, scenario.eligibility, intolerant.T[by_slot], block_seq,
                                        "pool_proteinuria")
    covariates = {}
    for name, fill in (("z", 0.0), ("true", 1.0), ("c1", 1.0), ("c2", 1.0), ("u_reduction", 0.0)):
        a = np.full(by_slot.shape, fill)
        a[by_slot] = drawn[name]
        covariates[name] = np.ascontiguousarray(a.T)
    return covariates
