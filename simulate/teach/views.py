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
from simulate.design.choices import IMPUTATION_STRATEGIES
from simulate.run.plan import FEW_REPLICATES
from simulate.report.drawing import close_figure, figure_png
from simulate.report.words import MISSING_WORDS, percent
from simulate.run.results import TYPE_ONE_SE, against_alpha
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
    # on a phone the figure keeps a legible width and scrolls sideways in its own box
    return ui.div(ui.img(src=f"data:image/png;base64,{data}", alt=alt, class_="lab-figure"), class_="lab-figure-wrap")


def note_block(*paragraphs: str, **attrs) -> ui.Tag:
    return ui.div(*(ui.p(ui.HTML(p)) for p in paragraphs), class_="lab-note", **attrs)


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
    if design.analysis.adjustment == "g_computation":
        from simulate.run.adjustment_gain import variance_removed

        notes.append("<b>Adjusted for baseline covariates.</b> Each trial's difference is g-computation's: a logistic "
                     "model of remission on the arm, the anti-PLA2R titre and the proteinuria, averaged over the "
                     "trial's patients. Patients with a high titre or heavy proteinuria remit less often whatever "
                     "their arm; allowing for that removes about "
                     f"{100 * variance_removed(design):.1f}% of the difference's variance here. Turn the switch off "
                     "to see the same trials analysed without it.")
    d = design.dropout.probability_by_endpoint
    if p.mean_randomised == 0:
        notes = [f"<b>No trial took place.</b> At {design.recruitment.rate_per_site_month:g} referrals per site "
                 f"per month no patient was randomised before the hard stop (month "
                 f"{design.trial.hard_stop_months:g}) in any simulated trial: there is nothing to estimate."]
    elif design.analysis.hypothesis != "superiority":
        pass                                        # the margin, not the difference, decides: see the report
    elif d > 0 and design.analysis.missing in IMPUTATION_STRATEGIES:
        notes.append(f"<b>Why dropout costs power.</b> With {percent(d)} dropout, multiple imputation fills in "
                     "each dropout's endpoint from patients who looked the same at their last visit, so the "
                     "difference is not diluted; but an imputed endpoint carries less information than a seen "
                     "one: wider intervals, less power than with no dropout.")
    elif d > 0 and design.analysis.missing != "complete_case":
        adj = dropout_adjustment(design)
        counted = "counted as failures" if design.analysis.missing == "nonresponder" else \
            "carried forward from their last visit (at worst, as failures)"
        notes.append(f"<b>Why dropout costs power.</b> With {percent(d)} dropout {counted}, the rates "
                     f"the analysis sees fall to {adj.p_control:.3f} and {adj.p_treat:.3f}: the difference shrinks "
                     f"from {abs(p.true_difference):.3f} to {abs(adj.p_treat - adj.p_control):.3f}, and a smaller "
                     "difference is harder to detect.")
    elif d > 0:
        notes.append(f"<b>Why dropout costs power.</b> Analysing complete cases loses {percent(d)} of the "
                     "patients: fewer patients, wider intervals, less power."
                     + (" It keeps the rates only when dropout is unrelated to the outcome (MCAR): here it is not, "
                        "see the truth beside the estimates above." if design.dropout.mechanism != "mcar" else ""))
    return ui.div(
        note_block(*truth_lines(design, many, what), id="truth"),
        figure_image(figures.estimates(many, what),
                     "Histogram of the estimated differences, significant trials highlighted"),
        note_block(*notes) if notes else None,
        figure_image(figures.p_values(many, design.analysis.alpha), "Histogram of the p-values"),
        note_block(f"Every bar left of α = {design.analysis.alpha:g} is a significant trial. With a real effect the "
              "p-values pile up near 0; with none they spread evenly (see The null world)."))


# ----------------------------------------------------------------------------- dropout and missing data


MECHANISM_LABELS = {"mcar": "Unrelated to the outcome (MCAR)", "mar": "Depends on the last visit (MAR)",
                    "mnar": "Depends on the unseen outcome (MNAR)"}
