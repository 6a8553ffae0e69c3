"""The teaching lab's views drawn from their results: the power box, the many-trials figures,
the null world, how many patients, one trial, and the progress and cancelled notes. Each takes
a result of :mod:`simulate.teach.lab` and returns the page's HTML; nothing here computes a
statistic.
"""

from __future__ import annotations

import base64
import html
import math

from shiny import ui

from simulate.design import scenario as sc
from simulate.analysis import registry
from simulate.design.assumed import primary_arm
from simulate.run.plan import FEW_REPLICATES
from simulate.report.drawing import close_figure, figure_png
from simulate.report.words import percent
from simulate.teach import lab
from simulate.teach.figures import TEST_LABELS


DPI = 120
"""Pixels per inch of the lab's figures (they scale down to the page's width)."""


def html_table(*children, **attrs) -> ui.Tag:
    """A table of the lab, scrolling sideways inside its card when the screen is narrower."""
    return ui.div(ui.tags.table(*children, **attrs), class_="lab-table-wrap")


def figure_image(fig, alt: str) -> ui.Tag:
    try:
        data = base64.b64encode(figure_png(fig, DPI)).decode("ascii")
    finally:
        close_figure(fig)
    return ui.img(src=f"data:image/png;base64,{data}", alt=alt, class_="lab-figure")


def note_block(*paragraphs: str) -> ui.Tag:
    return ui.div(*(ui.p(ui.HTML(p)) for p in paragraphs), class_="lab-note")


def progress_line(done: int, total: int, label: str) -> ui.Tag:
    share = 100 * done / total if total else 0
    return ui.div(
        ui.div(ui.div(class_="progress-bar", role="progressbar", style=f"width: {share:.0f}%",
                      **{"aria-valuenow": f"{share:.0f}", "aria-valuemin": "0", "aria-valuemax": "100"}),
               class_="progress", style="height: .9rem"),
        ui.p(label or "starting ...", class_="small text-muted"),
        ui.input_action_button("cancel", "Cancel", class_="btn-sm btn-outline-danger"),
        id="progress")


def running(progress: lab.Progress, stale: bool = False) -> ui.Tag:
    return progress_line(*progress.read()[:3])


def cancelled(design: sc.Scenario, progress: lab.Progress, stale: bool = False) -> ui.Tag:
    return ui.p(f"Cancelled ({progress.read()[2] or 'before the first block'}).", class_="text-muted")


def power_box(many: lab.ManyTrials | None, stale: bool = False) -> ui.Tag:
    """The power so far; ``stale``: it belongs to a design the inputs no longer describe."""
    flag = {"data-stale": "true" if stale else "false"}
    if many is None:
        return ui.div(ui.span("…", id="power_value", class_="lab-big", **flag), id="power_box")
    p = many.power
    return ui.div(
        ui.span("Power ", class_="text-muted"),
        ui.span(f"{p.power:.3f}", id="power_value", class_="lab-big",
                **{"data-complete": "true" if many.complete else "false", "data-replicates": str(p.replicates)},
                **flag),
        ui.span(f" ± {p.mc_se:.3f}", id="power_se"),
        ui.div(f"{p.rejections:,} of {p.replicates:,} simulated trials significant (Monte Carlo SE {p.mc_se:.3f}; "
               f"95% interval {p.ci_low:.3f}-{p.ci_high:.3f})", class_="small text-muted"),
        ui.div("No patient was randomised in any simulated trial: no trial took place, so nothing could be "
               "significant. Raise the referrals per site per month.", class_="lab-error", id="nobody_randomised")
        if p.mean_randomised == 0 and many.complete else None,
        ui.div(f"Only {p.replicates:,} simulated trials: the Monte Carlo error makes this figure unusable for "
               f"planning; simulate at least {FEW_REPLICATES}.", class_="small lab-error", id="few_replicates")
        if p.replicates < FEW_REPLICATES and many.complete else None,
        id="power_box")


