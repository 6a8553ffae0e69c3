"""The report: figures (PNG) and one self-contained ``report.html`` from a run's results.

:func:`write_report` takes the :class:`~simulate.run.results.RunResults` that
:func:`simulate.run.main_job.run_all` builds and computes nothing of substance: every number shown
comes from those results or the validated scenario; no file is read.
Figures are drawn by :mod:`simulate.report.drawing` (side by side in worker processes where they
start cheaply, so this module never imports matplotlib) and written atomically; the HTML embeds
them as base64 data URIs so the page opens offline as a single file.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from simulate.io import write_bytes_atomic, write_text_atomic
from simulate.report import captions, html
from simulate.report.verdict import is_null, verdict
from simulate.report.figure_list import figure_names
from simulate.report.words import axis_label
from simulate.run.results import RunResults

log = logging.getLogger(__name__)

SCALE = 2.0
"""Pixels per CSS pixel of the embedded figures."""
FIGURES = captions.FIGURES
"""Figure names, in the report's order; each is written as ``<name>.png``."""
INTERIM_FIGURES = captions.INTERIM_FIGURES
"""The figures of a design with interim looks (its own section of the report), after :data:`FIGURES`."""
ESTIMAND_FIGURES = captions.ESTIMAND_FIGURES
"""The figures of the section on the estimand and the missing data, each where it applies, last."""


def write_report(out_dir: Path, results: RunResults) -> dict[str, str]:
    """Write every figure as PNG and ``report.html`` into ``out_dir``; returns {figure name: file name}.

    Nothing else in the folder is touched: a figure from an earlier run that this one does not
    draw is removed by the run (:func:`simulate.run.main_job.run_all`, from the folder's manifest)."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    written: dict[str, str] = {}
    images: dict[str, bytes] = {}
    for name, png in draw_figures(results).items():
        if png is None:
            log.info("figure %s: nothing to draw, skipped", name)
            continue
        images[name] = png
        path = out_dir / f"{name}.png"
        write_bytes_atomic(path, png)
        written[name] = path.name
        log.debug("figure %s written (%d bytes)", name, len(png))
    page = html.render(results, images, axis_label=lambda p: axis_label(results.scenario, p), scale=SCALE,
                       verdict=verdict(results), null=is_null(results.power))
    write_text_atomic(out_dir / "report.html", page)
    log.info("report written to %s in %.1f s", out_dir / "report.html", time.perf_counter() - t0)
    return written


FIGURE_SECONDS = 0.4
"""About what drawing and encoding one figure takes (one core): what decides whether the
figures are drawn by worker processes, side by side (:func:`draw_figures`)."""


def draw_figures(results: RunResults) -> dict[str, bytes | None]:
    """Every figure of the report as PNG bytes, in order (``None``: nothing to draw).

    Where worker processes start cheaply (forked, on Linux) the figures are drawn side by side
    by them, one figure a task (:func:`simulate.run.parallel.run_tasks`), and this process never
    imports the plotting libraries; elsewhere here, one after another
    (:func:`simulate.report.drawing.draw_here`). The bytes are the same."""
    from simulate.run.parallel import Backend, forks_cheaply, run_tasks

    names = figure_names(results)
    if not forks_cheaply():
        from simulate.report.drawing import draw_here

        return draw_here(results, names)
    pngs = run_tasks(_figure_task, [(results, name) for name in names], Backend("loky", None),
                     expected_seconds=FIGURE_SECONDS * len(names))
    return dict(zip(names, pngs))


def _figure_task(results: RunResults, name: str) -> bytes | None:
    """One figure as PNG bytes, in whatever process runs it (it imports the plotting libraries)."""
    from simulate.report.drawing import figure_task

    return figure_task(results, name)
