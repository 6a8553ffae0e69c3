"""Clauses that several sentences about a run share, each written once: how a simulated type I
error stands against alpha, when recruitment finishes and how often the hard stop cuts a trial
short, the real trial's accrual, the winner's curse, and the warning about too few trials.
The verdict card, the plain-language summary, the CLI and the teaching lab all say these
things through here."""

from __future__ import annotations

import math

from simulate.design import scenario as sc
from simulate.design.assumed import result_benefits
from simulate.report.words import and_list, comparison_name, label, percent
from simulate.run.results import TYPE_ONE_SE, PowerResult, against_alpha

NOTABLE_EXAGGERATION = 1.1
"""Significant trials overstating the true difference by at least this factor are worth a word
(the winner's curse), in the summary and the teaching lab."""

AGAINST_ALPHA = {1: "above", 0: "within Monte Carlo error of", -1: "below"}
"""Where a simulated type I error stands against alpha (:func:`simulate.run.results.against_alpha`)."""


def against_alpha_word(rate: float, mc_se: float, alpha: float) -> str:
    """'above', 'within Monte Carlo error of' or 'below' (alpha): judged within
    :data:`simulate.run.results.TYPE_ONE_SE` Monte Carlo SE."""
    return AGAINST_ALPHA[against_alpha(rate, mc_se, alpha)]


def above_alpha_clause(above: list[int]) -> str:
    """How many simulated sizes (n per arm) have a type I error above alpha beyond Monte Carlo error."""
    if not above:
        return f"none is above it by more than {TYPE_ONE_SE:g} Monte Carlo SE"
    return (f"{len(above)} {'is' if len(above) == 1 else 'are'} above it by more than {TYPE_ONE_SE:g} Monte Carlo SE "
            f"(n = {', '.join(str(n) for n in above)} per arm)")


def no_benefit_reason(scenario: sc.Scenario, p: PowerResult) -> str:
    """Why the power of a world with no true benefit (:func:`simulate.design.assumed.result_has_no_benefit`)
    is a type I error, as the end of '(here the type I error: ...)'."""
    many = len(p.comparisons) > 1
    if p.hypothesis == "non_inferiority":
        return "no experimental arm is better than the margin allows" if many else \
            f"it is worse by the margin, {p.margin:g}"
    if all(c.true_difference == 0 for c in p.comparisons):
        return "no experimental arm differs from the control" if many else "the arms do not differ"
    lacking = [label(scenario, arm) for arm, ok in result_benefits(p).items() if not ok]
    control = label(scenario, scenario.control_arm)
    if not many:
        return f"{lacking[0]} is not better than {control}, and the test looks for a benefit only"
    if len(lacking) == len(p.comparisons):
        return f"no experimental arm is better than {control}"
    one = len(lacking) == 1
    verb = ("is not better than" if one else "are not better than") if p.alternative == "greater" else \
        ("does not differ from" if one else "do not differ from")
    return f"{and_list(lacking)} {verb} {control}, and every success needs {'it' if one else 'them'}"


def on_time_clause(scenario: sc.Scenario, p: PowerResult) -> str:
    """'Recruitment finishes within the planned 20 months in 27% of simulated trials'."""
    return (f"Recruitment finishes within the planned {scenario.trial.recruitment_months:g} months in "
            f"{percent(p.p_recruitment_on_time)} of simulated trials")


def hard_stop_clause(scenario: sc.Scenario) -> str:
    """'at the hard stop (month 44, when enrolment closes whatever the count) short of 126 patients'."""
    return (f"at the hard stop (month {scenario.trial.hard_stop_months:g}, when enrolment closes whatever the "
            f"count) short of {scenario.n_target} patients")


def observed_accrual_sentence(scenario: sc.Scenario) -> str:
    """The real trial's accrual and its source ('' without one)."""
    obs = scenario.observed
    if obs is None or not obs.accrual:
        return ""
    return f"The real trial randomised {obs.n_randomised} patients in {obs.months:g} months; source: {obs.source}."


def observed_rate_sentence(scenario: sc.Scenario) -> str:
    """How long the target would take at the real trial's rate ('' without one, or with none randomised)."""
    obs = scenario.observed
    if obs is None or not obs.accrual or obs.n_randomised <= 0:
        return ""
    months = scenario.n_target / (obs.n_randomised / obs.months)
    return (f"At the recruitment rate actually seen ({obs.n_randomised} patients in {obs.months:g} months), "
            f"enrolling {scenario.n_target} would take about {months / 12:.0f} years.")


def few_trials(replicates: int) -> str:
    """'1 simulated trial' or '1,000 simulated trials'."""
    return "1 simulated trial" if replicates == 1 else f"{replicates:,} simulated trials"


def few_replicates_warning(replicates: int, minimum: int, mc_se: float | None = None) -> str:
    """The CLI's warning when too few trials were simulated to plan with."""
    se = "" if mc_se is None else f" (Monte Carlo SE up to ±{max(mc_se, 0.5 / replicates ** 0.5):.3f})"
    return (f"only {few_trials(replicates)}{se}: the Monte Carlo error makes the figures "
            f"unusable for planning; use at least {minimum} (--replicates)")


