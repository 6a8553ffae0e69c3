"""The report's section "Operating characteristics": the design in its null world beside the
assumed effect, on the same simulated trials (the type I error, with several arms the
family-wise error and each comparison's, with interim looks the overall alpha and the stopping
at each look, the expected number randomised and the duration), with several arms and a
multiplicity adjustment the same trials analysed without it, and the OC curve (power over the
true effect). Every number is the run's own (:mod:`simulate.run.operating`); the rows are
``operating_characteristics.csv``, the curve ``oc_curve.csv``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulate.report.formatting import _table, share_pm
from simulate.report.words import MULTIPLICITY_SHORT, comparison_name
from simulate.run.operating import JUDGED, headline_error, judged

if TYPE_CHECKING:
    from simulate.run.results import RunResults

OC_FIGURE = "oc_curve"
"""The section's figure: the chance of success over the true effect."""


def figure_names(results: RunResults) -> tuple[str, ...]:
    curve = getattr(results, "oc_curve", None)
    return (OC_FIGURE,) if curve is not None and sum(p.adjusted for p in curve.points) > 1 else ()


def _plain_points(results: RunResults) -> dict[float, object]:
    curve = getattr(results, "oc_curve", None)
    return {} if curve is None else {p.fraction: p for p in curve.points if not p.adjusted}


def operating_rows(results: RunResults) -> list[dict]:
    """One row per quantity, the null world beside the assumed effect (operating_characteristics.csv)."""
    s, p = results.scenario, results.power
    n = p.null_world
    if not n:
        return []
    many = len(p.comparisons) > 1

    def row(quantity: str, null, null_se, assumed, assumed_se, kind: str = "share") -> dict:
        return {"quantity": quantity, "kind": kind, "null_world": null, "null_world_mc_se": null_se,
                "assumed_effect": assumed, "assumed_effect_mc_se": assumed_se}

    rows = [row("chance of success (null world: type I error)", n["type1_error"], n["mc_se"], p.power, p.mc_se)]
    if many:
        rows.append(row("any comparison rejects (null world: family-wise error)", n["family_wise_error"],
                        n["family_wise_error_mc_se"], p.power_any, p.power_any_mc_se))
        for c, h1 in zip(n["comparisons"], p.comparisons):
            rows.append(row(f"{comparison_name(s, c['arm'])} rejects", c["type1_error"], c["mc_se"], h1.power, h1.mc_se))
        plain = _plain_points(results)
        if 0.0 in plain and 1.0 in plain:
            rows.append(row("any comparison rejects, without the multiplicity adjustment", plain[0.0].power_any,
                            plain[0.0].power_any_mc_se, plain[1.0].power_any, plain[1.0].power_any_mc_se))
            for arm in s.experimental_arms:
                a0, a1 = plain[0.0].comparisons[arm], plain[1.0].comparisons[arm]
                rows.append(row(f"{comparison_name(s, arm)} rejects, without the multiplicity adjustment",
                                a0["power"], a0["mc_se"], a1["power"], a1["mc_se"]))
    for k, (l0, l1) in enumerate(zip(n.get("looks", ()), p.looks)):
        last = k == len(p.looks) - 1
        at = f"look {k + 1} ({l1.information_fraction:.0%} information)"
        rows.append(row(f"{'rejects at the final' if last else 'stops for efficacy at'} {at}", l0["p_stop_efficacy"],
                        l0["p_stop_efficacy_se"], l1.p_stop_efficacy, l1.p_stop_efficacy_se))
        if not last and (l1.futility_z is not None or l1.futility_predictive is not None
                         or l0["p_stop_futility"] > 0 or l1.p_stop_futility > 0):
            rows.append(row(f"stops for futility at {at}", l0["p_stop_futility"], l0["p_stop_futility_se"],
                            l1.p_stop_futility, l1.p_stop_futility_se))
    duration = p.expected_duration_months if p.looks else p.mean_duration_months
    duration_se = p.expected_duration_months_mc_se if p.looks else p.mean_duration_months_mc_se
    rows.append(row("expected patients randomised", n["expected_randomised"], n["expected_randomised_mc_se"],
                    p.expected_randomised, p.expected_randomised_mc_se, "mean"))
    rows.append(row("expected months to the decision" if p.looks else "expected months to the last endpoint visit",
                    n["expected_duration_months"], n["expected_duration_months_mc_se"], duration, duration_se, "mean"))
    return rows


