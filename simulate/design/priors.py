"""Priors on an arm's rate of the endpoint: a beta distribution or a mixture of them
(``[arms.<id>] analysis_prior``), what a Bayesian analysis assumes before it sees the trial
(:mod:`simulate.analysis.posterior`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from simulate.design.fields import Model

BetaParameter = Annotated[float, Field(gt=0.0, le=1e6)]
"""A beta parameter: positive, at most a million (a prior worth a million patients)."""
MIXTURE_WEIGHT_TOLERANCE = 1e-9
"""How far from 1 a mixture's weights may sum (their rounding in a file)."""


class BetaPrior(Model):
    """``{ beta = [a, b] }`` or ``{ mixture = [[w, a, b], ...] }``: a Beta(a, b) on the rate, or
    a mixture of betas with weights w summing to 1; or, for an analysis prior, ``{ meta_analytic
    = true, robust_weight = 0.2 }``: the meta-analytic-predictive prior from the scenario's
    ``[[historical]]`` trials (:mod:`simulate.analysis.map_prior`)."""

    beta: tuple[BetaParameter, BetaParameter] | None = None
    """Beta(a, b): a prior worth a + b patients, a of them responders (Beta(1, 1): uniform)."""
    mixture: Annotated[tuple[tuple[Annotated[float, Field(gt=0.0, le=1.0)], BetaParameter, BetaParameter], ...],
                       Field(max_length=20)] | None = None
    """[[w, a, b], ...]: weights w (positive, summing to 1) of Beta(a, b) components, 1 to 20 of them."""
    meta_analytic: bool = False
    """true: the meta-analytic-predictive (MAP) prior of the rate from the [[historical]] trials
    (a binomial-normal hierarchy with a half-normal prior on the between-trial heterogeneity),
    approximated by a beta mixture and robustified (analysis priors only)."""
    robust_weight: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2
    """With meta_analytic: the weight of the vague Beta(1, 1) component added to the MAP prior
    (Schmidli et al. 2014), so that data in conflict with the history soon outweigh it."""
    heterogeneity_scale: Annotated[float, Field(gt=0.0, le=4.0)] = 0.5
    """With meta_analytic: the scale of the half-normal prior on the between-trial standard
    deviation of the logit rate (0.5: moderate heterogeneity; 1: substantial)."""

    @model_validator(mode="after")
    def _check(self) -> "BetaPrior":
        if (self.beta is not None) + (self.mixture is not None) + self.meta_analytic != 1:
            raise ValueError("give beta = [a, b], mixture = [[w, a, b], ...] or meta_analytic = true, one of them")
        if self.mixture is not None:
            total = sum(w for w, _, _ in self.mixture)
            if abs(total - 1.0) > MIXTURE_WEIGHT_TOLERANCE:
                raise ValueError(f"mixture: the weights sum to {total:g}; they must sum to 1")
        return self

    @property
    def components(self) -> tuple[tuple[float, float, float], ...]:
        """(w, a, b) of each component (a single beta: weight 1). A meta-analytic prior has them
        only with its scenario's history: :func:`simulate.analysis.map_prior.analysis_priors`."""
        if self.meta_analytic:
            raise ValueError("a meta-analytic prior's components come from the scenario's [[historical]] trials")
        if self.beta is not None:
            return ((1.0, *self.beta),)
        return tuple(self.mixture or ())


class HistoricalTrial(Model):
    """An earlier trial's control arm (``[[historical]]``): responders out of patients at the
    endpoint, for a meta-analytic-predictive prior."""

    name: str
    """The trial, e.g. "MENTOR"."""
    responders: Annotated[int, Field(ge=0, le=1_000_000)]
    """Patients in the endpoint state (e.g. CR or PR) at the trial's endpoint."""
    n: Annotated[int, Field(ge=1, le=1_000_000)]
    """Patients in the arm (intention to treat)."""
    month: Annotated[float, Field(gt=0.0, le=600.0)] | None = None
    """The month the responders were counted at (documentation: the MAP prior does not adjust for it)."""
    source: str = ""
    """Where the counts were published."""

    @model_validator(mode="after")
    def _check(self) -> "HistoricalTrial":
        if self.responders > self.n:
            raise ValueError(f"responders: got {self.responders}; at most n ({self.n})")
        return self


UNIFORM = BetaPrior(beta=(1.0, 1.0))
"""The analysis prior of an arm that names none: Beta(1, 1), uniform on the rate."""



def prior_cdf(prior: BetaPrior, x: float) -> float:
    """P(rate <= x) under the prior."""
    from scipy import special

    return float(sum(w * special.betainc(a, b, x) for w, a, b in prior.components))
