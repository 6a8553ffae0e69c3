"""The discrete-event engine as a power run uses it, and the entry points of the DES.

:class:`Trial` is the model of :mod:`simulate.engines.des_model` with nothing told: a randomised
patient walks their follow-up events in order off the clock (nothing else in the trial waits on
them but interim looks, which wait for the patient's endpoint on the clock), and the patient
table has the pool's covariates only. The story of a trial (the event log, visits with lab
values, the courses, the rule that excluded each referral) is
:class:`simulate.engines.des_story.StoryTrial`, the same model told; its outcomes and counts are
identical. :func:`simulate_trial` runs either; :func:`example_trial` tells a replicate of a
power run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import simpy

from simulate.design import scenario as sc
from simulate.engines.des_model import COVARIATES, INTERCURRENT, RELAPSE, REMISSION, VISIT, Patient, TrialModel
from simulate.engines.trial import EVENT_COLUMNS, VISIT_COLUMNS, TrialResult
from simulate.fates.record import Fates
from simulate.run.plan import trials_per_block
from simulate.population.covariates import mean_of_collections

if TYPE_CHECKING:
    from simulate.run.prepared import PreparedDesign


class Trial(TrialModel):
    """One trial of a block of fates, as a power run needs it (nothing told)."""

    def follow_up(self, p: Patient) -> None:
        """The patient walks their own events in order, off the clock (nothing else in the
        trial waits on them); with interim looks, their endpoint is then determined on the clock
        (the endpoint visit, or a dropout before it)."""
        self.walk(p)
        if self.design is not None:
            self.env.timeout(p.finish, p).callbacks.append(self.endpoint_determined)

    def endpoint_determined(self, finish: simpy.Timeout) -> None:
        self.determined_now(finish.value)

    def walk(self, p: Patient) -> None:
        for month, what, arg in self.walk_events(p):
            if what == VISIT:
                self.visit(p, arg)
            elif what == REMISSION:
                self.remission(p, month, arg)
            elif what == RELAPSE:
                self.relapse(p, month)
            elif what == INTERCURRENT:
                self.intercurrent(p, month, arg)
                if not p.alive:                     # kidney failure or death: nothing follows
                    return
            else:
                self.drop_out(p, month)
                return

    def covariates(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """The patient table's covariates of these pool slots: the pool's own; the story-only
        ones are not drawn without the story (nan)."""
        f, i, n = self.f, self.index, len(slots)
        pool = {"proteinuria_g_day": mean_of_collections(f.pool["c1"][i, slots], f.pool["c2"][i, slots]),
                "pla2r_titre_ru_ml": f.pool["titre"][i, slots]}
        return {name: pool[name] if name in pool else np.full(n, np.nan) for name in COVARIATES}

    def excluded_by_rule(self) -> dict[str, int]:
        """Exclusions by the first rule failed (known to the story only)."""
        return {}

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(events, visits): the story's tables, empty without it."""
        return pd.DataFrame([], columns=EVENT_COLUMNS), pd.DataFrame([], columns=VISIT_COLUMNS)


def simulate_trial(scenario: sc.Scenario, fates: Fates, index: int = 0, detail: bool = True,
                   prepared: PreparedDesign | None = None) -> TrialResult:
    """Run trial ``index`` of a block of fates through the discrete-event model: told as a story
    (event log, visits, story covariates) with ``detail``, as a power run needs it without.
    ``prepared``: the scenario's per-design values (its group-sequential design), computed here
    if not given."""
    if not detail:
        return Trial(scenario, fates, index, prepared).run()
    from simulate.engines.des_story import StoryTrial

    return StoryTrial(scenario, fates, index, prepared).run()


def example_trial(scenario: sc.Scenario, seed: int, detail: bool = True, replicate: int = 0) -> TrialResult:
    """Trial ``replicate`` of the seed (by default trial 0): the same trial as that replicate of
    a power run with this seed."""
    from simulate.fates.draw import draw_fates
    from simulate.seeding import block_sequence

    size = trials_per_block(scenario)
    block, index = divmod(int(replicate), size)
    fates = draw_fates(scenario, block_sequence(seed, block), size)
    return simulate_trial(scenario, fates, index, detail=detail)
