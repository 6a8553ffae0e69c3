"""Power of a scenario at the n per arm that sample-size searches ask for, each simulated once.

A search asks, step by step, for the power of its scenario at some n per arm. The main job runs
a search per power target, and the two ask for some of the same n; a search also knows some of
the n its next step will ask for before it asks. An :class:`Evaluations` keeps every power it
simulated: an n asked for again is answered from it, and the n a step names as ``ahead`` are
simulated in the same pass over the blocks of trials as the n it asks for now (the designs side
by side, :func:`simulate.run.power.tally_designs`), so the next step finds them done.

Nothing moves: a design's trials depend on the seed, the replicate count and the number of
trials per block, never on the designs beside it (common random numbers,
:func:`simulate.engines.blocks.simulate_block_designs`). A question is always answered by a
simulation with the block size it alone would have had, the smallest of its designs'
(:func:`simulate.run.plan.trials_per_block`), and powers are kept by that size.
"""

from __future__ import annotations

import time
from typing import Iterable

from simulate.design import loader
from simulate.design import scenario as sc
from simulate.design.choices import DEFAULT_ENGINE
from simulate.run.plan import trials_per_block
from simulate.run.power import Jobs, sizes_label, summarise, tally_designs
from simulate.run.results import PowerResult


class Evaluations:
    """Every power simulated for a set of searches, by scenario, n per arm, replicates and trials
    per block; :meth:`power` simulates what is missing and returns what was asked."""

    def __init__(self, seed: int, jobs: Jobs = None, engine: str = DEFAULT_ENGINE, progress: bool = False) -> None:
        self.seed, self.jobs, self.engine, self.progress = seed, jobs, engine, progress
        self._done: dict[tuple[sc.Scenario, int, int, int], PowerResult] = {}
        self._designs: dict[tuple[sc.Scenario, int], sc.Scenario] = {}
        self.passes = 0
        """Passes over the blocks of trials so far (simulations)."""

    def design(self, scenario: sc.Scenario, n: int) -> sc.Scenario:
        """The scenario at n per arm (validated once)."""
        if (scenario, n) not in self._designs:
            self._designs[scenario, n] = loader.with_overrides(scenario, {"trial.n_per_arm": n})
        return self._designs[scenario, n]

    def power(self, scenario: sc.Scenario, replicates: int, ns: Iterable[int], ahead: Iterable[int] = ()
              ) -> dict[int, PowerResult]:
        """{n: power from ``replicates`` trials} for each n of ``ns``, simulated side by side, as
        :func:`simulate.run.samplesize.power_curve` gives them, except those simulated before.
        The n of ``ahead`` that share the block size go into the same pass, for a later call."""
        ns = sorted({int(n) for n in ns})
        if not ns:
            return {}
        sizes = {n: trials_per_block(self.design(scenario, n)) for n in ns}
        block = min(sizes.values())
        done = lambda n: (scenario, n, replicates, block) in self._done  # noqa: E731
        missing = [n for n in ns if not done(n)]
        if len(set(sizes.values())) > 1:
            # a question whose designs differ in block size runs as asked, all of its n together
            missing = ns if missing else []
        elif missing:
            later = sorted({int(n) for n in ahead} - set(ns))
            missing += [n for n in later if not done(n) and trials_per_block(self.design(scenario, n)) == block]
        if missing:
            self._simulate(scenario, missing, replicates, block)
        return {n: self._done[scenario, n, replicates, block] for n in ns}

    def _simulate(self, scenario: sc.Scenario, ns: list[int], replicates: int, block: int) -> None:
        """One pass over the blocks of trials for the scenario at each n of ``ns``."""
        ns = sorted(ns)
        designs = [self.design(scenario, n) for n in ns]
        t0 = time.perf_counter()
        totals = tally_designs(designs, replicates, self.seed, self.jobs, self.engine, self.progress,
                               sizes_label(ns, replicates))
        self.passes += 1
        elapsed = (time.perf_counter() - t0) / len(ns)
        for n, d, t in zip(ns, designs, totals):
            self._done[scenario, n, replicates, block] = summarise(d, t, self.seed, self.engine, elapsed)
