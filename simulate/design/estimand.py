"""Intercurrent events and the estimand (ICH E9(R1)): the scenario's ``[intercurrent.<id>]``
tables and its ``[estimand]``.

An **intercurrent event** happens after randomisation and changes what the endpoint means or
whether it exists; it is not missing data (the patient stays in follow-up, unless the event is
kidney failure or death). Three kinds are modelled (:mod:`simulate.population.intercurrent`
turns them into events):

* ``discontinuation``: the patient stops the assigned treatment (e.g. cyclosporine for
  nephrotoxicity) with a constant hazard until ``by_month`` (``probability`` by then, per arm);
  follow-up continues off treatment, with the remission and relapse hazards of an untreated or
  switched patient (``remission_hazard_after_per_month``, ``relapse_hazard_after_per_month``).
* ``rescue``: at the visit of ``at_month``, a patient not in remission gets rescue therapy with
  ``probability`` (per arm), and from then on the rescue's hazards.
* ``kidney_failure_or_death``: a constant hazard (``probability`` by ``by_month``); afterwards
  the patient is out of remission and attends no visit.

**Dropout** (``[dropout]``: loss to follow-up, withdrawal) is another thing: no data after it.

The **estimand** names the population, the variable, the summary measure and a **strategy** for
each intercurrent event: ``treatment_policy`` (the outcome whatever happened), ``composite``
(the event counts as no remission), ``hypothetical`` (the outcome had the event not happened:
data after it are set missing and the missing-data method answers for them) or
``while_on_treatment`` (the status at the last visit before the event).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from simulate.design.fields import FrozenDict, Model, PositiveFollowUpMonths, Probability, RelapseHazard

INTERCURRENT_KINDS = ("discontinuation", "rescue", "kidney_failure_or_death")
STRATEGIES = ("treatment_policy", "composite", "hypothetical", "while_on_treatment")
SUMMARY_MEASURES = ("risk_difference", "risk_ratio", "odds_ratio")
DEFAULT_STRATEGY = {"discontinuation": "treatment_policy", "rescue": "composite",
                    "kidney_failure_or_death": "composite"}
"""The strategy of an intercurrent event the estimand does not name: a discontinued patient's
outcome counts whatever they took afterwards; rescue therapy and kidney failure or death count
as no remission (as iMN trials count treatment failure)."""
REMISSION_HAZARD_MAX = 5.0
"""A remission hazard of five a month (a median of four days), above any regimen's."""
INTERCURRENT_ID_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"

PerArm = Probability | dict[str, Probability]


def show_table(table: dict) -> str:
    """A table of values as the scenario file writes it inline."""
    return "{ " + ", ".join(f"{k} = {v!r}" for k, v in table.items()) + " }"


class Intercurrent(Model):
    """One intercurrent event (``[intercurrent.<id>]``)."""

    kind: Literal[INTERCURRENT_KINDS]
    """discontinuation, rescue, or kidney_failure_or_death."""
    reason: Annotated[str, Field(max_length=80)] = ""
    """A few words for the report (e.g. "cyclosporine nephrotoxicity")."""
    probability: PerArm = 0.0
    """discontinuation, kidney_failure_or_death: the chance it happens by ``by_month``; rescue: the
    chance a patient not in remission at ``at_month`` gets rescue. One number for every arm, or
    a table by arm id (arms left out: 0)."""
    by_month: PositiveFollowUpMonths | None = None
    """discontinuation, kidney_failure_or_death: the month ``probability`` is reached by (default:
    the endpoint). A discontinuation's hazard stops there; kidney failure or death's goes on."""
    at_month: PositiveFollowUpMonths | None = None
    """rescue: the scheduled visit at which non-responders get rescue (KDIGO 2021: after about
    6 months without response)."""
    remission_hazard_after_per_month: Annotated[float, Field(ge=0.0, le=REMISSION_HAZARD_MAX)] = 0.0
    """discontinuation, rescue: the monthly hazard of a remission afterwards, for a patient not
    in remission at the event."""
    relapse_hazard_after_per_month: RelapseHazard = 0.0
    """discontinuation, rescue: the monthly hazard of losing a remission afterwards."""
    complete_share_after: Probability | None = None
    """discontinuation, rescue: the share of remissions afterwards that are complete (default:
    the arm's complete_share_of_remission)."""
    source: str = ""
    """Where the figures come from."""

    @model_validator(mode="before")
    @classmethod
    def _probability(cls, data: Any) -> Any:
        """A probability, or a table of them by arm id: one line naming the field otherwise."""
        if not isinstance(data, dict) or "probability" not in data:
            return data
        p = data["probability"]
        values = list(p.values()) if isinstance(p, dict) else [p]
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in values)
        if not ok:
            shown = "a table" if isinstance(p, dict) else repr(p)
            raise ValueError(f"probability: got {shown if not isinstance(p, dict) else show_table(p)}; must be a "
                             "number from 0 to 1, or a table of them by arm id (e.g. { rtx_csa = 0.1 })")
        return data

    @model_validator(mode="after")
    def _check(self) -> "Intercurrent":
        if isinstance(self.probability, dict):
            object.__setattr__(self, "probability", FrozenDict(self.probability))
        problems = []
        if self.kind == "rescue":
            if self.at_month is None:
                problems.append("at_month: a rescue needs the visit month at which non-responders get it")
            if self.by_month is not None:
                problems.append(f"by_month: got {self.by_month}; a rescue happens at at_month, not by a month")
        elif self.at_month is not None:
            problems.append(f"at_month: got {self.at_month}; only a rescue happens at a visit month "
                            f"(this event is {self.kind}: give by_month)")
        if self.kind == "kidney_failure_or_death":
            for name in ("remission_hazard_after_per_month", "relapse_hazard_after_per_month"):
                if getattr(self, name):
                    problems.append(f"{name}: got {getattr(self, name)}; nobody remits after kidney failure or death")
            if self.complete_share_after is not None:
                problems.append("complete_share_after: nobody remits after kidney failure or death")
        if isinstance(self.probability, dict) and self.kind != "rescue":
            bad = {k: v for k, v in self.probability.items() if v >= 1.0}
            if bad:
                problems.append(f"probability: got {bad}; below 1 (a constant hazard never makes it certain)")
        elif not isinstance(self.probability, dict) and self.kind != "rescue" and self.probability >= 1.0:
            problems.append(f"probability: got {self.probability}; below 1 (a constant hazard never makes it certain)")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def probability_of(self, arm: str) -> float:
        """The event's probability in arm ``arm``."""
        p = self.probability
        return float(p.get(arm, 0.0)) if isinstance(p, dict) else float(p)

    @property
    def switches(self) -> bool:
        """The patient goes on with other hazards afterwards (a discontinuation or a rescue)."""
        return self.kind != "kidney_failure_or_death"


