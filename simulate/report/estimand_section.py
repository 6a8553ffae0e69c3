"""The report's section on the estimand and the missing data: the estimand's five attributes in
words (ICH E9(R1): the treatments, the population, the variable, the intercurrent events with
their strategies, the summary measure), each comparison's true value beside the planned
analysis's estimate, its bias and coverage (as comparisons.csv), what the dropout mechanism
implies for the analyses; where the sensitivity grid varies the missing-data method or the
dropout, each of its points against the truth (as sweep.csv, with a dot plot); and with a
tipping-point grid, its power over the shifts of the imputed patients (as tipping_point.csv,
with a heatmap) and the smallest shift that takes power below the design's target or 50%.

Every section of a run has it: brief (the attributes, the truth and one sentence on dropout)
when there are no intercurrent events, no grid over the missing data and no tipping point.
Every number comes from :class:`~simulate.run.results.RunResults`; nothing is computed here
beyond choosing the grid's points and the sentence that applies.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from markupsafe import Markup

from simulate.report.captions import ESTIMAND_FIGURES, _figure
from simulate.report.formatting import _f, _pm, _table, _value
from simulate.report.words import (MECHANISM_WORDS, MISSING_TARGETS, MISSING_WORDS,
                                   SUMMARY_MEASURE_WORDS, TIPPING_AXES, and_list, axis_label, comparison_name,
                                   intercurrent_words, label, percent, sweep_value_words)

if TYPE_CHECKING:
    from simulate.design import scenario as sc
    from simulate.run.results import RunResults, SweepPoint

METHODS_FIGURE, TIPPING_FIGURE = ESTIMAND_FIGURES
"""The section's figures: each analysis against the truth, and the tipping-point heatmap."""
DEFAULT_TARGET = 0.8
"""The design's target power when the run searched for none."""
BIASED_SE = 2.0
"""A bias further than this many Monte Carlo SE from 0 is called a bias in the section's words."""


# ----------------------------------------------------------------------------- what the section shows


def method_axes(axes) -> list[str]:
    """The axes of a sensitivity grid that change the missing data: ``analysis.missing`` and ``dropout.*``."""
    return [a for a in axes if a == "analysis.missing" or a.startswith("dropout.")]


def scenario_figures(scenario: sc.Scenario) -> tuple[str, ...]:
    """The section's figures a run of ``scenario`` may draw (before any result: for the files it
    may write)."""
    methods = bool(method_axes(scenario.sweep_grid))
    return tuple(name for name, on in ((METHODS_FIGURE, methods),
                                       (TIPPING_FIGURE, bool(scenario.analysis.tipping_point_deltas))) if on)


def figure_names(results: RunResults) -> tuple[str, ...]:
    """The section's figures for these results: the analyses against the truth where the grid
    varies the missing data (at the planned design's other values), the tipping point where there
    is a grid."""
    return tuple(name for name, on in ((METHODS_FIGURE, bool(method_points(results))),
                                       (TIPPING_FIGURE, bool(results.power.tipping_point))) if on)


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _planned_values(results: RunResults) -> dict:
    from simulate.design.loader import value_at

    dumped = results.scenario.model_dump(mode="json")
    return {a: value_at(dumped, a) for a in results.sweep.axes}


def method_points(results: RunResults) -> list[tuple[SweepPoint, bool]]:
    """The grid's points where only the missing data change (the other axes at the planned
    design's values), in the grid's order, each with whether it is the planned design itself."""
    sweep = results.sweep
    if sweep is None or not sweep.points:
        return []
    axes = method_axes(sweep.axes)
    if not axes:
        return []
    planned = _planned_values(results)
    rest = [a for a in sweep.axes if a not in axes]
    out = []
    for p in sweep.points:
        if all(_same(p.values.get(a), planned[a]) for a in rest):
            out.append((p, all(_same(p.values.get(a), planned[a]) for a in axes)))
    return out


def _axis_words(scenario: sc.Scenario, axis: str) -> str:
    """A grid axis in the middle of a sentence: 'the analysis of the missing endpoints'."""
    words = axis_label(scenario, axis)
    return "the " + words[:1].lower() + words[1:] if words[1:2].islower() else words


