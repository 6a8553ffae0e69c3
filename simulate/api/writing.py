"""The API's functions that can write files: the main job (always: a results folder with
tables, figures and report.html), a sweep, one trial's story and a screened cohort (when given
``out``, or ``save=True`` for the command's default folder). Before any work each checks the
place it writes (``simulate.api.common.claim_folder``): it never replaces a user's file or
another run's results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from simulate.api import arguments as args
from simulate.api.common import claim_folder, common_args, notes, out_file, planned, resolve, warn_few, where_to_run
from simulate.api.results import CohortResult, RunResult, SweepResult, TrialResult
from simulate.design.choices import DEFAULT_ENGINE
from simulate.errors import UsageError

if TYPE_CHECKING:
    from simulate.design.scenario import Scenario


def sweep(scenario: Scenario | str | Path, *, replicates: int | None = None, seed: int | None = None,
          engine: str = DEFAULT_ENGINE, jobs: int | None = None, backend: str = "loky",
          scheduler: str | None = None, out: str | Path | None = None, save: bool = False,
          max_memory: str | int | None = None, max_minutes: str | float | None = None,
          progress: bool = False) -> SweepResult:
    """Power over the scenario's ``[sweep]`` grid, one row per grid point (the other arguments
    are ``simulate.power``'s).

    Written only if asked: to ``out`` (a .csv file), or with ``save=True`` to the default
    ``results/<name>/sweep/sweep.csv`` (``results/<name>-<hash>/...`` when overrides change
    the scenario) with its manifest."""
    from simulate.io import write_csv_atomic
    from simulate.run.folders import SWEEP_FILES
    from simulate.run.main_job import run_settings
    from simulate.run.parallel import session
    from simulate.run.sweep import plan_sweep, sweep as run_sweep

    replicates, seed, engine = common_args(replicates, seed, engine)
    sc = resolve(scenario)
    if not sc.sweep:
        shown = args.origin(sc)[0] or sc.name
        raise UsageError(f"{shown}: sweep: the scenario has no [sweep] table; add one such as "
                         "\"dropout.probability_by_endpoint\" = [0.0, 0.1, 0.2]")
    if out is not None and Path(out).suffix.lower() != ".csv":
        raise UsageError(f"--out: got '{out}'; must be a .csv file name")
    where = where_to_run(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    taken = None
    with planned(lambda: plan_sweep(sc, reps, jobs, engine), max_memory, max_minutes):
        if out is None and save:          # the default folder is the sweep's own, with its manifest
            settings = run_settings(sc.simulation.seed if seed is None else seed, reps, engine)
            taken = claim_folder("sweep", sc, None, settings, SWEEP_FILES, sub="sweep")
            out = taken.folder / SWEEP_FILES[0]
        elif out is not None:
            out = out_file(out)
        with session(where):
            frame = run_sweep(sc, replicates, seed, where, engine, progress=progress).to_frame()
    warn_few(reps)
    if out is not None:
        if taken is not None:
            taken.begin()
        write_csv_atomic(out, frame)
        if taken is not None:
            taken.finish(SWEEP_FILES)
    return SweepResult(sc, frame, None if out is None else Path(out))


def trial(scenario: Scenario | str | Path, *, seed: int | None = None, out: str | Path | None = None,
          save: bool = False, max_memory: str | int | None = None,
          max_minutes: str | float | None = None) -> TrialResult:
    """Simulate one trial patient by patient (the discrete-event engine; the same trial as the
    first of a power run with this seed) and tell its story.

    Its tables (patients, visits, events) and trial.json are written only if asked: to the
    folder ``out``, or with ``save=True`` to ``results/<name>/trial-<seed>/``."""
    from simulate.engines.des import example_trial
    from simulate.io import json_ready, write_csv_atomic, write_json_atomic
    from simulate.run import plan
    from simulate.run.folders import TRIAL_FILES
    from simulate.run.trial_analysis import trial_analysis

    sc = resolve(scenario)
    seed = sc.simulation.seed if seed is None else args.checked("seed", seed)
    taken = None
    with planned(lambda: plan.plan_trial(sc), max_memory, max_minutes):
        if out is not None or save:
            taken = claim_folder("trial", sc, out, {"seed": seed}, TRIAL_FILES, sub=f"trial-{seed}")
        result = example_trial(sc, seed)
    c, cal = result.consort, result.calendar
    summary = json_ready({
        "scenario": sc.name, "seed": seed, "consort": c,
        "n_randomised": c["randomised"], "n_per_arm": c["randomised_per_arm"],
        "recruitment_months": cal["recruitment_months"], "duration_months": cal["duration_months"],
        "terminated": cal["terminated"], "calendar": cal,
        "remission_at_endpoint": result.remission_at_endpoint(sc.trial.endpoint == "cr"),
        "analysis": trial_analysis(sc, seed),
        **({} if result.sequential is None else {"sequential": {
            k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in result.sequential.items()}}),
    })
    folder = None
    if taken is not None:
        folder = taken.folder
        taken.begin()
        write_csv_atomic(folder / "patients.csv", result.patients)
        write_csv_atomic(folder / "visits.csv", result.visits)
        write_csv_atomic(folder / "events.csv", result.events)
        write_json_atomic(folder / "trial.json", summary)
        taken.finish(TRIAL_FILES)
    return TrialResult(sc, seed, result, summary, folder)


def cohort(scenario: Scenario | str | Path, *, n: int = 10_000, seed: int | None = None,
           out: str | Path | None = None, max_memory: str | int | None = None,
           max_minutes: str | float | None = None) -> CohortResult:
    """Draw ``n`` referred patients and screen them against the eligibility criteria: one row
    per patient with whether each rule passes, the first that fails and the status (eligible,
    deferred, excluded). Written to ``out`` (a .csv file) only if given."""
    import numpy as np

    from simulate.io import write_csv_atomic
    from simulate.run import plan
    from simulate.screening.criteria import RULE_NAMES
    from simulate.screening.screen import screen_referrals

    n = args.checked("n", n)
    if out is not None and Path(out).suffix.lower() != ".csv":
        raise UsageError(f"--out: got '{out}'; must be a .csv file name")
    sc = resolve(scenario)
    if out is not None:
        out = out_file(out)
    seed = sc.simulation.seed if seed is None else args.checked("seed", seed)
    with planned(lambda: plan.plan_cohort(n), max_memory, max_minutes):
        patients, screening = screen_referrals(sc, n, seed)
        frame = patients.to_frame()
        for name, passes in zip(RULE_NAMES, screening.passes):
            frame[f"passes_{name}"] = passes
        frame["first_failure"] = screening.first_failure_name
        frame["qualifies_in_months"] = screening.qualifies_in_months
        frame["status"] = np.select([screening.eligible_now, screening.deferred], ["eligible", "deferred"], "excluded")
    if out is not None:
        write_csv_atomic(out, frame)
    return CohortResult(sc, n, seed, screening, frame, out)


def run(scenario: Scenario | str | Path, *, out: str | Path | None = None, replicates: int | None = None,
        seed: int | None = None, engine: str = DEFAULT_ENGINE, jobs: int | None = None, backend: str = "loky",
        scheduler: str | None = None, max_memory: str | int | None = None, max_minutes: str | float | None = None,
        progress: bool = False) -> RunResult:
    """The main job: power (with the null world and the OC curve), the sample size for 80% and
    90% power, the sweep, an example trial, the recruitment and the outcome model, with their
    tables, figures, run.json and report.html in ``out`` (default ``results/<name>/``, or
    ``results/<name>-<hash>/`` when overrides change the scenario).

    ``out`` must be new, empty, or an earlier run of the same scenario (whose finished pieces
    are reused when the seed, replicates, engine and code match). The main job's progress is
    told at info level on ``simulate.notes``."""
    from simulate.run.main_job import plan_run, run_all, run_files, run_settings
    from simulate.run.parallel import session

    replicates, seed, engine = common_args(replicates, seed, engine)
    sc = resolve(scenario)
    path, sets = args.origin(sc)
    settings = run_settings(sc.simulation.seed if seed is None else seed,
                            sc.simulation.replicates if replicates is None else replicates, engine)
    where = where_to_run(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    with planned(lambda: plan_run(sc, reps, jobs, engine), max_memory, max_minutes):
        taken = claim_folder("run", sc, out, settings, run_files(sc))
        warn_few(reps)
        with session(where):
            notes.info("Running '%s' into %s/ ...", sc.name, taken.folder, extra={"kind": "always"})
            results = run_all(sc, taken.folder, seed, replicates, where, engine, scenario_path=path,
                              overrides=sets, progress=progress, on_piece=lambda what: notes.info("  %s", what),
                              claim=taken)
    return RunResult(results, taken.folder)
