"""What the ``trialsim`` commands print about their results, line by line: the power summary,
the sample-size answer beside its closed forms, and the eligibility funnel. The CLI prints
these lines and nothing else of its own."""

from __future__ import annotations

import math
from typing import Callable

from simulate.design import scenario as sc
from simulate.design.assumed import dropout_adjustment, result_has_no_benefit
from simulate.report.sentences.common import design_caveats, true_difference_words
from simulate.run.results import PowerResult, SampleSizeResult


def power_with_interval(r) -> str:
    """'0.812 ± 0.009 (95% CI 0.794-0.829)': a simulated power with its Monte Carlo error (a power
    of 0 or 1, whose Monte Carlo SE is 0, with its exact 95% bound instead)."""
    if r.mc_se == 0 and r.power in (0, 1) and getattr(r, "replicates", 0):
        from simulate.report.formatting import exact_bound

        side = "≥" if r.power >= 1 else "≤"
        return (f"{r.power:.3f}: {'every' if r.power >= 1 else 'no'} simulated trial of {r.replicates:,} "
                f"(exact 95% bound {side} {exact_bound(r.power, r.replicates):.4f})")
    return f"{r.power:.3f} ± {r.mc_se:.3f} (95% CI {r.ci_low:.3f}-{r.ci_high:.3f})"


def _lines() -> tuple[list[str], Callable[[str], None]]:
    lines: list[str] = []
    return lines, lines.append


def power_lines(scenario: sc.Scenario, r: PowerResult) -> list[str]:
    """``trialsim power``'s summary: the design, power (or the type I error, in a world with no
    true benefit), each comparison, looks, recruitment, duration, estimates and CONSORT means."""
    lines, echo = _lines()
    c = r.mean_consort
    echo(f"Power of '{scenario.name}': {r.replicates:,} simulated trials, seed {r.seed}, engine {r.engine}\n")
    echo(f"  design            {r.n_per_arm} per arm; {r.test} test, {r.alternative}, alpha {r.alpha}; "
         f"missing: {r.missing_strategy}")
    labels = {a: scenario.arm(a).label for a in scenario.arm_names}
    control = labels[scenario.control_arm]
    if r.hypothesis == "non_inferiority":
        echo(f"  hypothesis        non-inferiority, margin {r.margin:g}: H0 experimental - control <= "
             f"-{r.margin:g} (one-sided alpha {r.alpha})")
    many = len(r.comparisons) > 1
    if many:
        rule = {"any": "at least one comparison rejects", "all": "every comparison rejects"}.get(
            r.success, f"{labels.get(r.success, r.success)} vs {control} rejects")
        echo(f"  comparisons       {len(r.comparisons)} arms vs {control}; multiplicity: {r.multiplicity}; "
             f"power counts trials in which {rule}")
    lines += _power_line(scenario, r, labels, control)
    if r.assurance_detail:
        lines += assurance_lines(r)
    if r.null_world:
        lines += null_world_lines(scenario, r)
    if r.looks:
        lines += looks_lines(scenario, r)
    for caveat in design_caveats(scenario, r):
        echo(f"  note              {caveat[0].lower()}{caveat[1:]}")
    if many:
        for comp in r.comparisons:
            echo(f"    {labels[comp.arm] + ' vs ' + control:<28} {comp.power:.3f} ± {comp.mc_se:.3f}  "
                 f"(true difference {comp.true_difference:+.3f}, mean estimate {comp.mean_risk_difference:+.3f})")
        echo(f"    {'any comparison':<28} {r.power_any:.3f} ± {r.power_any_mc_se:.3f}")
        echo(f"    {'every comparison':<28} {r.power_all:.3f} ± {r.power_all_mc_se:.3f}")
    lines += _recruitment_lines(scenario, r)
    if not many:                                   # with several, each comparison's estimate is listed above
        lines += _estimate_lines(scenario, r)
    echo(f"  per trial (mean)  referred {c['referred']:.0f}, excluded {c['excluded_total']:.0f}, "
         f"deferred {c['deferred']:.0f}, randomised {c['randomised']:.1f}")
    echo(f"  elapsed           {r.elapsed_seconds:.1f} s")
    return lines


