"""The discrete-event trial (simulate/engines/des.py and des_model.py), validated by what it must
reproduce:

* calibration: pooled over many small trials, the endpoint remission rate of each arm is the
  scenario's ``remission_at_endpoint`` (3 Monte Carlo SE);
* recruitment: referrals follow the Poisson-gamma model with uniform site activation
  (closed-form mean, 3 SE from the sample variance across trials); deferred patients are
  randomised only once they qualify; permuted blocks keep every stratum balanced;
* ``detail=False`` (the power-mode DES) gives the same trial as ``detail=True`` (the story);
* the clock: it lands exactly on each fated referral month, and a patient's randomisation month
  is read off it (the fates' eligible months are never read);
* reproducibility: same seed, same trial; another seed, another trial;
* the shipped scenarios: the registered design usually recruits; the observed accrual never does.

The story's own tables (event log, visits, lab values) are checked in tests/test_des_story.py.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import simpy
from scipy import special

from simulate.population import outcomes as om
from simulate.engines.des import simulate_trial
from simulate.engines.des_model import step_towards
from simulate.engines.trial import TrialResult
from simulate.fates.draw import candidates_of, draw_fates, excluded_of
from simulate.fates.record import Fates
from simulate.population.outcomes import calibrate
from simulate.design.loader import load_scenario, read_scenario_data, scenario_from_dict
from simulate.design.scenario import Scenario

ARMS = ("rtx", "rtx_csa")
"""The registered scenario's arms, control first."""
from simulate.seeding import block_sequence

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
REGISTERED = SCENARIOS / "nct04743739.toml"
OBSERVED = SCENARIOS / "nct04743739_observed_accrual.toml"
K = 3.0
"""Tolerance in Monte Carlo standard errors."""
TIME_TOL = 1e-9
"""Months after randomisation, on the story's clock: the follow-up waits from one event to the
next, so its months agree with the randomisation month plus the fate's to rounding only (the
months up to randomisation are exact)."""
REMISSION = ("partial", "complete")


def scenario_with(*overrides: str, path: Path = REGISTERED) -> Scenario:
    """A shipped scenario with ``path=value`` overrides, without its sensitivity sweep (a sweep value contradicting an override is beside the point here) and
    without its intercurrent events (each arm's rate is then the trial's: tests/test_intercurrent.py
    plays the events through the DES)."""
    data = read_scenario_data(path)
    for section in ("sweep", "intercurrent", "estimand"):
        data.pop(section, None)
    return scenario_from_dict(data, list(overrides))


@dataclass(frozen=True)
class Run:
    scenario: Scenario
    fates: Fates
    index: int
    result: TrialResult

    @property
    def columns(self) -> dict[int, int]:
        """Patient number -> the randomised patient's candidate column in the fates."""
        months = self.fates.referral_month[candidates_of(self.fates, self.index)]
        p = self.result.patients
        return {int(n): int(np.flatnonzero(months == m)[0]) for n, m in zip(p.patient, p.referral_month)}

    def slots(self, patients) -> np.ndarray:
        """Pool slots (indices into the fates' per-patient outcome arrays) of patient numbers."""
        cols = self.columns
        slot = self.fates.slot[candidates_of(self.fates, self.index)]
        return np.array([slot[cols[int(n)]] for n in patients], dtype=int)


def one_trial(sc: Scenario, seed: int, detail: bool = True) -> Run:
    """One trial the way ``trialsim trial --seed`` runs it: trial 0 of block 0 of the seed."""
    fates = draw_fates(sc, block_sequence(seed, 0), 1)
    return Run(sc, fates, 0, simulate_trial(sc, fates, 0, detail=detail))


def block_of_trials(sc: Scenario, seed: int, n_trials: int, detail: bool = False) -> list[Run]:
    fates = draw_fates(sc, block_sequence(seed, 0), n_trials)
    return [Run(sc, fates, i, simulate_trial(sc, fates, i, detail=detail)) for i in range(n_trials)]


