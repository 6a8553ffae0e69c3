"""The teaching lab's logic, without a browser: its inputs are the command line's ``--set``
overrides, checked by the same loader with the same messages; its power is ``trialsim power``'s;
its one trial is ``trialsim trial``'s; its exported design reads back as the same scenario."""

from __future__ import annotations

import dataclasses
import json
import re
import sys

import numpy as np
import pytest

from conftest import DEFAULT_SCENARIO, SHIPPED_SCENARIOS
from simulate.design.null_world import null_scenario
from simulate.population.intercurrent import true_differences
from simulate.design.loader import load_scenario, read_scenario_data, with_overrides
from simulate.run.assurance import with_assurance
from simulate.run.power import estimate_power
from simulate.teach import inputs, lab

NAME = "nct04743739"
DATA = read_scenario_data(NAME)


@pytest.fixture(scope="module")
def base():
    return load_scenario(NAME)


def values(base, **changes):
    return {**inputs.input_values(base), **changes}


def same_power(a, b) -> bool:
    """Every field of two power results but the time taken."""
    x, y = dataclasses.asdict(a), dataclasses.asdict(b)
    x.pop("elapsed_seconds"), y.pop("elapsed_seconds")
    return json.dumps(x, sort_keys=True, default=str) == json.dumps(y, sort_keys=True, default=str)


# ----------------------------------------------------------------------------- inputs


def test_each_input_sets_the_scenario_field_the_command_line_would(base):
    assert inputs.field_paths(base) == {
        "n_per_arm": "trial.n_per_arm", "remission_control": "arms.rtx.remission_at_endpoint",
        "remission_experimental": "arms.rtx_csa.remission_at_endpoint",
        "dropout": "dropout.probability_by_endpoint", "dropout_mechanism": "dropout.mechanism",
        "mar_hazard_ratio": "dropout.mar_hazard_ratio_not_in_remission",
        "mnar_hazard_ratio": "dropout.informative_hazard_ratio", "test": "analysis.test", "missing": "analysis.missing",
        "imputations": "analysis.imputations", "alpha": "analysis.alpha", "rate_per_site_month": "recruitment.rate_per_site_month",
        "replicates": "simulation.replicates", "seed": "simulation.seed",
        "sure_control": "arms.rtx.design_prior", "sure_experimental": "arms.rtx_csa.design_prior",
        "adjust": "analysis.adjustment", "hypothesis": "analysis.hypothesis", "margin": "analysis.margin",
        "alternative": "analysis.alternative"}
    assert inputs.input_values(base) == {
        "n_per_arm": 63, "remission_control": 0.6, "remission_experimental": 0.85, "dropout": 0.1,
        "dropout_mechanism": "mcar", "mar_hazard_ratio": 2.0, "mnar_hazard_ratio": 2.0, "test": "fisher",
        "missing": "nonresponder", "imputations": 20, "alpha": 0.05, "rate_per_site_month": 6.0, "replicates": 2000,
        "seed": 20210414, "sure_control": 0, "sure_experimental": 0, "adjust": False, "hypothesis": "superiority",
        "margin": 0.0, "alternative": "two-sided"}


def test_the_adjustment_switch_sets_g_computation_and_gives_trialsims_power(base):
    """On, the switch sets g-computation over the outcome model's covariates (the test box then
    unused); the many-trials view's power is trialsim power's with the same overrides; off again
    in a file that adjusts, the test box's test analyses unadjusted."""
    pytest.importorskip("shiny")
    from simulate.teach import views
    from conftest import ROOT

    values = {**inputs.input_values(base), "adjust": True, "replicates": "300"}
    checked = inputs.check(read_scenario_data(NAME), base, values)
    assert checked.ok and checked.scenario.analysis.test == "g_computation"
    assert checked.scenario.analysis.adjust_for == inputs.ADJUST_FOR
    assert 'analysis.adjustment="g_computation"' in checked.changed
    many = lab.many_trials(checked.scenario)
    cli = estimate_power(load_scenario(NAME, list(checked.changed)), 300, base.simulation.seed, 1, "batch")
    assert many.power.power == cli.power and many.power.ci_low == cli.ci_low
    html_text = str(views.many_figures(checked.scenario, many, "remission"))
    assert "Adjusted for baseline covariates" in html_text
    adjusted = load_scenario("nct04743739_adjusted")
    data = read_scenario_data(ROOT / "scenarios" / "nct04743739_adjusted.toml")
    start = inputs.input_values(adjusted)
    assert start["adjust"] is True and start["test"] == "wald"
    kept = inputs.check(data, adjusted, start)
    assert kept.changed == () and kept.scenario == adjusted
    off = inputs.check(data, adjusted, {**start, "adjust": False})
    assert off.ok and off.scenario.analysis.adjustment == "none" and off.scenario.analysis.test == "wald"
    # a file's own adjustment (here Mantel-Haenszel over its strata) stays as it is while the switch is on
    mh = load_scenario(NAME, ['analysis.adjustment="mantel_haenszel"', 'analysis.test="mantel_haenszel"',
                              'randomisation.stratify_by=["pla2r_titre_high"]'])
    mh_data = read_scenario_data(NAME)
    mh_data = {**mh_data, "analysis": {**mh_data["analysis"], "adjustment": "mantel_haenszel",
                                       "test": "mantel_haenszel"},
               "randomisation": {**mh_data.get("randomisation", {}), "stratify_by": ["pla2r_titre_high"]}}
    same = inputs.check(mh_data, mh, inputs.input_values(mh))
    assert same.ok and same.scenario.analysis.adjustment == "mantel_haenszel" and same.changed == ()


