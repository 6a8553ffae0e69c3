"""Benchmarks of trialsim: how fast, how much memory, against a stated goal.

    .venv/bin/python benchmarks/run.py                 # every default benchmark
    .venv/bin/python benchmarks/run.py --only cohort   # one (repeatable: --only a --only b)
    .venv/bin/python benchmarks/run.py --all           # the heavy ones too (a million replicates)
    .venv/bin/python benchmarks/run.py --list

Each benchmark is a function registered in :data:`BENCHMARKS` with :func:`benchmark`. It gets the
loaded scenario and the size, and returns a zero-argument callable that does the timed work
(anything built before the callable is returned is set-up and is not timed). The runner calls it
once as a warm-up, then ``--repeat`` times (default 3), and reports the best time. Memory is
measured during one extra, untimed call, two ways: ``py MB``, the peak of Python-level
allocations in this process (tracemalloc, which numpy reports to), and ``RSS MB``, the peak of
the summed resident memory of this process and all its children (the parallel workers),
sampled every 50 ms from /proc (Linux; shared pages count once per process, so it errs high).
A *heavy* benchmark runs once, without warm-up or tracemalloc, and that run is both timed and
sampled.

Add a benchmark:

    @benchmark("power", size=2_000, unit="trials", goal_seconds=30.0, engine="batch")
    def bench_power(scenario, size):
        from simulate.run.power import estimate_power
        return lambda: estimate_power(scenario, size, 1, 1, "batch", progress=False)

Exit code: 0 if every benchmark met its goals (time, and memory where one is set), 1 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

DEFAULT_SCENARIO = ROOT / "scenarios" / "nct04743739.toml"


@dataclass(frozen=True)
class Benchmark:
    name: str
    setup: Callable[[Any, int], Callable[[], Any]]
    size: int
    unit: str
    goal_seconds: float
    description: str
    engine: str = "-"
    goal_mb: float | None = None
    """Goal for the peak resident memory of the process tree (RSS MB), if any."""
    heavy: bool = False
    """Run once (no warm-up, no tracemalloc) and only with --all or --only."""


BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, *, size: int, unit: str, goal_seconds: float, engine: str = "-",
              goal_mb: float | None = None, heavy: bool = False):
    """Register ``fn(scenario, size) -> work`` as benchmark ``name``."""
    def register(fn: Callable[[Any, int], Callable[[], Any]]) -> Callable[[Any, int], Callable[[], Any]]:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        BENCHMARKS[name] = Benchmark(name, fn, size, unit, goal_seconds, doc[0] if doc else "",
                                     engine, goal_mb, heavy)
        return fn
    return register


# --------------------------------------------------------------------------- benchmarks


@benchmark("cohort", size=1_000_000, unit="patients", goal_seconds=2.0)
def bench_cohort(scenario, size: int) -> Callable[[], Any]:
    """Draw and screen N referred patients of the scenario (draw_cohort + screen)."""
    from simulate.population.cohort import draw_cohort
    from simulate.screening.screen import screen

    def work():
        patients = draw_cohort(scenario.cohort, size, 20210414)
        return screen(patients, scenario.eligibility)

    return work


@benchmark("des_trial", size=200, unit="trials", goal_seconds=1.0, engine="des")
def bench_des_trial(scenario, size: int) -> Callable[[], Any]:
    """One trial at a time through the DES (fates + simpy, detail off): goal median <= 5 ms a trial."""
    from simulate.engines.des import simulate_trial
    from simulate.fates.draw import draw_fates
    from simulate.seeding import block_sequence

    def work():
        for seed in range(size):
            simulate_trial(scenario, draw_fates(scenario, block_sequence(seed, 0), 1), 0, detail=False)

    return work


@benchmark("power_des", size=1_000, unit="trials", goal_seconds=5.0, engine="des")
def bench_power_des(scenario, size: int) -> Callable[[], Any]:
    """Power of the registered scenario with the DES engine on 2 jobs."""
    from simulate.run.power import estimate_power

    return lambda: estimate_power(scenario, size, 1, 2, "des")


@benchmark("power_batch", size=10_000, unit="trials", goal_seconds=1.0, engine="batch")
def bench_power_batch(scenario, size: int) -> Callable[[], Any]:
    """Power of the registered scenario with the batch engine on 2 jobs (full model, Fisher)."""
    from simulate.run.power import estimate_power

    return lambda: estimate_power(scenario, size, 1, 2, "batch")


ONE_SIDED_Z = ('analysis.alternative="greater"', 'analysis.test="ztest"', "analysis.alpha=0.025")
TWO_LOOKS = ("interim.information_fractions=[0.5, 1.0]", 'interim.futility="beta_spending"')
INTERIM_COST_FACTOR = 2.0
"""A two-look design may cost at most this many times the fixed design's time per trial."""


