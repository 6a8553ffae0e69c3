"""The reference values the tests check trialsim against, as plain data: what other tools (R's
rpact and PropCIs, gsDesign's published tests, statsmodels, scipy) and exact enumeration give,
with the call that gave each and the tolerance the tests allow. The tests import them from here,
and so does ``docs/scripts/validation.py``, which writes the documentation's validation page: one
source for both, so the page shows what the tests assert. (The group-sequential values are kept in
``reference_sequential.py`` to keep modules short; they are re-exported here.)

Each comparison is a dict:

* ``id``, ``title``: its anchor and heading on the page;
* ``source``: the tool (and version) that gave the reference;
* ``tests``: the tests that assert it;
* ``note``: how the reference was produced, and what trialsim computes, in words;
* ``tolerance``: per quantity, how far trialsim may be from the reference (below);
* ``cases``: each with the ``call`` that produced the reference, its ``inputs``, its
  ``reference`` numbers and, where the page needs one, a ``label``.

A comparison with ``live`` true has its references computed where they are used (statsmodels,
scipy, exact enumeration: cheap, and exact to the last digit, so storing them would only freeze
one version's rounding); only a published number beside them (Cohen's h) is stored. Its calls and
inputs are recorded here; the computations themselves are in ``reference_calls.py``, shared by
the tests and the page.

A tolerance is ``{"abs": a, "rel": r, "combine": "sum" | "max", "reason": ...}``: the distance
may be at most a + r |reference| ("sum", numpy's ``assert_allclose``) or max(a, r |reference|)
("max", ``pytest.approx``); ``{"mc_se": k, ...}``: a simulated share must lie within k Monte Carlo
standard errors, sqrt(max(p (1 - p), 1e-4) / replicates) at the reference p; ``{"decimals": d}``:
equal once rounded to d decimals, for a value published to d decimals.
"""

from reference_sequential import (  # noqa: F401  (re-exported)
    GSDESIGN_HSD_BOUNDS,
    GSDESIGN_REPEATED_TESTING,
    JENNISON_TURNBULL_POCOCK,
    RPACT,
    RPACT_ALPHA_SPENT,
    RPACT_BOUNDARIES_TABLE,
    RPACT_DESIGNS,
    RPACT_EFFICACY_BOUNDS,
    RPACT_POCOCK,
)

PLAIN_SCENARIO = "tests/scenarios/nct04743739_without_events.toml"
"""The registered design without intercurrent events (a path from the repository's root)."""
EQUAL = {"abs": 0.0, "rel": 0.0, "combine": "sum", "reason": "whole patients: the same number"}
MC_3SE = {"mc_se": 3.0, "reason": "a simulated share, at the test's seed and number of trials"}
LIVE_NOTE = ("statsmodels and scipy are the versions installed where the tests (or the page) run; the tests need "
             "statsmodels >= 0.14.")

# ----------------------------------------------------------------------------------- rpact, PropCIs
RPACT_FARRINGTON_MANNING = {
    "id": "rpact-farrington-manning", "title": "Farrington-Manning test of non-inferiority (rpact)", "source": RPACT,
    "tests": ("tests/test_noninferiority.py::test_fm_matches_rpact",),
    "note": "Group 1 is the treatment; thetaH0 is the margin on the difference scale, pi1 - pi2. trialsim: "
            "`farrington_manning_statistic` and `farrington_manning_p` of `simulate.analysis.noninferiority`.",
    "tolerance": {"z": {"abs": 1e-12, "rel": 1e-12, "combine": "max", "reason": "closed form: rounding only"},
                  "p": {"abs": 1e-12, "rel": 1e-12, "combine": "max", "reason": "closed form: rounding only"}},
    "cases": [
        {"call": "d <- getDesignGroupSequential(kMax = 1, alpha = 0.025, sided = 1)\n"
                 f"ds <- getDataset(events1 = {x_t}, sampleSizes1 = {n_t}, events2 = {x_c}, sampleSizes2 = {n_c})\n"
                 f"st <- getStageResults(d, ds, thetaH0 = -{margin}, normalApproximation = TRUE, directionUpper = TRUE)\n"
                 'sprintf("%.15g %.15g", st$testStatistics[1], st$pValues[1])',
         "inputs": {"x_c": x_c, "n_c": n_c, "x_t": x_t, "n_t": n_t, "margin": margin},
         "reference": {"z": z, "p": p},
         # rpact takes 1 - pnorm(z), which loses digits in the far tail (p ~ 1e-12: 3e-5 relative)
         **({} if p > 1e-6 else {"tolerance": {"p": {"abs": 1e-12, "rel": 1e-4, "combine": "max",
                                                     "reason": "rpact's 1 - pnorm(z) loses digits in the far tail"}}})}
        for x_c, n_c, x_t, n_t, margin, z, p in (
            (45, 62, 40, 60, 0.15, 1.09747331126191, 0.136217270652177),
            (1, 34, 7, 34, 0.10, 3.18178747105492, 0.000731845916797313),
            (2, 30, 30, 40, 0.15, 6.98119167455607, 1.46338496875842e-12),
            (15, 25, 3, 20, 0.20, -1.77030701832079, 0.961661995223758),
            (48, 56, 50, 56, 0.10, 2.06131632085032, 0.0196364360804236),
            (0, 12, 0, 10, 0.20, 1.73205080756888, 0.0416322583317752),
            (9, 10, 10, 10, 0.05, 1.29002773243108, 0.0985205147235134),
        )
    ],
}