def point_label(point: SweepPoint, axes: list[str]) -> str:
    """A point of the grid by its missing-data values in a few words: 'MI under MAR, dropout 0.2'."""
    return ", ".join(sweep_value_words(a, point.values.get(a)) for a in axes)


def methods_rows(results: RunResults) -> list[dict]:
    """The dot plot's rows (:func:`simulate.report.estimand_plots.methods_dotplot`), from sweep.csv's
    figures at :func:`method_points`."""
    points = method_points(results)
    axes = method_axes(results.sweep.axes) if points else []
    return [{"label": point_label(p, axes) + (" (planned)" if planned else ""), "estimate": p.mean_risk_difference,
             "se": p.risk_difference_bias_se, "truth": p.true_difference,
             "truth_se": 0.0 if math.isnan(p.true_difference_mc_se) else p.true_difference_mc_se,
             "bias": p.risk_difference_bias, "bias_se": p.risk_difference_bias_se, "coverage": p.ci_coverage,
             "coverage_se": p.ci_coverage_se, "planned": planned} for p, planned in points]


def design_target(results: RunResults) -> float:
    """The design's target power: the lowest the run searched a sample size for."""
    targets = [s.target for s in results.samplesize.searches]
    return min(targets) if targets else DEFAULT_TARGET


def _record(results: RunResults) -> dict:
    """The power result's estimand, or, from results that predate it, its attributes from the
    scenario (no true values)."""
    if results.power.estimand:
        return results.power.estimand
    s, t = results.scenario, results.scenario.trial
    state = "complete remission" if t.endpoint == "cr" else "complete or partial remission"
    return {"population": s.estimand.population if s.estimand else "all randomised patients (intention to treat)",
            "treatments": {a: s.arm(a).label for a in s.arm_names},
            "variable": s.estimand.variable if s.estimand and s.estimand.variable
            else f"{state} at month {t.endpoint_month:g}",
            "summary_measure": s.estimand.summary_measure if s.estimand else "risk_difference",
            "intercurrent_events": [{"id": n, "kind": ev.kind, "reason": ev.reason, "strategy": st,
                                     "probability": {a: ev.probability_of(a) for a in s.arm_names}}
                                    for (n, ev), st in zip(s.intercurrent.items(), s.strategies.values())],
            "true_values": []}


# ----------------------------------------------------------------------------- the section


def _estimand(results: RunResults, images: dict[str, bytes], scale: float = 1.0) -> dict:
    """The section as the template draws it: its text, the attributes table, the truth table,
    and where they apply the analyses against the truth and the tipping point (tables and figures)."""
    scenario, p = results.scenario, results.power
    record = _record(results)
    events = record["intercurrent_events"]
    text = [_lead(events), *_dropout_sentences(scenario, p.missing_strategy, events)]
    caps, alts = _captions(results), _alts(results)
    figure = lambda name, title="": (_figure(name, images[name], caps[name], alts.get(name, ""), scale,  # noqa: E731
                                             title) if name in images else None)
    heading = _methods_heading(method_axes(results.sweep.axes) if results.sweep is not None else [])
    methods = _methods(results, figure(METHODS_FIGURE, heading), heading)
    tipping = _tipping(results, figure(TIPPING_FIGURE))
    return {"text": text, "attributes": _attributes(scenario, record), "truth_note": _truth_note(results, events),
            "truth": _truth_table(results, record), "methods": methods, "tipping": tipping,
            "brief": not events and methods is None and tipping is None}


def _lead(events: list[dict]) -> str:
    none = ("" if events else " No intercurrent event is modelled here, so the variable is the endpoint as "
                              "measured.")
    return ("The estimand (ICH E9(R1)) is the question the trial answers, in five attributes: the treatments "
            "compared, the population, the variable measured in each patient, what is done about the intercurrent "
            "events (events after randomisation that change what the endpoint means or whether it exists), and the "
            "summary measure that compares the arms. Dropout is not an intercurrent event but missing data: the "
            "analysis answers for it." + none)


