"""``report.html``: one self-contained page (inline CSS, figures as base64 data URIs).

Order: title and plain-language summary, figures with captions, with interim looks a section on
them (what and when, their table, with and without them, their two figures), tables (power, each comparison
with the control when there are several, remission at each visit per arm with any published
figures beside it, sample size, sweep, CONSORT counts, the example trial per arm, eligibility
funnel), assumptions with their sources (the scenario file's comments, as the run recorded
them), and how to reproduce the run. Arms appear in the scenario's order and by their labels;
each experimental arm is named against the control. Every piece of text is escaped. The page renders a :class:`~simulate.results.RunResults` and the validated scenario in
it; it reads no file and computes no statistic.
"""

from __future__ import annotations

import base64
import logging
import platform
import shlex
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jinja2
from markupsafe import Markup

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns

import simulate
from simulate import scenario as sc
from simulate.engines import CONSORT_FIELDS, DEFAULT_ENGINE
from simulate.loader import parse_override
from simulate.results import (ExampleTrial, PowerResult, RunResults, SampleSizePlan, ScenarioSource,
                              ScreeningFunnel, SweepResult)

log = logging.getLogger(__name__)

MAIN_SECTIONS = ("trial", "arms", "outcome", "dropout", "analysis", "recruitment")
OTHER_SECTIONS = ("randomisation", "cohort", "eligibility", "definitions", "observed")
SHIPPED = Path(simulate.__file__).resolve().parents[1] / "scenarios"

TEST_NAMES = {"fisher": "Fisher's exact test", "chi2": "Pearson's chi-squared test",
              "chi2_yates": "chi-squared test with Yates' continuity correction", "ztest": "pooled z-test",
              "farrington_manning": "Farrington–Manning score test",
              "cmh": "Cochran–Mantel–Haenszel test (stratified by the randomisation strata)"}
"""How each of :data:`simulate.choices.TESTS` is named in the report."""
TEST_SHORT = {"fisher": "Fisher exact", "chi2": "chi-squared", "chi2_yates": "chi-squared, Yates", "ztest": "pooled z",
              "farrington_manning": "Farrington–Manning", "cmh": "CMH (stratified)"}
"""The same in a few words, where space is short (a heatmap's tick labels)."""
MISSING_WORDS = {"nonresponder": "non-responder analysis (dropouts as failures)",
                 "complete_case": "complete-case analysis", "locf": "last observation carried forward"}
"""How each of :data:`simulate.choices.MISSING_STRATEGIES` is named in the report."""
ENDPOINT_WORDS = {"cr_or_pr": "remission (CR or PR)", "cr": "complete remission (CR)"}
"""What each ``trial.endpoint`` counts, in words."""
ENDPOINT_SHORT = {"cr_or_pr": "CR/PR", "cr": "CR"}
MULTIPLICITY_WORDS = {"none": "no multiplicity adjustment (each comparison at the full alpha)",
                      "bonferroni": "Bonferroni's adjustment (each comparison at alpha divided by the number of "
                                    "comparisons)",
                      "holm": "Holm's step-down adjustment (the family-wise error rate stays at most alpha)"}
"""How each of :data:`simulate.choices.MULTIPLICITY` is described."""
MULTIPLICITY_SHORT = {"none": "no multiplicity adjustment", "bonferroni": "Bonferroni's adjustment",
                      "holm": "Holm's adjustment"}