# ------------------------------------------------------------------ calibration through the DES


def pooled_se(sc: Scenario, name: str, r: float, n: int) -> float:
    """Binomial SE of a pooled rate, plus the sampling error of the covariate calibration's
    reference sample (its fitted population mean is exact only on that sample)."""
    var = r * (1 - r) / n
    arm = calibrate(sc)[name]
    if arm.intercept is not None:
        scores = om._reference_scores(sc)
        q = sc.arm(name).remission_at_endpoint / arm.responder_probability
        var += float(np.var(q * special.expit(arm.intercept + scores))) / scores.size
    return math.sqrt(var)


SMALL = ("trial.n_per_arm=20", "dropout.probability_by_endpoint=0")


@pytest.mark.parametrize("overrides", [
    (),
    ("outcome.covariate_effects=false", "outcome.relapse=false"),
], ids=["covariates-relapse-on", "covariates-relapse-off"])
def test_pooled_endpoint_remission_matches_scenario(overrides: tuple[str, ...]) -> None:
    sc = scenario_with(*SMALL, *overrides)
    runs = block_of_trials(sc, seed=101, n_trials=300)
    patients = pd.concat([r.result.patients for r in runs], ignore_index=True)
    assert (patients.endpoint_status != "missing").all()
    for name in ARMS:
        rows = patients[patients.arm == name]
        r = sc.arm(name).remission_at_endpoint
        p_hat = float(rows.endpoint_status.isin(REMISSION).mean())
        se = pooled_se(sc, name, r, len(rows))
        assert abs(p_hat - r) <= K * se, f"{name}: {p_hat:.4f} vs {r} (n {len(rows)}, 3 SE {K * se:.4f})"


def test_mcar_dropout_through_the_des() -> None:
    """With MCAR dropout d: missing share d, observed remission r (1 - d), per arm, 3 SE."""
    d = 0.25
    sc = scenario_with("trial.n_per_arm=20", f"dropout.probability_by_endpoint={d}", 'dropout.mechanism="mcar"')
    runs = block_of_trials(sc, seed=102, n_trials=300)
    patients = pd.concat([r.result.patients for r in runs], ignore_index=True)
    for name in ARMS:
        rows = patients[patients.arm == name]
        n = len(rows)
        missing = float((rows.endpoint_status == "missing").mean())
        assert abs(missing - d) <= K * math.sqrt(d * (1 - d) / n), f"{name}: missing {missing:.4f} vs {d}"
        r = sc.arm(name).remission_at_endpoint * (1 - d)
        p_hat = float(rows.endpoint_status.isin(REMISSION).mean())
        assert abs(p_hat - r) <= K * pooled_se(sc, name, r, n), f"{name}: {p_hat:.4f} vs {r:.4f}"


# ------------------------------------------------------------------ recruitment


def expected_referrals(sc: Scenario, t: float) -> float:
    """E[N(t)] = sites * rate * E[max(t - A, 0)], A ~ U(0, a_max)."""
    rec = sc.recruitment
    a = rec.site_activation_months_max
    if a == 0:
        mean_open = t
    elif t <= a:
        mean_open = t * t / (2 * a)
    else:
        mean_open = t - a / 2
    return rec.sites * rec.rate_per_site_month * mean_open


