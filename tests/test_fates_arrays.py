"""The fates' and the batch engine's array helpers, each against its plain definition.

These helpers exist for speed (fewer and smaller work arrays per block); each must give
exactly what the straightforward computation gives, including the edge cases (trials without
rows, padding, patients never seen in the endpoint state).
"""

from __future__ import annotations

import numpy as np
import pytest

from simulate.engines.batch import _seen_at_visits
from simulate.fates.pool import SORTED_TOGETHER, _first_by_month
from simulate.fates.referrals import sum_by_trial


def _offsets(count: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(count)])


@pytest.mark.parametrize("counts", [[3, 0, 5, 0], [0, 0], [7], [0, 4, 0, 0, 1]])
def test_sum_by_trial_counts_each_trials_flags(counts: list[int]) -> None:
    offsets = _offsets(np.array(counts))
    flags = np.random.default_rng(1).random(offsets[-1] + 3) < 0.5     # rows past the last trial ignored
    expected = [int(flags[a:b].sum()) for a, b in zip(offsets[:-1], offsets[1:])]
    got = sum_by_trial(flags, offsets)
    assert got.tolist() == expected
    assert got.dtype == np.intp


def test_first_by_month_is_each_trials_argsort() -> None:
    rng = np.random.default_rng(2)
    count = rng.integers(0, 60, 3 * SORTED_TOGETHER + 5)
    count[:3] = 0
    offsets = _offsets(count)
    month = rng.random(offsets[-1]) * 40
    month[rng.random(len(month)) < 0.1] = np.inf                         # lost candidates
    n_max = 25
    order = _first_by_month(month, offsets[:-1], count, n_max)
    for t, (a, b) in enumerate(zip(offsets[:-1], offsets[1:])):
        finite = int(np.isfinite(month[a:b]).sum())
        k = min(finite, n_max)
        np.testing.assert_array_equal(order[t, :k], np.argsort(month[a:b])[:k], err_msg=f"trial {t}")


def test_seen_at_visits_counts_the_patients_in_remission_at_each_visit() -> None:
    rng = np.random.default_rng(3)
    n_trials, slots, K = 7, 30, 3
    visits = np.array([0.0, 1, 3, 6, 9, 12])
    rem = np.where(rng.random((n_trials, slots)) < 0.7, rng.random((n_trials, slots)) * 14, np.inf)
    rem[0, :3] = visits[:3]                                               # remission at a visit's month
    rel = rem + np.where(rng.random((n_trials, slots)) < 0.5, rng.random((n_trials, slots)) * 10, np.inf)
    rel[1, :3] = rem[1, :3]                                               # relapse at once: never seen
    gone = np.where(rng.random((n_trials, slots)) < 0.3, rng.random((n_trials, slots)) * 12, np.inf)
    arm = rng.integers(0, K, (n_trials, slots))
    rnd = np.arange(slots)[None, :] < rng.integers(0, slots + 1, n_trials)[:, None]
    first = np.searchsorted(visits, rem, side="left")
    stop = np.searchsorted(visits, np.minimum(rel, gone), side="left")
    got = _seen_at_visits([(first, stop)], rnd, arm, K, len(visits))
    v = visits[:, None, None]
    seen = (rem <= v) & (rel > v) & (gone > v) & rnd
    expected = np.stack([(seen & (arm == k)).sum(axis=2) for k in range(K)]).transpose(2, 0, 1)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int32
