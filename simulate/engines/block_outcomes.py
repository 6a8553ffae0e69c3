"""What every engine hands on: :class:`BlockOutcomes`, a block of trials as arrays.

Every engine turns the fates of a block into the same :class:`BlockOutcomes`; everything
downstream (analysis, power, sweeps) reads only that.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from simulate.design.choices import IMPUTATION_STRATEGIES, MISSING_STRATEGIES

CONSORT_FIELDS = ("referred", "excluded_total", "deferred", "lost_during_deferral",
                  "not_randomised_enrolment_closed", "randomised")


@dataclass(frozen=True)
class PatientData:
    """The analysed patients of a block's trials one by one, for the analyses that need more
    than counts (multiple imputation): (trials, slots) arrays, slots in order of randomisation,
    padded past each trial's last patient.

    ``randomised`` marks the slots holding a patient; ``arm`` their arm index; ``value`` int8
    the estimand's variable as observed (1, 0, -1 missing); ``history`` int8 (trials, slots,
    visits up to the endpoint visit) the status seen at each scheduled visit that the analysis
    may use (1 in the endpoint state, 0 not, -1 not seen: after a dropout, kidney failure or
    death, or an intercurrent event whose strategy is not treatment policy); ``covariates``
    (trials, slots, 2): log2 of the anti-PLA2R titre (RU/mL, at least 1) and the screening
    proteinuria (g/24h). ``segments``: (seed sequence, block size, first block row, trials) of
    each block the trials come from, in order: where the imputations' random numbers come from.
    ``baseline`` (trials, slots, len(BASELINE_COVARIATES)): the covariates an adjusted analysis
    may name, as ``patients.csv`` gives them (:data:`simulate.design.choices.BASELINE_COVARIATES`);
    ``carried`` int8 (trials, slots): the value a last-observation-carried-forward analysis counts
    (1 in the endpoint state at the last status seen, else 0)."""

    randomised: np.ndarray
    arm: np.ndarray
    value: np.ndarray
    history: np.ndarray
    covariates: np.ndarray
    segments: tuple
    baseline: np.ndarray | None = None
    carried: np.ndarray | None = None

    def take(self, index: slice) -> "PatientData":
        """Trials ``index`` (a slice of one block's trials)."""
        (seed, size, first, n), = self.segments
        start, stop, step = index.indices(n)
        if step != 1:
            raise ValueError("patient data are taken by a contiguous slice of trials")
        return PatientData(self.randomised[index], self.arm[index], self.value[index], self.history[index],
                           self.covariates[index], ((seed, size, first + start, stop - start),),
                           None if self.baseline is None else self.baseline[index],
                           None if self.carried is None else self.carried[index])

    @staticmethod
    def concatenate(parts: list["PatientData"]) -> "PatientData":
        width = max(p.value.shape[1] for p in parts)

        def padded(name: str, fill) -> np.ndarray:
            arrays = [getattr(p, name) for p in parts]
            return np.concatenate([np.pad(a, [(0, 0), (0, width - a.shape[1])] + [(0, 0)] * (a.ndim - 2),
                                          constant_values=fill) for a in arrays])

        return PatientData(padded("randomised", False), padded("arm", 0), padded("value", -1), padded("history", -1),
                           padded("covariates", 0.0), tuple(s for p in parts for s in p.segments),
                           None if any(p.baseline is None for p in parts) else padded("baseline", 1.0),
                           None if any(p.carried is None for p in parts) else padded("carried", 0))


def needs_patients(scenario, prepared=None) -> bool:
    """Whether the scenario's analysis reads the patients one by one (:class:`PatientData`):
    multiple imputation, or an analysis adjusted for covariates. ``prepared``: the design's
    :class:`~simulate.run.prepared.PreparedDesign`, whose analysis entry is read where given (a
    worker process need not have the analysis registered)."""
    if scenario.analysis.missing in IMPUTATION_STRATEGIES:
        return True
    if prepared is not None:
        return prepared.analysis.covariates
    from simulate.analysis import registry

    return registry.get(scenario.analysis.test).covariates


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
    patients: PatientData | None = None
    """The patients one by one, when the analysis needs them (multiple imputation), else None."""
    dropped_out: np.ndarray | None = None
    """(trials,) with intercurrent events, the patients who dropped out before the endpoint
    visit (``n_completed`` then counts the patients whose estimand variable is known, which a
    hypothetical strategy or kidney failure or death also decides); None otherwise."""

    def __len__(self) -> int:
        return len(self.terminated)

    def arrays(self) -> dict[str, np.ndarray | None]:
        """Every field as an array (None where not given), the patients' under
        ``patients.<name>``: what two engines' blocks are compared on."""
        out: dict[str, np.ndarray | None] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "patients" and value is not None:
                out.update({f"patients.{g.name}": getattr(value, g.name) for g in fields(value) if g.name != "segments"})
            else:
                out[f.name] = value
        return out

    @property
    def dropouts(self) -> np.ndarray:
        """(trials,) patients who dropped out before the endpoint visit."""
        if self.dropped_out is not None:
            return self.dropped_out
        return (self.n_randomised - self.n_completed).sum(axis=(1, 2))

    @property
    def randomised(self) -> np.ndarray:
        return self.n_randomised.sum(axis=(1, 2))

    def take(self, index) -> "BlockOutcomes":
        def part(name: str):
            value = getattr(self, name)
            return None if value is None else value.take(index) if name == "patients" else value[index]

        return BlockOutcomes(**{f.name: part(f.name) for f in fields(self)})

    @staticmethod
    def concatenate(parts: list["BlockOutcomes"]) -> "BlockOutcomes":
        def joined(name: str):
            if getattr(parts[0], name) is None:
                return None
            if name == "patients":
                return PatientData.concatenate([p.patients for p in parts])
            return np.concatenate([getattr(p, name) for p in parts])

        return BlockOutcomes(**{f.name: joined(f.name) for f in fields(BlockOutcomes)})

    def counts(self, missing: str) -> tuple[np.ndarray, np.ndarray]:
        """(responders, analysed) per (trial, stratum, arm) under a missing-data strategy.

        ``nonresponder``: all randomised analysed, dropouts count as failures (ITT).
        ``complete_case``: only patients who reached the endpoint visit.
        ``locf``: all randomised, each with the status of their last attended visit.
        ``mi_mar``, ``mi_j2r``: all randomised, the responders seen (the analysis imputes the
        missing from :attr:`patients`).
        """
        if missing == "nonresponder" or missing in IMPUTATION_STRATEGIES:
            return self.x_endpoint, self.n_randomised
        if missing == "complete_case":
            return self.x_endpoint, self.n_completed
        if missing == "locf":
            return self.x_locf, self.n_randomised
        raise ValueError(f"missing: got {missing!r}; allowed: {', '.join(MISSING_STRATEGIES)}")
