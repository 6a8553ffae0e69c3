"""The report's tables of the design and what it achieves: power and operating characteristics at
the planned size, each comparison with the control, remission at each visit per arm (with any
published figures beside it), the sample size for each power target (simulated and closed-form)
and the sensitivity grid. Each builds a :class:`~simulate.report.formatting.Block` from the
results; none computes a statistic.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from markupsafe import Markup

from simulate.design import scenario as sc
from simulate.report.formatting import Block, _f, _p, _pm, _table, _value, share_pm
from simulate.report.words import (ENDPOINT_WORDS, MISSING_WORDS, MULTIPLICITY_WORDS, TEST_NAMES, _level,
                                   comparison_name, hypothesis_phrase, label, significant_word, success_phrase)
from simulate.report.sentences.common import true_difference_words
from simulate.run.results import PowerResult, SampleSizePlan, SweepResult, TYPE_ONE_SE, against_alpha


def _power_table(scenario: sc.Scenario, p: PowerResult, null: bool = False) -> Block:
    """The design and its operating characteristics (``null``: the power is a type I error)."""
    t = scenario.trial
    control = label(scenario, scenario.control_arm)
    many = len(p.comparisons) > 1
    notes: tuple = ()
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
         share_pm(p.power, p.mc_se, p.replicates)],
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
        if scenario.dropout.probability_by_endpoint > 0 and p.missing_strategy != "complete_case":
            from simulate.design.assumed import dropout_adjustment

            adj = dropout_adjustment(scenario)
            counted = "as failures" if p.missing_strategy == "nonresponder" else "at their last status"
            rows.insert(len(rows) - 3, [f"Risk difference the estimate targets (dropouts counted {counted})",
                                        _f(adj.p_treat - adj.p_control)])
            notes = (_p(f"The true risk difference is {true_difference_words(scenario)}. With dropouts counted "
                        f"{counted}, the analysed rates are {adj.p_control:.3f} and {adj.p_treat:.3f}, so the "
                        f"estimate targets {adj.p_treat - adj.p_control:.3f}: the bias and coverage against the true "
                        "difference include the missing-data rule's own dilution, not only the estimator's."),)
    return Block("Power and operating characteristics at the planned size", notes, (
        _table(["Quantity", "Value"], rows, caption=f"The design as simulated and its operating characteristics "
                                                    f"over {p.replicates:,} simulated trials (as power.csv)"),))


def _comparisons_table(scenario: sc.Scenario, p: PowerResult) -> Block | None:
    """Each experimental arm against the control, then any and all (with several comparisons)."""
    if len(p.comparisons) <= 1:
        return None
    word = significant_word(p.hypothesis)
    rows = [[comparison_name(scenario, c.arm), share_pm(c.power, c.mc_se, p.replicates), _f(c.true_difference),
             _pm(c.mean_risk_difference, c.risk_difference_bias_se), _f(c.ci_coverage), _f(c.mean_ci_width),
             _f(c.exaggeration_ratio, ".2f")] for c in p.comparisons]
    rows += [[f"At least one comparison {word} (any)", share_pm(p.power_any, p.power_any_mc_se, p.replicates),
              *["—"] * 5],
             [f"Every comparison {word} (all)", share_pm(p.power_all, p.power_all_mc_se, p.replicates), *["—"] * 5]]
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
    from simulate.design.assumed import primary_arm

    ni, many = p.hypothesis == "non_inferiority", len(p.comparisons) > 1
    columns = _ANALYTIC_NI if ni else _ANALYTIC
    # closed forms only where at least one target has one (none when the arms do not differ)
    columns = {k: v for k, v in columns.items()
               if any(getattr(s.analytic, k, None) is not None for s in plan.searches)}
    rows = []
    for s in plan.searches:
        refs = [_f(getattr(s.analytic, k, None), "") for k in columns]
        rows.append([f"{s.target:.0%}", _f(s.n_per_arm, "d"), share_pm(s.power, s.mc_se, s.replicates), *refs,
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
        caption = "n per arm for each power target: simulated and closed-form (as samplesize_targets.csv)"
    else:
        closed = (" No closed-form n is given: the formulas need a difference between the arms"
                  + (" beyond the margin" if ni else "") + ", and there is none here.")
        caption = "n per arm for each power target, as simulated (as samplesize_targets.csv)"
    if null and plan.curve:
        # H0 holds: no n reaches a power target, so the section is the type I error at each n
        curve = sorted(plan.curve, key=lambda c: c.n_per_arm)
        above = {i: "good" for i, c in enumerate(curve) if against_alpha(c.power, c.mc_se, p.alpha) > 0}
        table = _table(
            ["Patients per arm (n)", "Type I error ± MC SE", "95% interval", "P(recruited on time)", "Mean randomised"],
            [[str(c.n_per_arm), _pm(c.power, c.mc_se), f"{_f(c.ci_low)} – {_f(c.ci_high)}",
              _f(c.p_recruitment_on_time, ".3f"), _f(c.mean_randomised, ".1f")] for c in curve],
            numeric=set(range(5)), cell_classes={(i, 1): c for i, c in above.items()},
            caption="Type I error at each n simulated (as samplesize.csv)")
        lead = (f"H0 holds here (the arms do not differ), so there is no power target to reach: the table gives "
                f"the type I error at each n per arm simulated, with recruitment, dropout and the planned analysis, "
                f"against alpha ({p.alpha:.3f}); above it by more than {TYPE_ONE_SE:g} Monte Carlo SE in bold.")
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
