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
* **Follow-up**: RTX infusions and the CsA course, visits with remission status and lab values
  consistent with the trial's CR/PR definitions, remission, relapse and dropout (no visits after
  dropout), up to the endpoint visit.

``detail=False`` runs the same model without the story (no event log, visits or doses, and
excluded referrals are counted rather than simulated, in total rather than by rule); its
outcomes are identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from simulate import scenario as sc
from simulate.eligibility import RULE_NAMES
from simulate.cohort import Patients
from simulate.fates import DAYS_PER_MONTH, Fates, excluded_of, lab_uniforms, trial_exclusions, trial_patients

STATUS = ("none", "partial", "complete")
VISIT_COLUMNS = ["patient", "visit_month", "calendar_month", "status", "proteinuria_g_day", "albumin_g_l"]
EVENT_COLUMNS = ["month", "patient", "event", "detail"]
_EMPTY_EVENTS = pd.DataFrame([], columns=EVENT_COLUMNS)
_EMPTY_VISITS = pd.DataFrame([], columns=VISIT_COLUMNS)
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
        self.index = t = index
        self.env = simpy.Environment()
        tc = scenario.trial
        self.enrolment = _Enrolment(target=tc.n_target, per_stratum=np.zeros(fates.allocation.shape[1], dtype=int))
        self.log: list[tuple[float, int, str, str]] = []
        self.visit_rows: list[dict] = []
        self.arm: dict[int, int] = {}
        self.randomised_month: dict[int, float] = {}
        self.counts = {"referred": 0, "excluded": np.zeros(len(RULE_NAMES), dtype=int), "deferred": 0,
                       "lost_during_deferral": 0, "not_randomised_enrolment_closed": 0}
        self.labs = lab_uniforms(fates, index, len(tc.visit_months)) if detail else None
        # referrals of this trial: candidates (columns of the fates' candidate arrays) and, in
        # story mode, excluded referrals; a patient's number is their place in referral order
        self.cand = np.flatnonzero(fates.site[t] >= 0)
        self.excl_month, self.excl_site = excluded_of(fates, t)
        months = np.concatenate([fates.referral_month[t, self.cand], self.excl_month])
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

    # -- processes
    def hard_stop(self):
        yield self.env.timeout(self.sc.trial.hard_stop_months)
        self.close("hard stop")

    def site(self, s: int, referrals: list[tuple[float, bool, int]]):
        """Site ``s`` opens, then refers its (month, excluded?, column) referrals in time order."""
        yield self.env.timeout(float(self.f.site_activation_months[self.index, s]))
        self.event(-1, "site opened", f"site {s + 1}")
        for month, excluded, col in referrals:
            wait = month - self.env.now
            if wait > 0:
                yield self.env.timeout(wait)
            if self.enrolment.closed_month is not None:
                return
            self.env.process(self.excluded(col) if excluded else self.candidate(col))

    def excluded(self, col: int):
        """A referral who fails a permanent rule at screening (story mode only)."""
        pid = int(self.excl_number[col])
        screening, first = self._exclusions
        self.counts["referred"] += 1
        self.event(pid, "referred", f"site {self.excl_site[col] + 1}")
        yield self.env.timeout(float(screening[col]))
        self.counts["excluded"][first[col]] += 1
        self.event(pid, "excluded", RULE_NAMES[first[col]])

    def candidate(self, col: int):
        f, t, pid = self.f, self.index, self.cand_number[col]
        self.counts["referred"] += 1
        self.event(pid, "referred", f"site {f.site[t, col] + 1}")
        yield self.env.timeout(float(f.screening_months[t, col]))
        wait = float(f.qualifies_in_months[t, col])
        if wait > 0:
            self.counts["deferred"] += 1
            self.event(pid, "deferred", f"{RULE_NAMES[f.first_failure[t, col]]}; qualifies in {wait:.2f} months")
            if f.lost_if_deferred[t, col]:
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
        k = int(f.slot[t, col])
        if k < 0:
            raise RuntimeError(f"trial {t}: candidate {col} randomised but not in the fates' pool")
        s = int(f.stratum[t, k])
        arm = int(f.allocation[t, s, e.per_stratum[s]])
        e.per_stratum[s] += 1
        e.randomised.append(col)
        # the fated month; simpy's clock reaches it by adding waits, equal to ~1e-14
        self.arm[col], self.randomised_month[col] = arm, float(f.eligible_month[t, col])
        self.event(pid, "randomised", f"{ARM_LABELS[arm]} (stratum {s})")
        if len(e.randomised) == e.target:
            self.close("target reached")
        yield from self.follow_up(col, arm)

    def follow_up(self, col: int, arm: int):
        f, t, pid = self.f, self.sc.trial, self.cand_number[col]
        k = int(f.slot[self.index, col])
        po = f.outcomes[arm]
        end_rel = t.endpoint_month
        drop = float(po.dropout_month[self.index, k])
        if not self.detail:
            yield self.env.timeout(min(drop, end_rel))
            return
        stop = min(drop, t.max_follow_up_months)
        timeline = self._timeline(k, arm, stop)
        start = self.env.now
        for rel, what, detail, visit in timeline:
            wait = start + rel - self.env.now
            if wait > 0:
                yield self.env.timeout(wait)
            if visit is not None:
                self._visit(pid, k, arm, visit, rel)
            self.event(pid, what, detail)
        if drop < t.max_follow_up_months:
            yield self.env.timeout(max(start + drop - self.env.now, 0.0))
            reason = "withdrew consent" if f.withdrawal[self.index, k] else "lost to follow-up"
            self.event(pid, "dropped out", reason)

    def _timeline(self, k: int, arm: int, stop: float) -> list:
        po, a, t, i = self.f.outcomes[arm], self.sc.arm(ARM_LABELS[arm]), self.sc.trial, self.index
        items = []
        for d in a.rtx_dose_days:
            items.append(((d - 1) / DAYS_PER_MONTH, "RTX infusion", f"day {d:g}", None))
        if a.csa_course_months > 0:
            items.append((0.0, "CsA started", "", None))
            items.append((a.csa_course_months, "CsA stopped", "end of taper", None))
        for j, v in enumerate(t.visit_months):
            items.append((float(v), "visit", f"month {v:g}", j))
        rem, rel = float(po.remission_month[i, k]), float(po.relapse_month[i, k])
        if np.isfinite(rem):
            items.append((rem, "remission", "complete" if po.complete[i, k] else "partial", None))
        if np.isfinite(rel):
            items.append((rel, "relapse", "", None))
        items.append((t.endpoint_month, "endpoint", "", None))
        completes = float(po.dropout_month[i, k]) >= t.max_follow_up_months
        items = [x for x in items if x[0] < stop or (completes and x[0] <= stop)]
        items.sort(key=lambda x: (x[0], x[1] != "visit"))
        return items

    def _visit(self, pid: int, k: int, arm: int, j: int, rel: float) -> None:
        po, d, i = self.f.outcomes[arm], self.sc.definitions, self.index
        in_remission = po.remission_month[i, k] <= rel < po.relapse_month[i, k]
        status = (2 if po.complete[i, k] else 1) if in_remission else 0
        pts = self.patients
        base = float(pts.proteinuria_baseline_g_day[k])
        u1, u2 = self.labs[k, j]
        if j == 0:
            prot, alb = float(pts.proteinuria_mean_g_day[k]), float(pts.albumin_g_l[k])
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
            "patient": pid, "visit_month": rel, "calendar_month": self.env.now,
            "status": STATUS[status], "proteinuria_g_day": prot, "albumin_g_l": alb,
        })

    # -- run
    def run(self) -> TrialResult:
        f, t = self.f, self.index
        self.env.process(self.hard_stop())
        cand = self.cand
        if not self.detail:
            cand = cand[np.isfinite(f.eligible_month[t, cand])]
        for s in range(self.sc.recruitment.sites):
            mine = [(float(f.referral_month[t, c]), False, int(c)) for c in cand[f.site[t, cand] == s]]
            if self.detail:
                excl = np.flatnonzero(self.excl_site == s)
                mine += [(float(self.excl_month[c]), True, int(c)) for c in excl]
            mine.sort()
            self.env.process(self.site(s, mine))
        self.env.run()
        return self._result()

    def _result(self) -> TrialResult:
        f, t, sc_, i = self.f, self.sc.trial, self.sc, self.index
        e = self.enrolment
        cols = np.array(sorted(e.randomised, key=self.cand_number.__getitem__), dtype=int)
        k = f.slot[i, cols] if len(cols) else np.array([], dtype=int)
        arm = np.array([self.arm[c] for c in cols], dtype=int)
        rmonth = np.array([self.randomised_month[c] for c in cols])
        end = t.endpoint_month

        def pick(name: str) -> np.ndarray:
            """Each randomised patient's outcome under the arm they were randomised to."""
            return np.where(arm == 1, getattr(f.outcomes[1], name)[i, k], getattr(f.outcomes[0], name)[i, k])

        drop, rem, rel = pick("dropout_month"), pick("remission_month"), pick("relapse_month")
        dropped = drop < end
        comp = pick("complete").astype(bool)
        in_rem = (rem <= end) & (rel > end)
        status = np.where(dropped, "missing", np.where(in_rem, np.where(comp, "complete", "partial"), "none"))
        last_visit = _last_visit_month(np.asarray(t.visit_months), np.minimum(drop, end)) if len(cols) else np.array([])
        locf = (rem <= last_visit) & (rel > last_visit)
        if self.detail:
            pts = self.patients.take(k)
            col = lambda name: getattr(pts, name)  # noqa: E731
        else:  # story-only covariates are not drawn without the story
            story_only = ("age_years", "male", "albumin_g_l", "egfr_ml_min")
            pool = {"proteinuria_mean_g_day": 0.5 * (f.pool["c1"][i, k] + f.pool["c2"][i, k]),
                    "pla2r_titre_ru_ml": f.pool["titre"][i, k]}
            col = lambda name: np.full(len(k), np.nan) if name in story_only else pool[name]  # noqa: E731
        columns = {
            "patient": np.array([self.cand_number[c] for c in cols], dtype=int),
            "site": f.site[i, cols] + 1 if len(cols) else [],
            "referral_month": f.referral_month[i, cols], "randomisation_month": rmonth,
            "arm": [ARM_LABELS[a] for a in arm], "stratum": f.stratum[i, k] if len(cols) else [],
            "age_years": col("age_years"), "male": col("male"),
            "proteinuria_g_day": col("proteinuria_mean_g_day"), "albumin_g_l": col("albumin_g_l"),
            "egfr_ml_min": col("egfr_ml_min"), "pla2r_titre_ru_ml": col("pla2r_titre_ru_ml"),
            "remission_month": np.where(rem <= np.minimum(drop, t.max_follow_up_months), rem, np.nan),
            "relapse_month": np.where(rel <= np.minimum(drop, t.max_follow_up_months), rel, np.nan),
            "endpoint_status": status, "locf_remission": locf,
            "dropout_month": np.where(dropped, drop, np.nan),
            "dropout_reason": np.where(dropped, np.where(f.withdrawal[i, k], "withdrew consent",
                                                         "lost to follow-up"), "") if len(cols) else np.array([], dtype=str),
        }
        n_arm = [int((arm == a).sum()) for a in (0, 1)]
        disc = [int(((arm == a) & dropped).sum()) for a in (0, 1)]
        missing = sc_.analysis.missing
        analysed = [n_arm[a] - disc[a] if missing == "complete_case" else n_arm[a] for a in (0, 1)]
        counts = self.counts
        if not self.detail:
            counts = _count_referrals(f, i, e.closed_month, len(cols))
        consort = {
            "referred": int(counts["referred"]), "screened": int(counts["referred"]),
            "excluded": {name: int(n) for name, n in zip(RULE_NAMES, counts["excluded"])} if self.detail else {},
            "excluded_total": int(np.sum(counts["excluded"])),
            "deferred": int(counts["deferred"]), "lost_during_deferral": int(counts["lost_during_deferral"]),
            "not_randomised_enrolment_closed": int(counts["not_randomised_enrolment_closed"]),
            "randomised": len(cols),
            "randomised_per_arm": dict(zip(ARM_LABELS, n_arm)),
            "discontinued_per_arm": dict(zip(ARM_LABELS, disc)),
            "analysed_per_arm": dict(zip(ARM_LABELS, analysed)),
        }
        finish = rmonth + np.minimum(drop, end) if len(cols) else np.array([])
        calendar = {
            "first_randomisation_month": float(rmonth.min()) if len(cols) else None,
            "last_randomisation_month": float(rmonth.max()) if len(cols) else None,
            "recruitment_months": float(rmonth.max()) if len(cols) else None,
            "enrolment_closed_month": e.closed_month, "enrolment_close_reason": e.close_reason,
            "duration_months": float(finish.max()) if len(cols) else float(e.closed_month or 0.0),
            "terminated": len(cols) < e.target,
            "recruited_on_time": len(cols) == e.target and float(rmonth.max()) <= t.recruitment_months,
        }
        if self.detail:
            events = pd.DataFrame(self.log, columns=EVENT_COLUMNS)
            if len(events):
                events = events.sort_values("month", kind="stable").reset_index(drop=True)
            visits = pd.DataFrame(self.visit_rows, columns=VISIT_COLUMNS)
        else:  # no story: no events or visits
            events, visits = _EMPTY_EVENTS.copy(), _EMPTY_VISITS.copy()
        # status at each scheduled visit ("" for a visit not attended: after dropout)
        for v in t.visit_months:
            attended = (v < drop) | (drop >= t.max_follow_up_months)
            in_rem_v = (rem <= v) & (rel > v)
            status_v = np.where(in_rem_v, np.where(comp, "complete", "partial"), "none")
            columns[f"status_month_{v:g}"] = np.where(attended, status_v, "") if len(cols) else []
        patients = pd.DataFrame(columns)
        return TrialResult(patients=patients, visits=visits, events=events,
                           consort=consort, calendar=calendar)


