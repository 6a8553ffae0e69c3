"""The registry of analyses: one registration adds an analysis everywhere (scenario, docs,
report words, lab menus, power, the sample-size search's start), its metadata loads without
numerics, every built-in analysis gives through the registry what its own functions give, the
decision rules plug in by scale (the final look of a group-sequential design included), and a
scoped registration travels with the prepared design to the processes that run its trials."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from conftest import DEFAULT_SCENARIO, ROOT
from simulate.design import choices
from simulate.analysis import registry
from simulate.analysis.base import Estimates, Setting, TwoArms
from simulate.analysis.compare import analyse, p_values
from simulate.analysis.rules import CONTINUE, FUTILITY, REJECT, Level, Multiplicity, decision_rule
from simulate.errors import ScenarioError
from simulate.design.loader import load_scenario

SCENARIO = DEFAULT_SCENARIO


def evaluate_unpooled(data: TwoArms, setting: Setting) -> Estimates:
    """A small extra analysis for the tests: the Wald z-test (unpooled variance), defined here
    as an analysis module of its own would define it."""
    from simulate.analysis.intervals import difference
    from simulate.analysis.large_sample import normal_p

    est, low, high = difference(data, setting)
    n_c, n_t = np.maximum(data.n_c, 1), np.maximum(data.n_t, 1)
    p_c, p_t = data.x_c / n_c, data.x_t / n_t
    var = p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t
    ok = (data.n_c > 0) & (data.n_t > 0) & (var > 0)
    z = np.where(ok, (p_t - p_c) / np.sqrt(np.where(ok, var, 1.0)), 0.0)
    return Estimates(est, low, high, np.where(ok, normal_p(z, setting.alternative), 1.0))


UNPOOLED = registry.Entry("wald_unpooled", "Wald z", "Wald z", "Wald z-test (unpooled)",
                          "Two-proportion z-test with the unpooled (Wald) variance.",
                          f"{__name__}:evaluate_unpooled", sample_size="simulate.analysis.formulas:n_per_arm_pooled_normal")


def test_a_registered_analysis_is_offered_everywhere_and_runs_a_power() -> None:
    from simulate.design.reference import field_rows
    from simulate.run.power import estimate_power
    from simulate.report import words
    from simulate.teach import lab
    from simulate.teach.figures import TEST_LABELS

    before = registry.names()
    with registry.registered(UNPOOLED):
        assert choices.TESTS == (*before, "wald_unpooled")
        scenario = load_scenario(SCENARIO, ["analysis.test=wald_unpooled", "trial.n_per_arm=30"])
        assert scenario.analysis.test == "wald_unpooled"
        assert words.TEST_NAMES["wald_unpooled"] == "Wald z-test (unpooled)"
        assert TEST_LABELS["wald_unpooled"] == "Wald z"
        assert "wald_unpooled" in lab.usable_tests(scenario)[0]
        row = next(r for r in field_rows() if r[0] == "analysis.test")
        assert "`wald_unpooled`" in row[2] and "unpooled (Wald) variance" in row[3]
        result = estimate_power(scenario, replicates=200, seed=11, jobs=1)
        pooled = estimate_power(load_scenario(SCENARIO, ["analysis.test=ztest", "trial.n_per_arm=30"]),
                                replicates=200, seed=11, jobs=1)
    assert registry.names() == before
    with pytest.raises(ScenarioError, match="analysis.test: got 'wald_unpooled'; must be one of"):
        load_scenario(SCENARIO, ["analysis.test=wald_unpooled"])
    # the same trials under both z-tests: Wald's variance is at least the pooled one's smaller
    # neighbour, so the two powers differ by a handful of borderline trials, not by chance
    assert result.replicates == pooled.replicates == 200
    assert abs(result.power - pooled.power) <= 0.05, (result.power, pooled.power)
    assert 0.3 < result.power < 1.0


def test_a_scoped_registration_is_undone_when_its_block_fails() -> None:
    before = registry.names()
    with pytest.raises(RuntimeError):
        with registry.registered(UNPOOLED):
            raise RuntimeError("inside")
    assert registry.names() == before
    with pytest.raises(ValueError, match="already registered"):
        with registry.registered(registry.get("fisher")):
            pass
    assert registry.names() == before


def test_registry_and_scenario_load_without_numerics() -> None:
    code = ("import sys; from simulate.analysis import registry; from simulate.design.loader import load_scenario; "
            f"load_scenario({str(SCENARIO)!r}); registry.get('fisher').title; "
            "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "scipy" not in out.stdout.strip().splitlines()[-1], out.stdout


@pytest.mark.parametrize("entry", registry.BUILT_IN, ids=lambda e: e.name)
def test_every_built_in_analysis_agrees_with_its_own_functions(entry) -> None:
    """Through the registry (``analyse``), each analysis gives the statistic of its own
    module's function, the risk difference and the interval of today's definitions."""
    from simulate.analysis import cmh, fisher, intervals, large_sample, noninferiority, wald
    from simulate.analysis.beta_posterior import posterior_mixture, prob_difference_greater
    from simulate.analysis.posterior import FLAT

    rng = np.random.default_rng(7)
    n_c, n_t = rng.integers(0, 40, size=(2, 300, 2))
    x_c, x_t = rng.binomial(n_c, 0.5), rng.binomial(n_t, 0.7)
    totals = [a.sum(axis=1) for a in (x_c, n_c, x_t, n_t)]
    alternative = entry.alternatives[-1]
    margin = 0.1 if "non_inferiority" in entry.hypotheses else 0.0
    confidence = 0.95 if alternative == "two-sided" else 0.9
    if entry.name in ("g_computation", "mantel_haenszel"):
        _adjusted_agrees(entry, x_c, n_c, x_t, n_t, totals, alternative, margin, confidence)
        return
    res = analyse(entry.name, 0.05, *totals, alternative=alternative, margin=margin,
                  strata=(x_c, n_c, x_t, n_t) if entry.strata else None)
    counts = [np.asarray(a, dtype=np.int64) for a in totals]
    expected = {
        "fisher": lambda: fisher.fisher_p(*counts, alternative),
        "chi2": lambda: large_sample.chi2_p(*counts, alternative, False),
        "chi2_yates": lambda: large_sample.chi2_p(*counts, alternative, True),
        "ztest": lambda: large_sample.ztest_p(*counts, alternative),
        "farrington_manning": lambda: noninferiority.farrington_manning_p(*counts, margin, alternative),
        "cmh": lambda: cmh.cmh_p_values(x_c, n_c, x_t, n_t, alternative),
        "wald": lambda: wald.wald_p(*counts, alternative, margin),
        "posterior": lambda: prob_difference_greater(posterior_mixture(FLAT, counts[2], counts[3]),
                                                     posterior_mixture(FLAT, counts[0], counts[1]), -margin),
    }[entry.name]()
    np.testing.assert_array_equal(res.statistic, expected)
    np.testing.assert_array_equal(res.reject, expected < 0.05 if entry.statistic == "p_value" else expected > 0.95)
    est, low, high = intervals.risk_difference(*totals, "newcombe", confidence)
    if entry.name == "farrington_manning":
        low, high = noninferiority.miettinen_nurminen_interval(*totals, confidence)
    if entry.name == "wald":
        est, low, high = intervals.risk_difference(*totals, "wald", confidence)
    for got, want in ((res.risk_difference, est), (res.ci_low, low), (res.ci_high, high)):
        np.testing.assert_array_equal(got, want)
    if not entry.strata:
        np.testing.assert_array_equal(p_values(entry.name, *totals, alternative, margin=margin), expected)


def _adjusted_agrees(entry, x_c, n_c, x_t, n_t, totals, alternative, margin, confidence) -> None:
    """The adjusted analyses through the registry: Mantel-Haenszel over the two strata, and
    g-computation of patients made from the tables without covariates, whose estimate is then the
    risk difference and whose model-robust variance the unpooled one with n - 1 denominators."""
    from scipy import stats

    from simulate.analysis.adjusted import AdjustmentData, mantel_haenszel

    if entry.name == "mantel_haenszel":
        res = analyse(entry.name, 0.05, *totals, alternative=alternative, margin=margin, strata=(x_c, n_c, x_t, n_t))
        est, se = mantel_haenszel(x_c, n_c, x_t, n_t)
    else:
        xc, nc, xt, nt = totals
        width = int((nc + nt).max())
        slot = np.arange(width)[None, :]
        arm = (slot >= nc[:, None]).astype(np.int8)
        y = ((slot < xc[:, None]) | ((slot >= nc[:, None]) & (slot < (nc + xt)[:, None]))).astype(np.int8)
        patients = AdjustmentData(analysed=slot < (nc + nt)[:, None], arm=arm, y=y, X=np.zeros((len(nc), width, 0)),
                                  names=())
        res = analyse(entry.name, 0.05, *totals, alternative=alternative, margin=margin, patients=patients)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_c, p_t = xc / nc, xt / nt
            est = p_t - p_c
            se = np.sqrt(p_t * (1 - p_t) / (nt - 1) + p_c * (1 - p_c) / (nc - 1))
        se = np.where((nc > 1) & (nt > 1), se, np.nan)
        est = np.where((nc > 0) & (nt > 0), est, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (est + margin) / se
    p = np.where(np.isfinite(z), stats.norm.sf(z) if alternative == "greater" else 2 * stats.norm.sf(abs(z)), 1.0)
    # g-computation fits by Newton's method under a prior of sd 1e4 (the maximum-likelihood fit to
    # within the fit's tolerance): its figures agree to 1e-6, Mantel-Haenszel's closed form to 1e-9
    tol = 1e-6 if entry.covariates else 1e-9
    np.testing.assert_allclose(res.statistic, p, rtol=tol, atol=1e-12)
    np.testing.assert_allclose(res.risk_difference, est, rtol=tol, atol=1e-9)
    half = stats.norm.ppf(0.5 + confidence / 2) * se
    np.testing.assert_allclose(res.ci_low, est - half, rtol=tol, atol=1e-9)
    np.testing.assert_array_equal(res.reject, res.statistic < 0.05)


@pytest.mark.parametrize("entry", registry.BUILT_IN, ids=lambda e: e.name)
def test_every_built_in_analysis_is_described_and_loadable(entry) -> None:
    from simulate.design.fields import HYPOTHESES

    assert entry.label and entry.short and entry.title and entry.description.endswith(".")
    assert set(entry.hypotheses) <= set(HYPOTHESES) and set(entry.alternatives) <= set(choices.ALTERNATIVES)
    assert callable(entry.load())
    formula = entry.sample_size_formula()
    if formula is not None:
        margin = 0.1 if entry.hypotheses[-1] == "non_inferiority" else 0.0
        n = formula(p_control=0.6, p_treat=0.85, alpha=0.025, power=0.8, alternative="greater", margin=margin)
        assert isinstance(n, int) and 10 < n < 200


def test_scenario_validation_reads_the_capabilities() -> None:
    with pytest.raises(ScenarioError, match="the Cochran–Mantel–Haenszel test needs strata"):
        load_scenario(SCENARIO, ["analysis.test=cmh", "randomisation.stratify_by=[]"])
    with pytest.raises(ScenarioError, match="farrington_manning is one-sided"):
        load_scenario(SCENARIO, ["analysis.test=farrington_manning"])
    with pytest.raises(ScenarioError, match="does not test non_inferiority: set test = \"farrington_manning\""):
        load_scenario(SCENARIO, ["analysis.hypothesis=non_inferiority", "analysis.margin=0.1",
                                 "analysis.alternative=greater", "analysis.alpha=0.025", "analysis.test=chi2"])


def test_the_group_sequential_rule_reads_the_registered_look_statistic() -> None:
    from simulate.analysis import interim

    for test in ("ztest", "farrington_manning"):
        extra = ["analysis.hypothesis=non_inferiority", "analysis.margin=0.15"] if test != "ztest" else []
        s = load_scenario(SCENARIO, [*extra, f"analysis.test={test}", "analysis.alternative=greater",
                                     "analysis.alpha=0.025", "interim.information_fractions=[0.5, 1.0]",
                                     'interim.futility="beta_spending"'])
        design = interim.design_for(s)
        rng = np.random.default_rng(3)
        n = rng.integers(0, 30, size=(2, 500))
        x = rng.binomial(n, 0.6)
        z = design.statistic(x[0], n[0], x[1], n[1])
        np.testing.assert_array_equal(z, interim.statistic(x[0], n[0], x[1], n[1], design.margin))
        codes = design.decide(z, 0)
        np.testing.assert_array_equal(codes, interim.decide(design, 0, z))
        assert set(np.unique(codes)) <= {CONTINUE, REJECT, FUTILITY} and (codes == FUTILITY).any()
        assert (codes[z >= design.efficacy[0]] == REJECT).all()


def test_rules_decide_on_their_own_scale() -> None:
    p = np.array([[0.001, 0.03], [0.2, 0.04]])
    assert (Level.of(0.05).decide(p) == [[REJECT, REJECT], [CONTINUE, REJECT]]).all()
    holm = decision_rule(0.05, "holm", "p_value", 2)
    assert isinstance(holm, Multiplicity)
    assert (holm.decide(p) == [[REJECT, REJECT], [CONTINUE, CONTINUE]]).all()
    assert decision_rule(0.05, "holm", "p_value", 1) == Level(0.05, "p_value")
    posterior = decision_rule(0.025, "none", "posterior_probability", 1)
    assert (posterior.rejects(np.array([0.99, 0.975, 0.5])) == [True, False, False]).all()
    with pytest.raises(ValueError, match="adjusts p-values"):
        decision_rule(0.05, "bonferroni", "posterior_probability", 2)
    assert FUTILITY not in (REJECT, CONTINUE)


def test_the_closed_form_n_is_the_registered_formula() -> None:
    from simulate.analysis import formulas

    assert formulas.closed_form_n("fisher", 0.6, 0.85) == formulas.n_per_arm_fleiss_cc(0.6, 0.85) == 57
    assert formulas.closed_form_n("chi2", 0.6, 0.85) == formulas.n_per_arm_pooled_normal(0.6, 0.85) == 49
    assert formulas.closed_form_n("farrington_manning", 0.6, 0.6, 0.025, 0.8, "greater", 0.15) == \
        formulas.n_per_arm_farrington_manning(0.6, 0.6, 0.15, 0.025, 0.8) == 166
    assert formulas.closed_form_n("cmh", 0.6, 0.85) is None
    with pytest.raises(ValueError, match="margin must be 0"):
        formulas.closed_form_n("ztest", 0.6, 0.85, margin=0.1)


GROUP_SEQUENTIAL = ['analysis.alternative="greater"', 'analysis.test="ztest"', "analysis.alpha=0.025",
                    "interim.information_fractions=[0.5, 1.0]", 'interim.futility="beta_spending"']


def test_the_final_look_decides_by_the_designs_rule() -> None:
    """REJECT where the z reaches the final bound of the interim looks held and the patients
    analysed (a tie rejects), CONTINUE (H0 stands) below it and for a trial without patients."""
    from simulate.analysis import interim

    design = interim.design_for(load_scenario(SCENARIO, GROUP_SEQUENTIAL))
    full, half = design.n_target, design.n_target // 2
    planned, short = design.final_bound(1, full), design.final_bound(1, half)
    assert planned == design.efficacy[-1] and short != planned
    z = np.array([planned, np.nextafter(planned, 0.0), short, np.nextafter(short, 0.0), 10.0, np.nan])
    n = np.array([full, full, half, half, 0, full])
    codes = design.decide_final(z, np.ones(6, dtype=int), n)
    assert codes.dtype == np.int8
    assert codes.tolist() == [REJECT, CONTINUE, REJECT, CONTINUE, CONTINUE, CONTINUE]
    assert design.decide_final(planned, 1, full) == REJECT          # one trial: the arguments broadcast


def test_both_engines_take_the_final_decision_from_the_design(monkeypatch) -> None:
    """The engines hold the looks and ask the design what its final look decides: a final rule
    that rejects whatever it is given makes a rejection of every trial that reached the final
    look, in both engines; a stop at an interim look keeps its own decision."""
    from simulate.analysis import interim
    from simulate.engines.batch import outcomes_from_batch
    from simulate.engines.blocks import outcomes_from_des
    from simulate.fates.draw import draw_fates
    from simulate.seeding import block_sequence

    s = load_scenario(SCENARIO, [*GROUP_SEQUENTIAL, "trial.n_per_arm=30"])
    fates = draw_fates(s, block_sequence(3, 0), 16)
    by_bound = outcomes_from_batch(s, fates, 16)
    assert not by_bound.sequential_reject[by_bound.stop_look < 0].all()   # the bound rejects some, not all
    asked = []

    def reject_all(self, statistic, reached, n_randomised):
        asked.append(np.size(statistic))
        return np.full(np.shape(statistic), REJECT, dtype=np.int8)

    monkeypatch.setattr(interim.Design, "decide_final", reject_all)
    for o in (outcomes_from_batch(s, fates, 16), outcomes_from_des(s, fates, 16)):
        final = o.stop_look < 0
        assert final.any() and o.sequential_reject[final].all()
        np.testing.assert_array_equal(o.sequential_reject[~final], o.stop_reason[~final] == REJECT)
    assert asked


def n_per_arm_doubled(p_control, p_treat, alpha, power, alternative, margin) -> int:
    """A closed form for the tests: twice the pooled normal's n."""
    from simulate.analysis import formulas

    return 2 * formulas.n_per_arm_pooled_normal(p_control, p_treat, alpha, power, alternative, margin)