"""The dropout mechanisms as the lab's menu offers them (:data:`simulate.report.words.DROPOUT_MECHANISM_WORDS`
names them in full)."""
MECHANISM_HELP = {
    "mcar": "Patients leave for reasons that have nothing to do with how they are doing (a move, a new job): "
            "those who stay are like those who leave.",
    "mar": "Patients not in remission at a visit are more likely to leave before the next one (by the hazard "
           "ratio below). What was seen at their last visit explains who leaves, so the data kept can correct "
           "for it.",
    "mnar": "Patients who would not be in remission at the endpoint are more likely to leave, for reasons no "
            "visit showed (by the hazard ratio below). The data cannot tell how different the missing patients "
            "are: only an assumption can.",
}
"""What each dropout mechanism (``dropout.mechanism``) means, for students."""
MISSING_HELP = {
    "nonresponder": "Every dropout counts as not in remission. Cautious, but when both arms lose patients it "
                    "shrinks the difference between them.",
    "complete_case": "Only the patients seen at the endpoint are analysed. Right when dropout is unrelated to the "
                     "outcome (MCAR); biased when who leaves depends on how they were doing.",
    "locf": "Each dropout keeps the status of their last visit, as if nothing changed after they left.",
    "mi_mar": "Each dropout's missing visits are filled in many times from patients who looked the same up to "
              "then, and the answers are combined (Rubin's rules). Right when dropout depends only on what was "
              "seen (MAR). Needs the Wald test.",
    "mi_j2r": "Multiple imputation that assumes the experimental arm's dropouts fare like control patients after "
              "they leave (jump to reference): cautious when leaving means stopping the treatment. Needs the "
              "Wald test.",
}
"""What each missing-data method (``analysis.missing``) does, for students."""


def dropout_clause(design: sc.Scenario, what: str) -> str:
    """Who drops out, as the end of a sentence ('when patients seen out of remission drop out 4
    times as often (MAR)')."""
    d = design.dropout
    if d.probability_by_endpoint == 0:
        return "with no dropout"
    if d.mechanism == "mar" and d.mar_hazard_ratio_not_in_remission != 1:
        r = d.mar_hazard_ratio_not_in_remission
        return (f"when patients seen out of {what} drop out {r:.3g} times as often (MAR)" if r > 1 else
                f"when patients seen in {what} drop out {1 / r:.3g} times as often (MAR)")
    if d.mechanism == "mnar" and d.informative_hazard_ratio != 1:
        return (f"when patients who would not be in {what} at the endpoint drop out "
                f"{d.informative_hazard_ratio:.3g} times as often (MNAR)")
    return "when dropout has nothing to do with the outcome (MCAR)"


def level_of(design: sc.Scenario) -> float:
    """The confidence level of a trial's interval for the difference."""
    a = design.analysis
    return 1 - a.alpha if a.alternative == "two-sided" else 1 - 2 * a.alpha


def bias_clause(c, method: str) -> str:
    """How a method's mean estimate lands on the true difference, judged within
    :data:`~simulate.run.results.TYPE_ONE_SE` Monte Carlo SE."""
    side = against_alpha(c.mean_risk_difference, c.risk_difference_bias_se, c.true_difference)
    gap = f"{abs(c.risk_difference_bias):.3f} ± {c.risk_difference_bias_se:.3f}"
    if side == 0:
        return (f"with {MISSING_WORDS[method]}, the trials hit it on average: the gap, "
                f"{c.risk_difference_bias:+.3f} ± {c.risk_difference_bias_se:.3f}, is within "
                f"{TYPE_ONE_SE:g} Monte Carlo SE")
    return f"with {MISSING_WORDS[method]}, the trials {'under' if side < 0 else 'over'}estimate it by {gap}"


def coverage_clause(c, level: float) -> str:
    side = against_alpha(c.ci_coverage, c.ci_coverage_se, level)
    return {0: "as promised, within Monte Carlo error",
            -1: "less often than promised: the intervals are off-centre or too narrow, so they claim more "
                "certainty than the method has",
            1: "more often than promised: the intervals are wider than they need be"}[side]


