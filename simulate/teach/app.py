"""The teaching lab: a Shiny app over :mod:`simulate.teach.lab`.

Inputs become ``--set`` overrides checked by the loader (a bad value shows the command line's
message beside its box); the views render what the lab computes with the command line's own
functions. Long computations run on a thread, report each block and can be cancelled.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from shiny import App, reactive, render, ui

from simulate.design import scenario as sc
from simulate.design.assumed import primary_arm
from simulate.analysis import registry
from simulate.design.choices import IMPUTATION_STRATEGIES, MISSING_STRATEGIES
from simulate.design.fields import DROPOUT_MECHANISMS
from simulate.report.words import MISSING_WORDS
from simulate.teach import inputs, lab, trial_view, views, what_if, wording
from simulate.teach.assets import CSS, SCRIPT
from simulate.teach.figures import TEST_LABELS



FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
           "%3Crect width='16' height='16' rx='3' fill='%230b5cad'/%3E%3C/svg%3E")
"""The lab's icon, inline (so that the browser asks the server for no favicon.ico)."""

BUTTONS = {"one_view": "One trial", "many_view": "Simulate many trials", "methods_view": "Compare the methods",
           "null_view": "Simulate with no true difference", "how_many_view": "Find the sample size"}
"""Each view's button, as the note on an out-of-date result names it."""


def _result(body, stale: bool, view: str) -> ui.Tag:
    """A view's result, dimmed under a note when the inputs have changed since it was computed."""
    if not stale:
        return ui.div(body, **{"data-stale": "false"})
    return ui.div(ui.p(ui.HTML(f"The design has changed: click <b>{BUTTONS[view]}</b> to simulate it."),
                       class_="lab-stale-note", id=f"{view}_stale"),
                  ui.div(body, class_="lab-stale-body"), **{"data-stale": "true"})


def _panel(value: str, title: str, note: str, *controls) -> ui.Tag:
    """A view: its text for students, its controls, and its output (``<value>_view``)."""
    return ui.nav_panel(title, views.note_block(note), *controls, ui.output_ui(f"{value}_view"), value=value)


def _button(id: str, label: str) -> ui.Tag:  # noqa: A002 - Shiny's name
    return ui.input_action_button(id, label, class_="btn-primary mb-2")


