"""Double programming: the batch engine and the discrete-event engine, given the same fates,
must produce the same trials. Checked on scenarios drawn at random and patient by patient."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulate.engines import BlockOutcomes, simulate_block
from simulate.engines.batch import patient_outcomes, randomise_block
from simulate.engines.des import simulate_trial
from simulate.fates import draw_fates
from simulate.loader import load_scenario
from simulate.seeding import block_sequence

DEFAULT = Path(__file__).resolve().parents[1] / "scenarios" / "nct04743739.toml"


def assert_same(a: BlockOutcomes, b: BlockOutcomes, label: str) -> None:
    for f in fields(BlockOutcomes):
        np.testing.assert_allclose(getattr(a, f.name), getattr(b, f.name), rtol=0, atol=1e-9,
                                   err_msg=f"{label}: {f.name}")


@st.composite
def scenarios(draw):
    strata = draw(st.sampled_from([[], ["proteinuria_high"], ["pla2r_titre_high", "proteinuria_high"]]))
    blocks = draw(st.sampled_from([[2], [2, 4], [4, 6], [6]]))
    hard_stop = draw(st.floats(6.0, 48.0))
    overrides = [
        f"trial.n_per_arm={draw(st.integers(1, 30))}",
        f"recruitment.sites={draw(st.integers(1, 6))}",
        f"recruitment.rate_per_site_month={draw(st.floats(0.0, 8.0))}",
        f"recruitment.rate_gamma_shape={draw(st.floats(0.3, 50.0))}",
        f"recruitment.site_activation_months_max={draw(st.floats(0.0, 6.0))}",
        f"recruitment.loss_during_deferral_probability={draw(st.floats(0.0, 1.0))}",
        f"trial.hard_stop_months={hard_stop}",
        f"trial.recruitment_months={draw(st.floats(1.0, hard_stop))}",
        f"randomisation.stratify_by={strata}".replace("'", '"'),
        f"randomisation.block_sizes={blocks}",
        f"dropout.probability_by_endpoint={draw(st.floats(0.0, 0.6))}",
        f"dropout.mechanism={draw(st.sampled_from(['mcar', 'informative']))}",
        f"outcome.covariate_effects={str(draw(st.booleans())).lower()}",
        f"outcome.relapse={str(draw(st.booleans())).lower()}",
        f"arms.rtx.remission_at_endpoint={draw(st.floats(0.0, 0.8))}",
        f"cohort.prior_steroid_mmf_fraction={draw(st.floats(0.0, 0.9))}",
        f"cohort.acei_arb_intolerant_fraction={draw(st.floats(0.0, 0.6))}",
        f"cohort.collection_cv={draw(st.sampled_from([0.0, 0.1, 0.25, 0.6]))}",
        f"eligibility.washout_steroid_mmf_months={draw(st.floats(0.0, 6.0))}",
        f"eligibility.acei_arb_run_in_months={draw(st.floats(0.0, 6.0))}",
        f"eligibility.proteinuria_min_g_day={draw(st.floats(0.0, 8.0))}",
        "simulation.block_size=8",
    ]
    return load_scenario(DEFAULT, overrides), draw(st.integers(0, 2**32))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_engines_agree_on_random_scenarios(case):
    scenario, seed = case
    a = simulate_block(scenario, seed, 0, engine="des")
    b = simulate_block(scenario, seed, 0, engine="batch")
    assert_same(a, b, f"seed {seed}")


def test_engines_agree_patient_by_patient():
    """Arms, strata, randomisation dates (to 1e-9 months), endpoint statuses, dropouts and LOCF
    statuses, patient by patient, for many seeds."""
    for overrides in ([], ['randomisation.stratify_by=["pla2r_titre_high"]', "dropout.mechanism=informative"]):
        s = load_scenario(DEFAULT, ["simulation.block_size=20", *overrides])
        for seed in (1, 2, 3, 4, 5, 6):
            fates = draw_fates(s, block_sequence(seed, 0), 20)
            r = randomise_block(s, fates, 20)
            for trial in range(20):
                p = simulate_trial(s, fates, trial, detail=False).patients
                p = p.sort_values("randomisation_month", kind="stable")
                mine = r["randomised"][trial]
                cols = fates.order[trial][mine]
                # the same referrals (by referral month), in the same order, with the same fate
                np.testing.assert_array_equal(p.referral_month.to_numpy(), fates.referral_month[trial, cols])
                np.testing.assert_array_equal((p.arm == "rtx_csa").to_numpy().astype(int), r["arm"][trial][mine])
                np.testing.assert_array_equal(p.stratum.to_numpy(), r["stratum"][trial][mine])
                np.testing.assert_allclose(p.randomisation_month.to_numpy(), r["month"][trial][mine], rtol=0, atol=1e-9)
                # and what happened to each of them
                o = {k: v[trial][mine] for k, v in patient_outcomes(s, fates, r).items()}
                status = np.where(o["dropped"], "missing", np.where(o["remission"], np.where(
                    o["complete"], "complete", "partial"), "none"))
                np.testing.assert_array_equal(p.endpoint_status.to_numpy(), status)
                np.testing.assert_array_equal(p.dropout_month.notna().to_numpy(), o["dropped"])
                np.testing.assert_array_equal(p.locf_remission.to_numpy(), o["locf"])


def test_a_scenario_beyond_the_batch_engine_runs_on_the_des(monkeypatch, capsys):
    """If the batch engine cannot reproduce a scenario, one line says so and the DES runs."""
    import json

    import simulate.engines as engines
    from simulate.cli import main

    args = ["power", str(DEFAULT), "--replicates", "20", "--jobs", "1", "--json", "--set", "simulation.block_size=10"]
    assert main([*args, "--engine", "des"]) == 0
    expected = json.loads(capsys.readouterr().out)
    monkeypatch.setattr(engines, "batch_unsupported", lambda scenario: "a feature only the DES has")
    assert main(args) == 0
    out, err = capsys.readouterr()
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == ["note: the batch engine cannot reproduce this scenario (a feature only the DES has); using the DES"]
    got = json.loads(out)
    assert got["engine"] == "des"
    assert {k: v for k, v in got.items() if k != "elapsed_seconds"} == \
        {k: v for k, v in expected.items() if k != "elapsed_seconds"}
