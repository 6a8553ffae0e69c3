"""What one simulated trial hands back: its randomised patients as arrays, their tables, the
CONSORT counts and the calendar (the discrete-event engine's result, :mod:`simulate.engines.des`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd


STATUS = ("none", "partial", "complete")
NONE, PARTIAL, COMPLETE = 0, 1, 2
NOT_SEEN = -1
"""Status codes. At a visit (and so at the endpoint) NOT_SEEN means the visit was not attended:
the patient had dropped out."""
VISIT_COLUMNS = ["patient", "visit_month", "calendar_month", "status", "proteinuria_g_day", "albumin_g_l"]
EVENT_COLUMNS = ["month", "patient", "event", "detail"]

_ENDPOINT_LABELS = np.array(["missing", *STATUS])
_VISIT_LABELS = np.array(["", *STATUS])
_ENDPOINT_LABELS_VALUE = np.array(["missing", "no", "yes"])


@dataclass(frozen=True)
class RandomisedPatients:
    """A trial's randomised patients as arrays, one entry per patient in referral order: who they
    are, and what the follow-up observed (statuses as codes: NOT_SEEN, NONE, PARTIAL, COMPLETE)."""

    patient: np.ndarray
    """Number in referral order (excluded referrals included)."""
    site: np.ndarray
    """1-based."""
    referral_month: np.ndarray
    randomisation_month: np.ndarray
    arm: np.ndarray
    """Arm index into ``arm_names``."""
    arm_names: tuple
    stratum: np.ndarray
    covariates: dict
    """Table column -> array; the story-only covariates are nan without the story."""
    remission_month: np.ndarray
    """Months after randomisation of a first remission seen during follow-up (nan if none)."""
    relapse_month: np.ndarray
    visit_months: tuple
    visit_status: np.ndarray
    """(patients, visits) status recorded at each scheduled visit; NOT_SEEN if not attended."""
    endpoint_status: np.ndarray
    """Status recorded at the endpoint visit; NOT_SEEN if the patient dropped out before it."""
    locf_status: np.ndarray
    """Status recorded at the last attended visit up to the endpoint visit."""
    dropout_month: np.ndarray
    """Months after randomisation of a dropout before the endpoint visit (nan if none)."""
    dropout_reason: np.ndarray
    slot: np.ndarray | None = None
    """The pool slot of each patient (its order of randomisation)."""
    deciding_month: np.ndarray | None = None
    """With intercurrent events: the month of the event that decided the variable (inf: none)."""
    endpoint_value: np.ndarray | None = None
    """With intercurrent events: the estimand's variable as observed (1 in the endpoint state,
    0 not, -1 missing), else None (the endpoint status is the variable)."""
    carried_value: np.ndarray | None = None
    """With intercurrent events: the value LOCF analyses (the last status seen where missing)."""
    intercurrent_month: dict | None = None
    """With intercurrent events: event id -> the month it happened to each patient (nan: not)."""

    def __len__(self) -> int:
        return len(self.patient)

    def to_frame(self) -> pd.DataFrame:
        """One row per randomised patient (the ``patients`` table)."""
        columns = {
            "patient": self.patient, "site": self.site, "referral_month": self.referral_month,
            "randomisation_month": self.randomisation_month, "arm": [self.arm_names[a] for a in self.arm],
            "stratum": self.stratum, **self.covariates,
            "remission_month": self.remission_month, "relapse_month": self.relapse_month,
            "endpoint_status": _ENDPOINT_LABELS[self.endpoint_status + 1], "locf_remission": self.locf_status > NONE,
            "dropout_month": self.dropout_month, "dropout_reason": self.dropout_reason,
        }
        for name, months in (self.intercurrent_month or {}).items():
            columns[f"{name}_month"] = months
        if self.endpoint_value is not None:
            columns["estimand_value"] = _ENDPOINT_LABELS_VALUE[self.endpoint_value + 1]
        for j, v in enumerate(self.visit_months):
            columns[f"status_month_{v:g}"] = _VISIT_LABELS[self.visit_status[:, j] + 1]
        return pd.DataFrame(columns)


@dataclass(frozen=True)
class TrialResult:
    """One simulated trial: who was randomised, what happened to them, and the counts."""

    randomised: RandomisedPatients
    """The randomised patients as arrays (what a power run reads; ``patients`` is their table)."""
    visits: pd.DataFrame
    """One row per attended visit (story mode only; empty otherwise)."""
    events: pd.DataFrame
    """The event log: calendar month, patient, event, detail (story mode only)."""
    consort: dict
    calendar: dict
    sequential: dict | None = None
    """With interim looks: the looks held, any stop and the final analysis (the fields of the
    same names of :class:`simulate.engines.block_outcomes.BlockOutcomes`, for this trial)."""

    @cached_property
    def patients(self) -> pd.DataFrame:
        """One row per randomised patient (built on first use)."""
        return self.randomised.to_frame()

    def remission_at_endpoint(self, complete_only: bool = False) -> dict:
        """Observed proportion in the endpoint state at the endpoint per arm (missing values count
        as failures): in remission, or with ``complete_only`` in complete remission; with
        intercurrent events, the estimand's variable (the trial's own endpoint)."""
        r = self.randomised
        state = COMPLETE if complete_only else PARTIAL
        out = {}
        for a, arm in enumerate(r.arm_names):
            rows = r.arm == a
            reached = r.endpoint_value[rows] > 0 if r.endpoint_value is not None else r.endpoint_status[rows] >= state
            out[arm] = float(reached.mean()) if rows.any() else float("nan")
        return out
