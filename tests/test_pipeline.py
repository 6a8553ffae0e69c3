"""The main job's own arithmetic: the Kaplan-Meier curves of the example trial (statsmodels),
checked against a small example worked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from simulate.run.compute import kaplan_meier_remission
from simulate.run.trial_results import KaplanMeierStep

nan = math.nan


def test_kaplan_meier_matches_a_hand_checked_example():
    """Arm A, 5 patients: remissions at months 2 and 4, a dropout at 3, two in follow-up to the
    endpoint (24). S(2) = 4/5; at 4 three are at risk, S(4) = 4/5 * 2/3 = 8/15.
    Arm B, 5 patients: two remissions at month 6, tied with a dropout (at risk at 6, since
    events come before censoring), one remission only after the endpoint (censored at 24), one
    in follow-up: S(6) = 1 - 2/5 = 3/5."""
    patients = pd.DataFrame({
        "arm": ["A"] * 5 + ["B"] * 5,
        "remission_month": [2.0, nan, 4.0, nan, nan, 6.0, 6.0, nan, 30.0, nan],
        "dropout_month": [nan, 3.0, nan, nan, nan, nan, nan, 6.0, nan, nan],
    })
    km = kaplan_meier_remission(patients, ("A", "B", "C"), endpoint_month=24.0)
    assert km["A"] == (KaplanMeierStep(0.0, 0.0, 5), KaplanMeierStep(2.0, pytest.approx(1 / 5), 5),
                       KaplanMeierStep(4.0, pytest.approx(1 - 8 / 15), 3))
    assert km["B"] == (KaplanMeierStep(0.0, 0.0, 5), KaplanMeierStep(6.0, pytest.approx(2 / 5), 5))
    assert km["C"] == (KaplanMeierStep(0.0, 0.0, 0),)   # nobody randomised: a flat curve


def test_kaplan_meier_without_any_remission_is_flat():
    patients = pd.DataFrame({"arm": ["A", "A"], "remission_month": [nan, nan], "dropout_month": [5.0, nan]})
    assert kaplan_meier_remission(patients, ("A",), 24.0) == {"A": (KaplanMeierStep(0.0, 0.0, 2),)}


def _power(**values):
    """A PowerResult with every required field zero (or an empty string) but ``values``."""
    from dataclasses import MISSING, fields

    from simulate.run.results import PowerResult

    required = {f.name: "" if f.type == "str" else 0 for f in fields(PowerResult)
                if f.default is MISSING and f.default_factory is MISSING}
    return PowerResult(**{**required, **values})


def _comparison(arm: str, truth: float):
    from simulate.run.results import Comparison

    return Comparison(arm=arm, control="c", power=0.5, mc_se=0.01, true_difference=truth, mean_risk_difference=truth,
                      risk_difference_bias_se=0.01, ci_coverage=0.95, mean_ci_width=0.3, exaggeration_ratio=nan)


def test_a_null_design_is_recognised_for_each_hypothesis():
    """The summary calls power a type I error when no arm beats the null: no difference for
    superiority, a deficit of the margin or more for non-inferiority (0.45 - 0.6 is not exactly -0.15)."""
    from simulate.design.assumed import result_has_no_benefit as _is_null

    assert _is_null(_power(comparisons=(_comparison("a", 0.0), _comparison("b", 0.0))))
    assert not _is_null(_power(comparisons=(_comparison("a", 0.0), _comparison("b", 0.2))))
    assert _is_null(_power(hypothesis="non_inferiority", margin=0.15, comparisons=(_comparison("a", 0.45 - 0.6),)))
    assert not _is_null(_power(hypothesis="non_inferiority", margin=0.15, comparisons=(_comparison("a", 0.0),)))


def test_remission_table_has_its_columns_even_when_empty():
    from simulate.report.tables import remission_table
    from simulate.run.results import VisitRemission

    assert list(remission_table(_power()).columns) == ["arm", "month", "remission", "mc_se"]
    rows = (VisitRemission("c", 0.0, 0.0, 0.0), VisitRemission("c", 24.0, 0.6, 0.01))
    assert remission_table(_power(remission_by_visit=rows)).to_dict(orient="records") == [
        {"arm": "c", "month": 0.0, "remission": 0.0, "mc_se": 0.0},
        {"arm": "c", "month": 24.0, "remission": 0.6, "mc_se": 0.01}]


@pytest.mark.parametrize("name", ["nct04743739", "ri_cyclo"])
def test_remission_model_reports_first_remission_and_what_relapse_leaves(name):
    """First remission x lasting (x the complete share with a CR endpoint) gives back the assumed
    endpoint rate; the rebound month is the end of the CNI course (none without a CNI)."""
    from pathlib import Path

    from simulate.design.loader import load_scenario
    from simulate.run.compute import compute_remission_model

    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / f"{name}.toml")
    model = compute_remission_model(scenario)
    assert [a.arm for a in model.arms] == list(scenario.arm_names)
    for a in model.arms:
        arm = scenario.arm(a.arm)
        share = 1.0 if scenario.trial.endpoint == "cr_or_pr" else arm.complete_share_of_remission
        assert a.first_remission * a.lasting * share == pytest.approx(arm.remission_at_endpoint, abs=1e-9)
        assert a.endpoint_rate == arm.remission_at_endpoint and 0 < a.lasting < 1
        has_cni = any(c.drug_class == "cni" for c in arm.courses)
        assert math.isfinite(a.rebound_month) == has_cni
    if name == "nct04743739":  # CsA: 6 months at full dose, then a 3-month taper
        assert {a.arm: a.rebound_month for a in model.arms}["rtx_csa"] == 9.0


def test_an_interim_look_no_trial_reached_is_said_so_not_given_a_month():
    from simulate.design.loader import load_scenario
    from simulate.report.sentences.summary import interim_sentence
    from simulate.run.results import Look

    scenario = load_scenario("nct04743739", ['analysis.alternative="greater"', 'analysis.test="ztest"',
                                             "analysis.alpha=0.025", "interim.information_fractions=[0.5, 1.0]"])
    never = Look(0.5, 2.96, None, 0.0, 0.0, 0.0, 0.0, 0.0, nan, nan)
    final = Look(1.0, 1.97, None, 0.1, 0.03, 0.9, 0.03, 1.0, 64.0, 11.6)
    line = interim_sentence(scenario, _power(looks=(never, final), expected_duration_months=64.0,
                                             mean_randomised=11.6))
    assert "nan" not in line and "(held in 0% of trials)" in line, line
    held = Look(0.5, 2.96, None, 0.05, 0.01, 0.1, 0.01, 1.0, 38.0, 126.0)
    assert "(month 38 on average)" in interim_sentence(scenario, _power(looks=(held, final)))


@pytest.mark.parametrize("seed", range(6))
def test_the_product_limit_estimate_is_statsmodels_kaplan_meier(seed: int) -> None:
    """Survival, event times and numbers at risk agree with statsmodels' SurvfuncRight on
    drawn data with tied times, censoring at the same times as events, and all censored."""
    import numpy as np
    from statsmodels.duration.survfunc import SurvfuncRight

    from simulate.run.compute import product_limit

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 200))
    time = rng.integers(1, 25, size=n).astype(float) + (seed % 2) * rng.random(n)   # ties when whole months
    event = rng.random(n) < (0.0 if seed == 5 else 0.6)
    times, survival, at_risk = product_limit(time, event)
    if not event.any():
        assert len(times) == len(survival) == len(at_risk) == 0
        return
    km = SurvfuncRight(time, event.astype(int))
    assert np.array_equal(times, km.surv_times)
    assert np.array_equal(at_risk, km.n_risk)
    np.testing.assert_allclose(survival, km.surv_prob, rtol=1e-12, atol=1e-15)
