"""The public API (``import simulate``): the same numbers as the commands, one exception type
whose message is the command's line, results that turn into a dict, a frame, a summary and
HTML, and nothing written unless asked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import simulate
from conftest import PLAIN_SCENARIO, ROOT
from simulate.api.arguments import BOUNDS, FLOATS, option, set_texts, toml_value

FAST = dict(replicates=60, seed=7, jobs=1)
CLI_FAST = ["--replicates", "60", "--seed", "7", "--jobs", "1"]


def without_timings(d):
    if isinstance(d, dict):
        return {k: without_timings(v) for k, v in d.items() if k != "elapsed_seconds"}
    if isinstance(d, list):
        return [without_timings(v) for v in d]
    return d


# ----------------------------------------------------------------------------- loading


def test_overrides_as_texts_dicts_and_keywords_give_the_same_scenario() -> None:
    from simulate.design.scenario import scenario_hash

    as_text = simulate.load_scenario("nct04743739", "dropout.probability_by_endpoint=0.2", "trial.n_per_arm=70")
    as_dict = simulate.load_scenario("nct04743739", {"dropout.probability_by_endpoint": 0.2, "trial.n_per_arm": 70})
    as_keywords = simulate.load_scenario("nct04743739", **{"dropout.probability_by_endpoint": 0.2,
                                                          "trial.n_per_arm": 70})
    assert as_text.dropout.probability_by_endpoint == 0.2 and as_text.trial.n_per_arm == 70
    assert scenario_hash(as_text) == scenario_hash(as_dict) == scenario_hash(as_keywords)
    assert scenario_hash(as_text) != scenario_hash(simulate.load_scenario("nct04743739"))


def test_tables_and_lists_become_toml_inline_values() -> None:
    assert toml_value({"dropout.probability_by_endpoint": [0.0, 0.1]}, "sweep") == \
        '{ "dropout.probability_by_endpoint" = [0.0, 0.1] }'
    assert toml_value({}, "estimand") == "{  }"
    assert toml_value(True, "x") == "true" and toml_value("mar", "x") == '"mar"'
    sc = simulate.load_scenario("nct04743739", sweep={"dropout.probability_by_endpoint": [0.0, 0.1]})
    assert list(sc.sweep_grid) == ["dropout.probability_by_endpoint"]
    assert set_texts(({"a.b": 1},), {"c": "x"}) == ("a.b=1", 'c="x"')


@pytest.mark.parametrize("value", [None, float("nan"), object()])
def test_a_value_toml_cannot_hold_is_one_line(value) -> None:
    with pytest.raises(simulate.ScenarioError) as err:
        simulate.load_scenario("nct04743739", {"trial.n_per_arm": value})
    assert str(err.value).startswith("--set trial.n_per_arm: got ")
    assert "\n" not in str(err.value)


def test_the_exception_message_is_the_commands_line(run_cli) -> None:
    with pytest.raises(simulate.TrialSimError) as err:
        simulate.load_scenario("nct04743739", {"analysis.alpha": 0.7})
    code, out, stderr = run_cli(["validate", "nct04743739", "--set", "analysis.alpha=0.7"])
    assert code == 2 and out == ""
    assert stderr.strip().splitlines() == [f"error: {line}" for line in str(err.value).splitlines()]
    assert "analysis.alpha" in str(err.value) and "0.7" in str(err.value)


def test_a_missing_scenario_is_one_line() -> None:
    with pytest.raises(simulate.ScenarioError, match="no_such_trial: scenario file not found"):
        simulate.load_scenario("no_such_trial")


def test_shipped_scenarios_name_and_describe_each() -> None:
    shipped = simulate.shipped_scenarios()
    assert "nct04743739" in shipped and "mentor" in shipped
    assert all(text for text in shipped.values())


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_bound_is_the_commands_bound(name: str) -> None:
    from simulate.cli.commands import cli

    low, high = BOUNDS[name]
    found = 0
    for command in cli.commands.values():
        for p in command.params:
            if option(name) in p.opts or (name == "target_type1" and "--target-type1" in p.opts):
                assert (p.type.min, p.type.max) == (low, high), (command.name, p.opts)
                found += 1
    assert found, f"no option {option(name)}"


@pytest.mark.parametrize("name,value", [("replicates", 0), ("replicates", 1.5), ("seed", -1), ("jobs", 513),
                                        ("n_per_arm", True), ("target", 1.0), ("window", 201)])
def test_an_argument_out_of_range_is_refused_before_any_work(name: str, value, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    low, high = BOUNDS[name]
    call = simulate.sample_size if name in ("target", "window") else simulate.power
    with pytest.raises(simulate.UsageError) as err:
        call(PLAIN_SCENARIO, **{name: value})
    kind = "a number" if name in FLOATS else "a whole number"
    assert str(err.value).startswith(f"{option(name)}: got {value!r}; allowed: {kind} from ")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_engine_or_backend_is_refused() -> None:
    with pytest.raises(simulate.UsageError, match=r"--engine: got 'fast'; allowed: batch, des"):
        simulate.power(PLAIN_SCENARIO, engine="fast")
    with pytest.raises(simulate.UsageError, match=r"--backend: got 'spark'; allowed: loky, dask"):
        simulate.power(PLAIN_SCENARIO, backend="spark")


def test_work_beyond_the_memory_budget_is_refused() -> None:
    with pytest.raises(simulate.ResourceError):
        simulate.power(PLAIN_SCENARIO, replicates=100_000_000, max_memory="64M")


# ----------------------------------------------------------------------------- power


def test_power_is_what_the_command_prints(run_cli) -> None:
    r = simulate.power(PLAIN_SCENARIO, **FAST)
    code, out, _ = run_cli(["power", PLAIN_SCENARIO, *CLI_FAST, "--json"])
    assert code == 0
    assert without_timings(json.loads(out)) == without_timings(r.to_dict())
    code, text, _ = run_cli(["power", PLAIN_SCENARIO, *CLI_FAST])
    assert re.sub(r"elapsed .*", "", text).strip() == re.sub(r"elapsed .*", "", r.summary()).strip()


def test_a_power_result_has_its_figures_as_attributes_and_a_frame() -> None:
    r = simulate.power(PLAIN_SCENARIO, **FAST)
    d = r.to_dict()
    assert (r.power, r.mc_se, r.ci, r.replicates, r.seed) == (
        d["power"], d["mc_se"], (d["ci_low"], d["ci_high"]), 60, 7)
    assert r.type1_error == d["null_world"]["type1_error"]
    assert 0 <= r.power <= 1 and r.n_per_arm == d["n_per_arm"]
    frame = r.to_frame()
    assert len(frame) == 1 and frame["power"].iloc[0] == r.power
    assert list(r.comparisons()["arm"]) == [c["arm"] for c in d["comparisons"]]
    json.dumps(d, allow_nan=False)                      # plain JSON, as --json prints


def test_a_result_shows_itself_in_jupyter() -> None:
    r = simulate.power(PLAIN_SCENARIO, **FAST)
    html = r._repr_html_()
    assert "<table" in html and "null_type1_error" in html
    assert f"{r.power:.3f}" in html and "Power" in html
    assert "<details>" in html and "design" in html          # the summary, folded
    assert repr(r).startswith("<PowerResult of ")


def test_no_null_world_leaves_it_out() -> None:
    r = simulate.power(PLAIN_SCENARIO, null_world=False, **FAST)
    assert r.type1_error is None and r.to_dict()["null_world"] is None


def test_n_per_arm_overrides_a_loaded_scenario() -> None:
    r = simulate.power(simulate.load_scenario(PLAIN_SCENARIO), n_per_arm=20, null_world=False, **FAST)
    assert r.n_per_arm == 20


# ----------------------------------------------------------------------------- what writes files


def test_trial_writes_nothing_unless_asked(tmp_path: Path, monkeypatch, run_cli) -> None:
    monkeypatch.chdir(tmp_path)
    t = simulate.trial(PLAIN_SCENARIO, seed=3)
    assert list(tmp_path.iterdir()) == [] and t.folder is None
    assert len(t.to_frame()) == t.to_dict()["n_randomised"]
    assert t.summary().splitlines()[0] and "<table" in t._repr_html_()
    assert "difference" in t.verdict() and "randomised" in t.verdict()
    saved = simulate.trial(PLAIN_SCENARIO, seed=3, out=tmp_path / "t")
    assert sorted(p.name for p in saved.folder.iterdir() if not p.name.startswith(".")) == [
        "events.csv", "manifest.json", "patients.csv", "trial.json", "visits.csv"]
    code, out, _ = run_cli(["trial", PLAIN_SCENARIO, "--seed", "3", "--json", "--out", tmp_path / "cli"])
    assert code == 0 and json.loads(out) == t.to_dict()


def test_cohort_and_its_csv(tmp_path: Path, run_cli) -> None:
    c = simulate.cohort(PLAIN_SCENARIO, n=500, seed=2)
    assert len(c.to_frame()) == 500 and c.out is None
    assert c.to_dict()["screened"] == 500 and set(c.to_frame()["status"]) <= {"eligible", "deferred", "excluded"}
    code, out, _ = run_cli(["cohort", PLAIN_SCENARIO, "--n", "500", "--seed", "2", "--json"])
    assert json.loads(out) == c.to_dict()
    with pytest.raises(simulate.UsageError, match=r"--out: got '.*cohort.txt'; must be a .csv file name"):
        simulate.cohort(PLAIN_SCENARIO, n=10, out=tmp_path / "cohort.txt")
    assert list(tmp_path.iterdir()) == []


def test_sweep_returns_the_grid_and_writes_only_when_asked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    sc = simulate.load_scenario(PLAIN_SCENARIO, sweep={"dropout.probability_by_endpoint": [0.0, 0.3]})
    s = simulate.sweep(sc, **FAST)
    assert list(s.to_frame()["dropout.probability_by_endpoint"]) == [0.0, 0.3]
    assert s.to_dict()["out"] is None and list(tmp_path.iterdir()) == []
    written = simulate.sweep(sc, out=tmp_path / "grid.csv", **FAST)
    assert written.out == tmp_path / "grid.csv" and written.out.is_file()
    with pytest.raises(simulate.UsageError, match="sweep: the scenario has no \\[sweep\\] table"):
        simulate.sweep(simulate.load_scenario(PLAIN_SCENARIO, sweep={}), **FAST)


def test_sample_size_is_what_the_command_prints(run_cli) -> None:
    n = simulate.sample_size(PLAIN_SCENARIO, target=0.6, replicates=60, seed=7, jobs=1, n_max=200)
    code, out, _ = run_cli(["samplesize", PLAIN_SCENARIO, "--target", "0.6", *CLI_FAST, "--n-max", "200", "--json"])
    assert code == 0 and json.loads(out) == n.to_dict()
    assert n.n_per_arm == n.to_dict()["n_per_arm"] and len(n.to_frame()) == len(n.to_dict()["curve"])
    fig = simulate.power_curve(n)
    assert fig.axes and fig.axes[0].get_xlabel().startswith("Patients randomised per arm")


@pytest.mark.slow
def test_run_writes_its_folder_and_draws_its_figures(tmp_path: Path) -> None:
    r = simulate.run(PLAIN_SCENARIO, out=tmp_path / "run", replicates=40, seed=1, jobs=1)
    record = r.to_dict()
    assert r.report.is_file() and record["replicates"] == 40
    assert record["trialsim_version"] == simulate.__version__ and record["code_hash"] == simulate.code_hash()
    assert r.summary().startswith(r.results.summary[0])
    names = r.figure_names()
    assert "power_curve" in names and "oc_curve" in names
    fig = simulate.report_figure(r, "consort")
    assert fig is not None and fig.axes
    with pytest.raises(simulate.UsageError, match="figure: got 'pie'; allowed for this run: "):
        r.figure("pie")


# ----------------------------------------------------------------------------- the package


def test_version_prints_the_version_and_the_code_hash(run_cli) -> None:
    code, out, _ = run_cli(["--version"])
    assert code == 0
    assert out.strip() == f"trialsim {simulate.__version__} (code {simulate.code_hash()})"
    assert re.fullmatch(r"[0-9a-f]{16}", simulate.code_hash())


def test_the_version_is_the_changelogs_latest_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, flags=re.M)
    assert releases and releases[0] == simulate.__version__


def test_the_package_is_typed() -> None:
    assert (ROOT / "simulate" / "py.typed").is_file()


def test_every_public_name_is_on_the_api_page() -> None:
    page = (ROOT / "docs" / "pages" / "reference" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: simulate\.[\w.]*\.(\w+)$", page, flags=re.M))
    public = set(simulate.__all__) - {"__version__"}
    assert public <= documented, sorted(public - documented)


@pytest.mark.slow
def test_the_public_api_type_checks_as_a_user_calls_it(tmp_path: Path) -> None:
    """``py.typed`` is honest: a user's script calling the API type-checks, and a wrong call does not."""
    mypy = pytest.importorskip("mypy.api", reason="mypy comes with the test extra")
    good = tmp_path / "good.py"
    good.write_text('import simulate\n'
                    'sc: simulate.Scenario = simulate.load_scenario("nct04743739", {"trial.n_per_arm": 70})\n'
                    'r: simulate.PowerResult = simulate.power(sc, replicates=100, seed=1)\n'
                    'x: float = r.power\n'
                    'n: int | None = simulate.sample_size(sc, target=0.9).n_per_arm\n')
    bad = tmp_path / "bad.py"
    bad.write_text('import simulate\nx: str = simulate.power("nct04743739").power\n')
    options = ["--ignore-missing-imports", "--follow-imports=silent", "--no-incremental", "--cache-dir", str(tmp_path)]
    out, err, code = mypy.run([*options, str(good)])
    assert code == 0, out + err
    out, _, code = mypy.run([*options, str(bad)])
    assert code == 1 and "Incompatible types in assignment" in out


