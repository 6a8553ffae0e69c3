"""A Bayesian analysis of a comparison: the posterior probability of benefit.

Each arm's rate has a beta or beta-mixture prior (``[arms.<id>] analysis_prior``, default
Beta(1, 1)); with x responders of n analysed the posterior is a beta mixture by conjugacy, and
the decision statistic is P(p_t - p_c > -margin | data) (margin 0 for superiority), computed
exactly up to quadrature error below 1e-11 (:mod:`simulate.analysis.beta_posterior`), on the
``posterior_probability`` scale: the comparison succeeds when it exceeds
``analysis.success_threshold`` (:class:`simulate.analysis.rules.Level`). The estimate and
interval reported beside it are the observed risk difference and its Newcombe interval, as for
the other analyses.
"""

from __future__ import annotations

import threading

import numpy as np

from simulate.analysis.base import Estimates, Setting, TwoArms
from simulate.analysis.beta_posterior import posterior_mixture, prob_difference_greater
from simulate.analysis.intervals import difference

FLAT = np.array([[1.0, 1.0, 1.0]])
"""Beta(1, 1): the prior of an arm that names none."""


def evaluate(data: TwoArms, setting: Setting) -> Estimates:
    """The posterior probability of benefit of every trial, and the risk difference. Trials
    with the same counts have the same posterior: each distinct 2x2 table is computed once (a
    block of trials of one design holds far fewer tables than trials)."""
    prior_c, prior_t = setting.priors if setting.priors is not None else (FLAT, FLAT)
    probability = probabilities(prior_c, prior_t, setting.margin, data.x_c, data.n_c, data.x_t, data.n_t)
    est, low, high = difference(data, setting)
    return Estimates(est, low, high, probability)


def probabilities(prior_c, prior_t, margin: float, x_c, n_c, x_t, n_t) -> np.ndarray:
    """P(p_t - p_c > -margin | data) of each table (the arrays broadcast), under the arms'
    priors (each (components, 3) of (w, a, b)): a table met before in this process under the
    same priors and margin is looked up, not integrated again."""
    arrays = np.broadcast_arrays(x_c, n_c, x_t, n_t)
    if max(int(np.max(a, initial=0)) for a in arrays) < KEY_BASE:
        keys = _keys(*(np.asarray(a, dtype=np.int64).reshape(-1) for a in arrays))
        return _Known.of(prior_c, prior_t, margin).lookup(keys).reshape(arrays[0].shape)
    # counts too large to pack: each table as it comes
    return prob_difference_greater(posterior_mixture(np.asarray(prior_t), arrays[2], arrays[3]),
                                   posterior_mixture(np.asarray(prior_c), arrays[0], arrays[1]), -margin)


_ALL_LOCK = threading.Lock()
KEY_BASE = 1 << 15
"""Counts below this (32,768 patients an arm) pack into one 64-bit key per table."""
KNOWN_TABLES_MAX = 2_000_000
"""Tables remembered per prior and margin in a process (16 bytes each): beyond, it starts afresh."""


def forget_tables() -> None:
    """Drop the remembered tables (a benchmark times each run from none)."""
    _Known._all.clear()


def _keys(x_c, n_c, x_t, n_t) -> np.ndarray:
    return ((x_c * KEY_BASE + n_c) * KEY_BASE + x_t) * KEY_BASE + n_t


class _Known:
    """The posterior probabilities of the tables seen so far under one pair of priors and a
    margin, in this process: a design's trials meet the same tables again block after block."""

    _all: dict = {}

    def __init__(self, prior_c: np.ndarray, prior_t: np.ndarray, margin: float) -> None:
        self.prior_c, self.prior_t, self.margin = prior_c, prior_t, margin
        self.keys = np.empty(0, dtype=np.int64)
        self.values = np.empty(0)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, prior_c, prior_t, margin: float) -> "_Known":
        prior_c, prior_t = np.asarray(prior_c, dtype=float), np.asarray(prior_t, dtype=float)
        name = (prior_c.tobytes(), prior_c.shape, prior_t.tobytes(), prior_t.shape, float(margin))
        with _ALL_LOCK:
            known = cls._all.get(name)
            if known is None:
                if len(cls._all) > 16:
                    cls._all.clear()
                known = cls._all[name] = cls(prior_c, prior_t, margin)
        return known

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        with self._lock:                                    # the lab runs blocks on threads
            return self._lookup(keys)

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        new = np.setdiff1d(keys, self.keys)                 # sorted, distinct
        if len(new):
            n_t = new % KEY_BASE
            x_t = new // KEY_BASE % KEY_BASE
            n_c = new // KEY_BASE**2 % KEY_BASE
            x_c = new // KEY_BASE**3
            values = prob_difference_greater(posterior_mixture(self.prior_t, x_t, n_t),
                                             posterior_mixture(self.prior_c, x_c, n_c), -self.margin)
            if len(self.keys) + len(new) > KNOWN_TABLES_MAX:
                self.keys, self.values = np.empty(0, dtype=np.int64), np.empty(0)
            merged = np.concatenate([self.keys, new])
            order = np.argsort(merged, kind="stable")
            self.keys, self.values = merged[order], np.concatenate([self.values, values])[order]
        return self.values[np.searchsorted(self.keys, keys)]
