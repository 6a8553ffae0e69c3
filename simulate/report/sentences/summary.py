"""The run's plain-language summary: the report's first paragraph and what ``trialsim run``
prints, one sentence per item, with the run's own figures; the line on interim looks; the line
on where the results are."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulate.design import scenario as sc
from simulate.design.assumed import primary_arm, result_has_no_benefit
from simulate.run.plan import FEW_REPLICATES
from simulate.report.formatting import share_pm
from simulate.report.sentences.common import (above_alpha_clause, few_trials, hard_stop_clause, no_benefit_reason,
                                              observed_rate_sentence, on_time_clause, winners_curse)
from simulate.report.words import (ENDPOINT_WORDS, INTERCURRENT_KIND_WORDS, MISSING_WORDS, MULTIPLICITY_SHORT, TEST_NAMES, _level, and_list,
                                   comparison_name, percent, percent_list, significant_word, success_phrase)
from simulate.run.results import PowerResult, SampleSizePlan, against_alpha


def plain_summary(scenario: sc.Scenario, p: PowerResult, plan: SampleSizePlan,
                  fixed: PowerResult | None = None) -> tuple[str, ...]:
    """The report's first paragraph, in plain language with the run's own figures: the arms by
    their labels, each experimental arm against the control; with interim looks, one line on
    what they stop and save (against ``fixed``, the same trials without the looks, if given)."""
    d = scenario.dropout.probability_by_endpoint
    null, ni, many = result_has_no_benefit(p), p.hypothesis == "non_inferiority", len(p.comparisons) > 1
    control = scenario.arm(scenario.control_arm).label
    first = scenario.arm(p.comparisons[0].arm if p.comparisons else scenario.experimental_arms[0]).label
    k = len(p.comparisons)
    counted = success_phrase(scenario, p.success, k, p.hypothesis)
    why = no_benefit_reason(scenario, p) if null else ""
    if many:
        what = f"the chance that {counted} (here a type I error: {why})" if null \
            else f"power (the chance that {counted})"
    elif ni:
        what = f"the chance of concluding that {first} is non-inferior to {control} (here the type I error: {why})" \
            if null else f"power to show that {first} is non-inferior to {control} (margin {p.margin:g})"
    else:
        what = f"the chance of a significant result (here the type I error: {why})" if null else "power"
    level = _level(p)
    adjust = f" with {MULTIPLICITY_SHORT.get(p.multiplicity, p.multiplicity)}" if many else ""
    t = scenario.trial
    design = (f"{t.n_per_arm} per arm and {100 * d:.0f}% dropout" if t.endpoint == "cr_or_pr" else
              f"{t.n_per_arm} per arm, {100 * d:.0f}% dropout and {ENDPOINT_WORDS[t.endpoint]} at month "
              f"{t.endpoint_month:g} as the primary endpoint")
    lines = [
        f"With {design}, {what} is "
        f"{share_pm(p.power, p.mc_se, p.replicates)} ({TEST_NAMES.get(p.test, p.test)} at {level}{adjust}, "
        f"{MISSING_WORDS.get(p.missing_strategy, p.missing_strategy)}, {p.replicates:,} simulated trials)."
    ]
    if scenario.intercurrent and p.estimand:
        lines.append(estimand_sentence(scenario, p))
    if p.assurance_detail:
        lines.append(assurance_sentence(p))
    if many:
        word = significant_word(p.hypothesis)
        lines.append(
            f"The chance of each comparison being {word}: "
            + "; ".join(f"{comparison_name(scenario, c.arm)} {share_pm(c.power, c.mc_se, p.replicates)}"
                        for c in p.comparisons)
            + f"; at least one of them: {share_pm(p.power_any, p.power_any_mc_se, p.replicates)}; all {k} together: "
              f"{share_pm(p.power_all, p.power_all_mc_se, p.replicates)}.")
    if p.looks:
        lines.append(interim_sentence(scenario, p, fixed))
    lines += type_one_error_line(plan, p, level) if null else sample_size_lines(scenario, plan, many, ni)
    if np.isfinite(p.recruitment_months_q50):
        lines.append(f"{on_time_clause(scenario, p)} (median {p.recruitment_months_q50:.0f} months to the last "
                     f"randomisation); {percent(p.p_terminated)} are terminated {hard_stop_clause(scenario)}.")
    else:
        lines.append(
            f"No patient was randomised in any simulated trial: every trial is terminated at the hard stop "
            f"({scenario.trial.hard_stop_months:g} months) with none of its {scenario.n_target} patients "
            f"(recruitment rate {scenario.recruitment.rate_per_site_month:g} referrals per site-month)."
        )
    if not ni:
        lines += winners_curse(scenario, p, null, many)
    observed = observed_rate_sentence(scenario)
    if observed:
        lines.append(observed)
    if p.replicates < FEW_REPLICATES:
        lines.append(f"Only {few_trials(p.replicates)}: the Monte Carlo "
                     f"error makes these figures unusable for planning; run at least {FEW_REPLICATES}.")
    return tuple(lines)


def estimand_sentence(scenario: sc.Scenario, p: PowerResult) -> str:
    """What the trial estimates when it has intercurrent events: each strategy in a few words and
    each comparison's true value beside the difference of the assumed rates (without the events)."""
    said = {"composite": "counts {} as no remission (composite)",
            "treatment_policy": "counts the outcome whatever follows {} (treatment policy)",
            "hypothetical": "asks what would have happened without {} (hypothetical)",
            "while_on_treatment": "takes the status before {} (while on treatment)"}
    by_strategy: dict[str, list[str]] = {s: [] for s in said}
    for event in p.estimand["intercurrent_events"]:
        kind = INTERCURRENT_KIND_WORDS.get(event["kind"], event["kind"])
        reason = event["reason"]
        by_strategy[event["strategy"]].append(f"{kind} for {reason}" if reason and reason != kind else kind)
    how = and_list([said[s].format(and_list(names)) for s, names in by_strategy.items() if names])
    truths = []
    for v in p.estimand["true_values"]:
        assumed = scenario.arm(v["arm"]).remission_at_endpoint - scenario.arm(v["control"]).remission_at_endpoint
        who = f" for {comparison_name(scenario, v['arm'])}" if len(p.estimand["true_values"]) > 1 else ""
        truths.append(f"{v['true_difference']:+.3f} ± {v['true_difference_mc_se']:.3f}{who} (the assumed rates "
                      f"without these events differ by {assumed:+.3f})")
    return f"The estimand {how}: its true difference is {and_list(truths)}."


