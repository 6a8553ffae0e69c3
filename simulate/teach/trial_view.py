"""The lab's One trial view: the trial's 2x2 table, its estimate with what its p-value and its
interval mean (and why they can disagree), its recruitment, CONSORT flow and swimmer plot, and
its story as ``trialsim trial`` tells it."""

from __future__ import annotations

import html
import math

from shiny import ui

from simulate.analysis import registry
from simulate.design import scenario as sc
from simulate.design.assumed import primary_arm
from simulate.teach import lab
from simulate.teach.figures import TEST_LABELS
from simulate.teach.views import figure_image, html_table, note_block


INTERVAL_WORDS = {"farrington_manning": "the Miettinen–Nurminen score interval",
                  "wald": "the Wald interval (the estimate ± z standard errors)"}
"""How a trial's interval for the difference is computed, where the test has its own; else Newcombe's."""


def definitions(design: sc.Scenario, trial: lab.OneTrial, level: float) -> list[str]:
    """What the p-value and the interval of one trial mean, and why the two can disagree (said
    outright when they do in this trial)."""
    a = design.analysis
    entry = registry.get(a.test)
    if entry.statistic != "p_value" or not math.isfinite(trial.risk_difference):
        return []
    null = f"the experimental arm worse by the margin {a.margin:g}" if a.hypothesis == "non_inferiority" \
        else "no true difference"
    edge = -a.margin if a.hypothesis == "non_inferiority" else 0.0
    interval = INTERVAL_WORDS.get(a.test, "Newcombe's hybrid score interval")
    out = [f"<b>p-value.</b> If there were {null}, the chance that a trial like this one would show a difference "
           f"at least as far from it as this one's, measured by {html.escape(entry.title)}. Below α = {a.alpha:g} "
           "the result is called significant. It is not the chance that the treatment does nothing.",
           f"<b>{level:.0%} interval.</b> The true differences this trial's data are compatible with: intervals made "
           f"this way contain the true difference in {level:.0%} of trials (here {interval})."]
    excludes = trial.ci_low > edge if a.alternative == "greater" else not trial.ci_low <= edge <= trial.ci_high
    if excludes != bool(trial.reject):
        out.append(f"<b>Why they disagree here.</b> The interval {'excludes' if excludes else 'includes'} "
                   f"{edge:+g} while the test is {'not ' if not trial.reject else ''}significant: the interval and "
                   f"the p-value are computed differently ({interval}; {html.escape(entry.title)}"
                   + (", which conditions on the total number of remissions and is exact, so cautious" if
                      entry.conservative else "") + "), and at the edge of significance they can fall on different "
                   "sides. The test decides the trial's result; the interval shows how precise it is.")
    else:
        out.append("The interval and the test are computed differently, so near the edge of significance they can "
                   "disagree (an interval excluding the null beside a p-value just above α); in this trial they agree.")
    return out


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
        note_block(*definitions(design, trial, level), id="one_definitions"),
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
