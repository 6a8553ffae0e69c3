"""The resource plan: every command estimates memory and time before it draws anything, runs in
blocks sized to a budget, and refuses in one line (exit 2, nothing written) what cannot fit.

The cost model is checked against measurement (tracemalloc's peak of one block, whose arrays
numpy reports to it) within the factor of 2 the plan promises; the command-level estimates
against the measured peak of whole processes are in ``benchmarks/plan.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from conftest import ROOT, tree_rss_mb, trialsim_executable
from simulate.run import plan
from simulate.run import budget
from simulate.errors import ResourceError
from simulate.design.loader import load_scenario

SCENARIO = "nct04743739"


def peak_of(args: list[str], cwd: Path, env: dict | None = None) -> tuple[int, float, str]:
    """(exit code, peak resident MB of the process and its children, stderr) of a trialsim command."""
    proc = subprocess.Popen([str(trialsim_executable()), *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid) or 0.0)
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    _, err = proc.communicate(timeout=300)
    t.join()
    return proc.returncode, peak[0], err


# ------------------------------------------------------------------ the measured cases


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads resident memory from /proc (Linux)")
def test_100000_per_arm_with_10_replicates_stays_under_2_gb(tmp_path) -> None:
    """The advertised maximum n per arm: 11.9 GB before the pool was sized by its candidates."""
    code, peak_mb, err = peak_of(["power", SCENARIO, "--n-per-arm", "100000", "--replicates", "10", "--jobs", "1"],
                                 tmp_path)
    assert code == 0, err
    assert peak_mb <= 2048, f"peak {peak_mb:.0f} MB"
    est = plan.plan_power(load_scenario(SCENARIO, ["trial.n_per_arm=100000"]), 10, 1).peak_bytes / 2**20
    assert peak_mb / 2 <= est <= 2 * peak_mb


LARGEST = ["recruitment.sites=1000", "recruitment.rate_per_site_month=100", "trial.hard_stop_months=600"]
"""The largest trial the scenario's bounds allow: 60 million referrals."""


@pytest.mark.parametrize("overrides", [["trial.hard_stop_months=600"], ["recruitment.rate_per_site_month=100"],
                                       ["recruitment.sites=1000"], LARGEST])
def test_a_design_too_large_for_the_budget_is_refused_in_one_line_before_any_work(run_cli, tmp_path, overrides):
    out = tmp_path / "out"
    sets = [a for o in overrides for a in ("--set", o)]
    code, stdout, err = run_cli(["run", SCENARIO, *sets, "--out", out, "--max-memory", "200M", "--max-minutes", "0.1"])
    assert code == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "--max-memory" in lines[0] or "--max-minutes" in lines[0]
    assert not out.exists()


def test_validate_says_when_not_even_one_trial_fits(run_cli) -> None:
    code, _, err = run_cli(["validate", SCENARIO, *[a for o in LARGEST for a in ("--set", o)], "--max-memory", "1G"])
    assert code == 2
    assert err.startswith("error: one trial needs about") and "referrals" in err and "--max-memory" in err
    assert run_cli(["validate", SCENARIO])[0] == 0


def test_work_past_the_time_limit_is_refused_with_the_flag_that_raises_it(run_cli) -> None:
    code, _, err = run_cli(["power", SCENARIO, "--replicates", "100000000"])
    assert code == 2
    assert err.startswith("error: 100,000,000 simulated trials would take about") and "--max-minutes" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["power", SCENARIO, "--replicates", "3000", "--max-minutes", "0.0001"])
    assert code == 2 and "past the time limit of" in err and "(--max-minutes)" in err


@pytest.mark.parametrize("flag, value", [("--max-memory", "lots"), ("--max-memory", "1K"), ("--max-memory", "-2G"),
                                         ("--max-minutes", "0"), ("--max-minutes", "soon")])
