"""Honest figures: a simulated share of 0 or 1 (Monte Carlo SE 0) is given with its exact
binomial bound, never ± 0.000, on the command line, in the report's tables and in its verdict."""

from __future__ import annotations

import pytest
from scipy import stats

from simulate.design.loader import load_scenario
from simulate.report.formatting import exact_bound, share_pm
from simulate.run.main_job import run_all


@pytest.mark.parametrize("n", [20, 300, 2000])
def test_the_bound_is_clopper_pearsons(n):
    assert exact_bound(1.0, n) == pytest.approx(stats.beta.ppf(0.025, n, 1), rel=1e-12)
    assert exact_bound(0.0, n) == pytest.approx(stats.beta.ppf(0.975, 1, n), rel=1e-12)
    assert share_pm(1.0, 0.0, n) == f"1.000 (exact 95% bound ≥ {exact_bound(1.0, n):.4f})"
    assert share_pm(0.5, 0.01, n) == "0.500 ± 0.010"


def test_a_power_of_one_is_never_plus_or_minus_zero(run_cli, tmp_path):
    code, out, err = run_cli(["power", "mentor", "--replicates", "300"])
    assert code == 0, err
    assert "every simulated trial of 300 (exact 95% bound ≥ 0.9878)" in out and "1.000 ± 0.000" not in out
    results = run_all(load_scenario("mentor", ["simulation.block_size=50", "sweep={}"]), tmp_path / "out",
                      replicates=150)
    assert results.power.power == 1.0
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert f"1.000 (exact 95% bound ≥ {exact_bound(1.0, 150):.4f})" in page
    assert "Every one of the 150 simulated trials succeeded" in page
    assert "1.000 ± 0.000" not in page.split('id="tables"')[0]


def test_the_title_says_when_the_run_changed_the_scenario(tmp_path):
    s = load_scenario("nct04743739", ["simulation.block_size=50", "sweep={}", "trial.n_per_arm=40"])
    run_all(s, tmp_path / "out", replicates=100, overrides=("trial.n_per_arm=40",))
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    head = page[page.index("<h1>"): page.index("</p>", page.index("<h1>"))]
    assert "(changed for this run)" in head and "<code>--set trial.n_per_arm=40</code>" in head
    assert "(changed)" in page[page.index("<title>"): page.index("</title>")]
    plain = run_all(load_scenario("nct04743739", ["simulation.block_size=50", "sweep={}"]), tmp_path / "plain",
                    replicates=100)
    assert plain.overrides == () and "changed for this run" not in (tmp_path / "plain" / "report.html").read_text()


def test_the_sample_size_tables_closed_forms_are_in_a_csv(tmp_path):
    import pandas as pd

    results = run_all(load_scenario("nct04743739", ["simulation.block_size=50", "sweep={}"]), tmp_path / "out",
                      replicates=120)
    targets = pd.read_csv(tmp_path / "out" / "samplesize_targets.csv").set_index("target")
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    table = page[page.index("(as samplesize_targets.csv)"):]
    table = table[: table.index("</table>")]
    for s in results.samplesize.searches:
        row = targets.loc[s.target]
        assert row["n_per_arm"] == s.n_per_arm
        for column in ("pooled_normal", "fleiss_cc", "arcsine", "pooled_normal_with_dropout", "fleiss_cc_with_dropout"):
            assert row[column] == getattr(s.analytic, column)
            assert f">{int(row[column])}</td>" in table


def test_design_caveats_reach_the_report_as_the_command_line_gives_them(run_cli, tmp_path):
    from dataclasses import replace

    from simulate.report.sentences.common import NI_NONRESPONDER_CAVEAT, design_caveats

    results = run_all(load_scenario("mentor", ["simulation.block_size=50", "sweep={}"]), tmp_path / "out",
                      replicates=120)
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    verdict = page[page.index('id="verdict"'): page.index("</section>", page.index('id="verdict"'))]
    assert "makes a non-inferiority test anti-conservative" in verdict
    code, out, _ = run_cli(["power", "mentor", "--replicates", "120"])
    assert NI_NONRESPONDER_CAVEAT in out
    pilot = load_scenario("teaching_small_pilot")
    p = run_all(pilot.model_copy(update={"sweep": ()}), tmp_path / "pilot", replicates=100).power
    below = replace(p, power=0.03)
    (line,) = [c for c in design_caveats(pilot, below) if "below the level" in c]
    assert f"with {p.n_per_arm} per arm Fisher's exact test is conservative" in line
    assert not [c for c in design_caveats(pilot, replace(p, power=0.2)) if "below the level" in c]
