"""The resource plan against what the commands really use: estimated against measured peak
memory (all processes) and wall time.

    .venv/bin/python benchmarks/plan.py            # the shipped scenarios and the large cases
    .venv/bin/python benchmarks/plan.py --quick    # three cases
    .venv/bin/python benchmarks/plan.py --json

Each case is a ``trialsim`` command run as a new process (cold, as a user waits for it); its
process tree's resident memory is sampled every 20 ms from /proc. The estimate is what the
command plans before it starts (:mod:`simulate.run.plan`), for the same scenario, replicates and
jobs. A case passes when the estimated peak lies within a factor of 2 of the measured one;
the exit code is 1 if any case does not, or if a command meant to finish is refused.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import RssSampler, trialsim_command  # noqa: E402

FACTOR = 2.0
"""The estimate must lie within this factor of the measured peak."""

SHIPPED = ["nct04743739", "nct04743739_observed_accrual", "teaching_null", "teaching_small_pilot", "three_arm",
           "mentor", "starmen", "ri_cyclo"]
LARGE = [
    ("power", "nct04743739", ["--n-per-arm", "100000", "--replicates", "10"]),
    ("power", "nct04743739", ["--n-per-arm", "100000", "--replicates", "10", "--jobs", "1"]),
    ("power", "nct04743739", ["--replicates", "20000"]),
    ("power", "nct04743739", ["--replicates", "2000", "--set", "recruitment.rate_per_site_month=100"]),
    ("power", "nct04743739", ["--replicates", "500", "--set", "trial.hard_stop_months=600",
                              "--set", "trial.n_per_arm=2000"]),
    ("power", "three_arm", ["--replicates", "2000", "--set", "recruitment.sites=40", "--set", "trial.n_per_arm=2000"]),
    ("power", "nct04743739", ["--replicates", "200", "--engine", "des"]),
    ("samplesize", "nct04743739", ["--replicates", "1000"]),
    ("sweep", "nct04743739", ["--replicates", "1000", "--out", "{tmp}/sweep.csv"]),
    ("trial", "nct04743739", ["--out", "{tmp}/trial"]),
    ("trial", "nct04743739", ["--out", "{tmp}/trial-big", "--set", "recruitment.rate_per_site_month=100",
                              "--set", "trial.n_per_arm=2000"]),
    ("run", "nct04743739", ["--replicates", "1000", "--out", "{tmp}/run"]),
    ("cohort", "nct04743739", ["--n", "2000000"]),
]
QUICK = [("power", "nct04743739", ["--replicates", "2000"]), LARGE[0], ("cohort", "nct04743739", ["--n", "2000000"])]


def estimate(command: str, name: str, args: list[str]):
    """What the command plans before it starts, parsed from the same flags."""
    from simulate.run import plan
    from simulate.design.loader import load_scenario

    flags = dict(zip(args[::2], args[1::2]))
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    if "--n-per-arm" in flags:
        sets.append(f"trial.n_per_arm={flags['--n-per-arm']}")
    sc = load_scenario(name, sets)
    reps = int(flags.get("--replicates", sc.simulation.replicates))
    jobs = int(flags["--jobs"]) if "--jobs" in flags else None
    engine = flags.get("--engine", "batch")
    if command == "power":
        return plan.plan_power(sc, reps, jobs, engine)
    if command == "samplesize":
        from simulate.run.samplesize import plan_samplesize

        return plan_samplesize(sc, reps, jobs, engine)
    if command == "sweep":
        from simulate.run.sweep import plan_sweep

        return plan_sweep(sc, reps, jobs, engine)
    if command == "run":
        from simulate.run.main_job import plan_run

        return plan_run(sc, reps, jobs, engine)
    if command == "trial":
        return plan.plan_trial(sc)
    return plan.plan_cohort(int(flags.get("--n", 10_000)))


def measure(command: str, name: str, args: list[str], tmp: Path) -> tuple[float, float, int, str]:
    argv = [*trialsim_command(), command, name, *[a.replace("{tmp}", str(tmp)) for a in args]]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp)
    with RssSampler(interval=0.02, root=proc.pid) as sampler:
        _, err = proc.communicate()
    return sampler.peak or 0.0, time.perf_counter() - t0, proc.returncode, err.strip().splitlines()[-1:] and err.strip().splitlines()[-1] or ""


def main(argv: list[str] | None = None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    cases = QUICK if a.quick else [("power", s, ["--replicates", "2000"]) for s in SHIPPED] + LARGE
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for command, name, args in cases:
            p = estimate(command, name, args)
            peak_mb, seconds, code, last = measure(command, name, args, Path(tmp))
            est_mb = p.peak_bytes / 2**20
            ratio = est_mb / peak_mb if peak_mb else float("nan")
            passed = code == 0 and 1 / FACTOR <= ratio <= FACTOR
            ok &= passed
            rows.append({"command": f"{command} {name} {' '.join(args)}".replace("{tmp}/", ""), "estimate_mb": round(est_mb, 1),
                         "peak_mb": round(peak_mb, 1), "ratio": round(ratio, 2), "estimate_s": round(p.seconds, 2),
                         "seconds": round(seconds, 2), "exit": code, "result": "PASS" if passed else "FAIL",
                         **({"stderr": last} if code else {})})
            if not a.json:
                r = rows[-1]
                print(f"{r['command'][:88]:<88} est {r['estimate_mb']:>7.0f} MB  peak {r['peak_mb']:>7.0f} MB  "
                      f"x{r['ratio']:<5} est {r['estimate_s']:>6.1f} s  took {r['seconds']:>6.1f} s  {r['result']}"
                      + (f"  ({r['stderr']})" if code else ""), flush=True)
    machine = {"platform": platform.platform(), "python": platform.python_version(), "cores": __import__("os").cpu_count()}
    if a.json:
        print(json.dumps({"results": rows, "machine": machine}, indent=2))
    else:
        print(f"\nmachine: {machine['platform']}, {machine['cores']} cores, Python {machine['python']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
