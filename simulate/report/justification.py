"""A sample-size justification a statistician pastes into a protocol: the design, the test and
its level, each assumption with its source, dropout, recruitment, the simulated power with its
Monte Carlo error, the closed-form check, the n for 80% and 90% power, and the software version
and command that reproduce it. The report shows it (``id="justification"``) and the main job
writes it as ``justification.md``; every number is the run's own."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from simulate.analysis import registry
from simulate.report.words import (DROPOUT_MECHANISM_WORDS, ENDPOINT_WORDS, MISSING_WORDS, SPENDING_WORDS, and_list,
                                   label, percent)

if TYPE_CHECKING:
    from simulate.run.results import RunResults

JUSTIFICATION_FILE = "justification.md"
"""The justification's file in a run's folder."""


def _source(results: RunResults, path: str) -> str:
    """The scenario file's comment on a field, as a source in brackets ("" without one)."""
    note = (results.source.comments.get(path, "") if results.source is not None else "").strip()
    if not note:
        return ""
    note = re.sub(r"\[assumption:?\s*", "assumed: ", note, flags=re.IGNORECASE).replace("]", "")
    return f" ({note.rstrip('.')})"


def _reproduce_command(results: RunResults) -> str:
    from simulate.report.provenance import _reproduce

    return _reproduce(results)["command"]


def paragraphs(results: RunResults) -> list[str]:
    """The justification, paragraph by paragraph, in plain text (Markdown-safe)."""
    from simulate import __version__

    s, p, a = results.scenario, results.power, results.scenario.analysis
    control = s.control_arm
    endpoint = ENDPOINT_WORDS[s.trial.endpoint]
    arms = [label(s, arm) for arm in s.arm_names]
    allocation = ":".join(str(s.arm(arm).allocation) for arm in s.arm_names)
    entry = registry.get(a.test)
    sided = "one-sided" if a.alternative == "greater" else "two-sided"
    if a.framework == "bayesian":
        rule = (f"a Bayesian analysis declaring success when the posterior probability that "
                f"{label(s, s.experimental_arms[0])} is better{' by more than minus the margin' if a.margin else ''} "
                f"exceeds {a.success_threshold:g}")
    elif a.hypothesis == "non_inferiority":
        rule = f"{entry.title} for non-inferiority with margin {a.margin:g}, {sided} alpha {a.alpha:g}"
    else:
        rule = f"{entry.title}, {sided} alpha {a.alpha:g}"
    if a.adjustment == "g_computation":
        rule += f", adjusted for {and_list(list(a.adjust_for))} by g-computation (model-robust variance)"
    if len(s.experimental_arms) > 1 and a.multiplicity != "none":
        rule += f", with {a.multiplicity.capitalize()}'s adjustment over the {len(s.experimental_arms)} comparisons"
    rates = "; ".join(f"{label(s, arm)} {s.arm(arm).remission_at_endpoint:.0%}"
                      + _source(results, f"arms.{arm}.remission_at_endpoint") for arm in s.arm_names)
    design = (f"The trial randomises {s.n_target} patients {allocation} to {and_list(arms)} ({s.trial.n_per_arm} per "
              f"arm at the planned size). The primary endpoint is {endpoint} at month {s.trial.endpoint_month:g}, "
              f"analysed by {rule}.")
    assumed = f"The sample size assumes {endpoint} at month {s.trial.endpoint_month:g} of: {rates}."
    if s.intercurrent:
        truths = "; ".join(f"{label(s, c.arm)} against {label(s, control)} {c.true_difference:+.3f}"
                           for c in p.comparisons)
        from simulate.design.estimand import strategy_of

        events = and_list([f"{e.reason or key.replace('_', ' ')} "
                           f"({strategy_of(s.intercurrent, s.estimand, key).replace('_', ' ')})"
                           for key, e in s.intercurrent.items()])
        assumed += (f" The estimand handles the intercurrent events {events}; with them the true difference the trial "
                    f"estimates is {truths}.")
    d = s.dropout
    dropout = (f"Dropout before month {s.trial.endpoint_month:g} is assumed in {percent(d.probability_by_endpoint)} of "
               f"patients{_source(results, 'dropout.probability_by_endpoint')}, "
               f"{DROPOUT_MECHANISM_WORDS.get(d.mechanism, d.mechanism)}, handled by "
               f"{MISSING_WORDS.get(a.missing, a.missing)}.")
    r = s.recruitment
    recruitment = (f"Recruitment is simulated at {r.sites} sites with {r.rate_per_site_month:g} referrals per site per "
                   f"month{_source(results, 'recruitment.rate_per_site_month')}, screened against the eligibility "
                   f"criteria, over a planned {s.trial.recruitment_months:g} months with enrolment closing at month "
                   f"{s.trial.hard_stop_months:g}: {percent(p.p_recruitment_on_time)} of simulated trials recruit on "
                   f"time and {percent(p.p_terminated)} close short of the target.")
    power = (f"Over {p.replicates:,} simulated trials (seed {results.seed}), the design's power is {p.power:.3f} "
             f"(Monte Carlo SE {p.mc_se:.3f}; 95% interval {p.ci_low:.3f}-{p.ci_high:.3f}).")
    if p.looks:
        i = s.interim
        power += (f" The trial has {len(p.looks) - 1} interim look{'s' if len(p.looks) > 2 else ''} at "
                  f"{and_list([f'{k.information_fraction:.0%}' for k in p.looks[:-1]])} of the endpoints "
                  + (f"({SPENDING_WORDS.get(i.efficacy_spending, i.efficacy_spending)})" if a.framework != "bayesian"
                     else "(posterior-probability efficacy)")
                  + f"; the expected number randomised is {p.expected_randomised:.1f}.")
    sizes = []
    for search in results.samplesize.searches:
        if search.n_per_arm is None:
            sizes.append(f"{search.target:.0%} power is not reached ({search.note})")
            continue
        lo, hi = search.n_range if search.n_range else (search.n_per_arm, search.n_per_arm)
        sizes.append(f"{search.target:.0%} power needs {search.n_per_arm} per arm (Monte Carlo range {lo}-{hi})")
    closed = ""
    first = results.samplesize.searches[0].analytic if results.samplesize.searches else None
    if first is not None and first.pooled_normal is not None:
        closed = (f" As a check, the pooled-normal closed form for {first.p_control:.3f} against {first.p_treat:.3f} "
                  f"gives {first.pooled_normal} per arm for {first.power:.0%} power without dropout"
                  + (f" and {first.pooled_normal_with_dropout} allowing for it" if first.pooled_normal_with_dropout
                     else "") + "; the simulation adds recruitment, screening, dropout and the test's own behaviour.")
    elif first is not None and first.farrington_manning is not None:
        closed = (f" As a check, Farrington and Manning's closed form gives {first.farrington_manning} per arm for "
                  f"{first.power:.0%} power without dropout.")
    sample = ("By the same simulation, " + "; ".join(sizes) + "." + closed) if sizes else closed.strip()
    software = (f"Simulated with trialsim {__version__} (code {results.code_hash or 'unrecorded'}); the command "
                f"`{_reproduce_command(results)}` reproduces every figure.")
    return [design, assumed + " " + dropout + " " + recruitment, power + " " + sample, software]


def markdown(results: RunResults) -> str:
    """``justification.md``: a heading and the paragraphs."""
    return f"# Sample-size justification: {results.scenario.name}\n\n" + "\n\n".join(paragraphs(results)) + "\n"