def test_a_bad_limit_names_the_flag_and_what_is_allowed(run_cli, flag, value) -> None:
    code, _, err = run_cli(["power", SCENARIO, "--replicates", "100", flag, value])
    assert code == 2
    assert err.startswith(f"error: {flag}: got '{value}'; must be"), err


def test_the_budget_comes_from_the_flag_the_environment_or_the_memory_available(monkeypatch) -> None:
    assert budget.memory_budget("3G") == (3 << 30, "--max-memory")
    monkeypatch.setenv(budget.MEMORY_ENV, "512M")
    assert budget.memory_budget() == (512 << 20, budget.MEMORY_ENV)
    monkeypatch.delenv(budget.MEMORY_ENV)
    size, source = budget.memory_budget()
    assert source.endswith("of the memory available") or "limit" in source
    assert 0 < size
    monkeypatch.setenv(budget.TIME_ENV, "90")
    assert budget.time_limit() == (5400.0, budget.TIME_ENV)


def test_a_process_memory_limit_caps_the_budget(tmp_path) -> None:
    """Under ``ulimit -v`` (RLIMIT_AS) the budget is a share of that limit, so work planned for
    the machine's memory is refused in one line instead of failing midway."""
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30));"
            "from simulate.cli import main; sys.exit(main(['power', 'nct04743739', '--replicates', '100',"
            "'--set', 'recruitment.sites=1000', '--set', 'recruitment.rate_per_site_month=100',"
            "'--set', 'trial.hard_stop_months=600', '--max-minutes', '1e6']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 2, proc.stderr
    assert "one trial needs about" in proc.stderr and "of the process's memory limit" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_budget_too_small_for_all_workers_runs_fewer_blocks_at_once_not_fewer_trials() -> None:
    s = load_scenario(SCENARIO, ["recruitment.rate_per_site_month=60"])
    p = plan.plan_trials([s], 5000, 2)
    one_block = plan.PROCESS_BYTES + p.block_bytes
    fitted = plan.check(p, (int(one_block * 1.2), "test"), (1e9, "test"))
    assert p.at_once == 2 and fitted.at_once == 1 and fitted.seconds > p.seconds
    with pytest.raises(ResourceError, match="needs about"):
        plan.check(p, (int(one_block * 0.9), "test"), (1e9, "test"))


# ------------------------------------------------------------------ blocks and the cost model


def test_blocks_keep_the_scenarios_size_unless_a_block_would_pass_the_cap() -> None:
    s = load_scenario(SCENARIO)
    assert plan.trials_per_block(s) == s.simulation.block_size
    big = load_scenario(SCENARIO, ["recruitment.rate_per_site_month=100", "recruitment.sites=40"])
    n = plan.trials_per_block(big)
    assert 1 <= n < big.simulation.block_size
    assert n * plan.bytes_per_trial(plan.trial_size(big)) <= plan.BLOCK_MEMORY_BYTES
    # a property of the design, not of n per arm: every n of a sample-size search shares its trials
    assert plan.trials_per_block(load_scenario(SCENARIO, ["recruitment.rate_per_site_month=100", "recruitment.sites=40",
                                                          "trial.n_per_arm=2000"])) == n


def test_a_design_in_smaller_blocks_gives_the_same_trials_for_any_number_of_jobs() -> None:
    from simulate.run.power import estimate_power

    s = load_scenario(SCENARIO, ["recruitment.rate_per_site_month=100", "recruitment.sites=40",
                                 "simulation.block_size=100"])
    size = plan.trials_per_block(s)
    assert size < 100
    one = estimate_power(s, 2 * size + 3, 5, 1).to_dict()
    two = estimate_power(s, 2 * size + 3, 5, 2).to_dict()
    for key in ("power", "mean_randomised", "mean_dropouts", "mean_duration_months"):
        assert one[key] == two[key]


