"""The report's section "Uncertainty in the assumptions": shown for design priors and Bayesian
designs only, and every number in it is the run's own (power.json, sweep.csv)."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from simulate.design.loader import load_scenario
from simulate.run.main_job import run_all

from conftest import PLAIN_SCENARIO, report_section

SMALL = ["simulation.block_size=50"]


def section(folder) -> str:
    return report_section(folder, "uncertainty-section")


def words(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


def cells(fragment: str) -> list[list[str]]:
    return [[words(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", fragment)]


@pytest.fixture(scope="module")
def assurance(tmp_path_factory):
    s = load_scenario("nct04743739_assurance", [*SMALL, 'sweep={"outcome.rates_from" = ["assumed", "design_prior"], '
                                                        '"trial.n_per_arm" = [40, 63]}'])
    out = tmp_path_factory.mktemp("assurance") / "out"
    return run_all(s, out, replicates=150), out


def test_the_section_gives_the_assurance_beside_the_power_as_the_run_computed_them(assurance) -> None:
    results, out = assurance
    p, text = results.power, section(out)
    said = words(text)
    assert f"the assurance, is {p.assurance:.3f} ± {p.assurance_mc_se:.3f}" in said
    assert f"a probability of {p.assurance_detail['prior_probability_of_benefit']:.3f}" in said
    rows = cells(text)
    assert ["RTX alone", "0.600", "Beta(40, 27)", f"{p.assurance_detail['arms']['rtx']['mean_rate']:.3f}", "0.00%"] in rows
    sweep = pd.read_csv(out / "sweep.csv")
    planned = sweep[sweep["trial.n_per_arm"] == 63].set_index("outcome.rates_from")
    row = next(r for r in rows if r and r[0] == "63 (planned)")
    assert row[1] == f"{planned.loc['assumed', 'power']:.3f} ± {planned.loc['assumed', 'mc_se']:.3f}"
    assert row[2] == f"{planned.loc['design_prior', 'power']:.3f} ± {planned.loc['design_prior', 'mc_se']:.3f}"
    assert 'href="#uncertainty"' in (out / "report.html").read_text(encoding="utf-8")


def test_assurance_and_power_against_n_are_drawn_from_the_sweep(assurance) -> None:
    from simulate.report.uncertainty_section import over_n_frame

    results, out = assurance
    assert (out / "assurance_over_n.png").stat().st_size > 10_000
    text = section(out)
    assert "data:image/png;base64," in text and "Assurance and power against sample size" in words(text)
    sweep = pd.read_csv(out / "sweep.csv").set_index(["trial.n_per_arm", "outcome.rates_from"])
    drawn = {(r["n_per_arm"], r["measure"]): r["value"] for r in over_n_frame(results)}
    assert drawn == {(n, m): sweep.loc[(n, source), "power"] for n in (40, 63)
                     for m, source in (("power", "assumed"), ("assurance", "design_prior"))}
    assert "at 63 per arm" in re.search(r'alt="([^"]*assurance[^"]*)"', text).group(1)
    assert "assurance_over_n.png" in {p.name for p in out.iterdir()}


def test_without_n_in_the_grid_there_is_no_such_figure(tmp_path) -> None:
    from simulate.run.main_job import run_files

    s = load_scenario("nct04743739_assurance", [*SMALL, 'sweep={"outcome.rates_from" = ["assumed", "design_prior"]}'])
    assert "assurance_over_n.png" not in run_files(s)
    assert "assurance_over_n.png" in run_files(load_scenario("nct04743739_assurance"))
    run_all(s, tmp_path / "out", replicates=100)
    assert not (tmp_path / "out" / "assurance_over_n.png").exists()
    assert section(tmp_path / "out")                          # the section is still there


def test_the_section_shows_a_borrowed_prior_and_prior_data_conflict(tmp_path) -> None:
    s = load_scenario("bayes_borrowing", [*SMALL, 'sweep={"arms.rtx.remission_at_endpoint" = [0.6, 0.75], '
                                                  '"arms.rtx_csa.remission_at_endpoint" = [0.6, 0.75, 0.85]}'])
    results = run_all(s, tmp_path / "out", replicates=150)
    text, b = section(tmp_path / "out"), results.power.bayes
    said = words(text)
    assert f"exceeds {b['threshold']:g}" in said and "worth about" in said
    rows = cells(text)
    assert ["MENTOR", "39 / 65", "0.600", "24", "Fervenza FC et al., N Engl J Med 2019;381:36-46"] in rows
    sweep = pd.read_csv(tmp_path / "out" / "sweep.csv")
    at = sweep.set_index(["arms.rtx.remission_at_endpoint", "arms.rtx_csa.remission_at_endpoint"])
    row = next(r for r in rows if r and r[0] == "0.750")
    assert row[1] == f"{at.loc[(0.75, 0.75), 'power']:.3f} ± {at.loc[(0.75, 0.75), 'mc_se']:.3f}"
    assert row[2] == f"{at.loc[(0.75, 0.85), 'power']:.3f} ± {at.loc[(0.75, 0.85), 'mc_se']:.3f}"


def test_a_frequentist_design_with_known_rates_has_no_such_section(tmp_path) -> None:
    s = load_scenario(PLAIN_SCENARIO, [*SMALL, "sweep={}"])
    run_all(s, tmp_path / "out", replicates=100)
    assert section(tmp_path / "out") == ""
