"""Which figures a report has: one list, read by the page (:mod:`simulate.report.page`) and by
the workers that draw them (:mod:`simulate.report.drawing`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulate.report.captions import FIGURES, INTERIM_FIGURES
from simulate.report.estimand_section import figure_names as estimand_figures
from simulate.report.operating_section import figure_names as operating_figures
from simulate.report.uncertainty_section import figure_names as uncertainty_figures

if TYPE_CHECKING:
    from simulate.run.results import RunResults


def figure_names(results: RunResults) -> tuple[str, ...]:
    """The report's figures for these results, in order: :data:`FIGURES`, with interim looks
    :data:`INTERIM_FIGURES`, the assurance against n where the grid varies it
    (:func:`simulate.report.uncertainty_section.figure_names`), and those of
    :data:`ESTIMAND_FIGURES` that apply (a grid over the missing data, a tipping point:
    :func:`simulate.report.estimand_section.figure_names`), and the OC curve
    (:func:`simulate.report.operating_section.figure_names`)."""
    return (FIGURES + (INTERIM_FIGURES if results.power.looks else ()) + operating_figures(results)
            + uncertainty_figures(results)
            + estimand_figures(results))