def _power_line(scenario: sc.Scenario, r: PowerResult, labels: dict[str, str], control: str) -> list[str]:
    """Power, or the type I error in a world with no true benefit (:func:`simulate.design.assumed.result_has_no_benefit`)."""
    lines, echo = _lines()
    drawn = r.rates_from == "design_prior"
    null = not drawn and result_has_no_benefit(r)
    label = "assurance" if drawn else "type I error" if null else "power"
    echo(f"  {label:<17} {power_with_interval(r)}")
    if drawn:
        echo("                    (each trial drew its true rates from the design priors: the chance of success "
             "averaged over them)")
    if null:
        echo("                    (no comparison has the benefit the test looks for: this is the chance of a "
             "significant result by chance, or in the wrong direction)")
    elif r.alternative == "two-sided" and any(c.true_difference < 0 for c in r.comparisons):
        worse = [labels[c.arm] for c in r.comparisons if c.true_difference < 0]
        echo(f"  note              {', '.join(worse)} is worse than {control}: with a two-sided test "
             "this 'power' is mostly the chance of showing that harm")
    return lines


def null_world_lines(scenario: sc.Scenario, r: PowerResult) -> list[str]:
    """The same trials in the design's null world: the type I error (family-wise and each
    comparison's with several arms), and with looks the expected size and duration under H0."""
    from simulate.report.formatting import share_pm
    from simulate.run.operating import JUDGED, headline_error, judged

    lines, echo = _lines()
    n = r.null_world
    many = "family_wise_error" in n
    where = "at the margin" if r.hypothesis == "non_inferiority" else "under the global null" if many else ""
    rate, se = headline_error(n)
    word = JUDGED[judged(rate, se, r.alpha)]
    label = "family-wise error" if many else "type I error"
    echo(f"  null world        {label} {where + ' ' if where else ''}"
         f"{share_pm(rate, se, n['replicates'])}: {word} alpha {r.alpha:g}")
    if many:
        labels = {a: scenario.arm(a).label for a in scenario.arm_names}
        echo("                    each comparison: " + ", ".join(
            f"{labels[c['arm']]} {share_pm(c['type1_error'], c['mc_se'], n['replicates'])}" for c in n["comparisons"]))
    if r.looks:
        echo(f"                    expected randomised {n['expected_randomised']:.1f} under H0, "
             f"{r.expected_randomised:.1f} under the assumed effect; decision at month "
             f"{n['expected_duration_months']:.1f} under H0, {r.expected_duration_months:.1f} under the assumed effect")
    echo(f"                    ({n['design']})")
    return lines


