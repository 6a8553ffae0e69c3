"""The report of a group-sequential design: ``trialsim run`` on a scenario with interim looks writes
looks.csv (the power command's looks, row for row), fixed_design.csv (the same trials without the
looks), the boundary and stopping figures, embedded in an "Interim analyses" section that shows
every look's numbers, and one line of the plain-language summary about the looks.

One small real run (the registered scenario as a one-sided z-test with a look at half the
endpoints and beta-spending futility, 100 replicates, a two-point sweep) is shared by the tests.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
import sys
from dataclasses import fields, replace
from markupsafe import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulate.report.words import percent

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "nct04743739.toml"
EXE = Path(sys.executable).parent / "trialsim"
SEED = 20210414
REPLICATES = 100
INTERIM = ['analysis.alternative="greater"', 'analysis.test="ztest"', "analysis.alpha=0.025",
           "interim.information_fractions=[0.5, 1.0]", 'interim.futility="beta_spending"']
SMALL = [*INTERIM, "simulation.block_size=50", 'sweep={"dropout.probability_by_endpoint" = [0.0, 0.2]}']
SETS = [a for s in SMALL for a in ("--set", s)]
COMMON = ["--replicates", str(REPLICATES), "--seed", str(SEED), "--jobs", "1"]
pytestmark = pytest.mark.slow       # runs of the command in subprocesses: left out of the quick lane


def trialsim(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("interim") / "results"
    done = trialsim("run", SCENARIO, "--out", folder, *COMMON, *SETS)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def direct() -> dict:
    """``trialsim power --json`` with the same settings and seed."""
    done = trialsim("power", SCENARIO, "--json", *COMMON, *SETS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def page(out: Path) -> str:
    return (out / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def section(page: str) -> str:
    start = page.index('<h2 id="interim">Interim analyses</h2>')
    return page[start: page.index('<section id="estimand-section">')]   # the next section


def _same(a, b) -> bool:
    """Equal, with a JSON null and a CSV's empty cell (nan) alike."""
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    return (missing(a) and missing(b)) or a == b


