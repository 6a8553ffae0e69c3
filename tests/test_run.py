"""End to end: ``trialsim run`` writes a complete, consistent results folder, and resumes safely."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simulate.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "nct04743739.toml"
FILES = ("run.json", "power.csv", "comparisons.csv", "remission_by_visit.csv", "remission_model.csv", "samplesize.csv",
         "sweep.csv", "consort.csv", "funnel.csv", "report.html")
FIGURES = ("power_curve.png", "power_heatmap.png", "consort.png", "accrual.png", "remission_by_visit.png",
           "time_to_remission.png", "swimmer.png")
SMALL = ["--replicates", "60", "--set", "simulation.block_size=30", "--jobs", "1"]


@pytest.fixture(scope="module")
def small_scenario(tmp_path_factory) -> Path:
    """The registered scenario with a 2 x 2 sweep (kept small for the test's speed)."""
    path = tmp_path_factory.mktemp("scen") / "small.toml"
    path.write_text(
        f'base = "{DEFAULT.as_posix()}"\nname = "small"\n'
        "[sweep]\n"
        '"dropout.probability_by_endpoint" = [0.0, 0.2]\n'
        '"arms.rtx_csa.remission_at_endpoint" = [0.75, 0.85]\n'
    )
    return path


def cli(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def finished(small_scenario, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "results"
    assert main(["run", str(small_scenario), "--out", str(out), *SMALL]) == 0
    return out


def test_every_output_exists_and_parses(finished: Path) -> None:
    for name in FILES + FIGURES:
        path = finished / name
        assert path.is_file() and path.stat().st_size > 0, name
    for name in FIGURES:
        assert (finished / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    for name in ("power.csv", "comparisons.csv", "remission_by_visit.csv", "samplesize.csv", "sweep.csv",
                 "consort.csv", "funnel.csv"):
        assert len(pd.read_csv(finished / name)) > 0, name
    meta = json.loads((finished / "run.json").read_text())
    assert meta["seed"] == 20210414 and meta["replicates"] == 60
    assert meta["scenario"]["name"] == "small" and len(meta["scenario_hash"]) == 16
    assert {"trialsim_version", "numpy_version", "timings", "summary"} <= set(meta)
    assert not list(finished.glob("**/*.tmp")), "no temporary file is left behind"


def test_power_csv_equals_the_power_command(finished: Path, small_scenario: Path, capsys) -> None:
    code, out, _ = cli(["power", small_scenario, "--json", *SMALL], capsys)
    assert code == 0
    direct = json.loads(out)
    row = pd.read_csv(finished / "power.csv").iloc[0]
    assert row["power"] == direct["power"] and row["mc_se"] == direct["mc_se"]
    assert row["replicates"] == 60 and row["p_recruitment_on_time"] == direct["p_recruitment_on_time"]
    visits = pd.read_csv(finished / "remission_by_visit.csv")
    assert visits.to_dict(orient="records") == direct["remission_by_visit"]
    comparisons = pd.read_csv(finished / "comparisons.csv")
    truth = ["true_control", "true_treatment"]             # the estimand's true shares, from direct["estimand"]
    table = comparisons.drop(columns=["arm_label", "control_label", *truth])
    printed = pd.DataFrame(direct["comparisons"]).astype({c: float for c in table.select_dtypes("number")})
    pd.testing.assert_frame_equal(table, printed, check_dtype=False, rtol=0, atol=0)
    # (a figure the design has not is nan in the table and null in the JSON)
    assert comparisons[truth].to_dict(orient="records") == [{k: t[k] for k in truth}
                                                            for t in direct["estimand"]["true_values"]]


def test_tables_are_consistent(finished: Path, small_scenario: Path, capsys) -> None:
    sweep = pd.read_csv(finished / "sweep.csv")
    assert len(sweep) == 4
    assert set(sweep["dropout.probability_by_endpoint"]) == {0.0, 0.2}
    assert ((sweep.power >= 0) & (sweep.power <= 1)).all() and (sweep.mc_se > 0).all()
    ss = pd.read_csv(finished / "samplesize.csv")
    assert ss.n_per_arm.is_monotonic_increasing and ss.chosen_for_80.sum() <= 1
    # the example trial in consort.csv is trial 0 of the seed: the `trial` command's trial
    code, out, _ = cli(["trial", small_scenario, "--json", "--out", finished / "trial", "--set",
                        "simulation.block_size=30"], capsys)
    assert code == 0
    consort = pd.read_csv(finished / "consort.csv").set_index("count")
    story = json.loads(out)["consort"]
    assert consort.loc["randomised", "example_trial"] == story["randomised"]
    assert consort.loc["referred", "example_trial"] == story["referred"]
    html = (finished / "report.html").read_text()
    assert json.loads((finished / "run.json").read_text())["summary"][0].split(",")[0] in html


@pytest.mark.slow
def test_rerun_reuses_pieces_and_a_new_seed_does_not(finished: Path, small_scenario: Path, tmp_path: Path) -> None:
    import shutil

    finished = Path(shutil.copytree(finished, tmp_path / "copy"))
    before = (finished / "power.csv").read_bytes()
    assert main(["run", str(small_scenario), "--out", str(finished), *SMALL]) == 0
    timings = json.loads((finished / "run.json").read_text())["timings"]
    assert all(timings[p]["reused"] for p in ("power", "samplesize", "sweep", "example_trial", "accrual"))
    assert (finished / "power.csv").read_bytes() == before
    assert main(["run", str(small_scenario), "--out", str(finished), *SMALL, "--seed", "7"]) == 0
    timings = json.loads((finished / "run.json").read_text())["timings"]
    assert not any(t["reused"] for t in timings.values())
    assert (finished / "power.csv").read_bytes() != before


@pytest.mark.slow
def test_a_terminal_is_told_which_piece_is_computed(finished: Path, small_scenario: Path, tmp_path: Path,
                                                   capsys, monkeypatch) -> None:
    import shutil

    out = Path(shutil.copytree(finished, tmp_path / "copy"))
    (out / ".pieces" / "sweep.json").unlink()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = cli(["run", small_scenario, "--out", out, *SMALL], capsys)
    assert code == 0
    assert "power at n = 63 per arm and in the null world (60 trials each): reused from an earlier run" in err
    assert "sensitivity grid (4 points) ..." in err and "4 grid points, 60 trials each" in err  # its bar
    assert "figures and report.html ..." in err


def test_bad_input_writes_nothing(small_scenario: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "res"
    code, _, err = cli(["run", small_scenario, "--out", out, "--set", "analysis.alpha=1.5"], capsys)
    assert code == 2 and not out.exists() and "analysis.alpha" in err


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_results(small_scenario: Path, finished: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    exe = Path(sys.executable).parent / "trialsim"
    cmd = [str(exe), "run", str(small_scenario), "--out", str(out), *SMALL]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out / ".pieces" / "power.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / ".pieces" / "power.json").exists(), "the run got as far as its first piece"
    assert not (out / "report.html").exists(), "killed before it finished"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    for name in ("power.csv", "comparisons.csv", "remission_by_visit.csv", "samplesize.csv", "sweep.csv",
                 "consort.csv", "funnel.csv"):
        assert (out / name).read_bytes() == (finished / name).read_bytes(), name
    assert not list(out.glob("**/*.tmp"))
