"""Intercurrent events and the estimand (ICH E9(R1)): tests that could fail.

* Both engines (the batch's arrays, the DES's events) give the same trials, block by block and
  patient by patient, on scenarios that exercise every strategy of every kind of event.
* Events that never happen, or an ``[estimand]`` without events, change nothing.
* The estimand's true value (:func:`simulate.population.intercurrent.true_values`) against
  theory computed here, independently of the package's paths (numerical integration of the
  outcome model); tolerances in Monte Carlo SEs of the reference sample, stated per test.
* Simulated trials estimate that truth (treatment policy, composite), their intervals cover
  it; a hypothetical strategy analysed by complete case is biased when the event depends on
  the outcome (rescue), and not when it does not (discontinuation at a constant hazard).
* A user's mistake in ``[intercurrent.*]`` or ``[estimand]`` is one line, exit code 2, nothing
  written.
* The story of a trial tells the events, and nobody is seen after kidney failure or death.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize

from conftest import call
from simulate.design.loader import load_scenario
from simulate.design.scenario import Scenario
from simulate.engines.batch import patient_outcomes, randomise_block
from simulate.engines.block_outcomes import BlockOutcomes
from simulate.engines.blocks import simulate_block_designs
from simulate.engines.des import example_trial, simulate_trial
from simulate.fates.draw import draw_fates
from simulate.population import intercurrent as ice
from simulate.population.outcomes import CALIBRATION_PATIENTS
from simulate.run.power import estimate_power, simulate_replicates
from simulate.seeding import block_sequence

# --------------------------------------------------------------------------- scenarios

HEADER = 'base = "nct04743739"\nname = "ice_test"\nreplace = ["intercurrent", "estimand"]\n[sweep]\n'
"""The registered trial as the base; its sweep dropped (rates change below)."""

DISCONTINUATION = """
[intercurrent.csa_toxicity]
kind = "discontinuation"
reason = "cyclosporine nephrotoxicity"
probability = { rtx_csa = 0.15 }
by_month = 9
remission_hazard_after_per_month = 0.03
relapse_hazard_after_per_month = 0.01
"""
RESCUE = """
[intercurrent.rescue]
kind = "rescue"
at_month = 6
probability = 0.5
remission_hazard_after_per_month = 0.08
relapse_hazard_after_per_month = 0.005
"""
DEATH = """
[intercurrent.kfd]
kind = "kidney_failure_or_death"
probability = 0.02
"""
ESTIMAND = """
[estimand]
strategies = { csa_toxicity = "treatment_policy", rescue = "composite", kfd = "composite" }
"""
EXAMPLE = HEADER + DISCONTINUATION + RESCUE + DEATH + ESTIMAND
"""The brief's example: CsA toxicity (treatment policy), rescue at month 6 and kidney failure
or death (composite)."""

TRUTH_N = ice.TRUTH_REPEATS * CALIBRATION_PATIENTS
"""Patients (draws) of the truth's reference sample: the denominator of its Monte Carlo SE."""

ONE_SIDED = ('analysis.alternative="greater"', 'analysis.test="ztest"', "analysis.alpha=0.025")
LONG_FOLLOW_UP = ("trial.max_follow_up_months=36",
                  "trial.visit_months=[0, 1, 3, 6, 9, 12, 15, 18, 21, 24, 30, 36]")
FREQUENT = ("intercurrent.csa_toxicity.probability={rtx = 0.3, rtx_csa = 0.5}", "intercurrent.rescue.probability=0.8",
            "intercurrent.kfd.probability=0.15", "intercurrent.kfd.by_month=12")
"""Events frequent enough that every rule is exercised in a block of 40 trials."""


