"""The main job: every planning answer for a scenario, written to ``results/<scenario>/``.

:func:`run_all` computes the pieces (power at the planned size, the sample-size curve for 80%
and 90%, the sensitivity sweep, an example trial, accrual curves, the eligibility funnel, and
with interim looks the fixed design beside it and the z paths of the first trials), each a
frozen result object of :mod:`simulate.results`, and hands them to the report as one
:class:`~simulate.results.RunResults`. Each piece is stored under ``.pieces/`` as its JSON,
keyed by the scenario's hash, the seed, the replicate count and the engine: a re-run with the
same inputs reuses finished pieces, a run killed midway leaves no half-written file (every write
is a rename), and a different scenario or seed never reuses a stale piece.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import platform
import time
from datetime import datetime, timezone
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import pandas as pd

from simulate import __version__
from simulate import scenario as sc
from simulate.engines import CONSORT_FIELDS, DEFAULT_ENGINE
from simulate.folders import CACHE_DIR, SWEEP_TABLE, run_tables
from simulate.io import write_csv_atomic, write_json_atomic
from simulate import plan
from simulate.plan import FEW_REPLICATES, trials_per_block
from simulate.results import (Accrual, ArmRemission, Comparison, Consort, ExampleTrial, FunnelStep, KaplanMeierStep, Look,
                              ObservedAccrual, PatientCourse, PowerResult, Record, RemissionModel, RunResults, SampleSizePlan,
                              ScenarioSource, ScreeningFunnel, SweepResult, TrialCalendar, VisitRemission, InterimDetail, ZPath,
                              TYPE_ONE_SE, against_alpha)

log = logging.getLogger(__name__)

SCREENED_REFERRALS = 100_000
"""Referred patients drawn for the eligibility funnel."""
ACCRUAL_TRIALS = 100
"""Simulated trials drawn in the accrual fan."""
TARGETS = (0.8, 0.9)
"""Power targets of the sample-size piece."""
NOTABLE_EXAGGERATION = 1.1
"""Significant trials overstating the true difference by at least this factor are worth a word
(the winner's curse), in the summary and the teaching lab."""
PATH_TRIALS = 20
"""Trials whose z paths the boundary plot draws (the first of the run's seed)."""

R = TypeVar("R", bound=Record)


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """A hash of trialsim's own source: a piece computed by other code is never reused."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _piece_key(scenario: sc.Scenario, piece: str, seed: int, replicates: int, engine: str) -> str:
    text = json.dumps({"piece": piece, "scenario": sc.scenario_hash(scenario), "seed": seed,
                       "replicates": replicates, "engine": engine, "version": __version__,
                       "code": code_hash()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached(folder: Path, piece: str, key: str, kind: type[R], compute: Callable[[], R], timings: dict,
            what: str, tell: Callable[[str], None]) -> R:
    """The piece stored under ``folder/.pieces/`` if its key matches, else computed and stored.
    Either way the value is read back from its JSON, so a reused piece and a fresh one give the
    same tables byte for byte."""
    path = folder / ".pieces" / f"{piece}.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
            if stored["key"] == key:
                value = kind.from_json(stored["data"])
                log.info("reusing %s (key %s)", piece, key)
                tell(f"{what}: reused from an earlier run")
                timings[piece] = {"seconds": stored.get("seconds", 0.0), "reused": True}
                return value
        except (json.JSONDecodeError, OSError, KeyError, TypeError, ValueError) as err:
            log.info("not reusing %s: %s", piece, err)
    tell(f"{what} ...")
    log.info("computing %s", what)
    t0 = time.perf_counter()
    data = json.loads(json.dumps(compute().to_json(), allow_nan=False))
    seconds = time.perf_counter() - t0
    write_json_atomic(path, {"key": key, "seconds": seconds, "data": data})
    timings[piece] = {"seconds": seconds, "reused": False}
    return kind.from_json(data)


# ----------------------------------------------------------------------------- pieces


def compute_screening(scenario: sc.Scenario, seed: int) -> ScreeningFunnel:
    """The eligibility funnel of a large referred cohort."""
    from simulate.eligibility import screen_referrals

    _, s = screen_referrals(scenario, SCREENED_REFERRALS, seed)
    return ScreeningFunnel(
        screened=int(s.passes.shape[1]), eligible=int(s.eligible_now.sum()), deferred=int(s.deferred.sum()),
        excluded=int(s.excluded.sum()),
        steps=tuple(FunnelStep.from_json(row) for row in s.funnel().to_dict(orient="records")))


def compute_power(scenario, seed, replicates, jobs, engine, progress=False) -> PowerResult:
    from simulate.power import estimate_power

    return estimate_power(scenario, replicates, seed, jobs, engine, progress)


def compute_samplesize(scenario, seed, replicates, jobs, engine, progress=False) -> SampleSizePlan:
    """A search per target power, their simulated curve, and the closed-form curve over its range."""
    from simulate.power import closed_form_curve, dropout_adjustment, find_sample_size

    searches = tuple(find_sample_size(scenario, target, replicates, seed, jobs, engine, progress=progress)
                     for target in TARGETS)
    curve = {p.n_per_arm: p for s in searches for p in s.curve}  # the same n gives the same trials in both
    ns = sorted(curve)
    closed = closed_form_curve(scenario, range(max(2, ns[0]), ns[-1] + 1)) if ns else ()
    return SampleSizePlan(searches=searches, curve=tuple(curve[n] for n in ns), closed_form=closed,
                          dropout_rule=dropout_adjustment(scenario).rule)


def compute_sweep(scenario, seed, replicates, jobs, engine, progress=False) -> SweepResult:
    from simulate.power import sweep

    return sweep(scenario, replicates, seed, jobs, engine, progress)


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
    """Cumulative incidence of first remission per arm (1 - Kaplan-Meier, statsmodels'
    ``SurvfuncRight``), censored at dropout or at the endpoint. Each curve starts at month 0
    with everyone at risk; then one step per month with a remission."""
    from statsmodels.duration.survfunc import SurvfuncRight

    out = {}
    for arm in arms:
        p = patients[patients.arm == arm]
        remission = p.remission_month.to_numpy(dtype=float)
        dropout = p.dropout_month.to_numpy(dtype=float)
        censored_at = np.where(np.isnan(dropout), endpoint_month, dropout)
        event = ~np.isnan(remission) & (remission <= censored_at)
        steps = [KaplanMeierStep(0.0, 0.0, len(p))]
        if event.any():
            km = SurvfuncRight(np.where(event, remission, censored_at), event.astype(int))
            steps += [KaplanMeierStep(float(t), float(1 - s), int(n))
                      for t, s, n in zip(km.surv_times, km.surv_prob, km.n_risk)]
        out[arm] = tuple(steps)
    return out


def compute_remission_model(scenario: sc.Scenario) -> RemissionModel:
    """What the calibrated outcome model implies per arm: the chance of a first remission by the
    endpoint, the chance that it lasts to the endpoint, and the assumed endpoint rate."""
    from simulate.outcomes import calibrate

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
    from simulate.fates import draw_fates
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
    from simulate.loader import resolve_scenario
    from simulate.sources import scenario_comments

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
"""The outcome of a trial's path by :attr:`simulate.engines.BlockOutcomes.stop_reason` (else ``final``)."""


def fixed_design(scenario: sc.Scenario) -> sc.Scenario:
    """The scenario without its interim looks: one final analysis of every randomised patient."""
    return scenario.model_copy(update={"interim": None})


def interim_paths(scenario: sc.Scenario, seed: int, engine: str, n_trials: int = PATH_TRIALS
                  ) -> tuple[ZPath, ...]:
    """The z paths of the first ``n_trials`` trials of the seed (block 0: the trials the power
    piece counts first), each look as the engine held it."""
    from simulate.engines import simulate_block
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


# ----------------------------------------------------------------------------- tables


def consort_table(example: ExampleTrial, power: PowerResult, arms: tuple[str, ...]) -> pd.DataFrame:
    """The example trial's CONSORT counts beside their means over the replicates."""
    ex = example.consort
    rows = [{"count": k, "example_trial": getattr(ex, k), "mean_over_replicates": power.mean_consort[k]}
            for k in CONSORT_FIELDS]
    rows += [{"count": f"excluded_{k}", "example_trial": v, "mean_over_replicates": None}
             for k, v in ex.excluded.items()]
    for arm in arms:
        for k in ("randomised_per_arm", "discontinued_per_arm", "analysed_per_arm"):
            rows.append({"count": f"{k.replace('_per_arm', '')}_{arm}", "example_trial": getattr(ex, k)[arm],
                         "mean_over_replicates": None})
    return pd.DataFrame(rows)


REMISSION_COLUMNS = tuple(f.name for f in fields(VisitRemission))
"""Columns of ``remission_by_visit.csv``: arm, month, remission, mc_se."""


def remission_table(power: PowerResult) -> pd.DataFrame:
    """Each arm's mean share in the endpoint state at each scheduled visit, one row per arm and
    visit (arms in the scenario's order), as the power piece computed it."""
    return pd.DataFrame([asdict(v) for v in power.remission_by_visit], columns=list(REMISSION_COLUMNS))


def comparisons_table(power: PowerResult, scenario: sc.Scenario) -> pd.DataFrame:
    """One row per experimental arm against the control (its fields of
    :class:`~simulate.results.Comparison`, with both arms' labels)."""
    rows = [{**asdict(c), "arm_label": scenario.arm(c.arm).label, "control_label": scenario.arm(c.control).label}
            for c in power.comparisons]
    return pd.DataFrame(rows, columns=[*(f.name for f in fields(Comparison)), "arm_label", "control_label"])


LOOK_COLUMNS = tuple(f.name for f in fields(Look))
"""Columns of ``looks.csv``: the fields of :class:`~simulate.results.Look`."""
PIECES = ("screening", "power", "samplesize", "example_trial", "accrual", "remission_model")
"""The pieces of every run, each cached as ``.pieces/<piece>.json``; ``sweep`` and ``interim`` when the
scenario has them."""


def has_looks(scenario: sc.Scenario) -> bool:
    """The scenario is group-sequential: its run has interim looks, their tables and figures."""
    return scenario.interim is not None and scenario.interim.looks > 1


def run_files(scenario: sc.Scenario) -> frozenset[str]:
    """Every file :func:`run_all` may write for the scenario, relative to its folder (a figure
    with nothing to draw is not written, so a run may write fewer)."""
    from simulate.report import FIGURES, INTERIM_FIGURES

    looks, sweep = has_looks(scenario), bool(scenario.sweep)
    figures = FIGURES + (INTERIM_FIGURES if looks else ())
    pieces = PIECES + (("sweep",) if sweep else ()) + (("interim",) if looks else ())
    return frozenset({*run_tables(sweep, looks), *(f"{f}.png" for f in figures), "report.html", "run.json",
                      *(f"{CACHE_DIR}/{p}.json" for p in pieces)})


def looks_table(power: PowerResult) -> pd.DataFrame:
    """One row per planned look of a group-sequential design, as the power piece computed it."""
    return pd.DataFrame([asdict(k) for k in power.looks], columns=list(LOOK_COLUMNS))


def write_tables(folder: Path, results: RunResults) -> list[str]:
    """The run's CSVs: funnel, power (one row), comparisons (one row per experimental arm),
    remission_by_visit (one row per arm and visit), samplesize, sweep and consort; with interim
    looks also looks (one row per look) and fixed_design (the power row of the same scenario
    without the looks). Returns the names written; nothing else in the folder is touched."""
    written = []

    def write(name: str, frame: pd.DataFrame) -> None:
        write_csv_atomic(folder / name, frame)
        written.append(name)

    write("funnel.csv", results.screening.to_frame())
    # timings go to run.json: the tables hold results only, so a resumed run writes the same bytes
    write("power.csv", results.power.to_frame(consort=False, elapsed=False))
    write("comparisons.csv", comparisons_table(results.power, results.scenario))
    write("remission_by_visit.csv", remission_table(results.power))
    write("samplesize.csv", results.samplesize.to_frame())
    if results.sweep is not None:
        write(SWEEP_TABLE, results.sweep.to_frame())
    write("consort.csv", consort_table(results.example_trial, results.power, results.scenario.arm_names))
    if results.remission_model is not None:
        write("remission_model.csv", results.remission_model.to_frame())
    detail = getattr(results, "interim", None)
    if results.power.looks:
        write("looks.csv", looks_table(results.power))
    if results.power.looks and detail is not None:
        write("fixed_design.csv", detail.fixed.to_frame(consort=False, elapsed=False))
    return written


def _is_null(p: PowerResult) -> bool:
    """No experimental arm is better than the null hypothesis allows (:func:`simulate.report.verdict.is_null`)."""
    from simulate.report.verdict import is_null

    return is_null(p)


def plain_summary(scenario: sc.Scenario, p: PowerResult, plan: SampleSizePlan,
                  fixed: PowerResult | None = None) -> tuple[str, ...]:
    """The report's first paragraph, in plain language with the run's own figures: the arms by
    their labels, each experimental arm against the control; with interim looks, one line on
    what they stop and save (against ``fixed``, the same trials without the looks, if given)."""
    from simulate.power import primary_arm
    from simulate.report.words import (ENDPOINT_WORDS, MISSING_WORDS, MULTIPLICITY_SHORT, TEST_NAMES,
                                       comparison_name, significant_word, success_phrase)
    from simulate.report.words import percent as _pct

    d = scenario.dropout.probability_by_endpoint
    null, ni, many = _is_null(p), p.hypothesis == "non_inferiority", len(p.comparisons) > 1
    control = scenario.arm(scenario.control_arm).label
    first = scenario.arm(p.comparisons[0].arm if p.comparisons else scenario.experimental_arms[0]).label
    k = len(p.comparisons)
    counted = success_phrase(scenario, p.success, k, p.hypothesis)
    if many:
        what = (f"the chance that {counted} (here a type I error: no experimental arm "
                + ("is better than the margin allows)" if ni else "differs from the control)")) if null \
            else f"power (the chance that {counted})"
    elif ni:
        what = (f"the chance of concluding that {first} is non-inferior to {control} (here the type I error: it is "
                f"worse by the margin, {p.margin:g})") if null \
            else f"power to show that {first} is non-inferior to {control} (margin {p.margin:g})"
    else:
        what = "the chance of a significant result (here the type I error: the arms do not differ)" if null \
            else "power"
    level = f"{'one-sided ' if p.alternative == 'greater' else ''}alpha {p.alpha:g}"
    adjust = f" with {MULTIPLICITY_SHORT.get(p.multiplicity, p.multiplicity)}" if many else ""
    t = scenario.trial
    design = (f"{t.n_per_arm} per arm and {100 * d:.0f}% dropout" if t.endpoint == "cr_or_pr" else
              f"{t.n_per_arm} per arm, {100 * d:.0f}% dropout and {ENDPOINT_WORDS[t.endpoint]} at month "
              f"{t.endpoint_month:g} as the primary endpoint")
    lines = [
        f"With {design}, {what} is "
        f"{p.power:.3f} ± {p.mc_se:.3f} ({TEST_NAMES.get(p.test, p.test)} at {level}{adjust}, "
        f"{MISSING_WORDS.get(p.missing_strategy, p.missing_strategy)}, {p.replicates:,} simulated trials)."
    ]
    if many:
        word = significant_word(p.hypothesis)
        lines.append(
            f"The chance of each comparison being {word}: "
            + "; ".join(f"{comparison_name(scenario, c.arm)} {c.power:.3f} ± {c.mc_se:.3f}" for c in p.comparisons)
            + f"; at least one of them: {p.power_any:.3f} ± {p.power_any_mc_se:.3f}; all {k} together: "
              f"{p.power_all:.3f} ± {p.power_all_mc_se:.3f}.")
    if p.looks:
        lines.append(interim_sentence(scenario, p, fixed))
    not_reached: dict[str, tuple[int, list[str]]] = {}  # note -> (its line, the targets it applies to)
    if null:
        lines += _type_one_error_line(plan, p, level)
    for s in ([] if null else plan.searches):
        pct = f"{round(100 * s.target)}%"
        if s.n_per_arm is not None:
            a = s.analytic
            which = (f" for one comparison, {comparison_name(scenario, primary_arm(scenario))}, at alpha "
                     f"{a.alpha:g}, without dropout" if many else " without dropout")
            if ni:
                closed = (f" (closed form{which}: {a.farrington_manning} by Farrington and Manning)"
                          if a.farrington_manning is not None else "")
                lines.append(f"{pct} power needs {s.n_per_arm} per arm{closed}.")
                continue
            lines.append(f"{pct} power needs {s.n_per_arm} per arm (closed form{which}: "
                         f"{a.pooled_normal} by the pooled normal approximation, "
                         f"{a.fleiss_cc} by Fleiss with continuity correction).")
        elif s.note in not_reached:
            line, targets = not_reached[s.note]
            targets.append(pct)
            lines[line] = f"{' or '.join(targets)} power is not reached: {s.note}."
        else:
            not_reached[s.note] = (len(lines), [pct])
            lines.append(f"{pct} power is not reached: {s.note}.")
    if np.isfinite(p.recruitment_months_q50):
        lines.append(
            f"Recruitment finishes within the planned {scenario.trial.recruitment_months:g} months in "
            f"{_pct(p.p_recruitment_on_time)} of simulated trials (median "
            f"{p.recruitment_months_q50:.0f} months to the last randomisation); "
            f"{_pct(p.p_terminated)} are terminated at the hard stop (month "
            f"{scenario.trial.hard_stop_months:g}, when enrolment closes whatever the count) short of "
            f"{scenario.n_target} patients."
        )
    else:
        lines.append(
            f"No patient was randomised in any simulated trial: every trial is terminated at the hard stop "
            f"({scenario.trial.hard_stop_months:g} months) with none of its {scenario.n_target} patients "
            f"(recruitment rate {scenario.recruitment.rate_per_site_month:g} referrals per site-month)."
        )
    if not ni:
        lines += _winners_curse(scenario, p, null, many)
    obs = scenario.observed
    if obs is not None and obs.accrual and obs.n_randomised > 0:
        months = scenario.n_target / (obs.n_randomised / obs.months)
        lines.append(
            f"At the recruitment rate actually seen ({obs.n_randomised} patients in {obs.months:g} months), "
            f"enrolling {scenario.n_target} would take about {months / 12:.0f} years."
        )
    if p.replicates < FEW_REPLICATES:
        lines.append(f"Only {p.replicates:,} simulated trial{'' if p.replicates == 1 else 's'}: the Monte Carlo "
                     f"error makes these figures unusable for planning; run at least {FEW_REPLICATES}.")
    return tuple(lines)


def _type_one_error_line(plan: SampleSizePlan, p: PowerResult, level: str) -> list[str]:
    """A null scenario's answer to the sample-size question: H0 holds, so no n reaches a power
    target; the type I error over the simulated sizes against alpha (judged within 2 Monte Carlo SE)."""
    curve = sorted(plan.curve, key=lambda c: c.n_per_arm)
    if not curve:
        return []
    above = [c.n_per_arm for c in curve if against_alpha(c.power, c.mc_se, p.alpha) > 0]
    lowest, highest = min(c.power for c in curve), max(c.power for c in curve)
    judged = (f"none is above it by more than {TYPE_ONE_SE:g} Monte Carlo SE" if not above else
              f"{len(above)} {'is' if len(above) == 1 else 'are'} above it by more than {TYPE_ONE_SE:g} Monte Carlo SE "
              f"(n = {', '.join(str(n) for n in above)} per arm)")
    return [f"H0 holds here, so there is no power target to reach: at the {len(curve)} sizes simulated "
            f"(n = {curve[0].n_per_arm} to {curve[-1].n_per_arm} per arm) the type I error is between {lowest:.3f} "
            f"and {highest:.3f}, against the nominal {level}; {judged}."]


def interim_sentence(scenario: sc.Scenario, p: PowerResult, fixed: PowerResult | None = None) -> str:
    """One plain line on the interim looks: when they come, what they stop, what they save."""
    from simulate.report.interim_section import recruitment_done_at_first_look
    from simulate.report.words import and_list, percent_list

    interim_looks = p.looks[:-1]
    rule = scenario.interim.futility if scenario.interim is not None else "none"
    at = percent_list([k.information_fraction for k in interim_looks])
    months = and_list([f"{k.mean_month:.0f}" for k in interim_looks])
    one = len(interim_looks) == 1
    verb = f"stop{'s' if one else ''}"
    efficacy = scenario.interim is None or scenario.interim.efficacy_spending != "none"
    if efficacy:
        stops = f"{verb} {percent_list([k.p_stop_efficacy for k in interim_looks])} of trials for efficacy"
        if rule != "none":
            stops += f" and {percent_list([k.p_stop_futility for k in interim_looks])} for futility"
    else:
        stops = (f"{verb} {percent_list([k.p_stop_futility for k in interim_looks])} of trials for futility "
                 "(no efficacy stop before the final analysis)")
    head = (f"{'An interim look' if one else 'Interim looks'} at {at} of the endpoints "
            f"(month{'' if one else 's'} {months} on average) {stops}")
    if fixed is not None:
        same = f"{p.expected_randomised:.1f}" == f"{fixed.mean_randomised:.1f}"
        without = f"without the look{'' if one else 's'}"
        decide = (f"as {without}" if f"{p.expected_duration_months:.0f}" == f"{fixed.mean_duration_months:.0f}"
                  else f"instead of {fixed.mean_duration_months:.0f} {without}")
        tail = (f"trials decide at month {p.expected_duration_months:.0f} on average {decide}, and randomise "
                + (f"as many patients ({p.expected_randomised:.1f} on average)" if same else
                   f"{p.expected_randomised:.1f} patients on average instead of {fixed.mean_randomised:.1f}"))
    else:
        tail = (f"trials decide at month {p.expected_duration_months:.0f} on average and randomise "
                f"{p.expected_randomised:.1f} patients of the planned {scenario.n_target}")
    line = f"{head}; {tail}."
    if recruitment_done_at_first_look(p, fixed, scenario.n_target):
        line += (f" Recruitment is over by the first look, which waits for the month-"
                 f"{scenario.trial.endpoint_month:g} endpoints: the look{'' if one else 's'} "
                 f"save{'s' if one else ''} follow-up time, not patients.")
    return line


def _winners_curse(scenario: sc.Scenario, p: PowerResult, null: bool, many: bool) -> list[str]:
    """How far significant trials overstate the true difference (superiority only)."""
    from simulate.report.words import comparison_name

    if not many:
        sig, ratio = p.mean_abs_risk_difference_if_significant, p.exaggeration_ratio
        if null and np.isfinite(sig):
            return [f"Every significant result here is a false positive; those trials showed an average "
                    f"difference in remission of {sig:.2f} in one direction or the other."]
        if np.isfinite(ratio) and ratio >= NOTABLE_EXAGGERATION:
            size = "" if p.true_difference > 0 else " in size"  # a harm: sizes compared, signs aside
            return [f"Trials that come out significant estimate a difference of {sig:.2f}{size} on average, "
                    f"{ratio:.1f} times the{size and ' size of the'} true {p.true_difference:.2f} (the winner's curse: "
                    f"only the lucky ones reach significance)."]
        return []
    over = [f"{comparison_name(scenario, c.arm)} {c.exaggeration_ratio:.1f} times "
            f"{'its' if c.true_difference > 0 else 'the size of its'} true difference {c.true_difference:.2f}"
            for c in p.comparisons
            if np.isfinite(c.exaggeration_ratio) and c.exaggeration_ratio >= NOTABLE_EXAGGERATION]
    if not over:
        return []
    return ["Comparisons that come out significant estimate on average (the winner's curse: only the lucky ones "
            "reach significance): " + "; ".join(over) + "."]


# ----------------------------------------------------------------------------- run


def plan_run(scenario: sc.Scenario, replicates: int, jobs: int | None = None, engine: str = "batch") -> plan.Plan:
    """What :func:`run_all` will cost (:mod:`simulate.plan`): power, a sample-size search per
    target, the sweep, the fixed design beside interim looks, an example trial and the
    eligibility funnel, one after another."""
    from simulate.power import plan_samplesize, plan_sweep

    parts = [plan.plan_power(scenario, replicates, jobs, engine), plan.plan_trial(scenario),
             plan.plan_cohort(SCREENED_REFERRALS)]
    parts += [plan_samplesize(scenario, replicates, jobs, engine, t) for t in TARGETS]
    if scenario.sweep:
        parts.append(plan_sweep(scenario, replicates, jobs, engine))
    if scenario.interim is not None:
        parts.append(plan.plan_power(scenario, replicates, jobs, engine))
    widest = max(parts, key=lambda p: p.peak_bytes)
    seconds = plan.START_SECONDS + sum(p.seconds - plan.START_SECONDS for p in parts) + plan.REPORT_SECONDS
    # the report is drawn last, beside whatever the simulations left resident (idle workers)
    return dataclasses.replace(widest, what=f"the main job ({replicates:,} trials per design)", seconds=seconds,
                               peak_bytes=widest.peak_bytes + plan.REPORT_BYTES)


def _describe(jobs) -> dict:
    from simulate.parallel import Backend

    b = jobs if isinstance(jobs, Backend) else Backend("loky", jobs)
    return {"backend": b.name, "jobs": b.jobs, "scheduler": b.scheduler}


def folder_sentence(scenario: sc.Scenario, out_dir: Path, overrides: tuple[str, ...]) -> str | None:
    """The summary's line on the overrides and where the results are: for a run with ``--set``
    overrides, or in a folder not named after the scenario (None otherwise, as for the
    scenario file's own run in ``results/<name>/``)."""
    from simulate.folders import HASH_CHARS

    short = sc.scenario_hash(scenario)[:HASH_CHARS]
    if overrides:
        sets = ", ".join(f"--set {text}" for text in overrides)
        return (f"This run changes the scenario file with {sets} (scenario hash {short}); its results are in "
                f"{out_dir}/.")
    if out_dir.name != scenario.name:
        return f"The results of this run are in {out_dir}/ (scenario hash {short})."
    return None


def run_all(scenario: sc.Scenario, out_dir: Path, seed: int | None = None, replicates: int | None = None,
            jobs=None, engine: str = DEFAULT_ENGINE, report: bool = True, scenario_path: Path | None = None,
            overrides: tuple[str, ...] = (), progress: bool = False,
            on_piece: Callable[[str], None] | None = None, claim=None) -> RunResults:
    """Compute (or reuse) every piece, then write tables, plots, run.json, report.html and the
    folder's manifest.json (:mod:`simulate.folders`).

    ``scenario_path`` and ``overrides`` say where the scenario came from (the file and its
    ``--set PATH=VALUE`` texts): the report shows the file's sources and the command that
    reproduces the run. ``progress`` draws progress bars on a terminal; ``on_piece`` is told, in
    a short sentence, which piece is computed or reused. ``claim`` is the folder's
    :class:`~simulate.folders.Claim` if the caller checked it already; otherwise the folder is
    checked here, and :class:`~simulate.errors.OutputError` raised before any work if it holds
    files this run may not replace.
    """
    from simulate import folders

    seed = scenario.simulation.seed if seed is None else seed
    replicates = scenario.simulation.replicates if replicates is None else replicates
    out_dir = Path(out_dir)
    tell = on_piece or (lambda what: None)
    if claim is None:
        claim = folders.claim(out_dir, "run", scenario, run_settings(seed, replicates, engine), run_files(scenario),
                              f"out_dir: got '{out_dir}'", overrides)
        if claim.note:
            log.warning("%s", claim.note)
    # the manifest first, then the run's own temporary leftovers (a run killed mid-write) go
    claim.begin()
    t0 = time.perf_counter()
    timings: dict = {}
    written: list[str] = []

    def piece(name: str, kind: type[R], compute: Callable[[], R], what: str) -> R:
        key = _piece_key(scenario, name, seed, replicates, engine)
        written.append(f"{CACHE_DIR}/{name}.json")
        return _cached(out_dir, name, key, kind, compute, timings, what, tell)

    args = (scenario, seed, replicates, jobs, engine, progress)
    screening = piece("screening", ScreeningFunnel, lambda: compute_screening(scenario, seed),
                      f"eligibility funnel of {SCREENED_REFERRALS:,} referrals")
    power = piece("power", PowerResult, lambda: compute_power(*args),
                  f"power at n = {scenario.trial.n_per_arm} per arm ({replicates:,} trials)")
    samplesize = piece("samplesize", SampleSizePlan, lambda: compute_samplesize(*args),
                       " and ".join(f"{round(100 * t)}%" for t in TARGETS) + " power: sample size search")
    sweep = piece("sweep", SweepResult, lambda: compute_sweep(*args),
                  f"sensitivity grid ({math.prod(len(v) for v in scenario.sweep_grid.values())} points)"
                  ) if scenario.sweep else None
    example = piece("example_trial", ExampleTrial, lambda: compute_example_trial(scenario, seed), "example trial")
    accrual = piece("accrual", Accrual, lambda: compute_accrual(scenario, seed), "recruitment of the first trials")
    remission = piece("remission_model", RemissionModel, lambda: compute_remission_model(scenario),
                      "first remission and relapse in the outcome model")
    common = dict(scenario=scenario, seed=seed, replicates=replicates, engine=engine, screening=screening,
                  power=power, samplesize=samplesize, sweep=sweep, example_trial=example, accrual=accrual,
                  remission_model=remission,
                  source=read_source(scenario_path), overrides=tuple(overrides),
                  created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), code_hash=code_hash(),
                  folder=str(out_dir))
    where = folder_sentence(scenario, out_dir, tuple(overrides))
    if power.looks:
        detail = piece("interim", InterimDetail, lambda: compute_interim(*args),
                       f"interim looks: the fixed design ({replicates:,} trials) and {PATH_TRIALS} z paths")
        summary = plain_summary(scenario, power, samplesize, detail.fixed)
        results = RunResults(**common, summary=summary + ((where,) if where else ()), interim=detail)
    else:
        summary = plain_summary(scenario, power, samplesize)
        results = RunResults(**common, summary=summary + ((where,) if where else ()))
    written += write_tables(out_dir, results)
    figures = {}
    if report:
        from simulate.report import write_report

        tell("figures and report.html ...")
        t1 = time.perf_counter()
        figures = write_report(out_dir, results)
        written += [*figures.values(), "report.html"]
        timings["report"] = {"seconds": time.perf_counter() - t1, "reused": False}
    write_json_atomic(out_dir / "run.json", {
        "scenario": scenario.model_dump(mode="json"), "scenario_hash": sc.scenario_hash(scenario),
        "overrides": list(overrides),
        "seed": seed, "replicates": replicates, "engine": engine, "parallel": _describe(jobs),
        "trialsim_version": __version__, "code_hash": results.code_hash, "created": results.created, "numpy_version": np.__version__,
        "python": platform.python_version(), "machine": platform.platform(), "timings": timings,
        "elapsed_seconds": time.perf_counter() - t0, "summary": list(results.summary), "figures": figures,
    })
    written.append("run.json")
    claim.finish(written)
    return results


def run_settings(seed: int, replicates: int, engine: str) -> dict:
    """The settings of a run that are not its scenario (recorded in its manifest)."""
    return {"seed": seed, "replicates": replicates, "engine": engine}
