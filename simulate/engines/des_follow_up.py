"""A randomised patient's follow-up in the discrete-event trial (:mod:`simulate.engines.des_model`):
the :class:`Patient` and the state their events change, the order their events are handled in,
intercurrent events (a switch of treatment voids the events of the regime left and queues its
own), dropout at random given the last visit, and the estimand's variable as the trial saw it."""

from __future__ import annotations

import bisect
import heapq
from operator import itemgetter

import numpy as np

from simulate.engines.trial import NONE, NOT_SEEN

# A patient's follow-up events, in the order they are handled when they fall in the same month:
# a remission or relapse at a visit's month is seen at that visit, a dropout in a visit's month
# means the visit is missed, an intercurrent event at a visit's month (a rescue) is decided at
# that visit, and the story's own events (infusions, the CsA course, the endpoint note) come last.
REMISSION, RELAPSE, DROPOUT, VISIT, INTERCURRENT, STORY = range(6)


class Patient:
    """A randomised patient during follow-up: the remission state their events change, and
    what each visit recorded."""

    __slots__ = ("col", "number", "slot", "arm", "month", "state", "visit_status", "locf",
                 "remission_month", "relapse_month", "dropout_month", "dropout_reason", "finish",
                 "pending", "regime", "alive", "discontinued", "rescued", "occurred", "dropout_spent")

    def __init__(self, col: int, number: int, slot: int, arm: int, month: float, n_visits: int):
        self.col, self.number, self.slot, self.arm = col, number, slot, arm
        self.month = month
        """Calendar month of randomisation, as the trial's clock read it."""
        self.state = NONE
        self.visit_status = [NOT_SEEN] * n_visits
        self.locf = NONE
        self.remission_month = self.relapse_month = self.dropout_month = np.nan
        self.dropout_reason = ""
        self.finish: float | None = None
        """Months after randomisation at which the patient left the primary follow-up: the
        endpoint visit, or a dropout (or kidney failure or death) before it (None while still
        followed)."""
        self.pending: list = []
        """The patient's events still to come, a heap of (month, kind, order, argument, regime)."""
        self.regime = 0
        """Counts the switches of treatment (a discontinuation, a rescue): a remission or relapse
        event of an earlier regime is void."""
        self.alive = True
        """Not yet reached kidney failure or death."""
        self.discontinued = self.rescued = False
        self.occurred: dict[int, float] = {}
        """Intercurrent event index -> the month it happened."""
        self.dropout_spent = 0.0
        """With mar dropout: the cumulative dropout hazard of the visit intervals behind them."""


