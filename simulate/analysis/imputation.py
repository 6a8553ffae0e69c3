"""Multiple imputation of a missing binary endpoint, for every trial of a block at once.

A patient's endpoint (remission: 1 / 0) is missing when they dropped out, or when their data
after an intercurrent event are set missing under a hypothetical estimand. Each trial is
analysed by proper multiple imputation (Rubin 1987, *Multiple Imputation for Nonresponse in
Surveys*, Wiley; the "logreg" method of van Buuren's mice; White, Royston & Wood 2011,
"Multiple imputation using chained equations", Stat Med 30:377-399, on binary variables):

1. the imputation model, a logistic regression of the observed endpoint on an intercept, the
   arm (1 = experimental) and the baseline covariates and last observed status, is fitted per
   trial with a weakly informative prior (:mod:`simulate.analysis.logistic`: the fit exists
   under separation, which small trials often show);
2. for each of M imputations, beta* ~ N(beta_hat, V), V the inverse penalised Hessian at the
   fit (the Gaussian approximation of the posterior), and each missing endpoint is drawn as
   Bernoulli(expit(x' beta* + delta_arm)). ``deltas`` = (delta_control, delta_experimental)
   shift the log-odds of remission of the imputed patients (0 under MAR; a tipping-point
   analysis varies them). Under jump to reference (J2R: Carpenter, Roger & Kenward 2013,
   "Analysis of longitudinal trials with protocol deviation: a framework for relevant,
   accessible assumptions, and inference via multiple imputation", J Biopharm Stat
   23:1352-1371) the experimental arm's missing patients are imputed from the control arm's
   model: their arm indicator is set to 0 in the linear predictor, their covariates kept;
3. each completed data set gives the risk difference p_t - p_c over every analysed patient,
   with its Wald variance p_t(1 - p_t)/n_t + p_c(1 - p_c)/n_c;
4. Rubin's rules combine them: the estimate Q = mean of the M estimates, the within variance W
   (mean of their variances), the between variance B (their variance, M - 1 denominator) and
   the total T = W + (1 + 1/M) B; the t reference distribution has Barnard & Rubin's (1999,
   Biometrika 86:948-955) degrees of freedom, with complete-data df n - 2, or Rubin's (1987).

The imputations are drawn one at a time and their results pooled on the fly (Welford's running
mean and sum of squares), so memory stays at a few (trials, patients) arrays whatever M.

Functions: :func:`fit` (the imputation models), :func:`impute` (the completed endpoints, one
imputation at a time), :func:`wald_risk_difference`, :func:`rubin`, and the two that do it all:
:func:`analyse_imputed` (one pair of shifts) and :func:`tipping_point` (a grid of them, with
one fit and one set of random numbers for every pair: common random numbers, so the estimate
is monotone in each shift and the grid costs little more than one analysis). A trial's model
is "too few observed" below p observed patients (p = 2 + q coefficients).

Degenerate cases, as elsewhere in the package: a trial with missing endpoints and too few
observed ones to fit the model, or an arm with no analysed patient, gives NaN estimate, SE and
interval and p-value 1.0; W = 0 (every completed table has rates of 0 or 1 only) carries no
evidence: p-value 1.0, and the interval is [-1, 1] unless B = 0 too (then the estimate itself,
a zero-width interval like the Wald interval of such a table). B = 0, as when no endpoint of
the trial is missing, takes the complete-data df nu = n - 2 (Barnard & Rubin's formula tends
to nu (nu + 1) / (nu + 3) as B -> 0), so that a trial without missing data gets its
complete-data analysis exactly: the Wald estimate and SE, on n - 2 df.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from scipy import special

from simulate.analysis.base import check_choice
from simulate.analysis.logistic import INTERCEPT_SD, PRIOR_SD, LogisticFit, fit_logistic
from simulate.design.choices import ALTERNATIVES

METHODS = ("mar", "j2r")
"""How missing endpoints are imputed: under MAR from the patient's own arm, or jump to
reference (the experimental arm's from the control arm's model)."""
DF_METHODS = ("barnard_rubin", "rubin1987")


@dataclass(frozen=True)
class ImputationData:
    """One comparison over a block of trials; (trials, patients) arrays padded to the largest.

    ``analysed`` bool: the slot holds a patient of the analysed population (False: padding);
    ``arm``: 1 experimental, 0 control; ``y`` int8: 1 remission, 0 not, -1 missing;
    ``covariates`` float (trials, patients, q): baseline covariates and the last observed
    status, finite wherever ``analysed``."""

    analysed: np.ndarray
    arm: np.ndarray
    y: np.ndarray
    covariates: np.ndarray

    def __post_init__(self) -> None:
        shape = np.shape(self.analysed)
        if len(shape) != 2 or np.shape(self.arm) != shape or np.shape(self.y) != shape:
            raise ValueError("analysed, arm and y must be (trials, patients) arrays of one shape")
        if np.ndim(self.covariates) != 3 or np.shape(self.covariates)[:2] != shape:
            raise ValueError(f"covariates must be (trials, patients, q) with (trials, patients) = {shape}")
        a = np.asarray(self.analysed, dtype=bool)
        if np.any(a & ~np.isin(self.y, (-1, 0, 1))) or np.any(a & ~np.isin(self.arm, (0, 1))):
            raise ValueError("y must be 1, 0 or -1 (missing) and arm 1 or 0 for analysed patients")
        if not np.all(np.isfinite(self.covariates) | ~a[..., None]):
            raise ValueError("covariates must be finite for analysed patients")

    @property
    def observed(self) -> np.ndarray:
        """(trials, patients) bool: analysed with the endpoint observed."""
        return np.asarray(self.analysed, dtype=bool) & (np.asarray(self.y) >= 0)

    @property
    def missing(self) -> np.ndarray:
        """(trials, patients) bool: analysed with the endpoint missing."""
        return np.asarray(self.analysed, dtype=bool) & (np.asarray(self.y) < 0)

    def design(self, reference: bool = False) -> np.ndarray:
        """(trials, patients, 2 + q): intercept, arm (0 for everyone if ``reference``) and the
        covariates; zeros in padding slots."""
        a = np.asarray(self.analysed, dtype=bool)[..., None]
        arm = np.zeros(a.shape) if reference else np.asarray(self.arm, dtype=float)[..., None]
        X = np.concatenate([np.ones(a.shape), arm, np.asarray(self.covariates, dtype=float)], axis=2)
        return np.where(a, X, 0.0)


@dataclass(frozen=True)
class Draws:
    """Random numbers of M imputations, for callers who supply their own: ``normals``
    (M, trials, p) standard normals for beta*, ``uniforms`` (M, trials, patients) in [0, 1)
    for the endpoints. A ``np.random.Generator`` draws the same shapes, one imputation at a
    time, normals first."""

    normals: np.ndarray
    uniforms: np.ndarray


@dataclass(frozen=True)
class Combined:
    """Rubin's rules over M imputations, arrays of one shape (per trial, or more axes):
    ``estimate`` Q, ``within`` W, ``between`` B, ``total`` T = W + (1 + 1/M) B, ``se`` sqrt(T),
    ``df`` of the t reference."""

    estimate: np.ndarray
    within: np.ndarray
    between: np.ndarray
    total: np.ndarray
    se: np.ndarray
    df: np.ndarray

    def interval(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Two-sided t interval Q -/+ t_df se: (low, high); [-1, 1], the whole range of a risk
        difference, where W = 0 < B or df = 0 (its t quantile is infinite)."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
        flat = ((self.within == 0) & (self.between > 0)) | (self.df <= 0)
        with np.errstate(invalid="ignore"):
            half = special.stdtrit(np.where(flat, 1.0, self.df), 0.5 + confidence / 2) * self.se
        return np.where(flat, -1.0, self.estimate - half), np.where(flat, 1.0, self.estimate + half)

    def p_value(self, alternative: str = "two-sided", margin: float = 0.0) -> np.ndarray:
        """p-value of t = (Q + margin) / se on ``df``: H0 p_t - p_c = -margin ("two-sided") or
        <= -margin ("greater"; margin >= 0 for non-inferiority). 1.0 where W = 0, df = 0 or Q is
        NaN."""
        check_choice(alternative, ALTERNATIVES, "alternative")
        if not (np.isfinite(margin) and margin >= 0):
            raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
        ok = (self.within > 0) & (self.df > 0) & np.isfinite(self.estimate)
        t = np.where(ok, self.estimate + margin, 0.0) / np.where(ok, self.se, 1.0)
        df = np.where(ok, self.df, 1.0)
        p = special.stdtr(df, -t) if alternative == "greater" else 2.0 * special.stdtr(df, -np.abs(t))
        return np.where(ok, p, 1.0)


@dataclass(frozen=True)
class ImputedEstimates:
    """Per trial (and per tipping-point pair): the combined risk difference ``estimate``, its
    ``se``, ``df``, interval (``ci_low``, ``ci_high``) and ``p_value``; ``converged`` (trials,)
    whether the trial's imputation model converged."""

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    converged: np.ndarray