def test_how_sure_becomes_a_design_prior_around_the_rate_and_the_view_gives_trialsims_assurance(base):
    """40 patients' worth around 0.6 is Beta(24, 16); the view's power and assurance are those
    of trialsim power --json with the same overrides."""
    from simulate.design.loader import read_scenario_data
    from simulate.teach import what_if

    values = {**inputs.input_values(base), "sure_control": 40, "sure_experimental": "20", "remission_control": 0.55,
              "replicates": 200}
    checked = inputs.check(read_scenario_data(NAME), base, values)
    assert checked.ok
    assert "arms.rtx.design_prior={ beta = [22, 18] }" in checked.changed
    assert "arms.rtx_csa.design_prior={ beta = [17, 3] }" in checked.changed
    design = small(checked.scenario)
    result = what_if.what_if(design)
    r = with_assurance(design, estimate_power(design))
    assert result.power.power.power == r.power and result.drawn.power.power == r.assurance
    page = str(what_if.what_if_view(design, result))
    assert f"id=\"assurance_value\" class=\"lab-big\">{r.assurance:.3f}<" in page
    assert f"{r.assurance_detail['prior_probability_of_benefit']:.3f}" in page
    nothing = what_if.what_if(small(base))
    assert nothing.detail is None and "How sure of" in str(what_if.what_if_view(base, nothing))
    bad = inputs.check(read_scenario_data(NAME), base, {**inputs.input_values(base), "sure_control": -5})
    assert bad.problems["sure_control"][0].startswith("error: arms.rtx.design_prior.beta.0: got -3")


def test_with_several_experimental_arms_the_input_sets_the_primary_one():
    three = load_scenario("three_arm")
    from simulate.design.assumed import primary_arm

    assert inputs.field_paths(three)["remission_experimental"] == f"arms.{primary_arm(three)}.remission_at_endpoint"


def test_values_become_set_overrides_and_an_empty_box_the_empty_text(base):
    texts = inputs.overrides(base, {"n_per_arm": 50, "remission_control": 0.55, "test": "chi2", "alpha": None,
                                 "missing": " ", "dropout": "0.2", "seed": "7", "replicates": "abc"})
    assert texts == {"n_per_arm": "trial.n_per_arm=50", "remission_control": "arms.rtx.remission_at_endpoint=0.55",
                     "test": "analysis.test=chi2", "alpha": "analysis.alpha=''", "missing": "analysis.missing=''",
                     "dropout": "dropout.probability_by_endpoint=0.2", "seed": "simulation.seed=7",
                     "replicates": "simulation.replicates=abc"}


@pytest.mark.parametrize("key, typed, override", [
    ("n_per_arm", "abc", "trial.n_per_arm=abc"), ("n_per_arm", "", "trial.n_per_arm=''"),
    ("n_per_arm", "  ", "trial.n_per_arm=''"), ("alpha", "0.o5", "analysis.alpha=0.o5"),
    ("alpha", "", "analysis.alpha=''"), ("seed", "1e", "simulation.seed=1e"),
])
def test_text_or_nothing_in_a_number_box_gets_the_command_lines_message_for_a_non_number(
        base, run_cli, key, typed, override):
    checked = inputs.check(DATA, base, values(base, **{key: typed}))
    code, out, err = run_cli(["validate", NAME, "--set", override])
    assert code == 2
    assert list(checked.problems[key]) == err.strip().splitlines()
    assert "no value after" not in err and "must be a" in err


def test_a_number_typed_as_text_is_the_same_design_as_the_number(base):
    typed = {k: repr(v) for k, v in inputs.input_values(base).items() if isinstance(v, (int, float))}
    checked = inputs.check(DATA, base, values(base, **typed))
    assert checked.changed == () and checked.scenario == base
    assert inputs.check(DATA, base, values(base, n_per_arm="50")) == inputs.check(DATA, base, values(base, n_per_arm=50))


def test_valid_inputs_give_the_scenario_the_loader_gives(base):
    checked = inputs.check(DATA, base, values(base, n_per_arm=50, dropout=0.2, test="chi2", seed=7))
    assert checked.ok and checked.problems == {} and checked.other == ()
    assert checked.scenario == load_scenario(NAME, checked.overrides)
    assert checked.scenario.trial.n_per_arm == 50 and checked.scenario.simulation.seed == 7
    assert checked.changed == ("trial.n_per_arm=50", "dropout.probability_by_endpoint=0.2", "analysis.test=chi2",
                               "simulation.seed=7")
    assert inputs.command(NAME, checked) == (f"trialsim power {NAME} --set trial.n_per_arm=50 --set "
                                          "dropout.probability_by_endpoint=0.2 --set analysis.test=chi2 "
                                          "--set simulation.seed=7")


