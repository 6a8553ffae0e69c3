"""Property: a scenario that ``trialsim validate`` accepts runs to the end.

Scenarios are drawn around the shipped NCT04743739, a few ``--set`` overrides at once. The
fields come from walking the scenario models (:func:`simulate.design.reference.walk_fields`), each number
anywhere in its bounds, the edges included, so a new field is drawn without being listed here;
lists of numbers, an arm's courses, published remission points, the choices of the fields that
have them and whole tables of 2 to 8 arms are drawn too. Each scenario goes through the command
line, each command a process of its own under a memory limit: ``validate``, and when it says OK,
``cohort``, ``power`` and ``trial`` (and in the longer run, now and then the main job, ``run``).
None may end in a traceback: a scenario is refused (exit code 2, one ``error:`` line per problem)
or runs (exit code 0); a run may still be refused for its size, with one line.

The drawn scenarios' commands are forked from a server that has imported the package once
(:mod:`forked_commands`: each child runs ``main()`` as ``python -m simulate.cli`` does, under the
same limit); the shipped scenario's go through ``python -m simulate.cli`` itself, and the harness
checks that both ways give the same exit code, stdout and stderr.
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from simulate.design.reference import Rule, rule_of, walk_fields
from simulate.design.loader import read_scenario_data
from simulate.design.fields import MAX_ARMS

from conftest import DEFAULT_SCENARIO
from forked_commands import ForkedCommands

RULES: dict[str, Rule] = {path: rule_of(field) for path, _, _, field in walk_fields()}
"""What every field of the scenario allows, by dotted path (``arms.<arm>.`` for an arm's fields,
``[].`` for the fields of a list's tables)."""
NUMBERS = sorted(path for path, rule in RULES.items() if rule.numeric)
CHOICES = sorted(path for path, rule in RULES.items() if rule.choices)
BASE = read_scenario_data(DEFAULT_SCENARIO)
ARM_TEMPLATE = {"label": "Arm", "remission_at_endpoint": 0.6, "median_months_to_remission": 6.0,
                "complete_share_of_remission": 0.5}
"""The required fields of an arm drawn from nothing (each then drawn within its bounds)."""
CNI_COURSE = {"drug": "cyclosporine", "drug_class": "cni", "months": 6.0}

MEMORY_LIMIT = 6 * 2**30
"""Address space of each command (bytes): a run that would need more fails with MemoryError."""
TIMEOUT_SECONDS = 600
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONHASHSEED": "0"}
REPLICATES = "20"
COHORT = "2000"
"""Simulated trials of each power run, and referred patients of each cohort drawn."""


# --------------------------------------------------------------------------- drawing values


def _edges(rule: Rule) -> tuple[float, float]:
    """The smallest and the largest value a number field allows."""
    lo, hi = rule.lower, rule.upper
    if rule.kind is int:
        return lo + rule.lower_open, hi - rule.upper_open
    return (math.nextafter(lo, math.inf) if rule.lower_open else lo,
            math.nextafter(hi, -math.inf) if rule.upper_open else hi)


def number(rule: Rule) -> st.SearchStrategy:
    """A value anywhere within a number field's bounds, its edges drawn often."""
    lo, hi = _edges(rule)
    if rule.kind is int:
        return st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi))
    return st.one_of(st.sampled_from([lo, hi]),
                     st.floats(lo, hi, allow_nan=False, allow_infinity=False),
                     st.integers(math.ceil(lo), math.floor(hi)) if math.ceil(lo) <= math.floor(hi) else st.nothing())


def value(path: str) -> st.SearchStrategy:
    """A value of one field: a number, a choice, or a list of either."""
    rule = RULES[path]
    one = st.sampled_from(rule.choices) if rule.choices else number(rule)
    if not rule.many:
        return one
    longest = rule.max_length if rule.max_length is not None else 12
    values = st.one_of(st.lists(one, max_size=min(longest, 6)), st.lists(one, min_size=longest, max_size=longest))
    sensible = SENSIBLE.get(path.rsplit(".", 1)[-1])
    return st.one_of(values, values.map(sensible)) if sensible else values


def _ordered(values: list) -> list:
    return sorted(set(values))


SENSIBLE = {
    "visit_months": lambda v: _ordered([0, *v, BASE["trial"]["endpoint_month"]]),
    "information_fractions": lambda v: _ordered([*v, 1.0]),
    "dose_days": _ordered,
    "block_sizes": lambda v: _ordered([2 * max(1, round(x / 2)) for x in v]),
    "stratify_by": _ordered,
}
"""The lists a field's meaning asks for (in order, without repeats; visits with the baseline
and the endpoint; looks ending with the final analysis; blocks of whole 1:1 pairs), drawn beside
lists of any values."""