class _Pool:
    """Running mean of the estimates and of their variances, and sum of squared deviations of
    the estimates (Welford): exact when every imputation gives the same estimate."""

    def __init__(self) -> None:
        self.m, self.mean, self.m2, self.within = 0, 0.0, 0.0, 0.0

    def add(self, estimate: np.ndarray, variance: np.ndarray) -> None:
        self.m += 1
        delta = estimate - self.mean
        self.mean = self.mean + delta / self.m
        self.m2 = self.m2 + delta * (estimate - self.mean)
        self.within = self.within + (variance - self.within) / self.m

    def combine(self, df_complete, df_method: str = "barnard_rubin") -> Combined:
        return _combine(self.m, self.mean, self.within, self.m2 / (self.m - 1), df_complete, df_method)


def _combine(m, estimate, within, between, df_complete, df_method) -> Combined:
    """Rubin's rules from Q, W, B; df Barnard-Rubin or Rubin (1987), df_complete where B = 0."""
    check_choice(df_method, DF_METHODS, "df_method")
    estimate, within, between = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (estimate, within, between)))
    total = within + (1.0 + 1.0 / m) * between
    df_complete = np.broadcast_to(np.asarray(df_complete, dtype=float), total.shape)
    lam = np.divide((1.0 + 1.0 / m) * between, total, out=np.zeros_like(total), where=total > 0)
    positive = lam > 0
    df_old = np.divide(m - 1.0, lam**2, out=np.full_like(lam, np.inf), where=positive)
    if df_method == "rubin1987":
        df = df_old
    else:
        df_obs = (df_complete + 1.0) / (df_complete + 3.0) * df_complete * (1.0 - lam)
        denominator = np.where(positive, df_old + df_obs, 1.0)
        df = np.where(positive, np.where(positive, df_old, 0.0) * df_obs / denominator, df_obs)
    df = np.where(np.isnan(total), np.nan, np.where(between == 0, df_complete, df))
    return Combined(estimate, within, between, total, np.sqrt(total), df)


