"""Dropout at random (``dropout.mechanism = "mar"``) in the discrete-event trial, visit by visit.

The hazard between two scheduled visits depends on the status the earlier one saw (the rule:
:mod:`simulate.population.dropout`), so the DES cannot know a mar dropout's month at
randomisation. It keeps, per patient, the cumulative hazard of the intervals already behind them
(``Patient.dropout_spent``); at each visit it knows the status and so the coming interval's
hazard h, and schedules the dropout in that interval if the patient's unit exponential ``e``
runs out there, at ``visit + (e - spent) / h``. Otherwise the interval's hazard is added to what
is spent and the next visit decides. A dropout is only ever scheduled in an interval whose
hazard is already fixed, so none is superseded. The batch engine reaches the same months as
arrays (:func:`simulate.population.dropout.mar_months`): both add the same terms in the same
order.
"""

from __future__ import annotations

import math

from simulate.fates.record import Fates


class MarDropout:
    """One trial's mar dropout: each arm's hazards and each pool slot's unit exponential."""

    def __init__(self, fates: Fates, trial: int, visits: list[float]):
        self.budget = [po.dropout_budget[trial].tolist() for po in fates.outcomes]
        self.hazards = [po.mar_hazards for po in fates.outcomes]
        self.visits = visits

    @classmethod
    def of(cls, fates: Fates, trial: int, visits: list[float]) -> "MarDropout | None":
        """The trial's mar dropout, or None when dropout is not mar (or never happens)."""
        return None if fates.outcomes[0].dropout_budget is None else cls(fates, trial, visits)

    def after_visit(self, arm: int, slot: int, j: int, in_remission: bool, spent: float) -> tuple[float, float]:
        """At visit ``j`` (``in_remission``: the status then; nobody is at baseline) of a patient
        whose earlier intervals spent ``spent``: (the month of their dropout in the coming
        interval, or nan if it is not there; the hazard spent once the interval is behind them)."""
        e = self.budget[arm][slot]
        h_in, h_out = self.hazards[arm]
        h = h_in if j > 0 and in_remission else h_out
        start = self.visits[j]
        stop = self.visits[j + 1] if j + 1 < len(self.visits) else math.inf
        reached = spent + h * (stop - start)
        if reached < e:
            return math.nan, reached
        month = max(start + (e - spent) / h, math.nextafter(start, math.inf))
        return min(month, stop), reached
