"""The discrete-event trial's model: the reference semantics of trialsim, patient by patient.

One trial is a simpy model. Simpy owns the clock and the event queue; the model owns no
randomness: every random quantity comes from the trial's :class:`~simulate.fates.record.Fates` (and,
for how long an excluded referral's screening takes, from the trial's own stream,
:func:`simulate.engines.story.excluded_screening_months`).

* **Sites** open at their activation month and refer patients at their (fated) referral months
  until enrolment closes. Every referral, excluded or not, is an event.
* **Screening** takes the referral's screening time, then the rules decide: excluded (fails a
  permanent rule), eligible, or deferred by a time-dependent rule. A deferred patient is either
  lost or comes back when they qualify.
* **Randomisation** happens when an eligible patient comes back to the trial, at the month the
  trial's clock then reads: they take the next arm of their stratum's permuted-block sequence.
  Enrolment closes when the target is reached or at the hard stop, whichever is first; a trial
  closing short of target is *terminated* (slow accrual).
* **Follow-up**: each randomised patient's events in time order: the scheduled visits and their
  fated remission, relapse and dropout (within follow-up: a dropout at or after its end is none).
  The patient's state (in complete or partial remission, or not) is changed by the remission
  and relapse events; each visit records the state; a dropout ends the follow-up, so a visit in
  the dropout's month or later is not attended. A remission or relapse in a visit's month is
  seen at that visit. With dropout at random (mar) each visit's status sets the dropout hazard
  up to the next visit, and the dropout is scheduled there if it falls before it
  (:mod:`simulate.engines.des_dropout`). The endpoint status is the status recorded at the
  endpoint visit (missing if it was not attended), the LOCF status the one recorded at the last
  attended visit up to it.
* **Counts**: the CONSORT numbers are counted by these processes as they happen: referrals,
  exclusions, deferrals and losses at screening, refusals once enrolment has closed,
  randomisations, discontinuations (dropout before the endpoint visit) and the analysed, per arm.
* **Interim looks** (a group-sequential design) are held when their count of determined
  endpoints is reached; a stop closes enrolment after the decision lag.

The clock lands exactly on each fated referral month (:func:`step_towards`), then adds the
screening time and any deferral, in the order the fates add them: a patient's randomisation
month read off the clock is bit for bit the fates' eligible month, though nothing copies it.

:class:`TrialModel` is the model; how a randomised patient's follow-up runs, what is told and
what is handed back are its subclasses': :class:`simulate.engines.des.Trial` as a power run
needs it, :class:`simulate.engines.des_story.StoryTrial` as ``trialsim trial`` tells it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import simpy

from simulate.analysis import interim
from simulate.design import scenario as sc
from simulate.engines.trial import COMPLETE, NONE, NOT_SEEN, PARTIAL, RandomisedPatients, TrialResult
from simulate.fates.draw import candidates_of, excluded_of
from simulate.fates.record import Fates
from simulate.engines.story import excluded_screening_months
from simulate.engines.des_dropout import MarDropout
from simulate.engines.des_follow_up import (DROPOUT, INTERCURRENT, RELAPSE, REMISSION, STORY, VISIT,  # noqa: F401
                                           FollowUpEvents, Patient)
from simulate.engines.des_looks import InterimLooks

if TYPE_CHECKING:
    from simulate.run.prepared import PreparedDesign

COVARIATES = ("age_years", "male", "proteinuria_g_day", "albumin_g_l", "egfr_ml_min", "pla2r_titre_ru_ml")
"""The patient table's covariate columns, in order; the story draws all of them, a power run
only proteinuria and anti-PLA2R (the others are nan)."""


def step_towards(env: simpy.Environment, month: float) -> simpy.Timeout:
    """A wait towards calendar ``month`` after which simpy's clock (``now + wait``) reads it
    exactly, or has doubled on the way there: wait while ``env.now < month``.

    ``month - now`` is exact when ``now >= month / 2`` (Sterbenz's lemma), and so is the sum
    that brings the clock back to ``month``; from 0 the wait is ``month`` itself. Otherwise the
    clock first doubles (``now + now``, exact) until it is within a factor 2 of the month."""
    now = env.now
    return env.timeout(now if 0.0 < now < 0.5 * month else month - now)


@dataclass
class _Enrolment:
    target: int
    per_stratum: np.ndarray
    """Patients randomised so far in each stratum (the next position in its block sequence)."""
    randomised: list = field(default_factory=list)
    closed_month: float | None = None
    close_reason: str = ""


class TrialModel(InterimLooks, FollowUpEvents, ABC):
    """One trial of a block of fates as simpy processes and events; built per trial, run once.
    ``prepared``: the scenario's per-design values (its group-sequential design), computed here
    if not given."""

    def __init__(self, scenario: sc.Scenario, fates: Fates, index: int, prepared: PreparedDesign | None = None):
        self.sc, self.f, self.index = scenario, fates, index
        t, tc = index, scenario.trial
        self.env = simpy.Environment()
        self.enrolment = _Enrolment(target=scenario.n_target,
                                    per_stratum=np.zeros(fates.allocation.shape[1], dtype=int))
        self.arm_names = scenario.arm_names
        n_arms = len(self.arm_names)
        self.counts = {"referred": 0, "excluded_total": 0, "deferred": 0, "lost_during_deferral": 0,
                       "not_randomised_enrolment_closed": 0, "randomised_per_arm": [0] * n_arms,
                       "discontinued_per_arm": [0] * n_arms, "analysed_per_arm": [0] * n_arms}
        self.complete_case = scenario.analysis.missing == "complete_case"
        # interim looks (a group-sequential design): patients whose endpoint is determined, in
        # the order it was, and the looks held so far
        self.design = interim.design_for(scenario) if prepared is None else prepared.sequential
        self.determined: list[Patient] = []
        self.next_look = 0
        self.look_rows: list[tuple[float, int, float]] = []
        self.stop: tuple[int, int] | None = None
        self.decision_month: float | None = None
        # the follow-up: the visit schedule as events, the endpoint visit, each pool slot's fate
        # under each arm (plain lists: read one patient at a time)
        visits = [float(v) for v in tc.visit_months]
        self.visit_months = visits
        self.schedule = [(v, VISIT, j) for j, v in enumerate(visits)]
        self.endpoint_visit = min(range(len(visits)), key=lambda j: abs(visits[j] - tc.endpoint_month))
        self.fate = [(po.remission_month[t].tolist(), po.relapse_month[t].tolist(), po.dropout_month[t].tolist(),
                      po.complete[t].tolist()) for po in fates.outcomes]
        self.withdrew = fates.withdrawal[t].tolist()
        self.mar = MarDropout.of(fates, t, visits)
        # intercurrent events: per arm, per event, (month, remission gap, relapse gap, complete)
        # of each pool slot
        self.ice = None if fates.outcomes[0].intercurrent is None else [
            [tuple(a[i, t].tolist() for a in (x.month, x.remission_gap, x.relapse_gap, x.complete))
             for i in range(len(x.month))] for x in (po.intercurrent for po in fates.outcomes)]
        self.ice_kinds = tuple(ev.kind for ev in scenario.intercurrent.values())
        self.ice_strategies = tuple(scenario.strategies.values())
        self.ice_reasons = tuple(ev.reason or ev.kind.replace("_", " ") for ev in scenario.intercurrent.values())
        self.endpoint_state = COMPLETE if tc.endpoint == "cr" else PARTIAL
        self._referrals(fates, t)

    def _referrals(self, fates: Fates, t: int) -> None:
        """The trial's referrals: candidates (columns of the fates' candidate arrays, read one at
        a time as lists) and excluded referrals; a patient's number is their place in referral
        order."""
        rows = candidates_of(fates, t)
        self.cand_rows = rows
        self.cand = {name: getattr(fates, name)[rows].tolist() for name in (
            "site", "screening_months", "qualifies_in_months", "lost_if_deferred", "slot")}
        self.excl_month, self.excl_site = excluded_of(fates, t)
        self.excl_screening = excluded_screening_months(self.sc, fates, t).tolist()
        months = np.concatenate([fates.referral_month[rows], self.excl_month])
        number = np.empty(len(months), dtype=int)
        number[np.argsort(months, kind="stable")] = np.arange(len(months))
        n_cand = rows.stop - rows.start
        self.cand_number = number[:n_cand].tolist()
        self.excl_number = number[n_cand:].tolist()

    # -- what the story tells
    def tell(self, patient: int, what: str, *facts) -> None:
        """An event of the story's log: the patient (-1: the trial), what happened, and the facts
        its detail is told from. Nothing is told without the story."""

    # -- enrolment
    def close(self, reason: str) -> None:
        e = self.enrolment
        if e.closed_month is None:
            e.closed_month, e.close_reason = self.env.now, reason
            self.tell(-1, "enrolment closed", reason)

    def hard_stop(self):
        yield self.env.timeout(self.sc.trial.hard_stop_months)
        self.close("hard stop")

    def site(self, s: int, referrals: list[tuple[float, bool, int]]):
        """Site ``s`` opens, then refers its (month, excluded?, index) referrals in time order
        until enrolment closes."""
        env, e = self.env, self.enrolment
        yield env.timeout(float(self.f.site_activation_months[self.index, s]))
        self.tell(-1, "site opened", s)
        for month, excluded, i in referrals:
            while env.now < month:
                yield step_towards(env, month)
            if e.closed_month is not None:
                return
            if excluded:
                self.refer_excluded(i)
            else:
                self.refer(i)

    # A referral's way from referral to randomisation is a chain of events, each handled when
    # it happens (the event's value is the referral's index).
    def refer_excluded(self, i: int) -> None:
        """Excluded referral ``i`` is referred now; their screening ends in :meth:`exclude`."""
        self.counts["referred"] += 1
        self.tell(self.excl_number[i], "referred", self.excl_site[i])
        self.env.timeout(self.excl_screening[i], i).callbacks.append(self.exclude)

    def exclude(self, screened: simpy.Timeout) -> None:
        """An excluded referral's screening is over: they fail a permanent rule."""
        self.counts["excluded_total"] += 1
        self.tell(self.excl_number[screened.value], "excluded", screened.value)

    def refer(self, col: int) -> None:
        """Candidate ``col`` (passes every permanent rule) is referred now; their screening ends
        in :meth:`screened`."""
        self.counts["referred"] += 1
        self.tell(self.cand_number[col], "referred", self.cand["site"][col])
        self.env.timeout(self.cand["screening_months"][col], col).callbacks.append(self.screened)

    def screened(self, screening: simpy.Timeout) -> None:
        """A candidate's screening is over: eligible now, or deferred by a time-dependent rule:
        lost meanwhile, or back once they qualify (:meth:`qualified`)."""
        col = screening.value
        c, number = self.cand, self.cand_number[col]
        wait = c["qualifies_in_months"][col]
        if wait > 0:
            self.counts["deferred"] += 1
            self.tell(number, "deferred", col, wait)
            if c["lost_if_deferred"][col]:
                self.counts["lost_during_deferral"] += 1
                self.tell(number, "lost during deferral")
            else:
                self.env.timeout(wait, col).callbacks.append(self.qualified)
        else:
            self.tell(number, "eligible")
            self.randomise(col)

    def qualified(self, deferral: simpy.Timeout) -> None:
        """A deferred candidate qualifies now and comes back."""
        self.tell(self.cand_number[deferral.value], "rescreened", "eligible")
        self.randomise(deferral.value)

    def randomise(self, col: int) -> None:
        """Candidate ``col`` is eligible now: randomised to the next arm of their stratum's
        sequence, at the month the clock reads, and followed up; unless enrolment has closed."""
        e, f, t, number = self.enrolment, self.f, self.index, self.cand_number[col]
        if e.closed_month is not None:
            self.counts["not_randomised_enrolment_closed"] += 1
            self.tell(number, "not randomised", "enrolment closed")
            return
        k = self.cand["slot"][col]
        if k < 0:
            raise RuntimeError(f"trial {t}: candidate {col} randomised but not in the fates' pool")
        s = int(f.stratum[t, k])
        arm = int(f.allocation[t, s, e.per_stratum[s]])
        e.per_stratum[s] += 1
        p = Patient(col, number, k, arm, self.env.now, len(self.schedule))
        e.randomised.append(p)
        self.counts["randomised_per_arm"][arm] += 1
        if not self.complete_case:  # every randomised patient is analysed
            self.counts["analysed_per_arm"][arm] += 1
        self.tell(number, "randomised", arm, s)
        if len(e.randomised) == e.target:
            self.close("target reached")
        self.follow_up(p)

    # -- follow-up: the patient's state, changed by their events, recorded at visits
    @abstractmethod
    def follow_up(self, p: Patient) -> None:
        """Follow a patient just randomised (the events of :meth:`sequence`, handled by the
        methods below)."""

    def sequence(self, p: Patient) -> list[tuple[float, int, object]]:
        """The patient's follow-up events, (months after randomisation, kind, argument), in the
        order they happen: the scheduled visits, and the remission, relapse and dropout that fall
        within follow-up (a dropout at or after its end is none: the patient completes; a mar
        dropout's fated month is nan: it joins at a visit, :meth:`mar_dropout`), and the
        intercurrent events that would happen (a switch of treatment then brings events of its
        own: :meth:`walk_events`)."""
        k = p.slot
        rem, rel, drop, complete = self.fate[p.arm]
        rem, rel, drop, complete = rem[k], rel[k], drop[k], complete[k]
        horizon = self.sc.trial.max_follow_up_months
        seq = self.schedule.copy()
        if rem <= horizon:
            seq.append((rem, REMISSION, complete))
        if rel <= horizon:
            seq.append((rel, RELAPSE, None))
        if drop < horizon:
            seq.append((drop, DROPOUT, None))
        if self.ice is not None:
            seq += [(event[0][k], INTERCURRENT, i) for i, event in enumerate(self.ice[p.arm])
                    if event[0][k] <= horizon]
        seq.sort()
        return seq

    def remission(self, p: Patient, month: float, complete: bool) -> None:
        p.state = COMPLETE if complete else PARTIAL
        p.remission_month = month

    def relapse(self, p: Patient, month: float) -> None:
        p.state = NONE
        p.relapse_month = month

    def drop_out(self, p: Patient, month: float) -> str:
        reason = "withdrew consent" if self.withdrew[p.slot] else "lost to follow-up"
        if p.finish is None:  # before the endpoint visit: a discontinuation
            p.finish, p.dropout_month, p.dropout_reason = month, month, reason
            self.counts["discontinued_per_arm"][p.arm] += 1
        return reason

    def visit(self, p: Patient, j: int) -> int:
        """Scheduled visit ``j``: it records the patient's state (none after kidney failure or
        death: the visit is not attended). With mar dropout the state also sets the coming
        interval's dropout hazard (:meth:`mar_dropout`)."""
        if self.mar is not None:
            self.mar_dropout(p, j)
        if not p.alive:
            return NOT_SEEN
        status = p.visit_status[j] = p.state
        if j <= self.endpoint_visit:
            p.locf = status
            if j == self.endpoint_visit:
                p.finish = self.sc.trial.endpoint_month
                if self.complete_case:
                    self.counts["analysed_per_arm"][p.arm] += 1
        return status

    # -- run
    def referrals_by_site(self) -> list[list[tuple[float, bool, int]]]:
        """Each site's referrals, (month, excluded?, index) in time order."""
        rows = self.cand_rows
        n_cand, n_excl = rows.stop - rows.start, len(self.excl_month)
        month = np.concatenate([self.f.referral_month[rows], self.excl_month])
        excluded = np.repeat([False, True], [n_cand, n_excl])
        index = np.concatenate([np.arange(n_cand), np.arange(n_excl)])
        site = np.concatenate([self.f.site[rows], self.excl_site])
        order = np.lexsort((index, excluded, month, site))
        bounds = np.searchsorted(site[order], np.arange(self.sc.recruitment.sites + 1)).tolist()
        referrals = list(zip(month[order].tolist(), excluded[order].tolist(), index[order].tolist()))
        return [referrals[bounds[s]:bounds[s + 1]] for s in range(self.sc.recruitment.sites)]

    def run(self) -> TrialResult:
        self.env.process(self.hard_stop())
        for s, referrals in enumerate(self.referrals_by_site()):
            self.env.process(self.site(s, referrals))
        self.env.run()
        return self.result()

    # -- what the trial hands back
    @abstractmethod
    def covariates(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """The patient table's :data:`COVARIATES` of these pool slots."""

    @abstractmethod
    def excluded_by_rule(self) -> dict[str, int]:
        """Exclusions by the first rule failed ({} if not known)."""

    @abstractmethod
    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(events, visits): the story's tables."""

    def randomised_patients(self, pts: list[Patient]) -> RandomisedPatients:
        """The randomised patients (in referral order) as arrays."""
        f, i, n = self.f, self.index, len(pts)
        cols = np.array([p.col for p in pts], dtype=int)
        k = np.array([p.slot for p in pts], dtype=int)
        rows = self.cand_rows
        visit_status = np.array([p.visit_status for p in pts], dtype=np.int8).reshape(n, len(self.schedule))
        return RandomisedPatients(
            patient=np.array([p.number for p in pts], dtype=int), site=f.site[rows][cols] + 1,
            referral_month=f.referral_month[rows][cols],
            randomisation_month=np.array([p.month for p in pts], dtype=float),
            arm=np.array([p.arm for p in pts], dtype=np.int8), arm_names=self.arm_names, stratum=f.stratum[i, k],
            covariates=self.covariates(k),
            remission_month=np.array([p.remission_month for p in pts], dtype=float),
            relapse_month=np.array([p.relapse_month for p in pts], dtype=float),
            visit_months=self.sc.trial.visit_months, visit_status=visit_status,
            endpoint_status=visit_status[:, self.endpoint_visit],
            locf_status=np.array([p.locf for p in pts], dtype=np.int8),
            dropout_month=np.array([p.dropout_month for p in pts], dtype=float),
            dropout_reason=np.array([p.dropout_reason for p in pts], dtype=str), slot=k,
            **self._intercurrent_columns(pts),
        )

    def consort(self, pts: list[Patient]) -> dict:
        """The CONSORT counts, as the processes counted them (``pts``: the randomised). With
        intercurrent events a complete-case analysis analyses the patients whose variable is
        known (counted here, as only the end of their follow-up tells)."""
        c, arms, n = self.counts, self.arm_names, len(pts)
        if self.ice is not None and self.complete_case:
            c = {**c, "analysed_per_arm": [sum(1 for p in pts if p.arm == k and self.endpoint_value(p)[0] >= 0)
                                           for k in range(len(arms))]}
        return {
            "referred": c["referred"], "screened": c["referred"], "excluded": self.excluded_by_rule(),
            "excluded_total": c["excluded_total"],
            "deferred": c["deferred"], "lost_during_deferral": c["lost_during_deferral"],
            "not_randomised_enrolment_closed": c["not_randomised_enrolment_closed"],
            "randomised": n,
            "randomised_per_arm": dict(zip(arms, c["randomised_per_arm"])),
            "discontinued_per_arm": dict(zip(arms, c["discontinued_per_arm"])),
            "analysed_per_arm": dict(zip(arms, c["analysed_per_arm"])),
        }

    def calendar(self, pts: list[Patient]) -> dict:
        """When the trial randomised, closed enrolment and ended, as the clock read it."""
        e, n = self.enrolment, len(pts)
        first = min(p.month for p in pts) if n else None
        last = max(p.month for p in pts) if n else None
        return {
            "first_randomisation_month": first,
            "last_randomisation_month": last, "recruitment_months": last,
            "enrolment_closed_month": e.closed_month, "enrolment_close_reason": e.close_reason,
            "duration_months": max(p.month + p.finish for p in pts) if n else float(e.closed_month or 0.0),
            "terminated": n < e.target and self.stop is None,   # short of target without a stop at a look
            "recruited_on_time": n == e.target and last <= self.sc.trial.recruitment_months,
        }

    def result(self) -> TrialResult:
        pts = sorted(self.enrolment.randomised, key=attrgetter("number"))
        events, visits = self.tables()
        return TrialResult(randomised=self.randomised_patients(pts), visits=visits, events=events,
                           consort=self.consort(pts), calendar=self.calendar(pts),
                           sequential=None if self.design is None else self.sequential_result())
