"""A newcomer's path: a wheel built from this repository works without the checkout, with the
shipped scenarios as package data, listed by `trialsim scenarios` and usable by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SHIPPED_SCENARIOS


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The wheel, installed (without dependencies: those of this environment serve) into a
    folder of its own."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"),
                            str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    assert "deprecated" not in build.stderr.lower(), build.stderr
    (wheel,) = (work / "dist").glob("trialsim-*.whl")
    target = work / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    return target


def run_installed(target: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


@pytest.mark.slow
def test_the_wheel_carries_the_scenarios_and_runs_them_by_name(installed_wheel: Path, tmp_path: Path) -> None:
    assert list(installed_wheel.glob("trialsim-*.dist-info/licenses/LICENSE")), "the licence travels with the wheel"
    where = run_installed(installed_wheel, "import simulate; print(simulate.__file__)", tmp_path)
    assert where.stdout.strip().startswith(str(installed_wheel)), where
    cli = "import sys; from simulate.cli import main; sys.exit(main(sys.argv[1:]))"
    listed = run_installed(installed_wheel, cli.replace("sys.argv[1:]", "['scenarios']"), tmp_path)
    assert listed.returncode == 0, listed.stderr
    for path in SHIPPED_SCENARIOS:
        assert path.stem in listed.stdout
    for name in ("nct04743739", "nct04743739_observed_accrual.toml"):
        ok = run_installed(installed_wheel, cli.replace("sys.argv[1:]", f"['validate', '{name}']"), tmp_path)
        assert (ok.returncode, ok.stdout.strip()) == (0, "OK"), ok.stderr
    power = run_installed(installed_wheel, cli.replace(
        "sys.argv[1:]", "['power', 'teaching_small_pilot', '--replicates', '50', '--jobs', '1', '--json']"), tmp_path)
    assert power.returncode == 0, power.stderr
    assert list(tmp_path.iterdir()) == []          # power writes nothing


def test_a_scenario_is_found_by_name_or_path(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(["validate", "teaching_null"])[0] == 0
    assert run_cli(["validate", "teaching_null.toml"])[0] == 0
    code, _, err = run_cli(["validate", "no_such_scenario"])
    assert code == 2 and "no shipped scenario has that name" in err and "teaching_null" in err
    # a file of that name here takes precedence over the shipped one
    (tmp_path / "teaching_null.toml").write_text('description = "mine"\n[arms.rtx]\n', encoding="utf-8")
    code, _, err = run_cli(["validate", "teaching_null.toml"])
    assert code == 2 and "arms.rtx" in err


def test_scenarios_lists_names_and_descriptions(run_cli) -> None:
    code, out, _ = run_cli(["scenarios"])
    assert code == 0
    lines = out.splitlines()
    for path in SHIPPED_SCENARIOS:
        assert any(line.startswith(path.stem + " ") and len(line.split(None, 1)) == 2 for line in lines), out
