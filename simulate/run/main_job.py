"""The main job: every planning answer for a scenario, written to ``results/<scenario>/``.

:func:`run_all` computes the pieces (:mod:`simulate.run.compute`: power at the planned size, the
sample-size curve for 80% and 90%, the sensitivity sweep, an example trial, accrual curves, the
eligibility funnel, and with interim looks the fixed design beside it and the z paths of the
first trials), each reused from the piece cache (:mod:`simulate.run.pieces`) when its inputs
are unchanged, and hands them to the tables (:mod:`simulate.report.tables`), the summary
(:mod:`simulate.report.sentences.summary`) and the report as one
:class:`~simulate.run.results.RunResults`.

No design is simulated twice where the answer is already in hand: the sweep runs before the
power piece, which is the sweep's point for the scenario itself when it has one, and the two
sample-size searches share what they simulate (:mod:`simulate.run.evaluations`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from simulate import __version__
from simulate.run import plan
from simulate.design import scenario as sc
from simulate.design.choices import DEFAULT_ENGINE
from simulate.run.folders import CACHE_DIR, run_tables
from simulate.io import write_json_atomic
from simulate.report.sentences.summary import folder_sentence, plain_summary
from simulate.report.tables import write_tables
from simulate.run.results import InterimDetail, PowerResult, RunResults, SampleSizePlan, SweepResult
from simulate.run.trial_results import Accrual, ExampleTrial, RemissionModel, ScreeningFunnel
from simulate.run.compute import (PATH_TRIALS, SCREENED_REFERRALS, TARGETS, compute_accrual, compute_example_trial,
                                  compute_interim, compute_power, compute_remission_model, compute_samplesize,
                                  compute_screening, compute_sweep, read_source)
from simulate.run.adjustment import AdjustmentDetail, compute_adjustment
from simulate.run.pieces import PIECES, R, cached, piece_key
from simulate.version import code_hash

log = logging.getLogger(__name__)


def is_adjusted(scenario: sc.Scenario) -> bool:
    """The scenario's analysis adjusts for covariates: its run compares it with the unadjusted one."""
    return scenario.analysis.adjustment != "none"


def has_looks(scenario: sc.Scenario) -> bool:
    """The scenario is group-sequential: its run has interim looks, their tables and figures."""
    return scenario.interim is not None and scenario.interim.looks > 1


def run_files(scenario: sc.Scenario) -> frozenset[str]:
    """Every file :func:`run_all` may write for the scenario, relative to its folder (a figure
    with nothing to draw is not written, so a run may write fewer)."""
    from simulate.report.captions import FIGURES, INTERIM_FIGURES, OPERATING_FIGURES
    from simulate.report.estimand_section import scenario_figures
    from simulate.report.uncertainty_section import scenario_figures as uncertainty_figures

    looks, sweep, tipping = has_looks(scenario), bool(scenario.sweep), bool(scenario.analysis.tipping_point_deltas)
    adjusted = is_adjusted(scenario)
    figures = FIGURES + (INTERIM_FIGURES if looks else ()) + OPERATING_FIGURES + uncertainty_figures(scenario) + scenario_figures(scenario)
    pieces = PIECES + (("sweep",) if sweep else ()) + (("interim",) if looks else ()) + (("adjustment",) if adjusted
                                                                                          else ())
    return frozenset({*run_tables(sweep, looks, tipping, adjusted), *(f"{f}.png" for f in figures), "report.html",
                      "run.json", "justification.md",
                      *(f"{CACHE_DIR}/{p}.json" for p in pieces)})