def assurance_sentence(p: PowerResult) -> str:
    """The assurance beside the power: the chance of success over the design priors."""
    d = p.assurance_detail
    return (f"Over the design priors (what the rates may truly be, rather than one assumed point) the chance of "
            f"success, the assurance, is {p.assurance:.3f} ± {p.assurance_mc_se:.3f}; the priors give a true "
            f"benefit a probability of {d['prior_probability_of_benefit']:.2f}, and the power at the drawn rates "
            f"is below one half in {100 * d['conditional_power']['share_below_half']:.0f}% of them "
            f"(normal approximation).")


def sample_size_lines(scenario: sc.Scenario, plan: SampleSizePlan, many: bool, ni: bool) -> list[str]:
    """The n per arm each power target needs, beside the closed form; or why it is not reached
    (one line for the targets that share a reason)."""
    lines: list[str] = []
    not_reached: dict[str, tuple[int, list[str]]] = {}  # note -> (its line, the targets it applies to)
    for s in plan.searches:
        pct = f"{round(100 * s.target)}%"
        if s.n_per_arm is not None:
            a = s.analytic
            which = (f" for one comparison, {comparison_name(scenario, primary_arm(scenario))}, at alpha "
                     f"{a.alpha:g}, without dropout" if many else " without dropout")
            if ni:
                closed = (f" (closed form{which}: {a.farrington_manning} by Farrington and Manning)"
                          if a.farrington_manning is not None else "")
                lines.append(f"{pct} power needs {s.n_per_arm} per arm{closed}.")
                continue
            lines.append(f"{pct} power needs {s.n_per_arm} per arm (closed form{which}: "
                         f"{a.pooled_normal} by the pooled normal approximation, "
                         f"{a.fleiss_cc} by Fleiss with continuity correction).")
        elif s.note in not_reached:
            line, targets = not_reached[s.note]
            targets.append(pct)
            lines[line] = f"{' or '.join(targets)} power is not reached: {s.note}."
        else:
            not_reached[s.note] = (len(lines), [pct])
            lines.append(f"{pct} power is not reached: {s.note}.")
    return lines


