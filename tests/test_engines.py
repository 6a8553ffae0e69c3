"""Double programming: the batch engine and the discrete-event engine, given the same fates,
must produce the same trials.

The DES derives each patient's randomisation month from its own clock (each referral an event
at its fated month, then the screening and any deferral as events), each patient's status at
every visit, at the endpoint and by LOCF from the patient's own events (remission, relapse,
dropout, visits), and its processes count the CONSORT numbers as they run (every referral,
excluded or not, screened as events); the batch engine computes the same with array arithmetic.
They share only the fates. Checked patient by patient (referral, arm, stratum, randomisation
month, endpoint status, LOCF status, dropout, and the DES's status at every visit) and trial by
trial (every CONSORT count, the calendar: the months of the first and last randomisation, of the
close of enrolment and of the end of the trial, and interim looks' months), on every shipped
scenario, on variants and on scenarios drawn at random, for several seeds; at hand-placed ties;
and each DES rule broken on purpose makes the check fail.

Months are compared exactly, bit for bit: the DES's clock adds the same terms in the same order
as the batch engine's arithmetic (referral month, + screening, + deferral; + the months to the
endpoint or a dropout), and lands exactly on each referral month (see
:func:`simulate.engines.des_model.step_towards`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simulate.analysis import interim
from simulate.engines.blocks import outcomes_from_des
from simulate.engines.block_outcomes import BlockOutcomes
from simulate.engines import des_model
from simulate.engines.batch import group_sequential, outcomes_from_batch, patient_outcomes, randomise_block
from simulate.engines.des import Trial, simulate_trial
from simulate.errors import ScenarioError
from simulate.fates.draw import candidates_of, draw_fates
from simulate.fates.record import Fates
from simulate.design.loader import load_scenario
from simulate.design.scenario import Scenario

ARMS = ("rtx", "rtx_csa")
"""The registered scenario's arms, control first."""
from simulate.seeding import block_sequence

from conftest import PLAIN_SCENARIO

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = PLAIN_SCENARIO     # the registered design without intercurrent events
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))
ONE_SIDED = ('analysis.alternative="greater"', 'analysis.test="ztest"', "analysis.alpha=0.025")
"""What a group-sequential design needs (one-sided, the score statistic)."""
LONG_FOLLOW_UP = (
    # follow-up past the endpoint and frequent dropout: the rules around the endpoint matter
    "trial.max_follow_up_months=36", "trial.visit_months=[0, 1, 3, 6, 9, 12, 15, 18, 21, 24, 30, 36]",
    "dropout.probability_by_endpoint=0.3", "trial.n_per_arm=30",
)


def assert_same(a: BlockOutcomes, b: BlockOutcomes, label: str) -> None:
    """Every field of two blocks' outcomes equal, bit for bit (nan equal to nan)."""
    ours, theirs = a.arrays(), b.arrays()
    assert ours.keys() == theirs.keys(), label
    for name, x in ours.items():
        y = theirs[name]
        assert (x is None) == (y is None), f"{label}: {name} given by one engine only"
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=f"{label}: {name}")


def batch_trials(scenario: Scenario, fates: Fates, n_trials: int) -> tuple[dict, dict]:
    """The batch engine's randomisation and patient outcomes of a block; with interim looks, as
    cut by a stop (patients randomised after the decision never were, enrolment closed then)."""
    r = randomise_block(scenario, fates, n_trials)
    o = patient_outcomes(scenario, fates, r)
    design = interim.design_for(scenario)
    if design is not None:
        stop = group_sequential(scenario, design, r, o)["decision_month"]
        randomised = r["randomised"] & (r["month"] < stop[:, None])
        r = {**r, "randomised": randomised, "month": np.where(randomised, r["month"], np.nan),
             "closed": np.minimum(r["closed"], stop)}
    return r, o