def rubin(estimates: np.ndarray, variances: np.ndarray, df_complete, df_method: str = "barnard_rubin") -> Combined:
    """Rubin's rules over axis 0 of ``estimates`` and ``variances`` (M, ...), M >= 2, with the
    complete-data df ``df_complete`` (broadcast to the rest)."""
    estimates, variances = np.asarray(estimates, dtype=float), np.asarray(variances, dtype=float)
    if estimates.shape != variances.shape or estimates.ndim < 1 or estimates.shape[0] < 2:
        raise ValueError("estimates and variances must be (M, ...) arrays of one shape, M >= 2")
    pool = _Pool()
    for q, u in zip(estimates, variances):
        pool.add(q, u)
    return pool.combine(df_complete, df_method)


def wald_risk_difference(x_c, n_c, x_t, n_t) -> tuple[np.ndarray, np.ndarray]:
    """(p_t - p_c, p_t(1 - p_t)/n_t + p_c(1 - p_c)/n_c); NaN where an arm is empty."""
    empty = (np.asarray(n_c) == 0) | (np.asarray(n_t) == 0)
    n_c, n_t = np.maximum(n_c, 1), np.maximum(n_t, 1)
    p_c, p_t = x_c / n_c, x_t / n_t
    variance = p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c
    return np.where(empty, np.nan, p_t - p_c), np.where(empty, np.nan, variance)