@pytest.mark.parametrize("key, value", [
    ("n_per_arm", 0), ("n_per_arm", 2.5), ("remission_control", 1.5), ("remission_experimental", -0.1),
    ("remission_experimental", 0.9),
    ("dropout", 1.0), ("alpha", None), ("alpha", 0), ("test", "cmh"), ("test", "farrington_manning"),
    ("missing", "impute"), ("rate_per_site_month", -1), ("replicates", 0), ("seed", -3),
])
def test_a_bad_value_gets_the_command_lines_message_beside_its_input(base, run_cli, key, value):
    checked = inputs.check(DATA, base, values(base, **{key: value}))
    assert not checked.ok
    # a one-sided test with the file's two-sided design is a clash of two inputs: under both
    assert set(checked.problems) == ({key, "alternative"} if value == "farrington_manning" else {key})
    text = inputs.overrides(base, {key: value})[key]
    code, out, err = run_cli(["validate", NAME, "--set", text])
    assert code == 2
    assert list(checked.problems[key]) == err.strip().splitlines()


def test_several_bad_values_each_get_their_own_message(base):
    checked = inputs.check(DATA, base, values(base, n_per_arm=0, remission_control=1.5, alpha=None))
    assert set(checked.problems) == {"n_per_arm", "remission_control", "alpha"}
    assert checked.problems["n_per_arm"] == ("error: trial.n_per_arm: got 0; must be >= 1",)


# ----------------------------------------------------------------------------- many trials


def small(base, **changes):
    """The design with a small block so that few replicates make several blocks."""
    return with_overrides(base, {"simulation.block_size": 40, **changes})


def test_power_is_trialsim_powers_for_the_same_design_and_seed(base):
    design = small(base, **{"trial.n_per_arm": 40, "simulation.replicates": 130, "simulation.seed": 11})
    many = lab.many_trials(design)
    assert same_power(many.power, estimate_power(design))
    assert many.complete


def test_power_printed_by_the_command_line_is_the_labs(base, run_cli):
    checked = inputs.check(DATA, base, values(base, n_per_arm=45, dropout=0.2, replicates=300, seed=5))
    many = lab.many_trials(checked.scenario)
    code, out, err = run_cli(["power", NAME, "--replicates", 300, "--seed", 5, "--json",
                              *sum((["--set", t] for t in checked.changed), [])])
    assert code == 0, err
    assert f"{json.loads(out)['power']:.3f}" == f"{many.power.power:.3f}"
    assert json.loads(out)["rejections"] == many.power.rejections


def test_partial_answers_arrive_block_by_block_and_the_last_is_the_whole(base):
    design = small(base, **{"simulation.replicates": 100})
    seen = []

    class Watch(lab.Progress):
        def update(self, done, total, label, partial=None):
            seen.append((done, total, label, partial.power.replicates, partial.complete))
            super().update(done, total, label, partial)

    many = lab.many_trials(design, Watch())
    assert [s[:2] for s in seen] == [(1, 3), (2, 3), (3, 3)]
    assert [s[3] for s in seen] == [40, 80, 100]
    assert [s[4] for s in seen] == [False, False, True]
    assert seen[-1][2] == "100 of 100 trials"
    assert many.power.replicates == 100


def test_a_cancelled_run_stops_at_the_next_block(base):
    design = small(base, **{"simulation.replicates": 400})
    progress = lab.Progress()
    calls = []

    class StopAfterTwo(lab.Progress):
        def update(self, done, total, label, partial=None):
            calls.append(done)
            if done == 2:
                self.cancel()
            super().update(done, total, label, partial)

    with pytest.raises(lab.Cancelled):
        lab.many_trials(design, StopAfterTwo())
    assert calls[:2] == [1, 2] and len(calls) <= 4        # the blocks in flight finish, no more start
    progress.cancel()
    with pytest.raises(lab.Cancelled):
        lab.many_trials(design, progress)


def test_the_spread_counts_every_trial_and_highlights_exactly_the_significant_ones(base):
    design = small(base, **{"simulation.replicates": 200})
    many = lab.many_trials(design)
    s = many.spread
    assert s.significant.sum() == many.power.rejections
    assert s.significant.sum() + s.not_significant.sum() == 200
    assert s.p_counts.sum() == 200
    assert many.true_difference == pytest.approx(true_differences(design)["rtx_csa"][0])   # the estimand's


def test_trials_without_an_estimate_are_in_neither_histogram(base):
    """A trial that randomised nobody to an arm has no estimate, and no p-value bar either (its
    p of 1 would make a false spike)."""
    design = small(base, **{"simulation.replicates": 200, "recruitment.rate_per_site_month": 0.002})
    s = lab.many_trials(design).spread
    estimated = int(s.significant.sum() + s.not_significant.sum())
    assert estimated < 200                                  # some trials recruited too few
    assert s.p_counts.sum() == estimated


@pytest.mark.parametrize("n", [10, 40, 63, 200])
def test_estimate_bins_are_centred_on_whole_steps_of_one_over_n(n):
    edges = lab.estimate_edges(n)
    centres = (edges[:-1] + edges[1:]) / 2
    steps = centres * n
    assert np.allclose(steps, np.round(steps))
    assert edges[0] < -1 and edges[-1] > 1


# ----------------------------------------------------------------------------- the null world