def assert_trials_agree(scenario: Scenario, seed: int, n_trials: int = 8, fates: Fates | None = None) -> None:
    """The first ``n_trials`` trials of the seed's block, through both engines: the same patients
    (referral, arm, stratum, randomisation month), the same fate for each (endpoint status, LOCF
    status, dropout), the same CONSORT counts and calendar, trial by trial. The DES's statuses
    at every scheduled visit are also checked against the model's status at that month."""
    fates = fates if fates is not None else draw_fates(scenario, block_sequence(seed, 0), n_trials)
    b = outcomes_from_batch(scenario, fates, n_trials)
    r, o = batch_trials(scenario, fates, n_trials)
    analysed = b.counts(scenario.analysis.missing)[1]
    for t in range(n_trials):
        label = f"seed {seed}, trial {t}"
        res = simulate_trial(scenario, fates, t, detail=False)
        p = res.randomised
        mine = r["randomised"][t]
        slots = np.flatnonzero(mine)
        # who: the same candidates (found by their referral month) randomised; then in the pool's
        # order (the batch engine's order of randomisation), each in the same month, to the same
        # arm and stratum
        rows = candidates_of(fates, t)
        column = {m: c for c, m in enumerate(fates.referral_month[rows].tolist())}
        slot = fates.slot[rows][[column[m] for m in p.referral_month.tolist()]]
        by_month = np.argsort(slot)
        np.testing.assert_array_equal(slot[by_month], slots, err_msg=f"{label}: who")
        np.testing.assert_array_equal(p.arm[by_month], r["arm"][t][mine], err_msg=f"{label}: arm")
        np.testing.assert_array_equal(p.stratum[by_month], r["stratum"][t][mine], err_msg=f"{label}: stratum")
        np.testing.assert_array_equal(p.randomisation_month[by_month], r["month"][t][mine],
                                      err_msg=f"{label}: randomisation month")
        # what happened to each of them
        if scenario.intercurrent:        # the estimand's variable (tests/test_intercurrent.py checks the paths)
            value = p.endpoint_value[by_month]
            np.testing.assert_array_equal(value < 0, o["dropped"][t][mine], err_msg=f"{label}: variable missing")
            np.testing.assert_array_equal(value > 0, o["remission"][t][mine], err_msg=f"{label}: variable")
            np.testing.assert_array_equal(p.carried_value[by_month] > 0, o["locf"][t][mine], err_msg=f"{label}: LOCF")
        else:
            _assert_same_follow_up(scenario, fates, p, by_month, r, o, t, mine, slots, label)
        # CONSORT: the DES's processes counted these as they ran; the batch engine computed them
        c = res.consort
        for name in ("referred", "excluded_total", "deferred", "lost_during_deferral",
                     "not_randomised_enrolment_closed", "randomised"):
            assert c[name] == getattr(b, name)[t], f"{label}: {name} {c[name]} != {getattr(b, name)[t]}"
        for a, arm in enumerate(scenario.arm_names):
            assert c["randomised_per_arm"][arm] == b.n_randomised[t, :, a].sum(), f"{label}: randomised {arm}"
            if not scenario.intercurrent:   # with events, n_completed counts the known variables
                assert c["discontinued_per_arm"][arm] == (b.n_randomised - b.n_completed)[t, :, a].sum(), \
                    f"{label}: discontinued {arm}"
            assert c["analysed_per_arm"][arm] == analysed[t, :, a].sum(), f"{label}: analysed {arm}"
        assert_same_calendar(res.calendar, r, b, t, label)
    # and the block as power runs see it (counts per stratum and arm, calendar, looks)
    assert_same(outcomes_from_des(scenario, fates, n_trials), b, f"seed {seed}")


