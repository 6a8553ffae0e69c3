"""The verdict card at the top of the report: the conclusion, in words, from the run's results.

One kind of sentence per kind of design: a null scenario (the power is a type I error), a design
that reaches its lowest power target, one that falls short of it (with the n that reaches it and
how often a trial of that size recruits on time), one limited by recruitment; several arms,
non-inferiority and interim looks add their own line; a real trial's accrual closes it.
Every figure comes from :class:`~simulate.run.results.RunResults`; nothing is computed here beyond
choosing which sentence applies. Whether the power is a type I error is the design's one rule,
:func:`simulate.design.assumed.result_has_no_benefit` (``is_null`` here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulate.design.assumed import result_has_no_benefit as is_null
from simulate.report.sentences.common import (against_alpha_word, design_caveats, hard_stop_clause,
                                              observed_accrual_sentence, on_time_clause)
from simulate.report.words import _level, comparison_name, percent, success_phrase
from simulate.run.results import PowerResult, RunResults, SampleSizeResult

ON_TIME_LOW = 0.5
"""Below this chance of recruiting within the planned window, recruitment is called the limit."""
TERMINATED_HIGH = 0.2
"""Above this chance of termination at the hard stop, likewise."""


@dataclass(frozen=True)
class Verdict:
    headline: str
    lines: tuple[str, ...]
    tone: str
    """``good``, ``warn`` or ``bad``: the card's border colour."""
    kind: str
    """``null``, ``powered``, ``under_powered`` or ``recruitment_limited``."""


_pct = percent


def _what(results: RunResults) -> str:
    """What the power counts, briefly."""
    s, p = results.scenario, results.power
    if len(p.comparisons) > 1:
        return f"the chance that {success_phrase(s, p.success, len(p.comparisons), p.hypothesis)}"
    arm = p.comparisons[0].arm if p.comparisons else s.experimental_arms[0]
    if p.hypothesis == "non_inferiority":
        return f"power to show {comparison_name(s, arm).replace(' vs ', ' non-inferior to ')} (margin {p.margin:g})"
    return "power"


def _lowest_target(results: RunResults) -> SampleSizeResult | None:
    searches = sorted(results.samplesize.searches, key=lambda x: x.target)
    return searches[0] if searches else None


def _on_time_at(results: RunResults, n: int) -> float | None:
    for point in results.samplesize.curve:
        if point.n_per_arm == n:
            return point.p_recruitment_on_time
    return None


def _recruitment_line(results: RunResults, on_time_said: bool = False) -> str:
    s, p = results.scenario, results.power
    t = s.trial
    if not np.isfinite(p.recruitment_months_q50):
        return (f"No simulated trial randomised a patient: every one ends at the hard stop (month "
                f"{t.hard_stop_months:g}, when enrolment closes whatever the count).")
    who = "no simulated trial stops" if p.p_terminated == 0 else f"{_pct(p.p_terminated)} stop"
    stop = f"{who} {hard_stop_clause(s)}."
    if on_time_said:                                  # the share on time is the verdict's first line
        return stop[0].upper() + stop[1:]
    return f"{on_time_clause(s, p)}; {stop}"


def _dropout_line(low: SampleSizeResult | None, target: float) -> str:
    """What dropout costs, by one closed form (Fleiss, with continuity correction) with and
    without it (empty where the closed forms do not apply or dropout changes nothing)."""
    a = low.analytic if low is not None else None
    if a is None or a.fleiss_cc is None or a.fleiss_cc_with_dropout is None or a.fleiss_cc_with_dropout <= a.fleiss_cc:
        return ""
    return (f"Dropout costs power: the closed form (Fleiss, with continuity correction; an approximation that "
            f"leaves recruitment out) puts {_pct(target)} power at {a.fleiss_cc} per arm with no dropout and "
            f"{a.fleiss_cc_with_dropout} per arm randomised with it ({a.dropout_rule}).")


def _looks_line(p: PowerResult) -> str:
    inner = p.looks[:-1]
    eff = sum(k.p_stop_efficacy for k in inner)
    fut = sum(k.p_stop_futility for k in inner)
    n = len(inner)
    return (f"With {n} interim look{'s' if n != 1 else ''}, {_pct(eff)} of trials stop early for efficacy and "
            f"{_pct(fut)} for futility; the decision comes at month {p.expected_duration_months:.0f} on average, "
            f"with {p.expected_randomised:.0f} patients randomised on average.")