def _dropout_sentences(scenario: sc.Scenario, missing: str, events: list[dict]) -> list[str]:
    """What the dropout is and implies, and what the planned analysis of the missing endpoints does."""
    d, t = scenario.dropout, scenario.trial
    hypothetical = [e for e in events if e["strategy"] == "hypothetical"]
    method = f"The planned analysis is {MISSING_WORDS.get(missing, missing)}: {MISSING_TARGETS.get(missing, '')}."
    if d.probability_by_endpoint <= 0:
        out = [f"No patient drops out before month {t.endpoint_month:g} (dropout.probability_by_endpoint = 0)"
               + (", but data after a hypothetical strategy's event are missing: " + method[0].lower() + method[1:]
                  if hypothetical else ", so no endpoint is missing and the missing-data method "
                  f"({MISSING_WORDS.get(missing, missing)}) changes nothing.")]
        return out
    ratio = d.mar_hazard_ratio_not_in_remission if d.mechanism == "mar" else d.informative_hazard_ratio
    out = [f"A randomised patient drops out before month {t.endpoint_month:g} with probability "
           f"{percent(d.probability_by_endpoint)}; dropout here is {MECHANISM_WORDS[d.mechanism].format(ratio=ratio)}."]
    if hypothetical:
        names = and_list([e["reason"] or e["id"].replace("_", " ") for e in hypothetical])
        out.append(f"Data after an event the estimand takes as hypothetical ({names}) are missing too, and the "
                   "analysis answers for them as for a dropout's.")
    return [*out, method]


def _attributes(scenario: sc.Scenario, record: dict):
    """The five attributes, one row each (one row per intercurrent event)."""
    control = scenario.control_arm
    treatments = and_list([f"{record['treatments'].get(a, label(scenario, a))}"
                           f"{' (control)' if a == control else ' (experimental)'}" for a in scenario.arm_names])
    events = record["intercurrent_events"]
    variable = record["variable"]
    rows = [["Treatments", treatments], ["Population", record["population"]],
            ["Variable", f"{variable}, in each randomised patient"]]
    if events:
        rows += [["Intercurrent event" if len(events) == 1 else f"Intercurrent event {i + 1} of {len(events)}",
                  intercurrent_words(scenario, e)] for i, e in enumerate(events)]
    else:
        rows.append(["Intercurrent events", "none modelled (no [intercurrent] table in the scenario)"])
    measure = record["summary_measure"]
    rows.append(["Summary measure", f"{SUMMARY_MEASURE_WORDS.get(measure, measure)} in the share with {variable}"])
    return _table(["Attribute", "Here"], rows, caption="The estimand's five attributes (ICH E9(R1))")


def _truth_note(results: RunResults, events: list[dict]) -> Markup:
    p = results.power
    how = ("computed on a large reference sample of eligible patients with the intercurrent events as the strategies "
           "take them and nobody dropping out, hence its Monte Carlo SE" if events else
           "the difference of the assumed rates at the endpoint (exact: no intercurrent event changes them)")
    return Markup("The true value is the estimand's: {}. The estimate, bias and coverage are those of the planned "
                  "analysis, {}, over {} simulated trials, each ± its Monte Carlo SE; bias is the mean estimate less "
                  "the true value. The same numbers as <code>comparisons.csv</code> (and, for the first comparison, "
                  "<code>power.csv</code>).").format(how, MISSING_WORDS.get(p.missing_strategy, p.missing_strategy),
                                                    f"{p.replicates:,}")


def _truth(value: float, se: float) -> str:
    """A true value ± its Monte Carlo SE: to four decimals where the SE is below what three show."""
    return _pm(value, se, ".4f") if 0 < se < 0.0005 else _pm(value, se)


