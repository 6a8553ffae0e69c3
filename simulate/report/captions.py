"""The report's figures as the page shows them: each one's title, caption and alt text, written
with the run's own figures (the arms by their labels, the endpoint, the success rule, the real
trial; a null scenario's power worded as a type I error), and the figure entries the template
draws (the PNG as a data URI at its display size).
"""

from __future__ import annotations

import base64
import struct
from typing import Callable

import numpy as np

from simulate.report.design_tables import _alpha_at
from simulate.report.words import (ENDPOINT_WORDS, MULTIPLICITY_SHORT, and_list, label, percent,
                                   success_phrase)
from simulate.run.results import RunResults, SweepResult

CAPTIONS = {
    "power_curve": "Each blue point is the share of simulated trials with a significant result at that number "
                   "per arm (shaded: its 95% Monte Carlo interval); grey lines are closed-form approximations, "
                   "horizontal lines the 80% and 90% targets, diamonds the smallest n reaching each, and the red "
                   "dashed line the planned n.",
    "consort": "Read top to bottom: how many patients of one simulated trial were referred, excluded (by the first "
               "criterion failed), deferred or lost, randomised, and then allocated, dropped out and analysed in "
               "each arm; grey text gives the mean over all simulated trials.",
    "accrual": "Each thin line is one simulated trial's cumulative randomisations (bold: their median); compare "
               "them with the plan (red dashed line) up to the target (grey dotted line), and with the hard stop "
               "(dash-dot line), the month at which enrolment closes whatever the count, and with the star that "
               "marks what the real trial achieved (the black dotted line is its average pace).",
    "time_to_remission": "Each step curve is the share of one arm of the example trial that has reached a first "
                         "remission by each month after randomisation; diamonds mark the remission rates assumed "
                         "at the endpoint, which sit lower because some remissions are lost to relapse.",
    "swimmer": "Each bar is one patient of the example trial, from randomisation to the endpoint or dropout; stars "
               "and triangles mark first remission (CR or PR at the endpoint), open circles remissions lost by the "
               "endpoint, red triangles relapses; black crosses mark consent withdrawn, open squares loss to follow-up "
               "and grey crosses other dropouts.",
}
NULL_TITLES = {"power_curve": "Type I error against sample size", "power_heatmap": "Sensitivity of the type I error"}
"""The titles that change when there is no true effect (the power is a type I error)."""
FIGURES = ("power_curve", "power_heatmap", "consort", "accrual", "remission_by_visit", "time_to_remission",
           "swimmer")
"""Figure names, in the report's order; each is written as ``<name>.png``."""
INTERIM_FIGURES = ("boundaries", "stopping")
"""The figures of a design with interim looks, shown in its own section."""
OPERATING_FIGURES = ("oc_curve",)
"""The figure of the section "Operating characteristics" (:mod:`simulate.report.operating_section`)."""
UNCERTAINTY_FIGURES = ("assurance_over_n",)
"""The figure of the section "Uncertainty in the assumptions" (where the grid varies both the
rates' source and n: :func:`simulate.report.uncertainty_section.figure_names`)."""
ESTIMAND_FIGURES = ("missing_data_methods", "tipping_point")
"""The figures of the section on the estimand and the missing data (each where it applies:
:func:`simulate.report.estimand_section.figure_names`)."""
TITLES = {
    "power_curve": "Power against sample size", "power_heatmap": "Sensitivity of power",
    "consort": "CONSORT flow of the example trial", "accrual": "Recruitment against the plan",
    "time_to_remission": "Time to remission", "swimmer": "Patients of the example trial",
    "remission_by_visit": "Remission over follow-up",
    "boundaries": "Interim boundaries and simulated z paths", "stopping": "Stopping at each look",
    "missing_data_methods": "Each analysis against the estimand's true value",
    "tipping_point": "Tipping point of the planned analysis",
    "assurance_over_n": "Assurance and power against sample size",
    "oc_curve": "Power over the true effect (OC curve)",
}