def test_the_run_writes_looks_fixed_design_and_figures(out: Path) -> None:
    for name in ("looks.csv", "fixed_design.csv", "boundaries.png", "stopping.png", "report.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in ("boundaries.png", "stopping.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000, name
    meta = json.loads((out / "run.json").read_text())
    assert meta["figures"]["boundaries"] == "boundaries.png" and meta["figures"]["stopping"] == "stopping.png"
    assert meta["timings"]["interim"]["reused"] is False


def test_looks_csv_rows_equal_the_power_commands_looks(out: Path, direct: dict) -> None:
    from simulate.run.results import Look

    table = pd.read_csv(out / "looks.csv")
    assert list(table.columns) == [f.name for f in fields(Look)]
    assert len(table) == len(direct["looks"]) == 2
    for row, look in zip(table.to_dict(orient="records"), direct["looks"]):
        assert set(row) == set(look)
        for key, value in look.items():
            assert _same(row[key], value), (key, row[key], value)
    power = pd.read_csv(out / "power.csv").iloc[0]
    for key in ("power", "mc_se", "expected_randomised", "expected_duration_months", "p_overrun_reversal",
                "p_overrun_reversal_se", "mean_duration_months"):
        assert _same(power[key], direct[key]), key


def test_fixed_design_is_the_same_trials_without_the_looks(out: Path) -> None:
    """A single look (information_fractions = [1.0]) is no group-sequential design: the fixed one."""
    done = trialsim("power", SCENARIO, "--json", *COMMON, *SETS, "--set", "interim.information_fractions=[1.0]")
    assert done.returncode == 0, done.stderr
    fixed = json.loads(done.stdout)
    assert fixed["looks"] == []
    row = pd.read_csv(out / "fixed_design.csv").iloc[0]
    for key in ("power", "mc_se", "mean_randomised", "mean_duration_months", "mean_recruitment_months"):
        assert _same(row[key], fixed[key]), key


def test_the_figures_are_embedded_in_the_interim_section(out: Path, page: str, section: str) -> None:
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', section)
    assert [base64.b64decode(e) for e in embedded] == [(out / f"{n}.png").read_bytes()
                                                      for n in ("boundaries", "stopping")]
    assert '<figure id="boundaries">' in section and '<figure id="stopping">' in section
    assert page.count('<figure id="boundaries">') == 1          # not in the general figures too
    marks = ["<h2>Figures</h2>", '<h2 id="interim">', "<h2>Tables</h2>"]
    assert [page.index(m) for m in marks] == sorted(page.index(m) for m in marks)


def test_the_section_shows_every_looks_numbers(out: Path, section: str) -> None:
    looks = pd.read_csv(out / "looks.csv")
    rows = re.findall(r"<tr><td>\d \((?:interim|final)\)</td>.*?</tr>", section)
    assert len(rows) == len(looks)
    for row, k in zip(rows, looks.itertuples()):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[1:] == [f"{k.information_fraction:.2f}", f"{k.efficacy_z:.3f}", f"{k.futility_z:.3f}",
                             f"{k.p_stop_efficacy:.3f} ± {k.p_stop_efficacy_se:.3f}",
                             f"{k.p_stop_futility:.3f} ± {k.p_stop_futility_se:.3f}", f"{k.p_held:.3f}",
                             f"{k.mean_month:.1f}", f"{k.mean_randomised:.1f}"]
    first = looks.iloc[0]
    assert f"Look 1 comes at month {first.mean_month:.1f} on average" in section


def test_the_section_gives_expected_n_duration_and_overrun_as_the_csvs(out: Path, section: str) -> None:
    p = pd.read_csv(out / "power.csv").iloc[0]
    fixed = pd.read_csv(out / "fixed_design.csv").iloc[0]
    for text in (f"{p.expected_randomised:.1f}", f"{p.expected_duration_months:.1f}",
                 f"{p.p_overrun_reversal:.3f} ± {p.p_overrun_reversal_se:.3f}", f"{p.power:.3f} ± {p.mc_se:.3f}",
                 f"{fixed.mean_randomised:.1f}", f"{fixed.mean_duration_months:.1f}",
                 f"{fixed.power:.3f} ± {fixed.mc_se:.3f}"):
        assert text in section, text
    # the first look waits for the 24-month endpoints of half the patients: recruitment is over by then
    first = pd.read_csv(out / "looks.csv").iloc[0]
    assert first.mean_randomised >= 0.99 * fixed.mean_randomised
    assert "Recruitment is therefore already over at the first look" in section
    assert "saves no patients" in section


def test_the_summary_has_one_line_on_the_looks(out: Path, page: str) -> None:
    summary = json.loads((out / "run.json").read_text())["summary"]
    looks = pd.read_csv(out / "looks.csv")
    p = pd.read_csv(out / "power.csv").iloc[0]
    fixed = pd.read_csv(out / "fixed_design.csv").iloc[0]
    lines = [s for s in summary if "interim look" in s.lower()]
    estimand = sum(s.startswith("The estimand") for s in summary)   # the registered events: one line on them
    assert len(lines) == 1 and summary.index(lines[0]) == 1 + estimand    # right after the power line
    line = lines[0]
    k = looks.iloc[0]
    assert line.startswith(f"An interim look at 50% of the endpoints (month {k.mean_month:.0f} on average) stops "
                           f"{percent(k.p_stop_efficacy)} of trials for efficacy and "
                           f"{percent(k.p_stop_futility)} for futility; ")
    assert f"decide at month {p.expected_duration_months:.0f} on average" in line
    assert f"{fixed.mean_duration_months:.0f}" in line and "follow-up time, not patients" in line
    assert escape(line) in page


def test_the_paths_are_the_engines_looks(out: Path) -> None:
    """The boundary plot's paths: trials 0-19 of the seed, each look's z as the engine held it."""
    from simulate.engines.blocks import simulate_block
    from simulate.design.loader import load_scenario
    from simulate.run.results import InterimDetail

    piece = json.loads((out / ".pieces" / "interim.json").read_text())["data"]
    paths = InterimDetail.from_json(piece).paths
    scenario = load_scenario(SCENARIO, SMALL)
    b = simulate_block(scenario, SEED, 0, n_trials=len(paths), engine="batch")
    assert len(paths) == 20
    for i, p in enumerate(paths):
        assert p.trial == i
        np.testing.assert_array_equal(p.z, b.look_z[i][~np.isnan(b.look_z[i])])
        assert p.outcome == {1: "efficacy", 2: "futility"}.get(int(b.stop_reason[i]), "final")
        assert p.rejected == bool(b.sequential_reject[i])
        assert p.information[0] == 0.5 and (p.outcome != "final" or p.information[-1] == b.randomised[i] / 126)


def test_a_rerun_reuses_the_interim_piece_and_without_looks_nothing_is_left(out: Path, tmp_path: Path) -> None:
    from simulate.design.loader import load_scenario
    from simulate.run.main_job import run_all
    from simulate.report.page import FIGURES, write_report

    folder = Path(shutil.copytree(out, tmp_path / "copy"))
    scenario = load_scenario(SCENARIO, SMALL)
    results = run_all(scenario, folder, seed=SEED, replicates=REPLICATES, jobs=1, report=False,
                      scenario_path=SCENARIO, overrides=tuple(SMALL))
    assert results.interim is not None
    assert json.loads((folder / "run.json").read_text())["timings"]["interim"]["reused"]
    assert (folder / "looks.csv").read_bytes() == (out / "looks.csv").read_bytes()

    # results without the detail: the section still shows the looks, the boundaries without
    # paths, and says the fixed design was not run
    plain = replace(results, interim=None)
    figures = write_report(tmp_path / "plain", plain)
    assert list(figures) == [*FIGURES, "boundaries", "stopping", "oc_curve", "missing_data_methods"]  # the grid varies dropout
    text = (tmp_path / "plain" / "report.html").read_text(encoding="utf-8")
    assert "Interim analyses" in text and "The fixed design was not run" in text

    # the same folder written without looks: no section; the report and the tables touch no file
    # they do not write (a user's, or an earlier run's: the run removes those from its manifest)
    without = replace(plain, power=replace(results.power, looks=()))
    figures = write_report(folder, without)
    assert list(figures) == [*FIGURES, "oc_curve", "missing_data_methods"]
    assert "Interim analyses" not in (folder / "report.html").read_text(encoding="utf-8")
    from simulate.report.tables import write_tables

    assert "looks.csv" not in write_tables(folder, without)
    assert (folder / "looks.csv").read_bytes() == (out / "looks.csv").read_bytes()


def test_a_rerun_removes_only_what_the_previous_manifest_lists(out: Path, tmp_path: Path) -> None:
    """A rerun that no longer writes the interim tables and figures removes them, because the
    previous run's manifest lists them; a file the manifest does not list stays."""
    from simulate.run import folders
    from simulate.design.loader import load_scenario
    from simulate.run.main_job import run_files, run_settings

    folder = Path(shutil.copytree(out, tmp_path / "copy"))
    (folder / "notes.txt").write_text("mine")
    listed = set(json.loads((folder / folders.MANIFEST).read_text())["files"])
    assert {"looks.csv", "fixed_design.csv", "boundaries.png", "stopping.png", ".pieces/interim.json"} <= listed
    scenario = load_scenario(SCENARIO, SMALL)
    taken = folders.claim(folder, "run", scenario, run_settings(SEED, REPLICATES, "batch"), run_files(scenario),
                          "--out", SMALL)
    assert taken.note is None and "notes.txt" not in taken.owned
    taken.begin()
    interim = {"looks.csv", "fixed_design.csv", "boundaries.png", "stopping.png"}
    taken.finish(listed - interim - {".pieces/interim.json"})
    assert not any((folder / name).exists() for name in interim)
    assert (folder / ".pieces" / "interim.json").is_file(), "a cached piece is kept for the next run"
    assert (folder / "notes.txt").read_text() == "mine"
    assert set(json.loads((folder / folders.MANIFEST).read_text())["files"]) == (listed - interim)