"""The same, in a few words."""

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("simulate.report", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
"""The report's templates (``simulate/report/templates``: the page, its macros and its CSS), autoescaped."""
CSS = _ENV.loader.get_source(_ENV, "report.css")[0]
"""The page's stylesheet (inlined into the page)."""

CAPTIONS = {
    "power_curve": "Each blue point is the share of simulated trials with a significant result at that number "
                   "per arm (shaded: its 95% Monte Carlo interval); grey lines are closed-form approximations, "
                   "horizontal lines the 80% and 90% targets, diamonds the smallest n reaching each, and the red "
                   "dashed line the planned n.",
    "consort": "Read top to bottom: how many patients of one simulated trial were referred, excluded (by the first "
               "criterion failed), deferred or lost, randomised, and then allocated, dropped out and analysed in "
               "each arm; grey text gives the mean over all simulated trials.",
    "accrual": "Each thin line is one simulated trial's cumulative randomisations (bold: their median); compare "
               "them with the plan (red dashed line) up to the target (grey dotted line), and with the hard stop "
               "(dash-dot line), the month at which enrolment closes whatever the count, and with the star that "
               "marks what the real trial achieved (the black dotted line is its average pace).",
    "time_to_remission": "Each step curve is the share of one arm of the example trial that has reached a first "
                         "remission by each month after randomisation; diamonds mark the remission rates assumed "
                         "at the endpoint, which sit lower because some remissions are lost to relapse.",
    "swimmer": "Each bar is one patient of the example trial, from randomisation to the endpoint or dropout; stars "
               "and triangles mark first remission (CR or PR at the endpoint), open circles remissions lost by the "
               "endpoint, red triangles relapses; black crosses mark consent withdrawn, open squares loss to follow-up "
               "and grey crosses other dropouts.",
}
NULL_TITLES = {"power_curve": "Type I error against sample size", "power_heatmap": "Sensitivity of the type I error"}
"""The titles that change when there is no true effect (the power is a type I error)."""
INTERIM_FIGURES = ("boundaries", "stopping")
"""The figures of a design with interim looks, shown in its own section."""
SPENDING_WORDS = {"obrien_fleming": "O'Brien–Fleming-type Lan–DeMets alpha spending",
                  "pocock": "Pocock-type Lan–DeMets alpha spending",
                  "hwang_shih_decani": "Hwang–Shih–DeCani alpha spending",
                  "none": "no efficacy stop before the final analysis"}
"""How each ``interim.efficacy_spending`` is named."""
TITLES = {
    "power_curve": "Power against sample size", "power_heatmap": "Sensitivity of power",
    "consort": "CONSORT flow of the example trial", "accrual": "Recruitment against the plan",
    "time_to_remission": "Time to remission", "swimmer": "Patients of the example trial",
    "remission_by_visit": "Remission over follow-up",
    "boundaries": "Interim boundaries and simulated z paths", "stopping": "Stopping at each look",
}


# ----------------------------------------------------------------------------- small helpers


Raw = Markup
"""Markup built from escaped parts (a badge): a table cell inserts it as is."""


def _e(value: Any) -> Markup:
    return Markup.escape(value)


def _f(value: Any, fmt: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return format(value, fmt)
    return str(value)


def _pm(value: Any, se: Any, fmt: str = ".3f") -> str:
    return _f(value, fmt) if se is None else f"{_f(value, fmt)} ± {_f(se, fmt)}"


@dataclass(frozen=True)
class Cell:
    text: str
    cls: str = ""


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    cls: str = ""


@dataclass(frozen=True)
class Table:
    """A table as the template draws it: a caption, column headers, rows of cells (plain text,
    escaped by the template, or :class:`Markup`)."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[Row, ...]


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset(),
           row_classes: list[str] | None = None, cell_classes: dict[tuple[int, int], str] | None = None,
           caption: str = "") -> Table:
    """A :class:`Table`; pass plain text (the template escapes it) or Markup."""
    out = []
    for i, row in enumerate(rows):
        cells = tuple(Cell(cell if isinstance(cell, Markup) else str(cell),
                           " ".join(c for c in ("num" if j in numeric else "", (cell_classes or {}).get((i, j), ""))
                                    if c))
                      for j, cell in enumerate(row))
        out.append(Row(cells, (row_classes[i] if row_classes and row_classes[i] else "")))
    return Table(caption or (headers[0] if headers else ""), tuple(str(h) for h in headers), tuple(out))


@dataclass(frozen=True)
class Block:
    """A part of the tables section: an optional heading, paragraphs (``(text, is_note)``) and tables."""

    heading: str = ""
    paragraphs: tuple[dict, ...] = ()
    tables: tuple[Table, ...] = ()


def _p(text: str, note: bool = True) -> dict:
    return {"text": text, "note": note}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):        # an inline table (a course, a published remission figure)
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        return "—"
    return str(v)


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def _override_paths(overrides: tuple[str, ...]) -> set[str]:
    """The dotted paths that ``--set PATH=VALUE`` texts set."""
    return {".".join(parse_override(text)[0]) for text in overrides}


def label(scenario: sc.Scenario, arm: str) -> str:
    return scenario.arm(arm).label


def comparison_name(scenario: sc.Scenario, arm: str) -> str:
    """'RTX + CsA vs RTX alone': an experimental arm against the control, by their labels."""
    return f"{label(scenario, arm)} vs {label(scenario, scenario.control_arm)}"


def significant_word(hypothesis: str) -> str:
    return "non-inferiority shown" if hypothesis == "non_inferiority" else "significant"


def success_phrase(scenario: sc.Scenario, success: str, n_comparisons: int, hypothesis: str) -> str:
    """What ``power`` counts, as the end of 'the chance that ...'."""
    control, word = label(scenario, scenario.control_arm), significant_word(hypothesis)
    if n_comparisons <= 1 or success not in ("any", "all"):
        arm = success if success in scenario.experimental_arms else scenario.experimental_arms[0]
        return f"{comparison_name(scenario, arm)} is {word}"
    which = "at least one" if success == "any" else "every one"
    return f"{which} of the {n_comparisons} comparisons with {control} is {word}"


def hypothesis_phrase(scenario: sc.Scenario, p: PowerResult) -> str:
    """The null hypothesis of each comparison and its level, in words."""
    control = label(scenario, scenario.control_arm)
    what = ENDPOINT_WORDS[scenario.trial.endpoint]
    if p.hypothesis == "non_inferiority":
        return (f"Non-inferiority, margin {p.margin:g} on the difference in the share with {what}. "
                f"H0: experimental − control ≤ −{p.margin:g} (the experimental arm is worse than {control} by "
                f"the margin or more); H1: experimental − control > −{p.margin:g}. One-sided alpha = {p.alpha:g}: "
                f"non-inferiority is shown when the test rejects H0.")
    if p.alternative == "greater":
        return (f"Superiority: H0: experimental − control ≤ 0 in the share with {what}; "
                f"one-sided alpha = {p.alpha:g}.")
    return f"Superiority: H0: no difference from {control} in the share with {what}; two-sided alpha = {p.alpha:g}."


def _level(p: PowerResult) -> str:
    return f"{'one-sided ' if p.alternative == 'greater' else ''}alpha {p.alpha:g}"


# ----------------------------------------------------------------------------- sections


def _summary(results: RunResults) -> tuple[str, ...]:
    return tuple(results.summary)


def _lower(label: str) -> str:
    """'Dropout by ...' -> 'dropout by ...', but 'RTX + CsA: ...' stays."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _heatmap_caption(sweep: SweepResult | None, axis_label: Callable[[str], str],
                     alpha: float | None = None) -> str:
    """The heatmap's caption; ``alpha`` given: a null scenario's, where the power is a type I error."""
    axes = list(sweep.axes) if sweep is not None else []
    n_axes = [a for a in axes if a.rsplit(".", 1)[-1] == "n_per_arm"]
    rest = [a for a in axes if a not in n_axes] + n_axes
    if alpha is not None and rest:
        if len(rest) < 2:
            return (f"Simulated type I error (no true difference between the arms) as {_lower(axis_label(rest[0]))} "
                    f"changes (bars: 95% Monte Carlo intervals); the dashed line is alpha = {alpha:.3f}.")
        panels = ", one panel per n per arm" if n_axes and len(rest) > 2 else ""
        return (f"Each cell is the simulated type I error (the share of significant results with no true difference "
                f"between the arms) for one combination of {_lower(axis_label(rest[0]))} and "
                f"{_lower(axis_label(rest[1]))}{panels}, to three decimals; white outlines mark cells above alpha "
                f"({alpha:.3f}, the red mark on the colour bar) and the red one the planned design.")
    if len(rest) < 2:
        return (f"Simulated power as {_lower(axis_label(rest[0]))} changes (bars: 95% Monte Carlo intervals); the "
                "horizontal lines are the 80% and 90% targets.") if rest else ""
    panels = ", one panel per n per arm" if n_axes and len(rest) > 2 else ""
    return (f"Each cell is the simulated power for one combination of {_lower(axis_label(rest[0]))} and "
            f"{_lower(axis_label(rest[1]))}{panels}; white outlines mark at least 80% power and the red one the "
            "planned design; brighter (yellow) cells have more power, and 0.80 is the "
            "usual minimum.")


def _captions(results: RunResults, null: bool = False) -> dict[str, str]:
    """The captions that depend on the design: the arms, the endpoint, the success rule, the real trial
    (``null``: no true effect, the power is a type I error)."""
    scenario, p = results.scenario, results.power
    what = ENDPOINT_WORDS[scenario.trial.endpoint]
    out = dict(CAPTIONS)
    if null:
        out["power_curve"] = (
            "Each blue point is the share of simulated trials with a significant result at that number per arm "
            "when the arms do not differ: the type I error (shaded: its 95% Monte Carlo interval); the dash-dot "
            f"line is alpha ({p.alpha:.3f}), the rate a test that keeps its level should not exceed, and the "
            "dashed line the planned n.")
    if len(p.comparisons) > 1:
        out["power_curve"] = out["power_curve"].replace(
            "with a significant result",
            f"in which {success_phrase(scenario, p.success, len(p.comparisons), p.hypothesis)} "
            f"({MULTIPLICITY_SHORT.get(p.multiplicity, p.multiplicity)})")
    if p.hypothesis == "non_inferiority":
        out["power_curve"] = out["power_curve"].replace("with a significant result", "showing non-inferiority"
                                                        ).replace("grey lines are closed-form approximations, ", "")
    if results.accrual.observed is None:
        out["accrual"] = CAPTIONS["accrual"].replace(
            ", and with the star that marks what the real trial achieved (the black dotted line is its average pace)",
            "")
    out["remission_by_visit"] = (
        f"Each line is one arm's mean share of its randomised patients in {what} at each scheduled visit, over "
        f"{p.replicates:,} simulated trials (band and bars: ±2 Monte Carlo SE; dropouts count as not in "
        "remission); the dashed line marks the primary endpoint"
        + ("; stars are the published figures the scenario gives (observed.remission)."
           if scenario.observed is not None and scenario.observed.remission else "."))
    out["time_to_remission"] = _remission_caption(results)
    return out


def _remission_caption(results: RunResults) -> str:
    """The time-to-remission caption: what the curves estimate, the first-remission rate the
    outcome model implies per arm, and why the endpoint rate is lower (relapse, partial
    remissions under a CR endpoint, dropout), with the run's own figures."""
    scenario, p, model = results.scenario, results.power, results.remission_model
    t = scenario.trial
    cr = t.endpoint != "cr_or_pr"
    text = ("Each step curve is the share of one arm of the example trial that has reached a first remission "
            "(complete or partial) by each month after randomisation (1 − Kaplan–Meier: dropouts are censored, so "
            "the curve estimates the chance of a first remission, not the endpoint).")
    if model is None or not model.arms:
        return text + (f" Diamonds mark the rates of {ENDPOINT_WORDS[t.endpoint]} assumed at month "
                       f"{t.endpoint_month:g}, which sit lower because some remissions are lost to relapse.")
    arms = model.arms
    name = lambda a: label(scenario, a.arm)  # noqa: E731
    each = lambda values: and_list([f"{v} on {name(a)}" for a, v in zip(arms, values)])  # noqa: E731
    text += (f" In the outcome model a first remission by month {t.endpoint_month:g} comes to "
             f"{each(percent(a.first_remission) for a in arms)} (dashed lines).")
    parts = []
    if cr:
        shares = (percent(scenario.arm(a.arm).complete_share_of_remission) for a in arms)
        parts.append(f"of first remissions, {each(shares)} are complete")
    if any(a.lasting < 1 for a in arms):
        relapse = (f"{'' if cr else 'of first remissions, '}{each(percent(1 - a.lasting) for a in arms)} are lost to relapse "
                   f"before month {t.endpoint_month:g}")
        rising = [a for a in arms if np.isfinite(a.rebound_month)
                  and scenario.arm(a.arm).off_cni_hazard > scenario.arm(a.arm).relapse_hazard_per_month]
        if rising:
            relapse += " (" + "; ".join(
                f"on {name(a)} the relapse hazard rises from month {a.rebound_month:.0f}, when the calcineurin-"
                "inhibitor course and any B-cell cover end" for a in rising) + ")"
        parts.append(relapse)
    if parts:
        text += (f" The primary endpoint counts only patients in {ENDPOINT_WORDS[t.endpoint]} at month "
                 f"{t.endpoint_month:g}: " + "; ".join(parts) + ", which leaves the assumed "
                 f"{each(percent(a.endpoint_rate) for a in arms)} (diamonds).")
    else:
        text += f" Diamonds mark the assumed rates at month {t.endpoint_month:g}."
    at_end = {v.arm: v.remission for v in p.remission_by_visit if np.isclose(v.month, t.endpoint_month)}
    if scenario.dropout.probability_by_endpoint > 0 and all(a.arm in at_end for a in arms):
        text += (f" Counting the {percent(scenario.dropout.probability_by_endpoint)} who drop out before month "
                 f"{t.endpoint_month:g} as not in remission, the simulated trials see {each(percent(at_end[a.arm]) for a in arms)} at month "
                 f"{t.endpoint_month:g} (Remission over follow-up).")
    return text


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG (from its header; (0, 0) if it is not one)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return 0, 0
    return struct.unpack(">II", png[16:24])


def _alts(results: RunResults, null: bool = False) -> dict[str, str]:
    """Each figure's alt text: what it shows, with the run's own figures."""
    scenario, p, plan, ex = results.scenario, results.power, results.samplesize, results.example_trial
    arms = scenario.arm_names
    out: dict[str, str] = {}
    curve = sorted(plan.curve, key=lambda c: c.n_per_arm)
    reached = "; ".join(f"{s.target:.0%} power at {s.n_per_arm} per arm" if s.n_per_arm is not None else
                        f"{s.target:.0%} power not reached" for s in plan.searches)
    if curve and null:
        out["power_curve"] = (f"Line chart of the simulated type I error against n per arm, from {curve[0].power:.3f} "
                              f"at {curve[0].n_per_arm} to {curve[-1].power:.3f} at {curve[-1].n_per_arm} per arm, "
                              f"against alpha {p.alpha:.3f}; the planned {p.n_per_arm} per arm gives {p.power:.3f}.")
    elif curve:
        out["power_curve"] = (f"Line chart of simulated power against n per arm, from {curve[0].power:.3f} at "
                              f"{curve[0].n_per_arm} to {curve[-1].power:.3f} at {curve[-1].n_per_arm} per arm; the "
                              f"planned {p.n_per_arm} per arm gives {p.power:.3f}; {reached}.")
    if results.sweep is not None and results.sweep.points and null:
        powers = [x.power for x in results.sweep.points]
        out["power_heatmap"] = (f"Simulated type I error over the {len(powers)} points of the sensitivity grid, "
                                f"from {min(powers):.3f} to {max(powers):.3f}; "
                                f"{sum(x.power > _alpha_at(x, p.alpha) for x in results.sweep.points)} of them "
                                f"above alpha.")
    elif results.sweep is not None and results.sweep.points:
        powers = [x.power for x in results.sweep.points]
        out["power_heatmap"] = (f"Simulated power over the {len(powers)} points of the sensitivity grid, from "
                                f"{min(powers):.3f} to {max(powers):.3f}; {sum(x >= 0.8 for x in powers)} of them "
                                "reach 0.80.")
    c = ex.consort
    out["consort"] = (f"CONSORT flow of the example trial: {c.referred:,} referred, {c.excluded_total:,} excluded, "
                      f"{c.randomised:,} randomised of {scenario.n_target:,} planned, "
                      + ", ".join(f"{c.analysed_per_arm.get(a, 0):,} analysed on {label(scenario, a)}" for a in arms)
                      + ".")
    acc = results.accrual
    text = (f"Cumulative randomisations of {len(acc.curves)} simulated trials against the plan of {acc.n_target} "
            f"patients in {acc.recruitment_months:g} months: {p.p_recruitment_on_time:.0%} of trials recruit on time, "
            f"{p.p_terminated:.0%} stop at the hard stop at month {acc.hard_stop_months:g}")
    if acc.observed is not None:
        text += f"; the real trial randomised {acc.observed.n_randomised} in {acc.observed.months:g} months"
    out["accrual"] = text + "."
    end = scenario.trial.endpoint_month
    at_end = {v.arm: v.remission for v in p.remission_by_visit if np.isclose(v.month, end)}
    if at_end:
        out["remission_by_visit"] = (f"Line chart of each arm's share in {ENDPOINT_WORDS[scenario.trial.endpoint]} "
                                     f"at each visit; at month {end:g}: "
                                     + ", ".join(f"{label(scenario, a)} {at_end[a]:.0%}" for a in arms if a in at_end)
                                     + ".")
    last = {a: steps[-1].cumulative_remission for a, steps in ex.kaplan_meier.items() if steps}
    if last:
        first = {a.arm: a.first_remission for a in results.remission_model.arms} if results.remission_model else {}
        out["time_to_remission"] = ("Step curves of first remission in the example trial; by the end of follow-up "
                                    + ", ".join(f"{label(scenario, a)} {last[a]:.0%}"
                                                + (f" (model {first[a]:.0%}" if a in first else " (")
                                                + ("; " if a in first else "")
                                                + f"assumed at the endpoint {scenario.arm(a).remission_at_endpoint:.0%})"
                                                for a in arms if a in last)
                                    + ".")
    pts = ex.patients
    if pts:
        remitted = sum(bool(np.isfinite(x.remission_month)) for x in pts)
        dropped = sum(bool(np.isfinite(x.dropout_month)) for x in pts)
        out["swimmer"] = (f"One bar per patient of the example trial ({len(pts)} patients): {remitted} reach a first "
                          f"remission, {dropped} drop out before the endpoint.")
    return out


def _interim_alts(results: RunResults) -> dict[str, str]:
    p = results.power
    inner = p.looks[:-1]
    if not p.looks:
        return {}
    bounds = ", ".join(f"{k.efficacy_z:.2f}" for k in p.looks)
    return {"boundaries": f"Efficacy boundaries on the z scale at the {len(p.looks)} looks ({bounds}) with the "
                          "simulated z paths of the first trials.",
            "stopping": "Bar charts: "
                        + "; ".join(f"look {i + 1} stops {k.p_stop_efficacy:.0%} for efficacy and "
                                    f"{k.p_stop_futility:.0%} for futility" for i, k in enumerate(inner))
                        + f"; expected N {p.expected_randomised:.0f}, decision at month "
                          f"{p.expected_duration_months:.0f} on average."}


def _figure(name: str, png: bytes, caption: str, alt: str = "", scale: float = 1.0, title: str = "") -> dict:
    """One embedded figure: its title, caption, alt text (what it shows) and data URI; ``scale`` is
    pixels per CSS pixel (2 for figures drawn at twice the display resolution)."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    title = title or TITLES.get(name, name.replace("_", " "))
    width, height = _png_size(png)
    return {"name": name, "uri": uri, "title": title, "caption": caption, "alt": alt or title,
            "width": round(width / scale) if width else "", "height": round(height / scale) if height else ""}


def _figures(images: dict[str, bytes], sweep: SweepResult | None, axis_label: Callable[[str], str],
             captions: dict[str, str] = CAPTIONS, alts: dict[str, str] | None = None,
             scale: float = 1.0, alpha: float | None = None) -> list[dict]:
    out = []
    for name, png in images.items():
        if name in INTERIM_FIGURES:  # shown in the interim section
            continue
        caption = captions.get(name) or (_heatmap_caption(sweep, axis_label, alpha) if name == "power_heatmap"
                                         else "")
        title = NULL_TITLES.get(name, "") if alpha is not None else ""
        out.append(_figure(name, png, caption, (alts or {}).get(name, ""), scale, title))
    return out


def and_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def percent(v: float) -> str:
    """Whole percentages, one decimal below 10% (so a small power is not shown as 0%): how the
    verdict, the plain-language summary and the captions all round."""
    return f"{100 * v:.1f}%" if 0 < v < 0.1 else f"{100 * v:.0f}%"


def percent_list(values) -> str:
    """'10%', '3% and 8%', '1%, 3% and 8%' (whole percentages)."""
    return and_list([f"{100 * v:.0f}%" for v in values])


def recruitment_done_at_first_look(p: PowerResult, fixed: PowerResult | None, n_target: int) -> bool:
    """Recruitment is (on average) over by the first interim look: it has randomised at least 99%
    of what the fixed design randomises in all (without it, of the planned total)."""
    first = p.looks[0]
    reference = fixed.mean_randomised if fixed is not None else float(n_target)
    return bool(np.isfinite(first.mean_randomised) and first.mean_randomised >= 0.99 * reference)


def _interim(results: RunResults, images: dict[str, bytes], scale: float = 1.0) -> dict | None:
    """The interim looks: what they are and when they come, in words; their table (as looks.csv);
    what they give against the same trials without them (as power.csv and fixed_design.csv);
    the boundary and stopping figures."""
    from simulate.interim import look_counts

    p = results.power
    if not p.looks:
        return None
    scenario, t = results.scenario, results.scenario.trial
    interim = scenario.interim
    detail = getattr(results, "interim", None)
    fixed = detail.fixed if detail is not None else None
    looks, n = p.looks, scenario.n_target
    inner = looks[:-1]
    counts = look_counts([k.information_fraction for k in looks], n)
    one = len(inner) == 1
    statistic = ("the Farrington–Manning z at the margin" if p.hypothesis == "non_inferiority"
                 else "the pooled z (the score statistic)")
    at = percent_list([k.information_fraction for k in inner])
    who = ", ".join(f"{c:,}" for c in counts[:-1])
    spending = SPENDING_WORDS.get(interim.efficacy_spending, interim.efficacy_spending) if interim else "—"
    if interim is not None and interim.efficacy_spending == "hwang_shih_decani":
        spending += f" (gamma {interim.hsd_gamma:g})"
    rule = interim.futility if interim is not None else "none"
    if rule == "beta_spending":
        binding = ("binding: the efficacy boundaries count on it" if interim.futility_binding else
                   "non-binding: the efficacy boundaries keep alpha whether or not it is followed")
        futility = (f"below the futility boundary it stops for futility (beta spending of beta "
                    f"{interim.futility_beta:g} at the design effect; {binding})")
    elif rule == "conditional_power":
        futility = (f"it stops for futility when the conditional power under the design effect falls below "
                    f"{interim.futility_conditional_power:.0%}")
    else:
        futility = "there is no futility stop"
    lag = interim.decision_lag_months if interim is not None else 0.0
    text = [
        f"The trial looks at its data {'once' if one else f'{len(inner)} times'} before the final analysis: at "
        f"{at} of the planned {n:,} patients' endpoints determined ({who} patients who reached the month-"
        f"{t.endpoint_month:g} visit or dropped out before it). At {'the' if one else 'each'} interim look "
        f"{statistic} of the patients determined so far is compared with the boundaries: at or above the efficacy "
        f"boundary the trial stops and rejects H0 ({spending}, {_level(p)} over all looks); {futility}. "
        + (f"The decision comes {lag:g} month{'' if lag == 1 else 's'} after the data cut; " if lag > 0 else
           "The decision is taken at the data cut (no decision lag); ")
        + "enrolment closes then, and every patient randomised by then is followed to the endpoint and analysed "
        "(the overrun). Without a stop the final analysis comes when every randomised patient's endpoint is "
        "determined."
    ]
    when = []
    for i, k in enumerate(inner):
        if not np.isfinite(k.mean_month):
            when.append(f"Look {i + 1} is never held (no simulated trial reached {counts[i]:,} determined endpoints "
                        "before its final analysis).")
            continue
        when.append(f"Look {i + 1} comes at month {k.mean_month:.1f} on average (held in {100 * k.p_held:.1f}% of "
                    f"the trials), when {k.mean_randomised:.1f} patients have been randomised on average.")
    when.append(f"A patient's endpoint is determined {t.endpoint_month:g} months after randomisation (or at an "
                f"earlier dropout), so the looks wait for the month-{t.endpoint_month:g} visits of the first "
                "patients.")
    if recruitment_done_at_first_look(p, fixed, n):
        ref = (f"the fixed design randomises {fixed.mean_randomised:.1f} patients on average, its last at month "
               f"{fixed.mean_recruitment_months:.1f} on average" if fixed is not None else
               f"{inner[0].mean_randomised:.1f} of {n:,} planned")
        when.append(f"Recruitment is therefore already over at the first look ({ref}): a stop saves follow-up "
                    "time and gives an earlier answer, but saves no patients.")
    elif fixed is not None:
        when.append(f"Recruitment is still going on at the first look, so a stop also saves patients: "
                    f"{p.expected_randomised:.1f} are randomised on average against {fixed.mean_randomised:.1f} "
                    "without the looks.")
    text.append(" ".join(when))
    if fixed is not None:
        text.append(
            f"With the looks, H0 is rejected (at any look) in {p.power:.3f} ± {p.mc_se:.3f} of the trials, against "
            f"{fixed.power:.3f} ± {fixed.mc_se:.3f} for the same trials with one final analysis (the fixed design: "
            f"the same scenario, seed and trials without [interim]). The decision comes at month "
            f"{p.expected_duration_months:.1f} on average, against month {fixed.mean_duration_months:.1f} for the "
            f"fixed design (its last endpoint visit, when its analysis can be done); trials with looks randomise "
            f"{p.expected_randomised:.1f} patients on average (fixed design: {fixed.mean_randomised:.1f}; "
            f"planned: {n:,}).")
    else:
        text.append(
            f"With the looks, H0 is rejected (at any look) in {p.power:.3f} ± {p.mc_se:.3f} of the trials; the "
            f"decision comes at month {p.expected_duration_months:.1f} on average and trials randomise "
            f"{p.expected_randomised:.1f} patients on average (planned: {n:,}). The fixed design was not run "
            "with these results.")
    text.append(
        "An overrun reversal is a trial that stops for efficacy at an interim look, yet whose analysis of every "
        "patient randomised by the decision (the overrun followed to the endpoint) falls below the final look's "
        f"critical value: {p.p_overrun_reversal:.3f} ± {p.p_overrun_reversal_se:.3f} of the simulated trials.")

    rows = []
    for i, k in enumerate(looks):
        name = f"{i + 1} (final)" if i == len(looks) - 1 else f"{i + 1} (interim)"
        rows.append([name, _f(k.information_fraction, ".2f"), _f(k.efficacy_z), _f(k.futility_z),
                     _pm(k.p_stop_efficacy, k.p_stop_efficacy_se), _pm(k.p_stop_futility, k.p_stop_futility_se),
                     _f(k.p_held), _f(k.mean_month, ".1f"), _f(k.mean_randomised, ".1f")])
    head = ["Look", "Information fraction", "Efficacy z", "Futility z", "P(stop for efficacy) ± MC SE",
            "P(stop for futility) ± MC SE", "P(look held)", "Mean month", "Mean randomised"]
    note = Markup("Over {} simulated trials; the same numbers as <code>looks.csv</code>. Boundaries on the "
                  "z scale of {}: stop for efficacy at or above the efficacy z, for futility below the "
                  "futility z. At the final look the efficacy z is the bound of a trial that randomised its target (a "
                  "trial short of it spends the remaining alpha at its own information), and the two probabilities "
                  "are those of rejecting H0 there and of not rejecting it. Mean month and mean randomised: at the "
                  "look's data cut, over the trials that held it (at the final look, over those that reached it)."
                  ).format(f"{p.replicates:,}", statistic)
    if rule == "conditional_power":
        note += " Futility here is by conditional power, which has no fixed z bound."
    compare_head = ["Quantity", "With the looks"] + (["Fixed design (no looks)"] if fixed is not None else [])
    fx = (lambda v: [v]) if fixed is not None else (lambda v: [])  # noqa: E731
    compare = [
        ["Power: H0 rejected (at any look) ± MC SE", _pm(p.power, p.mc_se),
         *fx(_pm(fixed.power, fixed.mc_se) if fixed else "")],
        ["Patients randomised (mean: the expected N)", _f(p.expected_randomised, ".1f"),
         *fx(_f(fixed.mean_randomised, ".1f") if fixed else "")],
        ["Month of the decision (mean)", _f(p.expected_duration_months, ".1f"),
         *fx(f"{_f(fixed.mean_duration_months, '.1f')} (the last endpoint visit)" if fixed else "")],
        ["Month of the last endpoint visit (mean; with looks: the overrun included)", _f(p.mean_duration_months, ".1f"),
         *fx(_f(fixed.mean_duration_months, ".1f") if fixed else "")],
        ["P(overrun reversal) ± MC SE", _pm(p.p_overrun_reversal, p.p_overrun_reversal_se), *fx("—")],
    ]
    source = (Markup("<code>power.csv</code> and <code>fixed_design.csv</code> (the same scenario, seed and trials "
                     "without <code>[interim]</code>)") if fixed is not None else Markup("<code>power.csv</code>"))
    caps = _interim_captions(results, fixed is not None)
    alts = _interim_alts(results)
    figures = [_figure(name, images[name], caps[name], alts.get(name, ""), scale)
               for name in INTERIM_FIGURES if name in images]
    return {"text": text, "note": note,
            "looks": _table(head, rows, numeric=set(range(1, len(head))),
                            caption="Each look: its boundaries and how often it stops the trial"),
            "source": source,
            "compare": _table(compare_head, compare, numeric=set(range(1, len(compare_head))),
                              caption="The design with interim looks against the same trials without them"),
            "figures": figures}


def _interim_captions(results: RunResults, with_fixed: bool) -> dict[str, str]:
    p, scenario = results.power, results.scenario
    detail = getattr(results, "interim", None)
    paths = detail.paths if detail is not None else ()
    rule = scenario.interim.futility if scenario.interim is not None else "none"
    fut = {"beta_spending": "the red line the futility boundary (stop below it); ",
           "conditional_power": "futility is by conditional power (no fixed z bound, so no line); ",
           "none": "there is no futility stop; "}.get(rule, "")
    boundaries = ("The green line is the efficacy boundary on the z scale at each look (markers at the looks; the "
                  "lines between only guide the eye), " + fut + "the black diamond is the final analysis's bound for "
                  "a trial that randomised its target.")
    if paths:
        last = paths[-1].trial
        boundaries += (f" Thin lines are the z paths of trials 0–{last} of the run's seed (the first trials the "
                       "estimates count), coloured by what happened: green stopped for efficacy at an interim look, "
                       "red for futility, blue went to the final analysis (filled end: H0 rejected there; open: "
                       "not).")
        if any(x.outcome == "efficacy" and np.isfinite(x.overrun_z) for x in paths):
            boundaries += (" Open diamonds are the overrun analyses of the efficacy stops (every patient randomised "
                           "by the decision, followed to the endpoint).")
        if any(np.isfinite(x.final_bound) and x.information and x.information[-1] < 1 - 1e-9 for x in paths):
            boundaries += (" A grey dash is the final bound of a trial that randomised short of its target, at its "
                           "own information.")
    stopping = (f"Left: the share of the {p.replicates:,} simulated trials that stop for efficacy (green) or for "
                "futility (red) at each look, with ±2 Monte Carlo SE bars; at the final analysis the bars are the "
                "shares that reject H0 there and that do not (the numbers of looks.csv). ")
    if with_fixed:
        stopping += ("Middle: patients randomised on average with the looks (the expected N) and for the fixed "
                     "design, the same scenario, seed and trials without [interim] (fixed_design.csv); the dashed "
                     "line is the planned N. Right: the mean month of the decision with the looks (a stop's data "
                     "cut plus the decision lag, or the final analysis), the mean month of the last endpoint visit "
                     "with the looks (the overrun is still followed up) and that of the fixed design, whose single "
                     "analysis comes then.")
    else:
        stopping += ("Middle: patients randomised on average with the looks (the expected N) against the planned N "
                     "(dashed; the fixed design was not run with these results). Right: the mean month of the "
                     "decision with the looks and the mean month of their last endpoint visit.")
    return {"boundaries": boundaries, "stopping": stopping}


def _power_table(scenario: sc.Scenario, p: PowerResult, null: bool = False) -> Block:
    """The design and its operating characteristics (``null``: the power is a type I error)."""
    t = scenario.trial
    control = label(scenario, scenario.control_arm)
    many = len(p.comparisons) > 1
    q = lambda k: (f"{_f(getattr(p, f'mean_{k}'), '.1f')}; {_f(getattr(p, f'{k}_q10'), '.1f')} / "  # noqa: E731
                   f"{_f(getattr(p, f'{k}_q50'), '.1f')} / {_f(getattr(p, f'{k}_q90'), '.1f')}")
    arms = "; ".join(f"{label(scenario, a)}{' (control)' if a == scenario.control_arm else ''}: assumed "
                     f"{scenario.arm(a).remission_at_endpoint:g}" for a in scenario.arm_names)
    ratio = ":".join(str(k) for k in scenario.allocation)
    unequal = " in the arm with the smallest allocation, the others in proportion" \
        if len(set(scenario.allocation)) > 1 else ""
    rows = [
        ["Arms (allocation " + ratio + ")", arms],
        ["Primary endpoint", f"{ENDPOINT_WORDS[t.endpoint]} at month {t.endpoint_month:g}, as a share of the "
                             "patients analysed"],
        ["Design", f"{p.n_per_arm} per arm{unequal} ({scenario.n_target} in total); {TEST_NAMES.get(p.test, p.test)}, "
                   f"{'one-sided' if p.alternative == 'greater' else p.alternative}, alpha = {p.alpha}; "
                   f"{MISSING_WORDS.get(p.missing_strategy, p.missing_strategy)}"],
        ["Hypothesis", hypothesis_phrase(scenario, p)],
    ]
    if many:
        rows += [
            ["Comparisons", f"{len(p.comparisons)}, each experimental arm against {control}: "
                            + ", ".join(comparison_name(scenario, c.arm) for c in p.comparisons)],
            ["Multiplicity adjustment", f"{MULTIPLICITY_WORDS.get(p.multiplicity, p.multiplicity)}; "
                                        f"analysis.multiplicity = {p.multiplicity}"],
            ["What power counts", f"trials in which "
                                  f"{success_phrase(scenario, p.success, len(p.comparisons), p.hypothesis)}; "
                                  f"analysis.success = {p.success}"],
        ]
    rows += [
        ["Type I error (power with no true effect) ± Monte Carlo SE" if null else "Power ± Monte Carlo SE",
         _pm(p.power, p.mc_se)],
        [f"95% interval for the {'type I error' if null else 'power'}", f"{_f(p.ci_low)} – {_f(p.ci_high)}"],
        [f"Simulated trials ({'successful' if many else significant_word(p.hypothesis)})",
         f"{_f(p.replicates, ',')} ({_f(p.rejections, ',')})"],
    ]
    if many:
        rows += [["P(at least one comparison " + significant_word(p.hypothesis) + ") ± Monte Carlo SE",
                  _pm(p.power_any, p.power_any_mc_se)],
                 ["P(every comparison " + significant_word(p.hypothesis) + ") ± Monte Carlo SE",
                  _pm(p.power_all, p.power_all_mc_se)]]
    rows += [
        # shares of trials as proportions, as the power is (the prose gives percentages)
        [f"P(recruitment complete within {t.recruitment_months:g} months) ± Monte Carlo SE",
         _pm(p.p_recruitment_on_time, p.p_recruitment_on_time_se)],
        [f"P(terminated at the hard stop, month {t.hard_stop_months:g}, short of {scenario.n_target})",
         _f(p.p_terminated)],
        ["Mean randomised", f"{_f(p.mean_randomised, '.1f')} of {scenario.n_target}"],
        ["Mean dropouts before the endpoint", _f(p.mean_dropouts, ".1f")],
        ["Months to the last randomisation: mean; 10th / 50th / 90th percentile", q("recruitment_months")],
        ["Trial duration in months (to the last endpoint visit): mean; 10th / 50th / 90th percentile",
         q("duration_months")],
    ]
    if not many:
        treat = label(scenario, p.comparisons[0].arm if p.comparisons else scenario.experimental_arms[0])
        rows += [
            [f"True risk difference ({treat} − {control})", _f(p.true_difference)],
            ["Mean estimated risk difference", _f(p.mean_risk_difference)],
            ["Bias of the risk difference ± SE", _pm(p.risk_difference_bias, p.risk_difference_bias_se)],
            ["Coverage of the 95% CI for the risk difference ± SE", _pm(p.ci_coverage, p.ci_coverage_se)],
            ["Mean width of the 95% CI for the risk difference", _f(p.mean_ci_width)],
        ]
    return Block("Power and operating characteristics at the planned size", (), (
        _table(["Quantity", "Value"], rows, caption=f"The design as simulated and its operating characteristics "
                                                    f"over {p.replicates:,} simulated trials (as power.csv)"),))


def _comparisons_table(scenario: sc.Scenario, p: PowerResult) -> Block | None:
    """Each experimental arm against the control, then any and all (with several comparisons)."""
    if len(p.comparisons) <= 1:
        return None
    word = significant_word(p.hypothesis)
    rows = [[comparison_name(scenario, c.arm), _pm(c.power, c.mc_se), _f(c.true_difference),
             _pm(c.mean_risk_difference, c.risk_difference_bias_se), _f(c.ci_coverage), _f(c.mean_ci_width),
             _f(c.exaggeration_ratio, ".2f")] for c in p.comparisons]
    rows += [[f"At least one comparison {word} (any)", _pm(p.power_any, p.power_any_mc_se), *["—"] * 5],
             [f"Every comparison {word} (all)", _pm(p.power_all, p.power_all_mc_se), *["—"] * 5]]
    counted = success_phrase(scenario, p.success, len(p.comparisons), p.hypothesis)
    note = (f"Each comparison's power is the share of simulated trials in which it is {word}, "
            f"{_level(p)} with {MULTIPLICITY_WORDS.get(p.multiplicity, p.multiplicity)}; "
            f"analysis.multiplicity = {p.multiplicity}. The power above counts the trials in "
            f"which {counted}; analysis.success = {p.success}. Differences are experimental − control in the "
            f"share with {ENDPOINT_WORDS[scenario.trial.endpoint]}; the mean estimate is over the simulated trials "
            "(± its Monte Carlo SE); coverage is that of the 95% interval for the difference; exaggeration is the "
            "mean |estimate| of the trials in which the comparison is " + word + " over the true |difference|.")
    head = ["Comparison", "Power ± MC SE", "True difference", "Mean estimated difference ± MC SE",
            "Coverage of the 95% CI", "Mean CI width", "Exaggeration when " + word]
    return Block(f"Comparisons with {label(scenario, scenario.control_arm)}", (_p(note),), (
        _table(head, rows, numeric=set(range(1, len(head))),
               caption="Each experimental arm against the control (as comparisons.csv)"),))


def _remission_tables(scenario: sc.Scenario, p: PowerResult) -> list[Block]:
    """The simulated share in the endpoint state at each visit per arm (as remission_by_visit.csv),
    and the published figures beside the simulated ones where the scenario gives them."""
    if not p.remission_by_visit:
        return []
    what = ENDPOINT_WORDS[scenario.trial.endpoint]
    arms = list(scenario.arm_names)
    by = {(v.arm, v.month): v for v in p.remission_by_visit}
    months = sorted({v.month for v in p.remission_by_visit})
    rows = [[_value(m) + (" (endpoint)" if np.isclose(m, scenario.trial.endpoint_month) else ""),
             *[_pm(by[(a, m)].remission, by[(a, m)].mc_se) if (a, m) in by else "—" for a in arms]] for m in months]
    out = [Block(f"{what[:1].upper() + what[1:]} over follow-up", (_p(Markup(
        "Mean over {} simulated trials of each arm's share of its randomised patients in {} at each scheduled "
        "visit (dropouts count as not in it), ± its Monte Carlo SE; the same numbers as "
        "<code>remission_by_visit.csv</code>.").format(_f(p.replicates, ","), what)),), (
        _table(["Month", *[label(scenario, a) for a in arms]], rows, numeric=set(range(1, len(arms) + 1)),
               caption=f"Share of each arm in {what} at each visit, ± Monte Carlo SE"),))]
    observed = scenario.observed.remission if scenario.observed is not None else ()
    if observed:
        visits = ", ".join(_value(m) for m in months)
        prow = []
        for o in observed:
            match = next((by[(o.arm, m)] for m in months if (o.arm, m) in by and np.isclose(m, o.month)), None)
            sim = _pm(match.remission, match.mc_se) if match is not None else f"not at a visit (visits: {visits})"
            prow.append([label(scenario, o.arm), _value(o.month), _f(o.remission), sim, o.source or "—"])
        out.append(Block("Simulated vs published", (_p(Markup(
            "Each published figure (<code>observed.remission</code> in the scenario) beside the simulated mean at "
            "the same month (share of randomised patients in {}, ± Monte Carlo SE).").format(what)),), (
            _table(["Arm", "Month", "Published", "Simulated ± MC SE", "Source"], prow, numeric={1, 2},
                   caption="Published figures beside the simulated ones"),)))
    return out


_ANALYTIC = {"pooled_normal": "Pooled normal", "fleiss_cc": "Fleiss (continuity corr.)", "arcsine": "Arcsine",
             "pooled_normal_with_dropout": "Pooled normal, with dropout",
             "fleiss_cc_with_dropout": "Fleiss, with dropout"}
"""The closed-form columns of the sample-size table for superiority (fields of AnalyticReferences), in order."""
_ANALYTIC_NI = {"farrington_manning": "Farrington–Manning", "farrington_manning_with_dropout":
                "Farrington–Manning, with dropout"}
"""The same for non-inferiority."""


def _samplesize_table(plan: SampleSizePlan, scenario: sc.Scenario, p: PowerResult, null: bool = False) -> Block:
    """n per arm for each power target; ``null`` (no true effect): with the type I error at each
    simulated n, against alpha, since no n reaches a power target."""
    from simulate.power import primary_arm

    ni, many = p.hypothesis == "non_inferiority", len(p.comparisons) > 1
    columns = _ANALYTIC_NI if ni else _ANALYTIC
    # closed forms only where at least one target has one (none when the arms do not differ)
    columns = {k: v for k, v in columns.items()
               if any(getattr(s.analytic, k, None) is not None for s in plan.searches)}
    rows = []
    for s in plan.searches:
        refs = [_f(getattr(s.analytic, k, None), "") for k in columns]
        rows.append([f"{s.target:.0%}", _f(s.n_per_arm, "d"), _pm(s.power, s.mc_se), *refs,
                     s.note or s.analytic.note])
    head = ["Target power", "Simulated n per arm", "Simulated power at that n", *columns.values(), "Note"]
    rule = f" With dropout: {plan.dropout_rule}." if plan.dropout_rule else ""
    refs = ("Farrington and Manning's sample size for non-inferiority of two proportions (margin "
            f"{p.margin:g}, one-sided)" if ni else "the textbook references for two proportions")
    if many:
        used = {s.analytic.alpha for s in plan.searches}
        at = f"alpha {_value(used.pop())}" if len(used) == 1 else "alpha"
        split = (" (alpha divided among the comparisons, as Bonferroni and Holm's first step do)"
                 if p.multiplicity != "none" else " (no multiplicity adjustment)")
        refs += f", for one comparison ({comparison_name(scenario, primary_arm(scenario))}) at {at}{split}"
    counted = (f" (power as counted above: trials in which "
               f"{success_phrase(scenario, p.success, len(p.comparisons), p.hypothesis)})" if many else "")
    if columns:
        closed = f" The closed-form columns are {refs}.{rule}"
        caption = "n per arm for each power target: simulated and closed-form (as samplesize.csv)"
    else:
        closed = (" No closed-form n is given: the formulas need a difference between the arms"
                  + (" beyond the margin" if ni else "") + ", and there is none here.")
        caption = "n per arm for each power target, as simulated (as samplesize.csv)"
    if null and plan.curve:
        # H0 holds: no n reaches a power target, so the section is the type I error at each n
        curve = sorted(plan.curve, key=lambda c: c.n_per_arm)
        above = {i: "good" for i, c in enumerate(curve) if c.power - p.alpha > 2 * c.mc_se}
        table = _table(
            ["Patients per arm (n)", "Type I error ± MC SE", "95% interval", "P(recruited on time)", "Mean randomised"],
            [[str(c.n_per_arm), _pm(c.power, c.mc_se), f"{_f(c.ci_low)} – {_f(c.ci_high)}",
              _f(c.p_recruitment_on_time, ".3f"), _f(c.mean_randomised, ".1f")] for c in curve],
            numeric=set(range(5)), cell_classes={(i, 1): c for i, c in above.items()},
            caption="Type I error at each n simulated (as samplesize.csv)")
        lead = (f"H0 holds here (the arms do not differ), so there is no power target to reach: the table gives "
                f"the type I error at each n per arm simulated, with recruitment, dropout and the planned analysis, "
                f"against alpha ({p.alpha:.3f}); above it by more than 2 Monte Carlo SE in bold.")
        return Block("Type I error by n per arm", (_p(lead),), (table,))
    tables = (_table(head, rows, numeric=set(range(1, len(head) - 1)), caption=caption),)
    lead = (f"Simulated: the smallest n per arm whose simulated power reaches the target{counted}, with recruitment, "
            f"dropout and the planned analysis.{closed}")
    return Block("Sample size per arm", (_p(lead),), tables)


def _alpha_at(point, alpha: float) -> float:
    """The level at a sweep point: its own where ``analysis.alpha`` is swept, else the scenario's."""
    level = point.values.get("analysis.alpha")
    return float(level) if isinstance(level, (int, float)) else alpha


def _sweep_table(sweep: SweepResult | None, axis_label: Callable[[str], str], alpha: float | None = None
                 ) -> Block | None:
    """The sweep as a table; ``alpha`` given (a null scenario): type I errors above alpha in bold."""
    if sweep is None or not sweep.points:
        return None
    axes = list(sweep.axes)
    rows, cells = [], {}
    for i, p in enumerate(sweep.points):
        rows.append([*[TEST_NAMES.get(p.values.get(a), _value(p.values.get(a))) if a == "analysis.test"
                       else _value(p.values.get(a)) for a in axes], _pm(p.power, p.mc_se),
                     f"{_f(p.ci_low)} – {_f(p.ci_high)}", _f(p.p_recruitment_on_time, ".2f"),
                     _f(p.mean_randomised, ".1f"), _f(p.mean_duration_months, ".1f"), _f(p.mean_dropouts, ".1f")])
        if (p.power > _alpha_at(p, alpha)) if alpha is not None else p.power >= 0.8:
            cells[(i, len(axes))] = "good"
    head = [*[axis_label(a) for a in axes], "Type I error ± MC SE" if alpha is not None else "Power ± MC SE",
            "95% interval", "P(recruited on time)",
            "Mean randomised", "Mean duration (months)", "Mean dropouts"]
    lead = (f"No true difference here, so power is the type I error; above alpha ({alpha:.3f}) in bold."
            if alpha is not None else "Power of at least 0.80 in bold.")
    return Block("Sensitivity grid", (_p(lead),), (
        _table(head, rows, numeric=set(range(len(head))), cell_classes=cells,
               caption=f"{'Type I error' if alpha is not None else 'Power'} at each point of the sensitivity grid "
                       "(as sweep.csv)"),))


_CONSORT_LABELS = {"referred": "Referred and screened", "excluded_total": "Excluded (criteria not met)",
                   "deferred": "Deferred (washout or run-in)", "lost_during_deferral": "Lost while deferred",
                   "not_randomised_enrolment_closed": "Not randomised: enrolment closed", "randomised": "Randomised"}
"""How each of :data:`simulate.engines.CONSORT_FIELDS` is named in the CONSORT table."""


def _consort_table(results: RunResults) -> Block:
    scenario, p = results.scenario, results.power
    ex = results.example_trial.consort
    names = {s.criterion: s.exclusion or s.description or s.criterion for s in results.screening.steps}
    rows = [[_CONSORT_LABELS[k], _f(getattr(ex, k), ","), _f(p.mean_consort[k], ",.1f")] for k in CONSORT_FIELDS]
    rows += [[f"Excluded: {names.get(k, k.replace('_', ' '))}", _f(v, ","), "—"] for k, v in ex.excluded.items() if v]
    for arm in scenario.arm_names:
        lab = scenario.arm(arm).label
        for counts, what in ((ex.randomised_per_arm, "allocated"), (ex.discontinued_per_arm, "dropped out"),
                             (ex.analysed_per_arm, "analysed")):
            rows.append([f"{lab}: {what}", _f(counts.get(arm), ","), "—"])
    return Block("CONSORT counts", (), (_table(
        ["Count", "Example trial", f"Mean over {_f(p.replicates, ',')} simulated trials"], rows, numeric={1, 2},
        caption="CONSORT counts of the example trial and their means (as consort.csv)"),))


def _example_trial(scenario: sc.Scenario, ex: ExampleTrial, seed: int) -> Block:
    """The example trial's story in a few lines: its calendar, then each arm's patients and result."""
    c, cal = ex.consort, ex.calendar
    month = lambda v: "—" if v is None else f"{v:.1f}"  # noqa: E731
    if c.randomised:
        when = (f"{c.randomised:,} of {scenario.n_target:,} patients were randomised between months "
                f"{month(cal.first_randomisation_month)} and {month(cal.last_randomisation_month)} (planned window "
                f"{scenario.trial.recruitment_months:g} months); enrolment closed at month "
                f"{month(cal.enrolment_closed_month)} ({cal.enrolment_close_reason}), and the trial lasted "
                f"{month(cal.duration_months)} months")
    else:
        when = f"no patient was randomised before enrolment closed (target {scenario.n_target:,})"
    story = Markup("Trial 0 of seed {} (the trial <code>trialsim trial</code> tells patient by patient): {}{}.").format(
        seed, when, ", terminated short of its target" if cal.terminated else "")
    what = ENDPOINT_WORDS[scenario.trial.endpoint]
    rows = []
    for arm in scenario.arm_names:
        share = ex.remission_at_endpoint.get(arm)
        rows.append([label(scenario, arm) + (" (control)" if arm == scenario.control_arm else ""),
                     _f(c.randomised_per_arm.get(arm), ","), _f(c.discontinued_per_arm.get(arm), ","),
                     _f(c.analysed_per_arm.get(arm), ","), _f(share, ".2f"),
                     _f(scenario.arm(arm).remission_at_endpoint, ".2f")])
    head = ["Arm", "Randomised", "Dropped out", "Analysed",
            f"In {what} at month {scenario.trial.endpoint_month:g} (dropouts as failures)", "Assumed"]
    return Block("The example trial", (_p(story, note=False),), (
        _table(head, rows, numeric={1, 2, 3, 4, 5}, caption="The example trial per arm"),))


def _funnel_table(screening: ScreeningFunnel) -> Block | None:
    if not screening.steps:
        return None
    rows = [[s.description or s.criterion, s.kind, _f(s.failing, ","), _f(s.excluded, ","), _f(s.deferred, ","),
             _f(s.remaining, ",")] for s in screening.steps]
    return Block(f"Eligibility funnel of {_f(screening.screened, ',')} simulated referrals", (_p(
        "Criteria in the registry's order; a patient is counted at the first criterion failed. Time-dependent "
        "criteria (washout, run-in) defer rather than exclude."),), (
        _table(["Criterion", "Kind", "Failing", "Excluded here", "Deferred here", "Remaining"], rows,
               numeric={2, 3, 4, 5}, caption="Eligibility funnel (as funnel.csv)"),))


def _assumptions(scenario: sc.Scenario, source: ScenarioSource | None, overrides: tuple[str, ...]) -> dict:
    header, comments = (source.header, source.comments) if source is not None else ("", {})
    values = _flatten(scenario.model_dump(mode="json"))
    set_here = _override_paths(overrides)
    if source is None:
        intro = Markup("The scenario file was not given, so sources cannot be shown; they are the comments of the "
                       "scenario file.")
    else:
        intro = Markup("Values as simulated; sources are the comments of <code>{}</code>. Rows marked "
                       '<span class="badge">assumption</span> rest on an assumption rather than a published figure '
                       'or the registry; rows marked <span class="badge set">set</span> were overridden for this '
                       "run.").format(source.path)

    def overridden(key: str) -> bool:
        return any(key == path or key.startswith(path + ".") for path in set_here)

    def table(sections: tuple[str, ...], caption: str) -> tuple[Table, int, int]:
        rows, classes, n_assumed = [], [], 0
        for key, v in values.items():
            if key.split(".", 1)[0] not in sections:
                continue
            note = comments.get(key, "")
            assumed = "[assumption" in note.lower()
            is_set = overridden(key)
            flag = Markup("".join(b for b, on in (('<span class="badge set">set</span>', is_set),
                                                   ('<span class="badge">assumption</span>', assumed)) if on))
            if is_set:
                note = f"set for this run with --set. {note}".strip()
            rows.append([key, _value(v), flag, note or "—"])
            classes.append("overridden" if is_set else "assumption" if assumed else "")
            n_assumed += assumed
        return _table(["Parameter", "Value", "Flag", "Source (scenario file comment)"], rows,
                      row_classes=classes, caption=caption), n_assumed, len(rows)

    main, k, n = table(MAIN_SECTIONS + (("interim",) if scenario.interim is not None else ()),
                       "Design and model values with their sources")
    rest, k2, n2 = table(OTHER_SECTIONS, "Randomisation, population, eligibility, definitions and the real trial")
    return {"intro": intro, "header": header,
            "count": f"{k} of these {n} design and model values are marked as assumptions." if comments else "",
            "main": main, "more": rest,
            "more_title": f"Randomisation, referred population, eligibility thresholds, remission definitions and "
                          f"the real trial ({n2} values, {k2} assumptions)"}


def _reproduce(results: RunResults) -> dict:
    scenario, seed, replicates, engine = results.scenario, results.seed, results.replicates, results.engine
    path = results.source.path if results.source is not None else None
    shown = path if path is not None else f"scenarios/{scenario.name}.toml"
    cmd = ["trialsim", "run", shown, "--seed", str(seed), "--replicates", str(replicates)]
    if engine != DEFAULT_ENGINE:
        cmd += ["--engine", engine]
    for text in results.overrides:
        cmd += ["--set", text]
    notes = []
    if path is None:
        notes.append("The scenario file was not recorded; use the file this scenario was loaded from.")
    make_ok = (not results.overrides and seed == scenario.simulation.seed
               and replicates == scenario.simulation.replicates and engine == DEFAULT_ENGINE)
    default = path is None or Path(path).resolve() == (SHIPPED / "nct04743739.toml").resolve()
    versions = [["trialsim", simulate.__version__], ["Python", platform.python_version()],
                ["numpy", np.__version__], ["pandas", pd.__version__], ["matplotlib", matplotlib.__version__],
                ["seaborn", sns.__version__]]
    if getattr(results, "code_hash", ""):
        versions.insert(1, ["trialsim code hash (of its source files)", results.code_hash])
    settings = [["Seed", str(seed)], ["Replicates per design point", f"{replicates:,}"], ["Engine", engine],
                ["Trials per seeded block", str(scenario.simulation.block_size)],
                ["Scenario hash", sc.scenario_hash(scenario)]]
    if getattr(results, "created", ""):
        settings.append(["Run on", results.created])
    return {"command": " ".join(shlex.quote(c) for c in cmd), "make_ok": make_ok,
            "make": "make run" if default else f"make run SCENARIO={shlex.quote(shown)}",
            "own_seed": scenario.simulation.seed, "own_replicates": f"{scenario.simulation.replicates:,}",
            "notes": notes, "settings": _table(["Setting", "Value"], settings, caption="Run settings"),
            "versions": _table(["Package", "Version"], versions, caption="Versions of the code that ran")}


def _meta(results: RunResults) -> str:
    """The line under the title: when the run was made and by which code."""
    parts = []
    if getattr(results, "created", ""):
        parts.append(f"Run on {results.created}")
    code = f"trialsim {simulate.__version__}"
    if getattr(results, "code_hash", ""):
        code += f" (code {results.code_hash})"
    parts.append(code)
    parts.append(f"seed {results.seed}, {results.replicates:,} simulated trials per design point")
    return "; ".join(parts) + "."


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
    toc = [("verdict", "Verdict")] if verdict is not None else []
    toc += [("summary", "In plain language"), ("figures", "Figures")]
    if interim:
        toc.append(("interim", "Interim analyses"))
    toc += [("tables", "Tables"), ("assumptions", "Assumptions"), ("reproduce", "Reproducing the run")]
    return _ENV.get_template("report.html.j2").render(
        name=scenario.name, description=scenario.description, meta=_meta(results), verdict=verdict,
        summary=_summary(results), toc=toc,
        figures=_figures(images, results.sweep, axis_label, _captions(results, null), alts, scale, alpha),
        interim=interim, tables=[b for b in blocks if b is not None],
        assumptions=_assumptions(scenario, results.source, results.overrides), reproduce=_reproduce(results))
