"""Interim analyses in calendar time: the looks, decisions and overrun of a group-sequential
design, the same in both engines trial by trial, and the operating characteristics against
exact enumeration of the group-sequential test over all stage-wise tables.

The exact reference uses the bare two-binomial reduction of tests/test_power.py (everyone
eligible, recruitment always completes, no dropout, no covariates, blocks of one patient per
arm): endpoints are then determined in the order patients were randomised, so a look at 2k
determined endpoints sees the first k patients of each arm, and the stage-wise counts are
independent binomials.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulate.analysis import interim, sequential
from simulate.engines.blocks import simulate_block
from simulate.errors import ScenarioError
from simulate.design.loader import load_scenario
from simulate.run.power import estimate_power

from conftest import PLAIN_SCENARIO
from reference_calls import exact_group_sequential, group_sequential_overrides
from reference_values import EXACT_GROUP_SEQUENTIAL, ONE_SIDED
from test_engines import assert_same
from test_power import bare, within


def gs(*extra: str) -> list[str]:
    return [*ONE_SIDED, *extra]


# ------------------------------------------------------------------ both engines, trial by trial


@pytest.mark.parametrize("overrides", [
    gs("interim.information_fractions=[0.5, 1.0]"),
    gs("interim.information_fractions=[0.3, 0.6, 1.0]", 'interim.efficacy_spending="pocock"',
       'interim.futility="beta_spending"', "interim.decision_lag_months=3"),
    gs("interim.information_fractions=[0.25, 0.5, 0.75, 1.0]", 'interim.efficacy_spending="hwang_shih_decani"',
       'interim.futility="conditional_power"', "interim.futility_conditional_power=0.3",
       "dropout.probability_by_endpoint=0.3", 'analysis.missing="complete_case"'),
    gs("interim.information_fractions=[0.5, 1.0]", "recruitment.rate_per_site_month=2",   # short of target
       'interim.futility="beta_spending"', "interim.futility_binding=true", 'analysis.missing="locf"'),
    gs("interim.information_fractions=[0.4, 1.0]", "trial.endpoint_month=6", "trial.max_follow_up_months=12",
       "trial.visit_months=[0, 3, 6, 12]", "arms.rtx.median_months_to_remission=3.0",
       "arms.rtx_csa.median_months_to_remission=2.0", "interim.decision_lag_months=1", "trial.n_per_arm=30"),
    ['analysis.hypothesis="non_inferiority"', "analysis.margin=0.15", 'analysis.alternative="greater"',
     'analysis.test="farrington_manning"', "analysis.alpha=0.025", "arms.rtx_csa.remission_at_endpoint=0.6",
     "interim.information_fractions=[0.5, 1.0]", 'interim.futility="conditional_power"'],
], ids=["obf-2", "pocock-3-beta-lag", "hsd-4-cp-dropout", "short-binding-locf", "early-endpoint-fast-looks",
        "non-inferiority"])
def test_engines_agree_on_looks_decisions_and_overrun(overrides):
    s = load_scenario(PLAIN_SCENARIO, [*overrides, "simulation.block_size=40"])
    for seed in (1, 2):
        a = simulate_block(s, seed, 0, engine="des")
        b = simulate_block(s, seed, 0, engine="batch")
        assert a.look_month is not None
        assert_same(a, b, f"seed {seed}")


def test_the_story_shows_the_looks():
    from simulate.engines.des import simulate_trial
    from simulate.fates.draw import draw_fates
    from simulate.seeding import block_sequence

    s = load_scenario(PLAIN_SCENARIO, gs("interim.information_fractions=[0.5, 1.0]", "trial.n_per_arm=20"))
    fates = draw_fates(s, block_sequence(3, 0), 2)
    story = simulate_trial(s, fates, 0, detail=True)
    lean = simulate_trial(s, fates, 0, detail=False)
    assert (story.events.event == "interim look 1").sum() == 1
    for key in ("look_month", "look_z", "look_randomised"):
        np.testing.assert_allclose(story.sequential[key], lean.sequential[key], atol=1e-9)
    assert story.sequential["stop_look"] == lean.sequential["stop_look"]


# ------------------------------------------------------------------ exact enumeration


GROUP_SEQUENTIAL = EXACT_GROUP_SEQUENTIAL["cases"]
"""The designs, rates, seed and number of trials of each comparison (reference_values.py); the
enumeration is reference_calls.exact_group_sequential."""


@pytest.mark.parametrize("fractions, spending, futility, rates, seed, replicates", [
    tuple(c["inputs"][k] for k in ("fractions", "spending", "futility", "rates", "seed", "replicates"))
    for c in GROUP_SEQUENTIAL], ids=[c["label"] for c in GROUP_SEQUENTIAL])
def test_power_per_look_matches_exact_enumeration(fractions, spending, futility, rates, seed, replicates):
    n = 30 if len(fractions) == 2 else 24
    extra = group_sequential_overrides(fractions, spending, futility)
    s = bare(n, "ztest", rates=rates, extra=[*ONE_SIDED, *extra])
    design = interim.design_for(s)
    stage = np.diff([0, *design.counts]) // 2                        # new patients per arm at each look
    assert (np.diff([0, *design.counts]) % 2 == 0).all()
    r = estimate_power(s, replicates=replicates, seed=seed, jobs=1, engine="batch")
    assert r.p_terminated == 0 and r.mean_randomised == 2 * n
    exact = exact_group_sequential(list(stage), *rates, design.efficacy, design.futility)
    for look, p in zip(r.looks, exact):
        within(look.p_stop_efficacy, p, r.replicates)
    within(r.power, sum(exact), r.replicates)
    if rates[0] == rates[1]:
        # the pooled z-test is discrete: its exact size sits near alpha, not always below it
        # (0.0278 for the 3-look Pocock design with 8 per arm per look)
        assert abs(sum(exact) - 0.025) < 0.005


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock", "hwang_shih_decani"])
def test_type_one_error_stays_at_alpha(spending):
    s = bare(40, "ztest", rates=(0.6, 0.6), extra=[*ONE_SIDED, "interim.information_fractions=[0.25, 0.5, 0.75, 1.0]",
                                                    f'interim.efficacy_spending="{spending}"'])
    r = estimate_power(s, replicates=4000, seed=23, jobs=1, engine="batch")
    assert r.power <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / r.replicates), r.power


def test_boundaries_are_the_planned_design():
    s = load_scenario(PLAIN_SCENARIO, gs("interim.information_fractions=[0.5, 1.0]"))
    d = interim.design_for(s)
    np.testing.assert_allclose(d.efficacy, sequential.efficacy_bounds([0.5, 1.0], 0.025, "obrien_fleming"))
    assert d.counts == (63, 126)
    # a trial short of target spends the rest at the information it reached
    assert d.final_bound(1, 100) < d.final_bound(1, 126) or d.final_bound(1, 100) > 0
    np.testing.assert_allclose(d.final_bound(1, 100),
                               sequential.efficacy_bounds([0.5, 100 / 126], 0.025, "obrien_fleming")[-1])


def test_power_json_reports_the_looks(run_cli):
    import json

    code, out, err = run_cli(["power", str(PLAIN_SCENARIO), "--replicates", "400", "--json",
                              *sum((["--set", o] for o in gs("interim.information_fractions=[0.5, 1.0]",
                                                             'interim.futility="beta_spending"')), [])])
    assert code == 0, err
    d = json.loads(out)
    assert [l["information_fraction"] for l in d["looks"]] == [0.5, 1.0]
    first, final = d["looks"]
    assert first["efficacy_z"] > final["efficacy_z"] and first["futility_z"] < first["efficacy_z"]
    assert 0 <= first["p_stop_efficacy"] <= 1 and first["mean_month"] > 24
    assert d["power"] == pytest.approx(first["p_stop_efficacy"] + final["p_stop_efficacy"])
    for key in ("expected_randomised", "expected_duration_months", "p_overrun_reversal"):
        assert key in d


@pytest.mark.parametrize("overrides, line", [
    (["interim.information_fractions=[0.5, 1.0]"], "analysis.alternative: got 'two-sided'; interim looks"),
    (gs("interim.information_fractions=[0.5, 0.9]"), "the last look is the final analysis: end with 1.0"),
    (gs("interim.information_fractions=[0.6, 0.5, 1.0]"), "must be strictly increasing"),
    (gs("interim.information_fractions=[0.5, 1.0]", 'interim.efficacy_spending="none"',
        'interim.futility="beta_spending"'), "beta-spending futility bounds are those of a design"),
    (gs("interim.information_fractions=[0.5, 1.0]", "interim.futility_binding=true"),
     "only beta_spending futility bounds can bind"),
    ([*ONE_SIDED[:1], "analysis.alpha=0.025", "interim.information_fractions=[0.5, 1.0]"],
     "analysis.test: got 'fisher'; interim looks use the score statistic"),
])
def test_interim_mistakes_are_named(overrides, line):
    with pytest.raises(ScenarioError) as info:
        load_scenario(PLAIN_SCENARIO, overrides)
    assert any(line in p for p in info.value.problems), info.value.problems


def test_group_sequential_sample_size_reports_expected_numbers_and_the_fixed_design():
    from simulate.run.samplesize import find_sample_size

    s = bare(40, "ztest", extra=[*ONE_SIDED, "interim.information_fractions=[0.5, 1.0]",
                                 'interim.futility="beta_spending"'])
    r = find_sample_size(s, 0.8, replicates=400, seed=5, jobs=1, engine="batch", window=4)
    assert r.n_per_arm is not None and r.fixed_n_per_arm is not None
    assert r.expected_randomised_h1 <= 2 * r.n_per_arm and r.expected_randomised_h0 <= 2 * r.n_per_arm
    # a futility look makes the maximum n at least about the fixed design's
    assert r.n_per_arm >= r.fixed_n_per_arm - 6


def test_a_decision_after_the_final_analysis_stops_nothing():
    """With a decision lag longer than the rest of the trial, a look's stop would come after the
    final analysis: it is void, the final look decides, in both engines."""
    s = load_scenario(PLAIN_SCENARIO, gs("interim.information_fractions=[0.5, 1.0]", "interim.decision_lag_months=60",
                                           "simulation.block_size=40"))
    a = simulate_block(s, 1, 0, engine="des")
    b = simulate_block(s, 1, 0, engine="batch")
    assert_same(a, b, "long lag")
    assert (b.stop_look == -1).all()
    held = ~np.isnan(b.look_month[:, 0])
    assert held.any() and (b.decision_month[held] >= b.look_month[held, 0]).all()


def test_unequal_allocation_enters_the_design_effect():
    base = load_scenario(PLAIN_SCENARIO, gs("interim.information_fractions=[0.5, 1.0]",
                                              'interim.futility="conditional_power"'))
    skewed = load_scenario(PLAIN_SCENARIO, gs("interim.information_fractions=[0.5, 1.0]",
                                                'interim.futility="conditional_power"', "arms.rtx_csa.allocation=3",
                                                "randomisation.block_sizes=[4]", "trial.n_per_arm=32"))
    assert skewed.n_target == 128
    # the same total split 1:3 carries less information than 1:1
    assert interim.design_drift(skewed) < interim.design_drift(base) * (128 / 126) ** 0.5


@pytest.mark.parametrize("overrides, line", [
    (gs("interim.information_fractions=[]"), "interim.information_fractions: got []; give the looks"),
    (gs("interim.information_fractions=[0.51, 0.55, 1.0]", "trial.n_per_arm=5"),
     "looks 1 and 2 would both come at 6 determined endpoints"),
    (gs("analysis.alpha=0.5"), "analysis.alpha: got 0.5; a one-sided level must be < 0.5"),
    (gs("interim.information_fractions=[0.99, 1.0]", 'interim.efficacy_spending="hwang_shih_decani"',
        "interim.hsd_gamma=40", 'interim.futility="beta_spending"'), "interim: the group-sequential design cannot"),
])
def test_interim_designs_that_cannot_run_are_named_at_load(overrides, line):
    with pytest.raises(ScenarioError) as info:
        load_scenario(PLAIN_SCENARIO, overrides)
    assert any(line in p for p in info.value.problems), info.value.problems
