"""The discrete-event trial: the reference semantics of trialsim, told patient by patient.

One trial is a simpy model. Simpy owns the clock and the event queue; the model owns no
randomness: every random quantity comes from the trial's :class:`~simulate.fates.Fates`, and
what only the story shows (the rule that excluded a referral, a randomised patient's age, sex,
eGFR, albumin and history, lab values at visits) from the fates' per-trial story draws.

* **Sites** open at their activation month and refer patients at their (fated) referral times
  until enrolment closes.
* **Screening** takes the patient's screening time (two 24-h collections), then the registered
  rules decide: excluded (first failing rule), eligible, or deferred by a time-dependent rule.
  A deferred patient is either lost or comes back when they qualify.
* **Randomisation**: an eligible patient takes the next arm of their stratum's permuted-block
  sequence. Enrolment closes when the target is reached or at the hard stop, whichever is first;
  a trial closing short of target is *terminated* (slow accrual).
* **Follow-up**: each randomised patient's events in time order: the scheduled visits and their
  fated remission, relapse and dropout (within follow-up: a dropout at or after its end is none).
  The patient's state (in complete or partial remission, or not) is changed by the remission
  and relapse events; each visit records the state; a dropout ends the follow-up, so a visit in
  the dropout's month or later is not attended. A remission or relapse in a visit's month is
  seen at that visit. The endpoint status is the status recorded at the endpoint visit (missing
  if it was not attended), the LOCF status the one recorded at the last attended visit up to it.
  The story adds each arm's courses (infusions, the start, taper and end of a continuous course) and lab values consistent with the trial's CR/PR
  definitions.
* **Counts**: the CONSORT numbers are counted by these processes as they happen: referrals,
  exclusions, deferrals and losses at screening, refusals once enrolment has closed,
  randomisations, discontinuations (dropout before the endpoint visit) and the analysed, per arm.

``detail=False`` runs the same model without the story: no event log, visits or doses; excluded
referrals are counted by their site as they arrive (in total, not by rule) rather than screened
one by one; and a patient walks their follow-up events in order without the clock, since nothing
else in the trial waits on them. Its outcomes and counts are identical. It hands back the
patients as arrays (:class:`RandomisedPatients`); the table is built on first use.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import simpy

from simulate.analysis import interim
from simulate import scenario as sc
from simulate.screening.criteria import RULE_NAMES
from simulate.cohort import Patients
from simulate.fates import DAYS_PER_MONTH, Fates, candidates_of, excluded_of
from simulate.engines.trial import (COMPLETE, EVENT_COLUMNS, NONE, NOT_SEEN, PARTIAL, STATUS,
                                    VISIT_COLUMNS, RandomisedPatients, TrialResult)
from simulate.plan import trials_per_block
from simulate.population import mean_of_collections
from simulate.story import lab_uniforms, trial_exclusions, trial_patients

_EMPTY_EVENTS = pd.DataFrame([], columns=EVENT_COLUMNS)
_EMPTY_VISITS = pd.DataFrame([], columns=VISIT_COLUMNS)

# A patient's follow-up events, in the order they are handled when they fall in the same month:
# a remission or relapse at a visit's month is seen at that visit, a dropout in a visit's month
# means the visit is missed, and the story's own events (infusions, the CsA course, the endpoint
# note) come after the visit.
REMISSION, RELAPSE, DROPOUT, VISIT, STORY = range(5)

_STORY_ONLY = ("age_years", "male", "albumin_g_l", "egfr_ml_min")


@dataclass
class _Enrolment:
    target: int
    per_stratum: np.ndarray
    """Patients randomised so far in each stratum (the next position in its block sequence)."""
    randomised: list = field(default_factory=list)
    closed_month: float | None = None
    close_reason: str = ""


class _Patient:
    """A randomised patient during follow-up: the remission state their events change, and
    what each visit recorded."""

    __slots__ = ("col", "number", "slot", "arm", "month", "state", "visit_status", "locf",
                 "remission_month", "relapse_month", "dropout_month", "dropout_reason", "finish")

    def __init__(self, col: int, number: int, slot: int, arm: int, month: float, n_visits: int):
        self.col, self.number, self.slot, self.arm, self.month = col, number, slot, arm, month
        self.state = NONE
        self.visit_status = [NOT_SEEN] * n_visits
        self.locf = NONE
        self.remission_month = self.relapse_month = self.dropout_month = np.nan
        self.dropout_reason = ""
        self.finish: float | None = None
        """Months after randomisation at which the patient left the primary follow-up: the
        endpoint visit, or a dropout before it (None while still followed)."""


class _Trial:
    def __init__(self, scenario: sc.Scenario, fates: Fates, index: int, detail: bool):
        self.sc, self.f, self.detail = scenario, fates, detail
        self.index = t = index
        self.env = simpy.Environment()
        tc = scenario.trial
        self.enrolment = _Enrolment(target=self.sc.n_target, per_stratum=np.zeros(fates.allocation.shape[1], dtype=int))
        self.closed = self.env.event()
        self.log: list[tuple[float, int, str, str]] = []
        self.visit_rows: list[dict] = []
        self.arm_names = scenario.arm_names
        n_arms = len(self.arm_names)
        self.counts = {"referred": 0, "excluded_total": 0, "excluded": [0] * len(RULE_NAMES), "deferred": 0,
                       "lost_during_deferral": 0, "not_randomised_enrolment_closed": 0,
                       "randomised_per_arm": [0] * n_arms, "discontinued_per_arm": [0] * n_arms,
                       "analysed_per_arm": [0] * n_arms}
        self.complete_case = scenario.analysis.missing == "complete_case"
        # interim looks (a group-sequential design): patients whose endpoint is determined, in
        # the order it was, and the looks held so far
        self.design = interim.design_for(scenario)
        self.determined: list[_Patient] = []
        self.next_look = 0
        self.look_rows: list[tuple[float, int, float]] = []
        self.stop: tuple[int, int] | None = None
        self.decision_month: float | None = None
        # the follow-up: the visit schedule as events, the endpoint visit, each pool slot's fate
        # under each arm (plain lists: read one patient at a time)
        visits = [float(v) for v in tc.visit_months]
        self.schedule = [(v, VISIT, j) for j, v in enumerate(visits)]
        self.endpoint_visit = min(range(len(visits)), key=lambda j: abs(visits[j] - tc.endpoint_month))
        self.fate = [(po.remission_month[t].tolist(), po.relapse_month[t].tolist(), po.dropout_month[t].tolist(),
                      po.complete[t].tolist()) for po in fates.outcomes]
        self.withdrew = fates.withdrawal[t].tolist()
        self.labs = lab_uniforms(fates, index, len(tc.visit_months)) if detail else None
        # referrals of this trial: candidates (columns of the fates' candidate arrays) and
        # excluded referrals; a patient's number is their place in referral order
        rows = candidates_of(fates, t)
        self.c = SimpleNamespace(**{name: getattr(fates, name)[rows] for name in (
            "site", "referral_month", "screening_months", "qualifies_in_months", "first_failure", "lost_if_deferred",
            "eligible_month", "slot")})
        self.cand = np.arange(rows.stop - rows.start)
        self.excl_month, self.excl_site = excluded_of(fates, t)
        months = np.concatenate([self.c.referral_month, self.excl_month])
        number = np.empty(len(months), dtype=int)
        number[np.argsort(months, kind="stable")] = np.arange(len(months))
        self.cand_number = dict(zip(self.cand.tolist(), number[: len(self.cand)].tolist()))
        self.excl_number = number[len(self.cand):]
        self._patients: Patients | None = None
        self._exclusions = trial_exclusions(scenario, fates, t) if detail else None

    @property
    def patients(self) -> Patients:
        """Full covariates of the trial's pool slots (drawn on first use)."""
        if self._patients is None:
            self._patients = trial_patients(self.sc, self.f, self.index)
        return self._patients

    # -- helpers
    def event(self, patient: int, what: str, detail: str = "") -> None:
        if self.detail:
            self.log.append((self.env.now, patient, what, detail))

    def close(self, reason: str) -> None:
        e = self.enrolment
        if e.closed_month is None:
            e.closed_month, e.close_reason = self.env.now, reason
            self.event(-1, "enrolment closed", reason)
            self.closed.succeed()

    # -- processes
    def hard_stop(self):
        yield self.env.timeout(self.sc.trial.hard_stop_months)
        self.close("hard stop")

    def site(self, s: int, referrals: list[tuple[float, bool, int]], excluded: list[float] | None):
        """Site ``s`` opens, then refers its (month, excluded?, column) referrals in time order
        until enrolment closes. Without the story, ``excluded`` holds the (sorted) months of the
        site's excluded referrals instead: the site counts those that arrived while enrolment was
        open, rather than screening each in a process of its own."""
        e = self.enrolment
        yield self.env.timeout(float(self.f.site_activation_months[self.index, s]))
        self.event(-1, "site opened", f"site {s + 1}")
        n_excluded = 0
        for month, is_excluded, col in referrals:
            wait = month - self.env.now
            if wait > 0:
                yield self.env.timeout(wait)
            if e.closed_month is not None:
                break
            if excluded is not None:  # excluded referrals since the last one, up to now
                n = bisect_left(excluded, self.env.now)
                self.counts["referred"] += n - n_excluded
                self.counts["excluded_total"] += n - n_excluded
                n_excluded = n
            self.env.process(self.excluded(col) if is_excluded else self.candidate(col))
        else:
            if excluded is None:
                return
            if e.closed_month is None:
                yield self.closed
        if excluded is not None:  # the rest of those referred before enrolment closed
            n = bisect_left(excluded, e.closed_month)
            self.counts["referred"] += n - n_excluded
            self.counts["excluded_total"] += n - n_excluded

    def excluded(self, col: int):
        """A referral who fails a permanent rule at screening (story mode only)."""
        pid = int(self.excl_number[col])
        screening, first = self._exclusions
        self.counts["referred"] += 1
        self.event(pid, "referred", f"site {self.excl_site[col] + 1}")
        yield self.env.timeout(float(screening[col]))
        self.counts["excluded_total"] += 1
        self.counts["excluded"][first[col]] += 1
        self.event(pid, "excluded", RULE_NAMES[first[col]])

    def candidate(self, col: int):
        c, pid = self.c, self.cand_number[col]
        self.counts["referred"] += 1
        if self.detail:
            self.event(pid, "referred", f"site {c.site[col] + 1}")
        yield self.env.timeout(float(c.screening_months[col]))
        wait = float(c.qualifies_in_months[col])
        if wait > 0:
            self.counts["deferred"] += 1
            if self.detail:
                self.event(pid, "deferred", f"{RULE_NAMES[c.first_failure[col]]}; qualifies in {wait:.2f} months")
            if c.lost_if_deferred[col]:
                self.counts["lost_during_deferral"] += 1
                self.event(pid, "lost during deferral")
                return
            yield self.env.timeout(wait)
            self.event(pid, "rescreened", "eligible")
        else:
            self.event(pid, "eligible")
        yield from self.randomise(col)

    def randomise(self, col: int):
        e, f, t, pid = self.enrolment, self.f, self.index, self.cand_number[col]
        if e.closed_month is not None:
            self.counts["not_randomised_enrolment_closed"] += 1
            self.event(pid, "not randomised", "enrolment closed")
            return
        k = int(self.c.slot[col])
        if k < 0:
            raise RuntimeError(f"trial {t}: candidate {col} randomised but not in the fates' pool")
        s = int(f.stratum[t, k])
        arm = int(f.allocation[t, s, e.per_stratum[s]])
        e.per_stratum[s] += 1
        # the fated month; simpy's clock reaches it by adding waits, equal to ~1e-14
        p = _Patient(col, pid, k, arm, float(self.c.eligible_month[col]), len(self.schedule))
        e.randomised.append(p)
        self.counts["randomised_per_arm"][arm] += 1
        if not self.complete_case:  # every randomised patient is analysed
            self.counts["analysed_per_arm"][arm] += 1
        if self.detail:
            self.event(pid, "randomised", f"{self.arm_names[arm]} (stratum {s})")
        if len(e.randomised) == e.target:
            self.close("target reached")
        if self.detail:
            yield from self.follow_up(p)
        else:
            self.walk(p)
            if self.design is not None:
                self.env.process(self.determination(p))

    # -- interim looks
    def determination(self, p: _Patient):
        """Without the story: the patient's endpoint is determined (endpoint visit, or dropout
        before it) this long after randomisation, on the trial's clock."""
        yield self.env.timeout(p.finish)
        self.determined_now(p)

    def determined_now(self, p: _Patient) -> None:
        """A patient's endpoint has just been determined: hold every look whose count of
        determined endpoints this completes, unless it is the final analysis (enrolment closed
        and nobody left to determine)."""
        self.determined.append(p)
        d, e = self.design, self.enrolment
        while self.stop is None and self.next_look < d.looks - 1 and len(self.determined) == d.counts[self.next_look]:
            if e.closed_month is not None and len(e.randomised) == len(self.determined):
                return
            k = self.next_look
            self.next_look += 1
            z = self.z_of(self.determined)
            self.look_rows.append((self.env.now, len(e.randomised), z))
            decision = int(interim.decide(d, k, np.array([z]))[0])
            self.event(-1, f"interim look {k + 1}", f"z = {z:.3f}, {len(self.determined)} endpoints")
            if decision != interim.NONE:
                self.stop = (k, decision)
                self.env.process(self.stop_after(k, decision))

    def stop_after(self, k: int, decision: int):
        """The decision to stop, the decision lag after the look's data cut: enrolment closes."""
        yield self.env.timeout(self.design.lag_months)
        e = self.enrolment
        if e.closed_month is not None and len(self.determined) == len(e.randomised):
            self.stop = None                    # the final analysis came first: it decides
            self.event(-1, f"decision of look {k + 1} void", "after the final analysis")
            return
        self.decision_month = self.env.now
        self.close(f"stopped for {'efficacy' if decision == interim.EFFICACY else 'futility'} at look {k + 1}")

    def z_of(self, patients: list[_Patient]) -> float:
        """The score z of these patients' data as the analysis counts it."""
        missing = self.sc.analysis.missing
        state = COMPLETE if self.sc.trial.endpoint == "cr" else PARTIAL
        c = self.sc.control_index
        x, n = [0, 0], [0, 0]
        for p in patients:
            dropped = p.dropout_month == p.dropout_month        # not nan: dropped before the endpoint
            if missing == "complete_case" and dropped:
                continue
            status = p.locf if missing == "locf" else p.visit_status[self.endpoint_visit]
            g = 0 if p.arm == c else 1
            n[g] += 1
            x[g] += status >= state
        return float(self.design.statistic(np.array([x[0]]), np.array([n[0]]), np.array([x[1]]), np.array([n[1]]))[0])

    def sequential_result(self) -> dict:
        """The looks held, the stop if any, and the final analysis (every randomised patient)."""
        d, e = self.design, self.enrolment
        L, n = d.looks, len(e.randomised)
        look_month, look_randomised, look_z = np.full(L, np.nan), np.zeros(L, dtype=np.int32), np.full(L, np.nan)
        for j, (month, randomised, z) in enumerate(self.look_rows):
            look_month[j], look_randomised[j], look_z[j] = month, randomised, z
        z_all = self.z_of(e.randomised)
        if self.stop is None:
            look_randomised[-1] = n
            reject, decision_month = False, np.nan
            if n:
                final = max(max(p.month + p.finish for p in e.randomised), e.closed_month)
                look_month[-1], look_z[-1], decision_month = final, z_all, final
                reject = z_all >= d.final_bound(len(self.look_rows), n)
            stop_look, stop_reason = -1, interim.NONE
        else:
            (stop_look, stop_reason), decision_month = self.stop, self.decision_month
            reject = stop_reason == interim.EFFICACY
        return {"look_month": look_month, "look_randomised": look_randomised, "look_z": look_z,
                "stop_look": stop_look, "stop_reason": stop_reason, "decision_month": decision_month,
                "sequential_reject": bool(reject), "overrun_z": z_all}

    # -- follow-up: the patient's state, changed by their events, recorded at visits
    def remission(self, p: _Patient, month: float, complete: bool) -> None:
        p.state = COMPLETE if complete else PARTIAL
        p.remission_month = month

    def relapse(self, p: _Patient, month: float) -> None:
        p.state = NONE
        p.relapse_month = month

    def drop_out(self, p: _Patient, month: float) -> str:
        reason = "withdrew consent" if self.withdrew[p.slot] else "lost to follow-up"
        if p.finish is None:  # before the endpoint visit: a discontinuation
            p.finish, p.dropout_month, p.dropout_reason = month, month, reason
            self.counts["discontinued_per_arm"][p.arm] += 1
        return reason

    def visit(self, p: _Patient, j: int) -> int:
        """Scheduled visit ``j``, attended: it records the patient's state."""
        status = p.visit_status[j] = p.state
        if j <= self.endpoint_visit:
            p.locf = status
            if j == self.endpoint_visit:
                p.finish = self.sc.trial.endpoint_month
                if self.complete_case:
                    self.counts["analysed_per_arm"][p.arm] += 1
        return status

    def sequence(self, p: _Patient) -> list[tuple[float, int, object]]:
        """The patient's follow-up events, (months after randomisation, kind, argument), in the
        order they happen: the scheduled visits, and the remission, relapse and dropout that fall
        within follow-up (a dropout at or after its end is none: the patient completes)."""
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
        seq.sort()
        return seq

    def walk(self, p: _Patient) -> None:
        """Follow-up without the story: the patient walks their own events in order, off the
        clock (nothing else in the trial waits on them)."""
        for month, what, arg in self.sequence(p):
            if what == VISIT:
                self.visit(p, arg)
            elif what == REMISSION:
                self.remission(p, month, arg)
            elif what == RELAPSE:
                self.relapse(p, month)
            else:
                self.drop_out(p, month)
                return

    def follow_up(self, p: _Patient):
        """Follow-up with the story: the same events on the trial's clock, with the story's own
        (the arm's courses, the endpoint) and lab values at each visit."""
        pid, start = p.number, self.env.now
        horizon = self.sc.trial.max_follow_up_months
        seq = self.sequence(p) + [x for x in self._story_events(p.arm) if x[0] <= horizon]
        seq.sort(key=itemgetter(0, 1))
        for month, what, arg in seq:
            wait = start + month - self.env.now
            if wait > 0:
                yield self.env.timeout(wait)
            followed = p.finish is None
            if what == VISIT:
                self._record_visit(p, arg, month, self.visit(p, arg))
                self.event(pid, "visit", f"month {month:g}")
            elif what == REMISSION:
                self.remission(p, month, arg)
                self.event(pid, "remission", STATUS[p.state])
            elif what == RELAPSE:
                self.relapse(p, month)
                self.event(pid, "relapse")
            elif what == DROPOUT:
                self.event(pid, "dropped out", self.drop_out(p, month))
            else:
                self.event(pid, *arg)
            if followed and p.finish is not None and self.design is not None:
                self.determined_now(p)                  # the endpoint visit, or a dropout before it
            if what == DROPOUT:
                return

    def _story_events(self, arm: int) -> list[tuple[float, int, tuple[str, str]]]:
        """The arm's courses as the story tells them (infusions, start, taper and stop of a
        continuous course) and the endpoint."""
        a, t = self.sc.arm(self.arm_names[arm]), self.sc.trial
        items = []
        for c in a.courses:
            items += [((d - 1) / DAYS_PER_MONTH, STORY, (f"{c.drug} infusion", f"day {d:g}")) for d in c.dose_days]
            if c.months > 0:
                items.append((c.start_month, STORY, (f"{c.drug} started", "")))
                if c.taper_months > 0:
                    items.append((c.start_month + c.months, STORY, (f"{c.drug} taper", "")))
                items.append((c.end_month, STORY, (f"{c.drug} stopped", "end of taper" if c.taper_months else "")))
        items.append((t.endpoint_month, STORY, ("endpoint", "")))
        return items

    def _record_visit(self, p: _Patient, j: int, month: float, status: int) -> None:
        """The visit's row, with lab values consistent with the recorded status."""
        d, k = self.sc.definitions, p.slot
        pts = self.patients
        base = float(pts.proteinuria_baseline_g_day[k])
        u1, u2 = self.labs[k, j]
        if j == 0:
            prot, alb = float(pts.proteinuria_mean_g_day[k]), float(pts.albumin_g_l[k])
        elif status == COMPLETE:
            prot = 0.05 + u1 * (d.complete_max_proteinuria_g_day - 0.05)
            alb = d.complete_min_albumin_g_l + u2 * 10.0
        elif status == PARTIAL:
            hi = min(d.partial_max_proteinuria_g_day, (1 - d.partial_min_reduction_fraction) * base)
            lo = d.complete_max_proteinuria_g_day
            prot = lo + (0.02 + 0.96 * u1) * max(hi - lo, 0.0)
            alb = 25.0 + u2 * 12.0
        else:
            lo = max(d.partial_max_proteinuria_g_day, (1 - d.partial_min_reduction_fraction) * base)
            prot = lo * 1.02 + u1 * max(1.2 * base - lo, 0.5)
            alb = 15.0 + u2 * 15.0
        self.visit_rows.append({
            "patient": p.number, "visit_month": month, "calendar_month": self.env.now,
            "status": STATUS[status], "proteinuria_g_day": prot, "albumin_g_l": alb,
        })

    # -- run
    def run(self) -> TrialResult:
        f, t = self.f, self.index
        self.env.process(self.hard_stop())
        n_sites = self.sc.recruitment.sites
        # each site's candidates, (month, excluded?, column) in time order
        cand, site, month = self.cand, self.c.site, self.c.referral_month
        by_site = np.lexsort((cand, month, site))
        bounds = np.searchsorted(site[by_site], np.arange(n_sites + 1)).tolist()
        referrals = list(zip(month[by_site].tolist(), [False] * len(cand), cand[by_site].tolist()))
        if not self.detail:  # each site's excluded referrals, by month
            by_site = np.lexsort((self.excl_month, self.excl_site))
            months, sites = self.excl_month[by_site], self.excl_site[by_site]
            excl_bounds = np.searchsorted(sites, np.arange(n_sites + 1)).tolist()
        for s in range(n_sites):
            mine = referrals[bounds[s]:bounds[s + 1]]
            if self.detail:
                excl = np.flatnonzero(self.excl_site == s)
                mine = sorted(mine + [(float(self.excl_month[c]), True, int(c)) for c in excl])
                excluded = None
            else:
                excluded = months[excl_bounds[s]:excl_bounds[s + 1]].tolist()
            self.env.process(self.site(s, mine, excluded))
        self.env.run()
        return self._result()

    def _result(self) -> TrialResult:
        f, t, i = self.f, self.sc.trial, self.index
        e = self.enrolment
        pts = sorted(e.randomised, key=attrgetter("number"))
        n = len(pts)
        cols = np.array([p.col for p in pts], dtype=int)
        k = np.array([p.slot for p in pts], dtype=int)
        rmonth = np.array([p.month for p in pts], dtype=float)
        if self.detail:
            cov = self.patients.take(k)
            col = lambda name: getattr(cov, name)  # noqa: E731
        else:  # story-only covariates are not drawn without the story
            pool = {"proteinuria_mean_g_day": mean_of_collections(f.pool["c1"][i, k], f.pool["c2"][i, k]),
                    "pla2r_titre_ru_ml": f.pool["titre"][i, k]}
            col = lambda name: np.full(n, np.nan) if name in _STORY_ONLY else pool[name]  # noqa: E731
        visit_status = np.array([p.visit_status for p in pts], dtype=np.int8).reshape(n, len(self.schedule))
        randomised = RandomisedPatients(
            patient=np.array([p.number for p in pts], dtype=int), site=self.c.site[cols] + 1,
            referral_month=self.c.referral_month[cols], randomisation_month=rmonth,
            arm=np.array([p.arm for p in pts], dtype=np.int8), arm_names=self.arm_names, stratum=f.stratum[i, k],
            covariates={"age_years": col("age_years"), "male": col("male"),
                        "proteinuria_g_day": col("proteinuria_mean_g_day"), "albumin_g_l": col("albumin_g_l"),
                        "egfr_ml_min": col("egfr_ml_min"), "pla2r_titre_ru_ml": col("pla2r_titre_ru_ml")},
            remission_month=np.array([p.remission_month for p in pts], dtype=float),
            relapse_month=np.array([p.relapse_month for p in pts], dtype=float),
            visit_months=t.visit_months, visit_status=visit_status,
            endpoint_status=visit_status[:, self.endpoint_visit],
            locf_status=np.array([p.locf for p in pts], dtype=np.int8),
            dropout_month=np.array([p.dropout_month for p in pts], dtype=float),
            dropout_reason=np.array([p.dropout_reason for p in pts], dtype=str),
        )
        c = self.counts
        consort = {
            "referred": c["referred"], "screened": c["referred"],
            "excluded": dict(zip(RULE_NAMES, c["excluded"])) if self.detail else {},
            "excluded_total": c["excluded_total"],
            "deferred": c["deferred"], "lost_during_deferral": c["lost_during_deferral"],
            "not_randomised_enrolment_closed": c["not_randomised_enrolment_closed"],
            "randomised": n,
            "randomised_per_arm": dict(zip(self.arm_names, c["randomised_per_arm"])),
            "discontinued_per_arm": dict(zip(self.arm_names, c["discontinued_per_arm"])),
            "analysed_per_arm": dict(zip(self.arm_names, c["analysed_per_arm"])),
        }
        last = float(rmonth.max()) if n else None
        calendar = {
            "first_randomisation_month": float(rmonth.min()) if n else None,
            "last_randomisation_month": last, "recruitment_months": last,
            "enrolment_closed_month": e.closed_month, "enrolment_close_reason": e.close_reason,
            "duration_months": max(p.month + p.finish for p in pts) if n else float(e.closed_month or 0.0),
            "terminated": n < e.target and self.stop is None,   # short of target without a stop at a look
            "recruited_on_time": n == e.target and last <= t.recruitment_months,
        }
        if self.detail:
            events = pd.DataFrame(self.log, columns=EVENT_COLUMNS)
            if len(events):
                events = events.sort_values("month", kind="stable").reset_index(drop=True)
            visits = pd.DataFrame(self.visit_rows, columns=VISIT_COLUMNS)
        else:  # no story: no events or visits
            events, visits = _EMPTY_EVENTS.copy(), _EMPTY_VISITS.copy()
        return TrialResult(randomised=randomised, visits=visits, events=events, consort=consort, calendar=calendar,
                           sequential=None if self.design is None else self.sequential_result())


def simulate_trial(scenario: sc.Scenario, fates: Fates, index: int = 0, detail: bool = True) -> TrialResult:
    """Run trial ``index`` of a block of fates through the discrete-event model."""
    return _Trial(scenario, fates, index, detail).run()


def example_trial(scenario: sc.Scenario, seed: int, detail: bool = True, replicate: int = 0) -> TrialResult:
    """Trial ``replicate`` of the seed (by default trial 0): the same trial as that replicate of
    a power run with this seed."""
    from simulate.fates import draw_fates
    from simulate.seeding import block_sequence

    size = trials_per_block(scenario)
    block, index = divmod(int(replicate), size)
    fates = draw_fates(scenario, block_sequence(seed, block), size)
    return simulate_trial(scenario, fates, index, detail=detail)
