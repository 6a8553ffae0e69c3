"""The documentation's validation page: trialsim's value beside each reference value the tests
check it against (rpact, gsDesign, PropCIs, statsmodels, scipy, exact enumeration), with the call
that produced the reference and the tolerance the test allows.

The reference values come from ``tests/reference_values.py`` (the tests import the same module),
the live references (statsmodels, scipy, exact enumeration) from ``tests/reference_calls.py``;
trialsim's values are computed here, as the tests compute them, simulated figures with the tests'
seeds and numbers of trials. Neither R nor a network is needed.

``page()`` returns the Markdown (the MkDocs gen-files script calls it);
``python docs/scripts/validation.py OUT.md`` writes it to OUT.md and says whether every value
lies within its tolerance (exit code 1 if not).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import sys
import time
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from scipy import optimize, special

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

import reference_calls as rc  # noqa: E402
import reference_values as rv  # noqa: E402
from simulate.analysis import formulas, interim, noninferiority as ni, sequential as sq  # noqa: E402
from simulate.analysis.adjusted import g_computation as trialsim_g_computation  # noqa: E402
from simulate.analysis.compare import p_values as trialsim_p_values  # noqa: E402
from simulate.analysis.imputation import Draws, analyse_imputed, fit, impute  # noqa: E402
from simulate.analysis.logistic import fit_logistic  # noqa: E402
from simulate.design.choices import ALTERNATIVES  # noqa: E402
from simulate.design.loader import load_scenario  # noqa: E402
from simulate.engines.blocks import simulate_block  # noqa: E402
from simulate.numerics import find_root  # noqa: E402
from simulate.report.boundary_table import boundary_rows  # noqa: E402
from simulate.run.power import estimate_power  # noqa: E402
from simulate.run.tally import comparison_adjustment  # noqa: E402

ALPHA = 0.025
"""One-sided alpha of the group-sequential designs."""
YES, NO = "yes", "**no**"
"""The last column of a row: within its tolerance or not."""


# ----------------------------------------------------------------------------- rows and tolerances
def row(quantity: str, reference, value, tolerance: dict, replicates: int | None = None) -> dict:
    """One table row: a quantity, its reference, trialsim's value and the test's tolerance."""
    return {"quantity": quantity, "reference": reference, "value": value, "tolerance": tolerance,
            "replicates": replicates}


def judge(r: dict) -> tuple[float, str, bool]:
    """(difference, the tolerance in words, within it?) of a row, as its test decides."""
    text, ok = rc.within_tolerance(float(r["reference"]), float(r["value"]), r["tolerance"], r["replicates"])
    return float(r["value"]) - float(r["reference"]), text, ok


def vector_rows(name: str, reference, values, tolerance: dict, replicates: int | None = None) -> list[dict]:
    """One row per element, "name, look k" (a single element: just "name")."""
    reference, values = np.atleast_1d(reference), np.atleast_1d(values)
    if len(reference) == 1:
        return [row(name, reference[0], values[0], tolerance, replicates)]
    return [row(f"{name}, look {k + 1}", a, b, tolerance, replicates)
            for k, (a, b) in enumerate(zip(reference, values))]


def worst_row(name: str, reference, values, tolerance: dict) -> dict:
    """The element of a matrix closest to leaving its tolerance (all are compared by the test)."""
    reference, values = np.asarray(reference, float), np.asarray(values, float)
    bound = tolerance["abs"] + tolerance["rel"] * np.abs(reference)
    i = np.unravel_index(np.argmax(np.abs(values - reference) / np.maximum(bound, 1e-300)), reference.shape)
    return row(f"{name} (the worst of {reference.size} entries, [{', '.join(str(int(k)) for k in i)}])",
               reference[i], values[i], tolerance)


# ----------------------------------------------------------------------------- the comparisons
def rpact_efficacy_bounds(entry, case):
    """The efficacy bounds of an alpha-spending design, look by look."""
    i = case["inputs"]
    bounds = sq.efficacy_bounds(i["fractions"], ALPHA, i["spending"], i["gamma"])
    return vector_rows("critical value", case["reference"]["criticalValues"], bounds, entry["tolerance"]["criticalValues"])


def rpact_alpha_spent(entry, case):
    """The spending function's cumulative alpha at each look."""
    i = case["inputs"]
    return vector_rows("cumulative alpha spent", case["reference"]["alphaSpent"],
                       sq.spending(i["spending"], np.array(i["fractions"]), ALPHA, i["gamma"]),
                       entry["tolerance"]["alphaSpent"])


