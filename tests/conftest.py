"""Shared fixtures: the shipped scenario, and a way to call the ``trialsim`` command.

``run_cli(args)`` calls :func:`simulate.cli.main` in-process (fast) and returns
``(exit_code, stdout, stderr)``; ``run_console_script(args)`` runs the installed ``trialsim``
console script in a subprocess, for the few tests that must prove the installed command works.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Callable

import pytest

from simulate.design.loader import load_scenario
from simulate.design.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS_DIR = ROOT / "scenarios"
DEFAULT_SCENARIO = SCENARIOS_DIR / "nct04743739.toml"
SHIPPED_SCENARIOS = sorted(SCENARIOS_DIR.glob("*.toml"))
PLAIN_SCENARIO = ROOT / "tests" / "scenarios" / "nct04743739_without_events.toml"
"""The registered design without its intercurrent events and estimand: each arm's
``remission_at_endpoint`` is then the trial's true rate, which exact enumeration checks."""

CliResult = tuple[int, str, str]


def assert_refused(overrides: list[str], line: str, scenario: Path | str = PLAIN_SCENARIO) -> None:
    """Loading ``scenario`` with ``overrides`` is refused, one of its problems containing ``line``."""
    from simulate.design.loader import load_scenario
    from simulate.errors import ScenarioError

    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario, overrides)
    assert any(line in p for p in info.value.problems), info.value.problems


def report_section(folder: Path, section_id: str) -> str:
    """The HTML of ``<section id="{section_id}">`` in a run's report.html ("" when absent)."""
    page = (Path(folder) / "report.html").read_text(encoding="utf-8")
    opening = f'<section id="{section_id}">'
    if opening not in page:
        return ""
    start = page.index(opening)
    return page[start: page.index("</section>", start)]


def edit_scenario_text(text: str, key: str, value: str | None = None, new_key: str | None = None) -> str:
    """Change the first ``key = ...`` line of a scenario file's text: its value (the comment is
    kept) and/or its key. Fails loudly if the key is not there, so edits never silently miss."""
    pattern = re.compile(rf"^(?P<key>{re.escape(key)})(?P<eq>\s*=\s*)(?P<value>[^#\n]*?)(?P<rest>\s*(#.*)?)$",
                         re.MULTILINE)
    m = pattern.search(text)
    assert m, f"no line '{key} = ...' in the scenario text"
    line = (new_key or m["key"]) + m["eq"] + (m["value"] if value is None else value) + m["rest"]
    return text[: m.start()] + line + text[m.end():]


@pytest.fixture(scope="session")
def scenario_path() -> Path:
    """Path of the default (shipped) scenario file."""
    return DEFAULT_SCENARIO


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """The default scenario, loaded and validated (frozen, so safe to share)."""
    return load_scenario(DEFAULT_SCENARIO)


@pytest.fixture(scope="session")
def plain_scenario() -> Scenario:
    """The registered design without its intercurrent events (see PLAIN_SCENARIO)."""
    return load_scenario(PLAIN_SCENARIO)


@pytest.fixture
def scenario_data() -> dict:
    """The default scenario file as a plain dict (a fresh copy per test: mutate freely)."""
    return tomllib.loads(DEFAULT_SCENARIO.read_text(encoding="utf-8"))


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], CliResult]:
    """Call ``trialsim ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from simulate.cli import main

    def _run(args: list[str]) -> CliResult:
        capsys.readouterr()  # drop anything printed before the call
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def trialsim_executable() -> Path:
    """The console script installed beside the running interpreter (the project's .venv)."""
    return Path(sys.executable).parent / "trialsim"


@pytest.fixture
def run_console_script() -> Callable[[list[str]], CliResult]:
    """Run the installed ``trialsim`` console script in a subprocess."""
    exe = trialsim_executable()
    if not exe.exists():
        pytest.fail(f"console script not installed at {exe}; run `make install`")

    def _run(args: list[str]) -> CliResult:
        proc = subprocess.run(
            [str(exe), *[str(a) for a in args]],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )
        return proc.returncode, proc.stdout, proc.stderr

    return _run


CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/lib/chromium/chromium"))
"""Debian's Chromium, which the browser tests drive (Playwright's own browser download is not used)."""
AXE = Path(os.environ.get("AXE_CORE_JS", ROOT / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"))
"""axe-core, the accessibility checker the browser tests run in pages (.ci/run installs it with npm)."""


def require_chromium() -> None:
    """Skip the calling test module, with a one-line reason, without Chromium or Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright for Python (its module calls require_chromium())."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def tree_rss_mb(root: int) -> float | None:
    """Resident memory (MB) of a process and all its descendants, from /proc (None off Linux):
    the benchmarks' own measurement (``benchmarks/run.py``), so tests and benchmarks agree."""
    import importlib.util

    module = sys.modules.get("bench_run")
    if module is None:
        spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_run"] = module
        spec.loader.exec_module(module)
    return module._tree_rss_mb(root)


def call(args: list, cwd: Path) -> tuple[int, str, str]:
    """``trialsim ARGS`` in-process, from ``cwd``: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from simulate.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()
