"""The report's section "What adjustment buys" and adjustment.csv: the adjusted design beside its
unadjusted counterpart on the same trials, every number the run's own; and the closed form's
variance reduction against the simulated one."""

from __future__ import annotations

import html
import math
import re

import pandas as pd
import pytest

from simulate.design.loader import load_scenario
from simulate.run.main_job import run_all, run_files

from conftest import PLAIN_SCENARIO, report_section

SMALL = ["simulation.block_size=50"]


def section(folder) -> str:
    """The section's text, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", report_section(folder, "adjustment-section"))))


@pytest.fixture(scope="module")
def adjusted(tmp_path_factory):
    s = load_scenario("nct04743739_adjusted", [*SMALL, "sweep={}"])
    out = tmp_path_factory.mktemp("adjusted") / "out"
    return run_all(s, out, replicates=300), out


def test_the_section_and_its_table_are_the_runs_own(adjusted) -> None:
    results, out = adjusted
    table = pd.read_csv(out / "adjustment.csv").set_index("quantity")
    d = results.adjustment
    n80 = next(s.n_per_arm for s in results.samplesize.searches if s.target == 0.8)
    assert table.loc["n per arm for 80% power (simulated)", "adjusted"] == n80
    assert table.loc["n per arm for 80% power (simulated)", "unadjusted"] == next(
        s.n_per_arm for s in d.unadjusted_samplesize.searches if s.target == 0.8)
    row = table.loc["type I error in the null world"]
    assert row["adjusted"] == d.type1_adjusted and row["unadjusted"] == d.type1_unadjusted
    assert table.loc["power at n = 63 per arm", "adjusted"] == results.power.power
    said = section(out)
    assert "What adjustment buys" in said and f"{100 * d.variance_removed:.1f}% of the unadjusted" in said
    assert f"{d.type1_adjusted:.3f} ± {d.type1_adjusted_mc_se:.3f}" in said
    assert "adjustment.csv" in run_files(results.scenario) and (out / "adjustment.csv").is_file()
    assert 'href="#adjustment"' in (out / "report.html").read_text(encoding="utf-8")


def test_an_unadjusted_run_has_no_such_section(tmp_path) -> None:
    s = load_scenario(PLAIN_SCENARIO, [*SMALL, "sweep={}"])
    assert "adjustment.csv" not in run_files(s)
    run_all(s, tmp_path / "out", replicates=100)
    assert section(tmp_path / "out") == "" and not (tmp_path / "out" / "adjustment.csv").exists()


def test_the_closed_forms_variance_reduction_is_the_simulated_one() -> None:
    """The mean interval widths of the two analyses on the same trials give the ratio of their
    standard errors; its square is the share of variance left, which the closed form predicts
    from the outcome model (an approximation: within 0.03)."""
    from simulate.run.adjustment import unadjusted, variance_removed
    from simulate.run.power import estimate_power

    s = load_scenario(PLAIN_SCENARIO, ['analysis.adjustment="g_computation"', 'analysis.test="g_computation"',
                                       'analysis.adjust_for=["log2(pla2r_titre_ru_ml)", "proteinuria_g_day"]',
                                       "outcome.log_odds_per_doubling_pla2r_titre=-0.6",
                                       "outcome.log_odds_per_g_day_proteinuria=-0.3",
                                       "dropout.probability_by_endpoint=0"])
    adjusted = estimate_power(s, replicates=2000, seed=53, jobs=1, engine="batch")
    plain = estimate_power(unadjusted(s), replicates=2000, seed=53, jobs=1, engine="batch")
    left = (adjusted.mean_ci_width / plain.mean_ci_width) ** 2
    assert 0.05 < variance_removed(s) < 0.2
    assert abs(left - (1 - variance_removed(s))) < 0.03, (left, variance_removed(s))
    assert math.isfinite(left)


def test_samplesize_gives_the_adjusted_closed_form_in_text_and_json(run_cli) -> None:
    import json

    from simulate.run.adjustment import closed_forms, variance_removed

    s = load_scenario("nct04743739_adjusted")
    plain, adjusted = closed_forms(s)[0.8]
    assert adjusted < plain
    code, out, err = run_cli(["samplesize", "nct04743739_adjusted", "--replicates", "200", "--json"])
    assert code == 0, err
    a = json.loads(out)["analytic"]
    assert (a["wald_with_dropout"], a["adjusted_with_dropout"]) == (plain, adjusted)
    assert a["variance_removed"] == pytest.approx(variance_removed(s))
    code, out, err = run_cli(["samplesize", "nct04743739_adjusted", "--replicates", "200"])
    assert f"closed form (Wald, with dropout) {adjusted} per arm randomised against {plain} unadjusted" in out