def write(folder: Path, text: str, name: str = "ice.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load(folder: Path, text: str = EXAMPLE, *overrides: str, name: str = "ice.toml") -> Scenario:
    return load_scenario(write(folder, text, name), list(overrides))


# --------------------------------------------------------------------------- 1. both engines agree

def assert_same(a: BlockOutcomes, b: BlockOutcomes, label: str) -> None:
    """Every field of two blocks' outcomes equal (nan equal to nan)."""
    assert np.array_equal(a.dropouts, b.dropouts), f"{label}: dropouts differ"
    for f in fields(BlockOutcomes):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "dropped_out" and (x is None) != (y is None):
            continue                            # given with events only; the dropouts agree (above)
        assert (x is None) == (y is None), f"{label}: {f.name} given by one engine only"
        if x is not None:
            assert np.array_equal(x, y, equal_nan=True), f"{label}: {f.name} differs"


THREE_ARMS = ('base = "three_arm"\nname = "ice_three"\n[sweep]\n'
              + DISCONTINUATION.replace("{ rtx_csa = 0.15 }", "{ rtx_csa = 0.3, rtx_tac = 0.2 }")
              + RESCUE + DEATH.replace("0.02", "0.1") + ESTIMAND)
TWO_STOPS = (EXAMPLE + """
[intercurrent.nonadherence]
kind = "discontinuation"
probability = 0.4
by_month = 18
remission_hazard_after_per_month = 0.2
relapse_hazard_after_per_month = 0.05
complete_share_after = 0.9
""")

ENGINE_CASES = {
    # every strategy of every kind (the others at the example's), events made frequent
    **{f"{event}={strategy}": (EXAMPLE, (*FREQUENT, f'estimand.strategies.{event}="{strategy}"'))
       for event, strategies in (("csa_toxicity", ("treatment_policy", "composite", "hypothetical",
                                                   "while_on_treatment")),
                                 ("rescue", ("treatment_policy", "composite", "hypothetical", "while_on_treatment")),
                                 ("kfd", ("composite", "hypothetical", "while_on_treatment")))
       for strategy in strategies},
    "example": (EXAMPLE, ()),
    "high probabilities": (EXAMPLE, ("intercurrent.csa_toxicity.probability=0.9", "intercurrent.csa_toxicity.by_month=3",
                                     "intercurrent.rescue.probability=1.0", "intercurrent.kfd.probability=0.6",
                                     "intercurrent.kfd.by_month=12",
                                     "intercurrent.csa_toxicity.remission_hazard_after_per_month=1.0")),
    "cr endpoint, lower rates": (EXAMPLE, (*FREQUENT, 'trial.endpoint="cr"', "arms.rtx.remission_at_endpoint=0.25",
                                           "arms.rtx_csa.remission_at_endpoint=0.4",
                                           "intercurrent.rescue.complete_share_after=0.3",
                                           'estimand.strategies.csa_toxicity="while_on_treatment"')),
    "dropout 0.3, nonresponder": (EXAMPLE, (*FREQUENT, "dropout.probability_by_endpoint=0.3",
                                            'estimand.strategies.rescue="hypothetical"')),
    "complete case": (EXAMPLE, (*FREQUENT, "dropout.probability_by_endpoint=0.3", 'analysis.missing="complete_case"',
                                'estimand.strategies.rescue="hypothetical"', 'estimand.strategies.kfd="hypothetical"')),
    "locf": (EXAMPLE, (*FREQUENT, "dropout.probability_by_endpoint=0.3", 'analysis.missing="locf"',
                       'estimand.strategies.csa_toxicity="hypothetical"',
                       'estimand.strategies.kfd="while_on_treatment"')),
    "follow-up to 36 months": (EXAMPLE, (*FREQUENT, *LONG_FOLLOW_UP, "dropout.probability_by_endpoint=0.3",
                                         'analysis.missing="locf"', "intercurrent.csa_toxicity.by_month=30")),
    "interim looks": (EXAMPLE, (*FREQUENT, *ONE_SIDED, "interim={information_fractions=[0.5, 1.0]}",
                                "dropout.probability_by_endpoint=0.2")),
    "interim looks, complete case": (EXAMPLE, (*FREQUENT, *ONE_SIDED, "interim={information_fractions=[0.5, 1.0]}",
                                               'analysis.missing="complete_case"',
                                               'estimand.strategies.rescue="hypothetical"')),
    "relapse off": (EXAMPLE, (*FREQUENT, "outcome.relapse=false")),
    "informative dropout, strata": (EXAMPLE, (*FREQUENT, 'dropout.mechanism="informative"',
                                              "dropout.probability_by_endpoint=0.3",
                                              'randomisation.stratify_by=["pla2r_titre_high"]')),
    "early rescue, endpoint 12": (EXAMPLE, (*FREQUENT, "trial.endpoint_month=12",
                                            "trial.visit_months=[0, 1, 3, 6, 9, 12, 18, 24]",
                                            "arms.rtx.median_months_to_remission=4.0",
                                            "arms.rtx.remission_at_endpoint=0.45",
                                            "arms.rtx_csa.remission_at_endpoint=0.6",
                                            "intercurrent.rescue.at_month=3")),
    "two discontinuations": (TWO_STOPS, (*FREQUENT, 'estimand.strategies.nonadherence="while_on_treatment"')),
    "three arms": (THREE_ARMS, ("intercurrent.rescue.probability=0.9",)),
}


@pytest.mark.parametrize("case", list(ENGINE_CASES))
def test_engines_agree_block_by_block(tmp_path: Path, case: str) -> None:
    """``simulate_block_designs`` through the batch engine and the DES: every field of the
    BlockOutcomes identical, on two blocks of 40 trials."""
    text, overrides = ENGINE_CASES[case]
    s = load(tmp_path, text, *overrides)
    for seed, block in ((11, 0), (12, 3)):
        batch = simulate_block_designs([s], seed, block, 40, "batch")[0]
        des = simulate_block_designs([s], seed, block, 40, "des")[0]
        assert_same(batch, des, f"{case}, seed {seed}, block {block}")


def test_designs_of_several_sizes_at_once_are_each_alone(tmp_path: Path) -> None:
    """A sample-size search's designs (one outcome model, several targets) are followed in one
    pass by the batch engine (``outcomes_by_target``): with intercurrent events each design's
    trials are those it gets alone, and those the DES gives it (the events' draws of a smaller
    target are a prefix of a larger one's)."""
    designs = [load(tmp_path, EXAMPLE, *FREQUENT, f"trial.n_per_arm={n}", name=f"n{n}.toml") for n in (20, 45, 63)]
    together = simulate_block_designs(designs, 9, 1, 30, "batch")
    for s, o in zip(designs, together):
        label = f"n_per_arm {s.trial.n_per_arm}"
        assert_same(o, simulate_block_designs([s], 9, 1, 30, "batch")[0], f"{label}: together vs alone")
        assert_same(o, simulate_block_designs([s], 9, 1, 30, "des")[0], f"{label}: batch vs DES")


PATIENT_CASES = ["example", "csa_toxicity=hypothetical", "rescue=while_on_treatment", "kfd=hypothetical",
                 "complete case", "locf", "follow-up to 36 months", "two discontinuations", "three arms"]


@pytest.mark.parametrize("case", PATIENT_CASES)
def test_engines_agree_patient_by_patient(tmp_path: Path, case: str) -> None:
    """Each randomised patient's estimand variable (value, missing, the value LOCF carries) and
    the month each intercurrent event happened: the batch's arrays (``patient_outcomes``) and the
    DES's events (its patients' ``endpoint_value``, ``carried_value``, ``intercurrent_month``).
    The batch's paths know events after a dropout or past follow-up, which the DES never
    reaches: those are compared as not happened."""
    text, overrides = ENGINE_CASES[case]
    s = load(tmp_path, text, *overrides)
    n = 8
    fates = draw_fates(s, block_sequence(5, 0), n)
    r = randomise_block(s, fates, n)
    o = patient_outcomes(s, fates, r)
    happened = 0
    for t in range(n):
        label = f"{case}, trial {t}"
        p = simulate_trial(s, fates, t, detail=False).randomised
        mine = r["randomised"][t]
        order = np.argsort(p.slot)                     # the DES's patients in order of randomisation
        np.testing.assert_array_equal(p.slot[order], np.flatnonzero(mine), err_msg=f"{label}: who")
        value = p.endpoint_value[order]
        np.testing.assert_array_equal(value < 0, o["dropped"][t][mine], err_msg=f"{label}: missing")
        np.testing.assert_array_equal(value > 0, o["remission"][t][mine], err_msg=f"{label}: value")
        np.testing.assert_array_equal(p.carried_value[order] > 0, o["locf"][t][mine], err_msg=f"{label}: carried")
        drop = o["dropout_month"][t][mine]
        for i, name in enumerate(s.intercurrent):
            batch = o["intercurrent"][i][t][mine]
            reached = (batch <= s.trial.max_follow_up_months) & (batch < drop)
            expected = np.where(reached, batch, np.nan)
            np.testing.assert_array_equal(p.intercurrent_month[name][order], expected, err_msg=f"{label}: {name}")
            happened += int(reached.sum())
    assert happened > 0, f"{case}: no intercurrent event happened; the check is vacuous"


# --------------------------------------------------------------------------- 2. nothing moves

ZERO = HEADER + """
[intercurrent.stop]
kind = "discontinuation"
probability = 0.0
remission_hazard_after_per_month = 0.5
relapse_hazard_after_per_month = 0.5
[intercurrent.rescue]
kind = "rescue"
at_month = 6
probability = 0.0
remission_hazard_after_per_month = 0.5
[intercurrent.kfd]
kind = "kidney_failure_or_death"
probability = 0.0
[estimand]
strategies = { stop = "hypothetical", rescue = "composite", kfd = "while_on_treatment" }
"""


@pytest.mark.parametrize("missing", ["nonresponder", "complete_case", "locf"])
@pytest.mark.parametrize("engine", ["batch", "des"])
def test_events_that_never_happen_change_no_trial(tmp_path: Path, missing: str, engine: str) -> None:
    """Events of probability 0 (each kind, strategies that would matter): every trial's
    BlockOutcomes are those of the scenario without them, with follow-up past the endpoint."""
    extra = (f'analysis.missing="{missing}"', "dropout.probability_by_endpoint=0.3", *LONG_FOLLOW_UP)
    with_events = load(tmp_path, ZERO, *extra, name="with.toml")
    without = load(tmp_path, HEADER, *extra, name="without.toml")
    for block in (0, 1):
        a = simulate_block_designs([with_events], 3, block, 30, engine)[0]
        b = simulate_block_designs([without], 3, block, 30, engine)[0]
        assert_same(a, b, f"{engine}, {missing}, block {block}")
    truth = ice.true_values(with_events)["rtx_csa"]
    assert (truth.control, truth.treatment, truth.difference_se) == (0.60, 0.85, 0.0)


def test_an_estimand_without_events_changes_no_number_of_power(tmp_path: Path) -> None:
    """``power --json``: the same scenario with an ``[estimand]`` (population, variable, summary
    measure in words) but no intercurrent events gives the same numbers, key by key; only the
    estimand record (and the run time) differ."""
    import json

    plain = write(tmp_path, HEADER, "plain.toml")
    named = write(tmp_path, HEADER + """
[estimand]
population = "adults with iMN and nephrotic proteinuria"
variable = "CR or PR at month 24, by the registry's definitions"
summary_measure = "odds_ratio"
""", "named.toml")
    runs = []
    for path in (plain, named):
        code, out, err = call(["power", path, "--json", "--replicates", "400", "--jobs", "1"], tmp_path)
        assert code == 0, err
        runs.append(json.loads(out))
    a, b = runs
    assert a.keys() == b.keys()
    differ = {k for k in a if a[k] != b[k]} - {"elapsed_seconds"}
    assert differ == {"estimand", "comparisons"}, differ
    # the comparison gains the odds ratio's figures; every other figure is the same
    ca, cb = a["comparisons"][0], b["comparisons"][0]
    ratio_figures = {"summary_measure", "true_ratio", "true_log_ratio_mc_se", "mean_log_ratio",
                     "mean_log_ratio_mc_se", "log_ratio_bias", "ratio_ci_coverage", "ratio_ci_coverage_se"}
    assert ca.keys() == cb.keys()
    assert all(ca[k] == cb[k] for k in ca.keys() - ratio_figures)
    assert cb["summary_measure"] == "odds_ratio" and cb["true_ratio"] > 1 and ca["summary_measure"] == "risk_difference"
    assert b["estimand"]["summary_measure"] == "odds_ratio"
    assert b["estimand"]["population"].startswith("adults with iMN")
    assert a["estimand"]["true_values"] == b["estimand"]["true_values"]
    assert a["estimand"]["intercurrent_events"] == b["estimand"]["intercurrent_events"] == []


# --------------------------------------------------------------------------- 3. the truth against theory

def truncated_weibull(median: float, shape: float, end: float):
    """The density on [0, end] of the time to first remission among responders: a Weibull of
    ``shape`` truncated to [0, end] whose median is ``median`` (solved here by root finding)."""
    def cdf(t, scale):
        return -math.expm1(-(t / scale) ** shape)

    scale = optimize.brentq(lambda sc: cdf(median, sc) - cdf(end, sc) / 2, 1e-3 * median, 1e3 * end, xtol=1e-13)
    total = cdf(end, scale)
    return lambda t: shape / scale * (t / scale) ** (shape - 1) * math.exp(-(t / scale) ** shape) / total


def relapse_hazard(s: Scenario, arm: str):
    """H(t), the arm's cumulative relapse hazard (its hazard, then the off-CNI hazard from the
    rebound month), none with relapse off."""
    a = s.arm(arm)
    if not s.outcome.relapse:
        return lambda t: 0.0
    h, h_off, c = a.relapse_hazard_per_month, a.off_cni_hazard, a.rebound_month
    return lambda t: h * min(t, c) + (h_off * max(t - c, 0.0) if math.isfinite(c) else 0.0)


def quad(f, lo, hi, points=()):
    return integrate.quad(f, lo, hi, points=[p for p in points if lo < p < hi] or None, epsabs=1e-12,
                          epsrel=1e-11, limit=200)[0]


def per_arm_se(shift_probability: float) -> float:
    """The Monte Carlo SE of one arm's truth: the scenario's rate (exact) plus the mean of a
    per-patient shift that is -1 with this probability (else 0) over the reference sample."""
    x = shift_probability
    return math.sqrt(x * (1 - x) / TRUTH_N)


@pytest.mark.parametrize("endpoint", ["cr_or_pr", "cr"])
def test_truth_with_every_strategy_hypothetical_is_the_assumed_rates(tmp_path: Path, endpoint: str) -> None:
    """Every event hypothetical: the world without them is the outcome model, whose rates are
    exactly the arms' ``remission_at_endpoint`` (with the CR endpoint, the CR rates): the truth
    is those, with no Monte Carlo error."""
    extra = (*FREQUENT, 'estimand.strategies={csa_toxicity = "hypothetical", rescue = "hypothetical", '
             'kfd = "hypothetical"}')
    if endpoint == "cr":
        extra += ('trial.endpoint="cr"', "arms.rtx.remission_at_endpoint=0.3", "arms.rtx_csa.remission_at_endpoint=0.5")
    s = load(tmp_path, EXAMPLE, *extra)
    t = ice.true_values(s)["rtx_csa"]
    rc, rt = s.arm("rtx").remission_at_endpoint, s.arm("rtx_csa").remission_at_endpoint
    assert (t.control, t.treatment, t.difference_se) == (rc, rt, 0.0)
    assert t.difference == rt - rc
    record = ice.estimand_record(s)["true_values"][0]
    assert (record["true_control"], record["true_treatment"], record["true_difference_mc_se"]) == (rc, rt, 0.0)
    # the ratio measures of the same truth: ratios of the rates, no Monte Carlo error
    for measure, ratio in (("risk_ratio", rt / rc), ("odds_ratio", (rt / (1 - rt)) / (rc / (1 - rc)))):
        t = ice.true_values(load(tmp_path, EXAMPLE, *extra, f'estimand.summary_measure="{measure}"'))["rtx_csa"]
        assert t.ratio == pytest.approx(ratio, rel=1e-12) and t.log_ratio_se == 0.0, (measure, t)


def test_truth_with_kidney_failure_or_death_composite(tmp_path: Path) -> None:
    """Kidney failure or death only (composite), covariate effects off, independent of the
    remission path: each arm's truth is r_a x P(no event by the endpoint) =
    r_a x (1 - p_a)^(endpoint / by_month), within 4 Monte Carlo SE (per arm: the shift is -1 with
    probability r_a (1 - (1 - p_a)^(24/12)))."""
    p = {"rtx": 0.1, "rtx_csa": 0.2}
    s = load(tmp_path, HEADER + DEATH + '[estimand]\nstrategies = { kfd = "composite" }\n',
             f"intercurrent.kfd.probability={{rtx = {p['rtx']}, rtx_csa = {p['rtx_csa']}}}",
             "intercurrent.kfd.by_month=12", "outcome.covariate_effects=false")
    t = ice.true_values(s)["rtx_csa"]
    got = {"rtx": t.control, "rtx_csa": t.treatment}
    for arm, prob in p.items():
        r = s.arm(arm).remission_at_endpoint
        event = 1 - (1 - prob) ** (24 / 12)
        expected = r * (1 - event)
        se = per_arm_se(r * event)
        assert abs(got[arm] - expected) < 4 * se, (arm, got[arm], expected, se)
    expected_diff = 0.85 * (1 - 0.2) ** 2 - 0.60 * (1 - 0.1) ** 2
    assert abs(t.difference - expected_diff) < 4 * t.difference_se, (t.difference, expected_diff, t.difference_se)


@pytest.mark.parametrize("covariates", [True, False])
def test_truth_with_certain_rescue_composite(tmp_path: Path, covariates: bool) -> None:
    """Rescue at month 6 offered to every non-responder (probability 1), composite: an arm's
    truth is P(in remission at month 6 and at month 24) under the outcome model,
    = pi_a * int_0^6 f(t) exp(-(H(24) - H(t))) dt with pi_a = r_a / q_a, q_a the same integral
    to 24 (f the truncated Weibull density, H the cumulative relapse hazard), computed here by
    numerical integration; within 4 Monte Carlo SE per arm (the shift is -1 with probability
    r_a - truth). Covariates move each patient's chance of response, not the marginal rate."""
    s = load(tmp_path, HEADER + RESCUE + '[estimand]\nstrategies = { rescue = "composite" }\n',
             "intercurrent.rescue.probability=1.0", f"outcome.covariate_effects={str(covariates).lower()}")
    t = ice.true_values(s)["rtx_csa"]
    got = {"rtx": t.control, "rtx_csa": t.treatment}
    for arm in ("rtx", "rtx_csa"):
        a = s.arm(arm)
        f = truncated_weibull(a.median_months_to_remission, s.outcome.weibull_shape_time_to_remission, 24.0)
        H = relapse_hazard(s, arm)
        lasting = lambda u: f(u) * math.exp(-(H(24.0) - H(u)))  # noqa: E731
        kinks = (a.rebound_month,)
        q = quad(lasting, 0.0, 24.0, kinks)
        expected = a.remission_at_endpoint / q * quad(lasting, 0.0, 6.0, kinks)
        se = per_arm_se(a.remission_at_endpoint - expected)
        assert abs(got[arm] - expected) < 4 * se, (arm, got[arm], expected, se)
    # the truth moved: a real share of the endpoint's remissions came after month 6
    assert t.control < s.arm("rtx").remission_at_endpoint - 0.1


def test_truth_of_a_discontinuation_without_hazards_after(tmp_path: Path) -> None:
    """Discontinuation (treatment policy) with both after-hazards zero and relapse off: a
    remission under way at the discontinuation lasts, and a patient not in remission then never
    remits. So the truth is r_a x P(T <= D), T the time to remission (truncated Weibull) and D
    the discontinuation (hazard -ln(1 - p)/9 until month 9, none after):
    r_a x int_0^24 f(t) exp(-lambda min(t, 9)) dt, within 4 Monte Carlo SE per arm. And in the
    DES's trials no patient has a remission after their discontinuation."""
    p = {"rtx": 0.3, "rtx_csa": 0.5}
    s = load(tmp_path, HEADER + DISCONTINUATION + '[estimand]\nstrategies = { csa_toxicity = "treatment_policy" }\n',
             f"intercurrent.csa_toxicity.probability={{rtx = {p['rtx']}, rtx_csa = {p['rtx_csa']}}}",
             "intercurrent.csa_toxicity.remission_hazard_after_per_month=0",
             "intercurrent.csa_toxicity.relapse_hazard_after_per_month=0", "outcome.relapse=false")
    t = ice.true_values(s)["rtx_csa"]
    got = {"rtx": t.control, "rtx_csa": t.treatment}
    for arm, prob in p.items():
        a = s.arm(arm)
        f = truncated_weibull(a.median_months_to_remission, s.outcome.weibull_shape_time_to_remission, 24.0)
        lam = -math.log1p(-prob) / 9.0
        expected = a.remission_at_endpoint * quad(lambda u: f(u) * math.exp(-lam * min(u, 9.0)), 0.0, 24.0, (9.0,))
        se = per_arm_se(a.remission_at_endpoint - expected)
        assert abs(got[arm] - expected) < 4 * se, (arm, got[arm], expected, se)
    # patient by patient in the DES: nobody out of remission at their discontinuation remits later
    res = example_trial(s, 8)
    pts = res.patients
    stopped = pts["csa_toxicity_month"].notna()
    assert stopped.sum() > 10
    later = stopped & (pts["remission_month"] > pts["csa_toxicity_month"])
    assert not later.any(), pts.loc[later, ["patient", "remission_month", "csa_toxicity_month"]]
    # and their visits: never in remission after a visit out of remission that followed the stop
    status = pts[[c for c in pts if c.startswith("status_month_")]]
    months = np.array([float(c.removeprefix("status_month_")) for c in status.columns])
    for i in np.flatnonzero(stopped.to_numpy()):
        d = pts["csa_toxicity_month"].iloc[i]
        seen = status.iloc[i].to_numpy()
        after = months > d
        out = np.flatnonzero(after & (seen == "none"))
        if len(out):
            assert not np.isin(seen[out[0]:], ["partial", "complete"]).any(), (pts["patient"].iloc[i], d, seen)


# --------------------------------------------------------------------------- 4. the estimate lands on the truth

LANDING = {
    "example": (EXAMPLE, ()),
    "frequent events": (EXAMPLE, (*FREQUENT, "intercurrent.csa_toxicity.by_month=18")),
    "cr endpoint": (EXAMPLE, (*FREQUENT, 'trial.endpoint="cr"', "arms.rtx.remission_at_endpoint=0.3",
                              "arms.rtx_csa.remission_at_endpoint=0.5")),
}


@pytest.mark.parametrize("case", list(LANDING))
def test_the_mean_estimate_is_the_truth_and_intervals_cover_it(tmp_path: Path, case: str) -> None:
    """No dropout, treatment policy and composite strategies: the variable is observed for
    every patient, so the mean risk difference over 2,000 trials is the estimand's true
    difference within 3 combined Monte Carlo SE (the estimate's and the truth's), and the 95%
    intervals the default analysis reports (Fisher's test with the Newcombe interval of the
    difference, nearly exact at 63 per arm) cover it in 93-97% of trials (+-4 SE of a
    coverage of 0.95 over 2,000 trials: 0.0049 each)."""
    text, overrides = LANDING[case]
    s = load(tmp_path, text, *overrides, "dropout.probability_by_endpoint=0")
    assert all(v in ("treatment_policy", "composite") for v in s.strategies.values())
    r = estimate_power(s, 2000, 20240601, jobs=1, engine="batch")
    c = r.comparisons[0]
    truth, truth_se = ice.true_differences(s)["rtx_csa"]
    assert c.true_difference == truth
    assumed = s.arm("rtx_csa").remission_at_endpoint - s.arm("rtx").remission_at_endpoint
    assert abs(truth - assumed) > 0.02                    # the events moved the truth
    se = math.hypot(c.risk_difference_bias_se, truth_se)
    assert abs(c.mean_risk_difference - truth) < 3 * se, (c.mean_risk_difference, truth, se)
    assert 0.93 <= c.ci_coverage <= 0.97, c.ci_coverage


# --------------------------------------------------------------------------- 5. hypothetical + complete case

def complete_case_rates(s: Scenario, replicates: int = 2000) -> dict[str, tuple[float, float]]:
    """Each arm's mean complete-case proportion over the trials, with its Monte Carlo SE, and
    the mean difference (experimental - control)."""
    o = simulate_replicates(s, replicates, 77, jobs=1, engine="batch")
    x, n = o.counts("complete_case")
    x, n = x.sum(axis=1), n.sum(axis=1)                         # (trials, arms)
    share = x / n
    out = {arm: (share[:, k].mean(), share[:, k].std(ddof=1) / math.sqrt(len(share)))
           for k, arm in enumerate(s.arm_names)}
    d = share[:, 1] - share[:, 0]
    out["difference"] = (d.mean(), d.std(ddof=1) / math.sqrt(len(d)))
    return out


def test_hypothetical_rescue_by_complete_case_is_biased(tmp_path: Path) -> None:
    """Rescue at month 6 (probability 0.8), hypothetical, no dropout, complete case. The truth
    is the world without rescue: exactly the assumed rates (0.60, 0.85). The rescued are
    non-responders at month 6, whose later remission (which the hypothetical world has) is
    unobserved: the analysed patients are enriched in early responders, so each arm's
    complete-case rate is biased UP; the control (slower to remit: median 7.1 months against
    3) loses more of its late remitters, so its rate rises more, and the difference is biased
    DOWN (towards 0). Checked by at least 10 Monte Carlo SE each."""
    s = load(tmp_path, HEADER + RESCUE + '[estimand]\nstrategies = { rescue = "hypothetical" }\n',
             "intercurrent.rescue.probability=0.8", "dropout.probability_by_endpoint=0",
             'analysis.missing="complete_case"')
    t = ice.true_values(s)["rtx_csa"]
    assert (t.control, t.treatment) == (0.60, 0.85)
    got = complete_case_rates(s)
    for arm, truth in (("rtx", 0.60), ("rtx_csa", 0.85)):
        mean, se = got[arm]
        assert mean > truth + 10 * se, (arm, mean, truth, se)
    mean, se = got["difference"]
    assert mean < t.difference - 10 * se, (mean, t.difference, se)
    # the power run reports the same bias against the truth
    c = estimate_power(s, 2000, 77, jobs=1, engine="batch").comparisons[0]
    assert c.mean_risk_difference == pytest.approx(mean, abs=1e-12)
    assert c.mean_risk_difference - c.true_difference < -10 * c.risk_difference_bias_se


def test_hypothetical_discontinuation_by_complete_case_is_not_biased(tmp_path: Path) -> None:
    """The contrast: a discontinuation at a constant hazard, independent of the remission path,
    hypothetical, complete case, no dropout: the unobserved are a random subset, the mean
    difference is the truth (the assumed rates' difference, exactly) within 3 Monte Carlo SE."""
    s = load(tmp_path, HEADER + DISCONTINUATION + '[estimand]\nstrategies = { csa_toxicity = "hypothetical" }\n',
             "intercurrent.csa_toxicity.probability={rtx = 0.3, rtx_csa = 0.4}", "intercurrent.csa_toxicity.by_month=20",
             "dropout.probability_by_endpoint=0", 'analysis.missing="complete_case"')
    t = ice.true_values(s)["rtx_csa"]
    assert t.difference == 0.85 - 0.60
    got = complete_case_rates(s)
    for arm, truth in (("rtx", 0.60), ("rtx_csa", 0.85)):
        mean, se = got[arm]
        assert abs(mean - truth) < 3 * se, (arm, mean, truth, se)
    mean, se = got["difference"]
    assert abs(mean - t.difference) < 3 * se, (mean, t.difference, se)


# --------------------------------------------------------------------------- 6. validation errors

def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


VALIDATION = {
    "unknown arm": (EXAMPLE, ("intercurrent.csa_toxicity.probability={rtx_csa = 0.1, rtx_tac = 0.2}",),
                    ("intercurrent.csa_toxicity.probability", "'rtx_tac'", "rtx, rtx_csa")),
    "rescue without at_month": (EXAMPLE + '[intercurrent.late]\nkind = "rescue"\nprobability = 0.3\n', (),
                                ("intercurrent.late.at_month", "visit month")),
    "rescue off the schedule": (EXAMPLE, ("intercurrent.rescue.at_month=5",),
                                ("intercurrent.rescue.at_month", "5", "trial.visit_months")),
    "rescue at the endpoint": (EXAMPLE, ("intercurrent.rescue.at_month=24",),
                               ("intercurrent.rescue.at_month", "24", "before the endpoint")),
    "rescue after the endpoint": (EXAMPLE, (*LONG_FOLLOW_UP, "intercurrent.rescue.at_month=30"),
                                  ("intercurrent.rescue.at_month", "30", "before the endpoint")),
    "two rescues": (EXAMPLE + '[intercurrent.second]\nkind = "rescue"\nat_month = 9\nprobability = 0.3\n', (),
                    ("intercurrent", "rescue, second", "give one")),
    "treatment policy for death": (EXAMPLE, ('estimand.strategies.kfd="treatment_policy"',),
                                   ("estimand.strategies.kfd", "treatment_policy", "composite")),
    "strategy of an unknown event": (EXAMPLE, ('estimand.strategies.relapse="composite"',),
                                     ("estimand.strategies.relapse", "csa_toxicity, rescue, kfd")),
    "certain discontinuation": (EXAMPLE, ("intercurrent.csa_toxicity.probability=1.0",),
                                ("intercurrent.csa_toxicity.probability", "1.0", "below 1")),
    "certain discontinuation in an arm": (EXAMPLE, ("intercurrent.csa_toxicity.probability={rtx_csa = 1.0}",),
                                          ("intercurrent.csa_toxicity.probability", "1.0", "below 1")),
    "typo key": (EXAMPLE, ("intercurrent.csa_toxicity.by_mnth=9",),
                 ("intercurrent.csa_toxicity.by_mnth", "unknown field", "by_month")),
    "invalid id": (EXAMPLE + '[intercurrent.Bad-Id]\nkind = "discontinuation"\nprobability = 0.1\n', (),
                   ("intercurrent", "'Bad-Id'", "lower-case")),
    "unknown kind": (EXAMPLE, ('intercurrent.rescue.kind="switch"',),
                     ("intercurrent.rescue.kind", "'switch'", "discontinuation")),
    "unknown strategy": (EXAMPLE, ('estimand.strategies.rescue="ignore"',),
                         ("estimand.strategies.rescue", "'ignore'", "while_on_treatment")),
    "remission after death": (EXAMPLE, ("intercurrent.kfd.remission_hazard_after_per_month=0.1",),
                              ("intercurrent.kfd.remission_hazard_after_per_month", "0.1", "nobody remits")),
}


def assert_one_error_line(code: int, err: str, named: tuple[str, ...]) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for text in named:
        assert text in lines[0], (text, lines[0])


@pytest.mark.parametrize("case", list(VALIDATION))
@pytest.mark.parametrize("command", ["validate", "trial"])
def test_a_mistake_is_one_line_exit_2_and_nothing_written(tmp_path: Path, case: str, command: str) -> None:
    """Each mistake: exit code 2, one ``error:`` line naming the field, the value and what is
    allowed; ``trialsim trial`` (which would write its tables under results/) writes nothing."""
    text, overrides, named = VALIDATION[case]
    path = write(tmp_path, text)
    before = files_under(tmp_path)
    args = [command, path, *(x for o in overrides for x in ("--set", o))]
    code, out, err = call(args, tmp_path)
    assert_one_error_line(code, err, named)
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("value", ["1.5", "-0.1", '"high"', "{rtx = 1.5}"])
def test_an_out_of_range_probability_is_one_line_in_the_scenarios_terms(tmp_path: Path, value: str) -> None:
    code, _, err = call(["validate", write(tmp_path, EXAMPLE), "--set", f"intercurrent.rescue.probability={value}"],
                        tmp_path)
    assert_one_error_line(code, err, ("intercurrent.rescue.probability",))
    assert "constrained" not in err and "dict[" not in err, err


# --------------------------------------------------------------------------- 7. the story

STORY = (EXAMPLE, ("intercurrent.csa_toxicity.probability=0.6", "intercurrent.rescue.probability=1.0",
                   "intercurrent.kfd.probability=0.3"))


def test_the_story_tells_the_events_and_nobody_is_seen_after_death(tmp_path: Path) -> None:
    """``example_trial``: the event log tells "treatment discontinued", "rescue therapy" and
    "kidney failure or death" (each at the patient's randomisation + the event's month), the
    patients table has ``<id>_month`` columns and ``estimand_value``; no visit row (nor visit
    status) after a patient's kidney failure or death; the estimand value follows the
    composite rules."""
    text, overrides = STORY
    s = load(tmp_path, text, *overrides)
    res = example_trial(s, 5)
    pts, events, visits = res.patients, res.events, res.visits
    for name in s.intercurrent:
        assert f"{name}_month" in pts.columns
    assert "estimand_value" in pts.columns
    assert set(pts["estimand_value"]) <= {"yes", "no", "missing"}
    told = set(events["event"])
    assert {"treatment discontinued", "rescue therapy", "kidney failure or death"} <= told, told
    when = dict(zip(pts["patient"], pts["randomisation_month"]))
    for name, what in (("csa_toxicity", "treatment discontinued"), ("rescue", "rescue therapy"),
                       ("kfd", "kidney failure or death")):
        logged = events[events["event"] == what]
        had = pts[pts[f"{name}_month"].notna()]
        assert sorted(logged["patient"]) == sorted(had["patient"]), what
        for _, e in logged.iterrows():
            row = had[had["patient"] == e["patient"]].iloc[0]
            assert e["month"] == pytest.approx(when[e["patient"]] + row[f"{name}_month"], abs=1e-9)
    dead = pts[pts["kfd_month"].notna()]
    assert len(dead) >= 5
    for _, row in dead.iterrows():
        rows = visits[visits["patient"] == row["patient"]]
        assert (rows["visit_month"] <= row["kfd_month"]).all(), (row["patient"], row["kfd_month"], rows)
        after = [c for c in pts if c.startswith("status_month_") and float(c.removeprefix("status_month_"))
                 > row["kfd_month"]]
        assert (row[after] == "").all(), row[after]
        if row["kfd_month"] <= 24:
            assert row["estimand_value"] == "no"        # composite
    rescued = pts[pts["rescue_month"].notna()]
    assert len(rescued) and (rescued["rescue_month"] == 6).all()
    assert (rescued["status_month_6"] == "none").all()     # only non-responders at month 6 are rescued
    assert (rescued["estimand_value"] == "no").all()      # composite (no death before it decides otherwise)


def test_trial_json_and_tables(tmp_path: Path) -> None:
    """``trialsim trial --json --out``: exit 0, the patients.csv written has the events' month
    columns and the estimand's value, and events.csv tells the events."""
    import json

    import pandas as pd

    text, overrides = STORY
    path = write(tmp_path, text)
    out = tmp_path / "story"
    code, stdout, err = call(["trial", path, "--json", "--seed", "5", "--out", out,
                              *(x for o in overrides for x in ("--set", o))], tmp_path)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["n_randomised"] == 126
    pts = pd.read_csv(out / "patients.csv")
    assert {"csa_toxicity_month", "rescue_month", "kfd_month", "estimand_value"} <= set(pts.columns)
    events = pd.read_csv(out / "events.csv")
    assert {"treatment discontinued", "rescue therapy", "kidney failure or death"} <= set(events["event"])


def test_nothing_is_told_of_a_patient_after_kidney_failure_or_death(tmp_path: Path) -> None:
    text, overrides = STORY
    s = load(tmp_path, text, *overrides)
    res = example_trial(s, 5)
    pts, events = res.patients, res.events
    dead = pts[pts["kfd_month"].notna()]
    told_after = []
    for _, row in dead.iterrows():
        death = row["randomisation_month"] + row["kfd_month"]
        mine = events[(events["patient"] == row["patient"]) & (events["month"] > death + 1e-9)]
        told_after += mine["event"].tolist()
    assert told_after == [], sorted(set(told_after))


def test_consort_analysed_is_what_the_analysis_analysed(tmp_path: Path) -> None:
    s = load(tmp_path, EXAMPLE, *FREQUENT, 'analysis.missing="complete_case"',
             'estimand.strategies.csa_toxicity="hypothetical"')
    res = example_trial(s, 5)
    r = res.randomised
    for k, arm in enumerate(s.arm_names):
        known = int((r.endpoint_value[r.arm == k] >= 0).sum())
        assert res.consort["analysed_per_arm"][arm] == known, (arm, res.consort["analysed_per_arm"][arm], known)
