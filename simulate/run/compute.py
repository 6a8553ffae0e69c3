"""The pieces of the main job, each a frozen result object of :mod:`simulate.run.results`: the
eligibility funnel, power at the planned size, the sample-size searches, the sweep, an example
trial, the accrual fan, the outcome model per arm, the scenario's sources, and with interim
looks the fixed design beside them and the z paths of the first trials."""

from __future__ import annotations

import logging
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

from simulate.design import scenario as sc
from simulate.run.plan import trials_per_block
from simulate.run.results import InterimDetail, PowerResult, SampleSizePlan, SweepResult
from simulate.run.trial_results import (Accrual, ArmRemission, Consort, ExampleTrial, FunnelStep, KaplanMeierStep,
                                        ObservedAccrual, PatientCourse, RemissionModel, ScenarioSource, ScreeningFunnel,
                                        TrialCalendar, ZPath)

log = logging.getLogger(__name__)

SCREENED_REFERRALS = 100_000
"""Referred patients drawn for the eligibility funnel."""
ACCRUAL_TRIALS = 100
"""Simulated trials drawn in the accrual fan."""
TARGETS = (0.8, 0.9)
"""Power targets of the sample-size piece."""
PATH_TRIALS = 20
"""Trials whose z paths the boundary plot draws (the first of the run's seed)."""


def compute_screening(scenario: sc.Scenario, seed: int) -> ScreeningFunnel:
    """The eligibility funnel of a large referred cohort."""
    from simulate.screening.screen import screen_referrals

    _, s = screen_referrals(scenario, SCREENED_REFERRALS, seed)
    return ScreeningFunnel(
        screened=int(s.passes.shape[1]), eligible=int(s.eligible_now.sum()), deferred=int(s.deferred.sum()),
        excluded=int(s.excluded.sum()),
        steps=tuple(FunnelStep.from_json(row) for row in s.funnel().to_dict(orient="records")))


def compute_power(scenario, seed, replicates, jobs, engine, progress=False) -> PowerResult:
    from simulate.run.power import estimate_power

    return estimate_power(scenario, replicates, seed, jobs, engine, progress)


def compute_samplesize(scenario, seed, replicates, jobs, engine, progress=False) -> SampleSizePlan:
    """A search per target power (side by side, each n simulated once), their simulated curve,
    and the closed-form curve over its range."""
    from simulate.run.samplesize import closed_form_curve, find_sample_sizes
    from simulate.design.assumed import dropout_adjustment

    searches = find_sample_sizes(scenario, TARGETS, replicates, seed, jobs, engine, progress=progress)
    curve = {p.n_per_arm: p for s in searches for p in s.curve}  # the same n gives the same trials in both
    ns = sorted(curve)
    closed = closed_form_curve(scenario, range(max(2, ns[0]), ns[-1] + 1)) if ns else ()
    return SampleSizePlan(searches=searches, curve=tuple(curve[n] for n in ns), closed_form=closed,
                          dropout_rule=dropout_adjustment(scenario).rule)


def compute_sweep(scenario, seed, replicates, jobs, engine, progress=False, planned=None) -> SweepResult:
    """The sensitivity grid; ``planned`` receives the scenario's own power if a grid point is the
    scenario itself (:func:`simulate.run.sweep.sweep`)."""
    from simulate.run.sweep import sweep

    return sweep(scenario, replicates, seed, jobs, engine, progress, planned)


def compute_example_trial(scenario: sc.Scenario, seed: int) -> ExampleTrial:
    from simulate.engines.des import example_trial

    return trial_record(scenario, example_trial(scenario, seed))


def trial_record(scenario: sc.Scenario, r) -> ExampleTrial:
    """One trial of the discrete-event engine (a :class:`~simulate.engines.trial.TrialResult`)
    as the report and the teaching lab show it."""
    columns = [f.name for f in fields(PatientCourse)]
    return ExampleTrial(
        consort=Consort.from_json(r.consort), calendar=TrialCalendar.from_json(r.calendar),
        remission_at_endpoint=r.remission_at_endpoint(),
        patients=tuple(PatientCourse.from_json(row) for row in r.patients[columns].to_dict(orient="records")),
        kaplan_meier=kaplan_meier_remission(r.patients, scenario.arm_names, scenario.trial.endpoint_month),
    )


def kaplan_meier_remission(patients: pd.DataFrame, arms: tuple[str, ...], endpoint_month: float
                           ) -> dict[str, tuple[KaplanMeierStep, ...]]:
    """Cumulative incidence of first remission per arm (1 - Kaplan-Meier), censored at dropout
    or at the endpoint. Each curve starts at month 0 with everyone at risk; then one step per
    month with a remission."""
    out = {}
    for arm in arms:
        p = patients[patients.arm == arm]
        remission = p.remission_month.to_numpy(dtype=float)
        dropout = p.dropout_month.to_numpy(dtype=float)
        censored_at = np.where(np.isnan(dropout), endpoint_month, dropout)
        event = ~np.isnan(remission) & (remission <= censored_at)
        steps = [KaplanMeierStep(0.0, 0.0, len(p))]
        times, survival, at_risk = product_limit(np.where(event, remission, censored_at), event)
        steps += [KaplanMeierStep(float(t), float(1 - s), int(n)) for t, s, n in zip(times, survival, at_risk)]
        out[arm] = tuple(steps)
    return out