def plan_run(scenario: sc.Scenario, replicates: int, jobs: int | None = None, engine: str = "batch") -> plan.Plan:
    """What :func:`run_all` will cost (:mod:`simulate.run.plan`): power, a sample-size search per
    target, the sweep, the fixed design beside interim looks, an example trial and the
    eligibility funnel, one after another."""
    from simulate.run.samplesize import plan_samplesize
    from simulate.run.sweep import plan_sweep

    from simulate.run.operating import OC_FRACTIONS

    several = len(scenario.experimental_arms) > 1 and scenario.analysis.multiplicity != "none"
    parts = [plan.plan_power(scenario, replicates, jobs, engine, null_world=True), plan.plan_trial(scenario),
             plan.plan_cohort(SCREENED_REFERRALS),
             plan.plan_trials([scenario] * (len(OC_FRACTIONS) * (2 if several else 1)), replicates, jobs, engine)]
    parts += [plan_samplesize(scenario, replicates, jobs, engine, t) for t in TARGETS]
    if scenario.sweep:
        parts.append(plan_sweep(scenario, replicates, jobs, engine))
    if scenario.interim is not None:
        parts.append(plan.plan_power(scenario, replicates, jobs, engine))
    widest = max(parts, key=lambda p: p.peak_bytes)
    seconds = plan.START_SECONDS + sum(p.seconds - plan.START_SECONDS for p in parts) + plan.report_seconds()
    # the report is drawn last, beside whatever the simulations left resident (idle workers)
    return dataclasses.replace(widest, what=f"the main job ({replicates:,} trials per design)", seconds=seconds,
                               peak_bytes=widest.peak_bytes + plan.REPORT_BYTES)


def _describe(jobs) -> dict:
    from simulate.run.parallel import Backend

    b = jobs if isinstance(jobs, Backend) else Backend("loky", jobs)
    return {"backend": b.name, "jobs": b.jobs, "scheduler": b.scheduler}


def run_all(scenario: sc.Scenario, out_dir: Path, seed: int | None = None, replicates: int | None = None,
            jobs=None, engine: str = DEFAULT_ENGINE, report: bool = True, scenario_path: Path | None = None,
            overrides: tuple[str, ...] = (), progress: bool = False,
            on_piece: Callable[[str], None] | None = None, claim=None) -> RunResults:
    """Compute (or reuse) every piece, then write tables, plots, run.json, report.html and the
    folder's manifest.json (:mod:`simulate.run.folders`).

    ``scenario_path`` and ``overrides`` say where the scenario came from (the file and its
    ``--set PATH=VALUE`` texts): the report shows the file's sources and the command that
    reproduces the run. ``progress`` draws progress bars on a terminal; ``on_piece`` is told, in
    a short sentence, which piece is computed or reused. ``claim`` is the folder's
    :class:`~simulate.run.folders.Claim` if the caller checked it already; otherwise the folder is
    checked here, and :class:`~simulate.errors.OutputError` raised before any work if it holds
    files this run may not replace.
    """
    from simulate.run import folders

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
        key = piece_key(scenario, name, seed, replicates, engine)
        written.append(f"{CACHE_DIR}/{name}.json")
        return cached(out_dir, name, key, kind, compute, timings, what, tell)

    results = _compute(scenario, out_dir, seed, replicates, jobs, engine, scenario_path, tuple(overrides), progress,
                       piece, report)
    written += write_tables(out_dir, results)
    figures = {}
    if report:
        from simulate.report.page import write_report

        tell("figures and report.html ...")
        t1 = time.perf_counter()
        figures = write_report(out_dir, results)
        written += [*figures.values(), "report.html"]
        timings["report"] = {"seconds": time.perf_counter() - t1, "reused": False}
    _write_record(out_dir, results, jobs, timings, time.perf_counter() - t0, figures)
    written.append("run.json")
    claim.finish(written)
    return results


Piece = Callable[[str, type, Callable[[], R], str], R]
"""How :func:`run_all` gets a piece: its name, type, how to compute it, and what to tell."""


