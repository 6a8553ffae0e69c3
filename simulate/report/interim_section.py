"""The report's section on interim looks: what they are and when they come, in words; their table
(as looks.csv); what they give against the same trials without them (as power.csv and
fixed_design.csv); the boundary and stopping figures with their captions and alt text.
"""

from __future__ import annotations

import numpy as np
from markupsafe import Markup

from simulate.report.captions import INTERIM_FIGURES, _figure
from simulate.report.formatting import _f, _pm, _table
from simulate.report.words import SPENDING_WORDS, _level, percent_list
from simulate.run.results import PowerResult, RunResults


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
    p = results.power
    if not p.looks:
        return None
    detail = getattr(results, "interim", None)
    fixed = detail.fixed if detail is not None else None
    bayes = results.scenario.analysis.framework == "bayesian"
    adjusted = results.scenario.analysis.adjustment == "g_computation"
    statistic = ("the posterior probability of benefit" if bayes else
                 "the Wald z of the covariate-adjusted (g-computation) risk difference" + (" at the margin" if
                                                                                          p.hypothesis == "non_inferiority" else "")
                 if adjusted else
                 "the Farrington–Manning z at the margin" if p.hypothesis == "non_inferiority"
                 else "the pooled z (the score statistic)")
    text = _interim_text(results, fixed, statistic)
    looks = p.looks
    rule = results.scenario.interim.futility if results.scenario.interim is not None else "none"
    rows = []
    for i, k in enumerate(looks):
        name = f"{i + 1} (final)" if i == len(looks) - 1 else f"{i + 1} (interim)"
        rows.append([name, _f(k.information_fraction, ".2f"),
                     *((_f(k.efficacy_probability), _f(k.futility_predictive)) if bayes else
                       (_f(k.efficacy_z), _f(k.futility_z))),
                     _pm(k.p_stop_efficacy, k.p_stop_efficacy_se), _pm(k.p_stop_futility, k.p_stop_futility_se),
                     _f(k.p_held), _f(k.mean_month, ".1f"), _f(k.mean_randomised, ".1f")])
    head = ["Look", "Information fraction",
            *(("Efficacy: posterior probability above", "Futility: predictive probability below") if bayes else
              ("Efficacy z", "Futility z")), "P(stop for efficacy) ± MC SE",
            "P(stop for futility) ± MC SE", "P(look held)", "Mean month", "Mean randomised"]
    note = Markup("Over {} simulated trials; the same numbers as <code>looks.csv</code>. Boundaries on the "
                  "z scale of {}: stop for efficacy at or above the efficacy z, for futility below the "
                  "futility z. At the final look the efficacy z is the bound of a trial that randomised its target (a "
                  "trial short of it spends the remaining alpha at its own information), and the two probabilities "
                  "are those of rejecting H0 there and of not rejecting it. Mean month and mean randomised: at the "
                  "look's data cut, over the trials that held it (at the final look, over those that reached it)."
                  ).format(f"{p.replicates:,}", statistic)
    if bayes:
        note = Markup("Over {} simulated trials; the same numbers as <code>looks.csv</code>. A look stops for efficacy "
                      "when the posterior probability of benefit is above its threshold, and for futility when the "
                      "predictive probability that the final analysis of the planned patients succeeds is below "
                      "the futility threshold (a dash: no such stop). At the final look the threshold is the success "
                      "threshold, and the two probabilities are those of succeeding there and of not succeeding. Mean "
                      "month and mean randomised: at the look's data cut, over the trials that held it (at the final "
                      "look, over those that reached it).").format(f"{p.replicates:,}")
    elif rule == "conditional_power":
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
    from simulate.report.boundary_table import boundary_table

    return {"text": text, "note": note, "boundaries": boundary_table(results),
            "looks": _table(head, rows, numeric=set(range(1, len(head))),
                            caption="Each look: its boundaries and how often it stops the trial"),
            "source": source,
            "compare": _table(compare_head, compare, numeric=set(range(1, len(compare_head))),
                              caption="The design with interim looks against the same trials without them"),
            "figures": figures}


