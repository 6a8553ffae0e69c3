"""Designs that differ only in their target, followed in one pass, get exactly what each gets
on its own: every array of every design's BlockOutcomes, to the last bit."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from simulate.design.loader import load_scenario, with_overrides
from simulate.engines.batch import outcomes_from_batch
from simulate.engines.blocks import simulate_block_designs
from simulate.engines.by_target import outcomes_by_target
from simulate.fates.draw import draw_fates
from simulate.seeding import block_sequence

CASES = {
    "nct04743739": {},
    "three_arm": {},                                    # three arms, strata
    "nct04743739/cr": {"trial.endpoint": "cr", "arms.rtx.remission_at_endpoint": 0.2,
                       "arms.rtx_csa.remission_at_endpoint": 0.3, "dropout.probability_by_endpoint": 0.3},
    "starmen": {"dropout.probability_by_endpoint": 0.3},
    "nct04743739/slow": {"recruitment.rate_per_site_month": 0.15},   # pools narrower than the targets
    "nct04743739/strata": {"randomisation.stratify_by": ["pla2r_titre_high", "proteinuria_high"]},
}


def _designs(case: str, sizes: list[int]):
    name = case.split("/")[0]
    base = with_overrides(load_scenario(name), CASES[case]) if CASES[case] else load_scenario(name)
    base = with_overrides(base, {"simulation.block_size": 60})
    return [with_overrides(base, {"trial.n_per_arm": n}) for n in sizes]


def _same(a, b, what: str) -> None:
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if x is None or y is None:
            assert x is None and y is None, f"{what}: {f.name}"
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {f.name} {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f"{what}: {f.name} differs"


@pytest.mark.parametrize("case", list(CASES))
def test_one_pass_gives_each_design_what_it_gets_alone(case: str) -> None:
    sizes = [3, 40, 17, 63, 63, 90, 1]                 # unsorted, repeated, tiny
    designs = _designs(case, sizes)
    widest = max(designs, key=lambda d: d.n_target)
    fates = draw_fates(widest, block_sequence(11, 2), 60, widest.n_target)
    together = outcomes_by_target(designs, fates, 50)  # fewer trials than the block holds
    for n, design, got in zip(sizes, designs, together):
        _same(got, outcomes_from_batch(design, fates, 50), f"{case} n={n}")


def test_a_search_block_is_the_designs_blocks_alone() -> None:
    """Through the blocks' entry: with the pass in one, and each design on its own."""
    designs = _designs("nct04743739", [20, 35, 50])
    together = simulate_block_designs(designs, 5, 1)
    for design, got in zip(designs, together):
        _same(got, simulate_block_designs([design], 5, 1)[0], f"n={design.trial.n_per_arm}")


def test_designs_with_looks_or_another_outcome_model_are_not_passed_together(monkeypatch) -> None:
    seen: list[int] = []
    import simulate.engines.by_target as by_target

    real = by_target.outcomes_by_target
    monkeypatch.setattr(by_target, "outcomes_by_target", lambda d, f, n, s=None: seen.append(len(d)) or real(d, f, n, s))
    base = _designs("nct04743739", [30])[0]
    looks = with_overrides(base, {"interim.information_fractions": [0.5, 1.0], "analysis.test": "ztest",
                                 "analysis.alternative": "greater", "trial.n_per_arm": 40})
    other = with_overrides(base, {"arms.rtx_csa.remission_at_endpoint": 0.7, "trial.n_per_arm": 50})
    plain = with_overrides(base, {"trial.n_per_arm": 60})
    simulate_block_designs([base, looks, other, plain], 5, 0, 20)
    assert seen == [2]                                   # base and plain only
    seen.clear()
    other_wider = with_overrides(other, {"trial.n_per_arm": 70})
    together = simulate_block_designs([base, other, plain, other_wider], 5, 0, 20)
    assert seen == [2, 2]                                # a sweep over effect and n: a pass per effect
    for design, got in zip([base, other, plain, other_wider], together):
        _same(got, simulate_block_designs([design], 5, 0, 20)[0], f"n={design.trial.n_per_arm}")