def verdict(results: RunResults) -> Verdict:
    """The verdict for any design the results describe."""
    s, p = results.scenario, results.power
    lines: list[str] = []
    limited = p.p_recruitment_on_time < ON_TIME_LOW or p.p_terminated > TERMINATED_HIGH
    low = _lowest_target(results)
    level = _level(p)
    if is_null(p):
        kind = "null"
        judged = against_alpha_word(p.power, p.mc_se, p.alpha)
        tone = "bad" if judged == "above" else "good"
        effect = "effect" if p.hypothesis == "non_inferiority" or all(c.true_difference == 0 for c in p.comparisons) \
            else "benefit"              # an arm worse than the control, tested one-sided: an effect, no benefit
        headline = (f"No true {effect} here: the chance of a {'non-inferiority claim' if p.hypothesis == 'non_inferiority' else 'significant result'} "
                    f"is the type I error, {p.power:.3f} (Monte Carlo SE {p.mc_se:.3f}), {judged} the nominal "
                    f"{level}.")
    else:
        target = low.target if low is not None else 0.8
        what = _what(results)
        lead = (f"At {p.n_per_arm} per arm, {what} is {_pct(p.power)}" if what.startswith("the chance") else
                f"The design has {_pct(p.power)} {what} at {p.n_per_arm} per arm")
        staged = p.design_stage if s.outcome.rates_are == "published" and p.design_stage and \
            "power" in p.design_stage else None
        if staged is not None:      # hindsight beside the design-stage question: the latter decides
            met = staged["power"] >= target
            kind, tone = ("powered", "good") if met else ("under_powered", "warn")
            headline = (f"At the published rates {what} is {_pct(p.power)}; at the rates the design assumed it is "
                        f"{_pct(staged['power'])}, {'meeting' if met else 'below'} its {_pct(target)} target.")
        elif p.power >= target:
            kind, tone = "powered", "good"
            headline = f"{lead}, meeting its {_pct(target)} target."
        else:
            kind, tone = "under_powered", "warn"
            headline = f"{lead}, below its {_pct(target)} target."
            if low is not None and low.n_per_arm is not None:
                on_time = _on_time_at(results, low.n_per_arm)
                need = f"{_pct(target)} power needs {low.n_per_arm} per arm"
                if on_time is not None:
                    need += (", at which no simulated trial recruits on time" if on_time == 0 else
                             f", at which {_pct(on_time)} of simulated trials recruit on time")
                lines.append(need + ".")
            elif low is not None:
                lines.append(f"{_pct(target)} power is not reached{': ' + low.note if low.note else ''}.")
            why = _dropout_line(low, target)
            if why:
                lines.append(why)
        if limited:
            under = kind == "under_powered"
            kind = "recruitment_limited"
            tone = "bad" if p.p_recruitment_on_time < ON_TIME_LOW / 2 else "warn"
            share = ("no simulated trial recruits" if p.p_recruitment_on_time == 0 else
                     f"only {_pct(p.p_recruitment_on_time)} of simulated trials recruit")
            # short of power and slow to recruit are separate problems: say which is which
            what = "Recruitment is a second, separate risk" if under else "Recruitment is the limit"
            lines.insert(len(lines) if under else 0, f"{what}: {share} {s.n_target} patients within the planned "
                                                     f"{s.trial.recruitment_months:g} months.")
    if p.mc_se == 0 and p.power in (0, 1) and p.replicates:
        from simulate.report.formatting import exact_bound

        every = p.power >= 1
        lines.append(f"{'Every one' if every else 'None'} of the {p.replicates:,} simulated trials "
                     f"succeeded: the Monte Carlo SE is 0 and says nothing, so the "
                     f"exact 95% {'lower' if every else 'upper'} bound is given instead: "
                     f"{exact_bound(p.power, p.replicates):.4f}.")
    lines += design_caveats(s, p)
    if len(p.comparisons) > 1:
        lines.append("Each comparison: " + "; ".join(
            f"{comparison_name(s, c.arm)} {_pct(c.power)}" for c in p.comparisons) + ".")
    if p.looks:
        lines.append(_looks_line(p))
    lines.append(_recruitment_line(results, on_time_said=kind == "recruitment_limited"))
    observed = observed_accrual_sentence(s)
    if observed:
        lines.append(observed)
    lines.append(f"Percentages are over {p.replicates:,} simulated trials; the report's tables give each with its "
                 "Monte Carlo standard error (the ± figures).")
    return Verdict(headline, tuple(lines), tone, kind)