def _assert_same_follow_up(scenario, fates, p, by_month, r, o, t, mine, slots, label) -> None:
    """Without intercurrent events: each patient's endpoint, LOCF, dropout and visit statuses
    in the DES are the batch engine's."""
    t_cfg = scenario.trial
    visits = np.asarray(t_cfg.visit_months, dtype=float)
    dropped = o["dropped"][t][mine]
    state = 2 if t_cfg.endpoint == "cr" else 1          # the lowest status in the endpoint state
    np.testing.assert_array_equal(p.endpoint_status[by_month] < 0, dropped, err_msg=f"{label}: endpoint seen")
    np.testing.assert_array_equal(p.endpoint_status[by_month] >= state, o["remission"][t][mine],
                                  err_msg=f"{label}: endpoint status")
    if t_cfg.endpoint == "cr_or_pr":
        status = np.where(dropped, -1, np.where(o["remission"][t][mine], np.where(o["complete"][t][mine], 2, 1), 0))
        np.testing.assert_array_equal(p.endpoint_status[by_month], status, err_msg=f"{label}: endpoint status")
    np.testing.assert_array_equal(p.locf_status[by_month] >= state, o["locf"][t][mine], err_msg=f"{label}: LOCF")
    np.testing.assert_array_equal(p.dropout_month[by_month], np.where(dropped, o["dropout_month"][t][mine], np.nan),
                                  err_msg=f"{label}: dropout")
    # every visit: the model's status at its month, if attended (before any dropout)
    po = [fates.outcomes[a] for a in r["arm"][t][mine]]
    rem, rel, comp = (np.array([getattr(x, name)[t, k] for x, k in zip(po, slots)]).reshape(-1, 1)
                      for name in ("remission_month", "relapse_month", "complete"))
    drop = o["dropout_month"][t][mine].reshape(-1, 1)      # a mar dropout's month is the engine's
    attended = (visits < drop) | (drop >= t_cfg.max_follow_up_months)
    at_visit = np.where((rem <= visits) & (rel > visits), np.where(comp, 2, 1), 0)
    np.testing.assert_array_equal(p.visit_status[by_month], np.where(attended, at_visit, -1),
                                  err_msg=f"{label}: visit status")


def assert_same_calendar(cal: dict, r: dict, b: BlockOutcomes, t: int, label: str) -> None:
    """The DES's calendar of trial ``t`` (months as its clock read them) is the batch engine's,
    bit for bit: first and last randomisation, the close of enrolment and the end of the trial."""
    month = r["month"][t][r["randomised"][t]]
    expected = {"first_randomisation_month": float(month.min()) if len(month) else None,
                "last_randomisation_month": float(month.max()) if len(month) else None,
                "enrolment_closed_month": float(r["closed"][t]),
                "duration_months": float(b.duration_months[t])}
    for key, value in expected.items():
        assert cal[key] == value, f"{label}: {key} {cal[key]!r} != {value!r}"
    assert cal["terminated"] == b.terminated[t], f"{label}: terminated"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_engines_agree_on_every_shipped_scenario(path: Path) -> None:
    scenario = load_scenario(path)
    for seed in (1, 2, 3):
        assert_trials_agree(scenario, seed, n_trials=10)


@pytest.mark.parametrize("overrides", [
    ('randomisation.stratify_by=["pla2r_titre_high"]', 'dropout.mechanism="informative"'),
    (*LONG_FOLLOW_UP, 'dropout.mechanism="mar"', "dropout.mar_hazard_ratio_not_in_remission=3"),
    ('randomisation.stratify_by=["pla2r_titre_high", "proteinuria_high"]', 'analysis.missing="complete_case"',
     "dropout.probability_by_endpoint=0.4"),
    (*LONG_FOLLOW_UP, 'analysis.missing="locf"'),
    ("trial.endpoint_month=12", "trial.max_follow_up_months=24", "trial.visit_months=[0, 3, 6, 12, 18, 24]",
     "arms.rtx.median_months_to_remission=4.0", "dropout.probability_by_endpoint=0.3",
     'analysis.missing="complete_case"'),
    (*ONE_SIDED, "interim.information_fractions=[0.3, 0.6, 1.0]", 'interim.futility="beta_spending"',
     "interim.decision_lag_months=3"),
    (*ONE_SIDED, "interim.information_fractions=[0.5, 1.0]", "recruitment.rate_per_site_month=2",
     'interim.futility="beta_spending"', "interim.futility_binding=true", 'analysis.missing="locf"'),
], ids=["stratified-informative", "long-follow-up-mar", "two-strata-complete-case", "long-follow-up-locf", "endpoint-before-follow-up-end",
        "looks-with-lag", "looks-short-of-target"])
def test_engines_agree_patient_by_patient(overrides: tuple[str, ...]) -> None:
    scenario = load_scenario(DEFAULT, list(overrides))
    for seed in (1, 2, 3, 4):
        assert_trials_agree(scenario, seed, n_trials=10)


