"""The story of a trial (simulate/engines/des_story.py), validated by what it must show:

* the event log's invariants and the CONSORT identities, for many seeds: every referral referred
  at its fated month exactly, every excluded one excluded once screened;
* permuted blocks balanced in the order the story tells;
* visit lab values agree with the trial's CR / PR definitions, and the patient table's status
  columns with the visits.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulate.population import outcomes as om
from simulate.screening.criteria import RULE_NAMES, RULES
from simulate.engines.des import simulate_trial
from simulate.fates.draw import candidates_of, draw_fates, excluded_of
from simulate.population.outcomes import status_at
from simulate.seeding import block_sequence
from simulate.engines.story import excluded_screening_months, trial_patients

from test_des import ARMS, OBSERVED, TIME_TOL, Run, one_trial, scenario_with


@pytest.fixture(scope="module")
def detailed_runs() -> list[Run]:
    """Story-mode trials: 12 seeds of the registered scenario (target usually reached), 3 of the
    observed accrual (closed at the hard stop), 2 stratified with informative dropout."""
    registered, observed = scenario_with(), scenario_with(path=OBSERVED)
    stratified = scenario_with('randomisation.stratify_by=["proteinuria_high", "pla2r_titre_high"]',
                               'dropout.mechanism="informative"', "dropout.probability_by_endpoint=0.3")
    runs = [one_trial(registered, seed) for seed in range(1, 13)]
    runs += [one_trial(observed, seed) for seed in (1, 2, 3)]
    runs += [one_trial(stratified, seed) for seed in (4, 5)]
    return runs


def test_balance_in_event_log_order(detailed_runs: list[Run]) -> None:
    """The same check in the order the story tells (ties in time broken by the simulation)."""
    for run in detailed_runs:
        ev = run.result.events
        rand = ev[ev.event == "randomised"]
        stratum = rand.detail.str.extract(r"\(stratum (\d+)\)")[0].astype(int).to_numpy()
        arm = rand.detail.str.split(" ").str[0].map({a: i for i, a in enumerate(ARMS)}).to_numpy()
        half = max(run.scenario.randomisation.block_sizes) // 2
        for s in np.unique(stratum):
            a = arm[stratum == s]
            np.testing.assert_array_equal(a, run.fates.allocation[run.index, s, :len(a)])
            assert np.abs(np.cumsum(2 * a - 1)).max() <= half


# ------------------------------------------------------------------ event log and CONSORT


def check_event_log(run: Run) -> None:
    """The story's event log, visits and CONSORT counts tell one consistent trial."""
    check_enrolment(run)
    check_patients(run)
    check_visits(run)
    check_consort(run)


def check_enrolment(run: Run) -> None:
    """Time order; enrolment closes once, for its reason, with no randomisation after it."""
    sc, res = run.scenario, run.result
    ev, cal = res.events, res.calendar
    # time order
    assert (np.diff(ev.month.to_numpy()) >= 0).all(), "events out of time order"

    # enrolment closes once; no randomisation after it
    closed = ev.index[ev.event == "enrolment closed"]
    assert len(closed) == 1
    assert ev.month[closed[0]] == cal["enrolment_closed_month"]
    assert ev.detail[closed[0]] == cal["enrolment_close_reason"]
    assert (ev.index[ev.event == "randomised"] < closed[0]).all(), "randomised after enrolment closed"
    assert (ev.month[ev.event == "referred"] <= cal["enrolment_closed_month"]).all()
    assert cal["enrolment_closed_month"] <= sc.trial.hard_stop_months
    if cal["terminated"]:
        assert cal["enrolment_close_reason"] == "hard stop"
        assert cal["enrolment_closed_month"] == sc.trial.hard_stop_months
    else:
        assert cal["enrolment_close_reason"] == "target reached"


def check_patients(run: Run) -> None:
    """Each patient's events in a possible order; the randomised patients' table agrees."""
    sc, ev, p = run.scenario, run.result.events, run.result.patients
    end = sc.trial.endpoint_month
    by_patient = {pid: g for pid, g in ev[ev.patient >= 0].groupby("patient", sort=False)}
    rand_month = dict(zip(p.patient, p.randomisation_month))
    for pid, g in by_patient.items():
        events = g.event.tolist()
        assert events[0] == "referred", f"patient {pid}: first event {events[0]}"
        assert events.count("referred") == 1
        if "dropped out" in events:
            assert events.count("dropped out") == 1
            assert events[-1] == "dropped out", f"patient {pid}: events after dropping out: {events}"
        if pid in rand_month:
            k = events.index("randomised")
            assert g.month.iloc[k] == rand_month[pid]
            assert all(e in ("referred", "eligible", "deferred", "rescreened") for e in events[:k])
            assert "visit" not in events[:k]
            n_end, n_drop = events.count("endpoint"), events.count("dropped out")
            dropped_before_end = n_drop == 1 and g.month[g.event == "dropped out"].iloc[0] < rand_month[pid] + end
            assert (n_end == 1) != dropped_before_end, f"patient {pid}: endpoint {n_end}, dropped out {n_drop}"
            assert n_end <= 1
            if n_end:
                assert g.month[g.event == "endpoint"].iloc[0] == pytest.approx(rand_month[pid] + end, abs=TIME_TOL)
        else:
            assert not set(events) & {"randomised", "visit", "endpoint", "dropped out", "remission", "relapse"}
            assert events[-1] in ("excluded", "lost during deferral", "not randomised"), events
    # every randomised patient's table status agrees with the log
    for row in p.itertuples():
        events = by_patient[row.patient].event.tolist()
        assert (row.endpoint_status == "missing") == ("endpoint" not in events)
        assert row.arm in by_patient[row.patient].detail[by_patient[row.patient].event == "randomised"].iloc[0]