RPACT_FM_SAMPLE_SIZE = {
    "id": "rpact-fm-sample-size", "title": "Sample size for non-inferiority (rpact)", "source": RPACT,
    "tests": ("tests/test_noninferiority.py::test_farrington_manning_sample_size_matches_rpact",),
    "note": "Per group, not rounded (`s$nFixed` = 2 `nFixed1`). trialsim: `n_per_arm_farrington_manning` (rounded up) "
            "and its formula unrounded, with the restricted rates of `simulate.analysis.noninferiority`.",
    "tolerance": {"n": EQUAL, "nFixed1": {"abs": 1e-9, "rel": 0.0, "combine": "max",
                                          "reason": "closed form; rpact prints 10 decimals"}},
    "cases": [
        {"call": f"d <- getDesignGroupSequential(kMax = 1, alpha = {alpha}, sided = 1, beta = 1 - {power})\n"
                 f"s <- getSampleSizeRates(d, pi1 = {p_t}, pi2 = {p_c}, thetaH0 = -{margin},\n"
                 "                        normalApproximation = TRUE, groups = 2, allocationRatioPlanned = 1)\n"
                 'sprintf("%.10f", s$nFixed1)',
         "inputs": {"p_control": p_c, "p_treat": p_t, "margin": margin, "alpha": alpha, "power": power},
         "reference": {"nFixed1": n}}
        for p_c, p_t, margin, alpha, power, n in (
            (0.60, 0.60, 0.15, 0.025, 0.8, 165.1291309293),
            (0.85, 0.85, 0.10, 0.025, 0.8, 206.9030755433),
            (0.60, 0.70, 0.15, 0.025, 0.8, 56.5472099113),
            (0.50, 0.50, 0.10, 0.025, 0.9, 522.1913706641),
            (0.25, 0.20, 0.10, 0.025, 0.8, 1092.1018216001),
            (0.90, 0.90, 0.05, 0.025, 0.9, 774.5888780417),
            (0.60, 0.85, 0.15, 0.05, 0.8, 15.3176146311),
            (0.70, 0.65, 0.20, 0.025, 0.8, 149.9361224761),
        )
    ],
}

PROPCIS_MIETTINEN_NURMINEN = {
    "id": "propcis-miettinen-nurminen", "title": "Miettinen-Nurminen interval (R's PropCIs)",
    "source": "R's PropCIs, as recorded in statsmodels' test_confint_2indep_propcis",
    "tests": ("tests/test_noninferiority.py::test_mn_interval_matches_r_propcis",),
    "note": "x1 is the treatment. trialsim: `miettinen_nurminen_interval(1, 34, 7, 34, 0.95)`.",
    "tolerance": {"interval": {"abs": 1e-7, "rel": 0.0, "combine": "max", "reason": "printed to 7 decimals"}},
    "cases": [{"call": "library(PropCIs); diffscoreci(7, 34, 1, 34, 0.95)",
               "inputs": {"x_c": 1, "n_c": 34, "x_t": 7, "n_t": 34, "confidence": 0.95},
               "reference": {"interval": (0.0270416, 0.3452912)}}],
}

