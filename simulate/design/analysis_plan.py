"""The analysis plan: the test, its level and hypothesis, missing data, multiplicity, and the
interim looks of a group-sequential design."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from simulate.analysis import registry
from simulate.design.choices import (ADJUSTMENT_VARIANCES, ADJUSTMENTS, ALTERNATIVES, BASELINE_COVARIATES,
                                     IMPUTATION_STRATEGIES, MISSING_STRATEGIES, MULTIPLICITY)
from simulate.design.fields import (CalendarMonths, EFFICACY_SPENDING, FRAMEWORKS, FUTILITY_RULES, HYPOTHESES,
                                    MAX_LOOKS, Model)


class Analysis(Model):
    hypothesis: Literal[HYPOTHESES] = "superiority"
    """superiority (H0: no difference) or non_inferiority (H0: experimental - control <= -margin)."""
    margin: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """Non-inferiority margin on the risk-difference scale (> 0; only with non_inferiority);
    below 1, the largest difference of two rates."""
    test: Annotated[str, registry.RegisteredName()] = "fisher"
    """The analysis of each comparison, one of the registered analyses (simulate/analysis/registry.py;
    farrington_manning is the default for non_inferiority):"""
    alpha: Annotated[float, Field(ge=1e-6, le=0.5)] = 0.05
    """Significance level of each comparison before any multiplicity adjustment (two-sided
    unless alternative = greater; one-sided for non_inferiority). From 1e-6, stricter than any
    trial's level, to 0.5 (a one-sided level must be below it)."""
    alternative: Literal[ALTERNATIVES] = "two-sided"
    """``greater``: one-sided, the experimental arm better than the control (required for
    non_inferiority)."""
    missing: Literal[MISSING_STRATEGIES] = "nonresponder"
    """How missing endpoints (a dropout; data set missing by a hypothetical strategy) are
    analysed: nonresponder (as failures, ITT), complete_case, locf (last visit's status), mi_mar
    (multiple imputation under MAR, visit by visit) or mi_j2r (jump to reference); the two
    multiple imputations need test = "wald" (Rubin's rules)."""
    imputations: Annotated[int, Field(ge=2, le=1000)] = 20
    """With mi_mar or mi_j2r (unused otherwise): completed data sets per trial (at least 2 for
    Rubin's rules; 20 keeps the loss of efficiency below 1% at a third of the data missing)."""
    tipping_point_deltas: Annotated[tuple[Annotated[float, Field(ge=-20.0, le=20.0)], ...],
                                    Field(max_length=15)] = ()
    """With mi_mar or mi_j2r (unused otherwise): shifts of the log-odds of remission at the
    endpoint of imputed patients; each pair (control's, experimental's) from this list is a
    tipping-point analysis (empty: none). From -20 to 20 (beyond, every imputed patient is a
    failure, or a success)."""
    adjustment: Literal[ADJUSTMENTS] = "none"
    """Covariate adjustment: none; g_computation (a logistic working model of the endpoint on the
    arm and adjust_for, fitted in each trial and standardised over its analysed patients to the
    marginal risk difference; FDA 2023 guidance on covariate adjustment); or mantel_haenszel (the
    Mantel-Haenszel risk difference over the randomisation strata, Sato's variance). Each is the
    registered analysis of that name (test is then that analysis)."""
    adjust_for: tuple[str, ...] = ()
    """With adjustment = g_computation: the working model's covariates, named as in
    patients.csv (pla2r_titre_ru_ml, proteinuria_g_day), each as it is or as log2(name)."""
    adjustment_variance: Literal[ADJUSTMENT_VARIANCES] = "model_robust"
    """With adjustment = g_computation: model_robust (Ye, Shao, Yi & Zhao 2023, Biometrika: valid
    whether or not the working model is right; the FDA guidance's choice) or delta_method (Ge et
    al. 2011, Drug Inf J: the working model's own information, taking the covariates as fixed)."""
    multiplicity: Literal[MULTIPLICITY] = "none"
    """With several experimental arms, each compared with the control: none, bonferroni or holm."""
    framework: Literal[FRAMEWORKS] = "frequentist"
    """frequentist (a test at level alpha) or bayesian: success when the posterior probability
    that the experimental arm's rate exceeds the control's less any margin is above
    success_threshold, under each arm's analysis_prior (test "posterior", the default then)."""
    success_threshold: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.975
    """With framework = "bayesian": the posterior probability of benefit above which a
    comparison succeeds; between 0.5 and 1 (0.975 matches a one-sided 2.5% test in large trials
    under flat priors)."""
    success: str = "any"
    """What power counts with several experimental arms: any (at least one comparison
    rejects), all (every one does), or an arm id (that arm's comparison)."""

    @model_validator(mode="before")
    @classmethod
    def _default_test(cls, data: Any) -> Any:
        if isinstance(data, dict) and "test" not in data and data.get("adjustment", "none") != "none":
            data = {**data, "test": data["adjustment"]}       # the adjustment is the registered analysis
        if isinstance(data, dict) and "test" not in data and data.get("framework") == "bayesian":
            # the first registered analysis on the posterior-probability scale (posterior)
            data = {**data, "test": next(e.name for e in registry.entries() if e.statistic == "posterior_probability")}
        if isinstance(data, dict) and "test" not in data and data.get("hypothesis") == "non_inferiority":
            # the first registered analysis that tests non-inferiority (farrington_manning)
            data = {**data, "test": next(e.name for e in registry.entries() if "non_inferiority" in e.hypotheses)}
        return data

    @field_validator("test", mode="before")
    @classmethod
    def _registered(cls, value: Any) -> Any:
        """One of the analyses registered when the scenario is read."""
        if not isinstance(value, str) or value not in registry.names():
            shown = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
            raise ValueError(f"analysis.test: got {shown}; must be one of "
                             f"{', '.join(map(repr, registry.names()))}")
        return value

    @model_validator(mode="after")
    def _check(self) -> "Analysis":
        problems = []
        if self.hypothesis == "non_inferiority":
            if self.margin <= 0:
                problems.append("analysis.margin: got 0.0; non_inferiority needs a margin > 0 on the "
                                "risk-difference scale (e.g. 0.15)")
            if self.alternative != "greater":
                problems.append(f"analysis.alternative: got {self.alternative!r}; non_inferiority is one-sided: "
                                "set alternative = \"greater\" (alpha is then the one-sided level)")
        elif self.margin != 0:
            problems.append(f"analysis.margin: got {self.margin}; a margin is only used with "
                            "hypothesis = \"non_inferiority\"")
        if self.alternative == "greater" and self.alpha >= 0.5:
            problems.append(f"analysis.alpha: got {self.alpha}; a one-sided level must be < 0.5")
        entry = registry.get(self.test)
        problems += entry.problems(self.hypothesis, self.alternative)
        problems += self._imputation_problems(entry)
        problems += self._adjustment_problems()
        bayesian = entry.statistic == "posterior_probability"
        if bayesian != (self.framework == "bayesian"):
            fitting = [e.name for e in registry.entries() if (e.statistic == "posterior_probability") == (not bayesian)]
            other = "bayesian" if bayesian else "frequentist"
            problems.append(f"analysis.test: got {self.test!r}; it decides on a {entry.statistic.replace('_', ' ')}, "
                            f"which framework = {self.framework!r} does not: set test = "
                            + " or ".join(f'"{n}"' for n in fitting[:3]) + (" (or another)" if len(fitting) > 3 else "")
                            + f', or framework = "{other}"')
        if self.multiplicity != "none" and entry.statistic != "p_value":
            problems.append(f"analysis.multiplicity: got {self.multiplicity!r}; {self.test} decides on a "
                            f"{entry.statistic.replace('_', ' ')}, which no multiplicity adjustment reads: "
                            "set multiplicity = \"none\"")
        if problems:
            raise ValueError("\n".join(problems))
        return self


    def _adjustment_problems(self) -> list[str]:
        """The adjustment names its analysis and, for g-computation, known covariates."""
        problems = []
        if self.adjustment != "none" and self.framework == "bayesian":
            return [f"analysis.adjustment: got {self.adjustment!r}; covariate adjustment is a frequentist analysis: "
                    "with framework = \"bayesian\" set adjustment = \"none\""]
        if self.test in ADJUSTMENTS and self.adjustment != self.test:
            problems.append(f"analysis.test: got {self.test!r}; a covariate-adjusted analysis is chosen by "
                            f"analysis.adjustment: set adjustment = \"{self.test}\""
                            + (" and name the covariates in adjust_for" if self.test == "g_computation" else ""))
        if self.adjustment != "none" and self.test != self.adjustment:
            problems.append(f"analysis.test: got {self.test!r}; with adjustment = {self.adjustment!r} the analysis is "
                            f"the registered {self.adjustment!r}: set test = \"{self.adjustment}\" too")
        if self.adjustment == "g_computation" and not self.adjust_for:
            problems.append("analysis.adjust_for: got []; g-computation adjusts for baseline covariates: name them, e.g. "
                            'adjust_for = ["log2(pla2r_titre_ru_ml)", "proteinuria_g_day"]')
        if self.adjust_for and self.adjustment != "g_computation":
            problems.append(f"analysis.adjust_for: got {list(self.adjust_for)}; covariates are adjusted for by "
                            "g-computation: set adjustment = \"g_computation\" (mantel_haenszel adjusts for the "
                            "randomisation strata)")
        allowed = [*BASELINE_COVARIATES, *(f"log2({c})" for c in BASELINE_COVARIATES)]
        for name in self.adjust_for:
            if name not in allowed:
                problems.append(f"analysis.adjust_for: got {name!r}; must be one of {', '.join(map(repr, allowed))}")
        if self.adjustment != "none" and self.tipping_point_deltas:
            problems.append(f"analysis.tipping_point_deltas: got {list(self.tipping_point_deltas)}; the tipping-point "
                            "grid shifts the imputed patients of the unadjusted Wald analysis: with adjustment = "
                            f"{self.adjustment!r} leave it out")
        if len(set(self.adjust_for)) != len(self.adjust_for):
            problems.append(f"analysis.adjust_for: got {list(self.adjust_for)}; name each covariate once")
        return problems

    def _imputation_problems(self, entry: registry.Entry) -> list[str]:
        """Multiple imputation needs an analysis that combines imputed data sets (the imputation
        fields are read only with it, so that a sweep over ``missing`` may keep them)."""
        if self.missing in IMPUTATION_STRATEGIES and self.adjustment == "mantel_haenszel":
            return [f"analysis.missing: got {self.missing!r}; the Mantel-Haenszel difference is not combined over "
                    "imputed data sets: set adjustment = \"g_computation\" (with adjust_for), or another missing"]
        if self.missing in IMPUTATION_STRATEGIES and not entry.imputes:
            usable = " or ".join(f'"{e.name}"' for e in registry.entries() if e.imputes and not e.covariates)
            return [f"analysis.test: got {self.test!r}; missing = {self.missing!r} combines imputed data sets by "
                    f"Rubin's rules: set test = {usable}"]
        return []