def fit(data: ImputationData, prior_sd: float = PRIOR_SD, intercept_sd: float = INTERCEPT_SD,
        min_observed: int | None = None) -> LogisticFit:
    """The imputation model of each trial, fitted on its observed patients: beta (trials, p),
    p = 2 + q, in the order of :meth:`ImputationData.design`."""
    return fit_logistic(data.design(), np.asarray(data.y) == 1, data.observed, prior_sd, intercept_sd, min_observed)


def _check(data: ImputationData, imputations: int, rng, draws, method: str) -> None:
    """A ValueError unless M >= 2, the method is known and random numbers are there to use."""
    check_choice(method, METHODS, "method")
    if imputations < 2:
        raise ValueError(f"Rubin's rules need at least 2 imputations, got {imputations!r}")
    trials, patients, q = np.shape(data.covariates)
    if draws is not None:
        normals, uniforms = (imputations, trials, q + 2), (imputations, trials, patients)
        if np.shape(draws.normals) != normals or np.shape(draws.uniforms) != uniforms:
            raise ValueError(f"draws must be {normals} normals and {uniforms} uniforms")
    elif rng is None:
        raise ValueError("give a np.random.Generator or draws")


def _predictors(data: ImputationData, fitted: LogisticFit, imputations: int, rng, draws,
                method: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(x' beta* (trials, patients), uniforms) for each imputation in turn: beta* = beta_hat +
    factor z, z the draws' normals or the generator's (trials, p), then its uniforms."""
    X = data.design()
    if method == "j2r":  # the experimental arm's missing patients take the control arm's model
        X = np.where((data.missing & (np.asarray(data.arm) == 1))[..., None], data.design(reference=True), X)
    for m in range(imputations):
        if draws is not None:
            z, u = draws.normals[m], draws.uniforms[m]
        else:
            z, u = rng.standard_normal(X.shape[::2]), rng.random(X.shape[:2])
        beta = fitted.beta + np.einsum("tpq,tq->tp", fitted.factor, z)
        yield np.einsum("tnp,tp->tn", X, beta), u


def impute(data: ImputationData, fitted: LogisticFit, imputations: int, rng: np.random.Generator | None = None,
           *, draws: Draws | None = None, method: str = "mar",
           deltas: tuple[float, float] = (0.0, 0.0)) -> Iterator[np.ndarray]:
    """The M completed endpoints, one (trials, patients) int8 array at a time: observed values
    kept, missing ones drawn as u < expit(x' beta* + delta_arm) (delta of the patient's own arm,
    under J2R too), 0 in padding slots. Trials whose
    fit is not usable get 0 for their missing endpoints (their analyses are blanked by
    :func:`analyse_imputed`)."""
    _check(data, imputations, rng, draws, method)
    missing, responders = data.missing, data.observed & (np.asarray(data.y) == 1)
    shift = np.where(np.asarray(data.arm) == 1, deltas[1], deltas[0])
    return ((responders | (missing & (u < special.expit(eta + shift)))).astype(np.int8)
            for eta, u in _predictors(data, fitted, imputations, rng, draws, method))


def _arm_counts(data: ImputationData) -> dict:
    """Per arm (0, 1): analysed n, observed responders, and the missing slots, per trial."""
    out = {}
    for a in (0, 1):
        in_arm = np.asarray(data.analysed, dtype=bool) & (np.asarray(data.arm) == a)
        out[a] = (in_arm.sum(axis=1), (in_arm & (np.asarray(data.y) == 1)).sum(axis=1), data.missing & in_arm)
    return out


def tipping_point(data: ImputationData, imputations: int, rng: np.random.Generator | None = None,
                  deltas_control=(0.0,), deltas_experimental=(0.0,), *, alpha: float = 0.05,
                  alternative: str = "two-sided", margin: float = 0.0, method: str = "mar",
                  draws: Draws | None = None, prior_sd: float = PRIOR_SD,
                  df_method: str = "barnard_rubin") -> ImputedEstimates:
    """Multiple imputation over a grid of shifts: arrays (trials, len(deltas_control),
    len(deltas_experimental)) (``converged`` (trials,)). One fit and one set of random numbers
    serve every pair (common random numbers), so the estimate rises with delta_experimental
    and falls with delta_control in every trial. The interval is two-sided at 1 - alpha, or
    1 - 2 alpha for "greater" (its lower limit the one-sided bound), as Setting.at_level."""
    check_choice(alternative, ALTERNATIVES, "alternative")
    confidence = 1 - alpha if alternative == "two-sided" else 1 - 2 * alpha
    d_c, d_t = (np.atleast_1d(np.asarray(d, dtype=float)) for d in (deltas_control, deltas_experimental))
    if d_c.ndim != 1 or d_t.ndim != 1 or not (np.all(np.isfinite(d_c)) and np.all(np.isfinite(d_t))):
        raise ValueError("deltas must be finite numbers, one axis of them per arm")
    _check(data, imputations, rng, draws, method)
    fitted = fit(data, prior_sd)
    (n_c, obs_c, miss_c), (n_t, obs_t, miss_t) = _arm_counts(data).values()
    blank = ((miss_c | miss_t).any(axis=1) & ~fitted.usable)[:, None, None]
    pool = _Pool()
    for eta, u in _predictors(data, fitted, imputations, rng, draws, method):
        x_c = obs_c[:, None] + np.stack([(miss_c & (u < special.expit(eta + d))).sum(axis=1) for d in d_c], axis=1)
        x_t = obs_t[:, None] + np.stack([(miss_t & (u < special.expit(eta + d))).sum(axis=1) for d in d_t], axis=1)
        q, v = wald_risk_difference(x_c[:, :, None], n_c[:, None, None], x_t[:, None, :], n_t[:, None, None])
        pool.add(np.where(blank, np.nan, q), np.where(blank, np.nan, v))
    combined = pool.combine((n_c + n_t - 2.0)[:, None, None], df_method)
    low, high = combined.interval(confidence)
    return ImputedEstimates(combined.estimate, combined.se, combined.df, low, high,
                            combined.p_value(alternative, margin), fitted.converged)


def analyse_imputed(data: ImputationData, imputations: int, rng: np.random.Generator | None = None, *,
                    alpha: float = 0.05, alternative: str = "two-sided", margin: float = 0.0,
                    method: str = "mar", deltas: tuple[float, float] = (0.0, 0.0), draws: Draws | None = None,
                    prior_sd: float = PRIOR_SD, df_method: str = "barnard_rubin") -> ImputedEstimates:
    """Multiple imputation of each trial's missing endpoints and Rubin's rules on the risk
    difference: (trials,) arrays. The same as :func:`impute`, :func:`wald_risk_difference` on
    each completed data set and :func:`rubin`, with the same random numbers."""
    grid = tipping_point(data, imputations, rng, (deltas[0],), (deltas[1],), alpha=alpha, alternative=alternative,
                         margin=margin, method=method, draws=draws, prior_sd=prior_sd, df_method=df_method)
    return ImputedEstimates(*(a[:, 0, 0] for a in (grid.estimate, grid.se, grid.df, grid.ci_low, grid.ci_high,
                                                   grid.p_value)), grid.converged)