def _truth_table(results: RunResults, record: dict):
    """Each comparison: the true difference ± MC SE and the true rates beside the mean estimate,
    the bias and the coverage (as comparisons.csv)."""
    scenario, p = results.scenario, results.power
    truths = {t["arm"]: t for t in record.get("true_values", ())}
    ratio = any("true_ratio" in t for t in truths.values())
    rows = []
    for c in p.comparisons:
        t = truths.get(c.arm, {})
        rates = (f"{_f(t['true_control'])} / {_f(t['true_treatment'])}" if "true_control" in t else "—")
        row = [comparison_name(scenario, c.arm), _truth(c.true_difference, c.true_difference_mc_se), rates,
               _pm(c.mean_risk_difference, c.risk_difference_bias_se),
               _pm(c.risk_difference_bias, c.risk_difference_bias_se), _pm(c.ci_coverage, c.ci_coverage_se)]
        if ratio:
            row.insert(3, _f(t.get("true_ratio")))
        rows.append(row)
    measure = record["summary_measure"]
    head = ["Comparison", "True difference ± MC SE", "True share with the variable: control / experimental",
            "Mean estimated difference ± MC SE", "Bias ± MC SE", "Coverage of the 95% CI ± MC SE"]
    if ratio:
        head.insert(3, f"True {SUMMARY_MEASURE_WORDS.get(measure, measure).split(' (')[0]}")
    return _table(head, rows, numeric=set(range(1, len(head))),
                  caption="The estimand's true value beside the planned analysis's estimates (as comparisons.csv)")


def _methods_heading(axes: list[str]) -> str:
    """The heading (and figure title) of the grid's points where the missing data change."""
    missing = "analysis.missing" in axes
    return ("Each analysis of the missing endpoints against the truth" if missing and len(axes) == 1 else
            "The estimate against the truth as dropout changes" if not missing else
            "Each analysis and dropout against the truth")


def _methods(results: RunResults, figure: dict | None, heading: str) -> dict | None:
    """The grid's points where only the missing data change: their table (as sweep.csv), a
    sentence on which are biased, and the dot plot."""
    points = method_points(results)
    if not points:
        return None
    scenario, p = results.scenario, results.power
    axes = method_axes(results.sweep.axes)
    rest = [a for a in results.sweep.axes if a not in axes]
    planned = _planned_values(results)
    rows, classes = [], []
    for x, here in points:
        values = [MISSING_WORDS.get(x.values.get(a), x.values.get(a)) if a == "analysis.missing"
                  else _value(x.values.get(a)) for a in axes]
        values[0] = f"{values[0]} (planned)" if here else values[0]
        rows.append([*values,
                     _truth(x.true_difference, x.true_difference_mc_se),
                     _pm(x.mean_risk_difference, x.risk_difference_bias_se),
                     _pm(x.risk_difference_bias, x.risk_difference_bias_se), _pm(x.ci_coverage, x.ci_coverage_se),
                     _pm(x.power, x.mc_se)])
        classes.append("planned" if here else "")
    head = [*[axis_label(scenario, a) for a in axes], "True difference ± MC SE", "Mean estimated difference ± MC SE",
            "Bias ± MC SE", "Coverage of the 95% CI ± MC SE", "Power ± MC SE"]
    what = and_list([_axis_words(scenario, a) for a in axes])
    fixed = (" (the grid's other axes at the planned design's values: "
             + "; ".join(f"{axis_label(scenario, a)} = {_value(planned[a])}" for a in rest) + ")") if rest else ""
    first = (f" Differences are those of the first comparison, {comparison_name(scenario, p.comparisons[0].arm)}."
             if len(p.comparisons) > 1 else "")
    note = Markup("The points of the sensitivity grid where only {} change{}{}, over {} simulated trials each; the "
                  "same numbers as <code>sweep.csv</code>. The planned design's row is in bold.{}"
                  ).format(what, "s" if len(axes) == 1 else "", fixed, f"{points[0][0].replicates:,}", first)
    table = _table(head, rows, numeric=set(range(len(axes), len(head))), row_classes=classes,
                   caption="Mean estimate, bias and coverage at each point where the missing data change "
                           "(as sweep.csv)")
    return {"heading": heading, "note": note, "text": _bias_sentence(points, axes), "table": table,
            "figure": figure}


def _bias_sentence(points, axes) -> str:
    """Which points' estimates are within :data:`BIASED_SE` Monte Carlo SE of the truth, and which are not."""
    near, off = [], []
    for x, here in points:
        se = math.hypot(x.risk_difference_bias_se, 0.0 if math.isnan(x.true_difference_mc_se)
                        else x.true_difference_mc_se)
        name = point_label(x, axes)
        if not math.isfinite(x.risk_difference_bias) or not math.isfinite(se):
            continue
        if abs(x.risk_difference_bias) > BIASED_SE * se:
            off.append(f"{name} ({'planned: ' if here else ''}{x.risk_difference_bias:+.3f} ± "
                       f"{x.risk_difference_bias_se:.3f})")
        else:
            near.append(name + (" (planned)" if here else ""))
    parts = []
    if near:
        parts.append(f"Within {BIASED_SE:g} Monte Carlo SE of the true value: {and_list(near)}.")
    if off:
        parts.append(f"Biased by more than {BIASED_SE:g} Monte Carlo SE: {and_list(off)}.")
    return " ".join(parts)


