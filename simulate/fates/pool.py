"""The pool: the candidates a trial could randomise, in order of eligible month.

The first ``n_max`` randomisable candidates of each trial in order of eligible month (those
that could be randomised, whatever happens) get the rest of their covariates: the proteinuria
group given a pass (:func:`simulate.selection.draw_proteinuria_given_pass`) and anti-PLA2R
(:func:`simulate.population.pla2r`), hence their stratum; and the uniforms and exponentials
their potential outcomes are made of. Pool draws are made slot-row by slot-row across trials
(``k``-major), so a larger ``n_max`` only appends slots: the patients of a smaller target are a
prefix of those of a larger one.
"""

from __future__ import annotations

import numpy as np

from simulate import scenario as sc
from simulate.fates.allocation import strata_from
from simulate.population import mean_of_collections, pla2r
from simulate.seeding import stream
from simulate.selection import draw_proteinuria_given_pass

def draw_pool(scenario: sc.Scenario, block_seq: np.random.SeedSequence, eligible_month: np.ndarray,
              intolerant: np.ndarray, n_max: int) -> dict:
    """The first ``n_max`` randomisable candidates of each trial (by ``eligible_month``, one row
    per trial) with their covariates and outcome draws: the fields of the same names of
    :class:`~simulate.fates.Fates`, from ``n_randomisable`` to ``u_withdrawal`` (``pool``: the
    covariates)."""
    n_trials, width = eligible_month.shape
    n_randomisable = (eligible_month < scenario.trial.hard_stop_months).sum(axis=1)
    key = eligible_month             # the randomisable (before the hard stop) sort first
    if width > n_max:
        part = np.argpartition(key, n_max - 1, axis=1)[:, :n_max]
        within = np.argsort(np.take_along_axis(key, part, axis=1), axis=1, kind="stable")
        order = np.take_along_axis(part, within, axis=1)
    else:
        order = np.argsort(key, axis=1, kind="stable")
        order = np.concatenate([order, np.zeros((n_trials, n_max - width), dtype=order.dtype)], axis=1)
    in_pool = np.arange(n_max)[None, :] < np.minimum(n_randomisable, n_max)[:, None]
    order = np.where(in_pool, order, -1)
    slot = np.full((n_trials, width), -1, dtype=np.int32)
    tt, kk = np.nonzero(in_pool)
    slot[tt, order[tt, kk]] = kk
    pool_month = np.full((n_trials, n_max), np.inf)
    pool_month[tt, kk] = eligible_month[tt, order[tt, kk]]

    covariates = _proteinuria_group(scenario, block_seq, intolerant, order, in_pool)
    # the other pool draws: one row of (trial) values per slot row, so rows are prefixes too
    u = stream(block_seq, "pool_uniforms").random((n_max, 6, n_trials)).transpose(1, 2, 0)
    e = stream(block_seq, "pool_exponentials").standard_exponential((n_max, 2, n_trials)).transpose(1, 2, 0)
    nz = stream(block_seq, "pool_normals").standard_normal((n_max, n_trials)).T
    covariates["pla2r_positive"], covariates["titre"] = pla2r(scenario.cohort, covariates["z"], u[0], u[1], nz)
    stratum = strata_from(scenario, covariates["titre"], mean_of_collections(covariates["c1"], covariates["c2"]))
    return dict(n_randomisable=n_randomisable, order=order, randomisable_month=pool_month, slot=slot,
                pool=covariates, stratum=stratum, u_outcome=u[2:5], e_outcome=e, u_withdrawal=u[5])


def _proteinuria_group(scenario: sc.Scenario, block_seq: np.random.SeedSequence, intolerant: np.ndarray,
                       order: np.ndarray, in_pool: np.ndarray) -> dict[str, np.ndarray]:
    """The proteinuria group of the pool slots given a pass, drawn slot-row by slot-row (k-major);
    (n_trials, n_max) each, with neutral values past a trial's last slot."""
    n_trials, n_max = order.shape
    # valid slots in k-major order: (k, trial) for k < the trial's pool length
    kk, tt = np.nonzero(in_pool.T)
    slot_intolerant = intolerant[tt, order[tt, kk]]
    drawn = draw_proteinuria_given_pass(scenario.cohort, scenario.eligibility, slot_intolerant, block_seq,
                                        "pool_proteinuria")
    covariates = {}
    for name, fill in (("z", 0.0), ("true", 1.0), ("c1", 1.0), ("c2", 1.0), ("u_reduction", 0.0)):
        a = np.full((n_trials, n_max), fill)
        a[tt, kk] = drawn[name]
        covariates[name] = a
    return covariates