def product_limit(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Kaplan-Meier product-limit estimate of survival: (the distinct times with an event,
    the survival just after each, the number at risk at each). Written here rather than taken
    from statsmodels (``SurvfuncRight``, the tests' reference, which gives the same to rounding):
    importing it, and scipy.stats with it, costs more than the whole example trial."""
    times, row = np.unique(time, return_inverse=True)
    events = np.bincount(row, weights=event.astype(float), minlength=len(times))
    at_risk = np.cumsum(np.bincount(row, minlength=len(times))[::-1])[::-1]
    keep = events > 0
    survival = np.cumprod(1.0 - events[keep] / at_risk[keep])
    return times[keep], survival, at_risk[keep]


def compute_remission_model(scenario: sc.Scenario) -> RemissionModel:
    """What the calibrated outcome model implies per arm: the chance of a first remission by the
    endpoint, the chance that it lasts to the endpoint, and the assumed endpoint rate."""
    from simulate.population.outcomes import calibrate

    models = calibrate(scenario)
    end = scenario.trial.endpoint_month
    arms = []
    for name in scenario.arm_names:
        arm, m = scenario.arm(name), models[name]
        rebound = arm.rebound_month if scenario.outcome.relapse else math.inf
        arms.append(ArmRemission(arm=name, first_remission=m.responder_probability,
                                 lasting=m.no_relapse_probability, endpoint_rate=arm.remission_at_endpoint,
                                 rebound_month=rebound if rebound < end else math.nan))
    return RemissionModel(endpoint_month=end, arms=tuple(arms))


def compute_accrual(scenario: sc.Scenario, seed: int) -> Accrual:
    """Randomisation months of the first trials (the fan), with the plan and the real trial."""
    from simulate.engines.batch import randomise_block
    from simulate.fates.draw import draw_fates
    from simulate.seeding import block_sequence

    size = trials_per_block(scenario)
    n = min(ACCRUAL_TRIALS, size)
    fates = draw_fates(scenario, block_sequence(seed, 0), size)
    r = randomise_block(scenario, fates, n)
    obs = scenario.observed
    return Accrual(
        curves=tuple(tuple(np.sort(r["month"][i][r["randomised"][i]]).tolist()) for i in range(n)),
        n_target=scenario.n_target, recruitment_months=scenario.trial.recruitment_months,
        hard_stop_months=scenario.trial.hard_stop_months,
        observed=None if obs is None or not obs.accrual else ObservedAccrual(obs.n_randomised, obs.months, obs.source),
    )


def read_source(scenario_path: Path | str | None) -> ScenarioSource | None:
    """The scenario file's comments (the sources of its figures), if the file is known; the
    path is kept as given (a file, or the name of a shipped scenario)."""
    from simulate.errors import ScenarioError
    from simulate.design.loader import resolve_scenario
    from simulate.design.sources import scenario_comments

    if scenario_path is None:
        return None
    try:
        header, comments = scenario_comments(resolve_scenario(scenario_path))
    except (ScenarioError, OSError, UnicodeDecodeError) as err:
        log.warning("could not read the sources in %s: %s", scenario_path, err)
        header, comments = "", {}
    return ScenarioSource(str(scenario_path), header, comments)


# ----------------------------------------------------------------------------- interim looks


STOPPED_FOR = {1: "efficacy", 2: "futility"}
"""The outcome of a trial's path by :attr:`simulate.engines.block_outcomes.BlockOutcomes.stop_reason` (else ``final``)."""


def fixed_design(scenario: sc.Scenario) -> sc.Scenario:
    """The scenario without its interim looks: one final analysis of every randomised patient."""
    return scenario.model_copy(update={"interim": None})


def interim_paths(scenario: sc.Scenario, seed: int, engine: str, n_trials: int = PATH_TRIALS
                  ) -> tuple[ZPath, ...]:
    """The z paths of the first ``n_trials`` trials of the seed (block 0: the trials the power
    piece counts first), each look as the engine held it."""
    from simulate.engines.blocks import simulate_block
    from simulate.analysis.interim import design_for

    design = design_for(scenario)
    n = min(n_trials, trials_per_block(scenario))
    b = simulate_block(scenario, seed, 0, n_trials=n, engine=engine)
    N = design.n_target
    interim_info = [c / N for c in design.counts[:-1]]
    out = []
    for i in range(n):
        stop, reason = int(b.stop_look[i]), int(b.stop_reason[i])
        held = ~np.isnan(b.look_z[i])
        info = [*interim_info, b.look_randomised[i, -1] / N]
        looks = [k for k in range(design.looks) if held[k]]
        outcome = STOPPED_FOR.get(reason, "final") if stop >= 0 else "final"
        final_bound = overrun_info = overrun_z = math.nan
        if outcome == "final" and looks and looks[-1] == design.looks - 1:
            reached = int(held[:-1].sum())
            final_bound = design.final_bound(reached, int(b.look_randomised[i, -1]))
        if outcome == "efficacy":
            overrun_info = float(b.randomised[i] / N)
            overrun_z = float(b.overrun_z[i])
        out.append(ZPath(
            trial=i, information=tuple(float(info[k]) for k in looks), z=tuple(float(b.look_z[i, k]) for k in looks),
            month=tuple(float(b.look_month[i, k]) for k in looks), outcome=outcome,
            rejected=bool(b.sequential_reject[i]), final_bound=float(final_bound),
            overrun_information=overrun_info, overrun_z=overrun_z))
    return tuple(out)


def compute_interim(scenario, seed, replicates, jobs, engine, progress=False) -> InterimDetail:
    """The fixed design's power run (the same trials without the looks) and the first trials' z paths."""
    return InterimDetail(fixed=compute_power(fixed_design(scenario), seed, replicates, jobs, engine, progress),
                         paths=interim_paths(scenario, seed, engine))
