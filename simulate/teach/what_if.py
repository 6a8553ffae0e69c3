"""The teaching lab's view "What if the assumption is wrong?": how sure the class is of each
assumed rate goes in (as patients' worth: the inputs ``sure_control`` and ``sure_experimental``,
a design prior around each rate), the assurance comes out beside the power, with how the power
spreads over what may be true. The same seed's trials as ``trialsim power``, whose ``--json``
gives the same assurance (:mod:`simulate.run.assurance`)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from shiny import ui

from simulate.design import scenario as sc
from simulate.report.uncertainty_section import mixture_words
from simulate.run.assurance import ceiling_words
from simulate.teach import lab
from simulate.teach.views import html_table, note_block


@dataclass(frozen=True)
class WhatIf:
    """The power at the assumed rates and the assurance over the design priors, from the same
    seed's trials; ``detail`` is ``trialsim power --json``'s ``assurance_detail``."""

    power: lab.ManyTrials | None
    drawn: lab.ManyTrials | None
    detail: dict | None


def what_if(scenario: sc.Scenario, progress: lab.Progress | None = None, jobs=lab.IN_PROCESS,
            engine: str = lab.DEFAULT_ENGINE) -> WhatIf:
    """The design's trials at its assumed rates and drawn from its design priors, side by side
    (nothing without a design prior: the view asks how sure the class is)."""
    from simulate.run.assurance import assurance_detail, has_design_prior, prior_world

    if not has_design_prior(scenario):
        return WhatIf(None, None, None)
    power, drawn = lab.simulate_many([scenario, prior_world(scenario)], progress, jobs, engine)
    return WhatIf(power, drawn, assurance_detail(scenario, drawn.power))


def what_if_view(design: sc.Scenario, result: WhatIf) -> ui.Tag:
    if result.detail is None:
        return note_block("Say how sure you are of each assumed rate first: <b>How sure of ...</b> in the design, "
                          "as the number of patients your belief is worth (0: taken as known; a published arm of "
                          "65 patients is worth about 65).")
    p, a, d = result.power.power, result.drawn.power, result.detail
    cp = d["conditional_power"]
    q = cp["quantiles"]
    rows = [ui.tags.tr(ui.tags.td(f"{100 * float(k):g}%"), ui.tags.td(f"{v:.3f}")) for k, v in q.items()]
    priors = [ui.tags.li(f"{html.escape(design.arm(arm).label)}: mean rate {x['mean_rate']:.3f}"
                         + ("" if x["design_prior"] is None else f", {mixture_words(x['design_prior'])}"))
              for arm, x in d["arms"].items()]
    return ui.div(
        ui.div(ui.span("Power ", class_="text-muted"), ui.span(f"{p.power:.3f}", id="whatif_power", class_="lab-big"),
               ui.span(f" ± {p.mc_se:.3f}"), ui.span("   Assurance ", class_="text-muted ms-3"),
               ui.span(f"{a.power:.3f}", id="assurance_value", class_="lab-big"), ui.span(f" ± {a.mc_se:.3f}"),
               id="whatif_box"),
        note_block(
            f"<b>Power</b> ({p.power:.3f}) is the chance of success if the assumed rates are exactly right. "
            f"<b>Assurance</b> ({a.power:.3f}) is the chance of success when each trial's true rates are drawn from "
            f"what you believe: the same {a.replicates:,} trials, each with its own truth. Your beliefs give a true "
            f"benefit a probability of <b id='p_benefit'>{d['prior_probability_of_benefit']:.3f}</b>: "
            f"{ceiling_words(design)}."),
        note_block(
            f"<b>How the power spreads over what may be true.</b> At each pair of rates your beliefs allow, the power "
            f"differs: its median is <b id='cp_median'>{q['0.5']:.2f}</b>, and in "
            f"{100 * cp['share_below_half']:.0f}% of them the trial is more likely to fail than to succeed (normal "
            "approximation). Be less sure (fewer patients' worth) and watch the spread widen."),
        html_table(ui.tags.thead(ui.tags.tr(ui.tags.th("Share of your beliefs"), ui.tags.th("Power at or below"))),
                   ui.tags.tbody(*rows), class_="lab-table mb-3"),
        ui.div("Your beliefs: ", ui.tags.ul(*priors), class_="small text-muted"))
