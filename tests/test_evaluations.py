"""The record of simulated powers that sample-size searches share: an n asked again is not
simulated again, n asked ahead share the pass, and every answer is what the n gives alone."""

from __future__ import annotations

from dataclasses import asdict

from simulate.run.evaluations import Evaluations
from simulate.run.samplesize import find_sample_size, find_sample_sizes, power_curve

from test_power import bare

SEED, REPLICATES = 4, 200


def _same(a, b) -> bool:
    """Equal results, apart from the time each took."""
    return {**asdict(a), "elapsed_seconds": 0} == {**asdict(b), "elapsed_seconds": 0}


def test_an_n_asked_again_or_ahead_is_not_simulated_again_and_gives_what_it_gives_alone():
    s = bare(40)
    ev = Evaluations(SEED, jobs=1, engine="batch")
    first = ev.power(s, REPLICATES, [30, 34], ahead=[20, 21])
    assert ev.passes == 1 and sorted(first) == [30, 34]       # ahead: simulated, not answered
    again = ev.power(s, REPLICATES, [20, 21, 34])
    assert ev.passes == 1
    more = ev.power(s, 2 * REPLICATES, [34])                   # other replicates: another pass
    assert ev.passes == 2
    alone = power_curve(s, [20, 21, 30, 34], REPLICATES, SEED, 1, "batch")
    for n, r in {**first, **again}.items():
        assert _same(r, alone[n]), n
    assert _same(more[34], power_curve(s, [34], 2 * REPLICATES, SEED, 1, "batch")[34])


def test_searches_side_by_side_give_what_each_gives_alone():
    s = bare(50)
    together = find_sample_sizes(s, (0.8, 0.9), replicates=REPLICATES, seed=SEED, jobs=1, engine="batch", window=4)
    for target, r in zip((0.8, 0.9), together):
        alone = find_sample_size(s, target, replicates=REPLICATES, seed=SEED, jobs=1, engine="batch", window=4)
        assert r.to_json() == alone.to_json(), target


def test_a_grid_point_that_is_the_scenario_gives_its_power_as_estimate_power_does(tmp_path):
    """The main job takes the power at the planned size from the sensitivity grid when one of
    its points is the scenario itself: the same result as simulating it alone."""
    from simulate.design.loader import load_scenario
    from simulate.run.power import estimate_power
    from simulate.run.sweep import sweep

    from conftest import DEFAULT_SCENARIO

    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    text = text[: text.index("[sweep]")] + "[sweep]\n"

    def grid(sizes: str):
        path = tmp_path / "grid.toml"
        path.write_text(text + f'"trial.n_per_arm" = {sizes}\n', encoding="utf-8")
        return load_scenario(path, ["simulation.block_size=60"])

    s = grid("[40, 63]")
    planned: dict = {}
    sweep(s, REPLICATES, SEED, 1, "batch", planned=planned)
    assert _same(planned["power"], estimate_power(s, REPLICATES, SEED, 1, "batch"))
    none: dict = {}
    sweep(grid("[40, 50]"), REPLICATES, SEED, 1, "batch", planned=none)
    assert none == {}