def check_visits(run: Run) -> None:
    """Visits after randomisation, on schedule, every one attended up to a dropout."""
    sc, res = run.scenario, run.result
    p = res.patients
    rand_month = dict(zip(p.patient, p.randomisation_month))
    n_visits = int((res.events.event == "visit").sum())
    v = res.visits
    if len(v):
        rm = v.patient.map(rand_month)
        assert rm.notna().all(), "a visit for a patient who was not randomised"
        np.testing.assert_allclose(v.calendar_month, rm + v.visit_month, atol=TIME_TOL)
        assert v.visit_month.isin(sc.trial.visit_months).all()
        drop = v.patient.map(dict(zip(p.patient, p.dropout_month)))
        assert not (v.visit_month >= drop).any(), "a visit after dropout"
    assert len(v) == n_visits
    # every scheduled visit before the (fated) dropout is attended, all of them if none
    f, schedule = run.fates, np.asarray(sc.trial.visit_months)
    per_patient = v.patient.value_counts()
    slots = dict(zip(p.patient, run.slots(p.patient)))
    for row in p.itertuples():
        drop = float(f.outcomes[ARMS.index(row.arm)].dropout_month[run.index, slots[row.patient]])
        expected = len(schedule) if drop >= sc.trial.max_follow_up_months else int((schedule < drop).sum())
        assert int(per_patient.get(row.patient, 0)) == expected, f"patient {row.patient}"


def check_consort(run: Run) -> None:
    """The CONSORT counts: their identities, the log's events, and the fated referrals."""
    sc, res = run.scenario, run.result
    ev, p, c, cal = res.events, res.patients, res.consort, res.calendar
    end = sc.trial.endpoint_month
    count = ev.event.value_counts()
    n = lambda what: int(count.get(what, 0))  # noqa: E731
    rand_month = dict(zip(p.patient, p.randomisation_month))
    assert len(p) == c["randomised"] == n("randomised") == sum(c["randomised_per_arm"].values())
    assert set(p.patient) == set(ev.patient[ev.event == "randomised"])
    assert c["referred"] == c["screened"] == n("referred")
    assert c["excluded_total"] == sum(c["excluded"].values()) == n("excluded")
    assert all(c["excluded"][r.name] == 0 for r in RULES if r.time_dependent)
    excluded_detail = ev.detail[ev.event == "excluded"].value_counts()
    assert all(c["excluded"][name] == int(excluded_detail.get(name, 0)) for name in RULE_NAMES)
    assert c["deferred"] == n("deferred") == n("lost during deferral") + n("rescreened")
    assert c["lost_during_deferral"] == n("lost during deferral")
    assert c["not_randomised_enrolment_closed"] == n("not randomised")
    assert c["referred"] == c["excluded_total"] + c["deferred"] + n("eligible")
    assert (c["referred"] - c["excluded_total"] - c["lost_during_deferral"]
            == c["randomised"] + c["not_randomised_enrolment_closed"])
    assert n("eligible") + n("rescreened") == c["randomised"] + c["not_randomised_enrolment_closed"]
    for name in ARMS:
        rows = p[p.arm == name]
        assert c["randomised_per_arm"][name] == len(rows)
        assert c["discontinued_per_arm"][name] == int((rows.endpoint_status == "missing").sum())
        assert c["analysed_per_arm"][name] == len(rows)  # nonresponder imputation analyses everyone
    drops = ev[ev.event == "dropped out"]
    before_end = drops.month.to_numpy() < drops.patient.map(rand_month).to_numpy() + end
    assert sum(c["discontinued_per_arm"].values()) == int(before_end.sum())
    assert cal["terminated"] == (c["randomised"] < sc.n_target)
    assert c["randomised"] <= sc.n_target
    # referrals are the fated ones up to the close, each referred at its fated month exactly (the
    # clock lands on it), and each excluded referral excluded once its screening is over
    f, t, close = run.fates, run.index, cal["enrolment_closed_month"]
    fated = np.sort(np.concatenate([f.referral_month[candidates_of(f, t)], excluded_of(f, t)[0]]))
    np.testing.assert_array_equal(np.sort(ev.month[ev.event == "referred"].to_numpy()), fated[fated < close])
    excluded_month = excluded_of(f, t)[0]
    screened = (excluded_month + excluded_screening_months(sc, f, t))[excluded_month < close]
    np.testing.assert_array_equal(np.sort(ev.month[ev.event == "excluded"].to_numpy()), np.sort(screened))