def many_figures(design: sc.Scenario, many: lab.ManyTrials, what: str) -> ui.Tag:
    from simulate.design.assumed import dropout_adjustment
    from simulate.teach import figures

    p = many.power
    notes = []
    from simulate.report.sentences.common import NOTABLE_EXAGGERATION

    if (p.hypothesis == "superiority" and math.isfinite(p.exaggeration_ratio)
            and p.exaggeration_ratio >= NOTABLE_EXAGGERATION):
        notes.append(f"<b>The winner's curse.</b> The orange trials are the significant ones. On average they "
                     f"estimate a difference of {p.mean_abs_risk_difference_if_significant:.2f}, "
                     f"{p.exaggeration_ratio:.1f} times the true {abs(p.true_difference):.2f}: when power is low, "
                     "only the lucky trials reach significance, so a published significant result tends to "
                     "overstate the effect.")
    d = design.dropout.probability_by_endpoint
    if p.mean_randomised == 0:
        notes = [f"<b>No trial took place.</b> At {design.recruitment.rate_per_site_month:g} referrals per site "
                 f"per month no patient was randomised before the hard stop (month "
                 f"{design.trial.hard_stop_months:g}) in any simulated trial: there is nothing to estimate."]
    elif design.analysis.hypothesis != "superiority":
        pass                                        # the margin, not the difference, decides: see the report
    elif d > 0 and design.analysis.missing != "complete_case":
        adj = dropout_adjustment(design)
        counted = "counted as failures" if design.analysis.missing == "nonresponder" else \
            "carried forward from their last visit (at worst, as failures)"
        notes.append(f"<b>Why dropout costs power.</b> With {percent(d)} dropout {counted}, the rates "
                     f"the analysis sees fall to {adj.p_control:.3f} and {adj.p_treat:.3f}: the difference shrinks "
                     f"from {abs(p.true_difference):.3f} to {abs(adj.p_treat - adj.p_control):.3f}, and a smaller "
                     "difference is harder to detect.")
    elif d > 0:
        notes.append(f"<b>Why dropout costs power.</b> Analysing complete cases keeps the rates but loses "
                     f"{percent(d)} of the patients: fewer patients, wider intervals, less power.")
    return ui.div(
        figure_image(figures.estimates(many, what),
                     "Histogram of the estimated differences, significant trials highlighted"),
        note_block(*notes) if notes else None,
        figure_image(figures.p_values(many, design.analysis.alpha), "Histogram of the p-values"),
        note_block(f"Every bar left of α = {design.analysis.alpha:g} is a significant trial. With a real effect the "
              "p-values pile up near 0; with none they spread evenly (see The null world)."))


def null_view(design: sc.Scenario, null: lab.NullWorld) -> ui.Tag:
    from simulate.teach import figures

    alpha = design.analysis.alpha
    rows = [ui.tags.tr(ui.tags.td(TEST_LABELS.get(t, t)), ui.tags.td(f"{m.power.power:.3f}", id=f"type1_{t}"),
                       ui.tags.td(f"± {m.power.mc_se:.3f}"),
                       ui.tags.td(lab.type_one_verdict(m.power.power, m.power.mc_se, alpha), id=f"verdict_{t}",
                                  style="text-align: left"))
            for t, m in null.results.items()]
    refused = [ui.tags.li(f"{TEST_LABELS.get(t, t)}: {why}") for t, why in null.refused.items()]
    shown = [
        figure_image(figures.type_one_errors(null, alpha), "Type I error of each test with no true difference"),
        html_table(ui.tags.thead(ui.tags.tr(ui.tags.th("Test"), ui.tags.th("Type I error"), ui.tags.th("MC SE"),
                                        ui.tags.th("Against α", style="text-align: left"))),
               ui.tags.tbody(*rows), class_="lab-table mb-3"),
    ] if null.results else []
    fisher = ("<b>Why Fisher is conservative.</b> With counts, only some p-values can occur. Fisher's exact test "
              f"never rejects more often than α = {alpha:g}, so it usually rejects less: its type I error sits "
              "below α, and the same caution costs power when there is an effect. Yates' correction does the "
              "same to the χ² test. The table says where each test lands against α, given its Monte Carlo "
              "error (more than 2 standard errors away is more than chance).")
    return ui.div(
        note_block(html.escape(null.note)) if null.note else None, *shown,
        note_block(fisher) if "fisher" in null.results else None,
        ui.div("Not used by this design: ", ui.tags.ul(*refused), class_="small text-muted") if refused else None)


