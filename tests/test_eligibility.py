"""The registered eligibility criteria (NCT04743739): every rule at its boundaries, the
deferral arithmetic (qualifies_in_months) and the CONSORT funnel.

Rules are exercised on hand-made patients: :func:`make_patients` builds k patients who pass
every criterion; each test changes one field and checks the rule it belongs to.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields

import numpy as np
import pytest

from simulate.population.cohort import Patients, draw_cohort
from simulate.screening.criteria import RULE_NAMES, RULES, Bound, Rule
from simulate.screening.screen import Screening, screen
from simulate.design.scenario import Eligibility, Scenario

TINY = np.finfo(float).tiny

PASSING = dict(
    age_years=50.0,
    male=True,
    postmenopausal=False,
    contraception_or_sterile=False,
    pregnant_or_breastfeeding=False,
    proteinuria_baseline_g_day=8.0,
    proteinuria_true_g_day=6.0,
    proteinuria_collection_1_g_day=6.0,
    proteinuria_collection_2_g_day=6.0,
    albumin_g_l=25.0,
    egfr_ml_min=80.0,
    pla2r_positive=True,
    pla2r_titre_ru_ml=100.0,
    diabetes=False,
    active_infection=False,
    secondary_cause=False,
    months_since_steroid_mmf=np.inf,
    months_since_alkylating=np.inf,
    acei_arb_intolerant=False,
    months_on_acei_arb=6.0,
    bp_controlled=True,
    resistant_cni=False,
    resistant_rtx=False,
    resistant_alkylating=False,
    prior_relapse_drug=0,
    months_off_drug_at_relapse=np.nan,
)
DTYPES = {"prior_relapse_drug": np.int8}


def make_patients(k: int = 1, **changes) -> Patients:
    """k patients passing every rule, with ``changes`` (a scalar, or one value per patient)."""
    unknown = set(changes) - set(PASSING)
    assert not unknown, f"not a Patients field: {unknown}"
    assert set(PASSING) == {f.name for f in fields(Patients)}, "factory out of date with Patients"
    data = {}
    for name, default in PASSING.items():
        value = changes.get(name, default)
        dtype = DTYPES.get(name, np.asarray(default).dtype)
        arr = np.asarray(value, dtype=dtype)
        data[name] = np.broadcast_to(arr, (k,)).copy() if arr.ndim == 0 else arr
        assert data[name].shape == (k,), name
    return Patients(**data)


@pytest.fixture(scope="module")
def rules(scenario: Scenario) -> Eligibility:
    return scenario.eligibility


def status(s: Screening) -> list[str]:
    return ["eligible" if e else "deferred" if d else "excluded"
            for e, d in zip(s.eligible_now, s.deferred)]


def rule_passes(s: Screening, name: str) -> list[bool]:
    return s.passes[RULE_NAMES.index(name)].tolist()


def test_factory_patient_passes_everything(rules: Eligibility) -> None:
    s = screen(make_patients(3), rules)
    assert s.passes.all()
    assert status(s) == ["eligible"] * 3
    assert s.qualifies_in_months.tolist() == [0.0] * 3
    assert s.first_failure.tolist() == [-1] * 3


def test_registered_thresholds(rules: Eligibility) -> None:
    assert (rules.age_min_years, rules.age_max_years) == (18, 80)
    assert rules.proteinuria_min_g_day == 4.0 and rules.proteinuria_max_reduction_fraction == 0.5
    assert rules.egfr_min_ml_min == 40.0
    assert rules.washout_steroid_mmf_months == 1.0 and rules.washout_alkylating_months == 6.0
    assert rules.acei_arb_run_in_months == 3.0
    assert rules.relapse_off_cni_min_months == 3.0 and rules.relapse_off_rtx_or_alkylating_min_months == 6.0


def test_rules_in_consort_order() -> None:
    assert RULE_NAMES == (
        "age", "idiopathic", "no_active_infection", "no_diabetes", "not_pregnant", "contraception",
        "proteinuria_level", "proteinuria_reduction", "egfr", "blood_pressure", "no_prior_resistance",
        "washout_steroid_mmf", "washout_alkylating", "acei_arb_run_in",
    )
    kinds = [r.time_dependent for r in RULES]
    assert kinds == sorted(kinds), "permanent rules must come before time-dependent ones"
    # a time-dependent rule waits on one clock; a permanent one has none
    assert all(r.clock.op in (">", ">=") for r in RULES if r.time_dependent)
    for r in RULES:
        if not r.time_dependent:
            with pytest.raises(ValueError, match="no clock"):
                r.clock


def test_a_malformed_criterion_is_refused_where_it_is_defined() -> None:
    with pytest.raises(ValueError, match="Bound.threshold: got 'age_min'"):
        Bound("age_years", ">=", "age_min")
    with pytest.raises(ValueError, match="Bound.op"):
        Bound("age_years", "=>", "age_min_years")
    with pytest.raises(ValueError, match="one bound 'clock > or >= threshold'"):
        Rule("late", "clocks", "", "", bounds=(Bound("months_on_acei_arb", "<=", "acei_arb_run_in_months"),),
             time_dependent=True)
    with pytest.raises(ValueError, match="only they, read the clocks"):
        Rule("washout", "clocks", "", "", bounds=(Bound("months_since_alkylating", ">", "washout_alkylating_months"),))


# --------------------------------------------------------------------------- boundaries, rule by rule

# (id, changes, rule, rule passes?, status)
BOUNDARIES = [
    ("age-18", dict(age_years=18.0), "age", True, "eligible"),
    ("age-80", dict(age_years=80.0), "age", True, "eligible"),
    ("age-17.99", dict(age_years=17.99), "age", False, "excluded"),
    ("age-80.01", dict(age_years=80.01), "age", False, "excluded"),
    ("proteinuria-4.0", dict(proteinuria_collection_1_g_day=4.0, proteinuria_collection_2_g_day=4.0,
                             proteinuria_baseline_g_day=6.0), "proteinuria_level", True, "eligible"),
    ("proteinuria-3.5+4.5", dict(proteinuria_collection_1_g_day=3.5, proteinuria_collection_2_g_day=4.5,
                                 proteinuria_baseline_g_day=6.0), "proteinuria_level", True, "eligible"),
    ("proteinuria-3.99", dict(proteinuria_collection_1_g_day=3.99, proteinuria_collection_2_g_day=3.99,
                              proteinuria_baseline_g_day=6.0), "proteinuria_level", False, "excluded"),
    ("proteinuria-mean-3.99", dict(proteinuria_collection_1_g_day=3.0, proteinuria_collection_2_g_day=4.98,
                                   proteinuria_baseline_g_day=6.0), "proteinuria_level", False, "excluded"),
    ("proteinuria-one-high-collection", dict(proteinuria_collection_1_g_day=2.0, proteinuria_collection_2_g_day=5.0,
                                             proteinuria_true_g_day=9.0, proteinuria_baseline_g_day=6.0),
     "proteinuria_level", False, "excluded"),  # the mean of the collections counts, not the true level
    ("reduction-0.5", dict(proteinuria_collection_1_g_day=4.0, proteinuria_collection_2_g_day=4.0,
                           proteinuria_baseline_g_day=8.0), "proteinuria_reduction", True, "eligible"),
    ("reduction-0.5-other", dict(proteinuria_collection_1_g_day=4.5, proteinuria_collection_2_g_day=5.5,
                                 proteinuria_baseline_g_day=10.0), "proteinuria_reduction", True, "eligible"),
    ("reduction-0.51", dict(proteinuria_collection_1_g_day=4.9, proteinuria_collection_2_g_day=4.9,
                            proteinuria_baseline_g_day=10.0), "proteinuria_reduction", False, "excluded"),
    ("reduction-negative", dict(proteinuria_baseline_g_day=5.0), "proteinuria_reduction", True, "eligible"),
    ("egfr-40", dict(egfr_ml_min=40.0), "egfr", True, "eligible"),
    ("egfr-39.9", dict(egfr_ml_min=39.9), "egfr", False, "excluded"),
    ("steroid-1.0", dict(months_since_steroid_mmf=1.0), "washout_steroid_mmf", False, "deferred"),
    ("steroid-1.01", dict(months_since_steroid_mmf=1.01), "washout_steroid_mmf", True, "eligible"),
    ("steroid-0.4", dict(months_since_steroid_mmf=0.4), "washout_steroid_mmf", False, "deferred"),
    ("alkylating-6.0", dict(months_since_alkylating=6.0), "washout_alkylating", False, "deferred"),
    ("alkylating-6.01", dict(months_since_alkylating=6.01), "washout_alkylating", True, "eligible"),
    ("acei-3.0", dict(months_on_acei_arb=3.0), "acei_arb_run_in", True, "eligible"),
    ("acei-2.5", dict(months_on_acei_arb=2.5), "acei_arb_run_in", False, "deferred"),
    ("acei-intolerant-run-in", dict(acei_arb_intolerant=True, months_on_acei_arb=0.0, bp_controlled=False),
     "acei_arb_run_in", True, "eligible"),
    ("acei-intolerant-bp", dict(acei_arb_intolerant=True, months_on_acei_arb=0.0, bp_controlled=False),
     "blood_pressure", True, "eligible"),
    ("bp-uncontrolled", dict(bp_controlled=False), "blood_pressure", False, "excluded"),
    ("woman-premenopausal-no-contraception", dict(male=False), "contraception", False, "excluded"),
    ("woman-premenopausal-contraception", dict(male=False, contraception_or_sterile=True), "contraception",
     True, "eligible"),
    ("woman-postmenopausal", dict(male=False, postmenopausal=True), "contraception", True, "eligible"),
    ("man", dict(male=True), "contraception", True, "eligible"),
    ("pregnant", dict(male=False, contraception_or_sterile=True, pregnant_or_breastfeeding=True),
     "not_pregnant", False, "excluded"),
    ("diabetes", dict(diabetes=True), "no_diabetes", False, "excluded"),
    ("infection", dict(active_infection=True), "no_active_infection", False, "excluded"),
    ("secondary", dict(secondary_cause=True), "idiopathic", False, "excluded"),
    ("resistant-cni", dict(resistant_cni=True), "no_prior_resistance", False, "excluded"),
    ("resistant-rtx", dict(resistant_rtx=True), "no_prior_resistance", False, "excluded"),
    ("resistant-alkylating", dict(resistant_alkylating=True), "no_prior_resistance", False, "excluded"),
    ("relapse-off-cni-3.5", dict(prior_relapse_drug=1, months_off_drug_at_relapse=3.5),
     "no_prior_resistance", True, "eligible"),
    ("relapse-off-cni-3.0", dict(prior_relapse_drug=1, months_off_drug_at_relapse=3.0),
     "no_prior_resistance", False, "excluded"),  # registered: "> 3 months"
    ("relapse-off-cni-2", dict(prior_relapse_drug=1, months_off_drug_at_relapse=2.0),
     "no_prior_resistance", False, "excluded"),
    ("relapse-off-rtx-7", dict(prior_relapse_drug=2, months_off_drug_at_relapse=7.0),
     "no_prior_resistance", True, "eligible"),
    ("relapse-off-rtx-6", dict(prior_relapse_drug=2, months_off_drug_at_relapse=6.0),
     "no_prior_resistance", False, "excluded"),
    ("relapse-off-rtx-5", dict(prior_relapse_drug=2, months_off_drug_at_relapse=5.0),
     "no_prior_resistance", False, "excluded"),
    ("relapse-off-alkylating-7", dict(prior_relapse_drug=3, months_off_drug_at_relapse=7.0),
     "no_prior_resistance", True, "eligible"),
    ("relapse-off-alkylating-5", dict(prior_relapse_drug=3, months_off_drug_at_relapse=5.0),
     "no_prior_resistance", False, "excluded"),
    ("relapse-off-cni-5-is-fine", dict(prior_relapse_drug=1, months_off_drug_at_relapse=5.0),
     "no_prior_resistance", True, "eligible"),  # the CNI threshold is 3, not 6
]


@pytest.mark.parametrize("changes, rule, passes, expected_status", [c[1:] for c in BOUNDARIES],
                         ids=[c[0] for c in BOUNDARIES])
def test_rule_boundary(rules: Eligibility, changes: dict, rule: str, passes: bool, expected_status: str) -> None:
    s = screen(make_patients(1, **changes), rules)
    assert rule_passes(s, rule) == [passes]
    # no other rule is touched by the change, so this one decides
    others = np.delete(s.passes[:, 0], RULE_NAMES.index(rule))
    assert others.all(), [n for n, ok in zip(RULE_NAMES, s.passes[:, 0]) if not ok]
    assert status(s) == [expected_status]
    assert s.first_failure_name.tolist() == ["" if passes else rule]


def test_exact_washout_threshold_is_deferred_by_a_hair(rules: Eligibility) -> None:
    """Strict '>' at exactly 1 month: not eligible now, deferred, qualifying right after."""
    s = screen(make_patients(2, months_since_steroid_mmf=[1.0, np.inf], months_since_alkylating=[np.inf, 6.0]), rules)
    assert not s.eligible_now.any() and s.deferred.all() and not s.excluded.any()
    assert np.all(s.qualifies_in_months > 0) and np.all(s.qualifies_in_months <= TINY)


@pytest.mark.parametrize("changes, wait", [
    (dict(months_on_acei_arb=2.5), 0.5),
    (dict(months_on_acei_arb=0.0), 3.0),
    (dict(months_since_steroid_mmf=0.25), 0.75),
    (dict(months_since_alkylating=2.0), 4.0),
    (dict(months_since_steroid_mmf=0.0, months_since_alkylating=0.0), 6.0),
])
def test_deferral_wait(rules: Eligibility, changes: dict, wait: float) -> None:
    s = screen(make_patients(1, **changes), rules)
    assert status(s) == ["deferred"]
    assert s.qualifies_in_months[0] == pytest.approx(wait, abs=1e-12)


# --------------------------------------------------------------------------- qualifies_in_months


def test_eligible_now_waits_zero(rules: Eligibility) -> None:
    s = screen(make_patients(4, age_years=[18, 50, 80, 65]), rules)
    assert s.qualifies_in_months.tolist() == [0.0] * 4


@pytest.mark.parametrize("permanent", [dict(age_years=17.0), dict(diabetes=True), dict(egfr_ml_min=20.0),
                                       dict(resistant_cni=True), dict(bp_controlled=False)])
@pytest.mark.parametrize("timed", [dict(), dict(months_on_acei_arb=1.0), dict(months_since_steroid_mmf=0.5),
                                   dict(months_since_alkylating=1.0, months_on_acei_arb=2.0)])
def test_permanent_failure_waits_forever(rules: Eligibility, permanent: dict, timed: dict) -> None:
    s = screen(make_patients(1, **permanent, **timed), rules)
    assert np.isposinf(s.qualifies_in_months[0])
    assert status(s) == ["excluded"]


def test_several_time_dependent_failures_wait_for_the_longest(rules: Eligibility) -> None:
    # waits: steroid 1 - 0.5 = 0.5, alkylating 6 - 5 = 1, ACEI/ARB 3 - 1 = 2
    s = screen(make_patients(1, months_since_steroid_mmf=0.5, months_since_alkylating=5.0,
                             months_on_acei_arb=1.0), rules)
    assert s.qualifies_in_months[0] == pytest.approx(2.0)
    assert s.first_failure_name.tolist() == ["washout_steroid_mmf"]
    # and the other way round
    s = screen(make_patients(1, months_since_steroid_mmf=0.5, months_since_alkylating=1.0,
                             months_on_acei_arb=2.9), rules)
    assert s.qualifies_in_months[0] == pytest.approx(5.0)


def test_waiting_the_deferral_makes_the_patient_eligible(rules: Eligibility) -> None:
    """Age every clock by qualifies_in_months (plus a hair for the strict washouts): eligible."""
    p = make_patients(3, months_since_steroid_mmf=[0.5, 1.0, np.inf], months_since_alkylating=[5.0, np.inf, 0.0],
                      months_on_acei_arb=[1.0, 3.0, 2.0])
    s = screen(p, rules)
    later = make_patients(
        3,
        months_since_steroid_mmf=p.months_since_steroid_mmf + s.qualifies_in_months + 1e-9,
        months_since_alkylating=p.months_since_alkylating + s.qualifies_in_months + 1e-9,
        months_on_acei_arb=p.months_on_acei_arb + s.qualifies_in_months,
    )
    assert screen(later, rules).eligible_now.all()


def test_thresholds_come_from_the_scenario(rules: Eligibility) -> None:
    looser = Eligibility(**{**rules.model_dump(), "egfr_min_ml_min": 30.0, "age_max_years": 85.0,
                            "acei_arb_run_in_months": 2.0})
    p = make_patients(3, egfr_ml_min=[35.0, 80.0, 80.0], age_years=[50.0, 83.0, 50.0],
                      months_on_acei_arb=[6.0, 6.0, 2.5])
    assert status(screen(p, rules)) == ["excluded", "excluded", "deferred"]
    assert status(screen(p, looser)) == ["eligible", "eligible", "eligible"]


# --------------------------------------------------------------------------- first failure and the funnel


def test_first_failure_is_first_in_consort_order(rules: Eligibility) -> None:
    p = make_patients(
        5,
        age_years=[17.0, 50.0, 50.0, 50.0, 50.0],
        diabetes=[True, True, False, False, False],
        egfr_ml_min=[80.0, 20.0, 20.0, 80.0, 80.0],
        months_on_acei_arb=[1.0, 1.0, 1.0, 1.0, 6.0],
    )
    s = screen(p, rules)
    assert s.first_failure_name.tolist() == ["age", "no_diabetes", "egfr", "acei_arb_run_in", ""]
    assert s.first_failure.tolist() == [RULE_NAMES.index(n) if n else -1 for n in s.first_failure_name]


@pytest.fixture(scope="module")
def hand_made_screening(rules: Eligibility) -> Screening:
    p = make_patients(
        6,
        age_years=[50, 17, 17, 50, 50, 50],
        diabetes=[False, False, True, True, False, False],
        months_since_steroid_mmf=[np.inf, np.inf, np.inf, np.inf, 0.5, np.inf],
        months_on_acei_arb=[6, 6, 6, 6, 6, 1],
        egfr_ml_min=[80, 80, 80, 80, 80, 30],
    )
    return screen(p, rules)


def test_funnel_of_hand_made_patients(hand_made_screening: Screening) -> None:
    f = hand_made_screening.funnel().set_index("criterion")
    assert list(f.index) == list(RULE_NAMES)
    assert f.loc["age", "excluded"] == 2 and f.loc["age", "failing"] == 2
    assert f.loc["no_diabetes", "excluded"] == 1 and f.loc["no_diabetes", "failing"] == 2
    assert f.loc["egfr", "excluded"] == 1
    assert f.loc["washout_steroid_mmf", "deferred"] == 1 and f.loc["washout_steroid_mmf", "excluded"] == 0
    assert f.loc["acei_arb_run_in", "deferred"] == 0 and f.loc["acei_arb_run_in", "failing"] == 1
    assert f.loc["age", "remaining"] == 4 and f.loc["no_diabetes", "remaining"] == 3
    assert f.loc["egfr", "remaining"] == 2 and f.loc["acei_arb_run_in", "remaining"] == 1
    assert set(f["kind"]) == {"permanent", "time-dependent"}
    s = hand_made_screening.summary()
    assert (s["screened"], s["eligible"], s["deferred"], s["excluded"]) == (6, 1, 1, 4)


@pytest.fixture(scope="module")
def cohort_screening(scenario: Scenario) -> Screening:
    return screen(draw_cohort(scenario.cohort, 20_000, 99), scenario.eligibility)


def test_funnel_adds_up(cohort_screening: Screening) -> None:
    s = cohort_screening
    n = s.passes.shape[1]
    f = s.funnel()
    eligible = int(s.eligible_now.sum())
    assert int(f["excluded"].sum()) + int(f["deferred"].sum()) + eligible == n
    assert int(f["excluded"].sum()) == int(s.excluded.sum())
    assert int(f["deferred"].sum()) == int(s.deferred.sum())
    assert int(s.excluded.sum() + s.deferred.sum() + s.eligible_now.sum()) == n
    assert not np.any(s.excluded & s.deferred) and not np.any(s.eligible_now & (s.excluded | s.deferred))
    # the default population exercises every step of the funnel
    assert (f["failing"] > 0).all(), f[f["failing"] == 0]
    assert 0 < eligible < n


def test_remaining_decreases(cohort_screening: Screening) -> None:
    f = cohort_screening.funnel()
    remaining = f["remaining"].to_numpy()
    n = cohort_screening.passes.shape[1]
    steps = np.diff(np.concatenate([[n], remaining]))
    assert np.all(steps <= 0)
    assert np.array_equal(-steps, (f["excluded"] + f["deferred"]).to_numpy())
    assert remaining[-1] == int(cohort_screening.eligible_now.sum())


def test_first_failure_agrees_with_passes(cohort_screening: Screening) -> None:
    s = cohort_screening
    fails = ~s.passes
    for i in np.flatnonzero(s.first_failure >= 0)[:500]:
        k = s.first_failure[i]
        assert fails[k, i] and not fails[:k, i].any()
    assert np.array_equal(s.first_failure == -1, s.passes.all(axis=0))
    permanent = np.array([not r.time_dependent for r in RULES])
    assert np.array_equal(s.excluded, fails[permanent].any(axis=0))


def test_summary_shape(cohort_screening: Screening) -> None:
    s = json.loads(json.dumps(cohort_screening.summary()))  # plain JSON types only
    assert {"screened", "eligible", "funnel"} <= set(s)
    assert s["screened"] == 20_000
    assert isinstance(s["eligible"], int) and 0 <= s["eligible"] <= s["screened"]
    assert s["eligible"] + s["deferred"] + s["excluded"] == s["screened"]
    assert [row["criterion"] for row in s["funnel"]] == list(RULE_NAMES)
    for row in s["funnel"]:
        assert {"criterion", "excluded", "deferred", "failing", "kind"} <= set(row)
        assert all(isinstance(row[k], int) for k in ("excluded", "deferred", "failing"))
    assert sum(r["excluded"] + r["deferred"] for r in s["funnel"]) + s["eligible"] == s["screened"]


def test_screen_of_nobody(rules: Eligibility, scenario: Scenario) -> None:
    s = screen(draw_cohort(scenario.cohort, 0, 1), rules)
    assert s.passes.shape == (len(RULES), 0)
    summary = s.summary()
    assert summary["screened"] == 0 and summary["eligible"] == 0
    assert all(row["excluded"] == 0 for row in summary["funnel"])


def test_screened_fraction_is_plausible(cohort_screening: Screening) -> None:
    """Not a published figure (none exists: [assumption] 30-50% screen failure); a guard that
    the default population is neither screened out entirely nor let through wholesale."""
    frac = float(cohort_screening.eligible_now.mean())
    assert 0.05 < frac < 0.6, frac
    assert math.isfinite(frac)
