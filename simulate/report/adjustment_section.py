"""The report's section "What adjustment buys": a covariate-adjusted design beside the same
design analysed without adjustment, on the same simulated trials: n per arm for 80% and 90%
power (simulated, and the closed form with the variance the covariates remove:
:func:`simulate.run.adjustment_gain.variance_removed`), the power at the planned n, and the type I error of both in the null world
(as ``adjustment.csv``). Shown only for a run whose analysis adjusts
(:class:`simulate.run.adjustment.AdjustmentDetail`); every number is the run's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulate.analysis import registry
from simulate.report.formatting import _pm, _table
from simulate.report.words import and_list, label

if TYPE_CHECKING:
    from simulate.run.results import RunResults

METHOD_WORDS = {"g_computation": "g-computation", "mantel_haenszel": "the Mantel–Haenszel risk difference"}


def _n(plan, target: float) -> int | None:
    return next((s.n_per_arm for s in plan.searches if abs(s.target - target) < 1e-9), None)


def _range(plan, target: float) -> str | None:
    found = next((s for s in plan.searches if abs(s.target - target) < 1e-9), None)
    return None if found is None or found.n_range is None else f"{found.n_range[0]}–{found.n_range[1]}"


def adjustment_rows(results: RunResults) -> list[dict]:
    """One row per quantity, unadjusted beside adjusted (the rows of adjustment.csv)."""
    d, p = results.adjustment, results.power
    rows = []
    for target in (0.8, 0.9):
        rows.append({"quantity": f"n per arm for {target:.0%} power (simulated)",
                     "unadjusted": _n(d.unadjusted_samplesize, target), "unadjusted_mc_se": None,
                     "adjusted": _n(results.samplesize, target), "adjusted_mc_se": None})
    for target, (plain, adjusted) in d.closed_form.items():
        rows.append({"quantity": f"n per arm for {float(target):.0%} power (closed form)",
                     "unadjusted": plain, "unadjusted_mc_se": None, "adjusted": adjusted, "adjusted_mc_se": None})
    u, a = d.unadjusted_power, p
    rows.append({"quantity": f"power at n = {results.scenario.trial.n_per_arm} per arm",
                 "unadjusted": u.power, "unadjusted_mc_se": u.mc_se, "adjusted": a.power, "adjusted_mc_se": a.mc_se})
    rows.append({"quantity": "type I error in the null world", "unadjusted": d.type1_unadjusted,
                 "unadjusted_mc_se": d.type1_unadjusted_mc_se, "adjusted": d.type1_adjusted,
                 "adjusted_mc_se": d.type1_adjusted_mc_se})
    return rows


def _cell(value, se) -> str:
    if value is None:
        return "not reached"
    if se is None:
        return f"{value}"
    return _pm(value, se)


def adjustment(results: RunResults) -> dict | None:
    """The section as the template draws it, or None without adjustment."""
    d = getattr(results, "adjustment", None)
    if d is None:
        return None
    s, a = results.scenario, results.scenario.analysis
    method = METHOD_WORDS.get(a.adjustment, a.adjustment)
    what = (f"adjusted for {and_list(list(a.adjust_for))}" if a.adjustment == "g_computation" else
            f"stratified by the randomisation strata ({and_list([f.replace('_', ' ') for f in s.randomisation.stratify_by])})")
    r2 = ", ".join(f"{label(s, arm)} {v:.3f}" for arm, v in d.prognostic_r2.items())
    rows = adjustment_rows(results)
    n80 = rows[0]
    text = [
        f"The planned analysis is {method}, {what}. Beside it, the same trials analysed without adjustment ("
        + (f"the Wald test of the risk difference, which {method} reduces to without covariates" if
           d.unadjusted_test == "wald" else f"{registry.get(d.unadjusted_test).title}, the test the looks' boundaries "
                                            "are for")
        + "): what the adjustment buys in patients and in power, and what it costs in type I error.",
        f"The covariates explain a share R² of each arm's outcome variance ({r2}; from the outcome model's reference "
        f"sample of eligible patients). What they explain in common of the two arms removes "
        f"{100 * d.variance_removed:.1f}% of the unadjusted risk difference's variance; what differs between the arms "
        "(a treatment effect that varies with the covariates) stays. The closed form sizes the trial on that; the "
        "simulated sample sizes need no such approximation.",
    ]
    if n80["unadjusted"] is not None and n80["adjusted"] is not None:
        saved = n80["unadjusted"] - n80["adjusted"]
        ranges = [_range(plan, 0.8) for plan in (results.samplesize, d.unadjusted_samplesize)]
        within = f" (Monte Carlo ranges {ranges[0]} and {ranges[1]})" if all(ranges) else ""
        text.append(f"For 80% power the simulated search needs {n80['adjusted']} per arm adjusted against "
                    f"{n80['unadjusted']} unadjusted{within}: "
                    + (f"{saved} fewer per arm ({2 * saved} in all)." if saved > 0 else
                       "no fewer (within the searches' Monte Carlo error the two may not differ)." if saved == 0 else
                       f"{-saved} more per arm: on these trials adjustment does not pay."))
    if a.adjustment_variance == "model_robust" and s.randomisation.stratify_by and a.adjustment == "g_computation":
        text.append("Randomisation here is stratified; when the working model leaves the stratification factors "
                    "(thresholds of the titre and the proteinuria) out, the model-robust variance is conservative "
                    "(Ye et al. 2023), so the type I error may sit below α.")
    table = _table(["Quantity", f"Unadjusted ({d.unadjusted_test}) ± MC SE", f"Adjusted ({a.adjustment}) ± MC SE"],
                   [[r["quantity"], _cell(r["unadjusted"], r["unadjusted_mc_se"]), _cell(r["adjusted"], r["adjusted_mc_se"])]
                    for r in rows], numeric={1, 2}, caption="What adjustment buys (as adjustment.csv)")
    note = (d.null_design if d.null_design else "In the null world the experimental arm takes the control's rate.") + (
        f" The type I error is judged against α = {a.alpha:g}, within 2 Monte Carlo SE.")
    return {"text": text, "table": table, "note": note}