def _tipping(results: RunResults, figure: dict | None) -> dict | None:
    """The tipping-point grid: what it is, the sentence naming where power tips, the heatmap and
    one table per comparison (as tipping_point.csv)."""
    p, scenario = results.power, results.scenario
    if not p.tipping_point:
        return None
    t = scenario.trial
    multiple = len(p.comparisons) > 1
    lead = (f"The planned analysis ({MISSING_WORDS.get(p.missing_strategy, p.missing_strategy)}) repeated with the "
            f"imputed patients' log-odds of remission at month {t.endpoint_month:g} shifted by each pair of "
            "analysis.tipping_point_deltas, one for the control arm and one for the experimental arm (negative: "
            "fewer remissions among the imputed than the imputation model gives; 0 and 0: the planned analysis): "
            "how far the missing endpoints would have to be from the model before the conclusion changes."
            + (" Each comparison at its own level, before any multiplicity adjustment." if multiple else ""))
    tables = []
    for arm in dict.fromkeys(r["arm"] for r in p.tipping_point):
        rows = [r for r in p.tipping_point if r["arm"] == arm]
        controls = sorted({r["delta_control"] for r in rows}, reverse=True)
        experimental = sorted({r["delta_experimental"] for r in rows})
        cell = {(r["delta_control"], r["delta_experimental"]): r for r in rows}
        body = [[_value(c), *[_pm(cell[(c, e)]["power"], cell[(c, e)]["mc_se"]) if (c, e) in cell else "—"
                              for e in experimental]] for c in controls]
        head = ["Control's shift \\ experimental's shift", *[_value(e) for e in experimental]]
        tables.append(_table(head, body, numeric=set(range(len(head))),
                             caption=f"Power ± Monte Carlo SE at each pair of shifts, "
                                     f"{comparison_name(scenario, arm)} (as tipping_point.csv)"))
    return {"text": [lead, *tipping_sentences(results)], "figure": figure, "tables": tables}


def tipping_sentences(results: RunResults) -> list[str]:
    """Per comparison, the smallest experimental shift (the control's at 0) at which power falls
    below the design's target power, and below 50%, or that none in the grid does."""
    from simulate.report.verdict import is_null

    p, scenario = results.power, results.scenario
    if is_null(p):
        return ["No true difference here: the grid's values are type I errors, not power, so there is no tipping "
                "point to name."]
    target = design_target(results)
    multiple = len(p.comparisons) > 1
    out = []
    for arm in dict.fromkeys(r["arm"] for r in p.tipping_point):
        rows = [r for r in p.tipping_point if r["arm"] == arm]
        c0 = min({r["delta_control"] for r in rows}, key=lambda d: (abs(d), d))
        line = {r["delta_experimental"]: r for r in rows if r["delta_control"] == c0}
        e0 = min(line, key=lambda d: (abs(d), d))
        shifts = sorted((d for d in line if d != e0), key=lambda d: (abs(d), d))
        pm = lambda r: f"{r['power']:.3f} ± {r['mc_se']:.3f}"  # noqa: E731
        first = lambda level: next((d for d in shifts if line[d]["power"] < level), None)  # noqa: E731
        span = f"from {min(line):g} to {max(line):g}"
        who = f"For {comparison_name(scenario, arm)}: " if multiple else ""
        base = line[e0]
        unshifted = ("Unshifted" if c0 == 0 and e0 == 0 else
                     f"With the control's shift at {c0:g} and the experimental's at {e0:g} (the nearest to 0 in the "
                     "grid)")
        along = ("with the control's imputed patients unshifted" if c0 == 0 else
                 f"with the control's shift at {c0:g} (the grid has no 0)")
        goal = f"the design's {percent(target)} target power"
        text = f"{who}{unshifted}, power is {pm(base)}"
        if base["power"] < target:
            text += f", already below {goal}"
            if base["power"] < 0.5:
                text += " and below 50%."
            else:
                d = first(0.5)
                text += (f"; {along}, it falls below 50% at an experimental shift of {d:g} (power {pm(line[d])})."
                         if d is not None else f"; {along}, no experimental shift in the grid ({span}) takes it "
                                               "below 50%.")
        else:
            d = first(target)
            if d is None:
                low = min(line.values(), key=lambda r: r["power"])
                text += (f"; {along}, no experimental shift in the grid ({span}) takes it below {goal} (lowest: "
                         f"{pm(low)} at {low['delta_experimental']:g}), nor below 50%.")
            else:
                text += f"; {along}, it falls below {goal} at an experimental shift of {d:g} (power {pm(line[d])})"
                d50 = first(0.5)
                text += (f", and below 50% at {d50:g} (power {pm(line[d50])})." if d50 is not None
                         else f", and no shift in the grid ({span}) takes it below 50%.")
        out.append(text)
    return out