def test_the_null_world_gives_each_allowed_tests_type_one_error_as_trialsim_power_does(base):
    design = small(base, **{"simulation.replicates": 120})
    null = lab.null_world(design)
    assert list(null.results) == ["fisher", "chi2", "chi2_yates", "ztest", "wald"]
    assert set(null.refused) == {"farrington_manning", "cmh", "posterior"}
    for test, many in null.results.items():
        expected = estimate_power(with_overrides(null_scenario(design)[0], {"analysis.test": test}))
        assert same_power(many.power, expected), test
        assert many.true_difference == 0


def test_the_tests_offered_are_those_the_design_can_use_with_the_reason_for_the_others(base):
    pytest.importorskip("shiny")
    from simulate.teach.app import build_app

    usable, refused = lab.usable_tests(base)
    assert list(usable) == ["fisher", "chi2", "chi2_yates", "ztest", "wald"]
    assert set(refused) == {"farrington_manning", "cmh", "posterior"}
    page = str(build_app(NAME, base).ui["html"])
    select = page[page.index('id="test">'):]
    select = select[:select.index("</select>")]
    # a test the lab's own controls can make usable (one-sided: "Sidedness") is offered; one that needs
    # what only a scenario file sets (strata, a Bayesian framework) is not
    assert all(f'value="{t}"' in select for t in [*usable, "farrington_manning"])
    assert not any(f'value="{t}"' in select for t in ("cmh", "posterior"))
    note = page[page.index('id="test_refused"'):]
    note = note[:note.index("</ul>")]
    assert "choose “one-sided (experimental better)” in “Sidedness”" in note
    assert "only a scenario file can change" in note and "a scenario file can make it Bayesian" in note
    # the refusals name no scenario field: only the lab's own controls
    assert "set " not in note and "randomisation.stratify_by" not in note


@pytest.mark.parametrize("rate, verdict", [
    (0.060, "above α: the test is anti-conservative here"), (0.040, "below α: the test is conservative here"),
    (0.055, "within Monte Carlo error of α"), (0.045, "within Monte Carlo error of α"),
])
def test_each_tests_type_one_error_is_judged_against_its_monte_carlo_error(rate, verdict):
    assert lab.type_one_verdict(rate, 0.004, 0.05) == verdict


def test_the_null_view_says_near_alpha_of_no_test_without_its_monte_carlo_error(base):
    pytest.importorskip("shiny")
    from simulate.teach.views import null_view as _null_view

    design = small(base, **{"simulation.replicates": 120})
    null = lab.null_world(design)
    page = str(_null_view(design, null))
    assert "near α" not in page
    for test, many in null.results.items():
        p = many.power
        assert re.search(f'id="verdict_{test}"[^>]*>{lab.type_one_verdict(p.power, p.mc_se, 0.05)}<', page), test


def test_a_non_inferiority_null_puts_the_experimental_arm_worse_by_the_margin():
    mentor = load_scenario("mentor")
    design, note = lab.null_design(mentor)
    control = mentor.arm(mentor.control_arm).remission_at_endpoint
    (arm,) = mentor.experimental_arms
    assert note == ""
    assert design.arm(arm).remission_at_endpoint == pytest.approx(control - mentor.analysis.margin)
    assert design == with_overrides(mentor, {f"arms.{arm}.remission_at_endpoint": control - mentor.analysis.margin})


@pytest.mark.parametrize("name", ["ri_cyclo", "starmen"])
def test_where_the_rate_alone_cannot_be_the_controls_the_arm_takes_the_controls_model(name, run_cli):
    scenario = load_scenario(name)
    design, note = lab.null_design(scenario)
    control = scenario.arm(scenario.control_arm)
    for arm in scenario.experimental_arms:
        mine = design.arm(arm)
        assert mine.model_copy(update={"label": control.label, "allocation": control.allocation}) == control
        assert mine.label == scenario.arm(arm).label
        code, out, err = run_cli(["validate", name, "--set",
                                  f"arms.{arm}.remission_at_endpoint={control.remission_at_endpoint}"])
        assert code == 2 and err.splitlines()[0].removeprefix("error: ") in note
    assert note.startswith("Setting the rate alone is refused (")


@pytest.mark.slow
def test_fishers_type_one_error_stays_at_or_below_alpha(base):
    """Fisher's exact test is conservative: its type I error is at most alpha (here within 3
    Monte Carlo SE, 4,000 trials, seed 20210414); Pearson's chi-squared rejects at least as often."""
    design = with_overrides(base, {"simulation.replicates": 4000})
    null = lab.null_world(design)
    fisher, chi2 = null.results["fisher"].power, null.results["chi2"].power
    assert fisher.power <= 0.05 + 3 * fisher.mc_se
    assert chi2.power >= fisher.power


# ----------------------------------------------------------------------------- one trial


def test_one_trial_is_trialsim_trials_story_and_its_counts_add_up(base, run_cli, tmp_path):
    trial = lab.one_trial(base, 0)
    code, out, err = run_cli(["trial", NAME, "--out", tmp_path])
    assert code == 0, err
    assert out.startswith("\n".join(trial.story))
    c = trial.record.consort
    assert c.referred == c.excluded_total + c.lost_during_deferral + c.not_randomised_enrolment_closed + c.randomised
    assert sum(c.randomised_per_arm.values()) == c.randomised
    assert {arm: n for arm, (x, n) in trial.table.items()} == c.analysed_per_arm
    assert all(0 <= x <= n for x, n in trial.table.values())
    assert len(trial.randomisation_months) == c.randomised


