"""The lab's refusals in plain words: the loader's lines name scenario fields (``set alternative =
"greater"``); the lab names its own controls instead (choose "one-sided" in "Sidedness"), and
says so where a line asks for something only a scenario file can change. The reasons a test is
not offered come from what the registered analysis needs (:mod:`simulate.analysis.registry`),
in the lab's words."""

from __future__ import annotations

import re

from simulate.analysis import registry
from simulate.design import scenario as sc
from simulate.report.words import MISSING_WORDS

CONTROL_NAMES = {
    "n_per_arm": "Patients per arm", "remission_control": "the control arm's rate",
    "remission_experimental": "the experimental arm's rate", "dropout": "Dropout by the endpoint",
    "dropout_mechanism": "Who drops out", "mar_hazard_ratio": "the MAR hazard ratio",
    "mnar_hazard_ratio": "the MNAR hazard ratio", "test": "Test", "adjust": "Adjust for baseline covariates",
    "missing": "Dropouts in the analysis", "imputations": "Imputations per trial", "alpha": "Significance level α",
    "rate_per_site_month": "Referrals per site per month", "sure_control": "How sure of the control arm's rate",
    "sure_experimental": "How sure of the experimental arm's rate", "replicates": "Simulated trials", "seed": "Seed",
    "hypothesis": "Hypothesis", "margin": "Non-inferiority margin", "alternative": "Sidedness",
}
"""Each lab input (:data:`simulate.teach.inputs.INPUTS`) as a message names it."""
ALTERNATIVE_LABELS = {"two-sided": "two-sided", "greater": "one-sided (experimental better)"}
HYPOTHESIS_LABELS = {"superiority": "superiority", "non_inferiority": "non-inferiority"}


def value_labels() -> dict[str, dict[str, str]]:
    """Input id -> its menu's values as the lab shows them."""
    from simulate.teach.figures import TEST_LABELS
    from simulate.teach.views import MECHANISM_LABELS

    return {"test": {t: TEST_LABELS.get(t, t) for t in registry.names()}, "alternative": ALTERNATIVE_LABELS,
            "hypothesis": HYPOTHESIS_LABELS, "missing": dict(MISSING_WORDS), "dropout_mechanism": MECHANISM_LABELS}


_SET = re.compile(r'set (?P<field>[a-z_][a-z0-9_.]*) = (?P<values>(?:"[^"]*"|[-\d.e]+)(?: or (?:"[^"]*"|[-\d.e]+))*'
                  r'(?: \(or another\))?)')
_PATH = re.compile(r"\b(?:[a-z_]+\.)+[a-z_]+\b")


def plain(line: str, paths: dict[str, str], offered: dict[str, tuple[str, ...]] | None = None) -> str:
    """``line`` (a loader's refusal) with each ``set <field> = <values>`` the lab has a control
    for worded as a choice in that control (values the control does not offer left out), and each
    scenario field named by its control; a field with no control is said to be the scenario
    file's. ``paths``: input id -> dotted field path (:func:`simulate.teach.inputs.field_paths`);
    ``offered``: input id -> the values its menu offers."""
    by_path = {p: k for k, p in paths.items()}
    by_name = {}
    for key, path in paths.items():
        by_name.setdefault(path.rsplit(".", 1)[-1], key)
    labels = value_labels()
    outside: list[str] = []

    def control(field: str) -> str | None:
        return by_path.get(field) or (by_name.get(field) if "." not in field else None)

    def choice(m: re.Match) -> str:
        key = control(m.group("field"))
        if key is None:
            outside.append(m.group("field"))
            return m.group(0)
        values = [v.strip('"') for v in re.findall(r'"[^"]*"|[-\d.e]+', m.group("values").replace(" (or another)", ""))]
        allowed = (offered or {}).get(key)
        if allowed is not None:
            values = [v for v in values if v in allowed] or values
        shown = [labels.get(key, {}).get(v, v) for v in values]
        what = " or ".join(f"“{v}”" for v in shown)
        return (f"choose {what} in “{CONTROL_NAMES[key]}”" if key in labels else
                f"enter {what} in “{CONTROL_NAMES[key]}”")

    text = _SET.sub(choice, line)

    def name(m: re.Match) -> str:
        key = by_path.get(m.group(0))
        if key is not None:
            return f"“{CONTROL_NAMES[key]}”"
        if m.group(0).split(".")[0] in sc.Scenario.model_fields:
            outside.append(m.group(0))
        return m.group(0)

    text = _PATH.sub(name, text)
    if outside:
        text += " (" + ", ".join(dict.fromkeys(outside)) + " is set in the scenario file; the lab has no control for it)"
    return text


def not_offered(scenario: sc.Scenario, test: str) -> str:
    """Why ``test`` is not offered for the design, in the lab's words."""
    e = registry.get(test)
    a = scenario.analysis
    if e.strata and not scenario.randomisation.stratify_by:
        return ("it needs patients randomised within strata (of the titre or the proteinuria); this design is not "
                "stratified, which only a scenario file can change")
    if e.statistic == "posterior_probability" and a.framework != "bayesian":
        return "it is a Bayesian rule (a posterior probability), and this design is analysed by tests; a scenario " \
               "file can make it Bayesian"
    if a.hypothesis not in e.hypotheses:
        asks = HYPOTHESIS_LABELS[a.hypothesis]
        can = " or ".join(HYPOTHESIS_LABELS[h] for h in e.hypotheses)
        return f"it tests {can}, and this design asks {asks} (“Hypothesis”)"
    if a.alternative not in e.alternatives:
        return ("it is one-sided: choose “one-sided (experimental better)” in “Sidedness”" if e.alternatives ==
                ("greater",) else f"it does not allow a {ALTERNATIVE_LABELS[a.alternative]} test (“Sidedness”)")
    return "this design's other settings rule it out"


def reachable(scenario: sc.Scenario, test: str) -> bool:
    """Whether the lab's own controls (the hypothesis, the sidedness) can make ``test`` usable:
    not one that needs strata or a Bayesian framework the design lacks."""
    e = registry.get(test)
    return not (e.strata and not scenario.randomisation.stratify_by) and not (
        e.statistic == "posterior_probability" and scenario.analysis.framework != "bayesian")
