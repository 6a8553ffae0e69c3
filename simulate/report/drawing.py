"""The report's figures: each drawn with matplotlib's Agg backend and encoded as PNG.

:func:`figure_task` draws one figure of a run's report as PNG bytes (a task the page,
:mod:`simulate.report.page`, hands to worker processes where they start cheaply),
:func:`draw_here` draws them in this process, and :func:`build_figures` gives them as
matplotlib Figures.
"""

from __future__ import annotations

import io
import os
import sys
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Callable

import matplotlib
import numpy as np

# Agg draws the report anywhere; but never switch the backend under a running session, or one
# its user chose (MPLBACKEND, as a Jupyter kernel sets for its inline display of figures)
if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from simulate.design.loader import value_at  # noqa: E402
from simulate.report import (estimand_plots, estimand_section, flow_plots, interim_plots, power_plots,  # noqa: E402
                             remission_plots, style, uncertainty_section, words)
from simulate.report.verdict import is_null  # noqa: E402
from simulate.report.words import MISSING_NOTES, axis_label  # noqa: E402
from simulate.run.results import RunResults  # noqa: E402

DPI = 220
"""Figures are drawn at twice their display size (110 px per inch), sharp on HiDPI screens."""
def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """A figure as PNG bytes on a white background."""
    buf = io.BytesIO()
    with style.theme():
        FigureCanvasAgg(fig)
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


class _EncodeElsewhere(FigureCanvasAgg):
    """An Agg canvas whose PNG is drawn at once and encoded by ``encoder`` (a thread: Pillow
    releases the GIL while it compresses), with the same bytes as :func:`figure_png`'s: the
    drawing is Agg's ``print_png``'s, the encoding the ``matplotlib.image.imsave`` it calls."""

    def __init__(self, figure: Figure, encoder: Executor) -> None:
        super().__init__(figure)
        self.encoder = encoder
        self.png: Future[bytes] | None = None

    def print_png(self, filename_or_obj, *, metadata=None, pil_kwargs=None, **_ignored) -> None:
        FigureCanvasAgg.draw(self)
        pixels = memoryview(np.array(self.buffer_rgba()))  # a copy: the canvas may draw again
        self.png = self.encoder.submit(_png_bytes, pixels, self.figure.dpi, metadata, pil_kwargs)


def _png_bytes(pixels: memoryview, dpi: float, metadata, pil_kwargs) -> bytes:
    from matplotlib.image import imsave

    buf = io.BytesIO()
    imsave(buf, pixels, format="png", origin="upper", dpi=dpi, metadata=metadata, pil_kwargs=pil_kwargs)
    return buf.getvalue()


def figure_png_later(fig: Figure, encoder: Executor, dpi: int = DPI) -> Future[bytes]:
    """:func:`figure_png`, drawn now and encoded by ``encoder``: the PNG bytes, when ready."""
    with style.theme():
        canvas = _EncodeElsewhere(fig, encoder)
        fig.savefig(io.BytesIO(), format="png", dpi=dpi, facecolor="white")
    return canvas.png  # type: ignore[return-value]  # set by the savefig above


def close_figure(fig: Figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)  # a no-op for figures pyplot never saw, kept so nothing can linger
    fig.clear()


def _named_tests(frame):
    """The sweep's table with any swept test named in words (:data:`words.TEST_SHORT`), not by its id."""
    if "analysis.test" in frame:
        frame = frame.assign(**{"analysis.test": frame["analysis.test"].map(lambda v: words.TEST_SHORT.get(v, v))})
    return frame


def build_figures(results: RunResults) -> dict[str, Figure | None]:
    """Every figure of the report as a Figure (``None`` where the results have nothing to draw)."""
    from simulate.report.figure_list import figure_names

    builders = _builders(results)
    return {name: builders[name]() for name in figure_names(results)}