@lru_cache(maxsize=None)
def pocock_constant(k: int) -> float:
    """The constant bound at k equally spaced looks whose crossing probability under H0 is alpha."""
    t = np.arange(1, k + 1) / k
    return find_root(lambda c: sq.crossing_probabilities([c] * k, None, t, 0.0).power - ALPHA, 1.5, 3.5)


def pocock(entry, case):
    """Pocock's constant bound, solved from the crossing probabilities."""
    k = case["inputs"]["looks"]
    return [row(f"constant bound, {k} looks", case["reference"]["criticalValue"], pocock_constant(k),
                entry["tolerance"]["criticalValue"])]


def rpact_designs(entry, case):
    """A beta-spending design's bounds, then the characteristics of rpact's own bounds."""
    d, tol = {**case["inputs"], **case["reference"]}, entry["tolerance"]
    t, c, a, drift = d["fractions"], d["critical"], d["futility"], math.sqrt(d["shift"])
    rows = []
    if "beta_spending" in d:
        (a_name, a_gamma), (b_name, b_gamma) = d["spending"], d["beta_spending"]
        design = sq.beta_spending_design(t, ALPHA, d["beta"], a_name, a_gamma, binding=d["binding"],
                                         beta_spending=b_name, beta_gamma=b_gamma)
        crossing = sq.crossing_probabilities(design.efficacy, design.futility, design.fractions, design.drift)
        rows += [*vector_rows("efficacy bound", c, design.efficacy, tol["critical"]),
                 *vector_rows("futility bound", a, design.futility[:-1], tol["futility"]),
                 row("drift, sqrt(shift)", drift, design.drift, tol["drift"]),
                 *vector_rows("cumulative beta spent", d["beta_spent"], np.cumsum(crossing.futility),
                              tol["beta_spent"]),
                 *vector_rows("cumulative power", d["power"], np.cumsum(crossing.efficacy), tol["power"])]
    elif "binding" in d:
        bounds = sq.efficacy_bounds(t, ALPHA, *d["spending"], futility=a, binding=d["binding"])
        rows += vector_rows("efficacy bound, given the futility bounds", c, bounds, tol["critical"])
    h1 = sq.crossing_probabilities(c, a, t, drift)
    to_fraction = d["n_fixed"] / d["shift"]
    return rows + [
        row("drift for power 1 - beta, given rpact's bounds", drift, sq.drift_for_power(c, a, t, 1 - d["beta"]),
            tol["drift"]),
        *vector_rows("rejection at the drift", d["rejection"], h1.efficacy, tol["rejection"]),
        *vector_rows("stop for futility at the drift", d["futility_probabilities"], h1.futility[:-1],
                     tol["futility_probabilities"]),
        row("power at the drift (1 - beta)", 1 - d["beta"], h1.power, tol["power"]),
        row("expected information at the drift, ASN1 nFixed / shift", d["asn1"] * to_fraction, h1.expected_fraction,
            tol["expected_information"]),
        row("expected information under H0, ASN0 nFixed / shift", d["asn0"] * to_fraction,
            sq.crossing_probabilities(c, a, t, 0.0).expected_fraction, tol["expected_information"]),
    ]