@pytest.mark.parametrize("overrides", [
    (),
    ("recruitment.sites=10", "recruitment.rate_per_site_month=1.5", "recruitment.rate_gamma_shape=0.5",
     "recruitment.site_activation_months_max=12"),
], ids=["registered", "10-heterogeneous-sites"])
def test_referrals_by_time_match_poisson_gamma_mean(overrides: tuple[str, ...]) -> None:
    sc = scenario_with(*overrides)
    n_trials = 400
    fates = draw_fates(sc, block_sequence(7, 0), n_trials)
    referrals = [(np.concatenate([excluded_of(fates, i)[0], fates.referral_month[candidates_of(fates, i)]]),
                  np.concatenate([excluded_of(fates, i)[1], fates.site[candidates_of(fates, i)]]))
                 for i in range(n_trials)]
    width = max(len(m) for m, _ in referrals)
    months = np.array([np.pad(m, (0, width - len(m)), constant_values=np.inf) for m, _ in referrals])
    sites = np.array([np.pad(s, (0, width - len(s)), constant_values=-1) for _, s in referrals])
    for t in (2.0, 5.0, 9.0, 20.0, sc.trial.hard_stop_months):
        counts = (months < t).sum(axis=1)
        mean, se = counts.mean(), counts.std(ddof=1) / math.sqrt(n_trials)
        expected = expected_referrals(sc, t)
        assert abs(mean - expected) <= K * se, f"t={t}: {mean:.2f} vs {expected:.2f} (3 SE {K * se:.2f})"
    # no referral before its site opens or after the hard stop; padding is padding
    real = sites >= 0
    assert np.array_equal(real, np.isfinite(months))
    opened = np.take_along_axis(fates.site_activation_months, np.maximum(sites, 0).astype(int), axis=1)
    assert np.all(months[real] >= opened[real])
    assert np.all(months[real] <= sc.trial.hard_stop_months)


def test_deferred_patients_are_randomised_only_after_they_qualify() -> None:
    sc = scenario_with()
    runs = block_of_trials(sc, seed=11, n_trials=40)
    n_deferred = 0
    for run in runs:
        f, p = run.fates, run.result.patients
        rows = candidates_of(f, run.index).start + np.array([run.columns[int(n)] for n in p.patient], dtype=int)
        qualifies = f.referral_month[rows] + f.screening_months[rows] + f.qualifies_in_months[rows]
        rand = p.randomisation_month.to_numpy()
        assert np.all(np.isfinite(qualifies)), "an excluded or lost patient was randomised"
        assert not np.any(f.lost_if_deferred[rows] & (f.qualifies_in_months[rows] > 0))
        # nothing else holds a qualified patient back while enrolment is open: randomised the
        # moment they qualify, on a clock that adds the same terms as this sum, in its order
        np.testing.assert_array_equal(rand, qualifies)
        n_deferred += int((f.qualifies_in_months[rows] > 0).sum())
    assert n_deferred > 20, "the test needs deferred patients who came back and were randomised"


def arms_in_randomisation_order(run: Run) -> pd.DataFrame:
    p = run.result.patients.sort_values(["randomisation_month", "patient"], kind="stable")
    return p.assign(arm_index=p.arm.map({a: i for i, a in enumerate(ARMS)}))


@pytest.mark.parametrize("overrides", [
    (),
    ('randomisation.stratify_by=["proteinuria_high"]',),
    ('randomisation.stratify_by=["proteinuria_high", "pla2r_titre_high"]', "randomisation.block_sizes=[6]"),
], ids=["unstratified", "proteinuria-strata", "two-factors-blocks-of-6"])
def test_permuted_blocks_keep_each_stratum_balanced(overrides: tuple[str, ...]) -> None:
    sc = scenario_with(*overrides)
    half = max(sc.randomisation.block_sizes) // 2
    r = sc.randomisation
    worst = 0
    for run in block_of_trials(sc, seed=13, n_trials=20):
        p = arms_in_randomisation_order(run)
        # the stratum is the one its covariates define
        expected = np.zeros(len(p), dtype=int)
        for k, factor in enumerate(r.stratify_by):
            high = (p.proteinuria_g_day >= r.proteinuria_high_g_day) if factor == "proteinuria_high" \
                else (p.pla2r_titre_ru_ml >= r.pla2r_titre_high_ru_ml)
            expected |= high.to_numpy().astype(int) << k
        np.testing.assert_array_equal(p.stratum.to_numpy(), expected)
        for s, rows in p.groupby("stratum"):
            arms = rows.arm_index.to_numpy()
            # the stratum's arms are its permuted-block sequence, in order
            np.testing.assert_array_equal(arms, run.fates.allocation[run.index, s, :len(arms)])
            imbalance = np.abs(np.cumsum(2 * arms - 1))
            assert imbalance.max() <= half, f"stratum {s}: imbalance {imbalance.max()} > {half}"
            worst = max(worst, int(imbalance.max()))
    assert worst == half, "blocks never reached their largest possible imbalance: check the test"


