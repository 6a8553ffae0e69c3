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
    a mixture of betas with weights w summing to 1."""

    beta: tuple[BetaParameter, BetaParameter] | None = None
    """Beta(a, b): a prior worth a + b patients, a of them responders (Beta(1, 1): uniform)."""
    mixture: Annotated[tuple[tuple[Annotated[float, Field(gt=0.0, le=1.0)], BetaParameter, BetaParameter], ...],
                       Field(max_length=20)] | None = None
    """[[w, a, b], ...]: weights w (positive, summing to 1) of Beta(a, b) components, 1 to 20 of them."""

    @model_validator(mode="after")
    def _check(self) -> "BetaPrior":
        if (self.beta is None) == (self.mixture is None):
            raise ValueError("give beta = [a, b] or mixture = [[w, a, b], ...], one of them")
        if self.mixture is not None:
            total = sum(w for w, _, _ in self.mixture)
            if abs(total - 1.0) > MIXTURE_WEIGHT_TOLERANCE:
                raise ValueError(f"mixture: the weights sum to {total:g}; they must sum to 1")
        return self

    @property
    def components(self) -> tuple[tuple[float, float, float], ...]:
        """(w, a, b) of each component (a single beta: weight 1)."""
        if self.beta is not None:
            return ((1.0, *self.beta),)
        return tuple(self.mixture or ())


UNIFORM = BetaPrior(beta=(1.0, 1.0))
"""The analysis prior of an arm that names none: Beta(1, 1), uniform on the rate."""



def prior_cdf(prior: BetaPrior, x: float) -> float:
    """P(rate <= x) under the prior."""
    from scipy import special

    return float(sum(w * special.betainc(a, b, x) for w, a, b in prior.components))