def test_another_trial_is_the_next_replicate_also_past_the_first_block(base):
    design = small(base)
    trials = [lab.one_trial(design, k) for k in (0, 1, 41)]
    assert len({t.story for t in trials}) == 3
    from simulate.engines.des import example_trial

    told = example_trial(design, design.simulation.seed, replicate=41)
    assert trials[2].record.consort.randomised == told.consort["randomised"]
    assert {arm: n for arm, (x, n) in trials[2].table.items()} == told.consort["analysed_per_arm"]


@pytest.mark.slow
def test_the_lab_numbers_a_trial_as_the_report_and_trialsim_trial_do(base, tmp_path):
    pytest.importorskip("shiny")
    from simulate.teach.trial_view import one_view as _one_view

    page = str(_one_view(base, lab.one_trial(base, 0), "remission"))
    assert f"Trial 0 of seed {base.simulation.seed}" in page        # the report's "Trial 0 of seed"
    assert "Trial 1 " not in page and "trial 1" not in page
    assert f"Trial 1 of seed {base.simulation.seed}" in str(_one_view(base, lab.one_trial(base, 1), "remission"))


def test_the_one_trials_analysis_is_that_replicate_of_the_power_run(base):
    design = small(base, **{"simulation.replicates": 40})
    from simulate.engines.blocks import simulate_block
    from simulate.run.tally import analyse_outcomes

    block = simulate_block(design, design.simulation.seed, 0)
    p = analyse_outcomes(design, block).analyses[0].p_value
    for k in (0, 7):
        assert lab.one_trial(design, k).p_value == pytest.approx(p[k], abs=0, rel=1e-12)


# ----------------------------------------------------------------------------- how many patients


@pytest.mark.slow
def test_how_many_is_the_sample_size_piece_of_trialsim_run(base):
    from simulate.run.compute import compute_samplesize

    design = with_overrides(base, {"simulation.replicates": 100})
    seen = []

    class Watch(lab.Progress):
        def update(self, done, total, label, partial=None):
            seen.append(label)
            super().update(done, total, label, partial)

    plan = lab.how_many(design, Watch())
    assert plan == compute_samplesize(design, design.simulation.seed, 100, None, "batch")
    assert seen and all("per arm" in label for label in seen)


def test_how_many_rounds_as_the_report_and_names_the_closed_form_allowing_for_dropout(base):
    pytest.importorskip("shiny")
    from types import SimpleNamespace

    from simulate.report.words import percent
    from simulate.teach.views import how_many_lines as _how_many_lines

    analytic = SimpleNamespace(pooled_normal=60, fleiss_cc=66, pooled_normal_with_dropout=70)
    search = SimpleNamespace(target=0.8, n_per_arm=63, analytic=analytic, power=0.81, mc_se=0.01, note="")
    point = SimpleNamespace(n_per_arm=63, p_recruitment_on_time=0.095, mean_randomised=120.0)
    (line,) = _how_many_lines(base, SimpleNamespace(searches=[search], curve=[point]))
    assert f"in {percent(0.095)} of simulated trials" in line and percent(0.095) == "9.5%"
    assert "allowing for dropout, the pooled normal says 70." in line


def test_how_many_can_be_cancelled(base):
    design = with_overrides(base, {"simulation.replicates": 100})
    progress = lab.Progress()
    progress.cancel()
    with pytest.raises(lab.Cancelled):
        lab.how_many(design, progress)


# ----------------------------------------------------------------------------- export


@pytest.mark.parametrize("path", SHIPPED_SCENARIOS, ids=[p.stem for p in SHIPPED_SCENARIOS])
def test_every_shipped_scenario_exports_as_toml_that_reads_back_the_same(path, tmp_path):
    scenario = load_scenario(path)
    out = tmp_path / "exported.toml"
    out.write_text(inputs.to_toml(scenario, "a header\n\nover two paragraphs"), encoding="utf-8")
    assert load_scenario(out) == scenario


def test_an_exported_group_sequential_design_with_a_sweep_reads_back_the_same(tmp_path):
    """Optional tables present and absent, dotted sweep paths and a header of several
    paragraphs: the file loads to the same scenario, and the header is its opening comment."""
    import tomllib

    scenario = load_scenario(DEFAULT_SCENARIO, ['analysis.alternative="greater"', 'analysis.test="ztest"',
                                                "analysis.alpha=0.025", "interim.information_fractions=[0.5, 1.0]",
                                                'interim.futility="beta_spending"'])
    assert scenario.interim is not None and scenario.sweep
    text = inputs.to_toml(scenario, "first line\n\nthird line")
    assert text.startswith("# first line\n#\n# third line\n")
    data = tomllib.loads(text)
    assert data["sweep"] == {axis.path: list(axis.values) for axis in scenario.sweep}
    assert data["interim"]["futility"] == "beta_spending"
    out = tmp_path / "exported.toml"
    out.write_text(text, encoding="utf-8")
    assert load_scenario(out) == scenario
    plain = load_scenario("three_arm")                    # no interim looks, no observed accrual
    assert plain.interim is None and plain.observed is None
    data = tomllib.loads(inputs.to_toml(plain))
    assert "interim" not in data and "observed" not in data
    out.write_text(inputs.to_toml(plain), encoding="utf-8")
    assert load_scenario(out) == plain


