"""The README tells the truth: its example commands run, its options exist, its field
reference is the one the models generate."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from simulate.cli import cli, main
from simulate.design.reference import markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SIMULATING = {"power", "samplesize", "sweep", "run", "calibrate"}


def example_commands() -> list[str]:
    """Concrete `trialsim ...` lines of the README (with a real scenario file, no placeholder)."""
    lines = [line.split("  #")[0].strip() for line in README.splitlines()]
    return [line for line in lines if line.startswith("trialsim ") and "scenarios/" in line and "<" not in line]


def test_the_readme_has_examples() -> None:
    assert len(example_commands()) >= 4


@pytest.mark.parametrize("command", example_commands())
def test_readme_example_runs(command: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[1:]
    if args[0] in SIMULATING:
        args += ["--replicates", "40", "--set", "simulation.block_size=40", "--jobs", "1"]
    if args[0] in {"sweep", "run", "trial"} and "--out" not in args:
        args += ["--out", str(tmp_path / ("sweep.csv" if args[0] == "sweep" else "out"))]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    if "--json" in args:
        json.loads(out)


def test_every_option_in_the_usage_lines_exists() -> None:
    usage = [line for line in README.splitlines() if re.match(r"^trialsim \w+\s+SCENARIO", line)]
    assert len(usage) == 8
    lines = README.splitlines()
    at = next(i for i, line in enumerate(lines) if "also take:" in line)
    shared = re.findall(r"--[a-z-]+", lines[at + 1])
    assert shared
    for line in usage:
        name = line.split()[1]
        command = cli.commands[name]
        options = {opt for p in command.params for opt in p.opts}
        for flag in re.findall(r"--[a-z0-9-]+", line.split("#")[0]):
            assert flag in options, f"README shows {flag} for `trialsim {name}`"
        if name in SIMULATING:
            for flag in shared:
                assert flag in options, f"README says `trialsim {name}` takes {flag}"


def test_field_reference_is_current() -> None:
    table = markdown()
    assert table in README, "regenerate the README's field reference with `python -m simulate.design.reference`"


def test_every_bound_is_in_the_field_reference() -> None:
    from simulate.design.reference import _number, field_rows, rule_of, walk_fields

    allowed = {path: text for path, _, text, _ in field_rows()}
    rows = {path: line for line in markdown().splitlines() if line.startswith("| `")
            for path in [line.split("`")[1]]}
    checked = 0
    for path, _, _, field in walk_fields():
        rule = rule_of(field)
        for bound in (rule.lower, rule.upper):
            if bound is not None:
                assert _number(bound) in allowed[path], f"{path}: {_number(bound)} not in {allowed[path]!r}"
                assert f"| {allowed[path]} |" in rows[path]
                checked += 1
        if rule.max_length is not None:
            assert f"at most {rule.max_length}" in allowed[path]
    assert checked > 200
    assert "| 1e-06 to 0.5 |" in rows["analysis.alpha"] and "| 2 to 8 [arms.<id>] tables |" in rows["arms"]


def test_the_shared_bounds_are_explained_under_the_field_reference() -> None:
    from simulate.design import fields as scenario

    table = markdown()
    for name in ("FOLLOW_UP_MONTHS_MAX", "CALENDAR_MONTHS_MAX", "AGE_YEARS_MAX", "MAX_VISITS", "MAX_LOOKS"):
        line = next(line for line in table.splitlines() if line.startswith(f"* `{name}` = "))
        assert len(line) > len(f"* `{name}` = {getattr(scenario, name)}: ") + 20, line
