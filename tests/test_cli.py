"""The ``trialsim`` command: validate, cohort, run; user mistakes exit 2 with one ``error:`` line
per problem and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from simulate.screening.criteria import RULE_NAMES

from conftest import DEFAULT_SCENARIO, PLAIN_SCENARIO, edit_scenario_text


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture
def bad_scenario(tmp_path: Path) -> Path:
    """The shipped scenario with three problems: a typo, a probability > 1, a negative rate."""
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    text = edit_scenario_text(text, "n_per_arm", new_key="n_per_arms")
    text = edit_scenario_text(text, "remission_at_endpoint", "1.85")  # the first arm, [arms.rtx]
    text = edit_scenario_text(text, "rate_per_site_month", "-3.0")
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- validate


def test_validate_ok(run_cli, scenario_path: Path) -> None:
    code, out, err = run_cli(["validate", scenario_path])
    assert (code, out.strip(), err) == (0, "OK", "")


def test_validate_with_good_override(run_cli, scenario_path: Path) -> None:
    code, out, _ = run_cli(["validate", scenario_path, "--set", "trial.n_per_arm=70",
                            "--set", "analysis.test=chi2"])
    assert (code, out.strip()) == (0, "OK")


def test_validate_bad_file(run_cli, bad_scenario: Path) -> None:
    code, out, err = run_cli(["validate", bad_scenario])
    assert code == 2
    assert out == ""
    lines = error_lines(err)
    assert len(lines) == 3, lines
    assert all(line.startswith("error: ") for line in lines)
    assert any("trial.n_per_arms" in line and "did you mean 'n_per_arm'" in line for line in lines)
    assert any("arms.rtx.remission_at_endpoint" in line and "1.85" in line for line in lines)
    assert any("recruitment.rate_per_site_month" in line and "-3.0" in line for line in lines)
    assert "Traceback" not in err


@pytest.mark.parametrize("args, named", [
    (["--set", "trial.n_per_arm"], "trial.n_per_arm"),
    (["--set", "=3"], "=3"),
    (["--set", "trial.n_per_arm="], "trial.n_per_arm="),
    (["--set", "foo.bar=1"], "foo"),
    (["--set", "dropout.probability_by_endpoint=1.5"], "1.5"),
])
def test_validate_bad_override(run_cli, scenario_path: Path, args: list[str], named: str) -> None:
    code, out, err = run_cli(["validate", scenario_path, *args])
    assert code == 2 and out == ""
    lines = error_lines(err)
    assert lines and all(line.startswith("error: ") for line in lines)
    assert any(named in line for line in lines), lines


def test_validate_missing_file(run_cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    code, out, err = run_cli(["validate", missing])
    assert code == 2 and out == ""
    assert error_lines(err) == [f"error: {missing}: scenario file not found"]


def test_validate_malformed_toml(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = \n", encoding="utf-8")
    code, _, err = run_cli(["validate", path])
    assert code == 2
    lines = error_lines(err)
    assert len(lines) == 1 and "malformed TOML" in lines[0] and str(path) in lines[0]


def test_version_and_help(run_cli) -> None:
    code, out, _ = run_cli(["--version"])
    assert code == 0 and "trialsim" in out
    code, out, _ = run_cli(["--help"])
    assert code == 0 and all(cmd in out for cmd in ("validate", "cohort", "run"))


# --------------------------------------------------------------------------- cohort


def test_cohort_json(run_cli, scenario_path: Path) -> None:
    code, out, err = run_cli(["cohort", scenario_path, "--n", "2000", "--json"])
    assert code == 0, err
    summary = json.loads(out)  # exactly one JSON object, nothing else on stdout
    assert isinstance(summary, dict)
    assert summary["screened"] == 2000
    assert [row["criterion"] for row in summary["funnel"]] == list(RULE_NAMES)
    total = sum(r["excluded"] + r["deferred"] for r in summary["funnel"]) + summary["eligible"]
    assert total == 2000


def test_cohort_table(run_cli, scenario_path: Path) -> None:
    code, out, _ = run_cli(["cohort", scenario_path, "--n", "500"])
    assert code == 0
    assert "Screening 500 referred patients" in out
    assert all(name in out for name in RULE_NAMES)
    assert "eligible now" in out


def test_cohort_seed_option_changes_the_cohort(run_cli, scenario_path: Path) -> None:
    outs = [json.loads(run_cli(["cohort", scenario_path, "--n", "2000", "--json", "--seed", s])[1])
            for s in ("1", "2", "1")]
    assert outs[0] == outs[2]
    assert outs[0] != outs[1]


def test_cohort_csv(run_cli, scenario_path: Path, tmp_path: Path) -> None:
    out_csv = tmp_path / "sub" / "cohort.csv"
    code, _, err = run_cli(["cohort", scenario_path, "--n", "300", "--out", out_csv])
    assert code == 0, err
    frame = pd.read_csv(out_csv)
    assert len(frame) == 300
    expected = {f"passes_{n}" for n in RULE_NAMES} | {"first_failure", "qualifies_in_months", "status",
                                                        "age_years", "egfr_ml_min", "proteinuria_mean_g_day"}
    assert expected <= set(frame.columns), expected - set(frame.columns)
    assert set(frame["status"]) <= {"eligible", "deferred", "excluded"}
    assert (frame.loc[frame["status"] == "eligible", [f"passes_{n}" for n in RULE_NAMES]]).all(axis=None)
    # no temporary files left beside it
    assert [p.name for p in out_csv.parent.iterdir()] == ["cohort.csv"]


def test_cohort_csv_agrees_with_json(run_cli, scenario_path: Path, tmp_path: Path) -> None:
    out_csv = tmp_path / "c.csv"
    code, out, _ = run_cli(["cohort", scenario_path, "--n", "2000", "--json", "--out", out_csv])
    assert code == 0
    summary = json.loads(out)
    frame = pd.read_csv(out_csv)
    assert int((frame["status"] == "eligible").sum()) == summary["eligible"]


def test_cohort_same_seed_same_csv(run_cli, scenario_path: Path, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    for path, seed in [(a, "7"), (b, "7"), (c, "8")]:
        assert run_cli(["cohort", scenario_path, "--n", "1000", "--seed", seed, "--out", path])[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("args", [
    ["--set", "trial.n_per_arm"],
    ["--set", "cohort.male_fraction=2"],
    ["--set", "cohort.no_such_field=1"],
    ["--n", "0"],
    ["--n", "-5"],
    ["--n", "many"],
], ids=["set-no-equals", "set-out-of-range", "set-unknown", "n-zero", "n-negative", "n-not-a-number"])
def test_cohort_bad_input_writes_nothing(run_cli, scenario_path: Path, tmp_path: Path, args: list[str]) -> None:
    out_csv = tmp_path / "cohort.csv"
    code, out, err = run_cli(["cohort", scenario_path, "--out", out_csv, *args])
    assert code == 2
    assert not out_csv.exists()
    assert list(tmp_path.iterdir()) == []
    assert err.strip() and "Traceback" not in err


def test_cohort_out_must_be_csv(run_cli, scenario_path: Path, tmp_path: Path) -> None:
    out_txt = tmp_path / "foo.txt"
    code, out, err = run_cli(["cohort", scenario_path, "--n", "10", "--out", out_txt])
    assert code == 2
    assert not out_txt.exists() and list(tmp_path.iterdir()) == []
    assert error_lines(err) == [f"error: --out: got '{out_txt}'; must be a .csv file name"]


def test_cohort_bad_scenario_exits_2(run_cli, bad_scenario: Path, tmp_path: Path) -> None:
    out_csv = tmp_path / "x.csv"
    code, _, err = run_cli(["cohort", bad_scenario, "--n", "10", "--out", out_csv])
    assert code == 2 and not out_csv.exists()
    assert len(error_lines(err)) == 3


# `run` (the main job) is tested end to end in tests/test_run.py


def test_run_bad_override_writes_nothing(run_cli, scenario_path: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "results"
    code, _, err = run_cli(["run", scenario_path, "--out", out_dir, "--set", "analysis.alpha=1.5"])
    assert code == 2 and not out_dir.exists()
    assert any("analysis.alpha" in line and "1.5" in line for line in error_lines(err))


# --------------------------------------------------------------------------- values a run could not take


@pytest.mark.parametrize("override, line", [
    ("analysis.alpha=1e-20", "analysis.alpha: got 1e-20; must be >= 1e-06"),
    ("outcome.weibull_shape_time_to_remission=20", "outcome.weibull_shape_time_to_remission: got 20; must be <= 10.0"),
    ("outcome.weibull_shape_time_to_remission=50", "outcome.weibull_shape_time_to_remission: got 50; must be <= 10.0"),
    ("cohort.pla2r_titre_log_sd=300", "cohort.pla2r_titre_log_sd: got 300; must be <= 3.0"),
    ("arms={}", "arms: got 0 tables (none); must have at least 2 [arms.<id>] tables"),
    ("trial.hard_stop_months=1e9", "trial.hard_stop_months: got 1000000000.0; must be <= 600.0"),
    ("recruitment.rate_per_site_month=1e6", "recruitment.rate_per_site_month: got 1000000.0; must be <= 100.0"),
])
def test_a_value_a_run_could_not_take_is_refused_before_it(run_cli, tmp_path: Path, override: str, line: str) -> None:
    out_dir = tmp_path / "trial"
    for command in (["validate"], ["power", "--replicates", "50", "--jobs", "1"], ["trial", "--out", out_dir]):
        code, out, err = run_cli([command[0], "nct04743739", *command[1:], "--set", override])
        assert (code, out, error_lines(err)) == (2, "", [f"error: {line}"]), command[0]
    assert not out_dir.exists()


def test_an_empty_arms_table_is_refused(run_cli, tmp_path: Path) -> None:
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    text = text[:text.index("[arms.rtx]")] + "[arms]\n\n" + text[text.index("[outcome]"):]
    path = tmp_path / "no_arms.toml"
    path.write_text(text, encoding="utf-8")
    for command in ("validate", "power"):
        code, out, err = run_cli([command, path, "--set", "sweep={}"])
        assert (code, out, error_lines(err)) == (
            2, "", ["error: arms: got 0 tables (none); must have at least 2 [arms.<id>] tables"]), command


# --------------------------------------------------------------------------- the installed console script


def test_console_script_validate(run_console_script, scenario_path: Path) -> None:
    code, out, err = run_console_script(["validate", scenario_path])
    assert (code, out.strip()) == (0, "OK"), err


def test_console_script_bad_file(run_console_script, bad_scenario: Path) -> None:
    code, out, err = run_console_script(["validate", bad_scenario])
    assert code == 2 and out == ""
    lines = error_lines(err)
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines), lines
    assert "Traceback" not in err


# --------------------------------------------------------------------------- no true benefit


HARM_ONE_SIDED = ["--set", 'analysis.alternative="greater"', "--set", "arms.rtx_csa.remission_at_endpoint=0.5"]
"""RTX + CsA at 0.5, below RTX alone at 0.6, tested one-sided for superiority: a world with no
true benefit, so every rejection is a type I error."""


def test_cli_and_report_agree_that_a_harm_tested_one_sided_is_a_type_one_error_world(run_cli) -> None:
    from simulate.design.assumed import no_benefit
    from simulate.design.loader import load_scenario
    from simulate.report.sentences.summary import plain_summary
    from simulate.report.verdict import is_null
    from simulate.run.results import PowerResult, SampleSizePlan

    code, out, err = run_cli(["power", PLAIN_SCENARIO, "--replicates", "100", "--jobs", "1", *HARM_ONE_SIDED])
    assert code == 0, err
    label = [line.split()[0:3] for line in out.splitlines() if line.startswith("  type I error") or
             line.startswith("  power ")]
    assert label == [["type", "I", "error"]], out
    code, out, err = run_cli(["power", PLAIN_SCENARIO, "--replicates", "100", "--jobs", "1", "--json",
                              *HARM_ONE_SIDED])
    assert code == 0, err
    p = PowerResult.from_json(json.loads(out))
    scenario = load_scenario(PLAIN_SCENARIO, [a for a in HARM_ONE_SIDED if a != "--set"])
    assert p.true_difference == pytest.approx(-0.1)
    assert is_null(p) and no_benefit(scenario)                 # the report's rule is the CLI's
    summary = plain_summary(scenario, p, SampleSizePlan((), (), ()))
    assert "here the type I error" in summary[0], summary[0]


@pytest.mark.parametrize("sets, null", [
    (["arms.rtx_csa.remission_at_endpoint=0.5"], False),                  # two-sided: a harm is a difference
    (['analysis.alternative="greater"'], False),                          # one-sided, a true benefit
    (['analysis.alternative="greater"', "arms.rtx_csa.remission_at_endpoint=0.6"], True),
    (['analysis.hypothesis="non_inferiority"', "analysis.margin=0.1", 'analysis.alternative="greater"',
      'analysis.test="farrington_manning"', "arms.rtx_csa.remission_at_endpoint=0.5"], True),   # at the margin
    (['analysis.hypothesis="non_inferiority"', "analysis.margin=0.1", 'analysis.alternative="greater"',
      'analysis.test="farrington_manning"', "arms.rtx_csa.remission_at_endpoint=0.55"], False),
])
def test_the_scenario_and_its_result_read_the_one_rule_alike(sets: list[str], null: bool) -> None:
    from simulate.design.assumed import no_benefit, result_has_no_benefit
    from simulate.design.loader import load_scenario
    from simulate.run.power import estimate_power

    scenario = load_scenario(PLAIN_SCENARIO, ["simulation.block_size=20", *sets])
    assert no_benefit(scenario) is null
    assert result_has_no_benefit(estimate_power(scenario, 20, 1, 1)) is null


def test_with_intercurrent_events_equal_rates_are_not_the_null_but_the_null_scenario_is() -> None:
    """The registered scenario's rescue at month 12 is a composite failure: RTX + CsA remits
    sooner, so fewer of its patients are rescued, and equal rates at month 24 still leave a true
    difference in the estimand. The null the CLI and the lab build makes the arms alike."""
    from simulate.design.assumed import no_benefit, result_has_no_benefit
    from simulate.design.null_world import null_scenario
    from simulate.design.loader import load_scenario
    from simulate.population.intercurrent import true_differences
    from simulate.run.power import estimate_power

    equal = load_scenario(DEFAULT_SCENARIO, ["simulation.block_size=20", 'analysis.alternative="greater"',
                                             "arms.rtx_csa.remission_at_endpoint=0.6"])
    difference, se = true_differences(equal)["rtx_csa"]
    assert difference > 10 * se and not no_benefit(equal)
    null, note = null_scenario(equal)
    assert true_differences(null)["rtx_csa"] == (0.0, 0.0) and no_benefit(null)
    assert "intercurrent events" in note
    assert result_has_no_benefit(estimate_power(null, 20, 1, 1))


@pytest.mark.parametrize("sets, null", [
    (["arms.rtx_tac.remission_at_endpoint=0.6"], False),                  # any: the other arm still has a benefit
    (['analysis.success="all"', "arms.rtx_tac.remission_at_endpoint=0.6"], True),   # all: one arm lacks it
    (['analysis.success="rtx_tac"', "arms.rtx_tac.remission_at_endpoint=0.6"], True),
    (['analysis.success="rtx_csa"', "arms.rtx_tac.remission_at_endpoint=0.6"], False),
])
def test_several_arms_read_the_rule_by_what_power_counts(sets: list[str], null: bool) -> None:
    from simulate.design.assumed import no_benefit, result_has_no_benefit
    from simulate.design.loader import load_scenario
    from simulate.run.power import estimate_power

    scenario = load_scenario("three_arm", ["simulation.block_size=20", *sets])
    assert no_benefit(scenario) is null
    assert result_has_no_benefit(estimate_power(scenario, 20, 1, 1)) is null


def test_the_lab_reads_the_same_rule() -> None:
    from simulate.design.loader import load_scenario
    from simulate.teach.lab import many_trials

    scenario = load_scenario(DEFAULT_SCENARIO, ["simulation.block_size=20", "simulation.replicates=20",
                                                *[a for a in HARM_ONE_SIDED if a != "--set"]])
    assert many_trials(scenario).null
    assert not many_trials(load_scenario(DEFAULT_SCENARIO, ["simulation.block_size=20",
                                                            "simulation.replicates=20"])).null