def how_many_view(design: sc.Scenario, plan) -> ui.Tag:
    from simulate.report import power_plots

    chosen = {s.target: s.n_per_arm for s in plan.searches}
    fig = power_plots.power_curve(plan.curve, plan.closed_form, chosen, design.trial.n_per_arm,
                                  design.simulation.replicates, alpha=design.analysis.alpha,
                                  searched={s.target: max(c.n_per_arm for c in s.curve) for s in plan.searches if s.curve})
    return ui.div(figure_image(fig, "Power against n per arm, simulated and closed form"),
                  note_block(*how_many_lines(design, plan)),
                  note_block(below_formulas(design)))


def below_formulas(design: sc.Scenario) -> str:
    """Why the simulated curve may sit below the closed forms, for this design's own reasons."""
    a = design.analysis
    reasons = []
    test = registry.get(a.test)
    if test.conservative:
        reasons.append(f"{test.title[0].upper()}{test.title[1:]} is conservative")
    if design.dropout.probability_by_endpoint > 0:
        reasons.append("dropouts dilute the difference or shrink the sample the test sees")
    reasons.append("at large n some trials never finish recruiting before the hard stop")
    return ("The simulated curve can sit below the formulas, which assume every patient recruited and "
            "analysed: " + "; ".join(reasons) + ".")


def how_many_lines(design: sc.Scenario, plan) -> list[str]:
    """What the sample-size search found, a paragraph per target (percentages as the report rounds them)."""
    from simulate.design.loader import with_overrides

    curve = {p.n_per_arm: p for p in plan.curve}
    lines = []
    for s in plan.searches:
        pct = f"{round(100 * s.target)}%"
        if s.n_per_arm is None:
            lines.append(f"<b>{pct} power</b> is not reached: {html.escape(s.note)}.")
            continue
        a, at = s.analytic, curve.get(s.n_per_arm)
        closed = (f" The closed forms, which assume every patient is recruited and analysed, say "
                  f"{a.pooled_normal} (pooled normal) or {a.fleiss_cc} (Fleiss, continuity corrected)"
                  + (f"; allowing for dropout, the pooled normal says {a.pooled_normal_with_dropout}"
                     if a.pooled_normal_with_dropout else "")
                  + ".") if a.pooled_normal is not None else ""
        n_total = with_overrides(design, {"trial.n_per_arm": s.n_per_arm}).n_target
        feasible = (f" At that size recruitment finishes within the planned {design.trial.recruitment_months:g} "
                    f"months in {percent(at.p_recruitment_on_time)} of simulated trials, and {at.mean_randomised:.0f} "
                    f"of {n_total} patients are randomised on average before the hard stop."
                    if at is not None else "")
        lines.append(f"<b>{pct} power</b> needs <b id='n_for_{round(100 * s.target)}'>{s.n_per_arm}</b> per arm "
                     f"(power {s.power:.3f} ± {s.mc_se:.3f}).{closed}{feasible}")
    return lines


def one_page(design: sc.Scenario, replicate: int, what: str) -> ui.Tag:
    return one_view(design, lab.one_trial(design, replicate), what)