def truth_lines(design: sc.Scenario, many: lab.ManyTrials, what: str) -> list[str]:
    """The estimand's true difference beside the trials' mean estimate, the bias and the
    intervals' coverage, in words (empty when no trial estimated the difference)."""
    p = many.power
    c = lab.primary_comparison(design, p)
    if c is None or not math.isfinite(c.mean_risk_difference):
        return []
    e = p.estimand or {}
    treat, control = design.arm(c.arm).label, design.arm(c.control).label
    true = f"{c.true_difference:+.3f}" + (f" ± {c.true_difference_mc_se:.3f}" if c.true_difference_mc_se > 0 else "")
    level = level_of(design)
    cover = (f"{100 * c.ci_coverage:.1f}%", f"{100 * c.ci_coverage_se:.1f}%")
    return [
        f"<b>The truth beside the estimates.</b> The estimand is the difference in "
        f"{html.escape(str(e.get('variable', what)))} between {html.escape(treat)} and {html.escape(control)}, "
        f"among {html.escape(str(e.get('population', 'all randomised patients')))}: its true value is "
        f"<b id='truth_true'>{true}</b>. The trials' average estimate is <b id='truth_mean'>"
        f"{c.mean_risk_difference:+.3f}</b> ± {c.risk_difference_bias_se:.3f} (Monte Carlo SE): "
        f"<span id='truth_bias'>{bias_clause(c, design.analysis.missing)}</span>, "
        f"{dropout_clause(design, what)}.",
        f"<b>Coverage.</b> A trial's {level:.0%} interval should contain the true difference in {level:.0%} of "
        f"trials; here it does in <b id='truth_coverage'>{cover[0]}</b> ± {cover[1]}: "
        f"{coverage_clause(c, level)}.",
    ]


METHODS_WHY = {
    "mcar": "Dropout here is unrelated to the outcome: the patients seen at the endpoint are a fair sample, so "
            "complete cases and multiple imputation should land on the truth, while counting dropouts as "
            "failures pulls both arms down and shrinks the difference.",
    "mar": "Who drops out here depends on what the visits showed: the patients left at the endpoint are not "
           "like those who left, so complete cases miss the truth. Multiple imputation under MAR fills in each "
           "dropout from patients who looked the same at their last visit, and should recover it.",
    "mnar": "Who drops out here depends on an outcome no visit showed: nothing in the data can correct for it, "
            "so every method may miss. Jump to reference and the tipping point (the command line's "
            "analysis.tipping_point_deltas) ask how wrong an assumption would have to be to change the answer.",
}
"""Why the methods differ, by dropout mechanism (the table shows by how much)."""