@benchmark("power_fixed_1job", size=10_000, unit="trials", goal_seconds=3.0, engine="batch")
def bench_power_fixed(scenario, size: int) -> Callable[[], Any]:
    """The registered scenario's fixed design, one-sided z-test, on 1 job: the reference for power_interim_1job."""
    from simulate.design.loader import with_overrides, parse_override
    from simulate.run.power import estimate_power

    fixed = with_overrides(scenario, dict(_parsed(ONE_SIDED_Z, parse_override)))
    return lambda: estimate_power(fixed, size, 1, 1, "batch")


@benchmark("power_interim_1job", size=10_000, unit="trials", goal_seconds=6.0, engine="batch")
def bench_power_interim(scenario, size: int) -> Callable[[], Any]:
    """The same with an interim look at half the endpoints (OBF efficacy, beta-spending futility): goal at most 2x the fixed design's time."""
    from simulate.design.loader import with_overrides, parse_override
    from simulate.run.power import estimate_power

    looks = with_overrides(scenario, dict(_parsed(ONE_SIDED_Z + TWO_LOOKS, parse_override)))
    return lambda: estimate_power(looks, size, 1, 1, "batch")


WALD = ('analysis.test="wald"',)
MI = ('analysis.test="wald"', 'analysis.missing="mi_mar"', "analysis.imputations=20")
MI_COST_FACTOR = 5.0
"""Multiple imputation (20 imputations) may cost at most this many times the same analysis
without it."""


@benchmark("power_wald_1job", size=10_000, unit="trials", goal_seconds=3.0, engine="batch")
def bench_power_wald(scenario, size: int) -> Callable[[], Any]:
    """The registered scenario analysed by the Wald test, dropouts as non-responders, on 1 job: the reference for power_mi_1job."""
    from simulate.design.loader import with_overrides, parse_override
    from simulate.run.power import estimate_power

    plain = with_overrides(scenario, dict(_parsed(WALD, parse_override)))
    return lambda: estimate_power(plain, size, 1, 1, "batch")


@benchmark("power_mi_1job", size=10_000, unit="trials", goal_seconds=15.0, engine="batch")
def bench_power_mi(scenario, size: int) -> Callable[[], Any]:
    """The same with the missing endpoints multiply imputed under MAR (20 imputations, Rubin's rules): goal at most 5x power_wald_1job."""
    from simulate.design.loader import with_overrides, parse_override
    from simulate.run.power import estimate_power

    imputed = with_overrides(scenario, dict(_parsed(MI, parse_override)))
    return lambda: estimate_power(imputed, size, 1, 1, "batch")


BAYES = ('analysis.framework="bayesian"', 'analysis.test="posterior"', 'analysis.alternative="greater"')
HISTORY = ('historical=[{name = "MENTOR", responders = 39, n = 65}, {name = "RI-CYCLO", responders = 23, n = 37}]',
           "arms.rtx.analysis_prior={ meta_analytic = true, robust_weight = 0.2 }")
DESIGN_PRIORS = ("arms.rtx.design_prior={ beta = [40, 27] }",
                 "arms.rtx_csa.design_prior={ mixture = [[0.7, 17, 3], [0.3, 40, 27]] }",
                 'outcome.rates_from="design_prior"')
BAYES_COST_FACTOR = 1.5
"""A Bayesian rule, a borrowed (MAP) prior or trials drawn from design priors may cost at most
this many times the frequentist fixed design's time per trial."""


def _power_with(scenario, size: int, overrides) -> Callable[[], Any]:
    from simulate.design.loader import with_overrides, parse_override
    from simulate.run.power import estimate_power

    from simulate.analysis.posterior import forget_tables

    design = with_overrides(scenario, dict(_parsed(overrides, parse_override)))
    estimate_power(design, 50, 1, 1, "batch")          # set-up (calibration, MAP prior) outside the timing

    def work():
        forget_tables()                                # each run meets its tables afresh, as a new command
        return estimate_power(design, size, 1, 1, "batch")

    return work