# ------------------------------------------------------------------ fast path and reproducibility


STORY_ONLY = ("age_years", "male", "albumin_g_l", "egfr_ml_min")


def assert_same_trial(a: TrialResult, b: TrialResult, story: bool = True) -> None:
    """Same patients, consort and calendar, bit for bit (and with ``story``, events and visits)."""
    if story:
        pd.testing.assert_frame_equal(a.patients, b.patients, check_exact=True)
        assert a.consort == b.consort
    else:  # without the story: no story-only covariates, exclusions counted in total only
        assert b.patients[list(STORY_ONLY)].isna().all().all()
        pd.testing.assert_frame_equal(a.patients.drop(columns=list(STORY_ONLY)),
                                      b.patients.drop(columns=list(STORY_ONLY)), check_exact=True)
        assert b.consort["excluded"] == {}
        assert {**a.consort, "excluded": {}} == b.consort
    assert a.calendar == b.calendar
    if story:
        pd.testing.assert_frame_equal(a.events, b.events, check_exact=True)
        pd.testing.assert_frame_equal(a.visits, b.visits, check_exact=True)


@pytest.mark.parametrize("path, overrides", [
    (REGISTERED, ()),
    (OBSERVED, ()),
    (REGISTERED, ('randomisation.stratify_by=["proteinuria_high"]', 'dropout.mechanism="informative"')),
], ids=["registered", "observed-accrual", "stratified-informative"])
def test_detail_false_gives_the_same_trial(path: Path, overrides: tuple[str, ...]) -> None:
    """Same patients (arms, statuses, dates), consort and calendar, bit for bit, several seeds."""
    sc = scenario_with(*overrides, path=path)
    for seed in (1, 2, 3, 7, 9, 16):
        fates = draw_fates(sc, block_sequence(seed, 0), 2)
        for index in (0, 1):
            story = simulate_trial(sc, fates, index, detail=True)
            fast = simulate_trial(sc, fates, index, detail=False)
            assert_same_trial(story, fast, story=False)
            assert len(fast.events) == 0 and len(fast.visits) == 0


def test_same_seed_same_trial_different_seed_different_trial() -> None:
    sc = scenario_with()
    a, b, other = one_trial(sc, 5), one_trial(sc, 5), one_trial(sc, 6)
    assert_same_trial(a.result, b.result)
    assert not a.result.patients.equals(other.result.patients)
    assert not a.result.events.equals(other.result.events)
    # a trial is a function of its fates: running it twice on the same fates changes nothing
    assert_same_trial(simulate_trial(sc, a.fates, 0), a.result)


def test_trial_does_not_depend_on_its_block_neighbours() -> None:
    """Trial i of a block is the same whatever trials are simulated before it."""
    sc = scenario_with()
    fates = draw_fates(sc, block_sequence(3, 0), 3)
    alone = simulate_trial(sc, fates, 2, detail=False)
    for i in (0, 1):
        simulate_trial(sc, fates, i, detail=False)
    assert_same_trial(simulate_trial(sc, fates, 2, detail=False), alone, story=False)


# ------------------------------------------------------------------ the clock


