"""The teaching lab: a Shiny app over :mod:`simulate.teach.lab`.

Inputs become ``--set`` overrides checked by the loader (a bad value shows the command line's
message beside its box); the views render what the lab computes with the command line's own
functions. Long computations run on a thread, report each block and can be cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import html
import math
import threading
from pathlib import Path

from shiny import App, reactive, render, ui

from simulate.design import scenario as sc
from simulate.analysis import registry
from simulate.design.assumed import primary_arm
from simulate.design.choices import MISSING_STRATEGIES
from simulate.run.plan import FEW_REPLICATES
from simulate.report.page import close_figure, figure_png
from simulate.report.words import MISSING_WORDS, percent
from simulate.teach import lab
from simulate.teach.figures import TEST_LABELS

DPI = 120
"""Pixels per inch of the lab's figures (they scale down to the page's width)."""

CSS = """
.lab-figure { width: 100%; height: auto; max-width: 900px; display: block; margin: .5rem 0 1rem; }
.lab-note { font-size: .95rem; color: #333; max-width: 60rem; }
.lab-error { color: #b00020; font-size: .85rem; margin: -.6rem 0 .6rem; overflow-wrap: anywhere; }
.lab-big { font-size: 2.2rem; font-weight: 700; line-height: 1.1; }
.lab-story { font-size: .8rem; white-space: pre-wrap; overflow-x: auto; background: #f7f7f7; padding: .6rem; }
.lab-table td, .lab-table th { padding: .25rem .6rem; text-align: right; }
.lab-table th:first-child, .lab-table td:first-child { text-align: left; }
.lab-command { font-size: .8rem; overflow-wrap: anywhere; }
.lab-table-wrap { overflow-x: auto; max-width: 100%; }
.lab-stale-note { font-weight: 600; color: #7a4b00; background: #fff4df; padding: .3rem .6rem; display: inline-block; }
.lab-stale-body { opacity: .4; }
"""

FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
           "%3Crect width='16' height='16' rx='3' fill='%230b5cad'/%3E%3C/svg%3E")
"""The lab's icon, inline (so that the browser asks the server for no favicon.ico)."""

BUTTONS = {"one_view": "One trial", "many_view": "Simulate many trials",
           "null_view": "Simulate with no true difference", "how_many_view": "Find the sample size"}
"""Each view's button, as the note on an out-of-date result names it."""


def _result(body, stale: bool, view: str) -> ui.Tag:
    """A view's result, dimmed under a note when the inputs have changed since it was computed."""
    if not stale:
        return ui.div(body, **{"data-stale": "false"})
    return ui.div(ui.p(ui.HTML(f"The design has changed: click <b>{BUTTONS[view]}</b> to simulate it."),
                       class_="lab-stale-note", id=f"{view}_stale"),
                  ui.div(body, class_="lab-stale-body"), **{"data-stale": "true"})


def _table(*children, **attrs) -> ui.Tag:
    """A table of the lab, scrolling sideways inside its card when the screen is narrower."""
    return ui.div(ui.tags.table(*children, **attrs), class_="lab-table-wrap")


def _image(fig, alt: str) -> ui.Tag:
    try:
        data = base64.b64encode(figure_png(fig, DPI)).decode("ascii")
    finally:
        close_figure(fig)
    return ui.img(src=f"data:image/png;base64,{data}", alt=alt, class_="lab-figure")


def _panel(value: str, title: str, note: str, *controls) -> ui.Tag:
    """A view: its text for students, its controls, and its output (``<value>_view``)."""
    return ui.nav_panel(title, _note(note), *controls, ui.output_ui(f"{value}_view"), value=value)


def _button(id: str, label: str) -> ui.Tag:  # noqa: A002 - Shiny's name
    return ui.input_action_button(id, label, class_="btn-primary mb-2")


def _note(*paragraphs: str) -> ui.Tag:
    return ui.div(*(ui.p(ui.HTML(p)) for p in paragraphs), class_="lab-note")


def _progress(done: int, total: int, label: str) -> ui.Tag:
    share = 100 * done / total if total else 0
    return ui.div(
        ui.div(ui.div(class_="progress-bar", role="progressbar", style=f"width: {share:.0f}%",
                      **{"aria-valuenow": f"{share:.0f}", "aria-valuemin": "0", "aria-valuemax": "100"}),
               class_="progress", style="height: .9rem"),
        ui.p(label or "starting ...", class_="small text-muted"),
        ui.input_action_button("cancel", "Cancel", class_="btn-sm btn-outline-danger"),
        id="progress")


def _inputs(base: sc.Scenario) -> list:
    v = lab.input_values(base)
    control = base.arm(base.control_arm).label
    experimental = base.arm(primary_arm(base)).label
    what = "complete remission" if base.trial.endpoint == "cr" else "remission"
    month = f"{base.trial.endpoint_month:g}"

    def numeric(key: str, label: str) -> list:
        # a text box: what was typed reaches the loader as typed (a number box would send
        # nothing for text it cannot read), so a non-number gets the command line's message
        box = ui.input_text(key, label, f"{v[key]!r}")
        box.children[1].attrs["inputmode"] = "decimal" if isinstance(v[key], float) else "numeric"
        return [box, ui.output_ui(f"{key}_message")]

    usable, refused = lab.usable_tests(base)

    return [
        *numeric("n_per_arm", "Patients per arm (n)"),
        *numeric("remission_control", f"{control}: {what} at month {month}"),
        *numeric("remission_experimental", f"{experimental}: {what} at month {month}"),
        *numeric("dropout", "Dropout by the endpoint (probability)"),
        ui.input_select("test", "Test", {t: TEST_LABELS.get(t, t) for t in usable}, selected=v["test"]),
        ui.div("Not offered for this design: ", ui.tags.ul(*(ui.tags.li(f"{TEST_LABELS.get(t, t)}: {why}")
                                                            for t, why in refused.items())),
               class_="small text-muted", id="test_refused") if refused else None,
        ui.output_ui("test_message"),
        ui.input_select("missing", "Dropouts in the analysis",
                        {m: MISSING_WORDS.get(m, m) for m in MISSING_STRATEGIES}, selected=v["missing"]),
        ui.output_ui("missing_message"),
        *numeric("alpha", "Significance level α"),
        *numeric("rate_per_site_month", "Referrals per site per month"),
        *numeric("replicates", "Simulated trials"),
        *numeric("seed", "Seed"),
        ui.output_ui("other_message"),
        ui.p("The same design on the command line:", class_="small text-muted mb-1"),
        ui.output_ui("design_command"),
    ]


def build_app(scenario_path: str | Path, base: sc.Scenario) -> App:
    """The lab for the scenario file ``scenario_path`` (already validated as ``base``), read
    once here."""
    from simulate.design.loader import read_scenario_data

    scenario_arg = str(scenario_path)
    data = read_scenario_data(scenario_path)
    threading.Thread(target=_warm, args=(base,), daemon=True).start()
    what = "complete remission" if base.trial.endpoint == "cr" else "remission"

    def server(input, output, session):  # noqa: A002 - Shiny's names
        s = _Session(input, data, base, scenario_arg)
        session.on_ended(s.cancel)                   # a closed page stops its computation
        _messages(s)
        _background_views(s, what)
        _one_trial_view(s, what)
        _export_view(s)

    app = App(_page(base), server)
    app.on_shutdown(lab.cancel_all)             # a run in progress must not hold the process open
    return app


def _page(base: sc.Scenario) -> ui.Tag:
    """The lab's page: the design's inputs in the sidebar, one tab per view."""
    return ui.page_sidebar(
        ui.sidebar(ui.h5("The design"), *_inputs(base), width=300, open="desktop", resizable=False),
        ui.tags.style(CSS),
        ui.head_content(ui.tags.link(rel="icon", href=FAVICON)),
        ui.navset_card_underline(
            _panel("one", "One trial",
                   "One run of the trial as it might happen: referrals screened and turned away, sites opening, "
                   "patients randomised, remissions, relapses and dropouts. <b>Another trial</b> draws the next one "
                   "with the same design: watch the answer change.",
                   ui.div(ui.input_action_button("one_trial", "One trial", class_="btn-primary me-2"),
                          ui.input_action_button("another_trial", "Another trial"), class_="mb-2")),
            _panel("many", "Many trials",
                   "<b>Power</b> is the chance that the trial ends with a significant result when the treatment "
                   "works as assumed. Simulate the same trial many times and count: the share that come out "
                   "significant is the power, ± its Monte Carlo standard error (more trials, smaller error).",
                   _button("simulate", "Simulate many trials")),
            _panel("null", "The null world",
                   "The same design when the treatment does nothing: every arm at the control's rate (for a "
                   "non-inferiority design, worse by the margin). A test at level α should then call about α of "
                   "the trials significant: that is its <b>type I error</b>.",
                   _button("null_world", "Simulate with no true difference")),
            _panel("how_many", "How many patients?",
                   "Power at each n per arm, simulated, beside the closed-form formulas, and the smallest n that "
                   "reaches 80% and 90% power. The search simulates many designs: it takes a few seconds.",
                   _button("how_many", "Find the sample size")),
            _panel("export", "Export",
                   "Take this design to the command line: the file is a complete scenario that "
                   "<code>trialsim validate</code> accepts."),
            id="view",
        ),
        title=f"trialsim teaching lab: {base.name}",
        fillable=False,
        lang="en",
    )


class _Session:
    """What every view of one browser session shares: the inputs checked into a design, the
    computation running (one at a time), and whether a result is out of date."""

    def __init__(self, input, data: dict, base: sc.Scenario, scenario_arg: str) -> None:  # noqa: A002
        self.input, self.scenario_arg = input, scenario_arg
        self.running: dict[str, lab.Progress] = {}
        self.checked = reactive.calc(lambda: lab.check(data, base, {key: input[key]() for key in lab.INPUTS}))

        @reactive.effect
        @reactive.event(input.cancel)
        def _cancel():
            self.cancel()

    def start(self, name: str, task, design: sc.Scenario) -> None:
        self.cancel()
        progress = lab.Progress()
        self.running.clear()
        self.running[name] = progress
        task.invoke(design, progress)

    def cancel(self) -> None:
        for p in self.running.values():
            p.cancel()

    def design_or_note(self) -> sc.Scenario | None:
        """The design, or None after telling the person at the lab to fix the inputs."""
        c = self.checked()
        if not c.ok:
            ui.notification_show("Fix the inputs marked in red first.", type="error", duration=4)
        return c.scenario

    def stale(self, sets: tuple[str, ...] | None) -> bool:
        """Whether the inputs now differ from ``sets``, those a result was computed for."""
        return self.checked().overrides != sets


def _messages(s: _Session) -> None:
    """Each input's problems under it, the others under the inputs, and the command line of the design."""
    def message_output(key: str):
        def show():
            lines = s.checked().problems.get(key, ())
            return ui.div(*(ui.div(line) for line in lines), class_="lab-error", id=f"{key}_error") \
                if lines else None
        show.__name__ = f"{key}_message"
        return render.ui(show)

    for key in lab.INPUTS:
        message_output(key)

    @render.ui
    def other_message():
        lines = s.checked().other
        return ui.div(*(ui.div(line) for line in lines), class_="lab-error", id="other_error") if lines else None

    @render.ui
    def design_command():
        c = s.checked()
        return ui.code(lab.command(s.scenario_arg, c), id="command", class_="lab-command") if c.ok else None


def _background_views(s: _Session, what: str) -> None:
    """The views computed on a thread: many trials, the null world, how many patients."""
    _background(s, "many_view", "simulate", lab.many_trials,
                done=lambda design, many: _many_figures(design, many, what),
                head=_power_box,
                running_view=lambda p, old: ui.div(_power_box(p.read()[3], old), _running(p, old)),
                cancelled=lambda design, p, old: ui.div(
                    _cancelled(design, p, old), _power_box(p.read()[3], old),
                    _many_figures(design, p.read()[3], what) if p.read()[3] is not None else None))
    _background(s, "null_view", "null_world", lab.null_world, done=_null_view)
    _background(s, "how_many_view", "how_many", lab.how_many, done=_how_many_view)


def _background(s: _Session, view: str, button: str, compute, done, head=None, running_view=None,
                cancelled=None) -> None:
    """A view computed on a thread when ``button`` is pressed: progress while it runs
    (``running_view(progress, stale)``), then ``head(result, stale)`` above ``done(design,
    result)`` (drawn once per result), or ``cancelled(design, progress, stale)`` if the
    Cancel button stopped it; marked out of date once the inputs change."""
    computed_for: dict[str, tuple[str, ...]] = {}
    drawn: list = [None, None]                  # the result last drawn, and its drawing
    refused = reactive.value(None)              # the plan's one line when a click was refused

    @reactive.extended_task
    async def task(design: sc.Scenario, progress: lab.Progress):
        return design, progress, await _in_thread(compute, design, progress)

    @reactive.effect
    @reactive.event(s.input[button])
    def _start():
        design = s.design_or_note()
        if design is None:
            return
        line = lab.view_problem(design, view)      # planned before anything is drawn
        refused.set(None if line is None else (line, s.checked().overrides))
        if line is not None:
            ui.notification_show(line, type="error", duration=8)
            return
        computed_for["sets"] = s.checked().overrides
        s.start(view, task, design)

    def show():
        if refused() is not None:
            line, sets = refused()
            return _result(ui.div(f"error: {line}", class_="lab-error", id=f"{view}_refused"),
                           s.stale(sets), view)
        status = task.status()
        if status == "initial":
            return None
        old = s.stale(computed_for.get("sets"))
        if status == "running":
            reactive.invalidate_later(0.25)
            p = s.running.get(view)
            return None if p is None else _result((running_view or _running)(p, old), old, view)
        design, progress, result = task.result()
        if result is None:
            return _result((cancelled or _cancelled)(design, progress, old), old, view)
        if drawn[0] is not result:
            drawn[:] = [result, done(design, result)]
        return _result(ui.div(head(result, old) if head else None, drawn[1]), old, view)

    show.__name__ = view
    render.ui(show)


def _one_trial_view(s: _Session, what: str) -> None:
    """One trial, drawn on a thread; Another trial draws the next replicate of the same design."""
    shown = reactive.value(-1)                  # the replicate on show (-1: none yet)
    shown_for = reactive.value(None)            # the inputs it was drawn for

    @reactive.extended_task
    async def one_task(design: sc.Scenario, replicate: int):
        # drawn on a thread: a large trial takes seconds, and the page stays live meanwhile
        return await asyncio.to_thread(_one_page, design, replicate, what)

    def draw(replicate: int) -> None:
        design = s.design_or_note()
        if design is not None:
            shown.set(replicate)
            shown_for.set(s.checked().overrides)
            one_task.invoke(design, replicate)

    @reactive.effect
    @reactive.event(s.input.one_trial)
    def _one():
        draw(0)

    @reactive.effect
    @reactive.event(s.input.another_trial)
    def _another():
        with reactive.isolate():            # a new design or seed starts again at trial 0
            draw(0 if s.stale(shown_for()) else shown() + 1)

    @render.ui
    def one_view():
        status = one_task.status()
        if status == "initial":
            return None
        old = s.stale(shown_for())
        if status == "running":
            return _result(ui.p(f"Drawing trial {shown()} ...", class_="text-muted", id="one_running"),
                           old, "one_view")
        return _result(one_task.result(), old, "one_view")


def _export_view(s: _Session) -> None:
    """The design as a scenario file to download, and the commands to run it."""
    @reactive.calc
    def exported() -> sc.Scenario | None:
        c = s.checked()
        return lab.export_design(c.scenario, c.changed) if c.ok else None

    @render.ui
    def export_view():
        design = exported()
        if design is None:
            return ui.div("Fix the inputs marked in red first.", class_="lab-error")
        file = lab.export_name(design)
        return ui.div(ui.download_button("export", f"Download {file}"),
                      ui.p("Then, in a terminal:", class_="mt-3 mb-1"),
                      ui.pre(f"trialsim validate {file}\ntrialsim power {file}\ntrialsim run {file}"
                             f"      # results in results/{design.name}/"))

    @render.download_button(filename=lambda: lab.export_name(exported()), media_type="application/toml")
    def export():
        design, c = exported(), s.checked()
        header = (f"{design.name}: exported from the trialsim teaching lab.\n"
                  f"The design of {s.scenario_arg}"
                  + (" with\n" + "".join(f"  --set {t}\n" for t in c.changed) if c.changed else "\n")
                  + f"The sources of its figures are in the comments of {s.scenario_arg}.\n"
                    f"Check it with: trialsim validate {lab.export_name(design)}")
        yield lab.to_toml(design, header)


async def _in_thread(fn, design, progress):
    """``fn(design, progress)`` on a thread; None if it was cancelled."""
    try:
        return await asyncio.to_thread(fn, design, progress)
    except lab.Cancelled:
        return None


def _warm(base: sc.Scenario) -> None:
    """Before the first click: the per-design set-up (calibration, the screen; kept by their
    functools caches) and the modules the views use, so that the first answer comes as fast as
    the next."""
    import importlib

    from simulate.run.prepared import prepare

    prepare(base)
    for module in ("simulate.run.tally", "simulate.engines.batch", "simulate.engines.des", "simulate.teach.figures"):
        importlib.import_module(module)


# ----------------------------------------------------------------------------- views


def _running(progress: lab.Progress, stale: bool = False) -> ui.Tag:
    return _progress(*progress.read()[:3])


def _cancelled(design: sc.Scenario, progress: lab.Progress, stale: bool = False) -> ui.Tag:
    return ui.p(f"Cancelled ({progress.read()[2] or 'before the first block'}).", class_="text-muted")


def _power_box(many: lab.ManyTrials | None, stale: bool = False) -> ui.Tag:
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


def _many_figures(design: sc.Scenario, many: lab.ManyTrials, what: str) -> ui.Tag:
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
        _image(figures.estimates(many, what), "Histogram of the estimated differences, significant trials highlighted"),
        _note(*notes) if notes else None,
        _image(figures.p_values(many, design.analysis.alpha), "Histogram of the p-values"),
        _note(f"Every bar left of α = {design.analysis.alpha:g} is a significant trial. With a real effect the "
              "p-values pile up near 0; with none they spread evenly (see The null world)."))


def _null_view(design: sc.Scenario, null: lab.NullWorld) -> ui.Tag:
    from simulate.teach import figures

    alpha = design.analysis.alpha
    rows = [ui.tags.tr(ui.tags.td(TEST_LABELS.get(t, t)), ui.tags.td(f"{m.power.power:.3f}", id=f"type1_{t}"),
                       ui.tags.td(f"± {m.power.mc_se:.3f}"),
                       ui.tags.td(lab.type_one_verdict(m.power.power, m.power.mc_se, alpha), id=f"verdict_{t}",
                                  style="text-align: left"))
            for t, m in null.results.items()]
    refused = [ui.tags.li(f"{TEST_LABELS.get(t, t)}: {why}") for t, why in null.refused.items()]
    shown = [
        _image(figures.type_one_errors(null, alpha), "Type I error of each test with no true difference"),
        _table(ui.tags.thead(ui.tags.tr(ui.tags.th("Test"), ui.tags.th("Type I error"), ui.tags.th("MC SE"),
                                        ui.tags.th("Against α", style="text-align: left"))),
               ui.tags.tbody(*rows), class_="lab-table mb-3"),
    ] if null.results else []
    fisher = ("<b>Why Fisher is conservative.</b> With counts, only some p-values can occur. Fisher's exact test "
              f"never rejects more often than α = {alpha:g}, so it usually rejects less: its type I error sits "
              "below α, and the same caution costs power when there is an effect. Yates' correction does the "
              "same to the χ² test. The table says where each test lands against α, given its Monte Carlo "
              "error (more than 2 standard errors away is more than chance).")
    return ui.div(
        _note(html.escape(null.note)) if null.note else None, *shown,
        _note(fisher) if "fisher" in null.results else None,
        ui.div("Not used by this design: ", ui.tags.ul(*refused), class_="small text-muted") if refused else None)


def _how_many_view(design: sc.Scenario, plan) -> ui.Tag:
    from simulate.report import power_plots

    chosen = {s.target: s.n_per_arm for s in plan.searches}
    fig = power_plots.power_curve(plan.curve, plan.closed_form, chosen, design.trial.n_per_arm,
                                  design.simulation.replicates, alpha=design.analysis.alpha,
                                  searched={s.target: max(c.n_per_arm for c in s.curve) for s in plan.searches if s.curve})
    return ui.div(_image(fig, "Power against n per arm, simulated and closed form"), _note(*_how_many_lines(design, plan)),
                  _note(_below_formulas(design)))


def _below_formulas(design: sc.Scenario) -> str:
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


def _how_many_lines(design: sc.Scenario, plan) -> list[str]:
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


def _one_page(design: sc.Scenario, replicate: int, what: str) -> ui.Tag:
    return _one_view(design, lab.one_trial(design, replicate), what)


def _one_view(design: sc.Scenario, trial: lab.OneTrial, what: str) -> ui.Tag:
    from simulate.screening.criteria import RULES
    from simulate.engines.block_outcomes import CONSORT_FIELDS
    from simulate.report import flow_plots, remission_plots, style
    from simulate.report.page import MISSING_NOTES

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
        _table(ui.tags.thead(ui.tags.tr(ui.tags.th("Arm"), ui.tags.th(f"In {what}"), ui.tags.th("Not"),
                                        ui.tags.th("Analysed"), ui.tags.th("Share"))),
               ui.tags.tbody(*table_rows), class_="lab-table", id="two_by_two"),
        ui.p(ui.tags.b(estimate), id="one_estimate", class_="mt-2"),
        ui.div(*(ui.span(str(getattr(c, k)), id=f"consort_{k}", hidden=True) for k in CONSORT_FIELDS),
               *(ui.span(str(v), id=f"consort_{k}_{arm}", hidden=True)
                 for k in ("randomised_per_arm", "discontinued_per_arm", "analysed_per_arm")
                 for arm, v in getattr(c, k).items())),
        _image(flow_plots.accrual(trial.fan, trial.randomisation_months),
               "Recruitment of this trial against the plan and other simulated trials"),
        _note("Recruitment: the orange line is this trial, the thin blue ones other trials of the same design. "
              "Sites open one by one and refer patients at random, so some trials finish early and some never."),
        _image(flow_plots.consort(c, {}, None, labels, exclusions, MISSING_NOTES[design.analysis.missing],
                             design.n_target, colours, title=f"CONSORT flow of trial {trial.replicate}"),
               "CONSORT flow of this trial"),
        _image(remission_plots.swimmer(rec.patients, labels, design.trial.endpoint_month, colours,
                             title=f"Trial {trial.replicate}: follow-up of each randomised patient"),
               "Swimmer plot: each patient's follow-up"),
        ui.tags.details(ui.tags.summary("The story as trialsim trial prints it"),
                        ui.pre("\n".join(trial.story), class_="lab-story")),
    )
