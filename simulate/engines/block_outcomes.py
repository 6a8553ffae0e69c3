"""What every engine hands on: :class:`BlockOutcomes`, a block of trials as arrays.

Every engine turns the fates of a block into the same :class:`BlockOutcomes`; everything
downstream (analysis, power, sweeps) reads only that.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from simulate.design.choices import MISSING_STRATEGIES

CONSORT_FIELDS = ("referred", "excluded_total", "deferred", "lost_during_deferral",
                  "not_randomised_enrolment_closed", "randomised")


@dataclass(frozen=True)
class BlockOutcomes:
    """Per-trial results of a block. Count arrays have shape (trials, strata, arms), arms in the
    scenario's order; "in the endpoint state" means in remission (complete or partial) or, with
    ``trial.endpoint = "cr"``, in complete remission."""

    n_randomised: np.ndarray
    """(trials, strata, arms) randomised patients."""
    n_completed: np.ndarray
    """(trials, strata, arms) patients who reached the endpoint visit (did not drop out)."""
    x_endpoint: np.ndarray
    """(trials, strata, arms) patients seen in the endpoint state at the endpoint visit."""
    x_locf: np.ndarray
    """(trials, strata, arms) patients in the endpoint state at their last attended visit."""
    x_visits: np.ndarray
    """(trials, arms, visits) patients seen in the endpoint state at each scheduled visit (a
    patient who dropped out before a visit is not seen in it)."""
    recruitment_months: np.ndarray
    """Month of the last randomisation (nan if nobody was randomised)."""
    duration_months: np.ndarray
    terminated: np.ndarray
    on_time: np.ndarray
    referred: np.ndarray
    excluded_total: np.ndarray
    deferred: np.ndarray
    lost_during_deferral: np.ndarray
    not_randomised_enrolment_closed: np.ndarray
    # with interim looks (a group-sequential design), else None:
    look_month: np.ndarray | None = None
    """(trials, looks) calendar month of each look's data cut (nan: not held); the last column is
    the final analysis, once every randomised patient's endpoint is determined."""
    look_randomised: np.ndarray | None = None
    """(trials, looks) patients randomised by each look's data cut."""
    look_z: np.ndarray | None = None
    """(trials, looks) the score z at each look held."""
    stop_look: np.ndarray | None = None
    """(trials,) the interim look that stopped the trial (-1: none)."""
    stop_reason: np.ndarray | None = None
    """(trials,) what it stopped for: :data:`simulate.analysis.interim.EFFICACY` or ``FUTILITY`` (0: none)."""
    decision_month: np.ndarray | None = None
    """(trials,) month of the decision: a stop's (data cut + lag) or the final analysis's."""
    sequential_reject: np.ndarray | None = None
    """(trials,) H0 rejected: an efficacy stop, or the final look's bound crossed."""
    overrun_z: np.ndarray | None = None
    """(trials,) z of the analysis of every randomised patient (after a stop: the overrun)."""

    def __len__(self) -> int:
        return len(self.terminated)

    @property
    def dropouts(self) -> np.ndarray:
        return (self.n_randomised - self.n_completed).sum(axis=(1, 2))

    @property
    def randomised(self) -> np.ndarray:
        return self.n_randomised.sum(axis=(1, 2))

    def take(self, index) -> "BlockOutcomes":
        return BlockOutcomes(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[index]
                                for f in fields(self)})

    @staticmethod
    def concatenate(parts: list["BlockOutcomes"]) -> "BlockOutcomes":
        return BlockOutcomes(**{f.name: None if getattr(parts[0], f.name) is None
                                else np.concatenate([getattr(p, f.name) for p in parts])
                                for f in fields(BlockOutcomes)})

    def counts(self, missing: str) -> tuple[np.ndarray, np.ndarray]:
        """(responders, analysed) per (trial, stratum, arm) under a missing-data strategy.

        ``nonresponder``: all randomised analysed, dropouts count as failures (ITT).
        ``complete_case``: only patients who reached the endpoint visit.
        ``locf``: all randomised, each with the status of their last attended visit.
        """
        if missing == "nonresponder":
            return self.x_endpoint, self.n_randomised
        if missing == "complete_case":
            return self.x_endpoint, self.n_completed
        if missing == "locf":
            return self.x_locf, self.n_randomised
        raise ValueError(f"missing: got {missing!r}; allowed: {', '.join(MISSING_STRATEGIES)}")