def test_the_exported_design_validates_on_the_command_line(base, run_cli, tmp_path):
    checked = inputs.check(DATA, base, values(base, n_per_arm=30, remission_experimental=0.8, missing="locf"))
    design = inputs.export_design(checked.scenario, checked.changed)
    out = tmp_path / inputs.export_name(design)
    out.write_text(inputs.to_toml(design), encoding="utf-8")
    code, stdout, err = run_cli(["validate", out])
    assert (code, stdout.strip(), err) == (0, "OK", "")
    assert load_scenario(out) == design
    assert out.name == "nct04743739-lab.toml" and design.name == "nct04743739-lab"
    assert design.description.endswith("(changed in the teaching lab: trial.n_per_arm=30; "
                                       "arms.rtx_csa.remission_at_endpoint=0.8; analysis.missing=locf)")
    same = {"name": base.name, "description": base.description}
    assert design.model_copy(update=same) == checked.scenario.model_copy(update=same)
    assert inputs.export_design(base.model_copy(update={"name": "x" * 80})).name == "x" * 76 + "-lab"


# ----------------------------------------------------------------------------- the command


def test_teach_without_shiny_says_how_to_install_it(run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "shiny", None)
    code, out, err = run_cli(["teach"])
    assert code == 2
    assert err == ("error: teach: the teaching lab needs Shiny for Python; install it with: "
                   "pip install 'trialsim[teach]'\n")


def test_teach_checks_its_port_and_scenario_before_starting(run_cli, tmp_path):
    code, out, err = run_cli(["teach", "--port", "0"])
    assert code == 2 and "--port" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_SCENARIO.read_text().replace("n_per_arm = 63", "n_per_arm = 0"))
    code, out, err = run_cli(["teach", bad])
    assert code == 2 and err.strip() == "error: trial.n_per_arm: got 0; must be >= 1"


def test_teach_refuses_a_port_in_use_with_one_line(run_cli):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run_cli(["teach", "--port", port])
    assert code == 2
    assert err.startswith(f"error: --port: got {port}; 127.0.0.1:{port} cannot be used (")
    assert len(err.strip().splitlines()) == 1


def test_the_app_builds_with_every_input_and_button(base):
    pytest.importorskip("shiny")
    from simulate.teach.app import build_app

    page = str(build_app(NAME, base).ui["html"])
    for element in [*inputs.INPUTS, "simulate", "one_trial", "another_trial", "null_world", "how_many"]:
        assert f'id="{element}"' in page, element


def test_a_whole_number_sent_for_a_decimal_field_is_the_same_design(base):
    checked = inputs.check(DATA, base, values(base, rate_per_site_month=6, n_per_arm=63))
    assert checked.changed == ()
    assert checked.scenario == base
    three = inputs.overrides(base, {"rate_per_site_month": 3})
    assert three["rate_per_site_month"] == "recruitment.rate_per_site_month=3.0"


# ----------------------------------------------------------------------------- dropout and missing data


@pytest.mark.parametrize("changes", [
    dict(dropout=0.3, dropout_mechanism="mcar", missing="nonresponder"),
    dict(dropout=0.3, dropout_mechanism="mar", mar_hazard_ratio=4, missing="complete_case"),
    dict(dropout=0.3, dropout_mechanism="mnar", mnar_hazard_ratio=3, missing="locf", test="chi2"),
    dict(dropout=0.3, dropout_mechanism="mar", mar_hazard_ratio="0.5", missing="mi_mar", test="wald", imputations=5),
    dict(dropout=0.2, dropout_mechanism="mnar", missing="mi_j2r", test="wald"),
], ids=["mcar-nonresponder", "mar-complete_case", "mnar-locf", "mar-mi_mar", "mnar-mi_j2r"])
def test_the_dropout_and_missing_data_inputs_reach_the_design_and_the_power_is_trialsim_powers(base, run_cli, changes):
    checked = inputs.check(DATA, base, values(base, replicates=150, seed=5, **changes))
    assert checked.ok, checked.problems
    d, a = checked.scenario.dropout, checked.scenario.analysis
    assert (d.probability_by_endpoint, d.mechanism, a.missing) == (changes["dropout"], changes["dropout_mechanism"],
                                                                  changes["missing"])
    assert d.mar_hazard_ratio_not_in_remission == float(changes.get("mar_hazard_ratio", 2.0))
    assert d.informative_hazard_ratio == float(changes.get("mnar_hazard_ratio", 2.0))
    assert a.imputations == int(changes.get("imputations", 20))
    many = lab.many_trials(checked.scenario)
    code, out, err = run_cli(["power", NAME, "--replicates", 150, "--seed", 5, "--json",
                              *sum((["--set", t] for t in checked.changed), [])])
    assert code == 0, err
    printed = json.loads(out)
    for key in ("power", "rejections", "true_difference", "mean_risk_difference", "risk_difference_bias",
                "risk_difference_bias_se", "ci_coverage", "ci_coverage_se"):
        assert printed[key] == getattr(many.power, key), key          # to the last digit
    assert printed["estimand"] == many.power.estimand