@pytest.mark.parametrize("flag,value,keyword", [("--replicates", "0", 0), ("--seed", "-1", -1), ("--jobs", "600", 600)])
def test_a_bad_number_is_the_same_line_in_python_and_on_the_command_line(run_cli, flag, value, keyword) -> None:
    with pytest.raises(simulate.UsageError) as err:
        simulate.power(PLAIN_SCENARIO, **{flag.lstrip("-"): keyword})
    code, out, stderr = run_cli(["power", PLAIN_SCENARIO, flag, value])
    assert code == 2 and out == "" and stderr.strip() == f"error: {err.value}"


def test_a_number_that_is_not_one_names_the_option(run_cli) -> None:
    code, _, stderr = run_cli(["power", PLAIN_SCENARIO, "--replicates", "2.5"])
    assert code == 2 and stderr.strip() == "error: --replicates: got '2.5'; allowed: a whole number from 1 to 100,000,000"


def test_numpy_numbers_are_numbers() -> None:
    import numpy as np

    r = simulate.power(PLAIN_SCENARIO, n_per_arm=np.int64(20), replicates=np.int64(60), seed=np.int64(7), jobs=1,
                       null_world=False)
    assert (r.n_per_arm, r.replicates, r.seed) == (20, 60, 7)
    sc = simulate.load_scenario(PLAIN_SCENARIO, {"trial.visit_months": np.array([0.0, 3.0, 6.0, 12.0, 24.0])})
    assert sc.trial.visit_months == (0.0, 3.0, 6.0, 12.0, 24.0)


def test_a_command_leaves_the_notes_logger_as_it_found_it(run_cli) -> None:
    import logging

    logger = logging.getLogger("simulate.notes")
    before = (logger.propagate, logger.level, list(logger.handlers))
    code, _, err = run_cli(["validate", "nct04743739"])
    assert code == 0
    assert (logger.propagate, logger.level, list(logger.handlers)) == before
    assert not logger.isEnabledFor(logging.INFO) or logging.getLogger().isEnabledFor(logging.INFO)


def test_the_help_shows_each_options_range(run_cli) -> None:
    code, out, _ = run_cli(["cohort", "--help"])
    assert code == 0 and "1<=x<=20000000" in out