def _inputs(base: sc.Scenario) -> list:
    v = inputs.input_values(base)
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
        *numeric("sure_control", f"How sure of {control}'s rate (patients' worth; 0: known)"),
        *numeric("sure_experimental", f"How sure of {experimental}'s rate (patients' worth; 0: known)"),
        *numeric("dropout", "Dropout by the endpoint (probability)"),
        ui.input_select("dropout_mechanism", "Who drops out",
                        {m: views.MECHANISM_LABELS.get(m, m) for m in DROPOUT_MECHANISMS},
                        selected=v["dropout_mechanism"]),
        ui.output_ui("dropout_mechanism_help"),
        ui.output_ui("dropout_mechanism_message"),
        ui.panel_conditional("input.dropout_mechanism === 'mar'",
                             *numeric("mar_hazard_ratio", f"MAR: dropout hazard after a visit not in {what}, "
                                                          f"relative to one in {what}")),
        ui.panel_conditional("input.dropout_mechanism === 'mnar'",
                             *numeric("mnar_hazard_ratio", f"MNAR: dropout hazard of patients not in {what} at "
                                                           f"month {month}, relative to those in it")),
        ui.input_select("hypothesis", "Hypothesis", wording.HYPOTHESIS_LABELS, selected=v["hypothesis"]),
        ui.output_ui("hypothesis_message"),
        ui.panel_conditional("input.hypothesis === 'non_inferiority'",
                             *numeric("margin", "Non-inferiority margin (how much worse still counts as no worse)")),
        ui.input_select("alternative", "Sidedness", wording.ALTERNATIVE_LABELS, selected=v["alternative"]),
        ui.output_ui("alternative_message"),
        ui.input_select("test", "Test", {t: TEST_LABELS.get(t, t) for t in registry.names() if t in usable or (
            t in refused and wording.reachable(base, t))}, selected=v["test"]),
        ui.div("Not offered for this design as the file sets it: ",
               ui.tags.ul(*(ui.tags.li(f"{TEST_LABELS.get(t, t)}: {wording.not_offered(base, t)}") for t in refused)),
               class_="small text-muted", id="test_refused") if refused else None,
        ui.output_ui("test_message"),
        ui.input_checkbox("adjust", "Adjust for baseline covariates (anti-PLA2R titre, proteinuria)", v["adjust"]),
        ui.div("On: g-computation, a logistic model of remission on the arm, log2 of the titre and the proteinuria, "
               "averaged over the patients to the difference in remission rates (the test above is then not used).",
               class_="lab-help", id="adjust_hint"),
        ui.output_ui("adjust_message"),
        ui.input_select("missing", "Dropouts in the analysis",
                        {m: MISSING_WORDS.get(m, m) for m in MISSING_STRATEGIES}, selected=v["missing"]),
        ui.output_ui("missing_help"),
        ui.output_ui("test_switched"),
        ui.output_ui("missing_message"),
        ui.panel_conditional(" || ".join(f"input.missing === '{m}'" for m in IMPUTATION_STRATEGIES),
                             *numeric("imputations", "Imputations per trial")),
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
        _missing_data_inputs(s, usable=lab.usable_tests(base)[0])
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
        ui.head_content(ui.tags.link(rel="icon", href=FAVICON), ui.tags.script(ui.HTML(SCRIPT))),
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
            _panel("methods", "Missing data",
                   "Patients drop out, and their endpoint is never seen. <b>Who</b> drops out (the menu <i>Who drops "
                   "out</i>) decides whether the patients left are like those who left; the <b>missing-data "
                   "method</b> decides how the analysis fills the gap. The same simulated trials are analysed by each "
                   "method: watch each one's average estimate against the true difference (its <b>bias</b>) and how "
                   "often its intervals contain the truth (<b>coverage</b>). Change who drops out, and compare again.",
                   _button("compare_methods", "Compare the methods")),
            _panel("what_if", "What if the assumption is wrong?",
                   "The power assumes the rates are known. Say how sure you are of each (<b>How sure of ...</b> in "
                   "the design: your belief's worth in patients), and the lab simulates the same trials with each "
                   "one's true rates drawn from your beliefs: the share that succeed is the <b>assurance</b>.",
                   _button("what_if", "Simulate with uncertain rates")),
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
        self.input, self.scenario_arg, self.base = input, scenario_arg, base
        self.running: dict[str, lab.Progress] = {}
        self.checked = reactive.calc(lambda: inputs.check(data, base, {key: input[key]() for key in inputs.INPUTS}))

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
    paths = inputs.field_paths(s.base)
    usable, refused = lab.usable_tests(s.base)
    offered = {"test": (*usable, *(t for t in refused if wording.reachable(s.base, t)))}

    def message_output(key: str):
        def show():
            lines = tuple(wording.plain(line, paths, offered) for line in s.checked().problems.get(key, ()))
            return ui.div(*(ui.div(line) for line in lines), class_="lab-error", id=f"{key}_error") \
                if lines else None
        show.__name__ = f"{key}_message"
        return render.ui(show)

    for key in inputs.INPUTS:
        message_output(key)

    @render.ui
    def other_message():
        lines = tuple(wording.plain(line, paths, offered) for line in s.checked().other)
        return ui.div(*(ui.div(line) for line in lines), class_="lab-error", id="other_error") if lines else None

    @render.ui
    def design_command():
        c = s.checked()
        return ui.code(inputs.command(s.scenario_arg, c), id="command", class_="lab-command") if c.ok else None