def type_one_error_line(plan: SampleSizePlan, p: PowerResult, level: str) -> list[str]:
    """A null scenario's answer to the sample-size question: H0 holds, so no n reaches a power
    target; the type I error over the simulated sizes against alpha (judged within 2 Monte Carlo SE)."""
    curve = sorted(plan.curve, key=lambda c: c.n_per_arm)
    if not curve:
        return []
    above = [c.n_per_arm for c in curve if against_alpha(c.power, c.mc_se, p.alpha) > 0]
    lowest, highest = min(c.power for c in curve), max(c.power for c in curve)
    judged = above_alpha_clause(above)
    return [f"H0 holds here, so there is no power target to reach: at the {len(curve)} sizes simulated "
            f"(n = {curve[0].n_per_arm} to {curve[-1].n_per_arm} per arm) the type I error is between {lowest:.3f} "
            f"and {highest:.3f}, against the nominal {level}; {judged}."]


def interim_sentence(scenario: sc.Scenario, p: PowerResult, fixed: PowerResult | None = None) -> str:
    """One plain line on the interim looks: when they come, what they stop, what they save."""
    from simulate.report.interim_section import recruitment_done_at_first_look

    interim_looks = p.looks[:-1]
    rule = scenario.interim.futility if scenario.interim is not None else "none"
    at = percent_list([k.information_fraction for k in interim_looks])
    months = and_list([f"{k.mean_month:.0f}" for k in interim_looks])
    one = len(interim_looks) == 1
    verb = f"stop{'s' if one else ''}"
    efficacy = scenario.interim is None or scenario.interim.efficacy_spending != "none"
    if efficacy:
        stops = f"{verb} {percent_list([k.p_stop_efficacy for k in interim_looks])} of trials for efficacy"
        if rule != "none":
            stops += f" and {percent_list([k.p_stop_futility for k in interim_looks])} for futility"
    else:
        stops = (f"{verb} {percent_list([k.p_stop_futility for k in interim_looks])} of trials for futility "
                 "(no efficacy stop before the final analysis)")
    when = (f"month{'' if one else 's'} {months} on average" if all(k.p_held > 0 for k in interim_looks) else
            f"held in {percent_list([k.p_held for k in interim_looks])} of trials")   # a look no trial reached has no month
    head = f"{'An interim look' if one else 'Interim looks'} at {at} of the endpoints ({when}) {stops}"
    if fixed is not None:
        same = f"{p.expected_randomised:.1f}" == f"{fixed.mean_randomised:.1f}"
        without = f"without the look{'' if one else 's'}"
        decide = (f"as {without}" if f"{p.expected_duration_months:.0f}" == f"{fixed.mean_duration_months:.0f}"
                  else f"instead of {fixed.mean_duration_months:.0f} {without}")
        tail = (f"trials decide at month {p.expected_duration_months:.0f} on average {decide}, and randomise "
                + (f"as many patients ({p.expected_randomised:.1f} on average)" if same else
                   f"{p.expected_randomised:.1f} patients on average instead of {fixed.mean_randomised:.1f}"))
    else:
        tail = (f"trials decide at month {p.expected_duration_months:.0f} on average and randomise "
                f"{p.expected_randomised:.1f} patients of the planned {scenario.n_target}")
    line = f"{head}; {tail}."
    if recruitment_done_at_first_look(p, fixed, scenario.n_target):
        line += (f" Recruitment is over by the first look, which waits for the month-"
                 f"{scenario.trial.endpoint_month:g} endpoints: the look{'' if one else 's'} "
                 f"save{'s' if one else ''} follow-up time, not patients.")
    return line


def folder_sentence(scenario: sc.Scenario, out_dir: Path, overrides: tuple[str, ...]) -> str | None:
    """The summary's line on the overrides and where the results are: for a run with ``--set``
    overrides, or in a folder not named after the scenario (None otherwise, as for the
    scenario file's own run in ``results/<name>/``)."""
    from simulate.run.folders import HASH_CHARS

    short = sc.scenario_hash(scenario)[:HASH_CHARS]
    if overrides:
        sets = ", ".join(f"--set {text}" for text in overrides)
        return (f"This run changes the scenario file with {sets} (scenario hash {short}); its results are in "
                f"{out_dir}/.")
    if out_dir.name != scenario.name:
        return f"The results of this run are in {out_dir}/ (scenario hash {short})."
    return None