@benchmark("power_bayes_1job", size=10_000, unit="trials", goal_seconds=4.5, engine="batch")
def bench_power_bayes(scenario, size: int) -> Callable[[], Any]:
    """The registered scenario with the posterior-probability rule under flat priors, on 1 job: goal at most 1.5x power_fixed_1job."""
    return _power_with(scenario, size, BAYES)


@benchmark("power_borrowing_1job", size=10_000, unit="trials", goal_seconds=4.5, engine="batch")
def bench_power_borrowing(scenario, size: int) -> Callable[[], Any]:
    """The same with the control's MAP prior from two earlier trials (a beta mixture), on 1 job: goal at most 1.5x power_fixed_1job."""
    return _power_with(scenario, size, (*BAYES, *HISTORY))


@benchmark("power_assurance_1job", size=10_000, unit="trials", goal_seconds=4.5, engine="batch")
def bench_power_assurance(scenario, size: int) -> Callable[[], Any]:
    """The one-sided z-test's trials drawing their rates from design priors, on 1 job: goal at most 1.5x power_fixed_1job."""
    return _power_with(scenario, size, (*ONE_SIDED_Z, *DESIGN_PRIORS))


G_COMPUTATION = ('analysis.alternative="greater"', "analysis.alpha=0.025", 'analysis.adjustment="g_computation"',
                 'analysis.test="g_computation"', 'analysis.adjust_for=["log2(pla2r_titre_ru_ml)", "proteinuria_g_day"]')
ADJUSTMENT_COST_FACTOR = 3.0
"""A g-computation (a logistic fit per trial and comparison) may cost at most this many times the
unadjusted fixed design's time per trial."""


@benchmark("power_gcomp_1job", size=10_000, unit="trials", goal_seconds=9.0, engine="batch")
def bench_power_gcomp(scenario, size: int) -> Callable[[], Any]:
    """The registered scenario analysed by g-computation adjusted for titre and proteinuria, one-sided, on 1 job: goal at most 3x power_fixed_1job."""
    return _power_with(scenario, size, G_COMPUTATION)


@benchmark("map_prior", size=1, unit="priors", goal_seconds=1.0)
def bench_map_prior(scenario, size: int) -> Callable[[], Any]:
    """A meta-analytic-predictive prior derived from two trials, uncached: goal under 1 s."""
    from simulate.analysis.map_prior import map_prior

    return lambda: [map_prior([39, 23], [65, 37], 0.5, 0.2) for _ in range(size)]


RELATIVE_GOALS = {"power_interim_1job": ("power_fixed_1job", INTERIM_COST_FACTOR),
                  "power_mi_1job": ("power_wald_1job", MI_COST_FACTOR),
                  "power_bayes_1job": ("power_fixed_1job", BAYES_COST_FACTOR),
                  "power_borrowing_1job": ("power_fixed_1job", BAYES_COST_FACTOR),
                  "power_assurance_1job": ("power_fixed_1job", BAYES_COST_FACTOR),
                  "power_gcomp_1job": ("power_fixed_1job", ADJUSTMENT_COST_FACTOR)}
"""Benchmarks whose goal is a multiple of another's time, measured just before them."""


def _parsed(overrides, parse) -> list[tuple[str, Any]]:
    return [(".".join(path), value) for path, value in map(parse, overrides)]


@benchmark("power_batch_million", size=1_000_000, unit="trials", goal_seconds=300.0, engine="batch",
           goal_mb=1024.0, heavy=True)
def bench_power_batch_million(scenario, size: int) -> Callable[[], Any]:
    """A million replicates with the batch engine on 2 jobs: memory stays under 1 GB."""
    from simulate.run.power import estimate_power

    return lambda: estimate_power(scenario, size, 1, 2, "batch")


# --------------------------------------------------------------------------- cold starts
#
# What a user waits for: the installed command, started as a new process (imports included),
# timed from the outside. The warm-up run fills the file-system cache, as any second use does.

RPACT_SECONDS_MEASURED_HERE = 1.1
"""Seconds R's rpact took here for the script below (library load included), on the machine the
benchmarks page (docs/pages/benchmarks.md) names; the comparison's goal when R and rpact are not installed."""
RPACT_SCRIPT = """
suppressMessages(library(rpact))
design <- getDesignGroupSequential(kMax = 1, alpha = 0.025, sided = 1)   # rpact simulates one-sided tests
sim <- getSimulationRates(design, groups = 2, pi1 = 0.85, pi2 = 0.60, plannedSubjects = 126,
                          maxNumberOfIterations = 10000, seed = 20210414)
cat(sim$overallReject, "\\n")
"""


