"""The reference computations the tests and the validation page share: the bare two-binomial
scenario, exact enumerations, scipy's and statsmodels' calls, and the data the statsmodels
comparisons fit. ``reference_values.py`` records each comparison's call and inputs; this module
carries them out, so a test and ``docs/scripts/validation.py`` compute one and the same reference.

Plain functions, no pytest: the page imports this module outside a test session. statsmodels is
imported inside the functions that call it, so importing this module stays cheap.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
from scipy import special, stats

# ------------------------------------------------------------------------------ the bare problem
ALL_ELIGIBLE = [
    "eligibility.age_min_years=0", "eligibility.age_max_years=120", "eligibility.proteinuria_min_g_day=0",
    "eligibility.proteinuria_max_reduction_fraction=1", "eligibility.egfr_min_ml_min=0",
    "cohort.diabetes_fraction=0", "cohort.active_infection_fraction=0", "cohort.secondary_cause_fraction=0",
    "cohort.pregnant_or_breastfeeding_fraction=0", "cohort.contraception_or_sterile_fraction=1",
    "cohort.bp_controlled_fraction=1", "cohort.acei_arb_intolerant_fraction=1",
    "cohort.prior_steroid_mmf_fraction=0", "cohort.prior_alkylating_fraction=0",
    "cohort.resistant_cni_fraction=0", "cohort.resistant_rtx_fraction=0", "cohort.resistant_alkylating_fraction=0",
    "cohort.prior_relapse_fraction=0",
]
"""Overrides under which everyone referred is eligible."""


def bare_overrides(n: int, test: str = "fisher", missing: str = "nonresponder", dropout: float = 0.0,
                   rates=(0.60, 0.85), extra=()) -> list[str]:
    """Overrides reducing the registered design to the bare two-binomial problem: everyone referred
    is eligible, referrals are plentiful (twice what is needed, homogeneous sites, so recruitment
    always completes), covariate effects are off and blocks have size 2, so each arm has exactly n
    patients, each in remission at the endpoint with the arm's rate, independently."""
    window = 40.0
    rate = 2 * n * 2.0 / (4 * (window - 2.0))
    return ALL_ELIGIBLE + [
        f"trial.n_per_arm={n}", f"analysis.test={test}", f"analysis.missing={missing}",
        f"dropout.probability_by_endpoint={dropout}", "outcome.covariate_effects=false",
        f"arms.rtx.remission_at_endpoint={rates[0]}", f"arms.rtx_csa.remission_at_endpoint={rates[1]}",
        "randomisation.block_sizes=[2]", f"recruitment.rate_per_site_month={rate}",
        "recruitment.rate_gamma_shape=10000", "recruitment.site_activation_months_max=2",
        f"trial.hard_stop_months={window}", f"trial.recruitment_months={window}",
        "recruitment.loss_during_deferral_probability=0", "simulation.block_size=250", *extra,
    ]


def group_sequential_overrides(fractions, spending: str, futility: str | None) -> list[str]:
    """The interim looks of a group-sequential comparison: the information fractions, the
    efficacy spending function and, if any, the futility rule."""
    return ["interim.information_fractions=[%s]" % ", ".join(f"{f:.12g}" for f in fractions),
            f'interim.efficacy_spending="{spending}"', *([f'interim.futility="{futility}"'] if futility else [])]


# ------------------------------------------------------------------------------------ tolerances
def mc_se(p: float, replicates: int) -> float:
    """The Monte Carlo SE the simulated-power tests allow for: sqrt(max(p (1 - p), 1e-4) / replicates)
    at the exact p (the floor keeps a share near 0 or 1 from demanding exactness)."""
    return math.sqrt(max(p * (1 - p), 1e-4) / replicates)


