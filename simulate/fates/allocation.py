"""Allocation: randomisation strata and each stratum's permuted-block sequence of arms.

For each randomisation stratum of each trial, an allocation sequence of permuted blocks (block
sizes drawn from ``block_sizes``) long enough for the whole target.
"""

from __future__ import annotations

import numpy as np

from simulate.design import scenario as sc
from simulate.seeding import stream


def n_strata(scenario: sc.Scenario) -> int:
    return 2 ** len(scenario.randomisation.stratify_by)


def strata_from(scenario: sc.Scenario, titre: np.ndarray, proteinuria: np.ndarray) -> np.ndarray:
    """Stratum index: bit k set when stratification factor k is 'high'."""
    r = scenario.randomisation
    index = np.zeros(np.shape(titre), dtype=np.int16)
    for k, factor in enumerate(r.stratify_by):
        if factor == "pla2r_titre_high":
            high = titre >= r.pla2r_titre_high_ru_ml
        else:
            high = proteinuria >= r.proteinuria_high_g_day
        index |= (high.astype(np.int16) << k)
    return index


def permuted_blocks(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int,
                    n_target: int | None = None, longest: int | None = None) -> np.ndarray:
    """Permuted blocks for every (trial, stratum), each at least the target long:
    (n_trials, n_strata, length) int8 arms.

    Blocks are drawn block-position-major (all groups' first blocks, then all second blocks,
    ...) from two streams, so a larger target only appends blocks: the sequences of a smaller
    target are a prefix of those of a larger one (common random numbers across n per arm).
    Each block is filled slot by slot, slot j taking arm k with probability (arm-k places
    left) / (places left): every arrangement with the allocation's numbers is equally likely.
    ``longest`` caps the length at the most patients any trial can randomise (the pool's width):
    the sequences are then prefixes of the full ones.
    """
    ratio = np.asarray(scenario.allocation)
    unit = int(ratio.sum())
    sizes = np.asarray(scenario.randomisation.block_sizes)
    target = scenario.n_target if n_target is None else max(n_target, scenario.n_target)
    if longest is not None:
        target = max(1, min(target, longest))
    n_blocks = -(-target // int(sizes.min()))
    groups = n_trials * n_strata(scenario)
    bmax = int(sizes.max())
    chosen = sizes[stream(block_seq, "allocation_sizes").integers(0, len(sizes), size=(n_blocks, groups))].T
    keys = stream(block_seq, "allocation_keys").random((n_blocks, groups, bmax)).transpose(1, 0, 2)
    slot = np.arange(bmax)
    valid = slot < chosen[..., None]
    # a uniformly random arrangement of each block, slot by slot: slot j takes arm k with
    # probability (arm-k places left) / (places left), the arms tried from the last to the first
    # (u * places < left[K-1]: arm K-1; else < left[K-1] + left[K-2]: arm K-2; ...)
    left = chosen[None] * ratio[:, None, None] // unit                  # (K, groups, n_blocks)
    arms = np.zeros((groups, n_blocks, bmax), dtype=np.int8)
    for j in range(bmax):
        places = chosen - j
        open_ = places > 0
        u_places = keys[..., j] * places
        k = np.zeros(places.shape, dtype=np.int8)
        bracket = np.zeros(places.shape, dtype=left.dtype)
        found = ~open_                                                     # past the block: arm 0
        for arm in range(len(ratio) - 1, -1, -1):                          # the first bracket it falls in
            bracket += left[arm]
            hit = ~found & (u_places < bracket)
            k += hit.view(np.int8) * np.int8(arm)
            found |= hit
        arms[..., j] = k
        for arm in range(len(ratio)):
            left[arm] -= (k == arm) & open_
    length = target
    # valid slots are the first `chosen` of each block: flatten them in order, per group
    flat = arms[valid]
    starts = np.concatenate([[0], np.cumsum(chosen.sum(axis=1))[:-1]])
    seqs = flat[starts[:, None] + np.arange(length)]
    return seqs.reshape(n_trials, n_strata(scenario), length)
