"""Scenario files: the shipped scenario, validation at the boundary, overrides, hashing, and
the documentation of every figure (DESIGN.md invariants 1 and 5)."""

from __future__ import annotations

import ast
import copy
import math
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import simulate.design.scenario as scenario_module
from simulate.errors import ScenarioError, TrialSimError
from simulate.design.loader import load_scenario, parse_override, scenario_from_dict, with_overrides
from simulate.design.scenario import Scenario, scenario_hash

from conftest import DEFAULT_SCENARIO, SHIPPED_SCENARIOS, edit_scenario_text


def get_path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def problems_of(excinfo: pytest.ExceptionInfo[ScenarioError]) -> list[str]:
    return excinfo.value.problems


def assert_line_names(problems: list[str], path: str, value: str | None) -> None:
    """Some line names the field path and (if given) the offending value."""
    hits = [p for p in problems if path in p and (value is None or value in p)]
    assert hits, f"no line names {path!r} with value {value!r}: {problems}"


# --------------------------------------------------------------------------- the shipped scenario

REQUIRED_PATHS = [
    "trial.n_per_arm",
    "trial.endpoint_month",
    "trial.recruitment_months",
    "arms.rtx.remission_at_endpoint",
    "arms.rtx_csa.remission_at_endpoint",
    "dropout.probability_by_endpoint",
    "dropout.mechanism",
    "outcome.covariate_effects",
    "analysis.test",
    "analysis.alpha",
    "analysis.missing",
    "recruitment.sites",
    "recruitment.rate_per_site_month",
    "simulation.seed",
    "simulation.replicates",
]


