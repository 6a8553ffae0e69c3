"""The quick feasibility bounds never exceed the exact values they stand in for, so a scenario
they accept is feasible; and validating a scenario needs no scipy when the bounds decide."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulate.screening import feasibility
from simulate.design.loader import with_overrides
from simulate.population.outcomes import _base_model
ARMS = ("rtx", "rtx_csa")
"""The registered scenario's arms."""
from simulate.screening.probabilities import pass_probabilities

from conftest import DEFAULT_SCENARIO


@st.composite
def cohort_and_rules(draw) -> dict:
    f = lambda lo, hi: draw(st.floats(lo, hi, allow_nan=False))  # noqa: E731
    return {
        "cohort.age_mean_years": f(20, 70), "cohort.age_sd_years": f(3, 25), "cohort.male_fraction": f(0, 1),
        "cohort.menopause_age_mean_years": f(40, 60), "cohort.contraception_or_sterile_fraction": f(0, 1),
        "cohort.proteinuria_mean_g_day": f(1, 12), "cohort.proteinuria_sd_g_day": f(0.3, 8),
        "cohort.collection_cv": f(0, 0.6), "cohort.acei_arb_reduction_mean_fraction": f(0.05, 0.6),
        "cohort.acei_arb_reduction_sd_fraction": f(0.01, 0.2), "cohort.acei_arb_intolerant_fraction": f(0, 1),
        "cohort.bp_controlled_fraction": f(0, 1), "cohort.egfr_change_per_year_of_age_ml_min": f(-2, 1),
        "cohort.egfr_mean_ml_min": f(40, 120), "cohort.egfr_sd_ml_min": f(10, 40),
        "eligibility.proteinuria_min_g_day": f(0, 10), "eligibility.proteinuria_max_reduction_fraction": f(0, 1),
        "eligibility.egfr_min_ml_min": f(0, 160), "eligibility.age_min_years": f(10, 40),
        "eligibility.age_max_years": f(50, 95),
    }


def _valid(scenario, overrides: dict):
    from simulate.errors import ScenarioError

    try:
        return with_overrides(scenario, overrides)
    except ScenarioError:
        return None


@settings(max_examples=60, deadline=None)
@given(overrides=cohort_and_rules())
def test_screen_bound_never_exceeds_the_exact_probability(scenario, overrides: dict) -> None:
    from simulate.design.scenario import Scenario

    data = scenario.model_dump(mode="python")
    for path, value in overrides.items():
        section, key = path.split(".")
        data[section][key] = value
    try:
        s = Scenario.model_validate(data)        # the bound is a function of the fields alone
    except Exception:                            # noqa: BLE001 - invalid draws are not the point
        return
    exact = pass_probabilities(s.cohort, s.eligibility).candidate
    assert feasibility.screen_lower_bound(s.cohort, s.eligibility) <= exact * (1 + 1e-9) + 1e-15


@settings(max_examples=60, deadline=None)
@given(hazard=st.floats(0, 0.08), multiplier=st.floats(1, 5), course=st.floats(0, 23),
       median=st.floats(0.5, 14), shape=st.floats(0.6, 4))
def test_remission_bound_never_exceeds_the_exact_ceiling(scenario, hazard, multiplier, course, median, shape) -> None:
    from simulate.design.scenario import Scenario

    data = scenario.model_dump(mode="python")
    data["outcome"].update(weibull_shape_time_to_remission=shape)
    cni = ({"drug": "cyclosporine", "drug_class": "cni", "months": course},) if course > 0 else ()
    data["arms"]["rtx_csa"].update(courses=cni, median_months_to_remission=median, relapse_hazard_per_month=hazard,
                                   relapse_hazard_off_cni_per_month=hazard * multiplier if cni else None)
    data["arms"]["rtx"].update(median_months_to_remission=median, relapse_hazard_per_month=hazard)
    s = Scenario.model_validate(data)
    for name in ARMS:
        bound = feasibility.remission_lower_bound(s, name)
        if bound == 0.0:
            continue                               # an impossible median: left to the exact check
        assert bound <= _base_model(s, name)[1] * (1 + 1e-12)


def test_the_shipped_scenarios_are_decided_by_the_bounds(scenario) -> None:
    assert feasibility.screen_lower_bound(scenario.cohort, scenario.eligibility) >= \
        feasibility.MIN_CANDIDATE_PROBABILITY
    for name in ARMS:
        assert scenario.arm(name).remission_at_endpoint <= feasibility.remission_lower_bound(scenario, name)


def test_near_the_limit_the_exact_check_decides(scenario) -> None:
    # 0.865 is above the bound (0.861) but below the exact ceiling (0.869): feasible
    ok = with_overrides(scenario, {"arms.rtx_csa.remission_at_endpoint": 0.865})
    assert ok.arms["rtx_csa"].remission_at_endpoint == 0.865
    from simulate.errors import ScenarioError

    with pytest.raises(ScenarioError, match="at most 0.869"):
        with_overrides(scenario, {"arms.rtx_csa.remission_at_endpoint": 0.875})


def test_validate_imports_no_scipy_pandas_or_simpy() -> None:
    code = ("import sys; from simulate.cli import main; main(['validate', %r]); "
            "print(sorted(m for m in ('scipy', 'pandas', 'simpy', 'seaborn', 'matplotlib') if m in sys.modules))"
            % str(DEFAULT_SCENARIO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
