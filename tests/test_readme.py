"""The README tells the truth: its example commands run, its options exist, its field
reference is the one the models generate."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from simulate.cli import cli, main
from simulate.docs import markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SIMULATING = {"power", "samplesize", "sweep", "run"}


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
    assert len(usage) == 7
    lines = README.splitlines()
    at = next(i for i, line in enumerate(lines) if "also take:" in line)
    shared = re.findall(r"--[a-z-]+", lines[at + 1])
    assert shared
    for line in usage:
        name = line.split()[1]
        command = cli.commands[name]
        options = {opt for p in command.params for opt in p.opts}
        for flag in re.findall(r"--[a-z-]+", line.split("#")[0]):
            assert flag in options, f"README shows {flag} for `trialsim {name}`"
        if name in SIMULATING:
            for flag in shared:
                assert flag in options, f"README says `trialsim {name}` takes {flag}"


def test_field_reference_is_current() -> None:
    table = markdown()
    assert table in README, "regenerate the README's field reference with `python -m simulate.docs`"