def rpact_boundaries_table(entry, case):
    """The rows of boundaries.csv for the scenario's design (bounds and spending do not depend on the
    simulated trials: 50 suffice)."""
    s = load_scenario(ROOT / case["inputs"]["scenario"], list(case["inputs"]["overrides"]))
    rows = boundary_rows(SimpleNamespace(scenario=s, power=estimate_power(s, 50, 20261207, 1)))
    ref, tol = case["reference"], entry["tolerance"]
    return [*vector_rows("efficacy z", ref["criticalValues"], [r["efficacy_z"] for r in rows], tol["criticalValues"]),
            row("futility z, look 1", ref["futilityBounds"][0], rows[0]["futility_z"], tol["futilityBounds"]),
            *vector_rows("nominal p", ref["stageLevels"], [r["efficacy_nominal_p"] for r in rows], tol["stageLevels"]),
            *vector_rows("cumulative alpha spent", ref["alphaSpent"], [r["cumulative_alpha_spent"] for r in rows],
                         tol["alphaSpent"]),
            *vector_rows("cumulative beta spent", ref["betaSpent"], [r["cumulative_beta_spent"] for r in rows],
                         tol["betaSpent"])]


def gsdesign_hsd_bounds(entry, case):
    """The Hwang-Shih-DeCani (gamma -4) bounds at five equally spaced looks."""
    i = case["inputs"]
    bounds = sq.efficacy_bounds(list(i["fractions"]), ALPHA, i["spending"], i["gamma"])
    return vector_rows("Z", case["reference"]["Z"], bounds, entry["tolerance"]["Z"])


def gsdesign_repeated_testing(entry, case):
    """The type I error of testing k times at 1.96, to gsDesign's 3 decimals."""
    k, z = case["inputs"]["looks"], 1.959963984540054
    probs = sq.crossing_probabilities([z] * k, [-z] * (k - 1), [i / k for i in range(1, k + 1)], 0.0)
    return [row(f"P(cross 1.96 at one of {k} looks) under H0", case["reference"]["crossing"], float(np.sum(probs.efficacy)),
                entry["tolerance"]["crossing"])]


def rpact_farrington_manning(entry, case):
    """The Farrington-Manning statistic and p-value of one table."""
    i, tol = case["inputs"], {**entry["tolerance"], **case.get("tolerance", {})}
    args = (i["x_c"], i["n_c"], i["x_t"], i["n_t"], i["margin"])
    return [row("z", case["reference"]["z"], float(ni.farrington_manning_statistic(*args)), tol["z"]),
            row("p", case["reference"]["p"], float(ni.farrington_manning_p(*args)), tol["p"])]


def rpact_fm_sample_size(entry, case):
    """The non-inferiority sample size, rounded up and unrounded (the same formula)."""
    i, n_rpact = case["inputs"], case["reference"]["nFixed1"]
    p_c, p_t, margin, alpha, power = (i[k] for k in ("p_control", "p_treat", "margin", "alpha", "power"))
    r_c, r_t = ni._restricted_rates(p_c, 1.0, p_t, 1.0, -margin)
    raw = ((special.ndtri(1 - alpha) * np.sqrt(r_c * (1 - r_c) + r_t * (1 - r_t))
            + special.ndtri(power) * np.sqrt(p_c * (1 - p_c) + p_t * (1 - p_t))) / (p_t - p_c + margin)) ** 2
    n = formulas.n_per_arm_farrington_manning(p_c, p_t, margin, alpha, power)
    return [row("n per arm, rounded up", math.ceil(n_rpact), n, entry["tolerance"]["n"]),
            row("n per arm, unrounded (nFixed1)", n_rpact, float(raw), entry["tolerance"]["nFixed1"])]


def propcis(entry, case):
    """The Miettinen-Nurminen interval's two limits."""
    i = case["inputs"]
    low, high = ni.miettinen_nurminen_interval(i["x_c"], i["n_c"], i["x_t"], i["n_t"], i["confidence"])
    ref, tol = case["reference"]["interval"], entry["tolerance"]["interval"]
    return [row("lower limit", ref[0], float(low), tol), row("upper limit", ref[1], float(high), tol)]


def literature(entry, case):
    """The closed-form sample sizes and the exact Fisher first n at one power."""
    i = case["inputs"]
    got = formulas.analytic_references(i["p_control"], i["p_treat"], i["alpha"], i["power"])
    got["fisher_first_n"] = formulas.n_per_arm_exact("fisher", i["p_control"], i["p_treat"], i["alpha"], i["power"],
                                            n_max=120, window=15).first_n
    return [row(f"{key}: n per arm", n, got[key], entry["tolerance"][key]) for key, n in case["reference"].items()]