def _last_visit_month(visits: np.ndarray, until: np.ndarray) -> np.ndarray:
    """The last scheduled visit at or before ``until`` (months after randomisation)."""
    k = np.searchsorted(visits, until, side="right") - 1
    return visits[np.maximum(k, 0)]


def _count_referrals(f: Fates, t: int, closed: float | None, n_randomised: int) -> dict:
    """CONSORT counts without simulating excluded referrals (same totals as the story mode;
    the exclusions are counted in total, not by rule)."""
    close = closed if closed is not None else np.inf
    n_excluded = int((excluded_of(f, t)[0] < close).sum())
    referred = f.referral_month[t] < close
    q = f.qualifies_in_months[t][referred]
    deferred = q > 0
    lost = deferred & f.lost_if_deferred[t][referred]
    came = int(np.isfinite(f.eligible_month[t][referred]).sum())
    return {"referred": n_excluded + int(referred.sum()), "excluded": np.array([n_excluded]),
            "deferred": int(deferred.sum()), "lost_during_deferral": int(lost.sum()),
            "not_randomised_enrolment_closed": came - n_randomised}


def simulate_trial(scenario: sc.Scenario, fates: Fates, index: int = 0, detail: bool = True) -> TrialResult:
    """Run trial ``index`` of a block of fates through the discrete-event model."""
    return _Trial(scenario, fates, index, detail).run()


def example_trial(scenario: sc.Scenario, seed: int, detail: bool = True) -> TrialResult:
    """Trial 0 of the seed: the same trial as replicate 0 of a power run with this seed."""
    from simulate.fates import draw_fates
    from simulate.seeding import block_sequence

    fates = draw_fates(scenario, block_sequence(seed, 0), scenario.simulation.block_size)
    return simulate_trial(scenario, fates, 0, detail=detail)