# ------------------------------------------------------------------------- published sample sizes
LITERATURE_SAMPLE_SIZES = {
    "id": "literature-sample-sizes", "title": "Sample sizes of the registered design (textbook formulas)",
    "source": "the standard formulas for 60% vs 85%, two-sided 5% (pooled normal and continuity-corrected: "
              "Fleiss, Levin & Paik, Statistical Methods for Rates and Proportions, 3rd ed., 2003; arcsine: "
              "Cohen, Statistical Power Analysis, 2nd ed., 1988); R 4.2.2's power.prop.test reproduces the "
              "pooled normal ones",
    "tests": ("tests/test_formulas.py::test_literature_closed_forms",
              "tests/test_formulas.py::test_literature_fisher_exact_first_n"),
    "note": "Patients per arm for 60% against 85% remission, two-sided 5%. `power.prop.test` gives n = 48.8800905158 "
            "(80%) and 64.9346542598 (90%). trialsim: `n_per_arm_pooled_normal`, `n_per_arm_arcsine`, "
            "`n_per_arm_fleiss_cc` and `n_per_arm_exact('fisher', ..., n_max=120, window=15).first_n`.",
    "tolerance": {"pooled_normal": EQUAL, "arcsine": EQUAL, "fleiss_cc": EQUAL, "fisher_first_n": EQUAL},
    "cases": [
        {"label": f"{power:.0%} power",
         "call": f"power.prop.test(p1 = 0.6, p2 = 0.85, sig.level = 0.05, power = {power})$n  # pooled normal\n"
                 f"# arcsine: ((z_0.975 + z_{power}) / h)^2, h = 2 asin(sqrt(0.85)) - 2 asin(sqrt(0.6))\n"
                 "# fleiss_cc: the pooled normal n with Fleiss' continuity correction\n"
                 f"# fisher_first_n: the first n whose exact power (every 2x2 table) reaches {power}",
         "inputs": {"p_control": 0.60, "p_treat": 0.85, "alpha": 0.05, "power": power},
         "reference": reference}
        for power, reference in (
            (0.8, {"pooled_normal": 49, "arcsine": 48, "fleiss_cc": 57, "fisher_first_n": 56}),
            (0.9, {"pooled_normal": 65, "arcsine": 64, "fleiss_cc": 73, "fisher_first_n": 72}),
        )
    ],
}

# ---------------------------------------------------------------------- statsmodels and scipy, live
STATSMODELS_POOLED_NORMAL = {
    "id": "statsmodels-pooled-normal", "title": "Pooled normal sample size (statsmodels, R's power.prop.test)",
    "source": "statsmodels; R's power.prop.test (strict = FALSE), transcribed", "live": True,
    "tests": ("tests/test_formulas.py::test_pooled_normal_agrees_with_r_and_statsmodels",),
    "note": LIVE_NOTE + " `power.prop.test`'s power function is transcribed in `reference_calls.r_power_prop_test` "
            "and solved for n with scipy's brentq (R itself gives 48.8800905158 for 60% vs 85% at 80%). "
            "trialsim: the unrounded n of `simulate.analysis.formulas` (`_n_pooled_raw`) and `n_per_arm_pooled_normal`.",
    "grid": {"rates": ((0.6, 0.85), (0.3, 0.5), (0.85, 0.6), (0.1, 0.12)), "power": (0.8, 0.9),
             "alternative": ("two-sided", "greater")},
    "tolerance": {"n (R)": {"abs": 1e-12, "rel": 1e-8, "combine": "max", "reason": "R's n solved by brentq to 1e-10"},
                  "n (statsmodels)": {"abs": 1e-12, "rel": 1e-10, "combine": "max", "reason": "the same closed form"},
                  "n per arm": EQUAL},
    "cases": [
        {"call": "# R (transcribed in reference_calls.r_power_prop_test and solved for n)\n"
                 f"power.prop.test(p1 = {p_c}, p2 = {p_t}, sig.level = 0.05, power = {power}, "
                 f"alternative = \"{'two.sided' if alternative == 'two-sided' else 'one.sided'}\")$n\n"
                 "# statsmodels\n"
                 f"samplesize_proportions_2indep_onetail({p_t} - {p_c}, {p_c}, {power}, ratio=1, alpha=0.05, "
                 f"alternative=\"{'two-sided' if alternative == 'two-sided' else 'larger'}\")",
         "inputs": {"p_control": p_c, "p_treat": p_t, "power": power, "alpha": 0.05, "alternative": alternative}}
        for alternative in ("two-sided", "greater") for power in (0.8, 0.9)
        for p_c, p_t in ((0.6, 0.85), (0.3, 0.5), (0.85, 0.6), (0.1, 0.12))
        if not (alternative == "greater" and p_t < p_c)        # refused: greater needs p_t > p_c
    ],
}

