"""Dropout mechanisms, ICH E9(R1)'s sensitivity assumptions about missing data: mcar, mar (the
hazard hangs on the status seen at the last visit) and mnar (on the endpoint outcome a dropout
hides; ``informative`` is its earlier name).

Under mar the batch engine computes each dropout month as arrays from the patient's path at the
visits, the DES as events scheduled visit by visit: they must give the same trials, bit for bit,
with and without intercurrent events and with interim looks. The calibration must hold, HR = 1
must be mcar, and complete-case analysis must be biased the way missing-at-random theory says.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simulate.design.assumed import dropout_adjustment
from simulate.design.loader import load_scenario
from simulate.design.scenario import Scenario
from simulate.engines.batch import outcomes_from_batch, patient_outcomes, randomise_block
from simulate.engines.blocks import outcomes_from_des
from simulate.engines.des import simulate_trial
from simulate.errors import ScenarioError
from simulate.fates.draw import candidates_of, draw_fates
from simulate.seeding import block_sequence

from test_engines import assert_same

from conftest import PLAIN_SCENARIO

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = PLAIN_SCENARIO     # the registered design without intercurrent events
LOOKS = ('analysis.alternative="greater"', 'analysis.test="ztest"', "analysis.alpha=0.025",
         "interim.information_fractions=[0.5, 1.0]")
RESCUE = '''base = "nct04743739"
replace = ["intercurrent", "estimand"]
sweep = {}

[intercurrent.rescue]
kind = "rescue"
at_month = 6
probability = 0.5
remission_hazard_after_per_month = 0.08
'''
K = 3.0
"""Monte Carlo standard errors a simulated share may stray from its expectation."""


def mar(hr: float, d: float = 0.3, *extra: str) -> list[str]:
    return ['dropout.mechanism="mar"', f"dropout.probability_by_endpoint={d}",
            f"dropout.mar_hazard_ratio_not_in_remission={hr}", "sweep={}", *extra]


def with_rescue(tmp_path: Path, overrides: list[str]) -> Scenario:
    path = tmp_path / "rescue.toml"
    path.write_text(RESCUE, encoding="utf-8")
    return load_scenario(path, overrides)


def assert_dropout_months_agree(scenario: Scenario, fates, n_trials: int) -> None:
    """Each randomised patient's dropout month as the DES recorded it (a dropout before the
    endpoint) is the batch engine's, bit for bit."""
    r = randomise_block(scenario, fates, n_trials)
    drop = patient_outcomes(scenario, fates, r)["dropout_month"]
    seen = 0
    for t in range(n_trials):
        p = simulate_trial(scenario, fates, t, detail=False).randomised
        rows = candidates_of(fates, t)
        column = {m: c for c, m in enumerate(fates.referral_month[rows].tolist())}
        slot = fates.slot[rows][[column[m] for m in p.referral_month.tolist()]]
        recorded = np.isfinite(p.dropout_month)
        np.testing.assert_array_equal(p.dropout_month[recorded], drop[t, slot[recorded]], err_msg=f"trial {t}")
        seen += int(recorded.sum())
    assert seen > 0


@pytest.mark.parametrize("hr, missing", [(0.5, "complete_case"), (3.0, "locf"), (10.0, "nonresponder")])
@pytest.mark.parametrize("events", [False, True], ids=["no-events", "rescue"])
def test_engines_agree_under_mar(tmp_path: Path, hr: float, missing: str, events: bool) -> None:
    overrides = mar(hr, 0.3, *LOOKS, f'analysis.missing="{missing}"')
    scenario = with_rescue(tmp_path, overrides) if events else load_scenario(DEFAULT, overrides)
    for seed in (1, 2):
        fates = draw_fates(scenario, block_sequence(seed, 0), 6)
        assert_same(outcomes_from_des(scenario, fates, 6), outcomes_from_batch(scenario, fates, 6), f"seed {seed}")
        assert_dropout_months_agree(scenario, fates, 3)


def test_engines_agree_under_mar_past_the_endpoint() -> None:
    """Follow-up and visits past the endpoint: a mar dropout there still ends the visits."""
    scenario = load_scenario(DEFAULT, mar(4.0, 0.4, "trial.max_follow_up_months=36", "trial.n_per_arm=30",
                                          "trial.visit_months=[0, 1, 3, 6, 9, 12, 15, 18, 21, 24, 30, 36]"))
    fates = draw_fates(scenario, block_sequence(3, 0), 8)
    assert_same(outcomes_from_des(scenario, fates, 8), outcomes_from_batch(scenario, fates, 8), "seed 3")


def block(scenario: Scenario, n_trials: int, seed: int = 11):
    return outcomes_from_batch(scenario, draw_fates(scenario, block_sequence(seed, 0), n_trials), n_trials)


