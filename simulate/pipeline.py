"""The main job: every planning answer for a scenario, written to ``results/<scenario>/``.

:func:`run_all` computes the pieces (power at the planned size, the sample-size curve for 80%
and 90%, the sensitivity sweep, an example trial, accrual curves) and hands them to the report.
Each piece is stored under ``.pieces/`` as JSON keyed by the scenario's hash, the seed, the
replicate count and the engine: a re-run with the same inputs reuses finished pieces, a run
killed midway leaves no half-written file (every write is a rename), and a different scenario or
seed never reuses a stale piece.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from simulate import __version__
from simulate import scenario as sc
from simulate.io import json_ready, write_csv_atomic, write_json_atomic

log = logging.getLogger(__name__)

SCREENED_REFERRALS = 100_000
"""Referred patients drawn for the eligibility funnel."""
ACCRUAL_TRIALS = 100
"""Simulated trials drawn in the accrual fan."""


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


def _cached(folder: Path, piece: str, key: str, compute: Callable[[], dict], timings: dict) -> dict:
    path = folder / ".pieces" / f"{piece}.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
            if stored.get("key") == key:
                log.info("reusing %s (key %s)", piece, key)
                timings[piece] = {"seconds": stored.get("seconds", 0.0), "reused": True}
                return stored["data"]
        except (json.JSONDecodeError, OSError):
            pass
    t0 = time.perf_counter()
    data = compute()
    seconds = time.perf_counter() - t0
    write_json_atomic(path, {"key": key, "seconds": seconds, "data": data})
    timings[piece] = {"seconds": seconds, "reused": False}
    return data


# ----------------------------------------------------------------------------- pieces


def compute_screening(scenario, seed) -> dict:
    """The eligibility funnel of a large referred cohort."""
    from simulate.eligibility import screen_referrals

    _, s = screen_referrals(scenario, SCREENED_REFERRALS, seed)
    return {"summary": s.summary(), "funnel": s.funnel().to_dict(orient="records")}


def compute_power(scenario, seed, replicates, jobs, engine) -> dict:
    from simulate.power import estimate_power

    return json_ready(estimate_power(scenario, replicates, seed, jobs, engine).to_dict())


def compute_samplesize(scenario, seed, replicates, jobs, engine) -> dict:
    from simulate import formulas
    from simulate.power import find_sample_size

    out = {}
    curve: dict[int, dict] = {}
    for target in (0.8, 0.9):
        r = find_sample_size(scenario, target, replicates, seed, jobs, engine)
        out[f"target_{int(target * 100)}"] = json_ready(r.to_dict())
        for row in r.curve:
            curve[row["n_per_arm"]] = row
    rc, rt = scenario.arms.rtx.remission_at_endpoint, scenario.arms.rtx_csa.remission_at_endpoint
    d = scenario.dropout.probability_by_endpoint
    a = scenario.analysis
    ns = sorted(curve)
    closed = []
    if rc != rt and ns:
        for n in range(max(2, min(ns)), max(ns) + 1):
            closed.append({
                "n_per_arm": n,
                "pooled_normal": formulas.power_pooled_normal(n, rc, rt, a.alpha, a.alternative),
                "pooled_normal_with_dropout": formulas.power_pooled_normal(
                    n, rc * (1 - d), rt * (1 - d), a.alpha, a.alternative)
                if a.missing == "nonresponder" else formulas.power_pooled_normal(
                    max(1, int(n * (1 - d))), rc, rt, a.alpha, a.alternative),
            })
    out["curve"] = [json_ready(curve[n]) for n in ns]
    out["closed_form_curve"] = closed
    return out


def compute_sweep(scenario, seed, replicates, jobs, engine) -> dict:
    from simulate.power import sweep

    frame = sweep(scenario, replicates, seed, jobs, engine)
    return {"axes": list(scenario.sweep_grid), "rows": json_ready(frame.to_dict(orient="records"))}


def compute_example_trial(scenario, seed) -> dict:
    from simulate.engines.des import example_trial

    r = example_trial(scenario, seed)
    return json_ready({
        "consort": r.consort, "calendar": r.calendar, "remission_at_endpoint": r.remission_at_endpoint(),
        "patients": r.patients.to_dict(orient="records"),
        "kaplan_meier": kaplan_meier_remission(r.patients, scenario),
    })


def kaplan_meier_remission(patients: pd.DataFrame, scenario: sc.Scenario) -> dict:
    """Cumulative incidence of first remission per arm (1 - Kaplan-Meier), censored at dropout
    or at the endpoint."""
    out = {}
    end = scenario.trial.endpoint_month
    for arm in sc.ARMS:
        p = patients[patients.arm == arm]
        t_rem = p.remission_month.to_numpy(dtype=float)
        t_cens = np.where(np.isnan(p.dropout_month.to_numpy(dtype=float)), end, p.dropout_month.to_numpy(dtype=float))
        event = ~np.isnan(t_rem) & (t_rem <= t_cens)
        time_ = np.where(event, t_rem, t_cens)
        order = np.argsort(time_, kind="stable")
        time_, event = time_[order], event[order]
        at_risk, surv = len(time_), 1.0
        steps = [{"month": 0.0, "cumulative_remission": 0.0, "at_risk": at_risk}]
        for t in np.unique(time_):
            here = time_ == t
            d = int(event[here].sum())
            if d:
                surv *= 1 - d / at_risk
                steps.append({"month": float(t), "cumulative_remission": 1 - surv, "at_risk": at_risk})
            at_risk -= int(here.sum())
        out[arm] = steps
    return out


def compute_accrual(scenario, seed) -> dict:
    """Randomisation months of the first trials (the fan), with the plan and the real trial."""
    from simulate.engines.batch import randomise_block
    from simulate.fates import draw_fates
    from simulate.seeding import block_sequence

    n = min(ACCRUAL_TRIALS, scenario.simulation.block_size)
    fates = draw_fates(scenario, block_sequence(seed, 0), scenario.simulation.block_size)
    r = randomise_block(scenario, fates, n)
    curves = [np.sort(r["month"][i][r["randomised"][i]]).tolist() for i in range(n)]
    obs = scenario.observed
    return {
        "curves": curves,
        "n_target": scenario.trial.n_target,
        "recruitment_months": scenario.trial.recruitment_months,
        "hard_stop_months": scenario.trial.hard_stop_months,
        "observed": None if obs is None else {"n_randomised": obs.n_randomised, "months": obs.months,
                                             "source": obs.source},
    }


# ----------------------------------------------------------------------------- tables


def write_tables(folder: Path, scenario: sc.Scenario, data: dict) -> None:
    write_csv_atomic(folder / "funnel.csv", pd.DataFrame(data["screening"]["funnel"]))
    p = data["power"]
    # timings go to run.json: the tables hold results only, so a resumed run writes the same bytes
    write_csv_atomic(folder / "power.csv", pd.DataFrame([{k: v for k, v in p.items()
                                                          if k not in ("mean_consort", "elapsed_seconds")}]))
    ss = data["samplesize"]
    rows = pd.DataFrame(ss["curve"])
    for t in ("80", "90"):
        chosen = ss[f"target_{t}"]["n_per_arm"]
        rows[f"chosen_for_{t}"] = rows.n_per_arm == chosen if chosen is not None else False
    write_csv_atomic(folder / "samplesize.csv", rows)
    if data.get("sweep"):
        write_csv_atomic(folder / "sweep.csv", pd.DataFrame(data["sweep"]["rows"]))
    ex = data["example_trial"]["consort"]
    means = p["mean_consort"]
    consort = [
        {"count": k, "example_trial": ex[k], "mean_over_replicates": means.get(k)}
        for k in ("referred", "excluded_total", "deferred", "lost_during_deferral",
                  "not_randomised_enrolment_closed", "randomised")
    ]
    consort += [{"count": f"excluded_{k}", "example_trial": v, "mean_over_replicates": None}
                for k, v in ex["excluded"].items()]
    for arm in sc.ARMS:
        for k in ("randomised_per_arm", "discontinued_per_arm", "analysed_per_arm"):
            consort.append({"count": f"{k.replace('_per_arm', '')}_{arm}", "example_trial": ex[k][arm],
                            "mean_over_replicates": None})
    write_csv_atomic(folder / "consort.csv", pd.DataFrame(consort))


def plain_summary(scenario: sc.Scenario, data: dict) -> list[str]:
    """The report's first paragraph, in plain language with the run's own figures."""
    p, ss = data["power"], data["samplesize"]
    d = scenario.dropout.probability_by_endpoint
    null = p["true_difference"] == 0
    what = "the chance of a significant result (here the type I error: the arms do not differ)" if null \
        else "power"
    lines = [
        f"With {scenario.trial.n_per_arm} per arm and {100 * d:.0f}% dropout, {what} is "
        f"{p['power']:.3f} ± {p['mc_se']:.3f} ({p['test']} test at alpha {p['alpha']:g}, "
        f"{p['missing_strategy']} analysis, {p['replicates']:,} simulated trials)."
    ]
    notes = []
    for t in ("80", "90"):
        r = ss[f"target_{t}"]
        if r["n_per_arm"] is not None:
            lines.append(f"{t}% power needs {r['n_per_arm']} per arm (closed form without dropout: "
                         f"{r['analytic'].get('pooled_normal')} by the pooled normal approximation, "
                         f"{r['analytic'].get('fleiss_cc')} by Fleiss with continuity correction).")
        elif r["note"] not in notes:
            notes.append(r["note"])
            lines.append(f"{t}% power is not reached: {r['note']}.")
        else:
            lines[-1] = lines[-1].replace(f"{int(t) - 10}% power is not", f"{int(t) - 10}% or {t}% power is not")
    lines.append(
        f"Recruitment finishes within the planned {scenario.trial.recruitment_months:g} months in "
        f"{100 * p['p_recruitment_on_time']:.0f}% of simulated trials (median "
        f"{p['recruitment_months_q50']:.0f} months to the last randomisation); "
        f"{100 * p['p_terminated']:.0f}% are terminated at the hard stop "
        f"({scenario.trial.hard_stop_months:g} months) short of {scenario.trial.n_target} patients."
    )
    sig = p.get("mean_abs_risk_difference_if_significant")
    if null and sig is not None:
        lines.append(f"Every significant result here is a false positive; those trials showed an average "
                     f"difference in remission of {sig:.2f} in one direction or the other.")
    elif p.get("exaggeration_ratio") is not None and p["exaggeration_ratio"] >= 1.1:
        lines.append(f"Trials that come out significant overstate the true difference "
                     f"({p['true_difference']:.2f}) by {100 * (p['exaggeration_ratio'] - 1):.0f}% on average "
                     f"(the winner's curse: only the lucky ones reach significance).")
    obs = scenario.observed
    if obs is not None and obs.n_randomised > 0:
        months = scenario.trial.n_target / (obs.n_randomised / obs.months)
        lines.append(
            f"At the recruitment rate actually seen ({obs.n_randomised} patients in {obs.months:g} months), "
            f"enrolling {scenario.trial.n_target} would take about {months / 12:.0f} years."
        )
    return lines


# ----------------------------------------------------------------------------- run


def _describe(jobs) -> dict:
    from simulate.parallel import Backend

    b = jobs if isinstance(jobs, Backend) else Backend("loky", jobs)
    return {"backend": b.name, "jobs": b.jobs, "scheduler": b.scheduler}


def run_all(scenario: sc.Scenario, out_dir: Path, seed: int | None = None, replicates: int | None = None,
            jobs: int | None = None, engine: str = "batch", report: bool = True,
            scenario_path: Path | None = None) -> dict:
    """Compute (or reuse) every piece, then write tables, plots, run.json and report.html."""
    seed = scenario.simulation.seed if seed is None else seed
    replicates = scenario.simulation.replicates if replicates is None else replicates
    out_dir = Path(out_dir)
    for stale in out_dir.glob("**/.*.tmp"):  # left by a run killed mid-write; never under a final name
        stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    timings: dict = {}
    key = lambda piece: _piece_key(scenario, piece, seed, replicates, engine)  # noqa: E731
    data = {
        "screening": _cached(out_dir, "screening", key("screening"), lambda: compute_screening(scenario, seed), timings),
        "power": _cached(out_dir, "power", key("power"),
                         lambda: compute_power(scenario, seed, replicates, jobs, engine), timings),
        "samplesize": _cached(out_dir, "samplesize", key("samplesize"),
                              lambda: compute_samplesize(scenario, seed, replicates, jobs, engine), timings),
        "sweep": _cached(out_dir, "sweep", key("sweep"),
                         lambda: compute_sweep(scenario, seed, replicates, jobs, engine), timings)
        if scenario.sweep else None,
        "example_trial": _cached(out_dir, "example_trial", key("example_trial"),
                                 lambda: compute_example_trial(scenario, seed), timings),
        "accrual": _cached(out_dir, "accrual", key("accrual"), lambda: compute_accrual(scenario, seed), timings),
    }
    write_tables(out_dir, scenario, data)
    data["summary"] = plain_summary(scenario, data)
    figures = {}
    if report:
        from simulate.report import write_report

        t1 = time.perf_counter()
        figures = write_report(out_dir, scenario, data, seed=seed, scenario_path=scenario_path)
        timings["report"] = {"seconds": time.perf_counter() - t1, "reused": False}
    write_json_atomic(out_dir / "run.json", {
        "scenario": scenario.model_dump(mode="json"), "scenario_hash": sc.scenario_hash(scenario),
        "seed": seed, "replicates": replicates, "engine": engine, "parallel": _describe(jobs),
        "trialsim_version": __version__, "code_hash": code_hash(), "numpy_version": np.__version__, "python": platform.python_version(),
        "machine": platform.platform(), "timings": timings, "elapsed_seconds": time.perf_counter() - t0,
        "summary": data["summary"], "figures": figures,
    })
    return data
