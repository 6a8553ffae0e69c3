"""The story of one trial: the discrete-event trial (:mod:`simulate.engines.des_model`) told.

The same model, the same events and counts, and in addition what only the story shows: the
event log (who was referred, excluded by which rule, deferred, randomised, seen at each visit,
...), the visits with lab values consistent with the trial's CR/PR definitions, each arm's
courses (infusions, the start, taper and end of a continuous course), and every randomised
patient's covariates (drawn on demand by :mod:`simulate.engines.story`). A randomised patient's
follow-up runs on the trial's clock, event by event. This is what ``trialsim trial`` shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import simpy

from simulate.design import scenario as sc
from simulate.population.cohort import Patients
from simulate.screening.criteria import RULE_NAMES
from simulate.engines.des_model import (COVARIATES, DROPOUT, INTERCURRENT, RELAPSE, REMISSION, STORY, VISIT, Patient,
                                        TrialModel)
from simulate.engines.trial import COMPLETE, EVENT_COLUMNS, NOT_SEEN, PARTIAL, STATUS, VISIT_COLUMNS
from simulate.design.fields import DAYS_PER_MONTH
from simulate.fates.record import Fates
from simulate.engines.story import excluded_first_failures, lab_uniforms, trial_patients

if TYPE_CHECKING:
    from simulate.run.prepared import PreparedDesign

_TABLE_COLUMN = {"proteinuria_g_day": "proteinuria_mean_g_day"}
"""The patient table's covariate columns named otherwise in :class:`~simulate.population.cohort.Patients`."""


class StoryTrial(TrialModel):
    """One trial of a block of fates, told: its event log, visits and story covariates."""

    def __init__(self, scenario: sc.Scenario, fates: Fates, index: int, prepared: PreparedDesign | None = None):
        super().__init__(scenario, fates, index, prepared)
        self.log: list[tuple[float, int, str, str]] = []
        self.visit_rows: list[dict] = []
        self.labs = lab_uniforms(fates, index, len(scenario.trial.visit_months))
        self.first_failure = excluded_first_failures(scenario, fates, index)
        self.n_excluded_by_rule = [0] * len(RULE_NAMES)
        self._patients: Patients | None = None

    @property
    def patients(self) -> Patients:
        """Full covariates of the trial's pool slots (drawn on first use)."""
        if self._patients is None:
            self._patients = trial_patients(self.sc, self.f, self.index)
        return self._patients

    # -- the event log
    def tell(self, patient: int, what: str, *facts) -> None:
        self.log.append((self.env.now, patient, what, self.detail(what, facts)))

    def detail(self, what: str, facts: tuple) -> str:
        """The log's detail of an event, from its facts."""
        match what, facts:
            case ("site opened" | "referred"), (site,):
                return f"site {site + 1}"
            case "excluded", (i,):
                return RULE_NAMES[self.first_failure[i]]
            case "deferred", (col, wait):
                rule = self.f.first_failure[self.cand_rows.start + col]
                return f"{RULE_NAMES[rule]}; qualifies in {wait:.2f} months"
            case "randomised", (arm, stratum):
                return f"{self.arm_names[arm]} (stratum {stratum})"
            case _, (text,):
                return text
        return ""

    def exclude(self, screened: simpy.Timeout) -> None:
        super().exclude(screened)
        self.n_excluded_by_rule[self.first_failure[screened.value]] += 1

    # -- follow-up on the clock
    def follow_up(self, p: Patient) -> None:
        self.env.process(self.follow_up_on_the_clock(p))

    def follow_up_on_the_clock(self, p: Patient):
        """The patient's events on the trial's clock, with the story's own (the arm's courses,
        the endpoint) and lab values at each visit."""
        pid, start = p.number, self.env.now
        horizon = self.sc.trial.max_follow_up_months
        story = [x for x in self._story_events(p.arm) if x[0] <= horizon]
        for month, what, arg in self.walk_events(p, story):
            wait = start + month - self.env.now
            if wait > 0:
                yield self.env.timeout(wait)
            followed = p.finish is None
            if what == VISIT:
                status = self.visit(p, arg)
                if status != NOT_SEEN:
                    self._record_visit(p, arg, month, status)
                    self.tell(pid, "visit", f"month {month:g}")
            elif what == REMISSION:
                self.remission(p, month, arg)
                self.tell(pid, "remission", STATUS[p.state])
            elif what == RELAPSE:
                self.relapse(p, month)
                self.tell(pid, "relapse")
            elif what == DROPOUT:
                self.tell(pid, "dropped out", self.drop_out(p, month))
            elif what == INTERCURRENT:
                happened = self.intercurrent(p, month, arg)
                if happened:
                    self.tell(pid, happened, self.ice_reasons[arg])
            else:
                self.tell(pid, *arg)
            if followed and p.finish is not None and self.design is not None:
                self.determined_now(p)                  # the endpoint visit, or a dropout before it
            if what == DROPOUT or not p.alive:          # a dropout, kidney failure or death: nothing follows
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

    def _record_visit(self, p: Patient, j: int, month: float, status: int) -> None:
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

    # -- what the story hands back
    def covariates(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        cov = self.patients.take(slots)
        return {name: getattr(cov, _TABLE_COLUMN.get(name, name)) for name in COVARIATES}

    def excluded_by_rule(self) -> dict[str, int]:
        return dict(zip(RULE_NAMES, self.n_excluded_by_rule))

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        events = pd.DataFrame(self.log, columns=EVENT_COLUMNS)
        if len(events):
            events = events.sort_values("month", kind="stable").reset_index(drop=True)
        return events, pd.DataFrame(self.visit_rows, columns=VISIT_COLUMNS)
