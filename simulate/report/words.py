"""The report's vocabulary: how each test, missing-data strategy, endpoint, multiplicity
adjustment and alpha-spending function is named, and the phrases built from a scenario's arms
(an arm's label, a comparison, what power counts, the hypothesis), with the house rounding of
percentages. The page, the verdict, the plain-language summary and the figures all word things
through this module, so they say the same thing the same way; the sentences built from these
words, each written once, are :mod:`simulate.report.sentences`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulate.analysis.registry import Labels

if TYPE_CHECKING:
    from simulate.design import scenario as sc
    from simulate.run.results import PowerResult

TEST_NAMES = Labels("title")
"""How each registered analysis (:mod:`simulate.analysis.registry`) is named in the report."""
TEST_SHORT = Labels("short")
"""The same in a few words, where space is short (a heatmap's tick labels)."""
MISSING_WORDS = {"nonresponder": "non-responder analysis (dropouts as failures)",
                 "complete_case": "complete-case analysis", "locf": "last observation carried forward",
                 "mi_mar": "multiple imputation under missing at random",
                 "mi_j2r": "multiple imputation, jump to reference"}
"""How each of :data:`simulate.design.choices.MISSING_STRATEGIES` is named in the report."""
DROPOUT_MECHANISM_WORDS = {"mcar": "missing completely at random (MCAR)",
                           "mar": "missing at random given the last visit (MAR)",
                           "mnar": "missing not at random (MNAR)"}
"""How each of :data:`simulate.design.fields.DROPOUT_MECHANISMS` (``dropout.mechanism``) is named."""
ENDPOINT_WORDS = {"cr_or_pr": "remission (CR or PR)", "cr": "complete remission (CR)"}
"""What each ``trial.endpoint`` counts, in words."""
ENDPOINT_SHORT = {"cr_or_pr": "CR/PR", "cr": "CR"}
MULTIPLICITY_WORDS = {"none": "no multiplicity adjustment (each comparison at the full alpha)",
                      "bonferroni": "Bonferroni's adjustment (each comparison at alpha divided by the number of "
                                    "comparisons)",
                      "holm": "Holm's step-down adjustment (the family-wise error rate stays at most alpha)"}
"""How each of :data:`simulate.design.choices.MULTIPLICITY` is described."""
MULTIPLICITY_SHORT = {"none": "no multiplicity adjustment", "bonferroni": "Bonferroni's adjustment",
                      "holm": "Holm's adjustment"}
"""The same, in a few words."""
SPENDING_WORDS = {"obrien_fleming": "O'Brien–Fleming-type Lan–DeMets alpha spending",
                  "pocock": "Pocock-type Lan–DeMets alpha spending",
                  "hwang_shih_decani": "Hwang–Shih–DeCani alpha spending",
                  "none": "no efficacy stop before the final analysis"}
"""How each ``interim.efficacy_spending`` is named."""


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
    """The decision's level in words: the test's alpha, or a Bayesian design's threshold."""
    if p.bayes:
        return f"threshold {p.bayes['threshold']:g}"
    return f"{'one-sided ' if p.alternative == 'greater' else ''}alpha {p.alpha:g}"


def and_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def percent(v: float) -> str:
    """Whole percentages, one decimal below 10% (so a small power is not shown as 0%): how the
    verdict, the plain-language summary and the captions all round."""
    return f"{100 * v:.1f}%" if 0 < v < 0.1 else f"{100 * v:.0f}%"


def percent_list(values) -> str:
    """'10%', '3% and 8%', '1.4%, 3.2% and 18%', each as :func:`percent` rounds it (so the
    summary and the verdict give a share alike)."""
    return and_list([percent(v) for v in values])


_PHRASES = {
    "probability_by_endpoint": "dropout by the endpoint (probability)",
    "n_per_arm": "patients per arm (n)",
    "rate_per_site_month": "referrals per site per month",
    "missing": "analysis of the missing endpoints",
    "mechanism": "dropout mechanism",
    "rates_from": "true rates (assumed, or drawn from the design priors)",
}


def axis_label(scenario: sc.Scenario, path: str) -> str:
    """A readable name for a dotted scenario path, e.g. 'RTX + CsA: remission at month 24 (probability)'."""
    parts = path.split(".")
    field = parts[-1]
    if field == "remission_at_endpoint":
        what = "remission" if scenario.trial.endpoint == "cr_or_pr" else "complete remission"
        phrase = f"{what} at month {scenario.trial.endpoint_month:g} (probability)"
    else:
        phrase = _PHRASES.get(field, field.replace("_", " "))
    if parts[0] == "arms" and len(parts) == 3 and parts[1] in scenario.arm_names:
        return f"{scenario.arm(parts[1]).label}: {phrase}"
    return phrase[0].upper() + phrase[1:]


MISSING_NOTES = {"nonresponder": "dropouts counted as no remission", "complete_case": "complete cases only",
                 "locf": "last observation carried forward", "mi_mar": "missing endpoints imputed (MAR)",
                 "mi_j2r": "missing endpoints imputed (jump to reference)"}
"""How each of :data:`simulate.design.choices.MISSING_STRATEGIES` is described under the analysed counts."""
MISSING_SHORT = {"nonresponder": "Non-responder", "complete_case": "Complete case", "locf": "LOCF",
                 "mi_mar": "MI under MAR", "mi_j2r": "MI, jump to reference"}
"""The same in a word or two, where space is short (a figure's tick labels)."""
MISSING_TARGETS = {
    "nonresponder": "it answers another question (remission while still in the trial), so with dropout its "
                    "estimate is pulled towards no difference",
    "complete_case": "it estimates the difference among the patients who stay, which is the estimand's only when "
                     "dropout is missing completely at random",
    "locf": "it assumes that nothing changes after a patient's last visit",
    "mi_mar": "it draws each missing endpoint from the patients of the same arm with the same history, which is "
              "right when dropout depends only on what was seen",
    "mi_j2r": "it imputes the experimental arm's dropouts as if they had been on the control arm from their last "
              "visit: a deliberately pessimistic answer",
}
"""What each of :data:`simulate.design.choices.MISSING_STRATEGIES` does, as the end of 'The planned
analysis is ...: '."""
INTERCURRENT_KIND_WORDS = {"discontinuation": "treatment discontinuation", "rescue": "rescue therapy",
                           "kidney_failure_or_death": "kidney failure or death"}
"""How each of :data:`simulate.design.estimand.INTERCURRENT_KINDS` is named."""
STRATEGY_WORDS = {
    "treatment_policy": "treatment policy — the outcome counts whatever was taken after",
    "composite": "composite — the event counts as no remission",
    "hypothetical": "hypothetical — the outcome had the event not happened: data after it are set missing and the "
                    "missing-data method answers for them",
    "while_on_treatment": "while on treatment — the status at the last visit before the event counts",
}
"""Each of :data:`simulate.design.estimand.STRATEGIES`: its name and what it does to the outcome."""
SUMMARY_MEASURE_WORDS = {"risk_difference": "risk difference (experimental − control)",
                         "risk_ratio": "risk ratio (experimental over control)",
                         "odds_ratio": "odds ratio (experimental over control)"}
"""Each of :data:`simulate.design.estimand.SUMMARY_MEASURES`, in words."""
MECHANISM_WORDS = {
    "mcar": "missing completely at random (MCAR): whether a patient leaves does not depend on their remission, seen "
            "or unseen, so complete cases are unbiased (only less precise), multiple imputation under MAR is unbiased "
            "too, and counting dropouts as non-responders pulls the difference towards zero",
    "mar": "missing at random (MAR): the chance of leaving depends on the status seen at the last visit (patients not "
           "in remission leave {ratio:g} times as often as those in it), so complete cases, which over-represent "
           "responders, are biased, while multiple imputation under MAR, which imputes from what was seen, is not",
    "mnar": "missing not at random (MNAR): patients not in remission at the endpoint, the outcome a dropout hides, "
            "leave {ratio:g} times as often as responders, so no analysis of the observed data alone is unbiased "
            "(complete cases and multiple imputation under MAR included): the tipping point shows how far from MAR "
            "the conclusion holds",
}
"""Each of :data:`simulate.design.fields.DROPOUT_MECHANISMS` and what it implies for the analyses,
as the end of 'Dropout here is ...' (``ratio``: the mechanism's hazard ratio)."""
TIPPING_AXES = ("shift of the imputed patients' log-odds of remission, control",
                "shift of the imputed patients' log-odds of remission, experimental")
"""The tipping-point grid's axes: the control's shift (rows), the experimental arm's (columns)."""


def intercurrent_words(scenario: sc.Scenario, event: dict) -> str:
    """One intercurrent event of :func:`simulate.population.intercurrent.estimand_record` in words:
    'cyclosporine toxicity (treatment discontinuation, probability 10% in RTX + CsA by month 9):
    treatment policy — the outcome counts whatever was taken after'."""
    ev = scenario.intercurrent[event["id"]]
    kind = INTERCURRENT_KIND_WORDS.get(event["kind"], event["kind"])
    probs = event["probability"]
    given = [a for a in scenario.arm_names if probs.get(a, 0) > 0]
    if not given:
        where = "probability 0 in every arm"
    elif len(given) == len(scenario.arm_names) and len({probs[a] for a in given}) == 1:
        where = f"probability {percent(probs[given[0]])} in every arm"
    else:
        where = "probability " + and_list([f"{percent(probs[a])} in {label(scenario, a)}" for a in given])
    if event["kind"] == "rescue":
        where = f"at the month-{ev.at_month:g} visit to the patients not in remission then, {where}"
    else:
        by = ev.by_month if ev.by_month is not None else scenario.trial.endpoint_month
        where += f" by month {by:g}"
    name = event["reason"] or event["id"].replace("_", " ")
    what = where if name == kind else f"{kind}, {where}"        # the kind said once when it is the name
    return f"{name} ({what}): {STRATEGY_WORDS.get(event['strategy'], event['strategy'])}"


def sweep_value_words(path: str, value) -> str:
    """A missing-data or dropout point of the sweep in a few words: 'MI under MAR', 'dropout 0.2'."""
    field = path.rsplit(".", 1)[-1]
    if path == "analysis.missing":
        return MISSING_SHORT.get(value, str(value))
    if field == "probability_by_endpoint":
        return f"dropout {value:g}" if isinstance(value, (int, float)) else f"dropout {value}"
    if field == "mechanism":
        return f"dropout {str(value).upper()}"
    shown = f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
    return f"{field.replace('_', ' ')} {shown}"