def trialsim_command() -> list[str]:
    """The console script beside this interpreter (the project's venv), else ``python -m``."""
    exe = Path(sys.executable).parent / "trialsim"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "simulate.cli"]


def _subprocess_work(args: list[str]) -> Callable[[], Any]:
    import subprocess

    def work():
        proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    return work


def rpact_seconds(repeat: int = 3) -> float | None:
    """Best time of the rpact script on this machine, or None without R and rpact."""
    import shutil
    import subprocess

    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    best = None
    for _ in range(repeat + 1):                   # the first run is the warm-up
        t0 = time.perf_counter()
        proc = subprocess.run([rscript, "-e", RPACT_SCRIPT], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            return None                           # R without rpact
        best = seconds if best is None else min(best, seconds)
    return best


@benchmark("cold_validate", size=1, unit="runs", goal_seconds=0.3)
def bench_cold_validate(scenario, size: int) -> Callable[[], Any]:
    """`trialsim validate` as a new process, imports included: goal <= 0.3 s."""
    return _subprocess_work([*trialsim_command(), "validate", str(SCENARIO_PATH[0])])


WITHOUT_EVENTS = ["--set", "intercurrent={}", "--set", "estimand={}"]
"""The registered design without its intercurrent events: the two-proportion problem rpact's
script simulates (trialsim still recruits, screens and follows every patient)."""


@benchmark("cold_power_10k", size=10_000, unit="trials", goal_seconds=RPACT_SECONDS_MEASURED_HERE,
           engine="batch")
def bench_cold_power(scenario, size: int) -> Callable[[], Any]:
    """`trialsim power --replicates N --no-null-world` as a new process (default jobs), the design
    without its intercurrent events: no slower than rpact's getSimulationRates for as many trials
    (measured here when R and rpact are installed). rpact's script simulates the alternative only,
    so the null world beside the power (the command's default) is left out here."""
    return _subprocess_work([*trialsim_command(), "power", str(SCENARIO_PATH[0]), "--replicates", str(size),
                             "--json", "--no-null-world", *WITHOUT_EVENTS])


@benchmark("cold_power_10k_estimand", size=10_000, unit="trials", goal_seconds=3.2, engine="batch")
def bench_cold_power_estimand(scenario, size: int) -> Callable[[], Any]:
    """`trialsim power --replicates N` as a new process (default jobs), the scenario as shipped
    (the registered one carries intercurrent events and their estimand's true value), with the
    null world beside the power (twice the trials): goal <= 3.2 s, 1.6 s per N trials."""
    return _subprocess_work([*trialsim_command(), "power", str(SCENARIO_PATH[0]), "--replicates", str(size),
                             "--json"])


@benchmark("cold_samplesize", size=2_000, unit="trials/n", goal_seconds=1.5, engine="batch")
def bench_cold_samplesize(scenario, size: int) -> Callable[[], Any]:
    """`trialsim samplesize` as a new process (default jobs, N trials per n searched): goal <= 1.5 s."""
    return _subprocess_work([*trialsim_command(), "samplesize", str(SCENARIO_PATH[0]), "--replicates", str(size),
                             "--json"])


@benchmark("cold_run", size=2_000, unit="trials/design", goal_seconds=6.0, engine="batch")
def bench_cold_run(scenario, size: int) -> Callable[[], Any]:
    """`trialsim run` as a new process into a new folder (the main job: power, both sample-size
    searches, the sweep, the example trial, the figures and the report): goal <= 6 s."""
    import shutil
    import tempfile

    def work():
        out = Path(tempfile.mkdtemp(prefix="trialsim-bench-run-"))
        try:
            return _subprocess_work([*trialsim_command(), "run", str(SCENARIO_PATH[0]), "--replicates", str(size),
                                     "--out", str(out / "run")])()
        finally:
            shutil.rmtree(out, ignore_errors=True)

    return work


@benchmark("teach_many_trials", size=2_000, unit="trials", goal_seconds=2.0, engine="batch")
def bench_teach_many(scenario, size: int) -> Callable[[], Any]:
    """The teaching lab's Many trials view, warm (default jobs): power and its two figures as PNG: goal <= 2 s."""
    from simulate.design.loader import with_overrides
    from simulate.report.drawing import close_figure, figure_png
    from simulate.teach import figures, lab

    design = with_overrides(scenario, {"simulation.replicates": size})

    def work():
        many = lab.many_trials(design)
        for fig in (figures.estimates(many, "remission"), figures.p_values(many, design.analysis.alpha)):
            figure_png(fig, 120)
            close_figure(fig)
        return many

    return work


@benchmark("teach_how_many", size=2_000, unit="trials per n", goal_seconds=3.0, engine="batch")
def bench_teach_how_many(scenario, size: int) -> Callable[[], Any]:
    """The teaching lab's How many patients? view, warm (the lab's own threads): the search for
    80% and 90% power and its figure as PNG: goal <= 3 s."""
    from simulate.design.loader import with_overrides
    from simulate.report import power_plots
    from simulate.report.drawing import close_figure, figure_png
    from simulate.run.prepared import prepare
    from simulate.teach import lab

    design = with_overrides(scenario, {"simulation.replicates": size})
    prepare(design)                                    # the lab warms its design before the first click

    def work():
        plan = lab.how_many(design)
        fig = power_plots.power_curve(plan.curve, plan.closed_form, {s.target: s.n_per_arm for s in plan.searches},
                                      design.trial.n_per_arm, size, alpha=design.analysis.alpha)
        figure_png(fig, 120)
        close_figure(fig)
        return plan

    return work


TEACH_START_SECONDS = 60.0


@benchmark("cold_teach", size=1, unit="runs", goal_seconds=5.0, heavy=True)
def bench_cold_teach(scenario, size: int) -> Callable[[], Any]:
    """`trialsim teach` as a new process until its page answers on 127.0.0.1 (needs the teach extra)."""
    import socket
    import subprocess
    import urllib.request

    def work():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([*trialsim_command(), "teach", str(SCENARIO_PATH[0]), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        try:
            deadline = time.monotonic() + TEACH_START_SECONDS
            while True:
                try:
                    return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).status
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        proc.terminate()
                        _, err = proc.communicate(timeout=30)
                        raise RuntimeError(f"trialsim teach did not start: {err.decode().strip()}")
                    time.sleep(0.02)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    return work


SCENARIO_PATH = [DEFAULT_SCENARIO]
"""The scenario file the cold-start benchmarks give the command (set by --scenario)."""


# --------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class Result:
    name: str
    engine: str
    size: int
    unit: str
    seconds: float
    py_mb: float | None
    rss_mb: float | None
    goal_seconds: float
    goal_mb: float | None

    @property
    def rate(self) -> float:
        return self.size / self.seconds if self.seconds > 0 else float("inf")

    @property
    def passed(self) -> bool:
        memory_ok = self.goal_mb is None or (self.rss_mb is not None and self.rss_mb <= self.goal_mb)
        return self.seconds <= self.goal_seconds and memory_ok


def _tree_rss_mb(root: int | None = None) -> float | None:
    """Summed resident memory of a process (default: this one) and its descendants (None off Linux)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except OSError:
            continue
        parent[int(entry.name)] = int(fields.get("PPid", "0").strip() or 0)
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    root = os.getpid() if root is None else root
    mine, todo = {root}, [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in mine]
        mine.update(kids)
        todo.extend(kids)
    return sum(rss.get(p, 0) for p in mine) / 1024.0


class RssSampler:
    """Samples the process tree's resident memory in a thread; ``peak`` after the block."""

    def __init__(self, interval: float = 0.05, root: int | None = None):
        self.interval, self.peak, self.root = interval, None, root
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = _tree_rss_mb(self.root)
            if now is not None:
                self.peak = now if self.peak is None else max(self.peak, now)
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_one(b: Benchmark, scenario, size: int, repeat: int) -> Result:
    work = b.setup(scenario, size)
    if b.heavy:
        gc.collect()
        with RssSampler() as sampler:
            t0 = time.perf_counter()
            work()
            seconds = time.perf_counter() - t0
        return Result(b.name, b.engine, size, b.unit, seconds, None, sampler.peak, b.goal_seconds, b.goal_mb)
    work()  # warm-up: imports, caches, page faults
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    gc.collect()
    tracemalloc.start()
    try:
        with RssSampler() as sampler:
            work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Result(b.name, b.engine, size, b.unit, min(times), peak / 2**20, sampler.peak, b.goal_seconds, b.goal_mb)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    import numpy as np

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "numpy": np.__version__,
    }


def fmt_rate(rate: float, unit: str) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rate >= scale:
            return f"{rate / scale:.2f} {suffix}{unit}/s"
    return f"{rate:.1f} {unit}/s"


def table(results: list[Result]) -> str:
    head = ["benchmark", "engine", "size", "seconds", "rate", "py MB", "RSS MB", "goal", "result"]
    mb = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
    rows = [[r.name, r.engine, f"{r.size:,} {r.unit}", f"{r.seconds:.3f}", fmt_rate(r.rate, r.unit),
             mb(r.py_mb), mb(r.rss_mb),
             f"<= {r.goal_seconds:g} s" + (f", {r.goal_mb:g} MB" if r.goal_mb is not None else ""),
             "PASS" if r.passed else "FAIL"]
            for r in results]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time trialsim's benchmarks against their goals.")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable); one of: {', '.join(sorted(BENCHMARKS))}")
    parser.add_argument("--all", action="store_true", help="run the heavy benchmarks too")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenario file (default: %(default)s)")
    parser.add_argument("--size", type=int, default=None, help="override every benchmark's size")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up; best is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)

    if args.list:
        for b in BENCHMARKS.values():
            heavy = " (heavy: --all or --only)" if b.heavy else ""
            print(f"{b.name:<20} {b.size:>12,} {b.unit:<10} goal <= {b.goal_seconds:g} s   {b.description}{heavy}")
        return 0
    if args.repeat < 1 or (args.size is not None and args.size < 1):
        parser.error("--repeat and --size must be >= 1")

    from simulate.errors import TrialSimError
    from simulate.design.loader import load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except TrialSimError as err:
        for line in err.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2

    names = args.only or [n for n, b in BENCHMARKS.items() if args.all or not b.heavy]
    SCENARIO_PATH[0] = args.scenario
    rpact = rpact_seconds(args.repeat) if "cold_power_10k" in names else None
    if rpact is not None:
        b = BENCHMARKS["cold_power_10k"]
        BENCHMARKS["cold_power_10k"] = Benchmark(b.name, b.setup, b.size, b.unit, round(rpact, 2), b.description,
                                                 b.engine, b.goal_mb, b.heavy)
    results = []
    for n in names:
        b = BENCHMARKS[n]
        against, factor = RELATIVE_GOALS.get(n, (None, 1.0))
        reference = next((r for r in results if r.name == against), None)
        if reference is not None:                     # relative goal: against the reference just timed
            b = Benchmark(b.name, b.setup, b.size, b.unit, round(factor * reference.seconds, 3),
                          b.description, b.engine, b.goal_mb, b.heavy)
        results.append(run_one(b, scenario, args.size or b.size, args.repeat))
    info = machine()
    if args.json:
        print(json.dumps({
            "machine": info, "scenario": str(args.scenario), "repeat": args.repeat,
            "results": [{"benchmark": r.name, "engine": r.engine, "size": r.size, "unit": r.unit,
                         "seconds": r.seconds, "rate_per_second": r.rate, "py_peak_mb": r.py_mb,
                         "rss_peak_mb": r.rss_mb, "goal_seconds": r.goal_seconds, "goal_mb": r.goal_mb,
                         "passed": r.passed} for r in results],
        }, indent=2))
    else:
        print(table(results))
        by = {r.name: r for r in results}
        if "power_des" in by and "power_batch" in by:
            ratio = by["power_batch"].rate / by["power_des"].rate
            print(f"\nbatch engine / DES engine, trials per second: {ratio:.1f}x")
        if "cold_power_10k" in by:
            where = (f"rpact measured now: {rpact:.2f} s" if rpact is not None else
                     f"R/rpact not installed: goal is rpact's {RPACT_SECONDS_MEASURED_HERE:g} s measured on the "
                     "machine below (see docs/pages/benchmarks.md)")
            print(f"\ncold_power_10k goal: rpact getSimulationRates, 10,000 trials, library load included ({where})")
        print(f"\nbest of {args.repeat} after one warm-up (heavy: one run); py MB = peak Python allocations "
              "of this process (tracemalloc); RSS MB = peak resident memory of this process and its workers")
        print(f"machine: {info['platform']}; CPU {info['cpu']}, {info['cores']} cores "
              f"({info['cores_usable']} usable); Python {info['python']}; numpy {info['numpy']}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