def _lower(label: str) -> str:
    """'Dropout by ...' -> 'dropout by ...', but 'RTX + CsA: ...' stays."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _heatmap_caption(sweep: SweepResult | None, axis_label: Callable[[str], str],
                     alpha: float | None = None) -> str:
    """The heatmap's caption; ``alpha`` given: a null scenario's, where the power is a type I error."""
    axes = list(sweep.axes) if sweep is not None else []
    n_axes = [a for a in axes if a.rsplit(".", 1)[-1] == "n_per_arm"]
    rest = [a for a in axes if a not in n_axes] + n_axes
    if alpha is not None and rest:
        if len(rest) < 2:
            return (f"Simulated type I error (no true difference between the arms) as {_lower(axis_label(rest[0]))} "
                    f"changes (bars: 95% Monte Carlo intervals); the dashed line is alpha = {alpha:.3f}.")
        panels = ", one panel per n per arm" if n_axes and len(rest) > 2 else ""
        return (f"Each cell is the simulated type I error (the share of significant results with no true difference "
                f"between the arms) for one combination of {_lower(axis_label(rest[0]))} and "
                f"{_lower(axis_label(rest[1]))}{panels}, to three decimals; white outlines mark cells above alpha "
                f"({alpha:.3f}, the red mark on the colour bar) and the red one the planned design.")
    if len(rest) < 2:
        return (f"Simulated power as {_lower(axis_label(rest[0]))} changes (bars: 95% Monte Carlo intervals); the "
                "horizontal lines are the 80% and 90% targets.") if rest else ""
    panels = ", one panel per n per arm" if n_axes and len(rest) > 2 else ""
    return (f"Each cell is the simulated power for one combination of {_lower(axis_label(rest[0]))} and "
            f"{_lower(axis_label(rest[1]))}{panels}; white outlines mark at least 80% power and the red one the "
            "planned design; brighter (yellow) cells have more power, and 0.80 is the "
            "usual minimum.")


def _captions(results: RunResults, null: bool = False) -> dict[str, str]:
    """The captions that depend on the design: the arms, the endpoint, the success rule, the real trial
    (``null``: no true effect, the power is a type I error)."""
    scenario, p = results.scenario, results.power
    what = ENDPOINT_WORDS[scenario.trial.endpoint]
    out = dict(CAPTIONS)
    if null:
        out["power_curve"] = (
            "Each blue point is the share of simulated trials with a significant result at that number per arm "
            "when the arms do not differ: the type I error (shaded: its 95% Monte Carlo interval); the dash-dot "
            f"line is alpha ({p.alpha:.3f}), the rate a test that keeps its level should not exceed, and the "
            "dashed line the planned n.")
    if len(p.comparisons) > 1:
        out["power_curve"] = out["power_curve"].replace(
            "with a significant result",
            f"in which {success_phrase(scenario, p.success, len(p.comparisons), p.hypothesis)} "
            f"({MULTIPLICITY_SHORT.get(p.multiplicity, p.multiplicity)})")
    if p.hypothesis == "non_inferiority":
        out["power_curve"] = out["power_curve"].replace("with a significant result", "showing non-inferiority"
                                                        ).replace("grey lines are closed-form approximations, ", "")
    if results.accrual.observed is None:
        out["accrual"] = CAPTIONS["accrual"].replace(
            ", and with the star that marks what the real trial achieved (the black dotted line is its average pace)",
            "")
    out["remission_by_visit"] = (
        f"Each line is one arm's mean share of its randomised patients in {what} at each scheduled visit, over "
        f"{p.replicates:,} simulated trials (band and bars: ±2 Monte Carlo SE; dropouts count as not in "
        "remission); the dashed line marks the primary endpoint"
        + ("; stars are the published figures the scenario gives (observed.remission)."
           if scenario.observed is not None and scenario.observed.remission else "."))
    out["time_to_remission"] = _remission_caption(results)
    return out


def _remission_caption(results: RunResults) -> str:
    """The time-to-remission caption: what the curves estimate, the first-remission rate the
    outcome model implies per arm, and why the endpoint rate is lower (relapse, partial
    remissions under a CR endpoint, dropout), with the run's own figures."""
    scenario, p, model = results.scenario, results.power, results.remission_model
    t = scenario.trial
    cr = t.endpoint != "cr_or_pr"
    text = ("Each step curve is the share of one arm of the example trial that has reached a first remission "
            "(complete or partial) by each month after randomisation (1 − Kaplan–Meier: dropouts are censored, so "
            "the curve estimates the chance of a first remission, not the endpoint).")
    if model is None or not model.arms:
        return text + (f" Diamonds mark the rates of {ENDPOINT_WORDS[t.endpoint]} assumed at month "
                       f"{t.endpoint_month:g}, which sit lower because some remissions are lost to relapse.")
    arms = model.arms
    name = lambda a: label(scenario, a.arm)  # noqa: E731
    each = lambda values: and_list([f"{v} on {name(a)}" for a, v in zip(arms, values)])  # noqa: E731
    text += (f" In the outcome model a first remission by month {t.endpoint_month:g} comes to "
             f"{each(percent(a.first_remission) for a in arms)} (dashed lines).")
    parts = []
    if cr:
        shares = (percent(scenario.arm(a.arm).complete_share_of_remission) for a in arms)
        parts.append(f"of first remissions, {each(shares)} are complete")
    if any(a.lasting < 1 for a in arms):
        relapse = (f"{'' if cr else 'of first remissions, '}{each(percent(1 - a.lasting) for a in arms)} are lost to relapse "
                   f"before month {t.endpoint_month:g}")
        rising = [a for a in arms if np.isfinite(a.rebound_month)
                  and scenario.arm(a.arm).off_cni_hazard > scenario.arm(a.arm).relapse_hazard_per_month]
        if rising:
            relapse += " (" + "; ".join(
                f"on {name(a)} the relapse hazard rises from month {a.rebound_month:.0f}, when the calcineurin-"
                "inhibitor course and any B-cell cover end" for a in rising) + ")"
        parts.append(relapse)
    if parts:
        text += (f" The primary endpoint counts only patients in {ENDPOINT_WORDS[t.endpoint]} at month "
                 f"{t.endpoint_month:g}: " + "; ".join(parts) + ", which leaves the assumed "
                 f"{each(percent(a.endpoint_rate) for a in arms)} (diamonds).")
    else:
        text += f" Diamonds mark the assumed rates at month {t.endpoint_month:g}."
    at_end = {v.arm: v.remission for v in p.remission_by_visit if np.isclose(v.month, t.endpoint_month)}
    if scenario.dropout.probability_by_endpoint > 0 and all(a.arm in at_end for a in arms):
        text += (f" Counting the {percent(scenario.dropout.probability_by_endpoint)} who drop out before month "
                 f"{t.endpoint_month:g} as not in remission, the simulated trials see {each(percent(at_end[a.arm]) for a in arms)} at month "
                 f"{t.endpoint_month:g} (Remission over follow-up).")
    return text


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG (from its header; (0, 0) if it is not one)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return 0, 0
    return struct.unpack(">II", png[16:24])


