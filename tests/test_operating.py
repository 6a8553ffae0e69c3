"""Operating characteristics beside the power (issue 25): the null world in every power run, the
OC curve, the design-stage power of a scenario whose rates are published results, and a
group-sequential design's boundaries as rpact prints them."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from simulate.design.loader import load_scenario, with_overrides
from simulate.design.null_world import null_scenario
from simulate.run.operating import OC_FRACTIONS, compute_oc_curve, with_design_stage, with_null_world
from simulate.run.power import estimate_power

from conftest import PLAIN_SCENARIO, ROOT, assert_refused, report_section
from reference_values import RPACT_BOUNDARIES_TABLE

SEED = 20261207
REPS = 1500
GS = ["interim.information_fractions=[0.5, 1.0]", "interim.futility=beta_spending", "analysis.test=ztest",
      "analysis.alternative=greater", "analysis.alpha=0.025"]
"""The registered design with one interim look at half the information, O'Brien-Fleming alpha
spending and non-binding beta-spending futility (the design of the rpact reference below)."""


def _within(value: float, expected: float, se: float, k: float = 3.0) -> None:
    assert abs(value - expected) <= k * se + 1e-12, f"{value} vs {expected} (tolerance {k} Monte Carlo SE = {k * se:.4f})"


def test_the_null_world_is_the_same_trials_of_the_null_scenario(plain_scenario):
    r = with_null_world(plain_scenario, estimate_power(plain_scenario, REPS, SEED, 1))
    direct = estimate_power(null_scenario(plain_scenario)[0], REPS, SEED, 1)
    n = r.null_world
    assert n["type1_error"] == direct.power and n["rejections"] == direct.rejections
    assert n["expected_randomised"] == direct.mean_randomised
    assert n["rates"]["rtx_csa"] == n["rates"]["rtx"] == plain_scenario.arm("rtx").remission_at_endpoint
    # the type I error of Fisher's test is at most alpha (a conservative test), within 3 Monte Carlo SE
    assert n["type1_error"] <= plain_scenario.analysis.alpha + 3 * math.sqrt(0.05 * 0.95 / REPS)


def test_a_design_that_is_its_own_null_world_reuses_its_trials():
    s = load_scenario(ROOT / "scenarios" / "teaching_null.toml")
    r = estimate_power(s, 400, SEED, 1)
    assert with_null_world(s, r).null_world["type1_error"] == r.power


def test_several_arms_give_the_family_wise_error_and_each_comparisons():
    s = load_scenario(ROOT / "scenarios" / "three_arm.toml")
    n = with_null_world(s, estimate_power(s, REPS, SEED, 1)).null_world
    each = [c["type1_error"] for c in n["comparisons"]]
    assert len(each) == 2 and max(each) <= n["family_wise_error"] <= sum(each)
    assert all(c["true_difference"] == 0 for c in n["comparisons"])
    # Holm keeps the family-wise error at alpha: within 3 Monte Carlo SE at most
    assert n["family_wise_error"] <= s.analysis.alpha + 3 * n["family_wise_error_mc_se"]


def test_the_oc_curve_passes_through_the_null_world_and_the_power_and_rises(plain_scenario):
    r = with_null_world(plain_scenario, estimate_power(plain_scenario, REPS, SEED, 1))
    curve = compute_oc_curve(plain_scenario, SEED, REPS, 1, "batch", power=r)
    pts = [p for p in curve.points if p.adjusted]
    assert {p.fraction for p in pts} | set(curve.skipped) == set(OC_FRACTIONS)
    assert pts[0].power == r.null_world["type1_error"] and [p for p in pts if p.fraction == 1][0].power == r.power
    # points not taken from the power run are simulated afresh: the same as computing them without it
    fresh = compute_oc_curve(plain_scenario, SEED, REPS, 1, "batch")
    assert [p.power for p in fresh.points] == [p.power for p in curve.points]
    for a, b in zip(pts, pts[1:]):          # common random numbers: more effect, more success (within 3 SE)
        assert b.true_difference > a.true_difference
        assert b.power >= a.power - 3 * math.hypot(a.mc_se, b.mc_se)


def test_without_the_multiplicity_adjustment_each_point_rejects_at_least_as_often():
    s = load_scenario(ROOT / "scenarios" / "three_arm.toml")
    curve = compute_oc_curve(s, SEED, 600, 1, "batch")
    adjusted = {p.fraction: p for p in curve.points if p.adjusted}
    plain = {p.fraction: p for p in curve.points if not p.adjusted}
    assert plain and set(plain) == set(adjusted)
    for f, p in plain.items():      # Holm rejects a subset of what the unadjusted tests reject, trial by trial
        assert p.power_any >= adjusted[f].power_any


def test_power_json_has_the_null_world_and_the_flag_turns_it_off(run_cli):
    code, out, _ = run_cli(["power", str(PLAIN_SCENARIO), "--replicates", "300", "--json"])
    assert code == 0
    n = json.loads(out)["null_world"]
    assert {"type1_error", "mc_se", "expected_randomised", "expected_duration_months"} <= set(n)
    code, out, _ = run_cli(["power", str(PLAIN_SCENARIO), "--replicates", "300", "--json", "--no-null-world"])
    assert code == 0 and json.loads(out)["null_world"] is None
    code, out, _ = run_cli(["power", str(PLAIN_SCENARIO), "--replicates", "300"])
    assert "null world        type I error" in out


# ----------------------------------------------------------------------------- group-sequential


def test_the_group_sequential_null_world_gives_overall_alpha_and_expected_n(plain_scenario):
    s = with_overrides(plain_scenario, {"interim.information_fractions": [0.5, 1.0], "interim.futility": "beta_spending",
                                        "analysis.test": "ztest", "analysis.alternative": "greater",
                                        "analysis.alpha": 0.025})
    r = with_null_world(s, estimate_power(s, 3000, SEED, 1))
    n = r.null_world
    looks = n["looks"]
    assert len(looks) == 2
    # every trial ends at one look: the stops at look 1 and the final decision add up to 1
    assert looks[0]["p_stop_efficacy"] + looks[0]["p_stop_futility"] + looks[1]["p_stop_efficacy"] + \
        looks[1]["p_stop_futility"] == pytest.approx(1.0, abs=1e-9)
    _within(n["type1_error"], 0.025, math.sqrt(0.025 * 0.975 / 3000), k=3.5)
    # under H0 futility stops more trials early than under the assumed effect, so the decision comes sooner
    assert looks[0]["p_stop_futility"] > r.looks[0].p_stop_futility
    assert n["expected_duration_months"] < r.expected_duration_months


# The reference: R 4.2.2, rpact 3.3.4, for the design of GS (the call is in reference_values.py)
RPACT = RPACT_BOUNDARIES_TABLE["cases"][0]["reference"]


@pytest.fixture(scope="module")
def gs_run(tmp_path_factory):
    from simulate.run.main_job import run_all

    out = tmp_path_factory.mktemp("gs") / "out"
    s = load_scenario(PLAIN_SCENARIO, GS)
    results = run_all(s, out, seed=SEED, replicates=400, jobs=1, overrides=tuple(GS))
    return results, out


def test_the_boundaries_table_matches_rpact(gs_run):
    _, out = gs_run
    b = pd.read_csv(out / "boundaries.csv")
    assert list(b.efficacy_z) == pytest.approx(RPACT["criticalValues"], abs=1e-6)
    assert b.futility_z[0] == pytest.approx(RPACT["futilityBounds"][0], abs=1e-6) and math.isnan(b.futility_z[1])
    assert list(b.efficacy_nominal_p) == pytest.approx(RPACT["stageLevels"], abs=1e-7)
    assert list(b.cumulative_alpha_spent) == pytest.approx(RPACT["alphaSpent"], abs=1e-7)
    assert list(b.cumulative_beta_spent) == pytest.approx(RPACT["betaSpent"], abs=1e-7)


def test_the_boundaries_on_the_risk_difference_scale_follow_the_design_effect(gs_run):
    from simulate.analysis import interim

    results, out = gs_run
    b = pd.read_csv(out / "boundaries.csv")
    design = interim.design_for(results.scenario)
    delta = results.power.true_difference
    for _, row in b.iterrows():     # a bound at the design's z for its effect is the effect itself: d / z = SE
        se = delta / design.drift / math.sqrt(row.information_fraction)
        assert row.efficacy_risk_difference == pytest.approx(row.efficacy_z * se, rel=1e-9)
    # the interim efficacy bound asks for a larger difference than the final one
    assert b.efficacy_risk_difference[0] > b.efficacy_risk_difference[1] > 0


def test_the_report_shows_the_null_world_and_the_boundaries(gs_run):
    results, out = gs_run
    section = report_section(out, "operating-section")
    assert "overall α of the group-sequential design" in section and "Power over the true effect (OC curve)" in section
    oc = pd.read_csv(out / "operating_characteristics.csv")
    first = oc[oc.quantity.str.startswith("chance of success")].iloc[0]
    assert first.null_world == results.power.null_world["type1_error"] and first.assumed_effect == results.power.power
    assert "Boundaries and error spent" in report_section(out, "interim-section")


# ----------------------------------------------------------------------------- published rates


def test_a_design_rate_needs_published_rates():
    assert_refused(["arms.rtx.design_rate=0.6"], "arms.rtx.design_rate: got 0.6")


def test_published_rates_get_the_power_at_the_rates_the_design_assumed():
    s = load_scenario(ROOT / "scenarios" / "mentor.toml")
    r = with_design_stage(s, estimate_power(s, 600, SEED, 1))
    d = r.design_stage
    assert d["rates"] == {"rtx": 0.21, "csa": 0.21}
    direct = estimate_power(with_overrides(s, {"arms.rtx.remission_at_endpoint": 0.21, "arms.rtx.design_rate": None,
                                               "outcome.rates_are": "assumed"}), 600, SEED, 1)
    assert d["power"] == direct.power and d["power"] < r.power


def test_the_verdict_answers_the_design_stage_question():
    from simulate.report.sentences.common import design_caveats

    s = load_scenario(ROOT / "scenarios" / "mentor.toml")
    r = with_design_stage(s, estimate_power(s, 600, SEED, 1))
    lines = design_caveats(s, r)
    assert lines[0].startswith("These rates (RTX 0.632, CsA 0.21) are published results")
    assert f"{r.design_stage['power']:.3f}" in lines[1] and "rates the design assumed (RTX 0.21, CsA 0.21)" in lines[1]
    plain = load_scenario(PLAIN_SCENARIO)
    assert not any("published" in line for line in design_caveats(plain, estimate_power(plain, 200, SEED, 1)))


def test_teaching_scenarios_carry_no_real_trials_accrual():
    for name in ("teaching_small_pilot", "teaching_null", "teaching_estimands"):
        assert load_scenario(ROOT / "scenarios" / f"{name}.toml").observed is None, name