@st.composite
def scenarios(draw):
    strata = draw(st.sampled_from([[], ["proteinuria_high"], ["pla2r_titre_high", "proteinuria_high"]]))
    blocks = draw(st.sampled_from([[1], [1, 2], [2, 3], [3]]))      # in units of the allocation's sum
    hard_stop = draw(st.floats(6.0, 48.0))
    endpoint = draw(st.sampled_from([6.0, 12.0, 24.0]))
    follow_up = endpoint + draw(st.sampled_from([0.0, 3.0, 12.0]))
    extra = draw(st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.5, 6.0, 9.0, 12.0, 15.0, 18.0, 24.0, 30.0, 36.0]),
                          max_size=6))
    last = [follow_up] if draw(st.booleans()) else []
    visits = sorted({0.0, endpoint, *last, *(v for v in extra if v <= follow_up)})
    shape_factor = 2.0 ** (-1.0 / 1.5)  # the truncated Weibull's median is below endpoint * this
    arms = list(ARMS)
    extra_arms = []
    if draw(st.booleans()):                   # a third arm, with a CNI course and B-cell cover
        arms.append("rtx_tac")
        extra_arms.append(
            'arms.rtx_tac={ label = "RTX + TAC", remission_at_endpoint = 0.5, median_months_to_remission = 2.0, '
            'complete_share_of_remission = 0.6, courses = [{ drug = "rituximab", drug_class = "anti_cd20", '
            f'dose_days = [1, 15], b_cell_cover_months = {draw(st.sampled_from([0.0, 6.0]))} }}, '
            '{ drug = "tacrolimus", drug_class = "cni", months = 3, taper_months = 2 }] }')
        extra_arms.append(f'trial.control_arm="{draw(st.sampled_from(arms))}"')
    weights = [draw(st.integers(1, 2)) for _ in arms]
    csa = draw(st.sampled_from([0.0, 3.0, 9.0]))
    courses = ('[{ drug = "cyclosporine", drug_class = "cni", months = %g }]' % csa) if csa else "[]"
    overrides = [
        *extra_arms,
        f"trial.n_per_arm={draw(st.integers(1, 30))}",
        f"recruitment.sites={draw(st.integers(1, 6))}",
        f"recruitment.rate_per_site_month={draw(st.floats(0.0, 8.0))}",
        f"recruitment.rate_gamma_shape={draw(st.floats(0.3, 50.0))}",
        f"recruitment.site_activation_months_max={draw(st.floats(0.0, 6.0))}",
        f"recruitment.loss_during_deferral_probability={draw(st.floats(0.0, 1.0))}",
        f"trial.hard_stop_months={hard_stop}",
        f"trial.recruitment_months={draw(st.floats(1.0, hard_stop))}",
        f"trial.endpoint_month={endpoint}",
        f"trial.max_follow_up_months={follow_up}",
        f"trial.visit_months={visits}",
        f"randomisation.stratify_by={strata}".replace("'", '"'),
        f"randomisation.block_sizes={[b * sum(weights) for b in blocks]}",
        f"dropout.probability_by_endpoint={draw(st.floats(0.0, 0.6))}",
        f"dropout.mechanism={draw(st.sampled_from(['mcar', 'mar', 'mnar', 'informative']))}",
        f"analysis.missing={draw(st.sampled_from(['nonresponder', 'complete_case', 'locf']))}",
        f"outcome.covariate_effects={str(draw(st.booleans())).lower()}",
        f"outcome.relapse={str(draw(st.booleans())).lower()}",
        *(f"arms.{arm}.relapse_hazard_per_month={draw(st.one_of(st.just(0.0), st.floats(1e-4, 0.02)))}"
          for arm in arms),
        f"arms.rtx_csa.relapse_hazard_off_cni_per_month={draw(st.one_of(st.just(0.0), st.floats(1e-4, 0.04)))}",
        f"arms.rtx.remission_at_endpoint={draw(st.floats(0.0, 0.75))}",
        f"arms.rtx_csa.courses={courses}",
        *(f"arms.{arm}.median_months_to_remission={draw(st.floats(0.1, 0.9)) * endpoint * shape_factor}"
          for arm in arms),
        *(f"arms.{arm}.allocation={w}" for arm, w in zip(arms, weights)),
        f'trial.endpoint="{draw(st.sampled_from(["cr_or_pr", "cr"]))}"',
        f"cohort.prior_steroid_mmf_fraction={draw(st.floats(0.0, 0.9))}",
        f"cohort.acei_arb_intolerant_fraction={draw(st.floats(0.0, 0.6))}",
        f"cohort.collection_cv={draw(st.sampled_from([0.0, 0.1, 0.25, 0.6]))}",
        f"eligibility.washout_steroid_mmf_months={draw(st.floats(0.0, 6.0))}",
        f"eligibility.acei_arb_run_in_months={draw(st.floats(0.0, 6.0))}",
        f"eligibility.proteinuria_min_g_day={draw(st.floats(0.0, 8.0))}",
        "simulation.block_size=8",
    ]
    try:
        scenario = load_scenario(DEFAULT, overrides)
    except ScenarioError:  # a combination the model rejects (e.g. more remission than relapse allows)
        assume(False)
    return scenario, draw(st.lists(st.integers(0, 2**32), min_size=2, max_size=2, unique=True))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(scenarios())