def _missing_data_inputs(s: _Session, usable: dict) -> None:
    """The help under the dropout mechanism and the missing-data method, and the test switched to
    one that combines imputed data sets when an imputation is chosen (and back when it is left)."""
    input = s.input  # noqa: A001 - Shiny's name
    switched = reactive.value(None)             # (the test before, the test chosen for the imputation)
    imputing = [t for t in usable if registry.get(t).imputes]

    @render.ui
    def dropout_mechanism_help():
        text = views.MECHANISM_HELP.get(input.dropout_mechanism(), "")
        return ui.div(text, class_="lab-help", id="dropout_mechanism_hint") if text else None

    @render.ui
    def missing_help():
        text = views.MISSING_HELP.get(input.missing(), "")
        return ui.div(text, class_="lab-help", id="missing_hint") if text else None

    @reactive.effect
    @reactive.event(input.missing)
    def _wald_for_imputation():
        with reactive.isolate():
            test, before = input.test(), switched()
        if input.missing() in IMPUTATION_STRATEGIES:
            if not registry.get(test).imputes and imputing:
                switched.set((test, imputing[0]))
                ui.update_select("test", selected=imputing[0])
        elif before is not None:
            switched.set(None)
            if test == before[1]:                   # left as the lab set it: the student's test again
                ui.update_select("test", selected=before[0])

    @reactive.effect
    @reactive.event(input.test)
    def _test_chosen():
        before = switched()
        if before is not None and input.test() != before[1]:
            switched.set(None)                      # the student chose a test: the note is no longer true

    @render.ui
    def test_switched():
        before = switched()
        if before is None or input.missing() not in IMPUTATION_STRATEGIES:
            return None
        old, new = (TEST_LABELS.get(t, t) for t in before)
        return ui.div(f"Multiple imputation combines its imputed data sets by Rubin's rules, which needs {new}: "
                      f"the test was switched from {old} to {new} (and goes back if you choose another method).",
                      class_="lab-switched", id="test_switched_note", role="status")


def _background_views(s: _Session, what: str) -> None:
    """The views computed on a thread: many trials, the null world, how many patients."""
    _background(s, "many_view", "simulate", lab.many_trials,
                done=lambda design, many: views.many_figures(design, many, what),
                head=views.power_box,
                running_view=lambda p, old: ui.div(views.power_box(p.read()[3], old), views.running(p, old)),
                cancelled=lambda design, p, old: ui.div(
                    views.cancelled(design, p, old), views.power_box(p.read()[3], old),
                    views.many_figures(design, p.read()[3], what) if p.read()[3] is not None else None))
    _background(s, "methods_view", "compare_methods", lab.compare_methods,
                done=lambda design, comparison: views.methods_view(design, comparison, what))
    _background(s, "null_view", "null_world", lab.null_world, done=views.null_view)
    _background(s, "what_if_view", "what_if", what_if.what_if, done=what_if.what_if_view)
    _background(s, "how_many_view", "how_many", lab.how_many, done=views.how_many_view)


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
            return None if p is None else _result((running_view or views.running)(p, old), old, view)
        design, progress, result = task.result()
        if result is None:
            return _result((cancelled or views.cancelled)(design, progress, old), old, view)
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
        return await asyncio.to_thread(trial_view.one_page, design, replicate, what)

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
        return inputs.export_design(c.scenario, c.changed) if c.ok else None

    @render.ui
    def export_view():
        design = exported()
        if design is None:
            return ui.div("Fix the inputs marked in red first.", class_="lab-error")
        file = inputs.export_name(design)
        return ui.div(ui.download_button("export", f"Download {file}"),
                      ui.p("Then, in a terminal:", class_="mt-3 mb-1"),
                      ui.pre(f"trialsim validate {file}\ntrialsim power {file}\ntrialsim run {file}"
                             f"      # results in results/{design.name}/"))

    @render.download_button(filename=lambda: inputs.export_name(exported()), media_type="application/toml")
    def export():
        design, c = exported(), s.checked()
        header = (f"{design.name}: exported from the trialsim teaching lab.\n"
                  f"The design of {s.scenario_arg}"
                  + (" with\n" + "".join(f"  --set {t}\n" for t in c.changed) if c.changed else "\n")
                  + f"The sources of its figures are in the comments of {s.scenario_arg}.\n"
                    f"Check it with: trialsim validate {inputs.export_name(design)}")
        yield inputs.to_toml(design, header)


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