class Interim(Model):
    """Interim analyses in calendar time (a group-sequential design); see simulate/analysis/sequential.py."""

    information_fractions: Annotated[tuple[Annotated[float, Field(gt=0.0, le=1.0)], ...],
                                     Field(max_length=MAX_LOOKS)] = (1.0,)
    """Looks, as fractions of the planned patients whose endpoint is determined (reached the
    endpoint visit or dropped out before it); the last is 1 (the final analysis)."""
    efficacy_spending: Literal[EFFICACY_SPENDING] = "obrien_fleming"
    """Lan-DeMets spending of alpha over the looks: obrien_fleming, pocock, hwang_shih_decani,
    or none (no efficacy stop before the final look)."""
    hsd_gamma: Annotated[float, Field(ge=-40.0, le=40.0)] = -4.0
    """The Hwang-Shih-DeCani spending function's gamma (used with hwang_shih_decani); from -40
    to 40, beyond which the spending no longer changes (all alpha at the last look, or at the
    first)."""
    efficacy_threshold: Annotated[float | None, Field(gt=0.5, le=1.0)] = None
    """With analysis.framework = "bayesian" (only then): stop for efficacy at an interim look when
    the posterior probability of benefit exceeds this; unset, analysis.success_threshold (the
    final analysis's, so that a calibration moves both); 1 never stops for efficacy. Above 0.5."""
    futility: Literal[FUTILITY_RULES] = "none"
    """Stop for futility: none, beta_spending (O'Brien-Fleming-type beta spending at the design
    effect), conditional_power (conditional power under the design effect below a threshold),
    or, with analysis.framework = "bayesian", predictive_probability (the predictive
    probability that the final analysis succeeds below futility_threshold)."""
    futility_binding: bool = False
    """Binding futility bounds lower the efficacy bounds; non-binding ones leave them as without."""
    futility_beta: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.2
    """With futility = beta_spending: the type II error the futility bounds spend (as rpact's
    beta: the bounds are those of the design with power 1 - beta, so below 0.5)."""
    futility_conditional_power: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    """With futility = conditional_power: stop when the conditional power under the design
    effect falls below this."""
    futility_threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    """With futility = predictive_probability: stop when the predictive probability of success
    at the planned final analysis, given the look's data, falls below this (between 0 and 1;
    0.05 to 0.1 are usual)."""
    decision_lag_months: CalendarMonths = 0.0
    """Months from a look's data cut to its decision; recruitment goes on meanwhile."""

    @model_validator(mode="after")
    def _check(self) -> "Interim":
        problems = []
        f = list(self.information_fractions)
        if not f:
            problems.append("interim.information_fractions: got []; give the looks, ending with the final "
                            "analysis at 1.0 (e.g. [0.5, 1.0])")
        elif f != sorted(set(f)):
            problems.append(f"interim.information_fractions: got {f}; must be strictly increasing")
        elif f[-1] != 1.0:
            problems.append(f"interim.information_fractions: got {f}; the last look is the final analysis: "
                            "end with 1.0")
        if self.futility == "beta_spending" and self.efficacy_spending == "none":
            problems.append("interim.futility: got 'beta_spending'; beta-spending futility bounds are those of "
                            "a design that also spends alpha: set interim.efficacy_spending")
        if self.futility_binding and self.futility != "beta_spending":
            problems.append("interim.futility_binding: got true; only beta_spending futility bounds can bind "
                            f"(futility is {self.futility!r})")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def looks(self) -> int:
        return len(self.information_fractions)