STATSMODELS_ARCSINE = {
    "id": "statsmodels-arcsine", "title": "Arcsine (Cohen's h) sample size (statsmodels)",
    "source": "statsmodels NormalIndPower; Cohen's h to 3 decimals", "live": True,
    "tests": ("tests/test_formulas.py::test_arcsine_agrees_with_statsmodels_normal_ind_power",),
    "note": LIVE_NOTE + " trialsim: `cohens_h(0.60, 0.85)` and `n_per_arm_arcsine(0.60, 0.85, 0.05, power)`.",
    "tolerance": {"h": {"abs": 5e-4, "rel": 0.0, "combine": "max", "reason": "0.574 is h to 3 decimals"},
                  "n per arm": EQUAL},
    "cases": [{"call": f"NormalIndPower().solve_power(effect_size=h, alpha=0.05, power={power}, ratio=1)",
               "inputs": {"p_control": 0.60, "p_treat": 0.85, "alpha": 0.05, "power": power},
               "reference": {"h": 0.574}} for power in (0.8, 0.9)],
}

P_VALUES = {
    "id": "p-values", "title": "p-values on hand-picked tables (scipy, statsmodels)",
    "source": "scipy.stats and statsmodels", "live": True,
    "tests": ("tests/test_analysis.py::test_edge_tables_match_references",),
    "note": LIVE_NOTE + " Tables are (x_c, n_c, x_t, n_t); degenerate tables (an empty arm, no responders or only "
            "responders; for Wald both rates 0 or 1) get p = 1 by convention and are not compared. "
            "Farrington-Manning with margin 0 is the pooled z-test, so it is compared with the chi-square test. "
            "trialsim: `simulate.analysis.compare.p_values(test, x_c, n_c, x_t, n_t, alternative)`.",
    "tolerance": {"p": {"abs": 1e-12, "rel": 1e-9, "combine": "max", "reason": "the same formula, up to rounding"}},
    "tables": ((0, 1, 1, 1), (1, 1, 0, 1), (0, 1, 0, 1), (1, 1, 1, 1),
               (0, 30, 30, 30), (30, 30, 0, 30), (0, 5, 0, 70), (5, 5, 70, 70),
               (0, 0, 3, 10), (3, 10, 0, 0), (0, 0, 0, 0),
               (0, 80, 80, 80), (80, 80, 0, 80), (1, 2, 60, 80), (12, 63, 40, 55), (38, 63, 53, 63),
               (10, 20, 10, 20), (7, 14, 9, 18), (3, 3, 1, 3), (0, 2, 2, 2), (40, 80, 40, 80)),
    "cases": [
        {"label": "fisher", "call": "scipy.stats.fisher_exact([[x_t, n_t - x_t], [x_c, n_c - x_c]], alternative).pvalue",
         "inputs": {"test": "fisher"}},
        {"label": "chi2", "call": "scipy.stats.chi2_contingency(table, correction=False).pvalue  # greater: "
                                  "norm.sf(sign(x_t/n_t - x_c/n_c) sqrt(statistic))", "inputs": {"test": "chi2"}},
        {"label": "chi2_yates", "call": "scipy.stats.chi2_contingency(table, correction=True), as for chi2",
         "inputs": {"test": "chi2_yates"}},
        {"label": "ztest", "call": 'statsmodels.stats.proportion.proportions_ztest([x_t, x_c], [n_t, n_c], '
                                   'alternative="two-sided" | "larger")[1]', "inputs": {"test": "ztest"}},
        {"label": "farrington_manning", "call": "as chi2 (margin 0: the pooled z-test)",
         "inputs": {"test": "farrington_manning"}},
        {"label": "wald", "call": 'statsmodels.stats.proportion.test_proportions_2indep(x_t, n_t, x_c, n_c, '
                                  'method="wald", compare="diff", alternative=...).pvalue', "inputs": {"test": "wald"}},
    ],
}