@pytest.mark.parametrize("path", SHIPPED_SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads(path: Path) -> None:
    assert isinstance(load_scenario(path), Scenario)


def test_required_paths_are_set_and_in_the_file_not_only_defaults(scenario: Scenario, scenario_data: dict) -> None:
    """The shipped file states each required value itself rather than leaning on a default."""
    offenders = []
    for dotted in REQUIRED_PATHS:
        node = scenario_data
        for part in dotted.split("."):
            if part not in node:
                offenders.append(f"{dotted}: not written in {DEFAULT_SCENARIO.name}")
                break
            node = node[part]
        if get_path(scenario, dotted) is None:
            offenders.append(f"{dotted}: None in the loaded scenario")
    assert not offenders, "\n".join(offenders)


def test_covariate_effects_is_a_bool(scenario: Scenario) -> None:
    assert type(scenario.outcome.covariate_effects) is bool


def test_registered_design_values(scenario: Scenario) -> None:
    s = scenario
    assert s.name == "nct04743739"
    assert s.trial.n_per_arm == 63
    assert s.allocation == (1, 1) and s.control_arm == "rtx" and s.experimental_arms == ("rtx_csa",)
    assert s.n_target == 126  # planned enrolment in the registry
    assert s.recruitment.sites == 4  # PUMCH, Fuwai, Tongren, Luhe
    assert s.trial.endpoint_month == 24
    assert s.trial.endpoint_month in s.trial.visit_months
    assert s.arms["rtx"].remission_at_endpoint == 0.60
    assert s.arms["rtx_csa"].remission_at_endpoint == 0.85
    assert s.analysis.test == "fisher"
    assert s.analysis.alpha == 0.05
    assert s.analysis.alternative == "two-sided"
    assert s.analysis.missing == "nonresponder"
    assert s.eligibility.age_min_years == 18 and s.eligibility.age_max_years == 80
    assert s.eligibility.proteinuria_min_g_day == 4.0
    assert s.eligibility.egfr_min_ml_min == 40.0


def test_n_target_follows_the_allocation(scenario: Scenario) -> None:
    s = with_overrides(scenario, {"arms.rtx_csa.allocation": 2, "randomisation.block_sizes": [3, 6]})
    assert s.n_target == 63 * 3


# --------------------------------------------------------------------------- frozen


def test_scenario_is_frozen(scenario: Scenario) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        scenario.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        scenario.trial = scenario.trial  # type: ignore[misc]


@pytest.mark.parametrize("dotted", ["trial.n_per_arm", "arms.rtx.remission_at_endpoint",
                                    "cohort.male_fraction", "simulation.seed"])
def test_nested_sections_are_frozen(scenario: Scenario, dotted: str) -> None:
    *parent, leaf = dotted.split(".")
    section = get_path(scenario, ".".join(parent))
    before = getattr(section, leaf)
    with pytest.raises(ValidationError, match="frozen"):
        setattr(section, leaf, before)
    assert getattr(section, leaf) == before


def test_sequences_are_immutable_tuples(scenario: Scenario) -> None:
    assert isinstance(scenario.trial.visit_months, tuple)
    assert isinstance(scenario.randomisation.block_sizes, tuple)
    assert isinstance(scenario.arms["rtx"].courses, tuple)
    assert isinstance(scenario.arms["rtx"].courses[0].dose_days, tuple)
    with pytest.raises(TypeError, match="frozen"):
        scenario.arms["rtx"] = scenario.arms["rtx_csa"]  # type: ignore[index]
    assert hash(scenario) == hash(load_scenario(DEFAULT_SCENARIO))


def test_sweep_table_cannot_be_mutated_after_loading() -> None:
    s = load_scenario(DEFAULT_SCENARIO)
    with pytest.raises(TypeError):
        s.sweep["trial.n_per_arm"] = ("not a number",)  # type: ignore[index]


# --------------------------------------------------------------------------- bad input: one line per problem

# (id, overrides, [(path named, value named), ...])
BAD_OVERRIDES: list[tuple[str, list[str], list[tuple[str, str | None]]]] = [
    ("unknown-key-typo", ["trial.n_per_arms=63"], [("trial.n_per_arms", "did you mean 'n_per_arm'")]),
    ("unknown-section-typo", ["trail.n_per_arm=63"], [("trail", "did you mean 'trial'")]),
    ("unknown-arm-key", ["arms.rtx.remision_at_endpoint=0.6"],
     [("arms.rtx.remision_at_endpoint", "did you mean 'remission_at_endpoint'")]),
    ("wrong-type-int", ["trial.n_per_arm=abc"], [("trial.n_per_arm", "'abc'")]),
    ("wrong-type-fraction-int", ["trial.n_per_arm=63.5"], [("trial.n_per_arm", "63.5")]),
    ("wrong-type-literal", ["analysis.test=wilcoxon"], [("analysis.test", "'wilcoxon'")]),
    ("wrong-type-section", ["trial=5"], [("trial", "5")]),
    ("probability-above-1", ["arms.rtx.remission_at_endpoint=1.5"], [("arms.rtx.remission_at_endpoint", "1.5")]),
    ("probability-below-0", ["cohort.male_fraction=-0.1"], [("cohort.male_fraction", "-0.1")]),
    ("probability-nan", ["arms.rtx_csa.remission_at_endpoint=nan"], [("arms.rtx_csa.remission_at_endpoint", "nan")]),
    ("dropout-certain", ["dropout.probability_by_endpoint=1.0"], [("dropout.probability_by_endpoint", "1.0")]),
    ("loss-probability", ["recruitment.loss_during_deferral_probability=1.2"],
     [("recruitment.loss_during_deferral_probability", "1.2")]),
    ("alpha-out-of-range", ["analysis.alpha=0"], [("analysis.alpha", "0")]),
    ("negative-rate", ["recruitment.rate_per_site_month=-1"], [("recruitment.rate_per_site_month", "-1")]),
    ("negative-hazard", ["arms.rtx.relapse_hazard_per_month=-0.01"], [("arms.rtx.relapse_hazard_per_month", "-0.01")]),
    ("negative-duration", ["trial.recruitment_months=-3"], [("trial.recruitment_months", "-3")]),
    ("zero-duration", ["trial.hard_stop_months=0"], [("trial.hard_stop_months", "0")]),
    ("negative-mean-months", ["cohort.months_since_steroid_mmf_mean=-1"],
     [("cohort.months_since_steroid_mmf_mean", "-1")]),
    ("negative-sites", ["recruitment.sites=-4"], [("recruitment.sites", "-4")]),
    ("negative-seed", ["simulation.seed=-1"], [("simulation.seed", "-1")]),
    ("endpoint-after-follow-up", ["trial.endpoint_month=30"],
     [("trial.endpoint_month", "30"), ("trial.max_follow_up_months", "24")]),
    ("recruitment-after-hard-stop", ["trial.recruitment_months=50"],
     [("trial.recruitment_months", "50"), ("trial.hard_stop_months", "44")]),
    ("visits-without-endpoint", ["trial.visit_months=[0, 3, 6]"], [("trial.visit_months", "[0.0, 3.0, 6.0]")]),
    ("visits-without-baseline", ["trial.visit_months=[3, 24]"], [("trial.visit_months", "must include 0")]),
    ("visits-unsorted", ["trial.visit_months=[0, 24, 12]"], [("trial.visit_months", "strictly increasing")]),
    ("block-not-multiple", ["randomisation.block_sizes=[3]"], [("randomisation.block_sizes", "[3]")]),
    ("block-vs-ratio", ["arms.rtx_csa.allocation=2"], [("randomisation.block_sizes", "[2, 4]")]),
    ("block-empty", ["randomisation.block_sizes=[]"], [("randomisation.block_sizes", "[]")]),
    ("cmh-without-strata", ["analysis.test=cmh"], [("analysis.test", "'cmh'"), ("randomisation.stratify_by", None)]),
    ("unknown-stratum", ["randomisation.stratify_by=['sex']"], [("randomisation.stratify_by", "'sex'")]),
    ("screening-days", ["recruitment.screening_days_min=20"], [("recruitment.screening_days_min", "20")]),
    ("cohort-ages", ["cohort.age_min_years=95"], [("cohort.age_min_years", "95")]),
    ("eligibility-ages", ["eligibility.age_min_years=85"], [("eligibility.age_min_years", "85")]),
    ("median-after-endpoint", ["arms.rtx.median_months_to_remission=30"],
     [("arms.rtx.median_months_to_remission", "30")]),
    ("unknown-override-path", ["foo.bar=1"], [("foo", "unknown field")]),
    ("unknown-override-leaf", ["trial.nope=1"], [("trial.nope", "unknown field")]),
    ("override-into-a-value", ["name.x=1"], [("name", "is a value")]),
    ("malformed-set-no-equals", ["trial.n_per_arm"], [("trial.n_per_arm", "path=value")]),
    ("malformed-set-empty-path", ["=3"], [("'=3'", "dotted names")]),
    ("malformed-set-empty-segment", ["trial..n_per_arm=3"], [("trial..n_per_arm", "dotted names")]),
    ("malformed-set-empty-value", ["trial.n_per_arm="], [("trial.n_per_arm=", "no value")]),
    ("malformed-set-blank-value", ["trial.n_per_arm=   "], [("trial.n_per_arm", "no value")]),
]


@pytest.mark.parametrize("overrides, expected", [c[1:] for c in BAD_OVERRIDES], ids=[c[0] for c in BAD_OVERRIDES])
def test_bad_input_names_field_and_value(scenario_data: dict, overrides: list[str],
                                         expected: list[tuple[str, str | None]]) -> None:
    with pytest.raises(ScenarioError) as excinfo:
        scenario_from_dict(scenario_data, overrides)
    problems = problems_of(excinfo)
    assert problems and all(isinstance(p, str) and "\n" not in p for p in problems)
    for path, value in expected:
        assert_line_names(problems, path, value)


def test_same_errors_through_load_scenario(scenario_path: Path) -> None:
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(scenario_path, ["trial.n_per_arms=63"])
    assert_line_names(problems_of(excinfo), "trial.n_per_arms", "did you mean 'n_per_arm'")


def test_scenario_error_is_a_trialsim_error() -> None:
    assert issubclass(ScenarioError, TrialSimError)
    err = ScenarioError(["a: one", "b: two"])
    assert err.problems == ["a: one", "b: two"] and str(err) == "a: one\nb: two"


def test_unknown_key_in_file(tmp_path: Path) -> None:
    text = edit_scenario_text(DEFAULT_SCENARIO.read_text(encoding="utf-8"), "n_per_arm", new_key="n_per_arms")
    bad = tmp_path / "typo.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(bad)
    problems = problems_of(excinfo)
    assert_line_names(problems, "trial.n_per_arms", "did you mean 'n_per_arm'")
    assert_line_names(problems, "trial.n_per_arms", "allowed here:")


def test_missing_required_section(tmp_path: Path) -> None:
    bad = tmp_path / "noarms.toml"
    bad.write_text('name = "x"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(bad)
    assert_line_names(problems_of(excinfo), "arms", "missing")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(missing)
    assert_line_names(problems_of(excinfo), str(missing), "not found")


def test_directory_is_not_a_scenario(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is a folder, not a scenario file"):
        load_scenario(tmp_path)


def test_malformed_toml(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('name = "x"\n[trial\nn_per_arm = 3\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(bad)
    problems = problems_of(excinfo)
    assert len(problems) == 1
    assert_line_names(problems, str(bad), "malformed TOML")
    assert "line 2" in problems[0]


def test_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenario(bad)


def test_name_defaults_to_file_stem(tmp_path: Path, scenario_data: dict) -> None:
    text = re.sub(r'^name\s*=.*\n', "", DEFAULT_SCENARIO.read_text(encoding="utf-8"), count=1, flags=re.MULTILINE)
    assert not re.search(r"^name\s*=", text, flags=re.MULTILINE)
    path = tmp_path / "my-variant.toml"
    path.write_text(text, encoding="utf-8")
    assert load_scenario(path).name == "my-variant"


@pytest.mark.parametrize("sweep, path, value", [
    ({"dropout.probability_by_endpoint": [0.1, 1.5]}, "sweep.dropout.probability_by_endpoint", "1.5"),
    ({"dropout.mechanism": ["mcar", "bogus"]}, "sweep.dropout.mechanism", "'bogus'"),
    ({"trial.n_per_arms": [40]}, "sweep.trial.n_per_arms", "did you mean 'n_per_arm'"),
    ({"foo.bar": [1]}, "sweep.foo.bar", "unknown field"),
    ({"trial.n_per_arm": []}, "sweep.trial.n_per_arm", "[]"),
    ({"trial.n_per_arm": 5}, "sweep.trial.n_per_arm", "5"),
    ({"trial.endpoint_month": [12, 30]}, "sweep.trial.endpoint_month", "30"),
], ids=["out-of-range", "bad-literal", "typo", "unknown-path", "empty", "not-a-list", "cross-field"])
def test_invalid_sweep_value(scenario_data: dict, sweep: dict, path: str, value: str) -> None:
    scenario_data["sweep"] = sweep
    with pytest.raises(ScenarioError) as excinfo:
        scenario_from_dict(scenario_data)
    assert_line_names(problems_of(excinfo), path, value)


def test_valid_sweep_is_kept(scenario: Scenario, scenario_data: dict) -> None:
    assert scenario.sweep, "the shipped scenario has a [sweep] table"
    assert {k: tuple(v) for k, v in scenario_data["sweep"].items()} == scenario.sweep_grid
    for path, values in scenario.sweep_grid.items():
        for value in values:
            assert get_path(with_overrides(scenario, {path: value}), path) == value


def test_several_problems_give_several_lines(scenario_data: dict) -> None:
    scenario_data["trial"]["n_per_arm"] = -1
    scenario_data["analysis"]["alpha"] = 2
    scenario_data["cohort"]["male_fraction"] = 1.5
    scenario_data["trial"]["typo_field"] = 1
    with pytest.raises(ScenarioError) as excinfo:
        scenario_from_dict(scenario_data)
    problems = problems_of(excinfo)
    assert len(problems) == 4, problems
    assert_line_names(problems, "trial.n_per_arm", "-1")
    assert_line_names(problems, "analysis.alpha", "2")
    assert_line_names(problems, "cohort.male_fraction", "1.5")
    assert_line_names(problems, "trial.typo_field", "unknown field")


def test_several_cross_field_problems_give_several_lines(scenario_data: dict) -> None:
    with pytest.raises(ScenarioError) as excinfo:
        scenario_from_dict(scenario_data, ["randomisation.block_sizes=[3]", "analysis.test=cmh",
                                           "eligibility.age_min_years=90"])
    problems = problems_of(excinfo)
    assert len(problems) == 3, problems


@pytest.mark.parametrize("override", ["trial.n_per_arm=true", 'trial.n_per_arm="63"',
                                      'outcome.covariate_effects="yes"'])
def test_wrong_toml_type_is_not_coerced(scenario_data: dict, override: str) -> None:
    with pytest.raises(ScenarioError):
        scenario_from_dict(scenario_data, [override])


@pytest.mark.parametrize("override", ["cohort.age_mean_years=inf", "recruitment.rate_per_site_month=inf",
                                      "cohort.proteinuria_mean_g_day=inf"])
def test_infinite_figures_are_rejected(scenario_data: dict, override: str) -> None:
    with pytest.raises(ScenarioError):
        scenario_from_dict(scenario_data, [override])


# --------------------------------------------------------------------------- overrides


@pytest.mark.parametrize("text, keys, value", [
    ("dropout.probability_by_endpoint=0.6", ["dropout", "probability_by_endpoint"], 0.6),
    ("outcome.covariate_effects=true", ["outcome", "covariate_effects"], True),
    ("outcome.covariate_effects=false", ["outcome", "covariate_effects"], False),
    ("randomisation.block_sizes=[2,4]", ["randomisation", "block_sizes"], [2, 4]),
    ("analysis.test=fisher", ["analysis", "test"], "fisher"),
    ('analysis.test="chi2"', ["analysis", "test"], "chi2"),
    ("trial.n_per_arm=70", ["trial", "n_per_arm"], 70),
    (" trial.n_per_arm = 70 ", ["trial", "n_per_arm"], 70),
    ("description=two words", ["description"], "two words"),
    ("arms.rtx.label=a=b", ["arms", "rtx", "label"], "a=b"),
])
def test_override_values_are_toml(text: str, keys: list[str], value: Any) -> None:
    got_keys, got = parse_override(text)
    assert got_keys == keys
    assert got == value and type(got) is type(value)


def test_overrides_are_applied(scenario_path: Path, scenario: Scenario) -> None:
    s = load_scenario(scenario_path, ["trial.n_per_arm=70", "analysis.test=chi2",
                                      "outcome.covariate_effects=false", "randomisation.block_sizes=[4, 8]"])
    assert s.trial.n_per_arm == 70
    assert s.analysis.test == "chi2"
    assert s.outcome.covariate_effects is False
    assert s.randomisation.block_sizes == (4, 8)
    # everything else is untouched
    assert s.cohort == scenario.cohort and s.arms == scenario.arms and s.sweep == scenario.sweep


def test_later_override_wins(scenario_path: Path) -> None:
    assert load_scenario(scenario_path, ["trial.n_per_arm=70", "trial.n_per_arm=71"]).trial.n_per_arm == 71


@pytest.mark.parametrize("dotted, raw", [
    ("dropout.probability_by_endpoint", "1.5"),
    ("trial.endpoint_month", "30"),
    ("randomisation.block_sizes", "[3]"),
    ("analysis.test", '"cmh"'),
    ("trial.n_per_arm", '"abc"'),
])
def test_overrides_validated_like_the_file(tmp_path: Path, scenario_path: Path, dotted: str, raw: str) -> None:
    """An override gives exactly the error lines the same value written in the file gives."""
    with pytest.raises(ScenarioError) as via_set:
        load_scenario(scenario_path, [f"{dotted}={raw}"])
    data = tomllib.loads(scenario_path.read_text(encoding="utf-8"))
    section, key = dotted.split(".")
    data[section][key] = tomllib.loads(f"v = {raw}")["v"]
    scenario_data_as_file = tmp_path / scenario_path.name
    scenario_data_as_file.write_text(_to_toml(data), encoding="utf-8")
    with pytest.raises(ScenarioError) as via_file:
        load_scenario(scenario_data_as_file)
    assert via_set.value.problems == via_file.value.problems


def _to_toml(data: dict) -> str:
    """A minimal TOML writer for the scenario's shapes (tables of scalars and lists)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):                       # an inline table (an arm's course)
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        return repr(v)

    lines: list[str] = []

    def table(prefix: str, d: dict) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            key = k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else f'"{k}"'
            lines.append(f"{key} = {value(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)

    table("", data)
    return "\n".join(lines) + "\n"


def test_toml_writer_round_trips(scenario_data: dict) -> None:
    assert tomllib.loads(_to_toml(scenario_data)) == scenario_data


def test_with_overrides(scenario: Scenario) -> None:
    s = with_overrides(scenario, {"trial.n_per_arm": 70, "arms.rtx_csa.remission_at_endpoint": 0.8})
    assert s.trial.n_per_arm == 70 and s.arms["rtx_csa"].remission_at_endpoint == 0.8
    assert scenario.trial.n_per_arm == 63 and scenario.arms["rtx_csa"].remission_at_endpoint == 0.85
    assert s.cohort == scenario.cohort
    assert s.sweep == ()  # a grid point is not itself a sweep


@pytest.mark.parametrize("overrides, path, value", [
    ({"trial.n_per_arm": -1}, "trial.n_per_arm", "-1"),
    ({"trial.nope": 1}, "trial.nope", "unknown field"),
    ({"trial.endpoint_month": 30}, "trial.endpoint_month", "30"),
])
def test_with_overrides_validates(scenario: Scenario, overrides: dict, path: str, value: str) -> None:
    with pytest.raises(ScenarioError) as excinfo:
        with_overrides(scenario, overrides)
    assert_line_names(problems_of(excinfo), path, value)


def test_scenario_hash(scenario_path: Path, scenario: Scenario) -> None:
    h = scenario_hash(scenario)
    assert re.fullmatch(r"[0-9a-f]{16}", h)
    assert scenario_hash(load_scenario(scenario_path)) == h  # stable across loads
    changed = load_scenario(scenario_path, ["trial.n_per_arm=64"])
    assert scenario_hash(changed) != h
    assert scenario_hash(load_scenario(scenario_path, ["trial.n_per_arm=63"])) == h  # same value, same hash
    assert scenario_hash(load_scenario(scenario_path, ["trial.endpoint_month=24.0"])) == h  # 24 == 24.0
    # through with_overrides (grid points)
    base = with_overrides(scenario, {})
    assert scenario_hash(with_overrides(scenario, {"trial.n_per_arm": 63})) == scenario_hash(base)
    assert scenario_hash(with_overrides(scenario, {"arms.rtx.remission_at_endpoint": 0.61})) != scenario_hash(base)
    assert scenario_hash(with_overrides(scenario, {"simulation.seed": 1})) != scenario_hash(base)


# --------------------------------------------------------------------------- every figure is documented

EXEMPT_SECTIONS = {"sweep", "simulation"}
EXEMPT_KEYS = {"name", "description", "label", "base"}  # names and structure, not figures
KEY_LINE = re.compile(r'^\s*("[^"]+"|[A-Za-z0-9_-]+)\s*=\s*(.*)$')
SECTION_LINE = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")


def _has_comment(rest: str) -> bool:
    """A '#' outside a string on the value part of a line."""
    in_str = None
    for ch in rest:
        if in_str:
            if ch == in_str:
                in_str = None
        elif ch in "\"'":
            in_str = ch
        elif ch == "#":
            return True
    return False


def scenario_key_lines(path: Path) -> list[tuple[str, str, bool]]:
    """(section, key, documented) for every ``key = value`` line of a scenario file.

    A line is documented by a comment on the line itself, or by a comment header: one or more
    comment lines directly under the section's ``[header]``.
    """
    out = []
    section, header_comment, just_opened = "", False, False
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        m = SECTION_LINE.match(s)
        if m:
            section, header_comment, just_opened = m.group(1), bool(m.group(2)), True
            continue
        if s.startswith("#"):
            if just_opened:
                header_comment = True
            continue
        just_opened = False
        k = KEY_LINE.match(s)
        if k:
            out.append((section, k.group(1).strip('"'), _has_comment(k.group(2)) or header_comment))
    return out


KNOWN_COMMENT_GAPS: set[tuple[str, str, str]] = set()
"""(scenario, section, key) lines known to lack a comment; an entry that gains one must go."""


def undocumented_scenario_lines() -> list[str]:
    """Every figure line of a shipped scenario with no comment of its own and no comment header
    over its section, as ``file: [section] key``."""
    return [f"{path.name}: [{section}] {key}"
            for path in SHIPPED_SCENARIOS
            for section, key, documented in scenario_key_lines(path)
            if not documented and section.split(".")[0] not in EXEMPT_SECTIONS and key not in EXEMPT_KEYS
            and (path.stem, section, key) not in KNOWN_COMMENT_GAPS]


def test_comment_scanner() -> None:
    assert _has_comment('1.0  # registry')
    assert not _has_comment('"a # b"')
    assert _has_comment('"a # b"  # c')


def test_scenario_key_lines_reads_the_shipped_file() -> None:
    lines = scenario_key_lines(DEFAULT_SCENARIO)
    keys = {(s, k) for s, k, _ in lines}
    assert ("trial", "n_per_arm") in keys and ("cohort", "pla2r_titre_log_sd") in keys
    assert ("sweep", "trial.n_per_arm") in keys
    assert len(lines) > 100


def test_every_figure_has_a_comment() -> None:
    """DESIGN.md invariant 5: every figure in a shipped scenario names its source or says it is
    an assumption, in a comment on its line or in a comment header over its section."""
    offenders = undocumented_scenario_lines()
    assert not offenders, ("these lines have no '#' comment (source or [assumption]):\n  "
                           + "\n  ".join(offenders))
    lines = {(p.stem, s, k): doc for p in SHIPPED_SCENARIOS for s, k, doc in scenario_key_lines(p)}
    fixed = sorted(gap for gap in KNOWN_COMMENT_GAPS if lines.get(gap, True))
    assert not fixed, f"documented now (or gone): remove from KNOWN_COMMENT_GAPS: {fixed}"


def _attribute_docstrings() -> set[tuple[str, str]]:
    """(class name, field name) of every field followed by a docstring in the scenario's models."""
    from simulate.design import analysis_plan, arms, cohort, estimand, priors

    found = set()
    nodes = [node for module in (scenario_module, analysis_plan, arms, cohort, estimand, priors)
             for node in ast.parse(Path(module.__file__).read_text(encoding="utf-8")).body]
    for node in nodes:
        if not isinstance(node, ast.ClassDef):
            continue
        for st, nxt in zip(node.body, node.body[1:]):
            if (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                found.add((node.name, st.target.id))
    return found


KNOWN_FIELD_GAPS: set[tuple[str, str]] = set()
"""(model, field) pairs known to lack a docstring and a scenario comment; a fixed one must go."""


def field_documentation() -> dict[tuple[str, str], bool]:
    """(model, field) -> documented, for every leaf field of :class:`Scenario`: by a docstring in
    simulate/design/scenario.py or a comment in any shipped scenario (a model used twice, as Arm is, is
    documented if any use is)."""
    docstrings = _attribute_docstrings()
    commented = {(s, k) for p in SHIPPED_SCENARIOS for s, k, doc in scenario_key_lines(p) if doc}
    found: dict[tuple[str, str], bool] = {}

    def walk(model: type[BaseModel], path: list[str]) -> None:
        for name, field in model.model_fields.items():
            ann = field.annotation
            args = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
            if typing.get_origin(ann) in (dict, tuple) and args:   # the arms, an arm's courses
                walk(args[-1], path + [name])
                continue
            if args and type(None) in typing.get_args(ann):          # an optional table (interim)
                walk(args[0], path + [name])
                continue
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, path + [name])
                continue
            key = (model.__name__, name)
            documented = key in docstrings or (".".join(path), name) in commented or name in EXEMPT_KEYS
            found[key] = found.get(key, False) or documented

    walk(Scenario, [])
    return found


def test_docstring_finder_sees_known_docstrings() -> None:
    docs = _attribute_docstrings()
    assert ("Trial", "n_per_arm") in docs and ("Outcome", "covariate_effects") in docs
    assert ("Cohort", "age_mean_years") in docs and ("Scenario", "sweep") in docs


def test_every_model_field_is_documented() -> None:
    """Every field a scenario can set says what it is: a docstring under it in
    simulate/design/scenario.py, or a comment beside it in a shipped scenario."""
    found = field_documentation()
    assert len(found) > 100
    offenders = sorted(f"{model}.{name}" for (model, name), documented in found.items()
                       if not documented and (model, name) not in KNOWN_FIELD_GAPS)
    assert not offenders, ("give each a docstring in simulate/design/scenario.py or a comment in the shipped "
                           "scenario:\n  " + "\n  ".join(offenders))
    fixed = sorted(gap for gap in KNOWN_FIELD_GAPS if found.get(gap, True))
    assert not fixed, f"documented now (or gone): remove from KNOWN_FIELD_GAPS: {fixed}"


def test_copy_of_data_fixture_is_independent(scenario_data: dict) -> None:
    before = copy.deepcopy(scenario_data)
    scenario_from_dict(scenario_data, ["trial.n_per_arm=70"])
    assert scenario_data == before  # scenario_from_dict does not mutate its input