def methods_view(design: sc.Scenario, comparison: lab.MethodsComparison, what: str = "remission") -> ui.Tag:
    """Each missing-data method's mean estimate, bias and coverage against the one true difference."""
    from simulate.teach import figures

    arm = primary_arm(design)
    level = level_of(design)
    rows, first = [], None
    for method, many in comparison.results.items():
        c = lab.primary_comparison(design, many.power)
        p = many.power
        first = first or (p, c)
        mine = method == design.analysis.missing
        name = MISSING_WORDS.get(method, method) + (" (this design)" if mine else "")
        cells = ("-", "-", "-") if c is None or not math.isfinite(c.mean_risk_difference) else (
            f"{c.mean_risk_difference:+.3f} ± {c.risk_difference_bias_se:.3f}",
            f"{c.risk_difference_bias:+.3f} ± {c.risk_difference_bias_se:.3f}",
            f"{100 * c.ci_coverage:.1f}% ± {100 * c.ci_coverage_se:.1f}%")
        rows.append(ui.tags.tr(ui.tags.td(ui.tags.b(name) if mine else name),
                               ui.tags.td(TEST_LABELS.get(comparison.tests[method], comparison.tests[method])),
                               ui.tags.td(cells[0], id=f"method_mean_{method}"),
                               ui.tags.td(cells[1], id=f"method_bias_{method}"),
                               ui.tags.td(cells[2], id=f"method_coverage_{method}"),
                               ui.tags.td(f"{p.power:.3f} ± {p.mc_se:.3f}", id=f"method_power_{method}")))
    if first is None:
        return ui.div("No missing-data method can be used with this design: "
                      + "; ".join(comparison.refused.values()), class_="lab-error")
    p, c = first
    reps = p.replicates
    truth = "" if c is None else f" The true difference is <b>{c.true_difference:+.3f}</b>."
    mi_tests = {comparison.tests[m] for m in comparison.results if m in IMPUTATION_STRATEGIES}
    switched = mi_tests - {design.analysis.test}
    switched_note = (f" The multiple imputations use {', '.join(TEST_LABELS.get(t, t) for t in sorted(switched))} "
                     "(Rubin's rules combine the imputed data sets' estimates and variances)." if switched else "")
    d = design.dropout.probability_by_endpoint
    who = (f"Dropout: {percent(d)} by the endpoint, {dropout_clause(design, what).removeprefix('when ')}."
           if d > 0 else "No dropout.")
    refused = [ui.tags.li(f"{MISSING_WORDS.get(m, m)}: {why}") for m, why in comparison.refused.items()]
    return ui.div(
        note_block(f"The same {reps:,} simulated trials, with the same dropouts, analysed by each method: the "
                   f"differences between the rows are the methods', not chance's. {who}{truth}{switched_note}"),
        figure_image(figures.missing_methods(comparison, arm, level),
                     "Mean estimate of each missing-data method against the true difference"),
        html_table(ui.tags.thead(ui.tags.tr(ui.tags.th("Method"), ui.tags.th("Test"),
                                            ui.tags.th("Mean estimate ± MC SE"), ui.tags.th("Bias ± MC SE"),
                                            ui.tags.th(f"Coverage of the {level:.0%} CI"),
                                            ui.tags.th("Power ± MC SE"))),
                   ui.tags.tbody(*rows), class_="lab-table mb-3", id="methods_table"),
        note_block(METHODS_WHY[design.dropout.mechanism] if d > 0 else
                   "There is no dropout in this design: every method sees the same complete data. Raise the "
                   "dropout to see them part.",
                   f"A bias more than {TYPE_ONE_SE:g} Monte Carlo SE from 0 is more than chance. Each row is "
                   f"<code>trialsim power --replicates {reps} --set analysis.missing=&lt;method&gt;</code> with this "
                   "design's other settings"
                   + "".join(f" (the multiple imputations with <code>--set analysis.test={t}</code>)"
                             for t in sorted(switched)) + "."),
        ui.div("Not usable with this design: ", ui.tags.ul(*refused), class_="small text-muted") if refused else None)


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
    test = design.analysis.test
    own = null.results.get(test)
    if own is not None:
        shown += [figure_image(figures.p_values(own, alpha, f"No true difference: p-values of {TEST_LABELS.get(test, test)}"),
                               "Histogram of the p-values with no true difference"),
                  note_block(f"<b>p-values in the null world.</b> With no true difference every p-value is equally "
                             f"likely, so they spread evenly from 0 to 1 and a share α = {alpha:g} falls below α: "
                             "those trials are the type I errors. A test on counts can only reach some p-values, so "
                             "its bars are uneven, and an exact test puts fewer than α below α. Compare the "
                             "<b>Many trials</b> tab, where a real difference piles the p-values up near 0.",
                             id="null_p_values")]
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
        if getattr(a, "adjusted_with_dropout", None) is not None:
            closed += (f" Adjusting for the baseline covariates removes {100 * a.variance_removed:.1f}% of the "
                       f"difference's variance: the Wald formula with dropout says {a.wald_with_dropout} per arm "
                       f"unadjusted, {a.adjusted_with_dropout} adjusted.")
        n_total = with_overrides(design, {"trial.n_per_arm": s.n_per_arm}).n_target
        feasible = (f" At that size recruitment finishes within the planned {design.trial.recruitment_months:g} "
                    f"months in {percent(at.p_recruitment_on_time)} of simulated trials, and {at.mean_randomised:.0f} "
                    f"of {n_total} patients are randomised on average before the hard stop."
                    if at is not None else "")
        lines.append(f"<b>{pct} power</b> needs <b id='n_for_{round(100 * s.target)}'>{s.n_per_arm}</b> per arm "
                     f"(power {s.power:.3f} ± {s.mc_se:.3f}).{closed}{feasible}")
    return lines