def short(x: float) -> str:
    """A small number in short scientific notation: 1e-7, 5e-5, 2.5e-8."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def within_tolerance(reference: float, value: float, tolerance: dict,
                     replicates: int | None = None) -> tuple[str, bool]:
    """Whether ``value`` lies within ``tolerance`` of ``reference``, a tolerance as
    reference_values.py defines them and the tests apply them, and the allowance in words (the
    bound, or "equal at 3 decimals"). ``replicates``: the number of trials of a simulated share."""
    diff = abs(value - reference)
    if "decimals" in tolerance:
        return f"equal at {tolerance['decimals']} decimals", round(value, tolerance["decimals"]) == reference
    if "mc_se" in tolerance:
        bound = tolerance["mc_se"] * mc_se(reference, replicates)
        return f"{tolerance['mc_se']:g} MC SE = {bound:.4f}", diff <= bound
    scaled = tolerance["rel"] * abs(reference)
    bound = tolerance["abs"] + scaled if tolerance["combine"] == "sum" else max(tolerance["abs"], scaled)
    return ("0 (equal)" if bound == 0 else short(bound)), diff <= bound


def tolerance_words(tolerance: dict) -> str:
    """A tolerance of reference_values.py in words, with its reason."""
    if "decimals" in tolerance:
        how = f"equal at {tolerance['decimals']} decimals"
    elif "mc_se" in tolerance:
        how = f"{tolerance['mc_se']:g} Monte Carlo SE"
    elif tolerance["abs"] == 0 and tolerance["rel"] == 0:
        how = "equal"
    else:
        parts = [f"{short(tolerance['abs'])} absolute" if tolerance["abs"] else "",
                 f"{short(tolerance['rel'])} relative" if tolerance["rel"] else ""]
        how = (" + " if tolerance["combine"] == "sum" else " or ").join(p for p in parts if p)
    return f"{how} ({tolerance['reason']})"


# ----------------------------------------------------------------------------- exact enumeration
def complete_case_power(n: int, dropout: float, p_c: float, p_t: float, alpha: float) -> float:
    """Exact Fisher power with MCAR dropout and complete cases: each arm's analysed number is
    Binomial(n, 1 - dropout), independently, and the power a mixture of exact powers over them."""
    from simulate.analysis import formulas

    w = stats.binom.pmf(np.arange(n + 1), n, 1 - dropout)
    return sum(w[mc] * w[mt] * formulas.exact_power("fisher", mc, mt, p_c, p_t, alpha)
               for mc in range(1, n + 1) for mt in range(1, n + 1) if w[mc] * w[mt] > 1e-10)


def brute_force_power(test, n_c, n_t, p_c, p_t, alpha, alternative):
    """Table-by-table enumeration with scipy's own tests."""
    total = 0.0
    for x_c, x_t in itertools.product(range(n_c + 1), range(n_t + 1)):
        table = np.array([[x_t, n_t - x_t], [x_c, n_c - x_c]])
        if test == "fisher":
            p = stats.fisher_exact(table, alternative=alternative).pvalue
        else:
            degenerate = 0 in table.sum(axis=0)
            p = 1.0 if degenerate else stats.chi2_contingency(table, correction=False).pvalue
        if p < alpha:
            total += stats.binom.pmf(x_c, n_c, p_c) * stats.binom.pmf(x_t, n_t, p_t)
    return total


def next_stage(state: dict, m: int, p_c: float, p_t: float) -> tuple[np.ndarray, np.ndarray]:
    """The trials still running (``state``: cumulative responders (x_c, x_t) -> probability)
    after ``m`` more patients per arm: every cumulative table reached, and its probability."""
    pc, pt = stats.binom.pmf(np.arange(m + 1), m, p_c), stats.binom.pmf(np.arange(m + 1), m, p_t)
    new: dict = {}
    for (xc, xt), w in state.items():
        for i, j in itertools.product(range(m + 1), range(m + 1)):
            new[(xc + i, xt + j)] = new.get((xc + i, xt + j), 0.0) + w * pc[i] * pt[j]
    return np.array(list(new)), np.array(list(new.values()))