def looks_lines(scenario: sc.Scenario, r: PowerResult) -> list[str]:
    """The planned looks of a group-sequential design: the rule, each look's boundaries and stops."""
    lines, echo = _lines()
    i = scenario.interim
    if scenario.analysis.framework == "bayesian":
        head = ("posterior probability of benefit above the threshold stops for efficacy; "
                + (f"futility if the predictive probability of success < {i.futility_threshold:g}"
                   if i.futility == "predictive_probability" else "no futility stop"))
    else:
        rule = i.efficacy_spending.replace("_", " ") + (f" (gamma {i.hsd_gamma:g})" if i.efficacy_spending ==
                                                        "hwang_shih_decani" else "")
        futility = {"none": "no futility stop", "beta_spending": "beta-spending futility "
                    + ("(binding)" if i.futility_binding else "(non-binding)"),
                    "conditional_power": f"futility if conditional power < {i.futility_conditional_power:g}"}
        head = f"alpha spending {rule}; {futility[i.futility]}"
    echo(f"  looks             {len(r.looks)}: {head}; decision {i.decision_lag_months:g} months after each data cut")
    for k, look in enumerate(r.looks):
        last = k == len(r.looks) - 1
        if look.efficacy_z is not None:
            bound = f"z >= {look.efficacy_z:.3f}" + ("" if look.futility_z is None or last
                                                    else f", < {look.futility_z:.3f} stops")
        else:
            bound = ("P > 1 never" if look.efficacy_probability is None else f"P > {look.efficacy_probability:.3f}") \
                + ("" if look.futility_predictive is None else f", PP < {look.futility_predictive:g} stops")
        what = "rejects" if k == len(r.looks) - 1 else "stops for efficacy"
        echo(f"    {look.information_fraction:>5.0%} information  {bound:<26} {what} "
             f"{look.p_stop_efficacy:.3f} ± {look.p_stop_efficacy_se:.3f}"
             + (f", for futility {look.p_stop_futility:.3f}" if k < len(r.looks) - 1 else "")
             + (f"; held in {look.p_held:.0%} of trials, by month {look.mean_month:.1f} with "
                f"{look.mean_randomised:.1f} randomised" if look.p_held > 0 else "; never held"))
    echo(f"    expected randomised {r.expected_randomised:.1f} ± {r.expected_randomised_mc_se:.1f}; decision at month "
         f"{r.expected_duration_months:.1f} ± {r.expected_duration_months_mc_se:.1f} on average; the overrun "
         f"analysis falls below the final {'threshold' if scenario.analysis.framework == 'bayesian' else 'critical value'}"
         f" after an efficacy stop in {r.p_overrun_reversal:.3f}")
    if scenario.analysis.framework == "bayesian":
        echo("    P: posterior probability of benefit; PP: predictive probability that the final analysis succeeds")
    return lines


def _recruitment_lines(scenario: sc.Scenario, r: PowerResult) -> list[str]:
    lines, echo = _lines()
    echo(f"  randomised        mean {r.mean_randomised:.1f} ± {r.mean_randomised_mc_se:.1f} of {scenario.n_target}; "
         f"terminated for slow accrual in {100 * r.p_terminated:.1f}% ± {100 * r.p_terminated_mc_se:.1f}%")
    if math.isfinite(r.mean_recruitment_months):
        echo(f"  recruitment       on time (<= {scenario.trial.recruitment_months:g} months) in "
             f"{100 * r.p_recruitment_on_time:.1f}% ± {100 * r.p_recruitment_on_time_se:.1f}%; months to last "
             f"randomisation: mean {r.mean_recruitment_months:.1f} ± {r.mean_recruitment_months_mc_se:.1f}, 10-50-90% "
             f"{r.recruitment_months_q10:.1f} / "
             f"{r.recruitment_months_q50:.1f} / {r.recruitment_months_q90:.1f}")
    else:
        echo(f"  recruitment       no patient was randomised in any simulated trial (recruitment rate "
             f"{scenario.recruitment.rate_per_site_month:g} referrals per site-month, hard stop at "
             f"{scenario.trial.hard_stop_months:g} months)")
    echo(f"  trial duration    mean {r.mean_duration_months:.1f} ± {r.mean_duration_months_mc_se:.1f} months, 10-50-90% "
         f"{r.duration_months_q10:.1f} / {r.duration_months_q50:.1f} / {r.duration_months_q90:.1f}")
    echo(f"  dropouts          mean {r.mean_dropouts:.1f} ± {r.mean_dropouts_mc_se:.1f} per trial")
    return lines