class Estimand(Model):
    """The estimand (``[estimand]``): its population, variable, summary measure and a strategy for
    each intercurrent event; the treatments are the arms."""

    population: Annotated[str, Field(max_length=200)] = "all randomised patients (intention to treat)"
    """Who the question is about, in words."""
    variable: Annotated[str, Field(max_length=200)] = ""
    """The endpoint in words (default: from trial.endpoint and trial.endpoint_month)."""
    summary_measure: Literal[SUMMARY_MEASURES] = "risk_difference"
    """How the arms are compared: risk_difference, risk_ratio or odds_ratio (experimental over
    control)."""
    strategies: dict[str, Literal[STRATEGIES]] = {}
    """Intercurrent event id -> treatment_policy, composite, hypothetical or while_on_treatment;
    events left out take their kind's default (:data:`DEFAULT_STRATEGY`)."""


def intercurrent_problems(events: dict[str, Intercurrent], estimand: Estimand | None, arms: tuple[str, ...],
                          visit_months: tuple[float, ...], endpoint_month: float) -> list[str]:
    """What the intercurrent events and the estimand need of each other and of the design (one
    line each; empty if nothing)."""
    import re

    problems = []
    for name, ev in events.items():
        where = f"intercurrent.{name}"
        if not re.match(INTERCURRENT_ID_PATTERN, name):
            problems.append(f"intercurrent: got id {name!r}; an id is a lower-case letter, then lower-case "
                            "letters, digits or _ (at most 32)")
        if isinstance(ev.probability, dict):
            unknown = [k for k in ev.probability if k not in arms]
            if unknown:
                problems.append(f"{where}.probability: got arm {unknown[0]!r}; the arms are {', '.join(arms)}")
        if ev.kind == "rescue" and ev.at_month is not None:
            if ev.at_month not in visit_months:
                problems.append(f"{where}.at_month: got {ev.at_month}; rescue is decided at a scheduled visit: one of "
                                f"trial.visit_months {list(visit_months)}")
            elif ev.at_month >= endpoint_month:
                problems.append(f"{where}.at_month: got {ev.at_month}; must come before the endpoint "
                                f"(trial.endpoint_month {endpoint_month})")
    for kind in ("rescue", "kidney_failure_or_death"):
        same = [n for n, ev in events.items() if ev.kind == kind]
        if len(same) > 1:
            problems.append(f"intercurrent: {', '.join(same)} are all {kind}; give one (a patient is rescued, or "
                            "reaches kidney failure or death, once)")
    for name, strategy in (estimand.strategies.items() if estimand else ()):
        if name not in events:
            known = ", ".join(events) or "none are defined"
            problems.append(f"estimand.strategies.{name}: no [intercurrent.{name}] table; the intercurrent events: "
                            f"{known}")
        elif strategy == "treatment_policy" and events[name].kind == "kidney_failure_or_death":
            problems.append(f"estimand.strategies.{name}: got \"treatment_policy\"; after kidney failure or death "
                            "there is no outcome to observe: use \"composite\" (counts as no remission), "
                            "\"hypothetical\" or \"while_on_treatment\"")
    return problems


def strategy_of(events: dict[str, Intercurrent], estimand: Estimand | None, name: str) -> str:
    """The strategy the estimand takes for intercurrent event ``name`` (its kind's default if the
    estimand names none)."""
    given = estimand.strategies.get(name) if estimand else None
    return given or DEFAULT_STRATEGY[events[name].kind]