def _alts(results: RunResults, null: bool = False) -> dict[str, str]:
    """Each figure's alt text: what it shows, with the run's own figures."""
    scenario, p, plan, ex = results.scenario, results.power, results.samplesize, results.example_trial
    arms = scenario.arm_names
    out: dict[str, str] = {}
    curve = sorted(plan.curve, key=lambda c: c.n_per_arm)
    reached = "; ".join(f"{s.target:.0%} power at {s.n_per_arm} per arm" if s.n_per_arm is not None else
                        f"{s.target:.0%} power not reached" for s in plan.searches)
    if curve and null:
        out["power_curve"] = (f"Line chart of the simulated type I error against n per arm, from {curve[0].power:.3f} "
                              f"at {curve[0].n_per_arm} to {curve[-1].power:.3f} at {curve[-1].n_per_arm} per arm, "
                              f"against alpha {p.alpha:.3f}; the planned {p.n_per_arm} per arm gives {p.power:.3f}.")
    elif curve:
        out["power_curve"] = (f"Line chart of simulated power against n per arm, from {curve[0].power:.3f} at "
                              f"{curve[0].n_per_arm} to {curve[-1].power:.3f} at {curve[-1].n_per_arm} per arm; the "
                              f"planned {p.n_per_arm} per arm gives {p.power:.3f}; {reached}.")
    if results.sweep is not None and results.sweep.points and null:
        powers = [x.power for x in results.sweep.points]
        out["power_heatmap"] = (f"Simulated type I error over the {len(powers)} points of the sensitivity grid, "
                                f"from {min(powers):.3f} to {max(powers):.3f}; "
                                f"{sum(x.power > _alpha_at(x, p.alpha) for x in results.sweep.points)} of them "
                                f"above alpha.")
    elif results.sweep is not None and results.sweep.points:
        powers = [x.power for x in results.sweep.points]
        out["power_heatmap"] = (f"Simulated power over the {len(powers)} points of the sensitivity grid, from "
                                f"{min(powers):.3f} to {max(powers):.3f}; {sum(x >= 0.8 for x in powers)} of them "
                                "reach 0.80.")
    c = ex.consort
    out["consort"] = (f"CONSORT flow of the example trial: {c.referred:,} referred, {c.excluded_total:,} excluded, "
                      f"{c.randomised:,} randomised of {scenario.n_target:,} planned, "
                      + ", ".join(f"{c.analysed_per_arm.get(a, 0):,} analysed on {label(scenario, a)}" for a in arms)
                      + ".")
    acc = results.accrual
    text = (f"Cumulative randomisations of {len(acc.curves)} simulated trials against the plan of {acc.n_target} "
            f"patients in {acc.recruitment_months:g} months: {p.p_recruitment_on_time:.0%} of trials recruit on time, "
            f"{p.p_terminated:.0%} stop at the hard stop at month {acc.hard_stop_months:g}")
    if acc.observed is not None:
        text += f"; the real trial randomised {acc.observed.n_randomised} in {acc.observed.months:g} months"
    out["accrual"] = text + "."
    end = scenario.trial.endpoint_month
    at_end = {v.arm: v.remission for v in p.remission_by_visit if np.isclose(v.month, end)}
    if at_end:
        out["remission_by_visit"] = (f"Line chart of each arm's share in {ENDPOINT_WORDS[scenario.trial.endpoint]} "
                                     f"at each visit; at month {end:g}: "
                                     + ", ".join(f"{label(scenario, a)} {at_end[a]:.0%}" for a in arms if a in at_end)
                                     + ".")
    last = {a: steps[-1].cumulative_remission for a, steps in ex.kaplan_meier.items() if steps}
    if last:
        first = {a.arm: a.first_remission for a in results.remission_model.arms} if results.remission_model else {}
        out["time_to_remission"] = ("Step curves of first remission in the example trial; by the end of follow-up "
                                    + ", ".join(f"{label(scenario, a)} {last[a]:.0%}"
                                                + (f" (model {first[a]:.0%}" if a in first else " (")
                                                + ("; " if a in first else "")
                                                + f"assumed at the endpoint {scenario.arm(a).remission_at_endpoint:.0%})"
                                                for a in arms if a in last)
                                    + ".")
    pts = ex.patients
    if pts:
        remitted = sum(bool(np.isfinite(x.remission_month)) for x in pts)
        dropped = sum(bool(np.isfinite(x.dropout_month)) for x in pts)
        out["swimmer"] = (f"One bar per patient of the example trial ({len(pts)} patients): {remitted} reach a first "
                          f"remission, {dropped} drop out before the endpoint.")
    return out