def notable_exaggeration(ratio: float) -> bool:
    """Significant trials overstate the true difference enough to say so."""
    return math.isfinite(ratio) and ratio >= NOTABLE_EXAGGERATION


def winners_curse(scenario: sc.Scenario, p: PowerResult, null: bool, many: bool) -> list[str]:
    """How far significant trials overstate the true difference (superiority only)."""
    if not many:
        sig, ratio = p.mean_abs_risk_difference_if_significant, p.exaggeration_ratio
        if null and math.isfinite(sig):
            return [f"Every significant result here is a false positive; those trials showed an average "
                    f"difference in remission of {sig:.2f} in one direction or the other."]
        if notable_exaggeration(ratio):
            size = "" if p.true_difference > 0 else " in size"  # a harm: sizes compared, signs aside
            return [f"Trials that come out significant estimate a difference of {sig:.2f}{size} on average, "
                    f"{ratio:.1f} times the{size and ' size of the'} true {p.true_difference:.2f} (the winner's curse: "
                    f"only the lucky ones reach significance)."]
        return []
    over = [f"{comparison_name(scenario, c.arm)} {c.exaggeration_ratio:.1f} times "
            f"{'its' if c.true_difference > 0 else 'the size of its'} true difference {c.true_difference:.2f}"
            for c in p.comparisons if notable_exaggeration(c.exaggeration_ratio)]
    if not over:
        return []
    return ["Comparisons that come out significant estimate on average (the winner's curse: only the lucky ones "
            "reach significance): " + "; ".join(over) + "."]


NI_NONRESPONDER_CAVEAT = ("counting dropouts as failures moves both arms' rates down alike, which shrinks their "
                          "difference and makes a non-inferiority test anti-conservative; compare "
                          "--set analysis.missing=\"complete_case\"")
"""What a non-inferiority design with dropouts counted as failures must be told."""


def design_caveats(scenario: sc.Scenario, p: PowerResult) -> list[str]:
    """The caveats a design's own choices call for, one sentence each (the command line's notes
    and the report's verdict say the same): a non-inferiority test with dropouts counted as
    failures (anti-conservative), and a conservative exact test whose power with a true benefit
    falls below its level (too few patients for any table to be extreme enough); first, where the
    rates are published results, what that power means and the power at the design's own rates
    (:func:`published_rates_sentences`)."""
    from simulate.analysis import registry

    out = published_rates_sentences(scenario, p)
    if p.hypothesis == "non_inferiority" and p.missing_strategy == "nonresponder" \
            and scenario.dropout.probability_by_endpoint > 0:
        out.append(NI_NONRESPONDER_CAVEAT[0].upper() + NI_NONRESPONDER_CAVEAT[1:] + ".")
    entry = registry.get(p.test)
    if entry.conservative and not p.bayes and p.power < p.alpha and any(result_benefits(p).values()):
        out.append(f"The power, {p.power:.3f}, is below the level α = {p.alpha:g} although the assumed rates differ: "
                   f"with {p.n_per_arm} per arm {entry.title} is conservative, and almost no table of so few "
                   "patients is extreme enough to reject; more patients, not another seed, would change that.")
    return out


def published_rates_sentences(scenario: sc.Scenario, p: PowerResult) -> list[str]:
    """Where the arms' rates are a trial's published results (``outcome.rates_are``): that the
    power at them is hindsight, and the answer to the design-stage question at the rates the
    design assumed (``arms.<id>.design_rate``) where the run has it."""
    if scenario.outcome.rates_are != "published":
        return []
    rates = ", ".join(f"{scenario.arm(a).label} {scenario.arm(a).remission_at_endpoint:g}" for a in scenario.arm_names)
    out = [f"These rates ({rates}) are published results, not design assumptions: the power at them is what a "
           "rerun of this design would have if they were the true rates, which no planner knew beforehand."]
    d = p.design_stage
    if d and "power" in d:
        assumed = ", ".join(f"{scenario.arm(a).label} {r:g}" for a, r in d["rates"].items())
        from simulate.report.formatting import share_pm

        out.append(f"The design-stage question, at the rates the design assumed ({assumed}): the power is "
                   f"{share_pm(d['power'], d['mc_se'], d['replicates'])} on the same simulated trials.")
    elif d and "refused" in d:
        out.append(f"The power at the rates the design assumed could not be simulated: {d['refused']}.")
    return out


def true_difference_words(scenario: sc.Scenario) -> str:
    """What the "true" risk difference beside the estimates is: the estimand's, where the
    scenario has intercurrent events (they move it off the assumed rates), else the assumed
    difference in endpoint rates."""
    if scenario.intercurrent:
        return "the estimand's true difference, its intercurrent events included"
    return "the assumed difference in endpoint rates"
