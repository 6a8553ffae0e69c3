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
    return f"{'one-sided ' if p.alternative == 'greater' else ''}alpha {p.alpha:g}"


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


_PHRASES = {
    "probability_by_endpoint": "dropout by the endpoint (probability)",
    "n_per_arm": "patients per arm (n)",
    "rate_per_site_month": "referrals per site per month",
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