def exact_group_sequential(stage_n: list[int], p_c: float, p_t: float, efficacy, futility=None):
    """P(reject at each look) of the group-sequential pooled-z test with ``stage_n[k]`` new
    patients per arm at look k, every table enumerated: a trial continues while its z lies
    between the futility bound (if any) and the efficacy bound."""
    from simulate.analysis import interim

    state = {(0, 0): 1.0}        # (cumulative x_c, x_t) -> probability of being there and still running
    n = 0
    reject = []
    for k, m in enumerate(stage_n):
        n += m
        keys, probs = next_stage(state, m, p_c, p_t)
        z = interim.statistic(keys[:, 0], np.full(len(keys), n), keys[:, 1], np.full(len(keys), n), 0.0)
        up = z >= efficacy[k]
        down = (z < futility[k]) if futility is not None and k < len(stage_n) - 1 else np.zeros(len(z), bool)
        reject.append(float(probs[up].sum()))
        state = {tuple(key): w for key, w, stop in zip(keys.tolist(), probs, up | down) if not stop}
    return reject


def r_power_prop_test(n, p1, p2, sig_level=0.05, tside=2):
    """R's power.prop.test power function (strict = FALSE), transcribed."""
    q1, q2 = 1 - p1, 1 - p2
    return stats.norm.cdf((math.sqrt(n) * abs(p1 - p2)
                           - stats.norm.ppf(1 - sig_level / tside)
                           * math.sqrt((p1 + p2) * (q1 + q2) / 2))
                          / math.sqrt(p1 * q1 + p2 * q2))


# ----------------------------------------------------------------------- p-values: scipy, statsmodels
def degenerate(x_c, n_c, x_t, n_t):
    """An empty arm, no responders or only responders: the table carries no evidence."""
    k, n = x_c + x_t, n_c + n_t
    return n_c == 0 or n_t == 0 or k == 0 or k == n


def no_wald_variance(x_c, n_c, x_t, n_t):
    """Both arms' rates are 0 or 1: the Wald variance is 0 and the table carries no evidence."""
    return all(x in (0, n) for x, n in ((x_c, n_c), (x_t, n_t)))


def scipy_table(x_c, n_c, x_t, n_t):
    """The orientation documented in simulate.analysis: treatment row first, responders first."""
    return np.array([[x_t, n_t - x_t], [x_c, n_c - x_c]])


def ref_fisher(x_c, n_c, x_t, n_t, alternative):
    return stats.fisher_exact(scipy_table(x_c, n_c, x_t, n_t), alternative=alternative).pvalue


def ref_chi2(x_c, n_c, x_t, n_t, correction, alternative):
    res = stats.chi2_contingency(scipy_table(x_c, n_c, x_t, n_t), correction=correction)
    if alternative == "two-sided":
        return res.pvalue
    sign = np.sign(x_t / n_t - x_c / n_c)
    return stats.norm.sf(sign * np.sqrt(res.statistic))


def ref_ztest(x_c, n_c, x_t, n_t, alternative):
    from statsmodels.stats.proportion import proportions_ztest

    alt = "larger" if alternative == "greater" else "two-sided"
    return proportions_ztest([x_t, x_c], [n_t, n_c], alternative=alt)[1]


def ref_wald(x_c, n_c, x_t, n_t, alternative):
    from statsmodels.stats.proportion import test_proportions_2indep

    alt = "larger" if alternative == "greater" else "two-sided"
    with warnings.catch_warnings():   # statsmodels also computes the ratio and odds ratio, dividing by 0
        warnings.simplefilter("ignore", RuntimeWarning)
        return test_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff", alternative=alt).pvalue


def reference_p_value(test, table, alternative):
    """The reference p-value of one table: scipy for Fisher and the chi-square tests (and
    Farrington-Manning at margin 0, the pooled z-test), statsmodels for the z and Wald tests."""
    if test == "fisher":
        return ref_fisher(*table, alternative)
    if test == "ztest":
        return ref_ztest(*table, alternative)
    if test == "wald":
        return ref_wald(*table, alternative)
    return ref_chi2(*table, test == "chi2_yates", alternative)


