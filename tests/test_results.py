"""Result objects: what the piece cache stores reads back unchanged, and every list of choices
(tests, missing-data strategies, alternatives, engines, backends, CONSORT counts) is defined
once and read from there by the scenario, the library, the CLI and the report."""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import fields
from pathlib import Path

import pytest

from simulate.design import choices
from simulate.engines import blocks as engines
from simulate.run import parallel, power
from simulate.run import samplesize
from simulate.run import sweep as sweeps
from simulate.analysis import registry
from simulate.errors import ScenarioError
from simulate.design.loader import load_scenario, with_overrides
from simulate.run.results import SweepPoint, SweepResult
from simulate.run.trial_results import Consort, ExampleTrial, KaplanMeierStep, PatientCourse, TrialCalendar

from conftest import PLAIN_SCENARIO

DEFAULT = PLAIN_SCENARIO     # the registered design without intercurrent events


def through_json(value):
    return type(value).from_json(json.loads(json.dumps(value.to_json(), allow_nan=False)))


def test_power_result_reads_back_from_json_with_its_missing_values():
    s = load_scenario(DEFAULT, ["simulation.block_size=20", "arms.rtx_csa.remission_at_endpoint=0.6"])
    r = power.estimate_power(s, 20, 1, 1)
    assert math.isnan(r.exaggeration_ratio)           # no true difference: nothing to overstate
    back = through_json(r)
    assert back.to_json() == r.to_json() and math.isnan(back.exaggeration_ratio)
    assert back.to_frame().columns.tolist() == r.to_frame().columns.tolist()


def test_nested_results_read_back_from_json():
    trial = ExampleTrial(
        consort=Consort(10, 4, 2, 1, 0, 5, {"age": 4}, {"a": 3, "b": 2}, {"a": 1, "b": 0}, {"a": 3, "b": 2}),
        calendar=TrialCalendar(0.5, 7.25, 7.25, None, "target reached", 31.25, False, True),
        remission_at_endpoint={"a": 1 / 3, "b": math.nan},
        patients=(PatientCourse(1, "a", 2.5, math.nan, math.nan, "", "complete"),),
        kaplan_meier={"a": (KaplanMeierStep(0.0, 0.0, 3), KaplanMeierStep(2.5, 1 / 3, 3))},
    )
    back = through_json(trial)
    assert back.consort == trial.consort and back.calendar == trial.calendar
    assert back.kaplan_meier == trial.kaplan_meier and isinstance(back.kaplan_meier["a"], tuple)
    assert math.isnan(back.remission_at_endpoint["b"]) and math.isnan(back.patients[0].dropout_month)
    sweep = SweepResult(("randomisation.block_sizes",), (SweepPoint({"randomisation.block_sizes": (2, 4)}, 0.5, 0.1,
                                                                   0.3, 0.7, 25, 63, 126.0, 0.5, 40.0, 12.5),))
    # grid values come back as JSON lists; reading a stored piece again changes nothing
    assert through_json(sweep).to_frame().equals(through_json(through_json(sweep)).to_frame())


def test_the_scenario_tests_are_the_registered_analyses():
    assert choices.TESTS == registry.names()


CHOICE_FIELDS = {"analysis.test": choices.TESTS, "analysis.missing": choices.MISSING_STRATEGIES,
                 "analysis.alternative": choices.ALTERNATIVES, "dropout.mechanism": ("mcar", "mar", "mnar")}


def test_the_scenario_offers_exactly_the_analysis_lists():
    """A value outside a list is refused with the whole list; every value on it is known to the
    scenario (accepted, or refused only for a missing companion setting, such as strata for cmh)."""
    s = load_scenario(DEFAULT)
    for path, allowed in CHOICE_FIELDS.items():
        with pytest.raises(ScenarioError) as refused:
            with_overrides(s, {path: "nope"})
        assert refused.value.problems == [f"{path}: got 'nope'; must be one of {', '.join(map(repr, allowed))}"]
        for value in allowed:
            try:
                with_overrides(s, {path: value})
            except ScenarioError as e:
                assert not any("must be one of" in line for line in e.problems), (path, value, e.problems)