def pooled_normal(entry, case):
    """The pooled normal sample size against R's formula (solved here) and statsmodels'."""
    from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail
    i, tol = case["inputs"], entry["tolerance"]
    p_c, p_t, power, alpha, alternative = (i[k] for k in ("p_control", "p_treat", "power", "alpha", "alternative"))
    tside = 2 if alternative == "two-sided" else 1
    n_r = optimize.brentq(lambda n: rc.r_power_prop_test(n, p_c, p_t, alpha, tside) - power, 2, 1e6, xtol=1e-10)
    n_sm = samplesize_proportions_2indep_onetail(p_t - p_c, p_c, power, ratio=1, alpha=alpha,
                                                 alternative="two-sided" if tside == 2 else "larger")
    raw = formulas._n_pooled_raw(p_c, p_t, alpha, power, alternative)
    return [row("n per arm, unrounded (R)", n_r, raw, tol["n (R)"]),
            row("n per arm, unrounded (statsmodels)", float(n_sm), raw, tol["n (statsmodels)"]),
            row("n per arm, rounded up", math.ceil(n_r),
                formulas.n_per_arm_pooled_normal(p_c, p_t, alpha, power, alternative), tol["n per arm"])]


def arcsine(entry, case):
    """Cohen's h and the arcsine sample size against statsmodels' NormalIndPower."""
    from statsmodels.stats.power import NormalIndPower
    i = case["inputs"]
    h = formulas.cohens_h(i["p_control"], i["p_treat"])
    n_sm = NormalIndPower().solve_power(effect_size=h, alpha=i["alpha"], power=i["power"], ratio=1)
    return [row("Cohen's h", case["reference"]["h"], h, entry["tolerance"]["h"]),
            row("n per arm, rounded up", math.ceil(n_sm),
                formulas.n_per_arm_arcsine(i["p_control"], i["p_treat"], i["alpha"], i["power"]),
                entry["tolerance"]["n per arm"])]


def p_values(entry, case):
    """One test's p-values on every informative hand-picked table, both alternatives."""
    test, rows = case["inputs"]["test"], []
    for table in entry["tables"]:
        if rc.degenerate(*table) or (test == "wald" and rc.no_wald_variance(*table)):
            continue
        for alternative in ALTERNATIVES:
            got = trialsim_p_values(test, *(np.array([v]) for v in table), alternative=alternative)[0]
            rows.append(row("{}/{} vs {}/{}, {}".format(*table, alternative),
                            rc.reference_p_value(test, table, alternative), float(got), entry["tolerance"]["p"]))
    return rows


def logistic_fit(entry, case):
    """The batched flat-prior fit against statsmodels' GLM, trial by trial."""
    i, tol = case["inputs"], entry["tolerance"]
    X, y, mask = rc.design_block(np.random.default_rng(i["seed"]), list(i["sizes"]))
    got = fit_logistic(X, y, mask, prior_sd=1e6, intercept_sd=1e6)
    rows = []
    for t in range(len(i["sizes"])):
        params, cov = rc.statsmodels_logistic_fit(X[t, mask[t]], y[t, mask[t]])
        rows += [row(f"trial {t + 1}: coefficient of {term}", params[j], got.beta[t][j], tol["coefficient"])
                 for j, term in enumerate(("intercept", "arm", "titre", "proteinuria", "last status"))]
        rows.append(worst_row(f"trial {t + 1}: covariance", cov, got.cov[t], tol["covariance"]))
    return rows


def g_computation(entry, case):
    """G-computation's working model and standardised rates against statsmodels', trial by trial."""
    i, tol = case["inputs"], entry["tolerance"]
    s = load_scenario(ROOT / i["scenario"], list(i["overrides"]))
    b = simulate_block(s, i["seed"], 0, n_trials=i["block_trials"], engine="batch")
    data = comparison_adjustment(b.patients, s.control_index, 1, "nonresponder", i["covariates"])
    g, rows = trialsim_g_computation(data), []
    for t in range(i["compared_trials"]):
        glm, theta, _, _ = rc.statsmodels_g_computation(data, t)
        rows += [row(f"trial {t + 1}: standardised rate, {arm}", theta[a], g.theta[t][a], tol["standardised rate"])
                 for a, arm in enumerate(("control", "experimental"))]
        rows += [row(f"trial {t + 1}: coefficient of {term}", glm.params[j], g.coef[t][j], tol["coefficient"])
                 for j, term in enumerate(("intercept", "arm", *i["covariates"]))]
        rows.append(worst_row(f"trial {t + 1}: coefficient covariance", glm.cov_params(), g.coef_cov[t],
                              tol["covariance"]))
    return rows