def test_the_search_starts_from_the_registered_closed_form(monkeypatch) -> None:
    """The sample-size search starts from the closed form the analysis registers (for what the
    analysis sees after dropout), Fleiss' n when it has none; the report's closed forms stay the
    references they are, whatever the analysis."""
    from simulate.analysis import formulas
    from simulate.design.assumed import dropout_adjustment
    from simulate.run import samplesize

    fisher = load_scenario(SCENARIO)
    adj = dropout_adjustment(fisher)
    rates = (adj.p_control, adj.p_treat, 0.05, 0.8)
    fleiss = adj.n_randomised(formulas.n_per_arm_fleiss_cc(*rates))
    doubled = adj.n_randomised(2 * formulas.n_per_arm_pooled_normal(*rates))
    assert samplesize.first_guess(fisher, 0.8) == fleiss != doubled
    started = []

    def bracket(self, guess: int):                # a step of the search: it asks nothing and stops
        started.append(guess)
        return "stopped"
        yield

    monkeypatch.setattr(samplesize._Search, "bracket", bracket)
    with registry.registered(dataclasses.replace(UNPOOLED, name="wald_sized",
                                                 sample_size=f"{__name__}:n_per_arm_doubled")):
        sized = load_scenario(SCENARIO, ["analysis.test=wald_sized"])
        assert samplesize.first_guess(sized, 0.8) == doubled
        assert samplesize.find_sample_size(sized, 0.8, replicates=10, jobs=1).note == "stopped"
        assert samplesize.analytic_references(sized, 0.8) == samplesize.analytic_references(fisher, 0.8)
    assert started == [doubled]
    stratified = load_scenario(SCENARIO, ["analysis.test=cmh", 'randomisation.stratify_by=["proteinuria_high"]'])
    assert registry.get("cmh").sample_size is None and samplesize.first_guess(stratified, 0.8) == fleiss