def test_engines_agree_on_random_scenarios(case):
    scenario, seeds = case
    for seed in seeds:
        assert_trials_agree(scenario, seed)


def test_engines_agree_at_ties() -> None:
    """Events in the very month of a visit, placed there by hand: a remission in a visit's month
    is seen at it, a relapse in a visit's month is too (out of remission), a dropout in a visit's
    month misses it (the endpoint visit too, when follow-up goes on past it), and a dropout at
    the end of follow-up is none: the patient completes. The DES (both modes) and the batch
    engine must agree, and the DES must show exactly these statuses."""
    scenario = load_scenario(DEFAULT, ["trial.endpoint_month=12", "trial.max_follow_up_months=24",
                                       "trial.visit_months=[0, 3, 6, 12, 24]", "trial.n_per_arm=4",
                                       "arms.rtx.median_months_to_remission=4.0", "recruitment.rate_per_site_month=20"])
    inf = np.inf
    #         remission relapse dropout complete   status at visits 0, 3, 6, 12, 24   LOCF
    cases = [(3.0, inf, inf, True,                 [0, 2, 2, 2, 2],                   2),
             (1.5, 6.0, inf, False,                [0, 1, 0, 0, 0],                   0),   # relapse at month 6
             (1.5, inf, 6.0, False,                [0, 1, -1, -1, -1],                1),   # misses month 6
             (1.5, 9.0, 12.0, True,                [0, 2, 2, -1, -1],                 2),   # misses the endpoint
             (1.5, inf, 24.0, True,                [0, 2, 2, 2, 2],                   2),   # completes
             (2.0, inf, 2.0, True,                 [0, -1, -1, -1, -1],               0),   # remission, then dropout
             (12.0, 24.0, inf, False,              [0, 0, 0, 1, 0],                   1),
             (inf, inf, 0.5, False,                [0, -1, -1, -1, -1],               0)]
    fates = draw_fates(scenario, block_sequence(5, 0), 1)
    assert fates.n_randomisable[0] >= len(cases)
    fields_ = {"remission_month": 0, "relapse_month": 1, "dropout_month": 2, "complete": 3}
    outcomes = []
    for po in fates.outcomes:  # the same fate under either arm
        values = {name: getattr(po, name).copy() for name in fields_}
        for k, case in enumerate(cases):
            for name, i in fields_.items():
                values[name][0, k] = case[i]
        outcomes.append(replace(po, **values))
    fates = replace(fates, outcomes=tuple(outcomes))
    assert_trials_agree(scenario, 5, n_trials=1, fates=fates)
    for detail in (False, True):
        p = simulate_trial(scenario, fates, 0, detail=detail).randomised
        order = np.argsort(p.randomisation_month, kind="stable")[: len(cases)]
        np.testing.assert_array_equal(p.visit_status[order], [c[4] for c in cases], err_msg=f"detail={detail}")
        np.testing.assert_array_equal(p.locf_status[order], [c[5] for c in cases], err_msg=f"detail={detail}")
        np.testing.assert_array_equal(np.isnan(p.dropout_month[order]), [c[2] > 12.0 for c in cases])
        np.testing.assert_array_equal(p.remission_month[order], [c[0] if c[0] <= min(c[2], 24.0) else np.nan
                                                                 for c in cases])