def toml(x) -> str:
    """A value as a ``--set`` override writes it (a TOML value)."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, float)):
        return repr(x)
    if isinstance(x, str):
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(toml(v) for v in x) + "]"
    return "{" + ", ".join(f"{k} = {toml(v)}" for k, v in x.items()) + "}"


# --------------------------------------------------------------------------- drawing scenarios


@st.composite
def arm_table(draw, allocation_free: bool, any_median: bool) -> dict:
    """One arm, each number within its bounds (the median, unless ``any_median``, one the
    endpoint leaves room for)."""
    arm = {k: draw(number(RULES[f"arms.<arm>.{k}"])) for k in ARM_TEMPLATE if RULES[f"arms.<arm>.{k}"].numeric}
    median = RULES["arms.<arm>.median_months_to_remission"]
    if not any_median:
        arm["median_months_to_remission"] = draw(st.floats(_edges(median)[0], BASE["trial"]["endpoint_month"] / 2))
    arm["label"] = draw(st.sampled_from(["A", "Control", "RTX + CsA"]))
    allocation = RULES["arms.<arm>.allocation"]
    arm["allocation"] = draw(number(allocation) if allocation_free else st.integers(1, 3))
    if draw(st.booleans()):
        arm["relapse_hazard_per_month"] = draw(number(RULES["arms.<arm>.relapse_hazard_per_month"]))
    if draw(st.booleans()):
        arm["courses"] = [CNI_COURSE]
    return arm


@st.composite
def arms_overrides(draw) -> tuple[list[str], list[str]]:
    """A whole table of arms (2 to MAX_ARMS, now and then too few or too many), the control
    arm and blocks that fit its allocation: (overrides, the arms' ids)."""
    n = draw(st.sampled_from([2, 3, MAX_ARMS]) if draw(st.integers(0, 4)) else st.integers(0, MAX_ARMS + 1))
    free = draw(st.booleans())
    ids = [f"arm{i}" for i in range(n)]
    arms = {i: draw(arm_table(free, any_median=k == 0 and draw(st.integers(0, 4)) == 0)) for k, i in enumerate(ids)}
    out = [f"arms={toml(arms)}", "sweep={}"]     # the shipped grid names the shipped arms
    if ids:
        out.append(f"trial.control_arm={toml(ids[0])}")
        unit = sum(a["allocation"] for a in arms.values())
        if draw(st.integers(0, 9)):
            out.append(f"randomisation.block_sizes={toml([unit, 2 * unit])}")
    return out, ids or ["rtx"]


def _arm_courses(arm: str) -> list[dict]:
    courses = BASE["arms"].get(arm, {}).get("courses")
    return [dict(c) for c in courses] if courses else [dict(CNI_COURSE)]


@st.composite
def field_override(draw, path: str, arms: list[str]) -> str:
    """``path=value`` for one field, the path's ``<arm>`` one of the arms; a field of a list's
    tables changes one table of the list (an arm's courses, the published remission points)."""
    arm = draw(st.sampled_from(arms))
    if "courses[]." in path:
        courses = _arm_courses(arm)
        courses[draw(st.integers(0, len(courses) - 1))][path.rsplit(".", 1)[-1]] = draw(value(path))
        return f"arms.{arm}.courses={toml(courses)}"
    if path.startswith("observed.remission[]."):
        points = [{"arm": draw(st.sampled_from(arms)), "month": BASE["trial"]["endpoint_month"], "remission": 0.5}
                  for _ in range(draw(st.integers(1, 3)))]
        points[0][path.rsplit(".", 1)[-1]] = draw(value(path))
        return f"observed.remission={toml(points)}"
    return f"{path.replace('<arm>', arm)}={toml(draw(value(path)))}"


INTERIM = ["interim.information_fractions=[0.5, 1.0]", 'analysis.alternative="greater"', 'analysis.test="ztest"']
"""A group-sequential design the shipped scenario accepts (so the interim fields drawn beside it
are used)."""
NON_INFERIORITY = ['analysis.hypothesis="non_inferiority"', "analysis.margin=0.15", 'analysis.alternative="greater"',
                   'analysis.test="farrington_manning"']
"""A non-inferiority design the shipped scenario accepts (the margin drawn beside it is used)."""


@st.composite
def scenario_overrides(draw) -> list[str]:
    """A few overrides of the shipped scenario at once."""
    overrides: list[str] = []
    arms = list(BASE["arms"])
    if draw(st.integers(0, 4)) == 0:
        table, arms = draw(arms_overrides())
        overrides += table
    for design in (INTERIM, NON_INFERIORITY):
        if draw(st.integers(0, 4)) == 0:
            overrides += design
    paths = draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=4, unique=True))
    paths += draw(st.lists(st.sampled_from(CHOICES), max_size=2, unique=True))
    overrides += [draw(field_override(p, arms)) for p in paths]
    if draw(st.integers(0, 5)):
        overrides.append("sweep={}")            # the grid names the shipped arms and fields
    return overrides


