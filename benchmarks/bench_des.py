"""Benchmark: one trial of the registered scenario through the discrete-event engine.

Times what a power run does per replicate with the DES: draw the trial's fates
(``draw_fates(scenario, block_sequence(seed, 0), 1)``) and run it with ``detail=False``, over
~200 seeds after a warm-up (the outcome model's calibration is cached per scenario, so it is paid
once, in the warm-up). The story mode (``detail=True``: event log, visits, lab values) is timed
separately and reported for information; the goal applies to the fast path. Also reported:
the mean cost per trial when a whole block's fates are drawn at once (``per_trial_in_block_ms``,
as ``simulate.engines.blocks.simulate_block`` does).

Run as a script (``python benchmarks/bench_des.py``) to print the result as JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from simulate.engines.des import simulate_trial  # noqa: E402
from simulate.fates.draw import draw_fates  # noqa: E402
from simulate.population.outcomes import calibrate  # noqa: E402
from simulate.design.loader import load_scenario  # noqa: E402
from simulate.seeding import block_sequence  # noqa: E402

SCENARIO = ROOT / "scenarios" / "nct04743739.toml"
GOAL_MS = 5.0
N_SEEDS = 200
N_WARMUP = 10
N_SEEDS_DETAIL = 50
FIRST_SEED = 1000
"""Timed seeds are FIRST_SEED, FIRST_SEED + 1, ...; warm-up seeds are 0 .. N_WARMUP - 1."""


def _time_one(scenario, seed: int, detail: bool) -> tuple[float, float, float]:
    """(fates ms, DES ms, CPU ms of both) for trial 0 of block 0 of ``seed`` (wall clock, and
    process CPU time, which other jobs on a busy machine disturb less)."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    fates = draw_fates(scenario, block_sequence(seed, 0), 1)
    t1 = time.perf_counter()
    simulate_trial(scenario, fates, 0, detail=detail)
    t2 = time.perf_counter()
    c1 = time.process_time()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3, (c1 - c0) * 1e3


def _summary(ms: list[float]) -> dict:
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3),
            "min_ms": round(min(ms), 3), "max_ms": round(max(ms), 3), "n_seeds": len(ms)}


def bench_one_trial(n_seeds: int = N_SEEDS, n_seeds_detail: int = N_SEEDS_DETAIL, n_warmup: int = N_WARMUP) -> dict:
    """Time one trial (fates + DES, detail=False) of the registered scenario; the story mode
    (detail=True) is timed separately under ``"detail"``."""
    scenario = load_scenario(SCENARIO)
    calibrate(scenario)
    for seed in range(n_warmup):
        _time_one(scenario, seed, detail=False)
        _time_one(scenario, seed, detail=True)

    fates_ms, des_ms, cpu_ms = [], [], []
    for seed in range(FIRST_SEED, FIRST_SEED + n_seeds):
        f, d, c = _time_one(scenario, seed, detail=False)
        fates_ms.append(f)
        des_ms.append(d)
        cpu_ms.append(c)
    total = [f + d for f, d in zip(fates_ms, des_ms)]

    detail_total = []
    for seed in range(FIRST_SEED, FIRST_SEED + n_seeds_detail):
        f, d, _ = _time_one(scenario, seed, detail=True)
        detail_total.append(f + d)

    # as a power run does it: one block's fates drawn at once, then each trial through the DES
    n_block = scenario.simulation.block_size
    t0 = time.perf_counter()
    fates = draw_fates(scenario, block_sequence(FIRST_SEED, 0), n_block)
    for i in range(n_block):
        simulate_trial(scenario, fates, i, detail=False)
    per_trial_in_block = (time.perf_counter() - t0) * 1e3 / n_block

    s = _summary(total)
    return {
        "benchmark": "des_one_trial",
        "median_ms": s["median_ms"],
        "p90_ms": s["p90_ms"],
        "goal": f"median <= {GOAL_MS:g} ms",
        "pass": bool(s["median_ms"] <= GOAL_MS),
        "scenario": scenario.name,
        "n_seeds": n_seeds,
        "fates_median_ms": round(statistics.median(fates_ms), 3),
        "des_median_ms": round(statistics.median(des_ms), 3),
        "cpu_median_ms": round(statistics.median(cpu_ms), 3),
        "per_trial_in_block_ms": round(per_trial_in_block, 3),
        "block_size": n_block,
        "detail": {**_summary(detail_total), "goal": "none (story mode, reported for information)"},
    }


if __name__ == "__main__":
    print(json.dumps(bench_one_trial(), indent=2))