STATSMODELS_LOGISTIC_FIT = {
    "id": "statsmodels-logistic-fit", "title": "Batched logistic fit (statsmodels GLM)",
    "source": "statsmodels GLM(Binomial)", "live": True,
    "tests": ("tests/test_imputation.py::test_fit_with_a_flat_prior_is_statsmodels_maximum_likelihood",),
    "note": LIVE_NOTE + " Six trials drawn by `reference_calls.design_block` (intercept, arm, log2 titre, proteinuria, "
            "last observed status; 90% of each trial's first `size` patients observed). trialsim: "
            "`simulate.analysis.logistic.fit_logistic(X, y, mask, prior_sd=1e6, intercept_sd=1e6)`: a flat prior, "
            "so the maximum-likelihood fit.",
    "tolerance": {"coefficient": {"abs": 1e-6, "rel": 0.0, "combine": "sum", "reason": "two iterative fits"},
                  "covariance": {"abs": 1e-9, "rel": 1e-6, "combine": "sum", "reason": "two iterative fits"}},
    "cases": [{"call": "sm.GLM(y[t, mask[t]], X[t, mask[t]], family=sm.families.Binomial()).fit(tol=1e-13)",
               "inputs": {"seed": 11, "sizes": (90, 75, 60, 45, 35, 90)}}],
}

G_COMPUTATION = ('analysis.adjustment="g_computation"', 'analysis.test="g_computation"',
                 'analysis.adjust_for=["log2(pla2r_titre_ru_ml)", "proteinuria_g_day"]')
STRONG_COVARIATES = ("outcome.log_odds_per_doubling_pla2r_titre=-0.6", "outcome.log_odds_per_g_day_proteinuria=-0.3")
"""Covariate effects stronger than the registered scenario's, so that adjusting matters."""

STATSMODELS_G_COMPUTATION = {
    "id": "statsmodels-g-computation", "title": "G-computation's working model and standardised rates (statsmodels)",
    "source": "statsmodels GLM(Binomial)", "live": True,
    "tests": ("tests/test_adjusted.py::test_g_computation_is_statsmodels_glm_and_standardisation_on_each_trial",),
    "note": LIVE_NOTE + " The first trials of a simulated block (nonresponder imputation): statsmodels fits the "
            "logistic model of each trial's analysed patients, then predicts every one under each arm and averages "
            "(the standardised rates). trialsim: `simulate.analysis.adjusted.g_computation`.",
    "tolerance": {"standardised rate": {"abs": 1e-8, "rel": 0.0, "combine": "sum", "reason": "two iterative fits"},
                  "coefficient": {"abs": 1e-7, "rel": 1e-6, "combine": "sum", "reason": "two iterative fits"},
                  "covariance": {"abs": 0.0, "rel": 1e-5, "combine": "sum", "reason": "two iterative fits"}},
    "cases": [{"call": "fit = sm.GLM(y, [1, arm, log2 titre, proteinuria], family=sm.families.Binomial())"
                       ".fit(tol=1e-14, maxiter=200)\n"
                       "theta = [mean(fit.predict(X with arm set to a)) for a in (0, 1)]",
               "inputs": {"scenario": PLAIN_SCENARIO,
                          "overrides": (*G_COMPUTATION, 'analysis.missing="nonresponder"', *STRONG_COVARIATES),
                          "covariates": ("log2(pla2r_titre_ru_ml)", "proteinuria_g_day"),
                          "seed": 3, "block_trials": 40, "compared_trials": 10}}],
}

STATSMODELS_RUBIN = {
    "id": "statsmodels-rubin", "title": "Rubin's rules (statsmodels MICE.combine)",
    "source": "statsmodels MICE.combine", "live": True,
    "tests": ("tests/test_imputation.py::test_rubin_matches_statsmodels_mice_combine",),
    "note": LIVE_NOTE + " Three trials drawn by `reference_calls.mar_block` (30 per arm, missing at random), imputed "
            "8 times by trialsim; statsmodels combines OLS fits of y on (1, arm) with HC0 errors (whose variance of "
            "a difference in means is the unpooled Wald variance). trialsim: `analyse_imputed`'s estimate and se^2.",
    "tolerance": {"estimate": {"abs": 1e-12, "rel": 0.0, "combine": "max", "reason": "the same arithmetic"},
                  "total variance": {"abs": 1e-12, "rel": 1e-10, "combine": "max", "reason": "the same arithmetic"}},
    "cases": [{"call": "MICE.combine() over sm.OLS(y, add_constant(arm)).fit(cov_type=\"HC0\"), one per completed set",
               "inputs": {"seed": 21, "trials": 3, "n_per_arm": 30, "imputations": 8}}],
}