# --------------------------------------------------------------------------- running


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def trialsim(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``trialsim ARGS`` in a subprocess under the memory limit."""
    return subprocess.run([sys.executable, "-m", "simulate.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=ENV, preexec_fn=_limit_memory, timeout=TIMEOUT_SECONDS)


Command = Callable[[list[str], Path], subprocess.CompletedProcess]


FORKS = sys.platform.startswith("linux")
"""Whether commands are forked from a server (Linux); elsewhere each is a subprocess of its own."""


@pytest.fixture(scope="module")
def forked() -> Iterator[Command]:
    """``trialsim ARGS`` in a process forked from a server that has imported the package, with
    the same environment and under the same memory limit as :func:`trialsim` (on Linux;
    elsewhere :func:`trialsim` itself)."""
    if not FORKS:
        yield trialsim
        return
    with ForkedCommands(ENV, _limit_memory, TIMEOUT_SECONDS) as server:
        yield server


def _explain(command: str, overrides: list[str], result: subprocess.CompletedProcess) -> str:
    sets = " ".join(f"--set '{o}'" for o in overrides)
    return f"trialsim {command} nct04743739 {sets}\nexit {result.returncode}\n{result.stderr[-4000:]}"


def check(command: str, overrides: list[str], result: subprocess.CompletedProcess, most_lines: int | None) -> None:
    """No traceback: exit 0, or 2 with ``error:`` lines only (at most ``most_lines``)."""
    why = _explain(command, overrides, result)
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr, why
    if result.returncode == 0:
        return
    lines = result.stderr.splitlines()
    assert result.returncode == 2, why
    assert lines and all(line.startswith("error: ") for line in lines), why
    assert most_lines is None or len(lines) <= most_lines, why


def validate_then_run(overrides: list[str], out: Path, main_job: bool = False, trialsim: Command = trialsim) -> str:
    """Validate the scenario and, if it is valid, run it (power and one trial, and with
    ``main_job`` the main job too), each command through ``trialsim``; what happened, in a word."""
    sets = [a for o in overrides for a in ("--set", o)]
    result = trialsim(["validate", str(DEFAULT_SCENARIO), *sets], out)
    check("validate", overrides, result, None)
    if result.returncode != 0:
        return "refused"
    assert result.stdout.strip() == "OK", _explain("validate", overrides, result)
    result = trialsim(["cohort", str(DEFAULT_SCENARIO), "--n", COHORT, "--json", *sets], out)
    check("cohort", overrides, result, 1)
    result = trialsim(["power", str(DEFAULT_SCENARIO), "--replicates", REPLICATES, "--jobs", "1", *sets], out)
    check("power", overrides, result, 1)
    result = trialsim(["trial", str(DEFAULT_SCENARIO), "--out", str(out / "trial"), *sets], out)
    check("trial", overrides, result, 1)
    if main_job and result.returncode == 0:
        result = trialsim(["run", str(DEFAULT_SCENARIO), "--replicates", REPLICATES, "--jobs", "1",
                           "--out", str(out / "run"), *sets], out)
        check("run", overrides, result, 1)
    return "run" if result.returncode == 0 else "refused for its size"


PROPERTY = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


EXAMPLES = int(os.environ.get("TRIALSIM_PROPERTY_EXAMPLES", "50"))
"""Scenarios of the longer run, drawn in two halves: this file's and test_scenario_properties_more.py's
(each file on a test process of its own, under ``pytest -n``)."""
MANY = dict(overrides=scenario_overrides(), main_job=st.integers(0, 3).map(lambda k: k == 0))
"""What the longer run draws: a scenario, and whether the main job runs too (a quarter of them)."""


@pytest.mark.slow
@settings(max_examples=max(1, (EXAMPLES + 1) // 2), **PROPERTY)
@given(**MANY)
def test_a_valid_scenario_runs_to_the_end_many(overrides: list[str], main_job: bool, tmp_path_factory,
                                               forked: Command) -> None:
    """More scenarios, a quarter of them also through the main job (`trialsim run`: sample
    size, report and plots); the other half in test_scenario_properties_more.py."""
    event(validate_then_run(overrides, tmp_path_factory.mktemp("run"), main_job, trialsim=forked))


# --------------------------------------------------------------------------- the harness itself


def test_every_number_is_bounded_on_both_sides() -> None:
    unbounded = [p for p in NUMBERS if RULES[p].lower is None or RULES[p].upper is None]
    assert not unbounded, f"give these fields bounds (Field(ge=..., le=...)): {unbounded}"


def test_the_walk_finds_the_fields_of_every_kind() -> None:
    assert RULES["analysis.alpha"] == Rule(kind=float, lower=1e-6, upper=0.5)
    assert RULES["trial.visit_months"].many and RULES["trial.visit_months"].max_length is not None
    for path in ("arms.<arm>.allocation", "arms.<arm>.courses[].months", "interim.hsd_gamma",
                 "observed.remission[].month", "observed.n_randomised", "simulation.seed"):
        assert path in NUMBERS
    assert "analysis.test" in CHOICES and "randomisation.stratify_by" in CHOICES


@given(rule=st.sampled_from([RULES[p] for p in NUMBERS]).flatmap(lambda r: st.tuples(st.just(r), number(r))))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_drawn_numbers_stay_within_their_bounds(rule) -> None:
    rule, x = rule
    lo, hi = _edges(rule)
    assert lo <= x <= hi


@pytest.mark.slow
def test_the_shipped_scenario_runs_under_the_memory_limit(tmp_path: Path) -> None:
    assert validate_then_run(["sweep={}"], tmp_path) == "run"
    assert (tmp_path / "trial" / "patients.csv").is_file()


def test_the_memory_limit_holds(tmp_path: Path) -> None:
    result = trialsim(["--version"], tmp_path)
    assert result.returncode == 0
    grab = subprocess.run([sys.executable, "-c", f"bytearray({MEMORY_LIMIT})"], capture_output=True, text=True,
                          env=ENV, preexec_fn=_limit_memory, timeout=60)
    assert grab.returncode != 0 and "MemoryError" in grab.stderr


def test_a_refusal_is_seen_as_one(tmp_path: Path) -> None:
    overrides = ["analysis.alpha=1e-20"]
    result = trialsim(["validate", str(DEFAULT_SCENARIO), "--set", overrides[0]], tmp_path)
    check("validate", overrides, result, 1)
    assert result.returncode == 2 and result.stderr.startswith("error: analysis.alpha: got 1e-20;")


@pytest.mark.slow
@pytest.mark.skipif(not FORKS, reason="commands are forked from a server on Linux only")
def test_a_forked_command_is_seen_as_a_subprocess_sees_it(tmp_path: Path, forked: Command) -> None:
    for args in (["--version"], ["validate", str(DEFAULT_SCENARIO), "--set", "sweep={}"],
                 ["validate", str(DEFAULT_SCENARIO), "--set", "analysis.alpha=1e-20", "--set", "trial.n_per_arm=0"],
                 ["cohort", str(DEFAULT_SCENARIO), "--n", "500", "--json"], ["power", "no-such-scenario.toml"]):
        alone, fork = trialsim(args, tmp_path), forked(args, tmp_path)
        assert (fork.returncode, fork.stdout, fork.stderr) == (alone.returncode, alone.stdout, alone.stderr), args
        assert alone.stdout or alone.stderr


@pytest.mark.slow
@pytest.mark.skipif(not FORKS, reason="commands are forked from a server on Linux only")
def test_the_forked_commands_run_under_the_memory_limit(forked: ForkedCommands) -> None:
    limits = Path(f"/proc/{forked.pid}/limits").read_text(encoding="utf-8")
    address_space = next(line.split() for line in limits.splitlines() if line.startswith("Max address space"))
    assert address_space[3:5] == [str(MEMORY_LIMIT)] * 2


@pytest.mark.slow
@pytest.mark.skipif(not FORKS, reason="commands are forked from a server on Linux only")
def test_an_exception_in_a_forked_command_is_its_traceback_and_the_server_goes_on(tmp_path: Path,
                                                                                   forked: ForkedCommands) -> None:
    failed = forked(["--version"], tmp_path / "no-such-folder")      # the child cannot enter it
    assert failed.returncode == 1 and "Traceback" in failed.stderr and "FileNotFoundError" in failed.stderr
    with pytest.raises(AssertionError, match="Traceback"):
        check("--version", [], failed, 1)
    assert forked(["--version"], tmp_path).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not FORKS, reason="commands are forked from a server on Linux only")
def test_a_forked_command_past_its_time_is_ended_as_subprocess_run_ends_it(tmp_path: Path,
                                                                            forked: ForkedCommands) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        forked.run(["power", str(DEFAULT_SCENARIO), "--replicates", "1000000", "--jobs", "1"], tmp_path, timeout=0.5)
    assert forked(["--version"], tmp_path).returncode == 0
