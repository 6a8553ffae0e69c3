"""The report: figures (PNG) and one self-contained ``report.html`` from a run's results.

:func:`write_report` takes the :class:`~simulate.run.results.RunResults` that
:func:`simulate.run.main_job.run_all` builds and computes nothing of substance: every number shown
comes from those results or the validated scenario; no file is read.
Figures are drawn with the Agg backend and written atomically; the HTML embeds them as base64
data URIs so the page opens offline as a single file.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import matplotlib
import numpy as np

if "matplotlib.pyplot" not in sys.modules:  # never switch the backend under a running session
    matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from simulate.design import scenario as sc  # noqa: E402
from simulate.design.loader import value_at  # noqa: E402
from simulate.io import write_bytes_atomic, write_text_atomic  # noqa: E402
from simulate.report import (captions, flow_plots, html, interim_plots, power_plots, remission_plots,  # noqa: E402
                             style, words)
from simulate.report.verdict import is_null, verdict  # noqa: E402
from simulate.run.results import RunResults  # noqa: E402

log = logging.getLogger(__name__)

DPI = 220
"""Figures are drawn at twice their display size (110 px per inch), sharp on HiDPI screens."""
SCALE = 2.0
"""Pixels per CSS pixel of the embedded figures."""
FIGURES = ("power_curve", "power_heatmap", "consort", "accrual", "remission_by_visit", "time_to_remission",
           "swimmer")
"""Figure names, in the report's order; each is written as ``<name>.png``."""
INTERIM_FIGURES = captions.INTERIM_FIGURES
"""The figures of a design with interim looks (its own section of the report), after :data:`FIGURES`."""

_PHRASES = {
    "probability_by_endpoint": "dropout by the endpoint (probability)",
    "n_per_arm": "patients per arm (n)",
    "rate_per_site_month": "referrals per site per month",
}


def axis_label(scenario: sc.Scenario, path: str) -> str:
    """A readable name for a dotted scenario path, e.g. 'RTX + CsA: remission at month 24 (probability)'."""
    parts = path.split(".")
    field = parts[-1]
    if field == "remission_at_endpoint":
        what = "remission" if scenario.trial.endpoint == "cr_or_pr" else "complete remission"
        phrase = f"{what} at month {scenario.trial.endpoint_month:g} (probability)"
    else:
        phrase = _PHRASES.get(field, field.replace("_", " "))
    if parts[0] == "arms" and len(parts) == 3 and parts[1] in scenario.arm_names:
        return f"{scenario.arm(parts[1]).label}: {phrase}"
    return phrase[0].upper() + phrase[1:]


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


MISSING_NOTES = {"nonresponder": "dropouts counted as no remission", "complete_case": "complete cases only",
                 "locf": "last observation carried forward"}
"""How each of :data:`simulate.design.choices.MISSING_STRATEGIES` is described under the analysed counts."""


def _named_tests(frame):
    """The sweep's table with any swept test named in words (:data:`words.TEST_SHORT`), not by its id."""
    if "analysis.test" in frame:
        frame = frame.assign(**{"analysis.test": frame["analysis.test"].map(lambda v: words.TEST_SHORT.get(v, v))})
    return frame


def build_figures(results: RunResults) -> dict[str, Figure | None]:
    """Every figure of the report as a Figure (``None`` where the results have nothing to draw)."""
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
    figures = {name: builders[name]() for name in FIGURES}
    if power.looks:
        figures.update(_interim_figures(results))
    return figures


def _interim_figures(results: RunResults) -> dict[str, Figure | None]:
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
        "boundaries": interim_plots.boundaries(
            power.looks, detail.paths if detail is not None else (), favours, futility_conditional_power=cp),
        "stopping": interim_plots.stopping(
            power.looks, power.expected_randomised, power.expected_duration_months, power.mean_duration_months,
            scenario.n_target, detail.fixed if detail is not None else None,
            futility=interim is not None and interim.futility != "none"),
    }


def write_report(out_dir: Path, results: RunResults) -> dict[str, str]:
    """Write every figure as PNG and ``report.html`` into ``out_dir``; returns {figure name: file name}.

    Nothing else in the folder is touched: a figure from an earlier run that this one does not
    draw is removed by the run (:func:`simulate.run.main_job.run_all`, from the folder's manifest)."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    written: dict[str, str] = {}
    images: dict[str, bytes] = {}
    built = build_figures(results)
    pending: dict[str, Future[bytes]] = {}
    # each figure is compressed on a second thread while the next is drawn
    with ThreadPoolExecutor(1, thread_name_prefix="trialsim-png") as encoder:
        for name, fig in built.items():
            if fig is None:
                log.info("figure %s: nothing to draw, skipped", name)
                continue
            try:
                pending[name] = figure_png_later(fig, encoder)
            finally:
                close_figure(fig)
        for name, png in pending.items():
            images[name] = png.result()
            path = out_dir / f"{name}.png"
            write_bytes_atomic(path, images[name])
            written[name] = path.name
            log.debug("figure %s written (%d bytes)", name, len(images[name]))
    page = html.render(results, images, axis_label=lambda p: axis_label(results.scenario, p), scale=SCALE,
                       verdict=verdict(results), null=is_null(results.power))
    write_text_atomic(out_dir / "report.html", page)
    log.info("report written to %s in %.1f s", out_dir / "report.html", time.perf_counter() - t0)
    return written
