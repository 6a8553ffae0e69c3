"""The prepared design (simulate/run/prepared.py): computed once per design, immutable, and all a
block of trials needs, so that a worker that receives it computes none of it again."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from simulate.population import outcomes
from simulate.analysis import interim, registry
from simulate.analysis.rules import Level, Multiplicity
from simulate.screening import probabilities as selection
from simulate.engines.blocks import simulate_block_designs
from simulate.design.loader import load_scenario
from simulate.run.power import _tally_block
from simulate.run.prepared import PreparedDesign, prepare, prepared

from conftest import DEFAULT_SCENARIO

GROUP_SEQUENTIAL = ['analysis.alternative="greater"', 'analysis.test="ztest"', "analysis.alpha=0.025",
                    "interim.information_fractions=[0.5, 1.0]", 'interim.futility="beta_spending"']


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(DEFAULT_SCENARIO, GROUP_SEQUENTIAL)


def test_the_prepared_values_are_the_modules_own(scenario) -> None:
    p = prepare(scenario)
    assert p.scenario is scenario
    assert p.pass_probabilities == selection.pass_probabilities(scenario.cohort, scenario.eligibility)
    assert dict(p.arm_models) == dict(outcomes.calibrate(scenario))
    assert p.sequential is interim.design_for(scenario)
    np.testing.assert_array_equal(p.sequential.efficacy, interim.design_of(scenario).efficacy)
    assert prepared(p) is p and prepared(scenario).arm_models is p.arm_models
    assert p.analysis is registry.get("ztest") and p.sequential.analysis is p.analysis
    assert p.rule is p.sequential                       # the looks decide


def test_a_fixed_design_is_decided_at_its_level() -> None:
    one = prepare(load_scenario(DEFAULT_SCENARIO))
    assert one.sequential is None and one.analysis is registry.get("fisher") and one.rule == Level(0.05)
    three = prepare(load_scenario(DEFAULT_SCENARIO.with_name("three_arm.toml")))
    assert three.rule == Multiplicity(0.05, "holm")


def test_a_prepared_design_cannot_change(scenario) -> None:
    p = prepare(scenario)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.arm_models = {}                                       # type: ignore[misc]
    with pytest.raises(TypeError):
        p.arm_models["rtx"] = p.arm_models["rtx_csa"]           # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.sequential.drift = 0.0                                # type: ignore[misc, union-attr]


def test_the_final_bound_of_a_short_trial_is_the_same_however_often_it_is_asked(scenario) -> None:
    """Group-sequential final bounds come from a functools cache over plain values, not from
    state kept on the design."""
    d = interim.design_of(scenario)
    first = [d.final_bound(1, n) for n in range(20, scenario.n_target)]
    again = [interim.design_of(scenario).final_bound(1, n) for n in range(20, scenario.n_target)]
    assert first == again and len(set(first)) > 1
    assert not hasattr(d, "__dict__") or "_final" not in vars(d)


def test_a_block_needs_nothing_but_what_its_task_carries(scenario, monkeypatch) -> None:
    """As in a fresh worker process: with every per-design cache emptied and the computations
    behind them refused, a block of trials runs from the (pickled) prepared design alone, in
    either engine, and gives the same trials as from the scenario; its tally too."""
    shipped = pickle.loads(pickle.dumps([prepare(scenario)]))
    expected = {engine: simulate_block_designs([scenario], 11, 0, n, engine)[0]
                for engine, n in (("batch", 30), ("des", 6))}
    for cache in (outcomes._calibrated, outcomes._reference_covariates, selection.pass_probabilities,
                  interim._design):
        cache.cache_clear()

    def refused(*args, **kwargs):
        raise AssertionError("computed again in the block")

    monkeypatch.setattr(outcomes, "_calibrate", refused)
    monkeypatch.setattr(selection, "exact_pass_probabilities", refused)
    monkeypatch.setattr(interim, "design_of", refused)
    for engine, n in (("batch", 30), ("des", 6)):
        got = simulate_block_designs(shipped, 11, 0, n, engine)[0]
        for field in dataclasses.fields(got):
            a, b = getattr(expected[engine], field.name), getattr(got, field.name)
            if a is None:
                assert b is None
            else:
                np.testing.assert_array_equal(a, b, err_msg=f"{engine}: {field.name}")
        (tally,) = _tally_block(shipped, 11, 0, n, engine)
        assert tally.trials == n and tally.looks is not None
    assert isinstance(shipped[0], PreparedDesign)