def _estimate_lines(scenario: sc.Scenario, r: PowerResult) -> list[str]:
    """The risk difference's estimate, bias, coverage and the winner's curse (one comparison)."""
    lines, echo = _lines()
    if r.rates_from == "design_prior":
        truth = (f"the drawn truths' mean {r.true_difference:+.3f}" if math.isfinite(r.true_difference) else
                 "the estimand's value at each draw is not computed")
        echo(f"  risk difference   mean estimate {r.mean_risk_difference:+.3f} ({truth}); {1 - r.alpha:.0%} interval "
             f"coverage of each trial's own truth {r.ci_coverage:.3f} ± {r.ci_coverage_se:.3f}"
             if math.isfinite(r.ci_coverage) else
             f"  risk difference   mean estimate {r.mean_risk_difference:+.3f} ({truth})")
        return lines
    if math.isfinite(r.mean_risk_difference):
        level = 1 - r.alpha if r.alternative == "two-sided" else 1 - 2 * r.alpha
        echo(f"  risk difference   true {r.true_difference:+.3f}, mean estimate {r.mean_risk_difference:+.3f} "
             f"(bias {r.risk_difference_bias:+.3f} ± {r.risk_difference_bias_se:.3f}); {level:.0%} interval "
             f"coverage {r.ci_coverage:.3f} ± {r.ci_coverage_se:.3f}; mean interval width {r.mean_ci_width:.3f}")
        if scenario.dropout.probability_by_endpoint > 0 and r.missing_strategy != "complete_case":
            adj = dropout_adjustment(scenario)
            echo(f"                    (true: {true_difference_words(scenario)}; with dropouts counted "
                 f"as {'failures' if r.missing_strategy == 'nonresponder' else 'their last status'} the "
                 f"estimate targets about {adj.p_treat - adj.p_control:+.3f}, so bias and coverage include "
                 "the missing-data rule's own)")
    else:
        echo(f"  risk difference   true {r.true_difference:+.3f}; not estimated: no simulated trial "
             "randomised patients to both arms")
    if r.hypothesis == "superiority" and math.isfinite(r.mean_abs_risk_difference_if_significant):
        echo(f"  when significant  mean |difference| {r.mean_abs_risk_difference_if_significant:.3f}"
             + (f", {r.exaggeration_ratio:.2f} x the true difference (winner's curse)"
                if math.isfinite(r.exaggeration_ratio) else " (all false positives: no true difference)"))
    return lines


SAMPLESIZE_COLUMNS = ("n_per_arm", "power", "mc_se", "ci_low", "ci_high", "mean_randomised")
"""The columns of the evaluated curve ``trialsim samplesize`` prints between its heading and its answer."""


def samplesize_heading(scenario: sc.Scenario, target: float) -> str:
    what = "assurance (trials drawing their rates from the design priors)" \
        if scenario.outcome.rates_from == "design_prior" else "power"
    return (f"Sample size for '{scenario.name}': target {what} {target}, {scenario.analysis.test} test, "
            f"missing {scenario.analysis.missing}, dropout {scenario.dropout.probability_by_endpoint}\n")