def _worker_record(parent: int) -> Path:
    """Where the workers of process ``parent`` note what they analysed (when that process made
    the file)."""
    return Path(tempfile.gettempdir()) / f"trialsim-test-registry-{parent}.txt"


def evaluate_recorded(data: TwoArms, setting: Setting) -> Estimates:
    """:func:`evaluate_unpooled`, noting in a worker process its id and whether its own registry
    holds the analysis (in the file its parent made: :func:`_worker_record`)."""
    record = _worker_record(os.getppid())
    if record.exists():
        with record.open("a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {'wald_recorded' in registry.names()}\n")
    return evaluate_unpooled(data, setting)


RECORDED = dataclasses.replace(UNPOOLED, name="wald_recorded", implementation=f"{__name__}:evaluate_recorded",
                               interim="simulate.analysis.noninferiority:score_z")


@pytest.mark.parametrize("workers", ["forked", "loky"])
def test_a_scoped_registration_is_used_by_worker_processes(workers, monkeypatch) -> None:
    """Power inside a scoped registration, its blocks on two worker processes that never saw the
    registration: forked before it (the session keeps them) or loky's fresh interpreters. The
    workers analyse with the analysis the prepared design brings, a fixed design and a
    group-sequential one, and the results are those of this process."""
    from simulate.run import parallel
    from simulate.run.power import summarise, tally_designs

    if workers == "loky":
        monkeypatch.setattr(parallel, "_fork_context", lambda: None)
    elif not parallel.forks_cheaply():
        pytest.skip("worker processes are not forked here")
    record = _worker_record(os.getpid())
    fixed = load_scenario(SCENARIO, ["trial.n_per_arm=30"])
    try:
        with parallel.session(parallel.Backend("loky", 2)):
            tally_designs([fixed], 500, 11, jobs=2)          # the workers start before the registration
            with registry.registered(RECORDED):
                designs = [load_scenario(SCENARIO, ["analysis.test=wald_recorded", "trial.n_per_arm=30"]),
                           load_scenario(SCENARIO, [*GROUP_SEQUENTIAL, "analysis.test=wald_recorded",
                                                    "trial.n_per_arm=30"])]
                record.write_text("", encoding="utf-8")
                there = [summarise(d, t, 11, "batch") for d, t in zip(designs, tally_designs(designs, 500, 11, 2))]
                here = [summarise(d, t, 11, "batch") for d, t in zip(designs, tally_designs(designs, 500, 11, 1))]
        notes = [line.split() for line in record.read_text(encoding="utf-8").splitlines()]
    finally:
        record.unlink(missing_ok=True)
    assert notes and {int(pid) for pid, _ in notes}.isdisjoint({os.getpid()})
    assert {known for _, known in notes} == {"False"}      # their registries never held it
    for mine, theirs in zip(here, there):
        assert theirs.replicates == 500 and (theirs.rejections, theirs.power) == (mine.rejections, mine.power)
        assert theirs.comparisons[0].mean_ci_width == mine.comparisons[0].mean_ci_width
    assert there[1].looks and not there[0].looks               # the group-sequential design's looks
