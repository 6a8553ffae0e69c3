"""One block of trials under designs that differ only in their target, in one pass.

A sample-size search simulates the same trials at many n per arm (common random numbers). Its
designs share their fates and their potential outcomes (:func:`simulate.fates.keys.outcome_key`),
and a design randomises a prefix of each trial's pool: its first ``min(randomisable, target)``
slots, each to the arm it would get under any larger target (the allocation sequences of a
smaller target are prefixes of the larger's). So every count a design makes is a count over a
prefix of the widest design's patients.

:func:`outcomes_by_target` randomises and follows the widest design's patients once, labels
each pool slot with the first design (in order of target) whose prefix holds it, counts each
label once, and adds the counts up over the designs in order. The referrals before each
design's close of enrolment are counted by one search of the designs' closing months. Each design gets exactly the :class:`~simulate.engines.block_outcomes.BlockOutcomes` of
:func:`simulate.engines.batch.outcomes_from_batch` on its own (tests/test_by_target.py), at
about the cost of the widest design and a little per design.

Designs with interim looks stop their trials at calendar times of their own: they are not
prefixes of each other, and go through :func:`~simulate.engines.batch.outcomes_from_batch`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from simulate.design import scenario as sc
from simulate.engines.batch import patient_outcomes, randomise_block
from simulate.engines.block_outcomes import BlockOutcomes
from simulate.fates.record import Fates


def outcomes_by_target(designs: Sequence[sc.Scenario], fates: Fates, n_trials: int,
                       shared: dict | None = None) -> list[BlockOutcomes]:
    """:func:`~simulate.engines.batch.outcomes_from_batch` for each design (in the order given)
    of designs that share their fates and outcome model and have no interim looks.

    ``shared``: a dict kept by the caller for these fates, across calls for designs of other
    outcome models (a sweep's): who is randomised when, each design's close of enrolment and its
    CONSORT counts depend on the population and the targets only, and are computed once."""
    order = sorted(range(len(designs)), key=lambda i: designs[i].n_target)
    targets = tuple(designs[i].n_target for i in order)
    widest = designs[order[-1]]
    shared = {} if shared is None else shared
    if ("frame", targets, n_trials) not in shared:
        shared["frame", targets, n_trials] = _Frame(widest, fates, n_trials, np.array(targets))
    f: _Frame = shared["frame", targets, n_trials]
    p = patient_outcomes(widest, fates, f.r)
    D, K = len(order), len(widest.arms)

    def count(mask: np.ndarray) -> np.ndarray:
        once = np.bincount(f.cell, weights=mask[f.held], minlength=n_trials * D * f.n_s * K)
        return np.cumsum(once.reshape(n_trials, D, f.n_s, K), axis=1).astype(np.int32)

    dropped = p["dropped"]
    n_randomised, n_completed = count(np.ones_like(dropped)), count(~dropped)
    x_endpoint, x_locf = count(p["remission"]), count(p["locf"])
    lost = count(p["lost"]).sum(axis=(2, 3)) if "lost" in p else None
    x_visits = _seen_at_visits(p["visits_seen"], f.held, f.label, f.r["arm"], D, K, len(widest.trial.visit_months))
    reach = np.maximum.accumulate(np.where(f.r["randomised"], f.r["month"] + p["finish"], -np.inf), axis=1)
    rows = np.arange(n_trials)
    out: list[BlockOutcomes | None] = [None] * D
    for k in range(D):
        total, target, has = f.n_rand[k], targets[k], f.n_rand[k] > 0
        finish = np.where(has, reach[rows, np.maximum(total - 1, 0)], -np.inf)
        full = total == target
        out[order[k]] = BlockOutcomes(
            n_randomised=n_randomised[:, k], n_completed=n_completed[:, k], x_endpoint=x_endpoint[:, k],
            x_locf=x_locf[:, k], x_visits=x_visits[k], recruitment_months=f.last[k],
            duration_months=np.where(has, finish, f.closed[k]), terminated=total < target,
            on_time=full & (f.last[k] <= designs[order[k]].trial.recruitment_months),
            dropped_out=None if lost is None else lost[:, k], **{name: v[k] for name, v in f.consort.items()})
    return out  # type: ignore[return-value]


class _Frame:
    """What designs of one population that differ only in their target share whatever their
    outcome model: who is randomised when and to what under the widest (``r``), each design's
    number randomised per trial (``n_rand``, designs in order of target), each pool slot's
    label (the first design whose prefix holds it; D: none) and count cell, the month of each
    design's last randomisation and close of enrolment, and its CONSORT counts."""

    def __init__(self, widest: sc.Scenario, fates: Fates, n_trials: int, targets: np.ndarray) -> None:
        self.r = r = randomise_block(widest, fates, n_trials)
        D, K = len(targets), len(widest.arms)
        self.n_s = n_s = fates.allocation.shape[1]
        self.n_rand = n_rand = np.minimum(fates.n_randomisable[:n_trials][None, :], targets[:, None])
        width = r["randomised"].shape[1]
        # slot j is in design k's prefix iff j < n_rand[k]
        self.label = label = np.zeros((n_trials, width), dtype=np.intp)
        slot = np.arange(width)
        for k in range(D):
            label += slot[None, :] >= n_rand[k][:, None]
        self.held = held = label < D
        trial = np.arange(n_trials)[:, None]
        self.cell = (((trial * D + label) * n_s + r["stratum"]) * K + r["arm"])[held]
        rows = np.arange(n_trials)
        self.last = np.empty((D, n_trials))
        self.closed = np.empty((D, n_trials))
        pool_width = fates.randomisable_month.shape[1]
        for k, target in enumerate(targets.tolist()):
            total = n_rand[k]
            self.last[k] = np.where(total > 0, r["month"][rows, np.maximum(total - 1, 0)], np.nan)
            ends = fates.randomisable_month[:n_trials, min(target, pool_width) - 1] if target > 0 \
                else np.zeros(n_trials)
            self.closed[k] = np.where(total == target, ends, float(widest.trial.hard_stop_months))
        self.consort = _consort(fates, n_trials, self.closed, n_rand)


def _seen_at_visits(visits_seen: list[tuple[np.ndarray, np.ndarray]], held: np.ndarray, label: np.ndarray,
                    arm: np.ndarray, D: int, K: int, V: int) -> np.ndarray:
    """(designs, trials, arms, visits) int32: each design's patients seen in the endpoint state
    at each visit (as :func:`simulate.engines.batch._seen_at_visits`, each label counted once)."""
    n_trials = len(held)
    # one cell per (label, arm, visit, trial)
    base = (label * K + arm) * ((V + 1) * n_trials) + np.arange(n_trials)[:, None]
    size = D * K * (V + 1) * n_trials
    marks = np.zeros(size, dtype=np.int64)
    for first, stop in visits_seen:
        counted = held & (stop > first)
        marks += (np.bincount((base + first * n_trials)[counted], minlength=size)
                  - np.bincount((base + stop * n_trials)[counted], minlength=size))
    seen = np.cumsum(marks.reshape(D, K, V + 1, n_trials), axis=2)[:, :, :V]
    return np.cumsum(seen, axis=0).astype(np.int32).transpose(0, 3, 1, 2)


def _consort(fates: Fates, n_trials: int, closed: np.ndarray, n_randomised: np.ndarray) -> dict[str, np.ndarray]:
    """Each design's CONSORT counts, (designs, trials) int32, as
    :func:`simulate.engines.batch._consort` counts them for one design: the referrals before
    its close of enrolment ``closed`` (designs, trials), found by one search per design of each
    trial's closing months (:func:`_before`)."""
    before_excluded = _before(fates.excluded_offsets[: n_trials + 1], fates.excluded_month, closed)
    off = fates.candidate_offsets[: n_trials + 1]
    rows = slice(0, int(off[-1]))
    deferred = fates.qualifies_in_months[rows] > 0
    flags = {"referred": None, "deferred": deferred,
             "lost_during_deferral": deferred & fates.lost_if_deferred[rows],
             "came": np.isfinite(fates.eligible_month[rows])}
    counts = _before(off, fates.referral_month[rows], closed, flags)
    return {"referred": (before_excluded["referred"] + counts["referred"]).astype(np.int32),
            "excluded_total": before_excluded["referred"].astype(np.int32),
            "deferred": counts["deferred"].astype(np.int32),
            "lost_during_deferral": counts["lost_during_deferral"].astype(np.int32),
            "not_randomised_enrolment_closed": (counts["came"] - n_randomised).astype(np.int32)}


def _before(offsets: np.ndarray, months: np.ndarray, closed: np.ndarray,
            flags: dict[str, np.ndarray | None] | None = None) -> dict[str, np.ndarray]:
    """For each flag (by default: every row), how many of each trial's flagged rows of a flat
    array fall before each design's ``closed`` month: (designs, trials) counts.

    A (trial, month) pair is one complex number, ordered as numpy orders them (trial first, then
    month), so one search of the designs' closing months, sorted within each trial, puts every
    row in its bucket: how many of its trial's closing months are at or before it. A design
    counts the rows of the buckets below its own month's rank. Nothing is computed on the
    months, so every count is exact."""
    D, n_trials = closed.shape
    rows = int(offsets[-1])
    trial_of = np.repeat(np.arange(n_trials), np.diff(offsets))
    edges = _pairs(np.repeat(np.arange(n_trials), D), np.sort(closed, axis=0).T.ravel())   # trial by trial
    bucket = np.searchsorted(edges, _pairs(trial_of, months[:rows]), side="right") - trial_of * D
    first = np.arange(n_trials) * D
    rank = np.searchsorted(edges, _pairs(np.broadcast_to(np.arange(n_trials), closed.shape), closed).ravel(),
                           side="left").reshape(D, n_trials) - first
    cell = trial_of * (D + 1) + bucket
    flags = {"referred": None} if flags is None else flags
    out = {}
    for name, flag in flags.items():
        per = np.bincount(cell if flag is None else cell[flag], minlength=n_trials * (D + 1))
        below = np.cumsum(per.reshape(n_trials, D + 1), axis=1)        # rows in buckets 0..j
        out[name] = below[np.arange(n_trials)[None, :], rank]
    return out


def _pairs(trial: np.ndarray, month: np.ndarray) -> np.ndarray:
    """(trial, month) as complex numbers, the parts set as they are (no arithmetic)."""
    out = np.empty(np.shape(month), dtype=complex)
    out.real, out.imag = trial, month
    return out