def test_a_hazard_ratio_of_a_mechanism_not_chosen_is_left_at_its_default_as_the_command_line_needs(run_cli):
    """teaching_estimands has MAR dropout with a ratio of 4: with MCAR chosen, the hidden MAR ratio
    goes back to its default, as ``trialsim`` asks ('leave the ratio out'); what was typed in a
    hidden box is not read."""
    name = "teaching_estimands"
    scenario, data = load_scenario(name), read_scenario_data(name)
    checked = inputs.check(data, scenario, {**inputs.input_values(scenario), "dropout_mechanism": "mcar",
                                            "mnar_hazard_ratio": "abc"})
    assert checked.ok and checked.problems == {}
    assert checked.changed == ("dropout.mechanism=mcar", "dropout.mar_hazard_ratio_not_in_remission=2.0")
    code, out, err = run_cli(["validate", name, *sum((["--set", t] for t in checked.changed), [])])
    assert (code, err) == (0, "")
    code, out, err = run_cli(["validate", name, "--set", "dropout.mechanism=mcar"])
    assert code == 2 and "leave the ratio out" in err
    assert inputs.check(data, scenario, inputs.input_values(scenario)).changed == ()


def test_each_dropout_mechanism_and_missing_data_method_has_its_words(base):
    pytest.importorskip("shiny")
    from simulate.design.choices import MISSING_STRATEGIES
    from simulate.design.fields import DROPOUT_MECHANISMS
    from simulate.report.words import DROPOUT_MECHANISM_WORDS, MISSING_NOTES, MISSING_WORDS
    from simulate.teach import views
    from simulate.teach.app import build_app

    page = str(build_app(NAME, base).ui["html"])
    for mechanism in DROPOUT_MECHANISMS:
        assert DROPOUT_MECHANISM_WORDS[mechanism] and views.MECHANISM_HELP[mechanism], mechanism
        assert f'<option value="{mechanism}"' in page and views.MECHANISM_LABELS[mechanism] in page
        design = with_overrides(base, {"dropout.mechanism": mechanism})
        assert f"({mechanism.upper()})" in views.dropout_clause(design, "remission")
        assert mechanism.upper() in DROPOUT_MECHANISM_WORDS[mechanism] + views.MECHANISM_LABELS[mechanism]
    for method in MISSING_STRATEGIES:
        assert MISSING_WORDS[method] and MISSING_NOTES[method] and views.MISSING_HELP[method], method
        assert f'<option value="{method}"' in page
    assert "Wald" in views.MISSING_HELP["mi_mar"] and "Wald" in views.MISSING_HELP["mi_j2r"]
    assert views.dropout_clause(with_overrides(base, {"dropout.probability_by_endpoint": 0.0}), "x") == "with no dropout"
    assert views.dropout_clause(with_overrides(base, {"dropout.mechanism": "mar",
                                                      "dropout.mar_hazard_ratio_not_in_remission": 4.0}),
                                "remission") == "when patients seen out of remission drop out 4 times as often (MAR)"
    # the ratios are shown only with their mechanism, the number of imputations only with an imputation
    import html

    shown = html.unescape(page)
    for condition, key in [("input.dropout_mechanism === 'mar'", "mar_hazard_ratio"),
                           ("input.dropout_mechanism === 'mnar'", "mnar_hazard_ratio"),
                           ("input.missing === 'mi_mar' || input.missing === 'mi_j2r'", "imputations")]:
        at = shown.index(f'data-display-if="{condition}"')
        assert f'id="{key}"' in shown[at:at + 800], key


@pytest.mark.parametrize("changes, keys", [
    (dict(missing="mi_mar"), {"missing", "test"}),                 # the design's Fisher test cannot combine imputations
    (dict(missing="mi_j2r", test="chi2"), {"missing", "test"}),
    (dict(dropout_mechanism="mar", mar_hazard_ratio=300), {"mar_hazard_ratio"}),
    (dict(dropout_mechanism="mnar", mnar_hazard_ratio=0.5), {"mnar_hazard_ratio"}),
    (dict(missing="mi_mar", test="wald", imputations=1), {"imputations"}),
])
def test_an_invalid_dropout_or_missing_data_choice_gets_the_command_lines_message_beside_it(base, run_cli, changes,
                                                                                           keys):
    checked = inputs.check(DATA, base, values(base, **changes))
    assert not checked.ok and set(checked.problems) == keys and checked.other == ()
    code, out, err = run_cli(["validate", NAME, *sum((["--set", inputs.overrides(base, values(base, **changes))[k]]
                                                      for k in changes), [])])
    assert code == 2
    for key in keys:
        assert list(checked.problems[key]) == err.strip().splitlines(), key
    if "test" in keys:
        (line,) = checked.problems["test"]
        assert "got 'fisher'" in line or "got 'chi2'" in line
        assert line.endswith('combines imputed data sets by Rubin\'s rules: set test = "wald"')


def test_the_methods_comparison_is_trialsim_power_for_each_method_on_the_same_trials(base):
    design = small(base, **{"dropout.probability_by_endpoint": 0.3, "dropout.mechanism": "mar",
                            "dropout.mar_hazard_ratio_not_in_remission": 4.0, "simulation.replicates": 2000})
    designs, tests, refused = lab.method_designs(design)
    assert refused == {} and list(designs) == ["nonresponder", "complete_case", "locf", "mi_mar", "mi_j2r"]
    assert tests == {"nonresponder": "fisher", "complete_case": "fisher", "locf": "fisher", "mi_mar": "wald",
                     "mi_j2r": "wald"}
    assert {d.simulation.replicates for d in designs.values()} == {lab.METHODS_REPLICATES}
    assert lab.view_problem(design, "methods_view") is None
    few = with_overrides(design, {"simulation.replicates": 90})
    comparison = lab.compare_methods(few)
    for method, many in comparison.results.items():
        expected = estimate_power(with_overrides(few, {"analysis.missing": method, "analysis.test": tests[method]}))
        assert same_power(many.power, expected), method
        assert many.power.replicates == 90