def _builders(results: RunResults) -> dict[str, Callable[[], Figure | None]]:
    """How to draw each figure of the report, by name (nothing is drawn until one is called)."""
    scenario, power, plan, ex = results.scenario, results.power, results.samplesize, results.example_trial
    arm_labels = {arm: scenario.arm(arm).label for arm in scenario.arm_names}
    colours = style.arm_colours(scenario.arm_names, scenario.control_arm)
    endpoint = scenario.trial.endpoint
    observed = scenario.observed.remission if scenario.observed is not None else ()
    sweep = results.sweep
    axes = list(sweep.axes) if sweep is not None else []
    dumped = scenario.model_dump(mode="json")
    null = is_null(power)
    builders = {
        "power_curve": lambda: power_plots.power_curve(
            plan.curve, plan.closed_form, {s.target: s.n_per_arm for s in plan.searches},
            scenario.trial.n_per_arm, power.replicates, power, scenario.analysis.alpha, null=null,
            searched={s.target: max(c.n_per_arm for c in s.curve) for s in plan.searches if s.curve}),
        "power_heatmap": lambda: power_plots.power_heatmap(
            _named_tests(sweep.to_frame()) if sweep is not None else [], axes,
            {a: axis_label(scenario, a) for a in axes},
            {a: words.TEST_SHORT.get(v, v) if a == "analysis.test" else v for a, v in
             ((a, value_at(dumped, a)) for a in axes)},
            alpha=scenario.analysis.alpha if null else None),
        "consort": lambda: flow_plots.consort(
            ex.consort, power.mean_consort, power.replicates, arm_labels,
            {s.criterion: s.exclusion or s.description for s in results.screening.steps if s.description},
            MISSING_NOTES[scenario.analysis.missing], scenario.n_target, colours),
        "accrual": lambda: flow_plots.accrual(results.accrual),
        "remission_by_visit": lambda: remission_plots.remission_by_visit(
            power.remission_by_visit, arm_labels, scenario.trial.endpoint_month, words.ENDPOINT_WORDS[endpoint],
            power.replicates, observed, colours),
        "time_to_remission": lambda: remission_plots.time_to_remission(
            ex.kaplan_meier, arm_labels, scenario.trial.endpoint_month,
            {arm: scenario.arm(arm).remission_at_endpoint for arm in scenario.arm_names}, colours,
            words.ENDPOINT_SHORT[endpoint],
            {a.arm: a.first_remission for a in results.remission_model.arms} if results.remission_model else None,
            complete_only=endpoint != "cr_or_pr"),
        "swimmer": lambda: remission_plots.swimmer(ex.patients, arm_labels, scenario.trial.endpoint_month, colours),
    }
    if power.looks:
        builders.update(_interim_figures(results))
    builders.update(_estimand_figures(results))
    if getattr(results, "oc_curve", None) is not None:
        from simulate.design.assumed import primary_arm
        from simulate.report import operating_section

        boundary = -power.margin if power.hypothesis == "non_inferiority" else 0.0
        builders[operating_section.OC_FIGURE] = lambda: power_plots.oc_curve(
            operating_section.oc_figure_rows(results), power.alpha,
            f"True difference in {words.ENDPOINT_SHORT[endpoint]} at month {scenario.trial.endpoint_month:g}, "
            f"{words.comparison_name(scenario, primary_arm(scenario))}", boundary)
    if power.assurance_detail:
        builders[uncertainty_section.OVER_N] = lambda: power_plots.assurance_over_n(
            uncertainty_section.over_n_frame(results), scenario.trial.n_per_arm,
            power.assurance_detail["prior_probability_of_benefit"])
    return builders


def _estimand_figures(results: RunResults) -> dict[str, Callable[[], Figure | None]]:
    """Each analysis of the missing data against the estimand's truth (where the grid varies it),
    and the tipping-point heatmap (where there is a grid): ``None`` where there is nothing to draw."""
    scenario, power = results.scenario, results.power
    measure = "Mean estimated risk difference"
    if len(power.comparisons) > 1:
        measure += f" ({words.comparison_name(scenario, power.comparisons[0].arm)})"
    else:
        measure += " (experimental − control)"
    return {
        estimand_section.METHODS_FIGURE: lambda: estimand_plots.methods_dotplot(
            estimand_section.methods_rows(results), measure + ", ±2 Monte Carlo SE"),
        estimand_section.TIPPING_FIGURE: lambda: estimand_plots.tipping_heatmap(
            power.tipping_point, {c.arm: words.comparison_name(scenario, c.arm) for c in power.comparisons},
            words.TIPPING_AXES, estimand_section.design_target(results)),
    }


def _interim_figures(results: RunResults) -> dict[str, Callable[[], Figure | None]]:
    """The boundary plot (with the first trials' z paths, if the results carry them) and the
    stopping probabilities per look with what the looks save."""
    scenario, power = results.scenario, results.power
    detail = getattr(results, "interim", None)
    interim = scenario.interim
    experimental = scenario.arm(scenario.experimental_arms[0]).label
    control = scenario.arm(scenario.control_arm).label
    cp = interim.futility_conditional_power if interim is not None and interim.futility == "conditional_power" \
        else None
    favours = (f"stronger evidence that {experimental} is non-inferior to {control}, margin {power.margin:g}"
               if power.hypothesis == "non_inferiority" else f"{experimental} better than {control}")
    return {
        "boundaries": lambda: interim_plots.boundaries(
            power.looks, detail.paths if detail is not None else (), favours, futility_conditional_power=cp),
        "stopping": lambda: interim_plots.stopping(
            power.looks, power.expected_randomised, power.expected_duration_months, power.mean_duration_months,
            scenario.n_target, detail.fixed if detail is not None else None,
            futility=interim is not None and interim.futility != "none"),
    }


def draw_here(results: RunResults, names: tuple[str, ...]) -> dict[str, bytes | None]:
    """The named figures as PNG bytes (``None``: nothing to draw), drawn in this process, each
    compressed on a second thread while the next is drawn."""
    builders = _builders(results)
    pending: dict[str, Future[bytes] | None] = {}
    with ThreadPoolExecutor(1, thread_name_prefix="trialsim-png") as encoder:
        for name in names:
            fig = builders[name]()
            if fig is None:
                pending[name] = None
                continue
            try:
                pending[name] = figure_png_later(fig, encoder)
            finally:
                close_figure(fig)
        return {name: None if png is None else png.result() for name, png in pending.items()}


def figure(results: RunResults, name: str) -> Figure | None:
    """One figure of the report as a Figure (``None`` where the results have nothing to draw)."""
    return _builders(results)[name]()


def figure_task(results: RunResults, name: str) -> bytes | None:
    """One figure of the report as PNG bytes (None: nothing to draw): a task of
    :func:`simulate.report.page.draw_figures`."""
    fig = _builders(results)[name]()
    if fig is None:
        return None
    try:
        return figure_png(fig)
    finally:
        close_figure(fig)
