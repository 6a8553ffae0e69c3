"""Figures of the public API's results, each returned as a matplotlib Figure (drawn on its own
canvas, not through pyplot: a notebook shows it as the cell's value, and ``fig.savefig(...)``
writes it). The report's figures are ``report_figure``'s, by the names
``simulate.api.results.RunResult.figure_names`` gives."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from simulate.api.results import RunResult, SampleSizeResult


def report_figure(result: RunResult, name: str) -> Figure | None:
    """The report's figure ``name`` (e.g. ``"power_curve"``, ``"consort"``, ``"oc_curve"``) of
    a main job's results; None where the results have nothing to draw."""
    return result.figure(name)


def power_curve(result: SampleSizeResult) -> Figure:
    """A sample-size search's simulated power against n per arm, with its 95% Monte Carlo band,
    the target and the n found."""
    from simulate.report import power_plots

    r, sc = result.record, result.scenario
    return power_plots.power_curve(r.curve, (), {result.target: r.n_per_arm}, sc.trial.n_per_arm, r.replicates,
                                   alpha=sc.analysis.alpha)