# ------------------------------------------------------------------------------- exact enumeration
EXACT_TABLE_BY_TABLE = {
    "id": "exact-table-by-table", "title": "Exact power against scipy, table by table",
    "source": "scipy.stats (fisher_exact, chi2_contingency) on every 2x2 table", "live": True,
    "tests": ("tests/test_formulas.py::test_exact_power_equals_table_by_table_enumeration",),
    "note": LIVE_NOTE + " The sum, over every table whose scipy p-value is below alpha, of its two binomial "
            "probabilities (`reference_calls.brute_force_power`). trialsim: `simulate.analysis.formulas.exact_power`, "
            "which the simulated-power comparisons below use as their reference.",
    "tolerance": {"power": {"abs": 1e-14, "rel": 1e-10, "combine": "max", "reason": "the same sum, up to rounding"}},
    "cases": [{"call": f"brute_force_power({test!r}, {n_c}, {n_t}, 0.3, 0.8, 0.05, {alternative!r})",
               "inputs": {"test": test, "n_c": n_c, "n_t": n_t, "p_c": 0.3, "p_t": 0.8, "alpha": 0.05,
                          "alternative": alternative}}
              for test, n_c, n_t, alternative in (("fisher", 9, 11, "two-sided"), ("fisher", 12, 12, "greater"),
                                                  ("chi2", 10, 8, "two-sided"))],
}

EXACT_SIMULATED_POWER = {
    "id": "exact-simulated-power", "title": "Simulated power against exact enumeration",
    "source": "exact enumeration of every 2x2 table", "live": True,
    "tests": ("tests/test_power.py::test_power_matches_exact_enumeration",
              "tests/test_power.py::test_power_with_dropout_nonresponder_imputation_matches_exact",
              "tests/test_power.py::test_power_with_dropout_complete_case_matches_exact"),
    "note": "The scenario reduced to the bare two-binomial problem (`reference_calls.bare_overrides`: everyone "
            "eligible, recruitment always completes, no covariate effects, blocks of 2), so each arm's responders "
            "are binomial and exact power is a sum over every 2x2 table (`formulas.exact_power`). MCAR dropout "
            "counted as failure makes the rates r (1 - d); complete cases make each arm's analysed number "
            "Binomial(n, 1 - d), the power a mixture over them. trialsim: `estimate_power(scenario, replicates, "
            "seed, jobs=1, engine='batch')`.",
    "tolerance": {"power": MC_3SE},
    "cases": [
        *({"label": f"{n}-{test}", "call": f"exact_power({test!r}, {n}, {n}, 0.60, 0.85, 0.05)",
           "inputs": {"bare": {"n": n, "test": test}, "seed": 11, "replicates": 1500,
                      "exact": {"test": test, "n": n, "p_c": 0.60, "p_t": 0.85, "alpha": 0.05}}}
          for n in (20, 45) for test in ("fisher", "chi2", "chi2_yates", "ztest")),
        {"label": "dropout-nonresponder", "call": "exact_power('fisher', 40, 40, 0.60 * (1 - 0.2), 0.85 * (1 - 0.2), 0.05)",
         "inputs": {"bare": {"n": 40, "dropout": 0.2}, "seed": 5, "replicates": 1500,
                    "exact": {"test": "fisher", "n": 40, "p_c": 0.60 * (1 - 0.2), "p_t": 0.85 * (1 - 0.2), "alpha": 0.05}}},
        {"label": "dropout-complete-case",
         "call": "w = binom.pmf(arange(31), 30, 1 - 0.2)\n"
                 "sum(w[m_c] * w[m_t] * exact_power('fisher', m_c, m_t, 0.60, 0.85, 0.05)\n"
                 "    for m_c, m_t in 1..30 x 1..30 if w[m_c] * w[m_t] > 1e-10)",
         "inputs": {"bare": {"n": 30, "missing": "complete_case", "dropout": 0.2}, "seed": 6, "replicates": 1500,
                    "exact": {"complete_case_dropout": 0.2, "n": 30, "p_c": 0.60, "p_t": 0.85, "alpha": 0.05}}},
    ],
}