# ------------------------------------------------------------------------ statsmodels' fitted models
def design_block(rng, sizes, patients=90):
    """(X, y, mask) of len(sizes) trials: intercept, arm, log2 anti-PLA2R titre, proteinuria
    (g/day), last observed status; trial i has its first sizes[i] slots, 90% of them observed."""
    trials = len(sizes)
    arm = rng.integers(0, 2, (trials, patients))
    titre = rng.normal(7.0, 1.5, (trials, patients))
    proteinuria = rng.lognormal(1.8, 0.4, (trials, patients))
    last = (rng.random((trials, patients)) < 0.4).astype(float)
    X = np.stack([np.ones((trials, patients)), arm, titre, proteinuria, last], axis=2)
    eta = 1.0 + 0.9 * arm - 0.35 * (titre - 7) - 0.1 * (proteinuria - 6) + 1.2 * last - 0.5
    y = (rng.random((trials, patients)) < special.expit(eta)).astype(float)
    mask = (np.arange(patients)[None, :] < np.asarray(sizes)[:, None]) & (rng.random((trials, patients)) < 0.9)
    return X, y, mask


def mar_block(rng, trials, n_per_arm=63, a=-0.2, b=0.8, c=-1.2, miss=(-1.5, -0.8), slope=(0.0, 2.0)):
    """Trials whose endpoint follows logit P(y) = a + b arm + c x (x a standardised log titre,
    plus a pure-noise proteinuria covariate) and goes missing with logit P = miss[arm] +
    slope[arm] x: missing at random given x. Returns (data, complete y)."""
    from simulate.analysis.imputation import ImputationData

    n = 2 * n_per_arm
    arm = np.tile(np.repeat([0, 1], n_per_arm), (trials, 1)).astype(np.int8)
    x = rng.standard_normal((trials, n))
    noise = rng.standard_normal((trials, n))
    y = (rng.random((trials, n)) < special.expit(a + b * arm + c * x)).astype(np.int8)
    lost = rng.random((trials, n)) < special.expit(np.where(arm == 1, miss[1] + slope[1] * x, miss[0] + slope[0] * x))
    data = ImputationData(np.ones((trials, n), bool), arm, np.where(lost, -1, y).astype(np.int8),
                          np.stack([x, noise], axis=2))
    return data, y


def statsmodels_logistic_fit(X, y):
    """statsmodels' maximum-likelihood logistic fit of one trial: (coefficients, covariance)."""
    import statsmodels.api as sm

    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-13)
    return ref.params, ref.cov_params()


def statsmodels_combine(completed, arm):
    """MICE.combine over OLS fits of y on (1, arm) with HC0 errors, one per completed data set:
    (estimate, total variance) of the arm coefficient, the risk difference."""
    import statsmodels.api as sm
    from statsmodels.imputation.mice import MICE

    X = sm.add_constant(arm.astype(float))
    pooled = MICE.__new__(MICE)  # only combine() is used: it reads the fits and three names
    pooled.results_list = [sm.OLS(y.astype(float), X).fit(cov_type="HC0") for y in completed]
    pooled.exog_names, pooled.endog_names, pooled.model_class = ["const", "arm"], "y", sm.OLS
    res = pooled.combine()
    return res.params[1], res.cov_params()[1, 1]


def statsmodels_g_computation(data, i: int):
    """Trial i of an ``AdjustmentData`` by statsmodels: the GLM's fit (coefficients, model
    covariance), the two standardised rates, the predictions under each arm and their designs."""
    import statsmodels.api as sm

    m = data.analysed[i]
    X = np.column_stack([np.ones(m.sum()), data.arm[i][m], data.X[i][m]])
    fit = sm.GLM(data.y[i][m].astype(float), X, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200)
    as_arm = [X.copy(), X.copy()]
    as_arm[0][:, 1], as_arm[1][:, 1] = 0.0, 1.0
    mu = [fit.predict(Z) for Z in as_arm]
    return fit, [float(np.mean(v)) for v in mu], mu, as_arm