def test_the_clock_lands_exactly_on_each_month() -> None:
    """From any reading up to a month, the site's steps land simpy's clock on the month exactly,
    also where the plain wait does not (``now + (month - now)`` rounds off the month)."""
    rng = np.random.default_rng(5)
    now, month = rng.random(4000) * 8.0, 8.0 + rng.random(4000) * 56.0
    misses = now + (month - now) != month
    assert misses.sum() > 20, "the test needs months the plain wait misses"
    cases = [*zip(now[misses].tolist(), month[misses].tolist()), (0.0, 3.7), (1e-6, 43.9), (2.5, 2.5)]
    for start, target in cases:
        env = simpy.Environment()

        def site():
            yield env.timeout(start)
            while env.now < target:
                yield step_towards(env, target)

        env.process(site())
        env.run()
        assert env.now == target, (start, target, env.now)


def test_the_des_never_reads_the_fated_eligible_months() -> None:
    """With the fates' eligible months (and the pool's copy of them) blanked out, the same
    trials in both modes: the DES reads each randomisation month off its own clock."""
    sc = scenario_with()
    fates = draw_fates(sc, block_sequence(8, 0), 3)
    blind = replace(fates, eligible_month=np.full_like(fates.eligible_month, np.nan),
                    randomisable_month=np.full_like(fates.randomisable_month, np.nan))
    for index in range(3):
        seen = simulate_trial(sc, blind, index, detail=False)
        assert seen.consort["randomised"] > 0
        assert_same_trial(simulate_trial(sc, fates, index, detail=False), seen, story=False)
    assert_same_trial(simulate_trial(sc, fates, 0), simulate_trial(sc, blind, 0))


# ------------------------------------------------------------------ the shipped scenarios


def test_observed_accrual_is_terminated_far_short_of_target() -> None:
    sc = load_scenario(OBSERVED)
    for seed in range(1, 9):
        res = one_trial(sc, seed, detail=False).result
        assert res.calendar["terminated"], f"seed {seed}"
        assert res.consort["randomised"] < 40, f"seed {seed}: {res.consort['randomised']} randomised"
        assert res.calendar["enrolment_close_reason"] == "hard stop"


def test_registered_scenario_usually_reaches_its_target() -> None:
    sc = load_scenario(REGISTERED)
    reached = [one_trial(sc, seed, detail=False).result.consort["randomised"] == sc.n_target
               for seed in range(1, 21)]
    assert sum(reached) >= 15, f"{sum(reached)} of 20 trials reached the target"


THIRD_ARM = ('arms.rtx_tac={ label = "RTX + TAC", remission_at_endpoint = 0.8, median_months_to_remission = 3.0, '
             'complete_share_of_remission = 0.5 }')


@pytest.mark.parametrize("overrides, size, n_arrangements", [
    (("randomisation.block_sizes=[4]",), 4, 6),
    (("randomisation.block_sizes=[6]", "arms.rtx_csa.allocation=2"), 6, 15),
    (("randomisation.block_sizes=[3]", THIRD_ARM), 3, 6),                               # 3!
    (("randomisation.block_sizes=[4]", THIRD_ARM, "arms.rtx.allocation=2"), 4, 12),     # 4! / 2!
])
def test_every_arrangement_of_a_permuted_block_is_equally_likely(overrides, size, n_arrangements) -> None:
    from collections import Counter

    from simulate.fates.allocation import permuted_blocks

    sc = scenario_with(*overrides)
    seqs = permuted_blocks(sc, block_sequence(3, 0), 3000)
    usable = (seqs.shape[2] // size) * size
    blocks = seqs[:, 0, :usable].reshape(-1, size)
    counts = Counter(map(tuple, blocks))
    ratio = sc.allocation
    assert len(counts) == n_arrangements
    assert all(sum(1 for a in arr if a == k) * sum(ratio) == size * r for arr in counts for k, r in enumerate(ratio))
    p = 1 / n_arrangements
    se = math.sqrt(p * (1 - p) / len(blocks))
    for arrangement, n in counts.items():
        assert abs(n / len(blocks) - p) <= 4 * se, (arrangement, n / len(blocks), p)
