"""The ``trialsim`` command: parse, load, run, write. Nothing else.

A user's mistake (a bad scenario, a bad flag) prints one line per problem on stderr, writes
nothing and exits with code 2. Results go to stdout (tables, or one JSON object with --json).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
from pathlib import Path

import click

from simulate import __version__
from simulate.choices import DEFAULT_ENGINE, ENGINES
from simulate.errors import TrialSimError, UsageError
from simulate.loader import load_scenario
from simulate.parallel import BACKENDS
from simulate.scenario import Scenario

EXIT_USAGE = 2

# not dir_okay=False: a folder named like a shipped scenario is the loader's to judge (it says so)
scenario_arg = click.argument("scenario", type=click.Path(path_type=Path))
set_opt = click.option(
    "--set", "overrides", multiple=True, metavar="PATH=VALUE",
    help="Override a scenario field, e.g. --set dropout.probability_by_endpoint=0.2 (repeatable).",
)
seed_opt = click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
                        help="Root seed (default: the scenario's simulation.seed).")
json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
memory_opt = click.option("--max-memory", metavar="SIZE", default=None,
                          help="Memory budget, e.g. 4G or 512M (default: half the memory available, or "
                               "$TRIALSIM_MAX_MEMORY). Work that cannot fit is refused before it starts.")
minutes_opt = click.option("--max-minutes", metavar="M", default=None,
                           help="Refuse work estimated to take longer (default 30, or $TRIALSIM_MAX_MINUTES).")


def limit_opts(f):
    """The resource limits every command that simulates takes."""
    return memory_opt(minutes_opt(f))




def _note(line: str | None) -> None:
    if line:
        click.echo(f"note: {line}", err=True)


def _load(path: Path, overrides: tuple[str, ...]) -> Scenario:
    """The scenario, after a note if a folder (or other non-file) here was passed over for the
    shipped scenario of its name."""
    from simulate.loader import locate_scenario

    found, note = locate_scenario(path)
    sc = load_scenario(found, overrides)
    _note(note)
    return sc


def _claim_folder(kind: str, scenario_path: Path, overrides: tuple[str, ...], sc: Scenario, out: Path | None,
                  settings: dict, planned, sub: str | None = None):
    """Before any work: the folder the command writes (``--out``, else the default folder of
    :func:`simulate.folders.default_folder`) can be written and holds nothing this command may
    not replace. Notes (another scenario content in results/<name>/, earlier results replaced)
    go to stderr once every check has passed."""
    from simulate.folders import claim, default_folder, overridden
    from simulate.io import check_writable

    if out is None:
        folder, note = default_folder(sc, overridden(scenario_path, overrides, sc), sub)
        where = f"--out not given: the default folder '{folder}'"
    else:
        folder, note, where = out, None, f"--out: got '{out}'"
    check_writable(folder, "--out")
    taken = claim(folder, kind, sc, settings, planned, where, overrides)
    _note(note)
    _note(taken.note)
    return taken


def _check_out_file(path: Path) -> Path:
    """Before any work: the file can be written, and is not one of the files of a folder
    trialsim filled (a run's, a trial's, a sweep's)."""
    from simulate.folders import refuse_run_file
    from simulate.io import check_writable

    check_writable(path.parent, "--out", shown=path)
    return refuse_run_file(path, "--out")


def _echo_json(obj: dict) -> None:
    """One JSON object on stdout; NaN (no data) becomes null so the output stays valid JSON."""
    from simulate.io import json_ready

    click.echo(json.dumps(json_ready(obj), indent=2, allow_nan=False,
                          default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _table(frame) -> str:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 70):
        return frame.to_string(index=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trialsim")
@click.option("-v", "--verbose", count=True, help="Log progress to stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """Simulate randomised clinical trials: patients, eligibility, recruitment, follow-up,
    analysis and Monte Carlo power. SCENARIO is a TOML file (see scenarios/)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@cli.command()
def scenarios() -> None:
    """List the shipped scenarios (give one by name to any command, e.g. `trialsim run nct04743739`)."""
    from simulate.loader import scenario_description, shipped_scenarios

    shipped = shipped_scenarios()
    width = max(map(len, shipped), default=0)
    for name, path in shipped.items():
        click.echo(f"{name:<{width}}  {scenario_description(path)}")
    click.echo(f"\n(files in {next(iter(shipped.values())).parent})" if shipped else "no shipped scenarios")


@cli.command()
@scenario_arg
@set_opt
@limit_opts
def validate(scenario: Path, overrides: tuple[str, ...], max_memory: str | None, max_minutes: str | None) -> None:
    """Check a scenario file; print OK or one line per problem (exit 2). OK also means one of
    its trials fits the memory budget, so every command can plan its work."""
    from simulate import plan

    sc = _load(scenario, overrides)
    with plan.limits(max_memory, max_minutes):
        plan.check_one_trial(sc)
    click.echo("OK")


# ----------------------------------------------------------------------------- cohort


def _screen_cohort(sc: Scenario, n: int, seed: int):
    import numpy as np

    from simulate.screening.criteria import RULE_NAMES
    from simulate.screening.screen import screen_referrals

    patients, screening = screen_referrals(sc, n, seed)
    frame = patients.to_frame()
    for name, passes in zip(RULE_NAMES, screening.passes):
        frame[f"passes_{name}"] = passes
    frame["first_failure"] = screening.first_failure_name
    frame["qualifies_in_months"] = screening.qualifies_in_months
    frame["status"] = np.select(
        [screening.eligible_now, screening.deferred], ["eligible", "deferred"], "excluded"
    )
    return screening, frame


def _print_funnel(screening, n: int, seed: int, sc: Scenario) -> None:
    s = screening.summary()
    click.echo(f"Screening {n:,} referred patients of scenario '{sc.name}' (seed {seed})\n")
    f = screening.funnel()[["criterion", "kind", "failing", "excluded", "deferred", "remaining"]]
    click.echo(_table(f))
    pct = lambda k: f"{k:,} ({100 * k / max(n, 1):.1f}%)"  # noqa: E731
    click.echo(
        f"\nscreened {n:,}   excluded {pct(s['excluded'])}   deferred {pct(s['deferred'])}   "
        f"eligible now {pct(s['eligible'])}"
    )


@cli.command()
@scenario_arg
@click.option("--n", "n", type=click.IntRange(1, 20_000_000), default=10_000, show_default=True,
              help="Number of referred patients to draw.")
@seed_opt
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the cohort with its eligibility columns to this CSV file.")
@set_opt
@json_opt
@limit_opts
def cohort(scenario: Path, n: int, seed: int | None, out: Path | None, overrides: tuple[str, ...],
           as_json: bool, max_memory: str | None, max_minutes: str | None) -> None:
    """Draw a synthetic referred cohort and screen it against the registered criteria."""
    from simulate import plan
    from simulate.io import write_csv_atomic

    if out is not None and out.suffix.lower() != ".csv":
        raise UsageError(f"--out: got '{out}'; must be a .csv file name")
    sc = _load(scenario, overrides)
    if out is not None:
        _check_out_file(out)
    seed = sc.simulation.seed if seed is None else seed
    with _planned(lambda: plan.plan_cohort(n), max_memory, max_minutes):
        screening, frame = _screen_cohort(sc, n, seed)
    if out is not None:
        write_csv_atomic(out, frame)
    if as_json:
        _echo_json(screening.summary())
    else:
        _print_funnel(screening, n, seed, sc)
        if out is not None:
            click.echo(f"cohort written to {out}")


# ----------------------------------------------------------------------------- trial


def _trial_summary(sc: Scenario, seed: int, result) -> dict:
    c, cal = result.consort, result.calendar
    return {
        "scenario": sc.name, "seed": seed, "consort": c,
        "n_randomised": c["randomised"], "n_per_arm": c["randomised_per_arm"],
        "recruitment_months": cal["recruitment_months"], "duration_months": cal["duration_months"],
        "terminated": cal["terminated"], "calendar": cal,
        "remission_at_endpoint": result.remission_at_endpoint(sc.trial.endpoint == "cr"),
        **({} if result.sequential is None else {"sequential": {
            k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in result.sequential.items()}}),
    }


def _print_story(sc: Scenario, seed: int, result) -> None:
    from simulate.story import story_lines

    for line in story_lines(sc, seed, result):
        click.echo(line)


@cli.command()
@scenario_arg
@seed_opt
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for the trial's tables (default results/<scenario-name>/trial-<seed>/, or "
                   "results/<scenario-name>-<hash>/trial-<seed>/ when --set changes the scenario).")
@set_opt
@json_opt
@limit_opts
def trial(scenario: Path, seed: int | None, out_dir: Path | None, overrides: tuple[str, ...], as_json: bool,
          max_memory: str | None, max_minutes: str | None) -> None:
    """Simulate one trial, patient by patient, and tell its story."""
    from simulate import plan
    from simulate.folders import TRIAL_FILES
    from simulate.io import write_csv_atomic, write_json_atomic

    sc = _load(scenario, overrides)
    seed = sc.simulation.seed if seed is None else seed
    from simulate.engines.des import example_trial

    with _planned(lambda: plan.plan_trial(sc), max_memory, max_minutes):
        taken = _claim_folder("trial", scenario, overrides, sc, out_dir, {"seed": seed}, TRIAL_FILES,
                              sub=f"trial-{seed}")
        out_dir = taken.folder
        result = example_trial(sc, seed)
    summary = _trial_summary(sc, seed, result)
    taken.begin()
    write_csv_atomic(out_dir / "patients.csv", result.patients)
    write_csv_atomic(out_dir / "visits.csv", result.visits)
    write_csv_atomic(out_dir / "events.csv", result.events)
    from simulate.io import json_ready

    summary = json_ready(summary)
    write_json_atomic(out_dir / "trial.json", summary)
    taken.finish(TRIAL_FILES)
    if as_json:
        _echo_json(summary)
    else:
        _print_story(sc, seed, result)
        click.echo(f"\ntables written to {out_dir}/")


# ----------------------------------------------------------------------------- power


engine_opt = click.option("--engine", type=click.Choice(ENGINES), default=DEFAULT_ENGINE, show_default=True,
                          help="batch: vectorised, identical trials, fast; des: the discrete-event reference.")
jobs_opt = click.option("--jobs", type=click.IntRange(1, 512), default=None,
                        help="Parallel workers (default: all cores).")
backend_opt = click.option("--backend", type=click.Choice(BACKENDS), default=BACKENDS[0], show_default=True,
                           help="loky: processes on this machine; dask: a Dask cluster (pip install 'trialsim[distributed]').")
scheduler_opt = click.option("--scheduler", default=None, metavar="ADDRESS",
                             help="Dask scheduler to use, e.g. tcp://host:8786 (default: start a local cluster).")
reps_opt = click.option("--replicates", type=click.IntRange(1, 100_000_000), default=None,
                        help="Simulated trials per design (default: the scenario's simulation.replicates).")
def simulation_opts(f):
    """The options every simulating command shares: replicates, seed, where and how to run, limits."""
    for opt in reversed((reps_opt, seed_opt, jobs_opt, backend_opt, scheduler_opt, engine_opt, memory_opt,
                         minutes_opt)):
        f = opt(f)
    return f


def _planned(make_plan, max_memory: str | None, max_minutes: str | None):
    """Set the limits for the command, plan its work and refuse what cannot fit (exit 2, one
    line), all before anything is drawn; on a terminal, say what the work will cost."""
    from simulate import plan

    stack = contextlib.ExitStack()
    stack.enter_context(plan.limits(max_memory, max_minutes))
    try:
        budget, limit = plan.current_limits()
        p = plan.check(make_plan(), budget, limit)
    except BaseException:
        stack.close()
        raise
    if sys.stderr.isatty():
        click.echo(f"plan: {p.describe()} (memory budget {plan.format_bytes(budget[0])})", err=True)
    return stack


def _few_replicates(replicates: int, mc_se: float | None = None) -> None:
    from simulate.plan import FEW_REPLICATES

    if replicates < FEW_REPLICATES:
        se = "" if mc_se is None else f" (Monte Carlo SE up to ±{max(mc_se, 0.5 / replicates ** 0.5):.3f})"
        trials = "1 simulated trial" if replicates == 1 else f"{replicates:,} simulated trials"
        click.echo(f"warning: only {trials}{se}: the Monte Carlo error makes the figures "
                   f"unusable for planning; use at least {FEW_REPLICATES} (--replicates)", err=True)


def _backend(name: str, jobs: int | None, scheduler: str | None):
    from simulate.parallel import Backend

    return Backend(name, jobs, scheduler)


def _fmt_power(r) -> str:
    return f"{r.power:.3f} ± {r.mc_se:.3f} (95% CI {r.ci_low:.3f}-{r.ci_high:.3f})"


@cli.command()
@scenario_arg
@simulation_opts
@click.option("--n-per-arm", type=click.IntRange(1, 100_000), default=None,
              help="Override trial.n_per_arm.")
@set_opt
@json_opt
def power(scenario: Path, replicates: int | None, seed: int | None, n_per_arm: int | None, jobs: int | None,
          backend: str, scheduler: str | None, engine: str, overrides: tuple[str, ...], as_json: bool,
          max_memory: str | None, max_minutes: str | None) -> None:
    """Estimate power (and operating characteristics) by simulating many trials."""
    from simulate import plan
    from simulate.parallel import session
    from simulate.power import estimate_power

    if n_per_arm is not None:
        overrides = overrides + (f"trial.n_per_arm={n_per_arm}",)
    sc = _load(scenario, overrides)
    where = _backend(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    with _planned(lambda: plan.plan_power(sc, reps, jobs, engine), max_memory, max_minutes), session(where):
        r = estimate_power(sc, replicates, seed, where, engine, progress=not as_json)
    _few_replicates(r.replicates, r.mc_se)
    if as_json:
        _echo_json(r.to_dict())
        return
    c = r.mean_consort
    click.echo(f"Power of '{sc.name}': {r.replicates:,} simulated trials, seed {r.seed}, engine {r.engine}\n")
    click.echo(f"  design            {r.n_per_arm} per arm; {r.test} test, {r.alternative}, alpha {r.alpha}; "
               f"missing: {r.missing_strategy}")
    labels = {a: sc.arm(a).label for a in sc.arm_names}
    control = labels[sc.control_arm]
    if r.hypothesis == "non_inferiority":
        click.echo(f"  hypothesis        non-inferiority, margin {r.margin:g}: H0 experimental - control <= "
                   f"-{r.margin:g} (one-sided alpha {r.alpha})")
    many = len(r.comparisons) > 1
    if many:
        rule = {"any": "at least one comparison rejects", "all": "every comparison rejects"}.get(
            r.success, f"{labels.get(r.success, r.success)} vs {control} rejects")
        click.echo(f"  comparisons       {len(r.comparisons)} arms vs {control}; multiplicity: {r.multiplicity}; "
                   f"power counts trials in which {rule}")
    from simulate.power import no_benefit

    null = no_benefit(sc)
    label = "type I error" if null else "power"
    click.echo(f"  {label:<17} {_fmt_power(r)}")
    if null:
        click.echo("                    (no comparison has the benefit the test looks for: this is the chance of a "
                   "significant result by chance, or in the wrong direction)")
    elif r.alternative == "two-sided" and any(c.true_difference < 0 for c in r.comparisons):
        worse = [labels[c.arm] for c in r.comparisons if c.true_difference < 0]
        click.echo(f"  note              {', '.join(worse)} is worse than {control}: with a two-sided test "
                   "this 'power' is mostly the chance of showing that harm")
    if r.looks:
        i = sc.interim
        rule = i.efficacy_spending.replace("_", " ") + (f" (gamma {i.hsd_gamma:g})" if i.efficacy_spending ==
                                                        "hwang_shih_decani" else "")
        futility = {"none": "no futility stop", "beta_spending": "beta-spending futility "
                    + ("(binding)" if i.futility_binding else "(non-binding)"),
                    "conditional_power": f"futility if conditional power < {i.futility_conditional_power:g}"}
        click.echo(f"  looks             {len(r.looks)}: alpha spending {rule}; {futility[i.futility]}; "
                   f"decision {i.decision_lag_months:g} months after each data cut")
        for k, look in enumerate(r.looks):
            bound = f"z >= {look.efficacy_z:.3f}" + ("" if look.futility_z is None or k == len(r.looks) - 1
                                                    else f", < {look.futility_z:.3f} stops")
            what = "rejects" if k == len(r.looks) - 1 else "stops for efficacy"
            click.echo(f"    {look.information_fraction:>5.0%} information  {bound:<26} {what} "
                       f"{look.p_stop_efficacy:.3f} ± {look.p_stop_efficacy_se:.3f}"
                       + (f", for futility {look.p_stop_futility:.3f}" if k < len(r.looks) - 1 else "")
                       + (f"; held in {look.p_held:.0%} of trials, by month {look.mean_month:.1f} with "
                          f"{look.mean_randomised:.1f} randomised" if look.p_held > 0 else "; never held"))
        click.echo(f"    expected randomised {r.expected_randomised:.1f}; decision at month "
                   f"{r.expected_duration_months:.1f} on average; the overrun analysis falls below the final "
                   f"critical value after an efficacy stop in {r.p_overrun_reversal:.3f}")
    if r.hypothesis == "non_inferiority" and r.missing_strategy == "nonresponder" \
            and sc.dropout.probability_by_endpoint > 0:
        click.echo("  note              counting dropouts as failures moves both arms' rates down alike, which "
                   "shrinks their difference and makes a non-inferiority test anti-conservative; compare "
                   "--set analysis.missing=\"complete_case\"")
    if many:
        for comp in r.comparisons:
            click.echo(f"    {labels[comp.arm] + ' vs ' + control:<28} {comp.power:.3f} ± {comp.mc_se:.3f}  "
                       f"(true difference {comp.true_difference:+.3f}, mean estimate {comp.mean_risk_difference:+.3f})")
        click.echo(f"    {'any comparison':<28} {r.power_any:.3f} ± {r.power_any_mc_se:.3f}")
        click.echo(f"    {'every comparison':<28} {r.power_all:.3f} ± {r.power_all_mc_se:.3f}")
    click.echo(f"  randomised        mean {r.mean_randomised:.1f} of {sc.n_target}; "
               f"terminated for slow accrual in {100 * r.p_terminated:.1f}%")
    if math.isfinite(r.mean_recruitment_months):
        click.echo(f"  recruitment       on time (<= {sc.trial.recruitment_months:g} months) in "
                   f"{100 * r.p_recruitment_on_time:.1f}% ± {100 * r.p_recruitment_on_time_se:.1f}%; months to last "
                   f"randomisation: mean {r.mean_recruitment_months:.1f}, 10-50-90% {r.recruitment_months_q10:.1f} / "
                   f"{r.recruitment_months_q50:.1f} / {r.recruitment_months_q90:.1f}")
    else:
        click.echo(f"  recruitment       no patient was randomised in any simulated trial (recruitment rate "
                   f"{sc.recruitment.rate_per_site_month:g} referrals per site-month, hard stop at "
                   f"{sc.trial.hard_stop_months:g} months)")
    click.echo(f"  trial duration    mean {r.mean_duration_months:.1f} months, 10-50-90% "
               f"{r.duration_months_q10:.1f} / {r.duration_months_q50:.1f} / {r.duration_months_q90:.1f}")
    click.echo(f"  dropouts          mean {r.mean_dropouts:.1f} per trial")
    if many:
        pass                                       # each comparison's estimate is listed above
    elif math.isfinite(r.mean_risk_difference):
        level = 1 - r.alpha if r.alternative == "two-sided" else 1 - 2 * r.alpha
        click.echo(f"  risk difference   true {r.true_difference:+.3f}, mean estimate {r.mean_risk_difference:+.3f} "
                   f"(bias {r.risk_difference_bias:+.3f} ± {r.risk_difference_bias_se:.3f}); {level:.0%} interval "
                   f"coverage {r.ci_coverage:.3f} ± {r.ci_coverage_se:.3f}; mean interval width {r.mean_ci_width:.3f}")
        if sc.dropout.probability_by_endpoint > 0 and r.missing_strategy != "complete_case":
            from simulate.power import dropout_adjustment

            adj = dropout_adjustment(sc)
            click.echo(f"                    (true: the assumed difference in endpoint rates; with dropouts counted "
                       f"as {'failures' if r.missing_strategy == 'nonresponder' else 'their last status'} the "
                       f"estimate targets about {adj.p_treat - adj.p_control:+.3f}, so bias and coverage include "
                       "the missing-data rule's own)")
    else:
        click.echo(f"  risk difference   true {r.true_difference:+.3f}; not estimated: no simulated trial "
                   "randomised patients to both arms")
    if not many and r.hypothesis == "superiority" and math.isfinite(r.mean_abs_risk_difference_if_significant):
        click.echo(f"  when significant  mean |difference| {r.mean_abs_risk_difference_if_significant:.3f}"
                   + (f", {r.exaggeration_ratio:.2f} x the true difference (winner's curse)"
                      if math.isfinite(r.exaggeration_ratio) else " (all false positives: no true difference)"))
    click.echo(f"  per trial (mean)  referred {c['referred']:.0f}, excluded {c['excluded_total']:.0f}, "
               f"deferred {c['deferred']:.0f}, randomised {c['randomised']:.1f}")
    click.echo(f"  elapsed           {r.elapsed_seconds:.1f} s")


@cli.command()
@scenario_arg
@click.option("--target", type=click.FloatRange(0.01, 0.999), default=0.8, show_default=True,
              help="Target power.")
@click.option("--window", type=click.IntRange(0, 200), default=10, show_default=True,
              help="No n within this many above the answer may fall below target (saw-tooth guard).")
@click.option("--n-max", type=click.IntRange(2, 100_000), default=2000, show_default=True,
              help="Largest n per arm searched.")
@click.option("--precision", type=click.IntRange(1, 100), default=None,
              help="Resolve n to +-this at 95%: more trials near the answer (same seed) until its Monte "
                   "Carlo range is that narrow.")
@click.option("--power", "power_of", metavar="any|all|ARM", default=None,
              help="With several experimental arms, the power to reach: at least one comparison (any), "
                   "every one (all), or one arm's (its id). Default: the scenario's analysis.success.")
@simulation_opts
@set_opt
@json_opt
def samplesize(scenario: Path, target: float, window: int, n_max: int, replicates: int | None, seed: int | None,
               jobs: int | None, backend: str, scheduler: str | None, engine: str, overrides: tuple[str, ...],
               as_json: bool, power_of: str | None, precision: int | None, max_memory: str | None,
               max_minutes: str | None) -> None:
    """Smallest n per arm reaching the target power, beside the closed-form references."""
    from simulate.parallel import session
    from simulate.power import find_sample_size

    sc = _load(scenario, overrides)
    if power_of is not None:
        allowed = ("any", "all", *sc.experimental_arms)
        if power_of not in allowed:
            raise UsageError(f"--power: got {power_of!r}; allowed: {', '.join(allowed)}")
        sc = _load(scenario, overrides + (f'analysis.success="{power_of}"',))
    where = _backend(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    from simulate.power import plan_samplesize

    with _planned(lambda: plan_samplesize(sc, reps, jobs, engine, target, n_max), max_memory, max_minutes), \
            session(where):
        r = find_sample_size(sc, target, replicates, seed, where, engine, window, n_max, progress=not as_json,
                             precision=precision)
    _few_replicates(reps)
    if as_json:
        _echo_json(r.to_json())
        return
    click.echo(f"Sample size for '{sc.name}': target power {target}, {sc.analysis.test} test, "
               f"missing {sc.analysis.missing}, dropout {sc.dropout.probability_by_endpoint}\n")
    if r.curve:
        click.echo(_table(r.to_frame()[["n_per_arm", "power", "mc_se", "ci_low", "ci_high",
                                        "mean_randomised"]].round(4)))
    click.echo("")
    if r.n_per_arm is None:
        click.echo(f"  not reached: {r.note}")
    else:
        click.echo(f"  simulated: {r.n_per_arm} per arm (power {r.power:.3f} ± {r.mc_se:.3f}; "
                   f"no n up to {r.n_per_arm + r.window} falls below target by more than 2 MC SE)")
        lo, hi = r.n_range
        click.echo(f"  Monte Carlo range: {lo}-{hi} per arm ({r.replicates:,} trials per n near the answer"
                   + ("; --precision P narrows it" if hi - lo > 2 and precision is None else "") + ")")
        if r.fixed_n_per_arm is not None or r.expected_randomised_h1 is not None:
            click.echo(f"  with interim looks: at most {r.n_per_arm} per arm; expected "
                       f"randomised {r.expected_randomised_h1:.1f} under the effect, {r.expected_randomised_h0:.1f} "
                       f"under H0; the fixed design needs "
                       + (f"{r.fixed_n_per_arm} per arm" if r.fixed_n_per_arm is not None else "(not reached)"))
    if r.note and r.n_per_arm is not None:
        click.echo(f"  note: {r.note}")
    a = r.analytic
    if a.farrington_manning is not None:
        click.echo(f"  closed form for {a.p_control} vs {a.p_treat}, non-inferiority margin {a.margin:g}: "
                   f"Farrington-Manning {a.farrington_manning} per arm without dropout"
                   + (f", {a.farrington_manning_with_dropout} randomised with it ({a.dropout_rule})"
                      if a.farrington_manning_with_dropout is not None else ""))
    if a.pooled_normal is not None:
        click.echo(f"  closed form for {a.p_control} vs {a.p_treat} without dropout: pooled normal "
                   f"{a.pooled_normal}, Fleiss with continuity correction {a.fleiss_cc}, arcsine {a.arcsine}")
    if a.pooled_normal_with_dropout is not None:
        click.echo(f"  with dropout: pooled normal {a.pooled_normal_with_dropout}, Fleiss cc "
                   f"{a.fleiss_cc_with_dropout} per arm randomised ({a.dropout_rule})")


@cli.command()
@scenario_arg
@simulation_opts
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV file for the grid (default results/<scenario-name>/sweep/sweep.csv, or "
                   "results/<scenario-name>-<hash>/sweep/sweep.csv when --set changes the scenario; never a file "
                   "of a folder trialsim filled).")
@set_opt
@json_opt
def sweep(scenario: Path, replicates: int | None, seed: int | None, jobs: int | None, backend: str,
          scheduler: str | None, engine: str, out: Path | None, overrides: tuple[str, ...], as_json: bool,
          max_memory: str | None, max_minutes: str | None) -> None:
    """Power over the scenario's [sweep] grid: one tidy CSV row per grid point."""
    from simulate.io import write_csv_atomic
    from simulate.power import sweep as run_sweep

    sc = _load(scenario, overrides)
    if not sc.sweep:
        raise UsageError(f"{scenario}: sweep: the scenario has no [sweep] table; add one such as "
                         "\"dropout.probability_by_endpoint\" = [0.0, 0.1, 0.2]")
    if out is not None and out.suffix.lower() != ".csv":
        raise UsageError(f"--out: got '{out}'; must be a .csv file name")
    from simulate.parallel import session
    from simulate.power import plan_sweep

    where = _backend(backend, jobs, scheduler)
    reps = replicates or sc.simulation.replicates
    from simulate.folders import SWEEP_FILES

    with _planned(lambda: plan_sweep(sc, reps, jobs, engine), max_memory, max_minutes):
        taken = None
        if out is None:                 # the default folder is the sweep's own, with its manifest
            from simulate.pipeline import run_settings

            settings = run_settings(sc.simulation.seed if seed is None else seed,
                                    sc.simulation.replicates if replicates is None else replicates, engine)
            taken = _claim_folder("sweep", scenario, overrides, sc, None, settings, SWEEP_FILES, sub="sweep")
            out = taken.folder / SWEEP_FILES[0]
        else:
            out = _check_out_file(out)
        with session(where):
            frame = run_sweep(sc, replicates, seed, where, engine, progress=not as_json).to_frame()
    _few_replicates(reps)
    if taken is not None:
        taken.begin()
    write_csv_atomic(out, frame)
    if taken is not None:
        taken.finish(SWEEP_FILES)
    if as_json:
        _echo_json({"grid": frame.to_dict(orient="records"), "out": str(out)})
    else:
        click.echo(_table(frame.round(4)))
        click.echo(f"\nsweep written to {out}")


# ----------------------------------------------------------------------------- run


@cli.command()
@scenario_arg
@simulation_opts
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Results folder: new, empty, or an earlier run of the same scenario (default "
                   "results/<scenario-name>/, or results/<scenario-name>-<hash>/ when --set changes the scenario).")
@set_opt
def run(scenario: Path, replicates: int | None, seed: int | None, jobs: int | None, backend: str,
        scheduler: str | None, engine: str, out_dir: Path | None, overrides: tuple[str, ...],
        max_memory: str | None, max_minutes: str | None) -> None:
    """The main job: power, sample size, sweep, an example trial, plots and report.html."""
    from simulate.parallel import session
    from simulate.pipeline import plan_run, run_all, run_files, run_settings

    sc = _load(scenario, overrides)
    settings = run_settings(sc.simulation.seed if seed is None else seed,
                            sc.simulation.replicates if replicates is None else replicates, engine)
    where = _backend(backend, jobs, scheduler)
    tell = (lambda what: click.echo(f"  {what}", err=True)) if sys.stderr.isatty() else None
    reps = replicates or sc.simulation.replicates
    with _planned(lambda: plan_run(sc, reps, jobs, engine), max_memory, max_minutes):
        taken = _claim_folder("run", scenario, overrides, sc, out_dir, settings, run_files(sc))
        out_dir = taken.folder
        _few_replicates(reps)
        with session(where):
            click.echo(f"Running '{sc.name}' into {out_dir}/ ...", err=True)
            results = run_all(sc, out_dir, seed, replicates, where, engine, scenario_path=scenario,
                              overrides=overrides, progress=True, on_piece=tell, claim=taken)
    click.echo("\n".join(results.summary))
    click.echo(f"\nresults, plots and report.html written to {out_dir}/")


# ----------------------------------------------------------------------------- teach


TEACH_INSTALL_HINT = "pip install 'trialsim[teach]'"
DEFAULT_TEACH_SCENARIO = "nct04743739"


def _check_port_free(port: int) -> None:
    """Before starting: 127.0.0.1:port can be listened on."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)       # as the server itself binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError as err:
            raise UsageError(f"--port: got {port}; 127.0.0.1:{port} cannot be used ({err.strerror or err}); "
                             "choose another, e.g. --port 8050") from None


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="Port of the lab on 127.0.0.1.")
def teach(scenario: Path | None, port: int) -> None:
    """The teaching lab in the browser: design a trial, watch one run, simulate many
    (default scenario: the registered NCT04743739 design)."""
    try:
        import shiny
    except ImportError:
        raise UsageError(f"teach: the teaching lab needs Shiny for Python; install it with: {TEACH_INSTALL_HINT}") from None
    path = scenario if scenario is not None else Path(DEFAULT_TEACH_SCENARIO)
    sc = _load(path, ())
    _check_port_free(port)
    from simulate.teach.app import build_app

    click.echo(f"trialsim teaching lab for '{sc.name}' at http://127.0.0.1:{port}/ (Ctrl-C to stop)", err=True)
    shiny.run_app(build_app(path, sc), host="127.0.0.1", port=port, launch_browser=False, dev_mode=False,
                  log_level="warning")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: workers are closed and nothing is left half-written."""


_TERMINATED = False


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001 - the signal handler's signature
    import signal

    global _TERMINATED
    _TERMINATED = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)      # a second SIGTERM does not cut the clean-up short
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: SIGTERM is handled like Ctrl-C while it runs."""
    import signal
    import threading

    global _TERMINATED
    _TERMINATED = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(args: list[str]) -> int:
    try:
        # not cli.main(): it prints a blank line of its own on Ctrl-C
        with cli.make_context("trialsim", args) as ctx:
            cli.invoke(ctx)
    except TrialSimError as err:
        for line in err.problems:
            click.echo(f"error: {line}", err=True)
        return EXIT_USAGE
    except (click.exceptions.Abort, KeyboardInterrupt) as err:
        if _TERMINATED or isinstance(err, _Terminated):
            click.echo("terminated", err=True)
            return 143
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as err:
        if type(err).__name__ == "NoArgsIsHelpError":    # plain `trialsim`: the help, no error
            click.echo(err.format_message(), err=True)
            return err.exit_code
        # a bad flag: one line naming the option, the value and what is allowed
        hint = ""
        if isinstance(err, click.UsageError) and err.ctx is not None:
            hint = f" (see: {err.ctx.command_path} --help)"
        click.echo(f"error: {err.format_message()}{hint}", err=True)
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    except BrokenPipeError:                              # the reader went away (`| head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