def rubin(entry, case):
    """Rubin's estimate and total variance against statsmodels' MICE.combine, trial by trial."""
    i, tol = case["inputs"], entry["tolerance"]
    rng = np.random.default_rng(i["seed"])
    trials, per_arm, m = i["trials"], i["n_per_arm"], i["imputations"]
    data, _ = rc.mar_block(rng, trials, n_per_arm=per_arm)
    draws = Draws(rng.standard_normal((m, trials, 4)), rng.random((m, trials, 2 * per_arm)))
    completed = list(impute(data, fit(data), m, draws=draws))
    ours, rows = analyse_imputed(data, m, draws=draws), []
    for t in range(trials):
        estimate, total = rc.statsmodels_combine([y[t] for y in completed], np.asarray(data.arm[t]))
        rows += [row(f"trial {t + 1}: risk difference", estimate, ours.estimate[t], tol["estimate"]),
                 row(f"trial {t + 1}: total variance", total, ours.se[t] ** 2, tol["total variance"])]
    return rows


def table_by_table(entry, case):
    """exact_power against scipy's tests summed over every table."""
    i = case["inputs"]
    args = (i["test"], i["n_c"], i["n_t"], i["p_c"], i["p_t"], i["alpha"], i["alternative"])
    return [row("exact power", rc.brute_force_power(*args), formulas.exact_power(*args), entry["tolerance"]["power"])]


def exact_reference(e: dict):
    """The exact figure a simulated comparison is checked against (see the case's ``exact``)."""
    if "complete_case_dropout" in e:
        return rc.complete_case_power(e["n"], e["complete_case_dropout"], e["p_c"], e["p_t"], e["alpha"])
    if "p_arms" in e:
        return formulas.exact_rejection_probabilities(e["test"], e["n"], [e["n"]] * len(e["p_arms"]), e["p_c"],
                                                      list(e["p_arms"]), e["alpha"], "two-sided", e["multiplicity"])
    return formulas.exact_power(e["test"], e["n"], e["n"], e["p_c"], e["p_t"], e["alpha"],
                                e.get("alternative", "two-sided"), margin=e.get("margin", 0.0))


def simulated(inputs: dict, extra=()):
    """estimate_power on the bare problem at the test's seed and number of trials."""
    b = {**inputs["bare"], "extra": (*inputs["bare"].get("extra", ()), *extra)}
    s = load_scenario(ROOT / rv.PLAIN_SCENARIO, rc.bare_overrides(**b))
    return s, estimate_power(s, replicates=inputs["replicates"], seed=inputs["seed"], jobs=1, engine="batch")


def simulated_power(entry, case):
    """Simulated power (and for several arms, the rejection rates) against exact enumeration."""
    i, tol = case["inputs"], entry["tolerance"]
    _, r = simulated(i)
    if "p_arms" not in i["exact"]:
        return [row("power", exact_reference(i["exact"]), r.power, tol["power"], r.replicates)]
    exact = exact_reference(i["exact"])
    if 'analysis.success="all"' in i["bare"].get("extra", ()):
        return [row("power (all rejected)", exact.all_rejected, r.power, tol["power"], r.replicates),
                row("any rejected", exact.any_rejected, r.power_any, tol["any rejected"], r.replicates)]
    return [row("any rejected (family-wise error)", exact.any_rejected, r.power_any, tol["any rejected"], r.replicates),
            row("power (success = any)", exact.any_rejected, r.power, tol["power"], r.replicates),
            row("all rejected", exact.all_rejected, r.power_all, tol["all rejected"], r.replicates),
            *(row(f"comparison {c.arm}", p, c.power, tol["comparison"], r.replicates)
              for c, p in zip(r.comparisons, exact.per_comparison))]