ONE_SIDED = ('analysis.alternative="greater"', 'analysis.test="ztest"', "analysis.alpha=0.025")

EXACT_GROUP_SEQUENTIAL = {
    "id": "exact-group-sequential", "title": "Group-sequential power per look against exact enumeration",
    "source": "exact enumeration of every stage-wise table", "live": True,
    "tests": ("tests/test_interim.py::test_power_per_look_matches_exact_enumeration",),
    "note": "The bare two-binomial problem with looks: endpoints are determined in the order patients were "
            "randomised, so the stage-wise counts are independent binomials and every path of tables can be "
            "enumerated with the design's own bounds (`reference_calls.exact_group_sequential`). trialsim: each look's "
            "simulated chance of stopping for efficacy, and the power.",
    "tolerance": {"p_stop_efficacy": MC_3SE, "power": MC_3SE},
    "cases": [{"label": label,
               "call": f"# {spending} spending, looks at {' / '.join(f'{f:.3g}' for f in fractions)} of "
                       f"{30 if len(fractions) == 2 else 24} per arm{', beta-spending futility' if futility else ''}; "
                       "stage_n: the new patients per arm at each look\n"
                       f"exact_group_sequential(stage_n, {rates[0]}, {rates[1]}, "
                       f"design.efficacy, {'design.futility' if futility else 'None'})",
               "inputs": {"fractions": fractions, "spending": spending, "futility": futility, "rates": rates,
                          "n": 30 if len(fractions) == 2 else 24, "seed": 17, "replicates": 3000}}
              for label, fractions, spending, futility, rates in (
                  ("obf-2-power", [0.5, 1.0], "obrien_fleming", None, (0.6, 0.85)),
                  ("obf-2-null", [0.5, 1.0], "obrien_fleming", None, (0.6, 0.6)),
                  ("pocock-3-power", [1 / 3, 2 / 3, 1.0], "pocock", None, (0.5, 0.8)),
                  ("pocock-3-null", [1 / 3, 2 / 3, 1.0], "pocock", None, (0.6, 0.6)),
                  ("obf-2-futility", [0.5, 1.0], "obrien_fleming", "beta_spending", (0.6, 0.85)))],
}

THIRD_ARM = ('arms.rtx_tac={ label = "RTX + TAC", remission_at_endpoint = 0.6, median_months_to_remission = 3.0, '
             'complete_share_of_remission = 0.5 }')
NON_INFERIORITY = ('analysis.hypothesis="non_inferiority"', "analysis.margin=0.15", 'analysis.alternative="greater"',
                   "analysis.alpha=0.025", 'analysis.test="farrington_manning"')