@pytest.mark.parametrize("overrides", [
    [], ["recruitment.rate_per_site_month=20", "trial.n_per_arm=500"], ["trial.hard_stop_months=200"],
    ["recruitment.sites=40", "trial.n_per_arm=2000"],
])
def test_the_estimate_of_a_block_lies_within_a_factor_2_of_its_measured_peak(overrides) -> None:
    from simulate.engines.blocks import simulate_block_designs

    s = load_scenario(SCENARIO, [*overrides, "simulation.block_size=60"])
    simulate_block_designs([s], 1, 0)                    # calibration and pass probabilities, cached
    tracemalloc.start()
    try:
        simulate_block_designs([s], 1, 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = 60 * plan.bytes_per_trial(plan.trial_size(s))
    assert peak / 2 <= estimate <= 2 * peak, f"estimate {estimate / 2**20:.1f} MB, peak {peak / 2**20:.1f} MB"


def test_the_pool_is_no_wider_than_any_trial_can_randomise_and_trials_are_unchanged() -> None:
    """A target far above what recruitment can deliver costs what the referrals cost, and the
    trials are those a narrower target's fates give (the slots kept are a prefix)."""
    from simulate.fates.draw import draw_fates
    from simulate.seeding import block_sequence

    small = load_scenario(SCENARIO, ["trial.n_per_arm=63"])
    huge = load_scenario(SCENARIO, ["trial.n_per_arm=100000"])
    f_small = draw_fates(small, block_sequence(1, 0), 50)
    f_huge = draw_fates(huge, block_sequence(1, 0), 50)
    widest = int(f_huge.n_randomisable.max())
    assert f_huge.randomisable_month.shape == (50, widest) and f_huge.allocation.shape[2] == widest
    k = f_small.randomisable_month.shape[1]
    assert (f_small.randomisable_month == f_huge.randomisable_month[:, :k]).all()
    assert (f_small.allocation == f_huge.allocation[:, :, :k]).all()


# ------------------------------------------------------------------ feedback


def test_fewer_than_100_replicates_are_warned_about(run_cli) -> None:
    code, out, err = run_cli(["power", SCENARIO, "--replicates", "20"])
    assert code == 0 and "power" in out
    assert err.startswith("warning: only 20 simulated trials") and "unusable" in err
    assert run_cli(["power", SCENARIO, "--replicates", "100"])[2] == ""


def test_verbose_logs_the_plan_and_each_stage(tmp_path) -> None:
    proc = subprocess.run([str(trialsim_executable()), "-v", "power", SCENARIO, "--replicates", "300"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "INFO simulate.run.plan: plan: 300 simulated trials: about" in proc.stderr
    assert "in blocks of 250 trials" in proc.stderr


def test_a_design_where_nobody_is_randomised_says_so(run_cli) -> None:
    code, out, _ = run_cli(["power", SCENARIO, "--replicates", "100", "--set", "recruitment.rate_per_site_month=0"])
    assert code == 0
    assert "no patient was randomised in any simulated trial" in out


def test_the_plan_is_printed_on_a_terminal_only(tmp_path) -> None:
    """Piped, a command prints its results only; the plan line is for a person at a terminal."""
    proc = subprocess.run([str(trialsim_executable()), "power", SCENARIO, "--replicates", "200"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and "plan:" not in proc.stderr
    pty = pytest.importorskip("pty")
    out = []

    def read(fd):
        data = os.read(fd, 4096)
        out.append(data)
        return data

    env = {**os.environ, "COLUMNS": "120"}
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        saved = os.environ.copy()
        os.environ.update(env)
        pty.spawn([str(trialsim_executable()), "power", SCENARIO, "--replicates", "200"], read)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(old)
    text = b"".join(out).decode(errors="replace")
    assert "plan: 200 simulated trials: about" in text and "memory budget" in text


@pytest.mark.slow
def test_the_benchmark_compares_estimate_and_peak(tmp_path) -> None:
    """benchmarks/plan.py runs and reports estimate against measured peak (its quick lane)."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "plan.py"), "--quick", "--json"],
                          capture_output=True, text=True, timeout=300)
    import json

    rows = json.loads(proc.stdout)["results"]
    assert len(rows) == 3 and all(r["exit"] == 0 for r in rows)
    assert all(r["peak_mb"] > 10 and r["estimate_mb"] > 10 for r in rows)


# ------------------------------------------------------------------ the lab


def _lab_check(**values):
    from simulate.design.loader import read_scenario_data
    from simulate.teach import inputs

    base = load_scenario(SCENARIO)
    return inputs.check(read_scenario_data(SCENARIO), base, {**inputs.input_values(base), **values})


def test_the_lab_takes_100000_per_arm_and_computes_it_in_bounded_memory() -> None:
    """Measured before: the lab's server grew to 23 GB at n = 100000 per arm."""
    from simulate.teach import lab

    checked = _lab_check(n_per_arm=100000, replicates=50)
    assert checked.ok
    tracemalloc.start()
    try:
        many = lab.many_trials(checked.scenario)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert many.complete and many.power.replicates == 50
    assert peak < 200 << 20, f"peak {peak / 2**20:.0f} MB"


def test_the_lab_refuses_50_million_trials_under_the_trials_box() -> None:
    checked = _lab_check(replicates=50_000_000)
    assert not checked.ok
    (line,) = checked.problems["replicates"]
    assert line.startswith("error: 50,000,000 simulated trials would take about") and "lab's limit" in line


def test_the_lab_puts_a_refusal_under_the_input_to_blame() -> None:
    """Two million trials fit the lab's time limit at the scenario's referral rate, not at 100
    referrals per site-month: the rate is to blame. Fifty million fit at neither rate."""
    checked = _lab_check(rate_per_site_month=100, replicates=2_000_000)
    assert not checked.ok and list(checked.problems) == ["rate_per_site_month"]
    assert "past the time limit" in checked.problems["rate_per_site_month"][0]
    checked = _lab_check(rate_per_site_month=100, replicates=50_000_000)
    assert list(checked.problems) == ["replicates"]


def test_the_summary_of_a_run_says_when_its_trials_are_too_few_or_nobody_is_randomised(scenario) -> None:
    from simulate.report.sentences.summary import plain_summary
    from simulate.run.power import estimate_power
    from simulate.run.samplesize import find_sample_size
    from simulate.run.results import SampleSizePlan

    nobody = load_scenario(SCENARIO, ["recruitment.rate_per_site_month=0"])
    p = estimate_power(nobody, 40, 1, 1)
    plan_ = SampleSizePlan(searches=(find_sample_size(nobody, 0.8, 40, 1, 1),), curve=(), closed_form=(),
                           dropout_rule="")
    lines = plain_summary(nobody, p, plan_)
    assert any(line.startswith("No patient was randomised in any simulated trial") for line in lines)
    assert lines[-1].startswith("Only 40 simulated trials: the Monte Carlo error makes these figures unusable")


def test_a_cohort_larger_than_the_budget_is_refused_before_it_is_drawn(run_cli, tmp_path) -> None:
    """Measured before: `cohort --n 20000000` took 8.2 GB."""
    out = tmp_path / "cohort.csv"
    code, stdout, err = run_cli(["cohort", SCENARIO, "--n", "20000000", "--max-memory", "2G", "--out", out])
    assert code == 2 and stdout == "" and not out.exists()
    assert err.startswith("error: a cohort of 20,000,000 referred patients: it needs about") and "--max-memory" in err


def test_the_lab_says_when_no_patient_was_randomised() -> None:
    """Measured before: at a referral rate of 0 the lab showed power 0.000 with a dropout note
    and nothing said that no patient was randomised."""
    pytest.importorskip("shiny", reason="the lab needs Shiny (pip install 'trialsim[teach]')")
    from simulate.teach import lab, views

    checked = _lab_check(rate_per_site_month=0, replicates=100)
    many = lab.many_trials(checked.scenario)
    box = str(views.power_box(many))
    figures = str(views.many_figures(checked.scenario, many, "remission"))
    assert "No patient was randomised in any simulated trial" in box
    assert "No trial took place" in figures and "Why dropout costs power" not in figures