def _compute(scenario: sc.Scenario, out_dir: Path, seed: int, replicates: int, jobs, engine: str,
             scenario_path: Path | None, overrides: tuple[str, ...], progress: bool, piece: Piece,
             report: bool = False) -> RunResults:
    """Every piece, computed or reused, with the plain-language summary: the run's results.
    With a ``report`` to draw and no simulation left after the sample size, the idle worker
    processes import the plotting libraries while this process tells the example trial."""
    from simulate.run.assurance import with_assurance
    from simulate.run.operating import OCCurve, compute_oc_curve, with_design_stage, with_null_world
    from simulate.run.parallel import warm_workers

    args = (scenario, seed, replicates, jobs, engine, progress)
    screening = piece("screening", ScreeningFunnel, lambda: compute_screening(scenario, seed),
                      f"eligibility funnel of {SCREENED_REFERRALS:,} referrals")
    # the grid first: where one of its points is the scenario itself, the power piece is that point
    planned: dict[str, PowerResult] = {}
    sweep = piece("sweep", SweepResult, lambda: compute_sweep(*args, planned=planned),
                  f"sensitivity grid ({math.prod(len(v) for v in scenario.sweep_grid.values())} points)"
                  ) if scenario.sweep else None
    more = (replicates, seed, jobs, engine, progress)
    power = piece("power", PowerResult, lambda: with_null_world(scenario, with_design_stage(scenario, with_assurance(
        scenario, planned.get("power") or compute_power(*args), *more), *more), *more),
                  f"power at n = {scenario.trial.n_per_arm} per arm and in the null world ({replicates:,} trials each)")
    oc = piece("oc_curve", OCCurve, lambda: compute_oc_curve(*args, power=power),
               f"OC curve: power over the true effect ({replicates:,} trials per point)")
    samplesize = piece("samplesize", SampleSizePlan, lambda: compute_samplesize(*args),
                       " and ".join(f"{round(100 * t)}%" for t in TARGETS) + " power: sample size search")
    if report and not power.looks:
        warm_workers("simulate.report.drawing")
    example = piece("example_trial", ExampleTrial, lambda: compute_example_trial(scenario, seed), "example trial")
    accrual = piece("accrual", Accrual, lambda: compute_accrual(scenario, seed), "recruitment of the first trials")
    remission = piece("remission_model", RemissionModel, lambda: compute_remission_model(scenario),
                      "first remission and relapse in the outcome model")
    common = dict(scenario=scenario, seed=seed, replicates=replicates, engine=engine, screening=screening,
                  power=power, samplesize=samplesize, sweep=sweep, example_trial=example, accrual=accrual,
                  remission_model=remission, oc_curve=oc, source=read_source(scenario_path), overrides=overrides,
                  created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), code_hash=code_hash(),
                  folder=str(out_dir))
    where = folder_sentence(scenario, out_dir, overrides)
    detail = piece("interim", InterimDetail, lambda: compute_interim(*args),
                   f"interim looks: the fixed design ({replicates:,} trials) and {PATH_TRIALS} z paths"
                   ) if power.looks else None
    adjustment = piece("adjustment", AdjustmentDetail, lambda: compute_adjustment(*args),
                       f"what adjustment buys: the unadjusted analysis and both in the null world ({replicates:,} "
                       "trials each)") if is_adjusted(scenario) else None
    summary = plain_summary(scenario, power, samplesize, None if detail is None else detail.fixed)
    return RunResults(**common, summary=summary + ((where,) if where else ()), interim=detail, adjustment=adjustment)


def _write_record(out_dir: Path, results: RunResults, jobs, timings: dict, elapsed: float, figures: dict) -> None:
    """run.json: the scenario, the settings, the versions, the timings and the summary."""
    scenario = results.scenario
    write_json_atomic(out_dir / "run.json", {
        "scenario": scenario.model_dump(mode="json"), "scenario_hash": sc.scenario_hash(scenario),
        "overrides": list(results.overrides),
        "seed": results.seed, "replicates": results.replicates, "engine": results.engine, "parallel": _describe(jobs),
        "trialsim_version": __version__, "code_hash": results.code_hash, "created": results.created,
        "numpy_version": np.__version__, "python": platform.python_version(), "machine": platform.platform(),
        "timings": timings, "elapsed_seconds": elapsed, "summary": list(results.summary), "figures": figures,
    })


def run_settings(seed: int, replicates: int, engine: str) -> dict:
    """The settings of a run that are not its scenario (recorded in its manifest)."""
    return {"seed": seed, "replicates": replicates, "engine": engine}
