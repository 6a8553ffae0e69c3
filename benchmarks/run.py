"""Benchmarks of trialsim: how fast, how much memory, against a stated goal.

    .venv/bin/python benchmarks/run.py                 # every benchmark
    .venv/bin/python benchmarks/run.py --only cohort   # one (repeatable: --only a --only b)
    .venv/bin/python benchmarks/run.py --list

Each benchmark is a function registered in :data:`BENCHMARKS` with :func:`benchmark`. It gets the
loaded scenario and the size, and returns a zero-argument callable that does the timed work
(anything built before the callable is returned is set-up and is not timed). The runner calls it
once as a warm-up, then ``--repeat`` times (default 3), and reports the best time. Peak memory
is the peak of Python-level allocations (tracemalloc, which numpy reports to) during one extra,
untimed call, so tracing never slows the timed runs.

Add a benchmark:

    @benchmark("power", size=2_000, unit="trials", goal_seconds=30.0)
    def bench_power(scenario, size):
        from simulate.power import estimate_power
        return lambda: estimate_power(scenario, size, 1, 1, "batch", progress=False)

Exit code: 0 if every benchmark met its goal, 1 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
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


BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, *, size: int, unit: str, goal_seconds: float):
    """Register ``fn(scenario, size) -> work`` as benchmark ``name``."""
    def register(fn: Callable[[Any, int], Callable[[], Any]]) -> Callable[[Any, int], Callable[[], Any]]:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        BENCHMARKS[name] = Benchmark(name, fn, size, unit, goal_seconds, doc[0] if doc else "")
        return fn
    return register


# --------------------------------------------------------------------------- benchmarks


@benchmark("cohort", size=1_000_000, unit="patients", goal_seconds=2.0)
def bench_cohort(scenario, size: int) -> Callable[[], Any]:
    """Draw and screen N referred patients of the scenario (draw_cohort + screen)."""
    from simulate.cohort import draw_cohort
    from simulate.eligibility import screen

    def work():
        patients = draw_cohort(scenario.cohort, size, 20210414)
        return screen(patients, scenario.eligibility)

    return work


@benchmark("des_trial", size=200, unit="trials", goal_seconds=1.0)
def bench_des_trial(scenario, size: int) -> Callable[[], Any]:
    """One trial at a time through the DES (fates + simpy, detail off): goal median <= 5 ms a trial."""
    from simulate.engines.des import simulate_trial
    from simulate.fates import draw_fates
    from simulate.seeding import block_sequence

    def work():
        for seed in range(size):
            simulate_trial(scenario, draw_fates(scenario, block_sequence(seed, 0), 1), 0, detail=False)

    return work


@benchmark("power_des", size=1_000, unit="trials", goal_seconds=5.0)
def bench_power_des(scenario, size: int) -> Callable[[], Any]:
    """Power of the registered scenario with the DES engine on 2 jobs."""
    from simulate.power import estimate_power

    return lambda: estimate_power(scenario, size, 1, 2, "des")


@benchmark("power_batch", size=10_000, unit="trials", goal_seconds=1.0)
def bench_power_batch(scenario, size: int) -> Callable[[], Any]:
    """Power of the registered scenario with the batch engine on 2 jobs (full model, Fisher)."""
    from simulate.power import estimate_power

    return lambda: estimate_power(scenario, size, 1, 2, "batch")


# --------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class Result:
    name: str
    size: int
    unit: str
    seconds: float
    peak_mb: float
    goal_seconds: float

    @property
    def rate(self) -> float:
        return self.size / self.seconds if self.seconds > 0 else float("inf")

    @property
    def passed(self) -> bool:
        return self.seconds <= self.goal_seconds


def run_one(b: Benchmark, scenario, size: int, repeat: int) -> Result:
    work = b.setup(scenario, size)
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
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Result(b.name, size, b.unit, min(times), peak / 2**20, b.goal_seconds)


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
    head = ["benchmark", "size", "seconds", "rate", "peak MB", "goal", "result"]
    rows = [[r.name, f"{r.size:,} {r.unit}", f"{r.seconds:.3f}", fmt_rate(r.rate, r.unit),
             f"{r.peak_mb:.0f}", f"<= {r.goal_seconds:g} s", "PASS" if r.passed else "FAIL"]
            for r in results]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time trialsim's benchmarks against their goals.")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable); one of: {', '.join(sorted(BENCHMARKS))}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenario file (default: %(default)s)")
    parser.add_argument("--size", type=int, default=None, help="override every benchmark's size")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up; best is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)

    if args.list:
        for b in BENCHMARKS.values():
            print(f"{b.name:<12} {b.size:>12,} {b.unit:<10} goal <= {b.goal_seconds:g} s   {b.description}")
        return 0
    if args.repeat < 1 or (args.size is not None and args.size < 1):
        parser.error("--repeat and --size must be >= 1")

    from simulate.errors import TrialSimError
    from simulate.scenario import load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except TrialSimError as err:
        for line in err.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2

    names = args.only or list(BENCHMARKS)
    results = [run_one(BENCHMARKS[n], scenario, args.size or BENCHMARKS[n].size, args.repeat) for n in names]
    info = machine()
    if args.json:
        print(json.dumps({
            "machine": info, "scenario": str(args.scenario), "repeat": args.repeat,
            "results": [{"benchmark": r.name, "size": r.size, "unit": r.unit, "seconds": r.seconds,
                         "rate_per_second": r.rate, "peak_mb": r.peak_mb, "goal_seconds": r.goal_seconds,
                         "passed": r.passed} for r in results],
        }, indent=2))
    else:
        print(table(results))
        by = {r.name: r for r in results}
        if "power_des" in by and "power_batch" in by:
            ratio = by["power_batch"].rate / by["power_des"].rate
            print(f"\nbatch engine / DES engine, trials per second: {ratio:.1f}x")
        print(f"\nbest of {args.repeat} after one warm-up; peak MB = peak traced allocations (tracemalloc)")
        print(f"machine: {info['platform']}; CPU {info['cpu']}, {info['cores']} cores "
              f"({info['cores_usable']} usable); Python {info['python']}; numpy {info['numpy']}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