def test_the_truth_line_says_how_far_the_mean_estimate_lands_from_the_true_difference():
    pytest.importorskip("shiny")
    from types import SimpleNamespace

    from simulate.teach import views

    c = SimpleNamespace(mean_risk_difference=0.21, true_difference=0.25, risk_difference_bias=-0.04,
                        risk_difference_bias_se=0.002, ci_coverage=0.93, ci_coverage_se=0.005)
    assert views.bias_clause(c, "complete_case") == ("with complete-case analysis, the trials underestimate it by "
                                                    "0.040 ± 0.002")
    near = SimpleNamespace(**{**vars(c), "mean_risk_difference": 0.247, "risk_difference_bias": -0.003})
    assert views.bias_clause(near, "mi_mar").endswith("hit it on average: the gap, -0.003 ± 0.002, is within "
                                                      "2 Monte Carlo SE")
    assert views.coverage_clause(c, 0.95).startswith("less often than promised")
    assert views.coverage_clause(near, 0.93) == "as promised, within Monte Carlo error"


def test_the_many_trials_view_shows_the_truth_beside_the_estimates(base):
    pytest.importorskip("shiny")
    from simulate.teach import views

    design = small(base, **{"dropout.probability_by_endpoint": 0.3, "dropout.mechanism": "mar",
                            "dropout.mar_hazard_ratio_not_in_remission": 4.0, "analysis.missing": "mi_mar",
                            "analysis.test": "wald", "simulation.replicates": 80})
    many = lab.many_trials(design)
    p = many.power
    page = str(views.many_figures(design, many, "remission"))
    assert f"id='truth_true'>{p.true_difference:+.3f}" in page   # with its Monte Carlo SE when computed
    assert f"id='truth_mean'>{p.mean_risk_difference:+.3f}</b> ± {p.risk_difference_bias_se:.3f}" in page
    assert f"id='truth_coverage'>{100 * p.ci_coverage:.1f}%</b> ± {100 * p.ci_coverage_se:.1f}%" in page
    assert "complete or partial remission at month 24" in page and "drop out 4 times as often (MAR)" in page
    assert "multiple imputation fills in" in page and "carried forward" not in page
    shown = str(views.methods_view(design, lab.compare_methods(design), "remission"))
    assert 'id="methods_table"' in shown and "(this design)" in shown
    for method in ("nonresponder", "complete_case", "locf", "mi_mar", "mi_j2r"):
        assert f'id="method_bias_{method}"' in shown


@pytest.mark.parametrize("alpha", [0.05, 0.025, 0.1, 0.03, 0.01, 0.001])
def test_alpha_is_an_edge_of_the_p_value_bins(alpha):
    edges = lab.p_value_edges(alpha)
    assert edges[0] == 0.0 and edges[-1] == 1.0 and np.all(np.diff(edges) > 0)
    assert np.isclose(edges, alpha).any()           # no bin holds both significant and other trials
    assert len(edges) - 1 <= lab.P_MAX_BINS


def test_a_non_inferiority_histogram_colours_every_significant_bin():
    """A one-sided alpha of 0.025 with every trial significant: every filled bar lies below alpha."""
    from simulate.teach import figures

    s = with_overrides(load_scenario(DEFAULT_SCENARIO), {
        "analysis.hypothesis": "non_inferiority", "analysis.margin": 0.3, "analysis.alternative": "greater",
        "analysis.test": "farrington_manning", "analysis.alpha": 0.025, "simulation.replicates": 200,
        "intercurrent": {}, "estimand": {}})
    many = lab.many_trials(s)
    spread = many.spread
    filled_above = spread.p_counts[spread.p_edges[:-1] >= 0.025].sum()
    assert many.power.power == 1.0 and filled_above == 0
    fig = figures.p_values(many, 0.025)
    colours = [tuple(round(c, 3) for c in bar.get_facecolor()[:3]) for bar in fig.axes[0].patches if bar.get_height() > 0]
    assert len(set(colours)) == 1                   # one colour: the significant one


def test_refusals_name_the_labs_controls_and_say_what_only_a_file_sets():
    from simulate.teach import wording

    base = load_scenario(DEFAULT_SCENARIO)
    paths = inputs.field_paths(base)
    line = wording.plain('error: analysis.alternative: got \'two-sided\'; non_inferiority is one-sided: set '
                         'alternative = "greater" (alpha is then the one-sided level)', paths)
    assert line == ("error: “Sidedness”: got 'two-sided'; non_inferiority is one-sided: choose “one-sided "
                    "(experimental better)” in “Sidedness” (alpha is then the one-sided level)")
    line = wording.plain("error: analysis.test: got 'cmh'; the test needs strata: set randomisation.stratify_by", paths)
    assert "“Test”" in line and line.endswith("(randomisation.stratify_by is set in the scenario file; the lab has no "
                                              "control for it)")