def _figure(name: str, png: bytes, caption: str, alt: str = "", scale: float = 1.0, title: str = "") -> dict:
    """One embedded figure: its title, caption, alt text (what it shows) and data URI; ``scale`` is
    pixels per CSS pixel (2 for figures drawn at twice the display resolution)."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    title = title or TITLES.get(name, name.replace("_", " "))
    width, height = _png_size(png)
    return {"name": name, "uri": uri, "title": title, "caption": caption, "alt": alt or title,
            "width": round(width / scale) if width else "", "height": round(height / scale) if height else ""}


def _figures(images: dict[str, bytes], sweep: SweepResult | None, axis_label: Callable[[str], str],
             captions: dict[str, str] = CAPTIONS, alts: dict[str, str] | None = None,
             scale: float = 1.0, alpha: float | None = None) -> list[dict]:
    out = []
    for name, png in images.items():
        if name in INTERIM_FIGURES or name in ESTIMAND_FIGURES or name in UNCERTAINTY_FIGURES or name in OPERATING_FIGURES:  # their own sections
            continue
        caption = captions.get(name) or (_heatmap_caption(sweep, axis_label, alpha) if name == "power_heatmap"
                                         else "")
        title = NULL_TITLES.get(name, "") if alpha is not None else ""
        out.append(_figure(name, png, caption, (alts or {}).get(name, ""), scale, title))
    return out