def _interim_text(results: RunResults, fixed, statistic: str) -> list[str]:
    """The looks in words: what they are, when they come, and what they give against the fixed design."""
    from simulate.analysis.interim import look_counts

    p = results.power
    scenario, t = results.scenario, results.scenario.trial
    interim = scenario.interim
    looks, n = p.looks, scenario.n_target
    inner = looks[:-1]
    counts = look_counts([k.information_fraction for k in looks], n)
    one = len(inner) == 1
    at = percent_list([k.information_fraction for k in inner])
    who = ", ".join(f"{c:,}" for c in counts[:-1])
    spending = SPENDING_WORDS.get(interim.efficacy_spending, interim.efficacy_spending) if interim else "—"
    if interim is not None and interim.efficacy_spending == "hwang_shih_decani":
        spending += f" (gamma {interim.hsd_gamma:g})"
    rule = interim.futility if interim is not None else "none"
    bayes = scenario.analysis.framework == "bayesian"
    if bayes:
        spending = (f"above {inner[0].efficacy_probability:g}" if inner and inner[0].efficacy_probability is not None
                    else "never at an interim look") + f"; at the final analysis above {looks[-1].bound:g}"
    if rule == "predictive_probability":
        futility = (f"it stops for futility when the predictive probability that the final analysis of the planned "
                    f"patients succeeds, given the look's data, falls below {interim.futility_threshold:g}")
    elif rule == "beta_spending":
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
        + (f"{statistic} of the patients determined so far is compared with the thresholds: the trial stops and "
           f"succeeds when it is {spending} (a Bayesian rule spends no alpha: its type I error is simulated, and "
           f"trialsim calibrate tunes the thresholds to a target); {futility}. " if bayes else
           f"{statistic} of the patients determined so far is compared with the boundaries: at or above the efficacy "
           f"boundary the trial stops and rejects H0 ({spending}, {_level(p)} over all looks); {futility}. ")
        + (f"The decision comes {lag:g} month{'' if lag == 1 else 's'} after the data cut; " if lag > 0 else
           "The decision is taken at the data cut (no decision lag); ")
        + "enrolment closes then, and every patient randomised by then is followed to the endpoint and analysed "
        "(the overrun). Without a stop the final analysis comes when every randomised patient's endpoint is "
        "determined."
    ]
    text.append(" ".join(_interim_when(p, fixed, counts, t.endpoint_month, n)))
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
        f"{'success threshold' if bayes else 'critical value'}: {p.p_overrun_reversal:.3f} ± "
        f"{p.p_overrun_reversal_se:.3f} of the simulated trials.")
    return text


def _interim_when(p, fixed, counts: list[int], endpoint_month: float, n: int) -> list[str]:
    """When each look comes, and whether recruitment is over by the first."""
    inner = p.looks[:-1]
    when = []
    for i, k in enumerate(inner):
        if not np.isfinite(k.mean_month):
            when.append(f"Look {i + 1} is never held (no simulated trial reached {counts[i]:,} determined endpoints "
                        "before its final analysis).")
            continue
        when.append(f"Look {i + 1} comes at month {k.mean_month:.1f} on average (held in {100 * k.p_held:.1f}% of "
                    f"the trials), when {k.mean_randomised:.1f} patients have been randomised on average.")
    when.append(f"A patient's endpoint is determined {endpoint_month:g} months after randomisation (or at an "
                f"earlier dropout), so the looks wait for the month-{endpoint_month:g} visits of the first "
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
    return when


def _interim_captions(results: RunResults, with_fixed: bool) -> dict[str, str]:
    p, scenario = results.power, results.scenario
    detail = getattr(results, "interim", None)
    paths = detail.paths if detail is not None else ()
    rule = scenario.interim.futility if scenario.interim is not None else "none"
    fut = {"beta_spending": "the red line the futility boundary (stop below it); ",
           "conditional_power": "futility is by conditional power (no fixed z bound, so no line); ",
           "none": "there is no futility stop; "}.get(rule, "")
    if scenario.analysis.framework == "bayesian":
        fut = ("futility is by the predictive probability of success, which has no bound on this scale; "
               if rule == "predictive_probability" else "there is no futility stop; ")
        boundaries = ("The green line is the efficacy threshold on the posterior probability of benefit at each look "
                      "(markers at the looks; the lines between only guide the eye), " + fut + "the black diamond is "
                      "the final analysis's success threshold.")
    else:
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


def _interim_alts(results: RunResults) -> dict[str, str]:
    p = results.power
    inner = p.looks[:-1]
    if not p.looks:
        return {}
    bayes = results.scenario.analysis.framework == "bayesian"
    bounds = ", ".join(f"{k.bound:.3f}" if bayes else f"{k.efficacy_z:.2f}" for k in p.looks)
    scale = "posterior probability" if bayes else "z"
    return {"boundaries": f"Efficacy boundaries on the {scale} scale at the {len(p.looks)} looks ({bounds}) with the "
                          f"simulated {scale} paths of the first trials.",
            "stopping": "Bar charts: "
                        + "; ".join(f"look {i + 1} stops {k.p_stop_efficacy:.0%} for efficacy and "
                                    f"{k.p_stop_futility:.0%} for futility" for i, k in enumerate(inner))
                        + f"; expected N {p.expected_randomised:.0f}, decision at month "
                          f"{p.expected_duration_months:.0f} on average."}