class FollowUpEvents:
    """The follow-up of a trial's patients as :class:`~simulate.engines.des_model.TrialModel`
    runs it: what it reads of the trial (``sc``, ``ice``, ``ice_kinds``, ``ice_strategies``,
    ``mar``, ``visit_months``, ``endpoint_visit``, ``endpoint_state``, ``complete_case``) is set
    up there."""

    def walk_events(self, p: Patient, extra: list | None = None):
        """The patient's events in time order (:meth:`sequence`, and ``extra``), handing out only
        those still valid: a remission or relapse of a regime the patient has left is void, and
        a switch's own events join the queue as they are made (:meth:`intercurrent`)."""
        seq = self.sequence(p)
        if extra:
            seq = sorted(seq + extra, key=itemgetter(0, 1))
        if self.mar is None and (self.ice is None or all(e[1] != INTERCURRENT for e in seq)):
            return iter(seq)                              # nothing joins the queue: the list itself
        return self._queued(p, seq)

    def _queued(self, p: Patient, seq: list):
        """The events of ``seq`` (in order), as a queue events may join."""
        p.pending = [(month, what, j, arg, 0) for j, (month, what, arg) in enumerate(seq)]
        heapq.heapify(p.pending)
        while p.pending:
            month, what, _, arg, regime = heapq.heappop(p.pending)
            if what in (REMISSION, RELAPSE) and regime != p.regime:
                continue
            yield month, what, arg

    def _push(self, p: Patient, month: float, what: int, arg) -> None:
        if month <= self.sc.trial.max_follow_up_months:
            heapq.heappush(p.pending, (month, what, len(p.pending) + 10**9 * (p.regime + 1), arg, p.regime))

    def intercurrent(self, p: Patient, month: float, i: int) -> str:
        """Intercurrent event ``i`` falls due at ``month``: it happens if the patient's state
        allows (a discontinuation once, and not after a rescue; a rescue only out of remission;
        nothing after kidney failure or death). Returns what happened ("" if nothing)."""
        if not p.alive:
            return ""
        kind = self.ice_kinds[i]
        if kind == "kidney_failure_or_death":
            p.alive, p.state = False, NONE
            p.regime += 1                           # no remission or relapse after it
            p.occurred[i] = month
            if p.finish is None:
                p.finish = month
            return "kidney failure or death"
        if kind == "discontinuation" and (p.discontinued or p.rescued):
            return ""
        if kind == "rescue" and p.state != NONE:
            return ""
        p.discontinued |= kind == "discontinuation"
        p.rescued |= kind == "rescue"
        p.occurred[i] = month
        # the switch: a remission under way may now be lost at the new relapse hazard; out of
        # remission, a new one may come at the new remission hazard
        _, gap_rem, gap_rel, complete = (a[p.slot] for a in self.ice[p.arm][i])
        p.regime += 1
        if p.state != NONE:
            self._push(p, month + gap_rel, RELAPSE, None)
        else:
            self._push(p, month + gap_rem, REMISSION, complete)
            self._push(p, month + gap_rem + gap_rel, RELAPSE, None)
        return "treatment discontinued" if kind == "discontinuation" else "rescue therapy"

    def deciding(self, p: Patient) -> tuple[float, int] | None:
        """(month, event) of the first intercurrent event by the endpoint whose strategy is not
        treatment policy (None if none): it decides the variable."""
        end = self.sc.trial.endpoint_month
        events = [(m, i) for i, m in p.occurred.items() if self.ice_strategies[i] != "treatment_policy" and m <= end]
        return min(events) if events else None

    def mar_dropout(self, p: Patient, j: int) -> None:
        """Visit ``j``'s status sets the dropout hazard up to the next visit: the dropout joins the
        patient's events if it falls there, within follow-up (:mod:`simulate.engines.des_dropout`)."""
        month, p.dropout_spent = self.mar.after_visit(p.arm, p.slot, j, p.state != NONE, p.dropout_spent)
        if month < self.sc.trial.max_follow_up_months:          # nan: not before the next visit
            heapq.heappush(p.pending, (month, DROPOUT, len(p.pending) + 10**9 * (p.regime + 1), None, p.regime))

    def endpoint_value(self, p: Patient) -> tuple[int, int]:
        """(value, carried): the estimand's variable as the trial observed it (1 in the endpoint
        state, 0 not, -1 missing) and the value LOCF analyses (the last status seen where it is
        missing). The first intercurrent event by the endpoint whose strategy is not treatment
        policy decides: composite 0, while on treatment the status at the last visit at or before
        it, hypothetical missing; else the endpoint visit's status, missing after a dropout."""
        state = self.endpoint_state
        deciding = self.deciding(p)
        if deciding is not None:
            month, i = deciding
            j = bisect.bisect_right(self.visit_months, month) - 1
            seen = int(j >= 0 and p.visit_status[j] >= state)
            strategy = self.ice_strategies[i]
            return (0, 0) if strategy == "composite" else (seen, seen) if strategy == "while_on_treatment" else (-1, seen)
        status = p.visit_status[self.endpoint_visit]
        if status == NOT_SEEN:
            return -1, int(p.locf >= state)
        return int(status >= state), int(status >= state)

    def _intercurrent_columns(self, pts: list[Patient]) -> dict:
        """With intercurrent events: each patient's variable and carried value, and the month
        each event happened (nan: it did not)."""
        if self.ice is None:
            return {}
        values = np.array([self.endpoint_value(p) for p in pts], dtype=np.int8).reshape(len(pts), 2)
        months = {name: np.array([p.occurred.get(i, np.nan) for p in pts], dtype=float)
                  for i, name in enumerate(self.sc.intercurrent)}
        deciding = np.array([(self.deciding(p) or (np.inf,))[0] for p in pts], dtype=float)
        return {"endpoint_value": values[:, 0], "carried_value": values[:, 1], "intercurrent_month": months,
                "deciding_month": deciding}
