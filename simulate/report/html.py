"""``report.html``: one self-contained page (inline CSS, figures as base64 data URIs).

Order: title and plain-language summary, figures with captions, with interim looks a section on
them (what and when, their table, with and without them, their two figures), the estimand and the
missing data (its five attributes, the truth beside the estimates, each analysis of the missing
data against the truth and the tipping point where they apply), tables (power, each comparison
with the control when there are several, remission at each visit per arm with any published
figures beside it, sample size, sweep, CONSORT counts, the example trial per arm, eligibility
funnel), assumptions with their sources (the scenario file's comments, as the run recorded
them), and how to reproduce the run. Arms appear in the scenario's order and by their labels;
each experimental arm is named against the control. Every piece of text is escaped. The page renders a :class:`~simulate.run.results.RunResults` and the validated scenario in
it; it reads no file and computes no statistic.

The sections are built by the modules beside this one: :mod:`~simulate.report.design_tables`
(power, comparisons, remission by visit, sample size, sweep), :mod:`~simulate.report.trial_tables`
(CONSORT counts, the example trial, the eligibility funnel), :mod:`~simulate.report.provenance`
(assumptions, reproducing the run), :mod:`~simulate.report.captions` (the figures' titles,
captions and alt text), :mod:`~simulate.report.interim_section` and
:mod:`~simulate.report.estimand_section`; this module assembles them
into the page and renders its jinja2 template.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import jinja2

from simulate.report.captions import _alts, _captions, _figures
from simulate.report.design_tables import (_comparisons_table, _power_table, _remission_tables, _samplesize_table,
                                           _sweep_table)
from simulate.report.adjustment_section import adjustment
from simulate.report.estimand_section import _estimand
from simulate.report.operating_section import operating
from simulate.report.uncertainty_section import uncertainty
from simulate.report.interim_section import _interim
from simulate.report.provenance import _assumptions, _meta, _reproduce
from simulate.report.trial_tables import _consort_table, _example_trial, _funnel_table
from simulate.run.results import RunResults

log = logging.getLogger(__name__)
_ENV = jinja2.Environment(loader=jinja2.PackageLoader("simulate.report", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
"""The report's templates (``simulate/report/templates``: the page, its macros and its CSS), autoescaped."""
CSS = _ENV.loader.get_source(_ENV, "report.css")[0]
"""The page's stylesheet (inlined into the page)."""


def _summary(results: RunResults) -> tuple[str, ...]:
    return tuple(results.summary)


def render(results: RunResults, images: dict[str, bytes], axis_label: Callable[[str], str] | None = None,
           scale: float = 1.0, verdict: Any = None, null: bool = False) -> str:
    """The report page as one HTML string; ``images`` maps figure names to PNG bytes, in order
    (``scale``: their pixels per CSS pixel); ``verdict``, a :class:`simulate.report.verdict.Verdict`,
    is the card at the top (none without it); ``null``: no true effect
    (:func:`simulate.report.verdict.is_null`), so the power is worded as a type I error."""
    axis_label = axis_label or (lambda p: p)
    scenario = results.scenario
    alts = _alts(results, null)
    alpha = results.power.alpha if null else None
    blocks = [_power_table(scenario, results.power, null), _comparisons_table(scenario, results.power),
              *_remission_tables(scenario, results.power),
              _samplesize_table(results.samplesize, scenario, results.power, null),
              _sweep_table(results.sweep, axis_label, alpha),
              _consort_table(results), _example_trial(scenario, results.example_trial, results.seed),
              _funnel_table(results.screening)]
    interim = _interim(results, images, scale)
    estimand = _estimand(results, images, scale)
    uncertain = uncertainty(results, images, scale)
    adjusted = adjustment(results)
    operating_ = operating(results, images, scale)
    from simulate.report.justification import paragraphs as justification
    toc = [("verdict", "Verdict")] if verdict is not None else []
    toc += [("summary", "In plain language"), ("figures", "Figures")]
    if operating_:
        toc.append(("operating", "Operating characteristics"))
    if interim:
        toc.append(("interim", "Interim analyses"))
    if uncertain:
        toc.append(("uncertainty", "Uncertainty in the assumptions"))
    if adjusted:
        toc.append(("adjustment", "What adjustment buys"))
    toc.append(("estimand", "Estimand and missing data"))
    toc += [("justification", "Sample-size justification"), ("tables", "Tables"), ("assumptions", "Assumptions"),
            ("reproduce", "Reproducing the run")]
    return _ENV.get_template("report.html.j2").render(
        name=scenario.name, description=scenario.description, overrides=results.overrides, meta=_meta(results),
        verdict=verdict,
        summary=_summary(results), toc=toc,
        figures=_figures(images, results.sweep, axis_label, _captions(results, null), alts, scale, alpha),
        operating=operating_, interim=interim, uncertainty=uncertain, adjustment=adjusted, estimand=estimand,
        justification=justification(results), tables=[b for b in blocks if b is not None],
        assumptions=_assumptions(scenario, results.source, results.overrides), reproduce=_reproduce(results))
