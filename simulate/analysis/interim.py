"""Interim analyses in calendar time: when each look happens, what it decides, and the overrun.

A group-sequential design (``[interim]`` in a scenario) looks at the data when a planned
fraction of the planned patients have their endpoint *determined*: they reached the endpoint
visit, or dropped out before it. Look k happens at the calendar month the
``ceil(f_k x N)``-th randomised patient's endpoint is determined (N the planned total). At a look
the score statistic of the patients determined so far (the pooled z for superiority, the
Farrington-Manning z for non-inferiority:
:func:`simulate.analysis.noninferiority.farrington_manning_statistic`
with the margin, which is the pooled z at margin 0) is compared with the look's boundaries
(:mod:`simulate.analysis.sequential`): at or above the efficacy bound the trial stops for efficacy; below
the futility bound (beta spending), or with conditional power under the design effect below the
threshold, it stops for futility. The decision comes ``decision_lag_months`` after the data cut;
enrolment closes then, and every patient randomised by then is followed to the endpoint (the
overrun): the final analysis of all of them is reported beside the decision.

Without a stop the final look comes when every randomised patient's endpoint is determined. A
trial that closes enrolment short of target skips the looks it never reaches and analyses at
the information it has, the final look spending all the remaining alpha.

This module holds what both engines share: the design (its boundaries, once per scenario), the
statistic, and the decision at a look. The design is the group-sequential decision rule of
:mod:`simulate.analysis.rules` (:class:`simulate.analysis.rules.Sequential`):
``design.decide(statistic, look)`` answers CONTINUE, REJECT (stop for efficacy) or FUTILITY at an
interim look, as every rule does, and ``design.decide_final(statistic, reached, n_randomised)``
REJECT or CONTINUE (H0 stands) at the final one. *When* looks happen is each engine's own: the batch
engine computes it from arrays (:func:`simulate.engines.batch.outcomes_from_batch`), the DES
from its events (:mod:`simulate.engines.des`); the agreement tests compare them trial by trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from simulate.design import scenario as sc
from simulate.analysis import registry, rules
from simulate.analysis.rules import look_counts

NONE, EFFICACY, FUTILITY = rules.CONTINUE, rules.REJECT, rules.FUTILITY
"""What a look decided (the codes of :attr:`simulate.engines.block_outcomes.BlockOutcomes.stop_reason`): the
codes of every decision rule (:mod:`simulate.analysis.rules`)."""


@dataclass(frozen=True, eq=False)
class Design:
    """A scenario's group-sequential design: boundaries on the z scale, computed once; the
    decision rule of its looks (:meth:`decide`)."""

    fractions: tuple[float, ...]
    """Planned information fractions of the looks (the last is 1)."""
    counts: tuple[int, ...]
    """Determined endpoints that trigger each look."""
    n_target: int
    efficacy: np.ndarray
    """Efficacy boundary of each planned look (inf: no efficacy stop there)."""
    futility: np.ndarray | None
    """Beta-spending futility boundary of each look, or None."""
    conditional_power_below: float | None
    """Stop for futility when the conditional power under the design effect is below this."""
    drift: float
    """The design effect as the expected z at full information."""
    lag_months: float
    margin: float
    alpha: float
    spending: str
    gamma: float | None
    binding: bool
    analysis: registry.Entry
    """The registered analysis whose look statistic (:meth:`statistic`) the bounds are for,
    resolved when the design was made (it travels with the design to worker processes)."""
    scale: str = field(default="z_score")
    """The scale of the statistic the rule reads (the score z)."""

    @property
    def looks(self) -> int:
        return len(self.fractions)

    def statistic(self, x_c, n_c, x_t, n_t, patients=None) -> np.ndarray:
        """The look statistic of each trial's data, from the design's registered analysis
        (:attr:`simulate.analysis.registry.Entry.interim`); 0 where it is undefined (no patient
        in an arm, or no variance: no evidence either way). For the built-in analyses on counts
        this is :func:`statistic` at the design's margin; ``patients``: the look's patients one
        by one, for an analysis that reads covariates (g-computation)."""
        from simulate.analysis.base import TwoArms

        data = TwoArms.of(x_c, n_c, x_t, n_t)
        if patients is not None:
            data = TwoArms(data.x_c, data.n_c, data.x_t, data.n_t, patients=patients)
        z = self.analysis.look_statistic()(data, self.margin)
        return np.where(np.isfinite(z), z, 0.0)

    def look(self, look: int, x_c, n_c, x_t, n_t, patients=None) -> tuple[np.ndarray, np.ndarray]:
        """Interim look ``look`` (0-based) of each trial's counts (and patients): the z
        (:meth:`statistic`) and its decision (:meth:`decide`)."""
        z = self.statistic(x_c, n_c, x_t, n_t, patients)
        return z, self.decide(z, look)

    def decide(self, statistic, look: int = -1) -> np.ndarray:
        """What interim look ``look`` (0-based, not the final one) decides for each z:
        NONE (continue), EFFICACY or FUTILITY."""
        z = np.asarray(statistic)
        out = np.full(np.shape(z), NONE, dtype=np.int8)
        out[z >= self.efficacy[look]] = EFFICACY
        if self.futility is not None:
            out[(out == NONE) & (z < self.futility[look])] = FUTILITY
        if self.conditional_power_below is not None:
            from simulate.analysis import sequential

            cp = sequential.conditional_power(z, self.fractions[look], float(self.efficacy[-1]), self.drift)
            out[(out == NONE) & (cp < self.conditional_power_below)] = FUTILITY
        return out

    def decide_final(self, statistic, reached, n_randomised) -> np.ndarray:
        """What the final look decides for each trial: EFFICACY (reject H0) where its z reaches
        the final bound (:meth:`final_bound`) of a trial that held ``reached`` interim looks and
        analyses ``n_randomised`` patients, else NONE (H0 stands: the trial ends). A trial
        without patients never rejects. The arguments broadcast; each bound is computed once
        for every trial that shares it."""
        z, reached, n = np.broadcast_arrays(np.asarray(statistic), np.asarray(reached), np.asarray(n_randomised))
        pairs, where = np.unique(np.stack([reached.ravel(), n.ravel()]), axis=1, return_inverse=True)
        bounds = np.array([self.final_bound(int(k), int(m)) if m > 0 else np.inf for k, m in pairs.T])
        bound = bounds[where.reshape(-1)].reshape(z.shape)
        return np.where(z >= bound, EFFICACY, NONE).astype(np.int8)

    def final_bound(self, reached: int, n_randomised: int) -> float:
        """The final look's efficacy bound for a trial that held ``reached`` interim looks and
        analyses ``n_randomised`` patients at the end: the planned bound when it randomised the
        target, else the bound spending all the remaining alpha at the observed fraction."""
        if n_randomised >= self.n_target and reached == self.looks - 1:
            return float(self.efficacy[-1])
        futility = None if self.futility is None or not self.binding else tuple(float(a) for a in self.futility)
        return _final_bound(self.fractions, self.alpha, self.spending, self.gamma, futility, self.binding, reached,
                            n_randomised / self.n_target)


@lru_cache(maxsize=1024)
def _final_bound(fractions: tuple, alpha: float, spending: str, gamma: float | None, futility: tuple | None,
                 binding: bool, reached: int, last: float) -> float:
    """The efficacy bound of a final look at fraction ``last`` after ``reached`` interim looks,
    spending all the remaining alpha (cached over its immutable arguments)."""
    from simulate.analysis import sequential

    fractions = [*fractions[:reached], last]
    if reached and fractions[-1] <= fractions[-2] + 1e-12:
        fractions.pop()                 # no data since the last look: it becomes the final one
    if spending == "none":
        return float(_z(1.0 - alpha))
    bounds = sequential.efficacy_bounds(fractions, alpha, spending, gamma,
                                        futility=None if futility is None else list(futility[:len(fractions) - 1]),
                                        binding=binding, final_is_last=True)
    return float(bounds[-1])


def _z(p: float) -> float:
    from scipy import special

    return float(special.ndtri(p))


def design_of(scenario: sc.Scenario) -> rules.Sequential | None:
    """The scenario's group-sequential design, or None without interim looks: z-scale boundaries
    (:class:`Design`), or with analysis.framework = "bayesian" posterior and predictive
    probabilities (:class:`simulate.analysis.bayes_looks.BayesianLooks`)."""
    interim = scenario.interim
    if interim is None or interim.looks < 2:
        return None
    if scenario.analysis.framework == "bayesian":
        from simulate.analysis import bayes_looks

        return bayes_looks.design_of(scenario)
    from simulate.analysis import sequential

    a = scenario.analysis
    fractions = tuple(interim.information_fractions)
    gamma = interim.hsd_gamma if interim.efficacy_spending == "hwang_shih_decani" else None
    drift = design_drift(scenario)
    futility = None
    if interim.efficacy_spending == "none":
        efficacy = np.array([math.inf] * (len(fractions) - 1) + [_z(1.0 - a.alpha)])
    else:
        efficacy = np.asarray(sequential.efficacy_bounds(fractions, a.alpha, interim.efficacy_spending, gamma),
                              dtype=float)
    if interim.futility == "beta_spending":
        efficacy, futility = sequential.beta_spending_design(fractions, a.alpha, interim.futility_beta,
                                                             interim.efficacy_spending, gamma,
                                                             binding=interim.futility_binding)
        efficacy, futility = np.asarray(efficacy, dtype=float), np.asarray(futility, dtype=float)
    return Design(
        fractions=fractions, counts=look_counts(fractions, scenario.n_target), n_target=scenario.n_target,
        efficacy=efficacy, futility=futility,
        conditional_power_below=interim.futility_conditional_power if interim.futility == "conditional_power" else None,
        drift=drift, lag_months=interim.decision_lag_months, margin=a.margin, alpha=a.alpha,
        spending=interim.efficacy_spending, gamma=gamma, binding=interim.futility_binding,
        analysis=registry.get(a.test),
    )


@lru_cache(maxsize=16)
def _design(parts: sc.Parts) -> rules.Sequential | None:
    return design_of(parts.scenario)


def design_for(scenario: sc.Scenario) -> rules.Sequential | None:
    """:func:`design_of`, computed once per design in a process (a bounded cache keyed by the
    parts of the scenario the design depends on, and by the analysis registered under its test's
    id now; the rates the drift and a Bayesian design's final counts depend on come from the
    arms, the dropout and the intercurrent events)."""
    if scenario.interim is None or scenario.interim.looks < 2:
        return None
    s = scenario
    key = (s.interim, s.analysis, registry.get(s.analysis.test), s.n_target, s.dropout, tuple(s.arms.items()),
           s.trial.endpoint, s.control_arm, tuple(s.intercurrent.items()), s.estimand, s.historical)
    return _design(sc.Parts(scenario, key))


def design_drift(scenario: sc.Scenario) -> float:
    """The design effect as the expected z at full information: the difference the analysis
    sees under the scenario's rates (after dropout, :func:`simulate.design.assumed.dropout_adjustment`),
    plus the margin, over its standard error with the planned patients per arm."""
    from simulate.design.assumed import dropout_adjustment

    from simulate.design.assumed import primary_arm

    adj = dropout_adjustment(scenario)
    weights = scenario.allocation
    total = sum(weights)
    n_c = scenario.n_target * scenario.arm(scenario.control_arm).allocation / total * adj.analysed_fraction
    n_t = scenario.n_target * scenario.arm(primary_arm(scenario)).allocation / total * adj.analysed_fraction
    p_c, p_t = adj.p_control, adj.p_treat
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t) if n_c > 0 else math.inf
    return (p_t - p_c + scenario.analysis.margin) / se if se > 0 else math.inf


def statistic(x_c, n_c, x_t, n_t, margin: float) -> np.ndarray:
    """The score z of each trial's data (pooled z at margin 0, Farrington-Manning otherwise);
    0 where it is undefined (no patient in an arm, or no variance: no evidence either way).
    The engines read a design's statistic through :meth:`Design.statistic`, which is this for
    every built-in analysis."""
    from simulate.analysis.noninferiority import farrington_manning_statistic

    z = farrington_manning_statistic(x_c, n_c, x_t, n_t, margin)
    return np.where(np.isfinite(z), z, 0.0)


def decide(design: Design, look: int, z: np.ndarray) -> np.ndarray:
    """What interim look ``look`` (0-based, not the final one) decides for each z: NONE,
    EFFICACY or FUTILITY (the design's rule, :meth:`Design.decide`)."""
    return design.decide(z, look)