# ----------------------------------------------------------------------------- captions and alt text


def _captions(results: RunResults) -> dict[str, str]:
    p, scenario = results.power, results.scenario
    out = {}
    points = method_points(results)
    if points:
        axes = method_axes(results.sweep.axes)
        what = and_list([_axis_words(scenario, a) for a in axes])
        first = (f" (first comparison: {comparison_name(scenario, p.comparisons[0].arm)})"
                 if len(p.comparisons) > 1 else "")
        band = (", with its ±2 Monte Carlo SE band" if any(r["truth_se"] > 0 for r in methods_rows(results)) else "")
        out[METHODS_FIGURE] = (
            f"Each row is one point of the sensitivity grid where only {what} change{'s' if len(axes) == 1 else ''} "
            f"(the other axes at the planned design's values): the dot is the mean estimated risk difference{first} over "
            f"{points[0][0].replicates:,} simulated trials with ±2 Monte Carlo SE bars, the dashed line the "
            f"estimand's true value{band}; red and bold: the planned design. Beside each row, its bias (mean "
            "estimate less the true value) and the coverage of its 95% interval, each ± Monte Carlo SE (as "
            "sweep.csv).")
    if p.tipping_point:
        target = design_target(results)
        out[TIPPING_FIGURE] = (
            f"Each cell is the simulated power of the planned analysis "
            f"({MISSING_WORDS.get(p.missing_strategy, p.missing_strategy)}) over {p.replicates:,} trials with the "
            f"imputed patients' log-odds of remission at month {scenario.trial.endpoint_month:g} shifted by the row's "
            "amount in the control arm and the column's in the experimental arm (negative: fewer remissions among "
            f"the imputed), to two decimals on one colour scale from 0 to 1; white outlines mark at least "
            f"{target:.2f} (the design's target power) and the red one the unshifted analysis (0, 0). As "
            "tipping_point.csv, where each cell also has its Monte Carlo SE and mean estimate.")
    return out


def _alts(results: RunResults) -> dict[str, str]:
    p = results.power
    out = {}
    rows = methods_rows(results)
    if rows:
        truths = {round(r["truth"], 6) for r in rows}
        truth = f"the true value {rows[0]['truth']:.3f}" if len(truths) == 1 else "each point's true value"
        out[METHODS_FIGURE] = (f"Dot plot of the mean estimated difference of {len(rows)} analyses against {truth}: "
                               + "; ".join(f"{r['label']} {r['estimate']:.3f} (bias {r['bias']:+.3f}, coverage "
                                           f"{r['coverage']:.3f})" for r in rows) + ".")
    if p.tipping_point:
        powers = [r["power"] for r in p.tipping_point]
        base = [r for r in p.tipping_point if r["delta_control"] == 0 and r["delta_experimental"] == 0]
        out[TIPPING_FIGURE] = (f"Heatmap of power over {len(powers)} pairs of shifts of the imputed patients' "
                               f"log-odds of remission ({TIPPING_AXES[0]} down the side, experimental along the "
                               f"bottom), from {min(powers):.2f} to {max(powers):.2f}"
                               + (f"; unshifted {base[0]['power']:.2f}" if base else "") + ".")
    return out