# ------------------------------------------------------------------ the check catches a broken DES


def _without_dropout(sequence):
    def broken(self, p):
        return [x for x in sequence(self, p) if x[1] != des_model.DROPOUT]
    return broken


def _always_partial(self, p, month, complete):
    p.state, p.remission_month = des_model.PARTIAL, month


def _relapse_unseen(self, p, month):
    p.relapse_month = month


def _every_dropout_discontinues(self, p, month):
    reason = "lost to follow-up"
    p.finish, p.dropout_month, p.dropout_reason = month, month, reason
    self.counts["discontinued_per_arm"][p.arm] += 1
    return reason


def _locf_past_the_endpoint(visit):
    def broken(self, p, j):
        status = visit(self, p, j)
        p.locf = status
        return status
    return broken


def _endpoint_one_visit_early(init):
    def broken(self, *args):
        init(self, *args)
        self.endpoint_visit -= 1
    return broken


def _month_of_referral(randomise):
    def broken(self, col):
        randomise(self, col)
        if self.enrolment.randomised and self.enrolment.randomised[-1].col == col:
            self.enrolment.randomised[-1].month = float(self.f.referral_month[self.cand_rows][col])
    return broken


def _screening_skipped(self, col):
    self.counts["referred"] += 1
    self.screened(SimpleNamespace(value=col))


def _closed_at_the_hard_stop(self, reason):
    e = self.enrolment
    if e.closed_month is None:
        e.closed_month, e.close_reason = self.sc.trial.hard_stop_months, reason


# Each DES rule broken on purpose, and the check of assert_trials_agree that catches it first.
MUTATIONS = {
    # dropout no longer an event: patients are seen after they left
    "dropout ignored": ("sequence", _without_dropout(Trial.sequence), "endpoint seen"),
    # every remission partial: complete there, partial here
    "remission type lost": ("remission", _always_partial, "endpoint status"),
    # a relapse does not end the remission
    "relapse unseen": ("relapse", _relapse_unseen, "endpoint status"),
    # a dropout after the endpoint visit counted as a discontinuation (the CONSORT "discontinued"
    # counts and the trial's duration would fail next)
    "late dropout discontinues": ("drop_out", _every_dropout_discontinues, "dropout"),
    # LOCF taken from visits after the endpoint: differs for patients who relapse after it
    "LOCF past the endpoint": ("visit", _locf_past_the_endpoint(Trial.visit), "LOCF"),
    # the endpoint read at the visit before it
    "endpoint one visit early": ("__init__", _endpoint_one_visit_early(Trial.__init__), "endpoint (seen|status)"),
    # the randomisation month taken from the referral, not read off the clock
    "randomisation month from the referral": ("randomise", _month_of_referral(Trial.randomise),
                                              "randomisation month"),
    # eligible at referral: the screening's time not waited (randomised earlier, so perhaps in
    # another order, hence to another arm)
    "screening not waited": ("refer", _screening_skipped, "(who|arm|stratum|randomisation month)"),
    # an excluded referral's screening ends without an exclusion
    "exclusion not counted": ("exclude", lambda self, screened: None, "excluded_total"),
    # enrolment recorded as closed at the hard stop, whenever it closed
    "close of enrolment misdated": ("close", _closed_at_the_hard_stop, "enrolment_closed_month"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_broken_des_rule_is_caught(name: str, monkeypatch) -> None:
    scenario = load_scenario(DEFAULT, list(LONG_FOLLOW_UP))
    for seed in (1, 2):  # the DES as written agrees...
        assert_trials_agree(scenario, seed, n_trials=4)
    method, broken, caught_by = MUTATIONS[name]
    monkeypatch.setattr(Trial, method, broken)
    with pytest.raises(AssertionError, match=rf"trial \d+: {caught_by}\b"):  # ...the broken one does not
        for seed in (1, 2):
            assert_trials_agree(scenario, seed, n_trials=4)