def samplesize_lines(r: SampleSizeResult, precision: int | None, scenario: sc.Scenario | None = None) -> list[str]:
    """``trialsim samplesize``'s answer, after the evaluated curve: the n, its Monte Carlo range
    and the closed-form references (with a covariate-adjusted analysis, the adjusted closed form
    too: :func:`simulate.run.adjustment_gain.closed_forms`; ``scenario`` names its method)."""
    lines, echo = _lines()
    echo("")
    if r.n_per_arm is None:
        echo(f"  not reached: {r.note}")
    else:
        echo(f"  simulated: {r.n_per_arm} per arm ({r.measure} {r.power:.3f} ± {r.mc_se:.3f}; "
             f"no n up to {r.n_per_arm + r.window} falls below target by more than 2 MC SE)")
        lo, hi = r.n_range
        echo(f"  Monte Carlo range: {lo}-{hi} per arm ({r.replicates:,} trials per n near the answer"
             + ("; --precision P narrows it" if hi - lo > 2 and precision is None else "") + ")")
        if r.fixed_n_per_arm is not None or r.expected_randomised_h1 is not None:
            echo(f"  with interim looks: at most {r.n_per_arm} per arm; expected "
                 f"randomised {r.expected_randomised_h1:.1f} under the effect, {r.expected_randomised_h0:.1f} "
                 f"under H0; the fixed design needs "
                 + (f"{r.fixed_n_per_arm} per arm" if r.fixed_n_per_arm is not None else "(not reached)"))
    if r.note and r.n_per_arm is not None:
        echo(f"  note: {r.note}")
    if r.measure == "assurance":
        echo("  the closed forms below are for power at the assumed rates, not for assurance")
    a = r.analytic
    if a.farrington_manning is not None:
        echo(f"  closed form for {a.p_control:.4g} vs {a.p_treat:.4g}, non-inferiority margin {a.margin:g}: "
             f"Farrington-Manning {a.farrington_manning} per arm without dropout"
             + (f", {a.farrington_manning_with_dropout} randomised with it ({a.dropout_rule})"
                if a.farrington_manning_with_dropout is not None else ""))
    if a.pooled_normal is not None:
        echo(f"  closed form for {a.p_control:.4g} vs {a.p_treat:.4g} without dropout: pooled normal "
             f"{a.pooled_normal}, Fleiss with continuity correction {a.fleiss_cc}, arcsine {a.arcsine}")
    if a.pooled_normal_with_dropout is not None:
        echo(f"  with dropout: pooled normal {a.pooled_normal_with_dropout}, Fleiss cc "
             f"{a.fleiss_cc_with_dropout} per arm randomised ({a.dropout_rule})")
    if a.adjusted_with_dropout is not None:
        echo(f"  adjusted{f' ({scenario.analysis.adjustment})' if scenario is not None else ''}: the covariates "
             f"remove {100 * a.variance_removed:.1f}% of the risk difference's variance; closed form (Wald, with "
             f"dropout) {a.adjusted_with_dropout} per arm randomised against {a.wald_with_dropout} unadjusted")
    return lines


FUNNEL_COLUMNS = ("criterion", "kind", "failing", "excluded", "deferred", "remaining")
"""The columns of the funnel ``trialsim cohort`` prints between its heading and its totals."""


def funnel_heading(scenario: sc.Scenario, n: int, seed: int) -> str:
    return f"Screening {n:,} referred patients of scenario '{scenario.name}' (seed {seed})\n"


def funnel_totals(summary: dict, n: int) -> str:
    """'screened 10,000   excluded 6,500 (65.0%)   deferred ...': the funnel's totals."""
    def pct(k: int) -> str:
        return f"{k:,} ({100 * k / max(n, 1):.1f}%)"

    return (f"\nscreened {n:,}   excluded {pct(summary['excluded'])}   deferred {pct(summary['deferred'])}   "
            f"eligible now {pct(summary['eligible'])}")


def assurance_lines(r: PowerResult) -> list[str]:
    """The assurance beside the power: its figure, where the trials' rates came from, the prior
    probability of a true benefit and the spread of conditional power."""
    lines, echo = _lines()
    d = r.assurance_detail
    cp = d["conditional_power"]
    q = cp["quantiles"]
    mean = d["mean_true_difference"][d["primary_arm"]]
    said = (f"mean true difference {mean:+.3f}" if mean is not None and math.isfinite(mean) else
            "the estimand's value at each draw is not computed")
    if r.rates_from != "design_prior":               # a drawn run's own power line is the assurance
        echo(f"  assurance         {r.assurance:.3f} ± {r.assurance_mc_se:.3f}  (each trial draws its true rates from "
             f"the design priors; {said})")
    echo(f"                    prior probability of a true benefit {d['prior_probability_of_benefit']:.3f}; "
         f"conditional power over the prior: median {q['0.5']:.2f}, 5%-95% {q['0.05']:.2f}-{q['0.95']:.2f}, "
         f"below 0.5 in {100 * cp['share_below_half']:.0f}% (normal approximation)")
    return lines