@pytest.mark.parametrize("hr", [0.25, 4.0])
def test_mar_calibration_gives_the_dropout_probability_per_arm(hr: float) -> None:
    d = 0.3
    b = block(load_scenario(DEFAULT, mar(hr, d)), 600)
    n = b.n_randomised.sum(axis=(0, 1))
    share = 1 - b.n_completed.sum(axis=(0, 1)) / n
    se = np.sqrt(d * (1 - d) / n)
    assert np.all(np.abs(share - d) <= K * se), (share, se)


def test_mar_with_hazard_ratio_one_is_mcar() -> None:
    months = {}
    for mechanism in ("mcar", "mar"):
        s = load_scenario(DEFAULT, [f'dropout.mechanism="{mechanism}"', "dropout.probability_by_endpoint=0.3",
                                    "sweep={}"] + (["dropout.mar_hazard_ratio_not_in_remission=1"] * (mechanism == "mar")))
        fates = draw_fates(s, block_sequence(5, 0), 20)
        months[mechanism] = patient_outcomes(s, fates, randomise_block(s, fates, 20))["dropout_month"]
    np.testing.assert_allclose(months["mar"], months["mcar"], rtol=1e-12, atol=0)


def test_complete_cases_overstate_each_arm_under_mar() -> None:
    """Patients not seen in remission drop out four times as fast: the completers over-represent
    responders, so each arm's rate among complete cases lies above its rate without dropout (the
    arm's remission_at_endpoint); under mcar the completers are a random subset."""
    for mechanism, extra in (("mar", ["dropout.mar_hazard_ratio_not_in_remission=4"]), ("mcar", [])):
        s = load_scenario(DEFAULT, [f'dropout.mechanism="{mechanism}"', "dropout.probability_by_endpoint=0.3",
                                    "sweep={}", *extra])
        b = block(s, 600)
        kept = b.n_completed.sum(axis=(0, 1))
        rate = b.x_endpoint.sum(axis=(0, 1)) / kept
        truth = np.array([s.arm(a).remission_at_endpoint for a in s.arm_names])
        z = (rate - truth) / np.sqrt(truth * (1 - truth) / kept)
        assert np.all(z > K) if mechanism == "mar" else np.all(np.abs(z) < K), (mechanism, rate, truth)


def test_the_closed_form_dropout_rule_holds_under_mar() -> None:
    """The closed forms' dropout rule reads the chance that a patient in remission at the
    endpoint drops out before it from the reference sample: with dropouts counted as
    non-responders each arm's simulated rate is p (1 - that chance)."""
    s = load_scenario(DEFAULT, mar(4.0))
    adj = dropout_adjustment(s)
    b = block(s, 600)
    n = b.n_randomised.sum(axis=(0, 1))
    rate = b.x_endpoint.sum(axis=(0, 1)) / n
    expected = np.array([adj.p_control, adj.p_treat])
    # responders are seen in remission and leave slower: fewer of them are lost than under mcar
    assert np.all(expected > [s.arm(a).remission_at_endpoint * (1 - 0.3) for a in s.arm_names])
    assert np.all(np.abs(rate - expected) <= K * np.sqrt(expected * (1 - expected) / n)), (rate, expected)


def test_informative_is_mnar(run_cli) -> None:
    runs = []
    for name in ("informative", "mnar"):
        code, out, err = run_cli(["power", DEFAULT, "--replicates", "40", "--jobs", "1", "--json",
                                  "--set", "simulation.block_size=40", "--set", f"dropout.mechanism={name}",
                                  "--set", "dropout.probability_by_endpoint=0.3"])
        assert code == 0, err
        runs.append({k: v for k, v in json.loads(out).items() if k != "elapsed_seconds"})
    assert runs[0] == runs[1]
    assert load_scenario(DEFAULT, ['dropout.mechanism="informative"']).dropout.mechanism == "mnar"


@pytest.mark.parametrize("mechanism", ["mcar", "mnar", "informative"])
def test_the_mar_ratio_is_refused_without_mar(run_cli, mechanism: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        load_scenario(DEFAULT, [f'dropout.mechanism="{mechanism}"', "dropout.mar_hazard_ratio_not_in_remission=3"])
    assert any(line.startswith("dropout.mar_hazard_ratio_not_in_remission: got 3") for line in refused.value.problems)
    code, _, err = run_cli(["power", DEFAULT, "--set", f"dropout.mechanism={mechanism}",
                            "--set", "dropout.mar_hazard_ratio_not_in_remission=3"])
    assert code == 2 and "dropout.mar_hazard_ratio_not_in_remission" in err


def test_the_mar_ratio_bounds() -> None:
    assert load_scenario(DEFAULT, mar(0.01)).dropout.mar_hazard_ratio_not_in_remission == 0.01
    load_scenario(DEFAULT, ['dropout.mechanism="mcar"', "dropout.mar_hazard_ratio_not_in_remission=2.0"])
    for bad in ("0.005", "101"):
        with pytest.raises(ScenarioError, match="mar_hazard_ratio_not_in_remission"):
            load_scenario(DEFAULT, mar(float(bad)))