def test_event_log_invariants_and_consort_identities(detailed_runs: list[Run]) -> None:
    assert any(r.result.calendar["terminated"] for r in detailed_runs)
    assert any(not r.result.calendar["terminated"] for r in detailed_runs)
    assert sum(r.result.consort["not_randomised_enrolment_closed"] for r in detailed_runs) > 0
    assert sum(sum(r.result.consort["discontinued_per_arm"].values()) for r in detailed_runs) > 0
    for run in detailed_runs:
        check_event_log(run)


def test_event_log_with_follow_up_beyond_the_endpoint() -> None:
    """With follow-up past the endpoint a patient can drop out after their endpoint visit: they
    keep the endpoint, and the dropout is not a discontinuation before the endpoint."""
    sc = scenario_with("trial.max_follow_up_months=36", "trial.visit_months=[0, 3, 6, 12, 24, 30, 36]",
                       "dropout.probability_by_endpoint=0.3", "trial.n_per_arm=30")
    n_after = 0
    for seed in (1, 2):
        run = one_trial(sc, seed)
        check_event_log(run)
        ev, p = run.result.events, run.result.patients
        drops = ev[ev.event == "dropped out"]
        n_after += int((drops.month > drops.patient.map(dict(zip(p.patient, p.randomisation_month)))
                        + sc.trial.endpoint_month).sum())
    assert n_after > 0, "no dropout after the endpoint: the test needs some"


# ------------------------------------------------------------------ visit lab values


def test_visit_lab_values_agree_with_the_status(detailed_runs: list[Run]) -> None:
    n_status = {"none": 0, "partial": 0, "complete": 0}
    for run in detailed_runs:
        d = run.scenario.definitions
        v, p, f = run.result.visits, run.result.patients, run.fates
        if not len(v):
            continue
        rows = run.slots(v.patient.to_numpy())
        patients = trial_patients(run.scenario, f, run.index)
        baseline = patients.proteinuria_baseline_g_day[rows]
        prot, alb = v.proteinuria_g_day.to_numpy(), v.albumin_g_l.to_numpy()
        cr = (prot <= d.complete_max_proteinuria_g_day) & (alb >= d.complete_min_albumin_g_l)
        pr = ((prot > d.complete_max_proteinuria_g_day) & (prot < d.partial_max_proteinuria_g_day)
              & (prot <= (1 - d.partial_min_reduction_fraction) * baseline))
        status = v.status.to_numpy()
        bad = (status == "complete") & ~cr
        assert not bad.any(), v[bad]
        bad = (status == "partial") & ~(pr & ~cr)
        assert not bad.any(), v[bad].assign(baseline=baseline[bad])
        bad = (status == "none") & (cr | pr)
        assert not bad.any(), v[bad].assign(baseline=baseline[bad])
        # the status is the model's status at that visit, under the patient's arm
        arm = v.patient.map(dict(zip(p.patient, p.arm))).map({a: i for i, a in enumerate(ARMS)}).to_numpy()
        for a in (0, 1):
            m = arm == a
            po = f.outcomes[a]
            model = status_at(om.PotentialOutcomes(**{k: getattr(po, k)[run.index, rows[m]]
                                                      for k in po.__dataclass_fields__
                                                      if isinstance(getattr(po, k), np.ndarray)}),
                              v.visit_month.to_numpy()[m])
            np.testing.assert_array_equal(np.array(["none", "partial", "complete"])[model], status[m])
        # month 0 shows the screening values
        base = v.visit_month.to_numpy() == 0
        np.testing.assert_allclose(prot[base], patients.proteinuria_mean_g_day[rows[base]])
        for s in n_status:
            n_status[s] += int((status == s).sum())
    assert all(n > 50 for n in n_status.values()), n_status


def test_patient_table_status_columns_match_the_visits() -> None:
    """The wide status_month_* columns (both modes) tell the same story as visits.csv."""
    sc = scenario_with()
    fates = draw_fates(sc, block_sequence(4, 0), 1)
    story = simulate_trial(sc, fates, 0, detail=True)
    visits = story.visits.set_index(["patient", "visit_month"]).status
    for row in story.patients.itertuples():
        for v in sc.trial.visit_months:
            got = getattr(row, f"status_month_{v:g}")
            expected = visits.get((row.patient, float(v)), "")
            assert got == expected, (row.patient, v, got, expected)
    assert (story.patients.status_month_24[story.patients.endpoint_status != "missing"]
            == story.patients.endpoint_status[story.patients.endpoint_status != "missing"]).all()
