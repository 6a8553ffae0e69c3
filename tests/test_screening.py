"""Each criterion is defined once (simulate/screening/criteria.py) and four uses derive from it:
the cohort's screen, the fates' screen on uniforms, the exact pass probabilities and the quick
feasibility bounds.

The tests move one bound of one criterion in a scenario and check that the four uses move
together: the exact probability of the criterion's group still equals the share of a large
fixed-seed cohort passing (within K = 4 Monte Carlo SE), the feasibility bound stays below it,
a time-dependent rule changes deferrals only, and the screen on uniforms defers exactly the
patients the cohort's screen defers, patient by patient.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulate.population.cohort import Patients, draw_cohort
from simulate.design.loader import load_scenario
from simulate.design.scenario import Eligibility
from simulate.screening import feasibility
from simulate.screening.criteria import BY_NAME, GROUPS, RULE_NAMES, RULES
from simulate.screening.probabilities import GROUP_PROBABILITIES, exact_pass_probabilities
from simulate.screening.screen import screen
from simulate.screening.uniforms import CLOCKS, clock_of, defer_on_uniforms
from simulate.seeding import stream

from conftest import DEFAULT_SCENARIO
from test_eligibility import make_patients

K = 4.0
N_COHORT = 200_000
SEED = 31

SHIFTS = {
    # id: (override, the criterion whose bound it moves)
    "egfr": ("eligibility.egfr_min_ml_min=70", "egfr"),
    "age": ("eligibility.age_max_years=60", "age"),
    "proteinuria-level": ("eligibility.proteinuria_min_g_day=6", "proteinuria_level"),
    "proteinuria-reduction": ("eligibility.proteinuria_max_reduction_fraction=0.3", "proteinuria_reduction"),
    "relapse": ("eligibility.relapse_off_rtx_or_alkylating_min_months=12", "no_prior_resistance"),
    "run-in": ("eligibility.acei_arb_run_in_months=6", "acei_arb_run_in"),
    "washout": ("eligibility.washout_alkylating_months=12", "washout_alkylating"),
}


def within(observed: float, expected: float, n: int, what: str) -> None:
    se = math.sqrt(max(expected * (1 - expected), 1e-12) / n)
    assert abs(observed - expected) <= K * se, f"{what}: {observed:.5f} vs exact {expected:.5f} ({K:g} SE = {K * se:.5f})"


@pytest.fixture(scope="module")
def base():
    return load_scenario(DEFAULT_SCENARIO)


# --------------------------------------------------------------------------- the definitions


def test_every_threshold_is_read_by_a_criterion_and_every_criterion_reads_patients() -> None:
    read = [b.threshold for r in RULES for b in r.bounds]
    assert sorted(read) == sorted(Eligibility.model_fields), "an [eligibility] field no criterion reads"
    covariates = set(Patients.__dataclass_fields__) | {"proteinuria_mean_g_day", "proteinuria_reduction_fraction"}
    for r in RULES:
        used = {b.measure for b in r.bounds} | {b.among[0] for b in r.bounds if b.among} | set(r.present) \
            | set(r.absent) | set(r.exempt)
        assert used <= covariates, (r.name, used - covariates)


def test_groups_uses_and_clocks_derive_from_the_criteria() -> None:
    assert GROUPS == {
        "demography": ("age", "not_pregnant", "contraception", "egfr"),
        "conditions": ("idiopathic", "no_active_infection", "no_diabetes"),
        "proteinuria": ("proteinuria_level", "proteinuria_reduction", "blood_pressure"),
        "history": ("no_prior_resistance",),
    }
    assert set(GROUP_PROBABILITIES) == set(GROUPS), "a covariate group without its exact pass probability"
    assert sorted(r.clock.measure for r in RULES if r.time_dependent) == sorted(CLOCKS)


# --------------------------------------------------------------------------- one bound moved, four uses


@pytest.mark.parametrize("override, name", SHIFTS.values(), ids=list(SHIFTS))
def test_a_moved_bound_moves_the_cohort_screen_the_probabilities_and_the_bound_together(base, override, name) -> None:
    moved = load_scenario(DEFAULT_SCENARIO, [override])
    rule = BY_NAME[name]
    patients = draw_cohort(base.cohort, N_COHORT, SEED)
    before, after = screen(patients, base.eligibility), screen(patients, moved.eligibility)
    k = RULE_NAMES.index(name)
    # the cohort's screen: the moved bound fails more patients (every shift tightens)
    assert (~after.passes[k]).sum() > (~before.passes[k]).sum()
    p_before = exact_pass_probabilities(base.cohort, base.eligibility)
    p_after = exact_pass_probabilities(moved.cohort, moved.eligibility)
    bound_before = feasibility.screen_lower_bound(base.cohort, base.eligibility)
    bound_after = feasibility.screen_lower_bound(moved.cohort, moved.eligibility)
    if rule.time_dependent:
        # deferral only: nobody more is excluded, nothing the exact probabilities or bounds see moves
        assert np.array_equal(after.excluded, before.excluded)
        assert p_after == p_before and bound_after == bound_before
        assert after.deferred.sum() > before.deferred.sum()
        return
    # the exact probability of the rule's group falls, and still equals the cohort's share
    group = rule.group
    idx = [RULE_NAMES.index(r) for r in GROUPS[group]]
    assert getattr(p_after, group) < getattr(p_before, group)
    within(float(after.passes[idx].all(axis=0).mean()), getattr(p_after, group), N_COHORT, f"{name}: {group}")
    within(float(np.isfinite(after.qualifies_in_months).mean()), p_after.candidate, N_COHORT, f"{name}: candidate")
    # the feasibility bound reads the same thresholds: it moves and stays below the exact value
    assert bound_after != bound_before
    assert bound_after <= p_after.candidate * (1 + 1e-9)


def uniforms_and_their_patients(scenario, n: int, seed: int) -> tuple[np.ndarray, float, Patients]:
    """Clock uniforms (rows as CLOCKS), the candidates' chance of intolerance, and patients who
    pass every permanent rule with the clocks those uniforms make."""
    p_int = exact_pass_probabilities(scenario.cohort, scenario.eligibility).intolerant_given_pass
    u = stream(np.random.SeedSequence(seed), "clocks").random((len(CLOCKS), n))
    months = {name: clock_of(scenario.cohort, name, p_int).months(u[row]) for row, name in enumerate(CLOCKS)}
    return u, p_int, make_patients(n, acei_arb_intolerant=u[0] < p_int, **months)


@pytest.mark.parametrize("overrides", [
    [], [SHIFTS["run-in"][0]], [SHIFTS["washout"][0]],
    ["eligibility.washout_steroid_mmf_months=4", "eligibility.acei_arb_run_in_months=0.5",
     "eligibility.washout_alkylating_months=2"],
], ids=["registered", "run-in", "washout", "all-clocks"])
def test_the_screen_on_uniforms_defers_as_the_cohort_screen_patient_by_patient(overrides) -> None:
    scenario = load_scenario(DEFAULT_SCENARIO, overrides)
    u, p_int, patients = uniforms_and_their_patients(scenario, 100_000, 7)
    wait, first = defer_on_uniforms(scenario.cohort, scenario.eligibility, u, p_int)
    s = screen(patients, scenario.eligibility)
    assert not s.excluded.any()
    np.testing.assert_array_equal(first, s.first_failure)
    np.testing.assert_array_equal(wait, s.qualifies_in_months)
    # each time-dependent rule defers someone, so every rule was exercised
    assert {int(k) for k in np.unique(first[first >= 0])} == {RULE_NAMES.index(r.name) for r in RULES
                                                              if r.time_dependent}