def oc_rows(results: RunResults) -> list[dict]:
    """The OC curve's rows (oc_curve.csv)."""
    curve = getattr(results, "oc_curve", None)
    return [] if curve is None else curve.to_frame().to_dict(orient="records")


def _cell(r: dict, which: str, replicates: int) -> str:
    value, se = r[which], r[f"{which}_mc_se"]
    if r["kind"] == "mean":
        return f"{value:.1f} ± {se:.1f}"
    return share_pm(value, se, replicates)


def operating(results: RunResults, images: dict[str, bytes] | None = None, scale: float = 1.0) -> dict | None:
    """The section as the template draws it, or None without a null world."""
    p = results.power
    n = p.null_world
    if not n:
        return None
    rows = operating_rows(results)
    many = "family_wise_error" in n
    rate, rate_se = headline_error(n)
    verdict = judged(rate, rate_se, p.alpha)
    what = "family-wise error (any comparison rejects)" if many else "type I error"
    if p.hypothesis == "non_inferiority":
        where = f"at the non-inferiority margin ({p.margin:g})"
    elif many:
        where = "under the global null (every experimental arm at the control's rate)"
    else:
        where = "with no true difference"
    text = [f"The same {p.replicates:,} trials in the design's null world, {where}. {n['design']} "
            f"The {what} is {share_pm(rate, rate_se, n['replicates'])}, {JUDGED[verdict]} α = {p.alpha:g}."]
    if p.looks:
        text.append(f"With the interim looks this is the overall α of the group-sequential design as simulated "
                    f"(boundaries, data cuts, decision lag and overrun as planned). Under H0 a trial randomises "
                    f"{n['expected_randomised']:.1f} patients on average and decides at month "
                    f"{n['expected_duration_months']:.1f}; under the assumed effect {p.expected_randomised:.1f} and "
                    f"month {p.expected_duration_months:.1f}.")
    if many and p.multiplicity != "none":
        plain = _plain_points(results)
        if 0.0 in plain and 1.0 in plain:
            adjustment = MULTIPLICITY_SHORT.get(p.multiplicity, f"the {p.multiplicity} adjustment")
            text.append(f"Without {adjustment} the same trials would give a family-wise error of "
                        f"{share_pm(plain[0.0].power_any, plain[0.0].power_any_mc_se, n['replicates'])} and a chance "
                        f"that any comparison rejects of {plain[1.0].power_any:.3f} under the assumed effects "
                        f"(adjusted: {p.power_any:.3f}): that difference is what the adjustment costs in power.")
    table = _table(["Quantity", "Null world ± MC SE", "Assumed effect ± MC SE"],
                   [[r["quantity"], _cell(r, "null_world", n["replicates"]), _cell(r, "assumed_effect", p.replicates)]
                    for r in rows], numeric={1, 2}, caption="Operating characteristics (as operating_characteristics.csv)")
    figures = []
    if images and OC_FIGURE in images:
        from simulate.report.captions import _figure

        figures.append(_figure(OC_FIGURE, images[OC_FIGURE], oc_caption(results), oc_alt(results), scale))
    curve = getattr(results, "oc_curve", None)
    if curve is not None and curve.skipped:
        text.append("Not simulated: " + ", ".join(f"{f:g}×" for f in curve.skipped)
                    + " the assumed effect, which the arms' outcome model cannot reach.")
    return {"text": text, "table": table, "figures": figures}


def oc_caption(results: RunResults) -> str:
    p = results.power
    several = any(not q.adjusted for q in results.oc_curve.points)
    return ("Each point is the share of simulated trials that succeed when every experimental arm's true effect is "
            "a fraction of the assumed one (0: the null world, where the share is the type I error; 1: the assumed "
            "effect, the planned power), with ±2 Monte Carlo SE bars; the dashed line is α = "
            f"{p.alpha:g}, the dotted line 80% power"
            + ("; the grey line is the same trials analysed without the multiplicity adjustment." if several else "."))


def oc_alt(results: RunResults) -> str:
    pts = [q for q in results.oc_curve.points if q.adjusted]
    return "Chance of success against the true difference: " + "; ".join(
        f"{q.true_difference:+.3f}: {q.power:.3f}" for q in pts) + "."


def oc_figure_rows(results: RunResults) -> list[dict]:
    """What :func:`simulate.report.power_plots.oc_curve` draws."""
    return [{"true_difference": q.true_difference, "power": q.power, "mc_se": q.mc_se, "adjusted": q.adjusted,
             "fraction": q.fraction} for q in results.oc_curve.points]
