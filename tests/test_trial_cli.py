"""The ``trialsim trial`` command: one simulated trial, its summary on stdout and its tables on
disk; reproducible for a seed; a user's mistake exits 2 and writes nothing.

Called in-process through :func:`simulate.cli.main` (what the console script runs).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from simulate.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
REGISTERED = SCENARIOS / "nct04743739.toml"
OBSERVED = SCENARIOS / "nct04743739_observed_accrual.toml"
FILES = ("patients.csv", "visits.csv", "events.csv", "trial.json")
WRITTEN = (*FILES, "manifest.json")          # the folder's list of what the trial wrote
SUMMARY_KEYS = {"consort", "n_randomised", "n_per_arm", "recruitment_months", "duration_months",
                "terminated", "remission_at_endpoint"}


@pytest.fixture
def trialsim(capsys: pytest.CaptureFixture[str]):
    """``trialsim ARGS`` in-process: (exit code, stdout, stderr)."""
    def run(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def strict_json(text: str):
    """Parse RFC 8259 JSON: NaN and Infinity are not JSON."""
    def reject(name: str):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=reject)


def test_trial_json_summary_and_tables(trialsim, tmp_path: Path) -> None:
    out = tmp_path / "trial"
    code, stdout, stderr = trialsim("trial", REGISTERED, "--seed", 3, "--out", out, "--json")
    assert code == 0, stderr
    summary = strict_json(stdout)  # the whole of stdout is one JSON object
    assert isinstance(summary, dict)
    assert SUMMARY_KEYS <= summary.keys()
    assert sorted(p.name for p in out.iterdir()) == sorted(WRITTEN)
    assert strict_json((out / "trial.json").read_text()) == summary

    patients = pd.read_csv(out / "patients.csv")
    events = pd.read_csv(out / "events.csv")
    visits = pd.read_csv(out / "visits.csv")
    c = summary["consort"]
    assert summary["n_randomised"] == c["randomised"] == len(patients) == int((events.event == "randomised").sum())
    assert summary["n_per_arm"] == c["randomised_per_arm"] == patients.arm.value_counts().to_dict()
    assert sum(summary["n_per_arm"].values()) == summary["n_randomised"]
    assert summary["terminated"] == (summary["n_randomised"] < 126)
    assert summary["recruitment_months"] == pytest.approx(patients.randomisation_month.max())
    assert summary["duration_months"] >= summary["recruitment_months"]
    assert c["referred"] == int((events.event == "referred").sum())
    # The registered scenario has intercurrent events: each arm's rate is the estimand's variable
    # (rescue, kidney failure or death count as no remission: composite), which is the clinical
    # status at the endpoint for every patient who met no such event.
    for arm, rate in summary["remission_at_endpoint"].items():
        rows = patients[patients.arm == arm]
        assert rate == pytest.approx(rows.estimand_value.eq("yes").mean())
    met = patients[["csa_toxicity_month", "rescue_month", "kidney_failure_or_death_month"]].notna()
    quiet = patients[~met[["rescue_month", "kidney_failure_or_death_month"]].any(axis=1)]
    assert (quiet.estimand_value.eq("yes") == quiet.endpoint_status.isin(["partial", "complete"])).all()
    assert patients.loc[met.rescue_month | met.kidney_failure_or_death_month, "estimand_value"].isin(
        ["no", "missing"]).all()
    assert met.csa_toxicity_month[patients.arm == "rtx"].sum() == 0   # only the CsA arm can stop CsA
    assert set(visits.patient) <= set(patients.patient)
    assert len(visits) == int((events.event == "visit").sum())
    assert summary["seed"] == 3


def test_same_seed_gives_identical_files_other_seed_does_not(trialsim, tmp_path: Path) -> None:
    outputs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        code, stdout, _ = trialsim("trial", REGISTERED, "--seed", seed, "--out", tmp_path / name, "--json")
        assert code == 0
        outputs[name] = stdout
    assert outputs["a"] == outputs["b"]
    for f in FILES:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert (tmp_path / "a" / "patients.csv").read_bytes() != (tmp_path / "c" / "patients.csv").read_bytes()
    assert outputs["a"] != outputs["c"]


def test_set_overrides_change_the_trial(trialsim, tmp_path: Path) -> None:
    code, stdout, stderr = trialsim("trial", REGISTERED, "--seed", 3, "--out", tmp_path, "--json",
                                    "--set", "trial.n_per_arm=10", "--set", "dropout.probability_by_endpoint=0")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["n_randomised"] == 20
    assert summary["terminated"] is False
    assert sum(summary["consort"]["discontinued_per_arm"].values()) == 0


def test_story_mode_prints_the_consort_flow(trialsim, tmp_path: Path) -> None:
    code, stdout, stderr = trialsim("trial", OBSERVED, "--seed", 1, "--out", tmp_path)
    assert code == 0, stderr
    assert "randomised" in stdout and "TERMINATED" in stdout
    assert str(tmp_path) in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(WRITTEN)


@pytest.mark.parametrize("bad", [
    ["--set", "trial.n_per_arm=abc"],
    ["--set", "trial.n_per_armm=70"],
    ["--set", "nonsense"],
    ["--set", "arms.rtx_csa.remission_at_endpoint=0.99"],
    ["--set", "dropout.mechanism=sometimes"],
], ids=["bad-value", "unknown-field", "no-equals", "unreachable-rate", "bad-choice"])
def test_bad_set_exits_2_and_writes_nothing(trialsim, tmp_path: Path, bad: list[str]) -> None:
    out = tmp_path / "trial"
    code, stdout, stderr = trialsim("trial", REGISTERED, "--seed", 3, "--out", out, "--json", *bad)
    assert code == 2
    assert stdout == ""
    assert stderr.startswith("error: ")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_scenario_exits_2(trialsim, tmp_path: Path) -> None:
    code, stdout, stderr = trialsim("trial", tmp_path / "nope.toml", "--out", tmp_path / "x")
    assert code == 2 and stdout == "" and "not found" in stderr
    assert not (tmp_path / "x").exists()


def test_json_stays_json_when_nobody_is_randomised(trialsim, tmp_path: Path) -> None:
    code, stdout, _ = trialsim("trial", REGISTERED, "--seed", 3, "--out", tmp_path, "--json",
                               "--set", "recruitment.rate_per_site_month=0")
    assert code == 0
    summary = strict_json(stdout)
    assert summary["n_randomised"] == 0 and summary["terminated"] is True
    strict_json((tmp_path / "trial.json").read_text())


def test_tables_keep_their_columns_when_nobody_is_randomised(trialsim, tmp_path: Path) -> None:
    code, _, _ = trialsim("trial", REGISTERED, "--seed", 3, "--out", tmp_path,
                          "--set", "recruitment.rate_per_site_month=0")
    assert code == 0
    for name in ("patients.csv", "events.csv", "visits.csv"):
        frame = pd.read_csv(tmp_path / name)
        assert len(frame.columns) > 0, name
    assert list(pd.read_csv(tmp_path / "visits.csv").columns) == [
        "patient", "visit_month", "calendar_month", "status", "proteinuria_g_day", "albumin_g_l"]


def test_nan_free_summary_when_both_arms_have_patients(trialsim, tmp_path: Path) -> None:
    code, stdout, _ = trialsim("trial", OBSERVED, "--seed", 1, "--out", tmp_path, "--json")
    assert code == 0
    summary = strict_json(stdout)
    assert all(n > 0 for n in summary["n_per_arm"].values())
    assert all(not math.isnan(r) for r in summary["remission_at_endpoint"].values())