def group_sequential(entry, case):
    """Each look's simulated chance of stopping for efficacy, and the power, against enumeration."""
    i, tol = case["inputs"], entry["tolerance"]
    extra = (*rv.ONE_SIDED, *rc.group_sequential_overrides(i["fractions"], i["spending"], i["futility"]))
    s, r = simulated({"bare": {"n": i["n"], "test": "ztest", "rates": i["rates"]}, "seed": i["seed"],
                      "replicates": i["replicates"]}, extra)
    design = interim.design_for(s)
    stage = np.diff([0, *design.counts]) // 2
    exact = rc.exact_group_sequential(list(stage), *i["rates"], design.efficacy, design.futility)
    return [*(row(f"stop for efficacy, look {k + 1}", p, look.p_stop_efficacy, tol["p_stop_efficacy"], r.replicates)
              for k, (look, p) in enumerate(zip(r.looks, exact))),
            row("power", sum(exact), r.power, tol["power"], r.replicates)]


COMPUTE = {
    "rpact-efficacy-bounds": rpact_efficacy_bounds, "rpact-alpha-spent": rpact_alpha_spent,
    "rpact-pocock-constant": pocock, "jennison-turnbull-pocock": pocock, "rpact-designs": rpact_designs,
    "rpact-boundaries-table": rpact_boundaries_table, "gsdesign-hsd-bounds": gsdesign_hsd_bounds,
    "gsdesign-repeated-testing": gsdesign_repeated_testing, "rpact-farrington-manning": rpact_farrington_manning,
    "rpact-fm-sample-size": rpact_fm_sample_size, "propcis-miettinen-nurminen": propcis,
    "literature-sample-sizes": literature, "statsmodels-pooled-normal": pooled_normal, "statsmodels-arcsine": arcsine,
    "p-values": p_values, "statsmodels-logistic-fit": logistic_fit, "statsmodels-g-computation": g_computation,
    "statsmodels-rubin": rubin, "exact-table-by-table": table_by_table, "exact-simulated-power": simulated_power,
    "exact-group-sequential": group_sequential, "exact-designs": simulated_power,
}
"""trialsim's side of each comparison in reference_values.COMPARISONS, by id: a case's rows."""


# ----------------------------------------------------------------------------- the page
INTRO = """# Comparisons with reference values

Each table sets a value trialsim computes beside the value another tool or an exact calculation
gives for the same question, with their difference and the tolerance the test suite allows. The
page is written by `docs/scripts/validation.py` from `tests/reference_values.py`, the module the
tests read their reference values from, so it shows what the tests assert. How the suite
validates the model more widely: [validation](index.md).

* **Stored references** come from tools the tests do not need: R's rpact (group-sequential
  bounds, spending, design characteristics, the Farrington-Manning test and sample size),
  gsDesign's and PropCIs' published values and the textbook sample sizes, each with the R
  code that produced it.
* **Live references** are computed as the tests (and this page) run: statsmodels' fitted models
  and sample sizes, scipy's and statsmodels' p-values, exact enumeration of every table.
* **Tolerances** are the tests' own: rounding for a closed form, convergence for iterative fits,
  rpact's accuracy (1e-7 for bounds, 1e-8 for probabilities), the printed decimals of a published
  value. A **simulated** share (power, a look's chance of stopping) must lie within 3 Monte Carlo
  standard errors, sqrt(p (1 - p) / trials) at the exact p (p (1 - p) at least 1e-4), of the
  exact value, with the test's seed and number of trials.
* **Difference** is trialsim's value minus the reference.
"""

LANGUAGE = {"rpact": "r", "gsdesign": "r", "propcis": "r", "literature": "r", "jennison": "text",
            "statsmodels-pooled-normal": "text"}
"""The code blocks' language, by the start of a comparison's id (R and Python together: text)."""