def test_the_cli_offers_exactly_the_library_lists(run_cli):
    """An unknown engine or backend is refused with the library's whole list; every engine on
    the list runs from the command line, and they give the same trials."""
    for flag, allowed in (("--engine", choices.ENGINES), ("--backend", parallel.BACKENDS)):
        code, _, err = run_cli(["power", DEFAULT, flag, "nope"])
        assert code == 2
        assert f"'nope' is not one of {', '.join(map(repr, allowed))}." in err
    runs = {}
    for engine in choices.ENGINES:
        code, out, err = run_cli(["power", DEFAULT, "--engine", engine, "--replicates", "10", "--jobs", "1",
                                  "--set", "simulation.block_size=10", "--json"])
        assert code == 0, err
        runs[engine] = json.loads(out)
        assert runs[engine]["engine"] == engine
    assert len({r["power"] for r in runs.values()}) == 1


@pytest.mark.parametrize("fn", [power.estimate_power, samplesize.find_sample_size, sweeps.sweep, power.tally_designs,
                                power.simulate_replicates, power.simulate_designs, engines.simulate_block,
                                engines.simulate_block_designs], ids=lambda f: f.__name__)
def test_library_default_engine_is_the_cli_default(fn):
    assert inspect.signature(fn).parameters["engine"].default == choices.DEFAULT_ENGINE


def test_report_wording_covers_every_choice():
    from simulate.report.words import MISSING_NOTES
    from simulate.report.trial_tables import _CONSORT_LABELS

    assert tuple(MISSING_NOTES) == choices.MISSING_STRATEGIES
    assert tuple(_CONSORT_LABELS) == engines.CONSORT_FIELDS
    assert set(engines.CONSORT_FIELDS) <= {f.name for f in fields(Consort)}


JSON_KEYS = ("scenario n_per_arm replicates seed engine test alpha alternative missing_strategy power mc_se ci_low "
             "ci_high rejections mean_randomised mean_dropouts p_recruitment_on_time p_recruitment_on_time_se "
             "p_terminated mean_recruitment_months recruitment_months_q10 recruitment_months_q50 recruitment_months_q90 "
             "mean_duration_months duration_months_q10 duration_months_q50 duration_months_q90 true_difference "
             "mean_risk_difference risk_difference_bias risk_difference_bias_se ci_coverage ci_coverage_se "
             "mean_ci_width mean_abs_risk_difference_if_significant exaggeration_ratio mean_consort elapsed_seconds "
             "hypothesis margin multiplicity success power_any power_any_mc_se power_all power_all_mc_se comparisons "
             "remission_by_visit looks expected_randomised expected_duration_months p_overrun_reversal "
             "p_overrun_reversal_se").split()
"""The keys of ``trialsim power --json`` that readers used before the comparisons became the record."""


def test_power_json_keeps_every_key_readers_use_and_adds_each_mc_se(run_cli):
    code, out, err = run_cli(["power", DEFAULT, "--replicates", "20", "--jobs", "1", "--json",
                              "--set", "simulation.block_size=20"])
    assert code == 0, err
    data = json.loads(out)
    assert [k for k in JSON_KEYS if k not in data] == []
    for name in ("mean_randomised", "mean_dropouts", "p_terminated", "mean_duration_months",
                 "mean_recruitment_months", "expected_duration_months", "mean_ci_width"):
        assert f"{name}_mc_se" in data, name
    assert data["mean_duration_months_mc_se"] > 0 and data["true_difference"] == data["comparisons"][0]["true_difference"]


def test_json_is_pydantics_and_writes_nan_as_null_and_reads_it_back():
    """Every NaN of a result (a float field, a float in a dict or a tuple) is JSON null, and null
    reads back as NaN where the field is a float, None where it may be None."""
    from simulate.run.results import Look, VisitRemission

    look = Look(0.5, 2.8, None, math.nan, 0.01, 0.1, 0.02, 0.9, math.inf, 60.0)
    data = look.to_json()
    assert data["p_stop_efficacy"] is None and data["mean_month"] is None and data["futility_z"] is None
    assert data["mean_randomised_mc_se"] is None                  # a default NaN too
    json.dumps(data, allow_nan=False)
    back = Look.from_json(data)
    assert math.isnan(back.p_stop_efficacy) and math.isnan(back.mean_month) and back.futility_z is None
    assert back.mean_randomised == 60.0 and isinstance(back.mean_randomised, float)
    with pytest.raises(Exception, match="arm"):                   # pydantic validates what it reads
        VisitRemission.from_json({"month": 6.0, "remission": 0.5, "mc_se": 0.01})
