"""The seed tree: root seed -> block -> named sub-streams.

Trials are simulated in blocks of a fixed size. Block *b* is seeded by child *b* of the root
:class:`numpy.random.SeedSequence`; inside a block each random quantity has its own named stream,
derived from the block's seed and a stable hash of the name. Names are independent of order, so
adding a new stream never shifts an existing one, and changing one parameter (say, diabetes
prevalence) leaves every other stream untouched: common random numbers across scenarios.

No code in trialsim uses the global numpy RNG or :mod:`random`.
"""

from __future__ import annotations

import zlib

import numpy as np


def root_sequence(seed: int) -> np.random.SeedSequence:
    """The root of the tree for a user's seed."""
    return np.random.SeedSequence(int(seed))


def block_sequence(seed: int, block: int) -> np.random.SeedSequence:
    """Seed of block ``block`` (0-based): the ``block``-th child of the root.

    Built directly from the spawn key, so block 7 is the same whether or not blocks 0-6 were
    ever generated (this is what ``SeedSequence.spawn`` yields for child ``block``).
    """
    root = root_sequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key + (int(block),))


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def stream(parent: np.random.SeedSequence, name: str) -> np.random.Generator:
    """The named sub-stream ``name`` of ``parent`` as a fresh Generator (PCG64)."""
    child = np.random.SeedSequence(
        parent.entropy, spawn_key=parent.spawn_key + (_name_key(name),)
    )
    return np.random.Generator(np.random.PCG64(child))


def child_sequence(parent: np.random.SeedSequence, name: str) -> np.random.SeedSequence:
    """A named child SeedSequence (for a group of streams, e.g. the cohort's covariates)."""
    return np.random.SeedSequence(parent.entropy, spawn_key=parent.spawn_key + (_name_key(name),))