def fmt(x) -> str:
    """A value as the tables show it: integers whole, other numbers to 13 significant digits."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    return f"{float(x):.13g}"


def table(rows: list[dict]) -> list[str]:
    """The Markdown table of a case's rows."""
    lines = ["| Quantity | Reference | trialsim | Difference | Tolerance | Within? |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        diff, tol, ok = judge(r)
        shown = "0" if diff == 0 else ("+" if diff > 0 else "-") + rc.short(abs(diff))
        quantity = r["quantity"].replace("|", "\\|")                # a bar would end the cell
        lines.append(f"| {quantity} | {fmt(r['reference'])} | {fmt(r['value'])} | {shown} | {tol} | "
                     f"{YES if ok else NO} |")
    return lines


def section(entry: dict) -> tuple[list[str], int, int]:
    """An entry's Markdown, its number of rows and how many lie outside their tolerance."""
    language = next((v for k, v in LANGUAGE.items() if entry["id"].startswith(k)), "python")
    tests = ", ".join(f"`{t}`" for t in entry["tests"])
    grouped: dict[str, list[str]] = {}                  # quantities with the same tolerance, together
    for key, tolerance in entry["tolerance"].items():
        grouped.setdefault(rc.tolerance_words(tolerance), []).append(key)
    lines = [f'<a id="{entry["id"]}"></a>', "", f"## {entry['title']}", "",
             f"**Reference:** {entry['source']}{' (computed live)' if entry.get('live') else ''}. **Tests:** {tests}.",
             "", entry["note"], "",
             "**Tolerances:** " + "; ".join(f"{', '.join(keys)}: {words}" for words, keys in grouped.items()) + ".",
             ""]
    count = bad = 0
    for case in entry["cases"]:
        rows = COMPUTE[entry["id"]](entry, case)
        if len(entry["cases"]) > 1:
            lines += [f"### {case.get('label') or describe(case['inputs'])}", ""]
        lines += [f"```{language}", case["call"], "```", "", *table(rows), ""]
        count += len(rows)
        bad += sum(not judge(r)[2] for r in rows)
    return lines, count, bad


def describe(inputs: dict) -> str:
    """A case's heading from its inputs, when it has no label."""
    if "looks" in inputs:
        return f"{inputs['looks']} looks"
    if "fractions" in inputs:
        gamma = "" if inputs.get("gamma") is None else f" (gamma {inputs['gamma']:g})"
        return f"{inputs['spending']}{gamma}, looks at {' / '.join(f'{t:.3g}' for t in inputs['fractions'])}"
    return ", ".join(f"{k} {v}" for k, v in inputs.items() if not isinstance(v, (dict, tuple, list)))


def versions() -> str:
    """The versions the live references and trialsim's values were computed with."""
    import simulate

    found = [f"trialsim {simulate.__version__} (code {simulate.code_hash()})"]
    for name in ("numpy", "scipy", "statsmodels"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (version unknown)")
    return "Computed with " + ", ".join(found) + "."


def page() -> str:
    """The validation page's Markdown: the introduction, a summary, then one section per comparison."""
    body, rows, bad = [], 0, 0
    for entry in rv.COMPARISONS:
        lines, count, outside = section(entry)
        body += lines
        rows, bad = rows + count, bad + outside
    verdict = ("every value lies within its tolerance" if bad == 0
               else f"**{bad} value{'s' if bad > 1 else ''} outside {'their' if bad > 1 else 'its'} tolerance**")
    contents = "\n".join(f"* [{e['title']}](#{e['id']})" for e in rv.COMPARISONS)
    summary = (f"{len(rv.COMPARISONS)} comparisons, {rows} values: {verdict}. {versions()}\n\n{contents}\n")
    return INTRO + "\n" + summary + "\n" + "\n".join(body).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the page to the path given; 1 if a value lies outside its tolerance."""
    parser = argparse.ArgumentParser(description="Write the validation page (Markdown) to OUT.")
    parser.add_argument("out", type=Path, help="the Markdown file to write")
    args = parser.parse_args(argv)
    start, text = time.perf_counter(), page()
    args.out.write_text(text, encoding="utf-8")
    outside = text.count(f"| {NO} |")
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s: "
          + ("every value within its tolerance" if outside == 0 else f"{outside} values outside their tolerance"))
    return 1 if outside else 0


if __name__ == "__main__":
    sys.exit(main())