def one_view(design: sc.Scenario, trial: lab.OneTrial, what: str) -> ui.Tag:
    from simulate.screening.criteria import RULES
    from simulate.engines.block_outcomes import CONSORT_FIELDS
    from simulate.report import flow_plots, remission_plots, style
    from simulate.report.words import MISSING_NOTES

    rec, c = trial.record, trial.record.consort
    labels = {arm: design.arm(arm).label for arm in design.arm_names}
    colours = style.arm_colours(design.arm_names, design.control_arm)
    exclusions = {r.name: r.describe_failure(design.eligibility) for r in RULES}
    table_rows = [ui.tags.tr(ui.tags.td(labels[arm]), ui.tags.td(str(x), id=f"responders_{arm}"),
                             ui.tags.td(str(n - x)), ui.tags.td(str(n), id=f"analysed_{arm}"),
                             ui.tags.td(f"{x / n:.2f}" if n else "-"))
                  for arm, (x, n) in trial.table.items()]
    p_text = "-" if not math.isfinite(trial.p_value) else f"{trial.p_value:.4f}"
    verdict = "significant" if trial.reject else "not significant"
    level = 1 - design.analysis.alpha if design.analysis.alternative == "two-sided" else 1 - 2 * design.analysis.alpha
    compared = f"{labels[primary_arm(design)]} − {labels[design.control_arm]}"
    estimate = (f"Difference {compared}: {trial.risk_difference:+.3f} ({level:.0%} interval {trial.ci_low:+.3f} to "
                f"{trial.ci_high:+.3f}); {TEST_LABELS.get(design.analysis.test, design.analysis.test)} p = {p_text}: "
                f"{verdict} at α = {design.analysis.alpha:g}.") if math.isfinite(trial.risk_difference) else \
        "No estimate: an arm has no analysed patient."
    seed = design.simulation.seed
    return ui.div(
        ui.h5(f"Trial {trial.replicate} of seed {seed}"),
        ui.p(f"Replicate {trial.replicate} of ", ui.code("trialsim power"), " with this seed",
             *(["; ", ui.code(f"trialsim trial --seed {seed}"), " tells the same trial."] if trial.replicate == 0
               else ["."]), class_="small text-muted"),
        html_table(ui.tags.thead(ui.tags.tr(ui.tags.th("Arm"), ui.tags.th(f"In {what}"), ui.tags.th("Not"),
                                        ui.tags.th("Analysed"), ui.tags.th("Share"))),
               ui.tags.tbody(*table_rows), class_="lab-table", id="two_by_two"),
        ui.p(ui.tags.b(estimate), id="one_estimate", class_="mt-2"),
        ui.div(*(ui.span(str(getattr(c, k)), id=f"consort_{k}", hidden=True) for k in CONSORT_FIELDS),
               *(ui.span(str(v), id=f"consort_{k}_{arm}", hidden=True)
                 for k in ("randomised_per_arm", "discontinued_per_arm", "analysed_per_arm")
                 for arm, v in getattr(c, k).items())),
        figure_image(flow_plots.accrual(trial.fan, trial.randomisation_months),
               "Recruitment of this trial against the plan and other simulated trials"),
        note_block("Recruitment: the orange line is this trial, the thin blue ones other trials of the same design. "
              "Sites open one by one and refer patients at random, so some trials finish early and some never."),
        figure_image(flow_plots.consort(c, {}, None, labels, exclusions, MISSING_NOTES[design.analysis.missing],
                             design.n_target, colours, title=f"CONSORT flow of trial {trial.replicate}"),
               "CONSORT flow of this trial"),
        figure_image(remission_plots.swimmer(rec.patients, labels, design.trial.endpoint_month, colours,
                             title=f"Trial {trial.replicate}: follow-up of each randomised patient"),
               "Swimmer plot: each patient's follow-up"),
        ui.tags.details(ui.tags.summary("The story as trialsim trial prints it"),
                        ui.pre("\n".join(trial.story), class_="lab-story")),
    )
