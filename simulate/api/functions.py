"""The API's functions that simulate and return figures without writing files: power,
sample size and the calibration of a Bayesian rule (re-exported by ``simulate``; the
``trialsim`` commands call them and print what they return, so a command and its function
cannot differ). Loading a scenario, the checks and the plan are ``simulate.api.common``'s;
the functions that write files, ``simulate.api.writing``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from simulate.api import arguments as args
from simulate.api.common import common_args, planned, resolve, warn_few, where_to_run
from simulate.api.results import CalibrationResult, PowerResult, SampleSizeResult
from simulate.design.choices import DEFAULT_ENGINE
from simulate.errors import UsageError

if TYPE_CHECKING:
    from simulate.design.scenario import Scenario


# ----------------------------------------------------------------------------- checking


def validate(scenario: Scenario | str | Path, *, max_memory: str | int | None = None,
             max_minutes: str | float | None = None) -> Scenario:
    """Check a scenario as ``trialsim validate`` does: valid, and one of its trials fits the
    memory budget (so every function can plan its work). Returns the scenario; raises a
    ``TrialSimError`` with one line per problem."""
    from simulate.run import plan

    sc = resolve(scenario)
    with plan.limits(max_memory, max_minutes):
        plan.check_one_trial(sc)
    return sc


# ----------------------------------------------------------------------------- power


def power(scenario: Scenario | str | Path, *, replicates: int | None = None, seed: int | None = None,
          n_per_arm: int | None = None, null_world: bool = True, engine: str = DEFAULT_ENGINE,
          jobs: int | None = None, backend: str = "loky", scheduler: str | None = None,
          max_memory: str | int | None = None, max_minutes: str | float | None = None,
          progress: bool = False) -> PowerResult:
    """Estimate power by simulating ``replicates`` trials (default: the scenario's
    ``simulation.replicates``) from ``seed`` (default: its ``simulation.seed``), with the
    operating characteristics under the assumed effect and, unless ``null_world=False``, in the
    design's null world (the same trials with no true difference, or at the margin).

    ``engine``: ``"batch"`` (vectorised, fast) or ``"des"`` (the discrete-event reference: the
    same trials). ``jobs``: worker processes (default: all cores); ``backend="dask"`` with
    ``scheduler`` runs on a Dask cluster. ``max_memory`` (``"4G"``) and ``max_minutes`` bound
    the work, refused before it starts if it cannot fit.

    >>> import simulate
    >>> r = simulate.power("nct04743739", replicates=400, seed=1)
    >>> 0 < r.power < 1
    True
    """
    from simulate.run import plan
    from simulate.run.assurance import with_assurance
    from simulate.run.operating import with_design_stage, with_null_world
    from simulate.run.parallel import session
    from simulate.run.power import estimate_power

    replicates, seed, engine = common_args(replicates, seed, engine)
    sc = resolve(scenario, **{"trial.n_per_arm": args.checked("n_per_arm", n_per_arm)})
    where = where_to_run(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    with planned(lambda: plan.plan_power(sc, reps, jobs, engine, null_world=null_world), max_memory, max_minutes), \
            session(where):
        more = (replicates, seed, where, engine)
        r = estimate_power(sc, *more, progress=progress)
        r = with_assurance(sc, r, *more, progress=progress)
        r = with_design_stage(sc, r, *more, progress=progress)
        if null_world:
            r = with_null_world(sc, r, *more, progress=progress)
    warn_few(r.replicates, r.mc_se)
    return PowerResult(sc, r)


def sample_size(scenario: Scenario | str | Path, *, target: float | None = None,
                target_assurance: float | None = None, power_of: str | None = None, window: int = 10,
                n_max: int = 2000, precision: int | None = None, replicates: int | None = None,
                seed: int | None = None, engine: str = DEFAULT_ENGINE, jobs: int | None = None,
                backend: str = "loky", scheduler: str | None = None, max_memory: str | int | None = None,
                max_minutes: str | float | None = None, progress: bool = False) -> SampleSizeResult:
    """The smallest n per arm whose simulated power reaches ``target`` (default 0.8), or whose
    assurance reaches ``target_assurance`` (over trials drawing their rates from the arms'
    ``design_prior``), beside the closed-form references.

    No n within ``window`` above the answer may fall below the target (the saw-tooth of exact
    tests); n is searched up to ``n_max``. ``precision``: more trials near the answer until its
    95% Monte Carlo range is within ± that many. ``power_of``, with several experimental arms:
    ``"any"``, ``"all"`` or one arm's id (default: the scenario's ``analysis.success``). The
    other arguments are ``power``'s.
    """
    from simulate.run.parallel import session
    from simulate.run.samplesize import find_sample_size, plan_samplesize

    replicates, seed, engine = common_args(replicates, seed, engine)
    target, target_assurance = args.checked("target", target), args.checked("target_assurance", target_assurance)
    window, n_max = args.checked("window", window), args.checked("n_max", n_max)
    precision = args.checked("precision", precision)
    sc = resolve(scenario)
    if power_of is not None:
        args.chosen("power", power_of, ("any", "all", *sc.experimental_arms))
        sc = resolve(sc, **{"analysis.success": power_of})
    if target_assurance is not None:
        if target is not None:
            raise UsageError(f"--target-assurance: got {target_assurance} with --target {target}; give one of them")
        sc, target = assurance_world(sc, target_assurance), target_assurance
    target = 0.8 if target is None else target
    where = where_to_run(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    with planned(lambda: plan_samplesize(sc, reps, jobs, engine, target, n_max), max_memory, max_minutes), \
            session(where):
        r = find_sample_size(sc, target, replicates, seed, where, engine, window, n_max, progress=progress,
                             precision=precision)
    warn_few(reps)
    return SampleSizeResult(sc, r, target, precision)


def assurance_world(sc: Scenario, target: float) -> Scenario:
    """The scenario whose trials draw their rates from the design priors, for a sample size by
    assurance; a usage error without a design prior, or for a target the prior rules out (with
    a one-sided or non-inferiority test the assurance cannot pass the prior probability of a
    true benefit, however many patients)."""
    from simulate.run.assurance import has_design_prior, prior_probability_of_benefit, prior_world

    if not has_design_prior(sc):
        raise UsageError(f"--target-assurance: got {target}; no arm of '{sc.name}' has a design_prior: give one, "
                         "e.g. --set 'arms.<id>.design_prior={ beta = [a, b] }'")
    a = sc.analysis
    if a.alternative == "greater" or a.hypothesis == "non_inferiority":
        ceiling = prior_probability_of_benefit(sc)
        if target >= ceiling:
            raise UsageError(f"--target-assurance: got {target}; the design priors give a true benefit a probability "
                             f"of {ceiling:.3f}, which no n can exceed: target less than that")
    return prior_world(sc)


def calibrate(scenario: Scenario | str | Path, *, target_type1: float = 0.025, replicates: int | None = None,
              seed: int | None = None, engine: str = DEFAULT_ENGINE, jobs: int | None = None,
              backend: str = "loky", scheduler: str | None = None, max_memory: str | int | None = None,
              max_minutes: str | float | None = None, progress: bool = False) -> CalibrationResult:
    """The success threshold of a Bayesian design (``analysis.framework = "bayesian"``) that
    gives a type I error of ``target_type1`` in the null world, with the power it leaves."""
    from simulate.run import plan
    from simulate.run.calibrate import calibrate as run_calibration
    from simulate.run.parallel import session

    replicates, seed, engine = common_args(replicates, seed, engine)
    target = args.checked("target_type1", target_type1)
    sc = resolve(scenario)
    if sc.analysis.framework != "bayesian":
        shown = args.origin(sc)[0] or sc.name
        raise UsageError(f"{shown}: analysis.framework: got {sc.analysis.framework!r}; calibrate tunes a Bayesian "
                         "design's success threshold: --set analysis.framework=\"bayesian\"")
    where = where_to_run(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    with planned(lambda: plan.plan_power(sc, reps, jobs, engine), max_memory, max_minutes), session(where):
        r = run_calibration(sc, target, replicates, seed, where, engine, progress=progress)
    warn_few(r.replicates)
    return CalibrationResult(sc, r)


