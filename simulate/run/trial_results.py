"""What the main job shows beside the operating characteristics, as frozen result objects: the
eligibility funnel, the example trial (its CONSORT counts, calendar, patients and remission
curves), what the outcome model implies per arm, the accrual fan beside the plan and the real
trial, the scenario file's sources, and the z paths of a group-sequential design's first trials.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from simulate.run.record import Float, Record, frame

if TYPE_CHECKING:
    import pandas as pd


# ----------------------------------------------------------------------------- screening


@dataclass(frozen=True)
class FunnelStep(Record):
    """One eligibility criterion of the funnel, in the registry's order."""

    criterion: str
    description: str
    kind: str
    """``permanent`` (excludes) or ``time-dependent`` (defers)."""
    failing: int
    excluded: int
    deferred: int
    remaining: int
    exclusion: str = ""
    """The failed condition in words ("diabetes mellitus", "age < 18 or > 80 years"): how an
    exclusion reads in the CONSORT diagram."""


@dataclass(frozen=True)
class ScreeningFunnel(Record):
    """The eligibility funnel of a large simulated referred cohort."""

    screened: int
    eligible: int
    deferred: int
    excluded: int
    steps: tuple[FunnelStep, ...]

    def to_frame(self) -> "pd.DataFrame":
        return frame([asdict(s) for s in self.steps])


# ----------------------------------------------------------------------------- example trial


@dataclass(frozen=True)
class Consort(Record):
    """The CONSORT counts of one trial. The totals are :data:`simulate.engines.blocks.CONSORT_FIELDS`."""

    referred: int
    excluded_total: int
    deferred: int
    lost_during_deferral: int
    not_randomised_enrolment_closed: int
    randomised: int
    excluded: dict[str, int]
    """Excluded patients by the first criterion they failed."""
    randomised_per_arm: dict[str, int]
    discontinued_per_arm: dict[str, int]
    analysed_per_arm: dict[str, int]


@dataclass(frozen=True)
class TrialCalendar(Record):
    """When one trial recruited and ended (months from its start; None if nobody was randomised)."""

    first_randomisation_month: float | None
    last_randomisation_month: float | None
    recruitment_months: float | None
    enrolment_closed_month: float | None
    enrolment_close_reason: str
    duration_months: Float
    terminated: bool
    recruited_on_time: bool


@dataclass(frozen=True)
class PatientCourse(Record):
    """One randomised patient's course (months from randomisation; NaN where it did not happen)."""

    patient: int
    arm: str
    remission_month: Float
    relapse_month: Float
    dropout_month: Float
    dropout_reason: str
    endpoint_status: str
    """``complete``, ``partial``, ``none`` or ``missing`` (dropped out)."""


@dataclass(frozen=True)
class KaplanMeierStep(Record):
    """A step of a cumulative-incidence curve: its month, the share reached by then, and the
    patients at risk just before it."""

    month: Float
    cumulative_remission: Float
    at_risk: int


@dataclass(frozen=True)
class ExampleTrial(Record):
    """Trial 0 of the seed (the ``trial`` command's trial): its counts, calendar and patients."""

    consort: Consort
    calendar: TrialCalendar
    remission_at_endpoint: dict[str, Float]
    """Observed share in remission at the endpoint per arm (dropouts count as failures)."""
    patients: tuple[PatientCourse, ...]
    kaplan_meier: dict[str, tuple[KaplanMeierStep, ...]]
    """Cumulative first remission per arm (1 - Kaplan-Meier), from month 0."""


@dataclass(frozen=True)
class ArmRemission(Record):
    """What the calibrated outcome model (:mod:`simulate.population.outcomes`) implies for one arm over the
    eligible population, dropout aside."""

    arm: str
    first_remission: Float
    """P(a first remission, complete or partial, by the endpoint): what a time-to-first-remission
    curve with dropouts censored estimates at the endpoint."""
    lasting: Float
    """P(no relapse before the endpoint | a first remission)."""
    endpoint_rate: Float
    """P(in the endpoint state at the endpoint): the arm's assumed ``remission_at_endpoint``."""
    rebound_month: Float
    """Month from which the off-CNI relapse hazard applies (the end of the CNI course or of the
    B-cell cover, whichever is later); nan without a CNI, or when it falls after the endpoint."""


@dataclass(frozen=True)
class RemissionModel(Record):
    """Each arm's :class:`ArmRemission`, in the scenario's order (as remission_model.csv)."""

    endpoint_month: Float
    arms: tuple[ArmRemission, ...]

    def to_frame(self) -> "pd.DataFrame":
        return frame([asdict(a) for a in self.arms])


# ----------------------------------------------------------------------------- accrual


@dataclass(frozen=True)
class ObservedAccrual(Record):
    """What the real trial achieved."""

    n_randomised: int
    months: Float
    source: str


@dataclass(frozen=True)
class Accrual(Record):
    """Randomisation months of the first simulated trials (the fan), beside the plan."""

    curves: tuple[tuple[Float, ...], ...]
    """Per trial, its randomisation months in increasing order."""
    n_target: int
    recruitment_months: Float
    hard_stop_months: Float
    observed: ObservedAccrual | None


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class ScenarioSource(Record):
    """The scenario file a run was loaded from, with the sources written beside its figures."""

    path: str
    header: str
    """The file's opening comment."""
    comments: dict[str, str]
    """Each dotted key's comment (its source or assumption)."""


@dataclass(frozen=True)
class ZPath(Record):
    """One simulated trial's path through a group-sequential design: its z at each look held."""

    trial: int
    """The trial's index in the run (block 0)."""
    information: tuple[Float, ...]
    """Information fraction of each look held: determined endpoints over the planned total at an
    interim look, patients analysed over the planned total at the final look."""
    z: tuple[Float, ...]
    month: tuple[Float, ...]
    """Calendar month of each look's data cut."""
    outcome: str
    """``efficacy`` or ``futility`` (stopped at an interim look), or ``final``."""
    rejected: bool
    """H0 rejected: an efficacy stop, or the final bound crossed."""
    final_bound: Float
    """The efficacy bound of the final look the trial reached (nan after a stop): the planned one,
    or the one spending the remaining alpha at the information of a trial short of its target."""
    overrun_information: Float
    """After an efficacy stop: patients randomised by the decision over the planned total (nan otherwise)."""
    overrun_z: Float
    """The z of that overrun analysis (nan otherwise)."""