# With three arms, recruitment.rate_per_site_month = patients * 2.0 / (4 * 38.0): twice the referrals the
# patients need at the 4 sites over 38 months (test_designs.referrals_for, as reference_calls.bare_overrides).
EXACT_DESIGNS = {
    "id": "exact-designs", "title": "Non-inferiority, several arms and the CR endpoint against exact enumeration",
    "source": "exact enumeration of every table", "live": True,
    "tests": ("tests/test_designs.py::test_non_inferiority_power_matches_exact_enumeration",
              "tests/test_designs.py::test_family_wise_error_of_three_arms_matches_exact_enumeration",
              "tests/test_designs.py::test_three_arm_power_under_an_effect_matches_exact_enumeration",
              "tests/test_designs.py::test_complete_remission_endpoint_is_calibrated"),
    "note": "The bare two-binomial problem of the simulated-power comparison, with a non-inferiority margin of "
            "0.15 (Farrington-Manning, one-sided 2.5%), a third arm sharing the control (each comparison, any and "
            "all rejected: `formulas.exact_rejection_probabilities`) or complete remission as the endpoint. trialsim: "
            "`estimate_power` at the test's seed and number of trials.",
    "tolerance": {"power": MC_3SE, "any rejected": MC_3SE, "all rejected": MC_3SE, "comparison": MC_3SE},
    "cases": [
        *({"label": label, "call": f"exact_power('farrington_manning', {n}, {n}, {rates[0]}, {rates[1]}, 0.025, "
                                   "'greater', margin=0.15)",
           "inputs": {"bare": {"n": n, "test": "farrington_manning", "rates": rates, "extra": NON_INFERIORITY},
                      "seed": 5, "replicates": 2000, "kind": "non_inferiority",
                      "exact": {"test": "farrington_manning", "n": n, "p_c": rates[0], "p_t": rates[1], "alpha": 0.025,
                                "alternative": "greater", "margin": 0.15}}}
          for label, rates, n in (("equal", (0.60, 0.60), 60), ("10-points-worse", (0.60, 0.50), 60),
                                  ("at-the-margin", (0.60, 0.45), 40))),
        *({"label": multiplicity, "call": "exact_rejection_probabilities('fisher', 30, [30, 30], 0.6, [0.6, 0.6], "
                                          f"0.05, 'two-sided', {multiplicity!r})",
           "inputs": {"bare": {"n": 30, "test": "fisher", "rates": (0.6, 0.6),
                               "extra": (THIRD_ARM, "randomisation.block_sizes=[3]", f'analysis.multiplicity="{multiplicity}"',
                                         f"recruitment.rate_per_site_month={90 * 2.0 / (4 * 38.0)}")},
                      "seed": 8, "replicates": 3000, "kind": "three_arms",
                      "exact": {"test": "fisher", "n": 30, "p_c": 0.6, "p_arms": (0.6, 0.6), "alpha": 0.05,
                                "multiplicity": multiplicity}}}
          for multiplicity in ("bonferroni", "holm", "none")),
        {"label": "three-arms-effect", "call": "exact_rejection_probabilities('chi2', 25, [25, 25], 0.5, [0.85, 0.75], "
                                               "0.05, 'two-sided', 'holm')",
         "inputs": {"bare": {"n": 25, "test": "chi2", "rates": (0.5, 0.85),
                             "extra": (THIRD_ARM.replace("remission_at_endpoint = 0.6", "remission_at_endpoint = 0.75"),
                                       "randomisation.block_sizes=[3]", 'analysis.multiplicity="holm"',
                                       'analysis.success="all"',
                                       f"recruitment.rate_per_site_month={75 * 2.0 / (4 * 38.0)}")},
                    "seed": 3, "replicates": 2000, "kind": "three_arms",
                    "exact": {"test": "chi2", "n": 25, "p_c": 0.5, "p_arms": (0.85, 0.75), "alpha": 0.05,
                              "multiplicity": "holm"}}},
        {"label": "complete-remission", "call": "exact_power('fisher', 40, 40, 0.2, 0.45, 0.05)",
         "inputs": {"bare": {"n": 40, "test": "fisher", "rates": (0.2, 0.45),
                             "extra": ('trial.endpoint="cr"', "arms.rtx_csa.complete_share_of_remission=0.99")},
                    "seed": 2, "replicates": 2000, "kind": "power",
                    "exact": {"test": "fisher", "n": 40, "p_c": 0.2, "p_t": 0.45, "alpha": 0.05}}},
    ],
}

COMPARISONS = (
    RPACT_EFFICACY_BOUNDS, RPACT_ALPHA_SPENT, RPACT_POCOCK, JENNISON_TURNBULL_POCOCK, RPACT_DESIGNS,
    RPACT_BOUNDARIES_TABLE, GSDESIGN_HSD_BOUNDS, GSDESIGN_REPEATED_TESTING, RPACT_FARRINGTON_MANNING,
    RPACT_FM_SAMPLE_SIZE, PROPCIS_MIETTINEN_NURMINEN, LITERATURE_SAMPLE_SIZES, STATSMODELS_POOLED_NORMAL,
    STATSMODELS_ARCSINE, P_VALUES, STATSMODELS_LOGISTIC_FIT, STATSMODELS_G_COMPUTATION, STATSMODELS_RUBIN,
    EXACT_TABLE_BY_TABLE, EXACT_SIMULATED_POWER, EXACT_GROUP_SEQUENTIAL, EXACT_DESIGNS,
)
"""Every comparison, in the page's order."""
