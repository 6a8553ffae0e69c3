"""The discrete-event trial: the reference semantics of trialsim, told patient by patient.

One trial is a simpy model. Simpy owns the clock and the event queue; the model owns no
randomness: every random quantity comes from the trial's :class:`~simulate.fates.Fates`.

* **Sites** open at their activation month and refer patients at their (fated) referral times
  until enrolment closes.
* **Screening** takes the patient's screening time (two 24-h collections), then the registered
  rules decide: excluded (first failing rule), eligible, or deferred by a time-dependent rule.
  A deferred patient is either lost or comes back when they qualify.
* **Randomisation**: an eligible patient takes the next arm of their stratum's permuted-block
  sequence. Enrolment closes when the target is reached or at the hard stop, whichever is first;
  a trial closing short of target is *terminated* (slow accrual).
* **Follow-up**: RTX infusions and the CsA course, visits with remission status and lab values
  consistent with the trial's CR/PR definitions, remission, relapse and dropout (no visits after
  dropout), up to the endpoint visit.

``detail=False`` runs the same model without the story (no event log, visits or doses, and
excluded referrals are counted rather than simulated); its outcomes are identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from simulate import scenario as sc
from simulate.eligibility import RULE_NAMES
from simulate.fates import DAYS_PER_MONTH, Fates, lab_uniforms

STATUS = ("none", "partial", "complete")
VISIT_COLUMNS = ["patient", "visit_month", "calendar_month", "status", "proteinuria_g_day", "albumin_g_l"]
ARM_LABELS = sc.ARMS


@dataclass
class _Enrolment:
    target: int
    per_stratum: np.ndarray
    """Patients randomised so far in each stratum (the next position in its block sequence)."""
    randomised: list = field(default_factory=list)
    closed_month: float | None = None
    close_reason: str = ""


@dataclass(frozen=True)
class TrialResult:
    """One simulated trial: who was randomised, what happened to them, and the counts."""

    patients: pd.DataFrame
    """One row per randomised patient."""
    visits: pd.DataFrame
    """One row per attended visit (story mode only; empty otherwise)."""
    events: pd.DataFrame
    """The event log: calendar month, patient, event, detail (story mode only)."""
    consort: dict
    calendar: dict

    def remission_at_endpoint(self) -> dict:
        """Observed proportion in remission at the endpoint per arm (dropouts count as failures)."""
        p = self.patients
        out = {}
        for arm in ARM_LABELS:
            rows = p[p.arm == arm]
            out[arm] = float((rows.endpoint_status.isin(["partial", "complete"])).mean()) if len(rows) else float("nan")
        return out


class _Trial:
    def __init__(self, scenario: sc.Scenario, fates: Fates, index: int, detail: bool):
        self.sc, self.f, self.detail = scenario, fates, detail
        self.rows = fates.rows(index)
        self.base = self.rows.start
        self.index = index
        self.env = simpy.Environment()
        t = scenario.trial
        self.enrolment = _Enrolment(target=t.n_target, per_stratum=np.zeros(fates.allocation.shape[1], dtype=int))
        self.log: list[tuple[float, int, str, str]] = []
        self.visit_rows: list[dict] = []
        self.arm: dict[int, int] = {}
        self.randomised_month: dict[int, float] = {}
        self.counts = {"referred": 0, "excluded": np.zeros(len(RULE_NAMES), dtype=int), "deferred": 0,
                       "lost_during_deferral": 0, "not_randomised_enrolment_closed": 0}
        self.labs = lab_uniforms(fates, index, len(t.visit_months)) if detail else None

    # -- helpers
    def event(self, patient: int, what: str, detail: str = "") -> None:
        if self.detail:
            self.log.append((self.env.now, patient, what, detail))

    def close(self, reason: str) -> None:
        e = self.enrolment
        if e.closed_month is None:
            e.closed_month, e.close_reason = self.env.now, reason
            self.event(-1, "enrolment closed", reason)

    # -- processes
    def hard_stop(self):
        yield self.env.timeout(self.sc.trial.hard_stop_months)
        self.close("hard stop")

    def site(self, s: int, referrals: np.ndarray):
        f = self.f
        yield self.env.timeout(float(f.site_activation_months[self.index, s]))
        self.event(-1, "site opened", f"site {s + 1}")
        for r in referrals:
            wait = float(f.referral_month[r]) - self.env.now
            if wait > 0:
                yield self.env.timeout(wait)
            if self.enrolment.closed_month is not None:
                return
            self.env.process(self.patient(int(r)))

    def patient(self, r: int):
        f, pid = self.f, r - self.base
        self.counts["referred"] += 1
        self.event(pid, "referred", f"site {f.site[r] + 1}")
        yield self.env.timeout(float(f.screening_months[r]))
        wait = float(f.qualifies_in_months[r])
        if np.isinf(wait):
            rule = RULE_NAMES[f.first_failure[r]]
            self.counts["excluded"][f.first_failure[r]] += 1
            self.event(pid, "excluded", rule)
            return
        if wait > 0:
            self.counts["deferred"] += 1
            self.event(pid, "deferred", f"{RULE_NAMES[f.first_failure[r]]}; qualifies in {wait:.2f} months")
            if f.lost_if_deferred[r]:
                self.counts["lost_during_deferral"] += 1
                self.event(pid, "lost during deferral")
                return
            yield self.env.timeout(wait)
            self.event(pid, "rescreened", "eligible")
        else:
            self.event(pid, "eligible")
        yield from self.randomise(r)

    def randomise(self, r: int):
        e, pid = self.enrolment, r - self.base
        if e.closed_month is not None:
            self.counts["not_randomised_enrolment_closed"] += 1
            self.event(pid, "not randomised", "enrolment closed")
            return
        s = int(self.f.stratum[r])
        arm = int(self.f.allocation[self.index, s, e.per_stratum[s]])
        e.per_stratum[s] += 1
        e.randomised.append(r)
        # the fated month; simpy's clock reaches it by adding waits, equal to ~1e-14
        self.arm[r], self.randomised_month[r] = arm, float(self.f.eligible_month[r])
        self.event(pid, "randomised", f"{ARM_LABELS[arm]} (stratum {s})")
        if len(e.randomised) == e.target:
            self.close("target reached")
        yield from self.follow_up(r, arm)

    def follow_up(self, r: int, arm: int):
        po, t, pid = self.f.outcomes[arm], self.sc.trial, r - self.base
        end_rel = t.endpoint_month
        drop = float(po.dropout_month[r])
        if not self.detail:
            yield self.env.timeout(min(drop, end_rel))
            return
        stop = min(drop, t.max_follow_up_months)
        timeline = self._timeline(r, arm, stop)
        start = self.env.now
        for rel, what, detail, visit in timeline:
            wait = start + rel - self.env.now
            if wait > 0:
                yield self.env.timeout(wait)
            if visit is not None:
                self._visit(r, arm, visit, rel)
            self.event(pid, what, detail)
        if drop < t.max_follow_up_months:
            yield self.env.timeout(max(start + drop - self.env.now, 0.0))
            reason = "withdrew consent" if self.f.withdrawal[r] else "lost to follow-up"
            self.event(pid, "dropped out", reason)

    def _timeline(self, r: int, arm: int, stop: float) -> list:
        po, a, t = self.f.outcomes[arm], self.sc.arm(ARM_LABELS[arm]), self.sc.trial
        items = []
        for d in a.rtx_dose_days:
            items.append(((d - 1) / DAYS_PER_MONTH, "RTX infusion", f"day {d:g}", None))
        if a.csa_course_months > 0:
            items.append((0.0, "CsA started", "", None))
            items.append((a.csa_course_months, "CsA stopped", "end of taper", None))
        for k, v in enumerate(t.visit_months):
            items.append((float(v), "visit", f"month {v:g}", k))
        rem, rel = float(po.remission_month[r]), float(po.relapse_month[r])
        if np.isfinite(rem):
            items.append((rem, "remission", "complete" if po.complete[r] else "partial", None))
        if np.isfinite(rel):
            items.append((rel, "relapse", "", None))
        items.append((t.endpoint_month, "endpoint", "", None))
        completes = float(po.dropout_month[r]) >= t.max_follow_up_months
        items = [x for x in items if x[0] < stop or (completes and x[0] <= stop)]
        items.sort(key=lambda x: (x[0], x[1] != "visit"))
        return items

    def _visit(self, r: int, arm: int, k: int, rel: float) -> None:
        po, d = self.f.outcomes[arm], self.sc.definitions
        in_remission = po.remission_month[r] <= rel < po.relapse_month[r]
        status = (2 if po.complete[r] else 1) if in_remission else 0
        base = float(self.f.patients.proteinuria_baseline_g_day[r])
        u1, u2 = self.labs[r - self.base, k]
        if k == 0:
            prot, alb = float(self.f.patients.proteinuria_mean_g_day[r]), float(self.f.patients.albumin_g_l[r])
        elif status == 2:
            prot = 0.05 + u1 * (d.complete_max_proteinuria_g_day - 0.05)
            alb = d.complete_min_albumin_g_l + u2 * 10.0
        elif status == 1:
            hi = min(d.partial_max_proteinuria_g_day, (1 - d.partial_min_reduction_fraction) * base)
            lo = d.complete_max_proteinuria_g_day
            prot = lo + (0.02 + 0.96 * u1) * max(hi - lo, 0.0)
            alb = 25.0 + u2 * 12.0
        else:
            lo = max(d.partial_max_proteinuria_g_day, (1 - d.partial_min_reduction_fraction) * base)
            prot = lo * 1.02 + u1 * max(1.2 * base - lo, 0.5)
            alb = 15.0 + u2 * 15.0
        self.visit_rows.append({
            "patient": r - self.base, "visit_month": rel, "calendar_month": self.env.now,
            "status": STATUS[status], "proteinuria_g_day": prot, "albumin_g_l": alb,
        })

    # -- run
    def run(self) -> TrialResult:
        f, rows = self.f, self.rows
        self.env.process(self.hard_stop())
        idx = np.arange(rows.start, rows.stop)
        if not self.detail:
            idx = idx[np.isfinite(f.eligible_month[rows])]
        for s in range(self.sc.recruitment.sites):
            self.env.process(self.site(s, idx[f.site[idx] == s]))
        self.env.run()
        return self._result()

    def _result(self) -> TrialResult:
        f, t, sc_ = self.f, self.sc.trial, self.sc
        e = self.enrolment
        rand = np.array(sorted(e.randomised), dtype=int)
        arm = np.array([self.arm[r] for r in rand], dtype=int)
        rmonth = np.array([self.randomised_month[r] for r in rand])
        end = t.endpoint_month
        pick = lambda name: np.array([getattr(f.outcomes[a], name)[r] for r, a in zip(rand, arm)])  # noqa: E731
        drop = pick("dropout_month") if len(rand) else np.array([])
        dropped = drop < end
        rem = pick("remission_month") if len(rand) else np.array([])
        rel = pick("relapse_month") if len(rand) else np.array([])
        comp = pick("complete").astype(bool) if len(rand) else np.array([], dtype=bool)
        in_rem = (rem <= end) & (rel > end)
        status = np.where(dropped, "missing", np.where(in_rem, np.where(comp, "complete", "partial"), "none"))
        last_visit = _last_visit_month(np.asarray(t.visit_months), np.minimum(drop, end)) if len(rand) else np.array([])
        locf = (rem <= last_visit) & (rel > last_visit)
        pts = f.patients.take(rand) if len(rand) else f.patients.take(np.array([], dtype=int))
        patients = pd.DataFrame({
            "patient": rand - self.base, "site": f.site[rand] + 1 if len(rand) else [],
            "referral_month": f.referral_month[rand], "randomisation_month": rmonth,
            "arm": [ARM_LABELS[a] for a in arm], "stratum": f.stratum[rand],
            "age_years": pts.age_years, "male": pts.male, "proteinuria_g_day": pts.proteinuria_mean_g_day,
            "albumin_g_l": pts.albumin_g_l, "egfr_ml_min": pts.egfr_ml_min, "pla2r_titre_ru_ml": pts.pla2r_titre_ru_ml,
            "remission_month": np.where(rem <= np.minimum(drop, t.max_follow_up_months), rem, np.nan),
            "relapse_month": np.where(rel <= np.minimum(drop, t.max_follow_up_months), rel, np.nan),
            "endpoint_status": status, "locf_remission": locf,
            "dropout_month": np.where(dropped, drop, np.nan),
            "dropout_reason": np.where(dropped, np.where(f.withdrawal[rand], "withdrew consent", "lost to follow-up"), ""),
        })
        n_arm = [int((arm == a).sum()) for a in (0, 1)]
        disc = [int(((arm == a) & dropped).sum()) for a in (0, 1)]
        missing = sc_.analysis.missing
        analysed = [n_arm[a] - disc[a] if missing == "complete_case" else n_arm[a] for a in (0, 1)]
        counts = self.counts
        if not self.detail:
            counts = _count_referrals(f, self.rows, e.closed_month, rand)
        consort = {
            "referred": int(counts["referred"]), "screened": int(counts["referred"]),
            "excluded": {name: int(n) for name, n in zip(RULE_NAMES, counts["excluded"])},
            "excluded_total": int(np.sum(counts["excluded"])),
            "deferred": int(counts["deferred"]), "lost_during_deferral": int(counts["lost_during_deferral"]),
            "not_randomised_enrolment_closed": int(counts["not_randomised_enrolment_closed"]),
            "randomised": len(rand),
            "randomised_per_arm": dict(zip(ARM_LABELS, n_arm)),
            "discontinued_per_arm": dict(zip(ARM_LABELS, disc)),
            "analysed_per_arm": dict(zip(ARM_LABELS, analysed)),
        }
        finish = rmonth + np.minimum(drop, end) if len(rand) else np.array([])
        calendar = {
            "first_randomisation_month": float(rmonth.min()) if len(rand) else None,
            "last_randomisation_month": float(rmonth.max()) if len(rand) else None,
            "recruitment_months": float(rmonth.max()) if len(rand) else None,
            "enrolment_closed_month": e.closed_month, "enrolment_close_reason": e.close_reason,
            "duration_months": float(finish.max()) if len(rand) else float(e.closed_month or 0.0),
            "terminated": len(rand) < e.target,
            "recruited_on_time": len(rand) == e.target and float(rmonth.max()) <= t.recruitment_months,
        }
        events = pd.DataFrame(self.log, columns=["month", "patient", "event", "detail"])
        if len(events):
            events = events.sort_values("month", kind="stable").reset_index(drop=True)
        visits = pd.DataFrame(self.visit_rows, columns=VISIT_COLUMNS)
        # status at each scheduled visit ("" for a visit not attended: after dropout)
        for v in t.visit_months:
            attended = (v < drop) | (drop >= t.max_follow_up_months)
            in_rem_v = (rem <= v) & (rel > v)
            status_v = np.where(in_rem_v, np.where(comp, "complete", "partial"), "none")
            patients[f"status_month_{v:g}"] = np.where(attended, status_v, "") if len(rand) else []
        return TrialResult(patients=patients, visits=visits, events=events,
                           consort=consort, calendar=calendar)


def _last_visit_month(visits: np.ndarray, until: np.ndarray) -> np.ndarray:
    """The last scheduled visit at or before ``until`` (months after randomisation)."""
    k = np.searchsorted(visits, until, side="right") - 1
    return visits[np.maximum(k, 0)]


def _count_referrals(f: Fates, rows: slice, closed: float | None, randomised: np.ndarray) -> dict:
    """CONSORT counts without simulating excluded referrals (same result as the story mode)."""
    month = f.referral_month[rows]
    referred = month < (closed if closed is not None else np.inf)
    q = f.qualifies_in_months[rows][referred]
    first = f.first_failure[rows][referred]
    deferred = np.isfinite(q) & (q > 0)
    lost = deferred & f.lost_if_deferred[rows][referred]
    excluded = np.bincount(first[np.isinf(q)], minlength=len(RULE_NAMES))
    came = int(np.isfinite(q).sum() - lost.sum())
    return {"referred": int(referred.sum()), "excluded": excluded, "deferred": int(deferred.sum()),
            "lost_during_deferral": int(lost.sum()), "not_randomised_enrolment_closed": came - len(randomised)}


def simulate_trial(scenario: sc.Scenario, fates: Fates, index: int = 0, detail: bool = True) -> TrialResult:
    """Run trial ``index`` of a block of fates through the discrete-event model."""
    return _Trial(scenario, fates, index, detail).run()


def example_trial(scenario: sc.Scenario, seed: int, detail: bool = True) -> TrialResult:
    """Trial 0 of the seed: the same trial as replicate 0 of a power run with this seed."""
    from simulate.fates import draw_fates
    from simulate.seeding import block_sequence

    fates = draw_fates(scenario, block_sequence(seed, 0), scenario.simulation.block_size)
    return simulate_trial(scenario, fates, 0, detail=detail)
