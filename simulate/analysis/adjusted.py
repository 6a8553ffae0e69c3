"""Covariate-adjusted analyses of a binary endpoint, for every trial of a block at once.

**g-computation** (``analysis.adjustment = "g_computation"``; FDA, *Adjusting for Covariates in
Randomized Clinical Trials for Drugs and Biological Products*, 2023). In each trial a logistic
working model, logit P(Y = 1 | A, X) = b0 + b1 A + X'g, is fitted by maximum likelihood to the
analysed patients of the two arms (A = 1 experimental, 0 control; X the covariates of
``analysis.adjust_for``). Every analysed patient's response is then predicted under each arm,
mu_a(X_i) = expit(b0 + b1 a + X_i'g), and averaged over all of them: theta_a = mean_i mu_a(X_i),
the marginal response rate had everyone received arm a. The estimate is the marginal risk
difference theta_1 - theta_0 (the risk ratio and the odds ratio follow from the same pair).

Its variance, with n analysed patients, pi_a = n_a / n, and sample moments (n - 1 denominators):

* ``model_robust`` (Ye, Shao, Yi & Zhao 2023, "Toward better practice of covariate adjustment in
  analyzing randomized clinical trials", *Biometrika* 110, 1101-1113), valid whether or not the
  working model is right::

      V_aa = Var_a(Y - mu_a(X)) / pi_a + 2 Cov_a(Y, mu_a(X)) - Var(mu_a(X))
      V_ab = Cov_b(Y, mu_a(X)) + Cov_a(Y, mu_b(X)) - Cov(mu_a(X), mu_b(X))

  where Var_a, Cov_a are over the patients of arm a and Var, Cov over all; Cov(theta) = V / n.
  Under simple randomisation this is exact to first order; under randomisation stratified by
  factors the model leaves out it is conservative (Ye et al. section 4), which the report says.
* ``delta_method`` (Ge, Durham, Meyer, Xie & Thomas 2011, "Covariate-adjusted difference in
  proportions from clinical trials using logistic regression and weighted risk differences",
  *Drug Information Journal* 45, 481-493): Cov(theta) = G Sigma G', with Sigma the working
  model's inverse information and G_a = mean_i mu_a(X_i)(1 - mu_a(X_i)) x_ia', the covariates
  taken as fixed.

The fit is :func:`simulate.analysis.logistic.fit_logistic` with a prior so wide
(:data:`PRIOR_SD`) that it is the maximum-likelihood fit wherever one exists (a trial whose arm
all respond has none; its predictions still tend to the observed 0 or 1). The test is Wald's on
the risk difference (at -margin for non-inferiority), the interval Wald's.

**Mantel-Haenszel** (``analysis.adjustment = "mantel_haenszel"``): over the randomisation strata
k, with n_1k, n_0k patients and x_1k, x_0k responders, weights w_k = n_1k n_0k / N_k and
RD_MH = sum w_k (x_1k / n_1k - x_0k / n_0k) / sum w_k; Sato's (1989, *Biometrics* 45,
1323-1324) variance (RD_MH sum P_k + sum Q_k) / (sum w_k)^2, P_k = (n_1k^2 x_0k - n_0k^2 x_1k +
n_1k n_0k (n_0k - n_1k) / 2) / N_k^2, Q_k = (x_1k (n_0k - x_0k) + x_0k (n_1k - x_1k)) / (2 N_k);
a stratum missing an arm carries no weight.

With ``analysis.missing = "mi_mar"`` or ``"mi_j2r"`` each completed data set of the Wald
test's visit-by-visit imputation (:mod:`simulate.analysis.visit_imputation`, the same draws) is
analysed by g-computation and the estimates are combined by Rubin's rules.

Written here: no Python library fits a logistic model per trial across a block of trials, or
standardises it with these variances, at the speed a power run needs (statsmodels fits one
model at a time; the tests compare with it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import special

from simulate.analysis.base import Estimates, Setting, TwoArms

__all__ = ["AdjustmentData", "GComputation", "covariate_matrix", "evaluate_g_computation",
           "evaluate_mantel_haenszel", "g_computation", "look_z", "mantel_haenszel", "patients_of"]

PRIOR_SD = 1e4
"""The working model's prior sd on each standardised coefficient and the intercept: so wide
that the fit is the maximum-likelihood one to within about 1e-9 of its coefficients."""


@dataclass(frozen=True)
class AdjustmentData:
    """One comparison's patients over a block of trials, (trials, slots) arrays padded to the
    widest: ``analysed`` the slot holds an analysed patient, ``arm`` 1 experimental and 0
    control, ``y`` the analysed endpoint (0 or 1, as the missing-data rule counts it), ``X``
    (trials, slots, q) the covariates of the working model, named ``names``."""

    analysed: np.ndarray
    arm: np.ndarray
    y: np.ndarray
    X: np.ndarray
    names: tuple[str, ...]
    variance: str = "model_robust"
    """The variance a group-sequential look's statistic uses (:func:`look_z`; the final analysis
    takes ``analysis.adjustment_variance`` from its setting)."""
    visits: Any = None
    """With multiple imputation: the same patients' visits
    (:class:`simulate.analysis.visit_imputation.VisitData`), from which each completed data set
    is drawn."""


def covariate_matrix(baseline: np.ndarray, columns: tuple[str, ...], adjust_for: tuple[str, ...]) -> np.ndarray:
    """(..., q) the covariates ``adjust_for`` (a column name, or ``log2(name)``) from ``baseline``
    (..., len(columns)) whose last axis holds ``columns``."""
    out = []
    for name in adjust_for:
        log = name.startswith("log2(") and name.endswith(")")
        column = baseline[..., columns.index(name[5:-1] if log else name)]
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.log2(column) if log else column)
    return np.stack(out, axis=-1) if out else np.zeros((*baseline.shape[:-1], 0))


@dataclass(frozen=True)
class GComputation:
    """The g-computation of a block of trials: ``theta`` (trials, 2) the marginal rates (control,
    experimental); ``cov`` (trials, 2, 2) their covariance; ``coef`` (trials, 2 + q) the working
    model's coefficients (intercept, arm, covariates) and ``coef_cov`` their model-based
    covariance; ``converged`` (trials,) whether the fit converged; ``analysed`` (trials,)."""

    theta: np.ndarray
    cov: np.ndarray
    coef: np.ndarray
    coef_cov: np.ndarray
    converged: np.ndarray
    analysed: np.ndarray

    @property
    def difference(self) -> np.ndarray:
        return self.theta[:, 1] - self.theta[:, 0]

    @property
    def difference_se(self) -> np.ndarray:
        v = self.cov[:, 1, 1] + self.cov[:, 0, 0] - 2 * self.cov[:, 0, 1]
        return np.sqrt(np.where(v > 0, v, np.nan))

    def ratio(self, odds: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The log risk ratio (or log odds ratio) and its delta-method SE."""
        t0, t1 = self.theta[:, 0], self.theta[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            g0, g1 = (1 / (t0 * (1 - t0)), 1 / (t1 * (1 - t1))) if odds else (1 / t0, 1 / t1)
            log = (special.logit(t1) - special.logit(t0)) if odds else np.log(t1 / t0)
            v = g1**2 * self.cov[:, 1, 1] + g0**2 * self.cov[:, 0, 0] - 2 * g0 * g1 * self.cov[:, 0, 1]
        return log, np.sqrt(np.where(v > 0, v, np.nan))


def _compact(data: AdjustmentData) -> AdjustmentData:
    """The analysed patients moved to the front of each trial's row, and the row cut to the
    most any trial analyses (the fit's work scales with the slots)."""
    order = np.argsort(~data.analysed, axis=1, kind="stable")
    width = max(int(data.analysed.sum(axis=1).max(initial=0)), 1)
    take = lambda a: np.take_along_axis(a, order[:, :width], axis=1)  # noqa: E731
    X = np.take_along_axis(data.X, order[:, :width, None], axis=1)
    return AdjustmentData(take(data.analysed), take(data.arm), take(data.y), X, data.names)


def g_computation(data: AdjustmentData, variance: str = "model_robust") -> GComputation:
    """The g-computation of every trial (module docstring)."""
    from simulate.analysis.logistic import fit_logistic

    d = _compact(data)
    m = d.analysed
    trials, width = m.shape
    arm = np.where(m, d.arm, 0).astype(float)
    X = np.where(m[..., None], d.X, 0.0)
    design = np.concatenate([np.ones((trials, width, 1)), arm[..., None], X], axis=2)
    y = np.where(m, d.y, 0).astype(float)
    fit = fit_logistic(design, y, m, prior_sd=PRIOR_SD, intercept_sd=PRIOR_SD, min_fitted=1)
    beta = np.nan_to_num(fit.beta)
    as_arm = [design.copy(), design.copy()]
    as_arm[0][..., 1], as_arm[1][..., 1] = 0.0, 1.0
    mu = np.stack([special.expit(np.einsum("tnp,tp->tn", Z, beta)) for Z in as_arm], axis=-1)   # (t, n, 2)
    n = m.sum(axis=1)
    w = m / np.maximum(n, 1)[:, None]
    theta = np.einsum("tn,tna->ta", w, mu)
    if variance == "delta_method":
        G = np.stack([np.einsum("tn,tnp->tp", w * mu[..., a] * (1 - mu[..., a]), as_arm[a]) for a in (0, 1)], axis=1)
        cov = np.einsum("tap,tpq,tbq->tab", G, np.nan_to_num(fit.cov), G)
    elif variance == "model_robust":
        cov = _model_robust(y, d.arm, m, mu)
    else:
        raise ValueError(f"variance: got {variance!r}; allowed: 'model_robust', 'delta_method'")
    both = np.stack([(m & (d.arm == a)).sum(axis=1) for a in (0, 1)], axis=1)
    empty = (both == 0).any(axis=1)
    theta[empty] = np.nan
    cov[empty] = np.nan
    return GComputation(theta=theta, cov=cov, coef=fit.beta, coef_cov=fit.cov, converged=fit.converged, analysed=n)


def _moment(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The sample covariance (n - 1 denominator) of a and b over each trial's masked patients
    (NaN with fewer than two)."""
    k = mask.sum(axis=1)
    mean_a = np.where(mask, a, 0).sum(axis=1) / np.maximum(k, 1)
    mean_b = np.where(mask, b, 0).sum(axis=1) / np.maximum(k, 1)
    s = np.where(mask, (a - mean_a[:, None]) * (b - mean_b[:, None]), 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 1, s / (k - 1), np.nan)


def _model_robust(y: np.ndarray, arm: np.ndarray, m: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Cov(theta_0, theta_1) by Ye et al.'s (2023) formula (module docstring), (trials, 2, 2)."""
    n = m.sum(axis=1)
    masks = [m & (arm == 0), m & (arm == 1)]
    pi = np.stack([k.sum(axis=1) for k in masks], axis=1) / np.maximum(n, 1)[:, None]
    V = np.empty((len(n), 2, 2))
    cov_y_mu = np.empty((len(n), 2, 2))          # [:, b, a]: Cov over arm a's patients of (Y, mu_b)
    for a in (0, 1):
        for b in (0, 1):
            cov_y_mu[:, b, a] = _moment(y, mu[..., b], masks[a])
    for a in (0, 1):
        residual = y - mu[..., a]
        with np.errstate(invalid="ignore", divide="ignore"):
            V[:, a, a] = _moment(residual, residual, masks[a]) / pi[:, a]
        for b in (0, 1):
            V[:, a, b] = (V[:, a, a] if a == b else 0.0) + cov_y_mu[:, a, b] + cov_y_mu[:, b, a] \
                - _moment(mu[..., a], mu[..., b], m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return V / n[:, None, None]


def _wald(estimate: np.ndarray, se: np.ndarray, setting: Setting) -> Estimates:
    """The Wald test of the risk difference against -margin, and its interval."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (estimate + setting.margin) / se
    ok = np.isfinite(z)
    if setting.alternative == "greater":
        p = special.ndtr(-z)
    else:
        p = 2 * special.ndtr(-np.abs(z))
    p = np.where(ok, p, 1.0)
    if setting.confidence is None:
        return Estimates(estimate, None, None, p)
    half = special.ndtri(0.5 + setting.confidence / 2) * se
    return Estimates(estimate, estimate - half, estimate + half, p)


def evaluate_g_computation(data: TwoArms, setting: Setting) -> Estimates:
    """The registered analysis ``g_computation``: the covariate-adjusted risk difference of each
    trial, its Wald interval and p-value (the patients come as :class:`AdjustmentData`)."""
    if not isinstance(data.patients, AdjustmentData):
        raise ValueError("g-computation reads the patients one by one: TwoArms.patients must be AdjustmentData")
    if setting.imputation is not None and data.patients.visits is not None:
        return _imputed(data.patients, setting)
    g = g_computation(data.patients, setting.adjustment_variance)
    return _wald(g.difference, g.difference_se, setting)


def _imputed(data: AdjustmentData, setting: Setting) -> Estimates:
    """g-computation of each completed data set (:func:`simulate.analysis.visit_imputation.completed_endpoints`),
    combined by Rubin's rules with Barnard and Rubin's degrees of freedom, as the Wald test's
    multiple imputation combines its estimates."""
    from simulate.analysis.imputation import _Pool
    from simulate.analysis.visit_imputation import completed_endpoints

    mi, visits = setting.imputation, data.visits
    pool = _Pool()
    for y in completed_endpoints(visits, mi.imputations, mi.method):
        g = g_computation(replace(data, y=y, analysed=visits.analysed, visits=None), setting.adjustment_variance)
        pool.add(g.difference, g.difference_se**2)
    n = visits.analysed.sum(axis=1)
    combined = pool.combine(n - 2.0)
    p = np.where(np.isfinite(combined.estimate), combined.p_value(setting.alternative, setting.margin), 1.0)
    if setting.confidence is None:
        return Estimates(combined.estimate, None, None, p)
    low, high = combined.interval(setting.confidence)
    return Estimates(combined.estimate, low, high, p)


def look_z(data: TwoArms, margin: float) -> np.ndarray:
    """The statistic of g-computation at a group-sequential look: the Wald z of the adjusted risk
    difference, (estimate + margin) / SE (the variance the patients' data name, model-robust by
    default); the boundaries of :mod:`simulate.analysis.sequential` hold for it as for the score z
    (both are efficient-score-like statistics with independent increments in large samples)."""
    if not isinstance(data.patients, AdjustmentData):
        raise ValueError("g-computation at a look reads the patients one by one: TwoArms.patients must be AdjustmentData")
    g = g_computation(data.patients, data.patients.variance)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (g.difference + margin) / g.difference_se


def mantel_haenszel(x_c, n_c, x_t, n_t) -> tuple[np.ndarray, np.ndarray]:
    """The Mantel-Haenszel risk difference and Sato's SE of each trial from (trials, strata)
    counts (module docstring); NaN where no stratum has both arms."""
    x_c, n_c, x_t, n_t = (np.asarray(a, dtype=float) for a in (x_c, n_c, x_t, n_t))
    N = n_c + n_t
    both = (n_c > 0) & (n_t > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(both, n_t * n_c / np.where(N > 0, N, 1), 0.0)
        diff = np.where(both, x_t / np.where(n_t > 0, n_t, 1) - x_c / np.where(n_c > 0, n_c, 1), 0.0)
        W = w.sum(axis=1)
        rd = np.where(W > 0, (w * diff).sum(axis=1) / W, np.nan)
        Nk = np.where(N > 0, N, 1)
        P = np.where(both, (n_t**2 * x_c - n_c**2 * x_t + n_t * n_c * (n_c - n_t) / 2) / Nk**2, 0.0)
        Q = np.where(both, (x_t * (n_c - x_c) + x_c * (n_t - x_t)) / (2 * Nk), 0.0)
        v = (rd * P.sum(axis=1) + Q.sum(axis=1)) / W**2
    return rd, np.sqrt(np.where(v > 0, v, np.nan))


def evaluate_mantel_haenszel(data: TwoArms, setting: Setting) -> Estimates:
    """The registered analysis ``mantel_haenszel``: the stratified risk difference over the
    randomisation strata, Sato's variance, Wald's test and interval."""
    strata = data.strata if data.strata is not None else tuple(np.asarray(a)[:, None] for a in
                                                               (data.x_c, data.n_c, data.x_t, data.n_t))
    rd, se = mantel_haenszel(*strata)
    return _wald(rd, se, setting)


def patients_of(analysed, arm, y, baseline, scenario) -> AdjustmentData:
    """A comparison's patients for the scenario's g-computation: ``analysed``, ``arm`` (1
    experimental) and ``y`` (trials, slots), ``baseline`` (trials, slots, 2) the
    :data:`~simulate.design.choices.BASELINE_COVARIATES`."""
    from simulate.design.choices import BASELINE_COVARIATES

    a = scenario.analysis
    return AdjustmentData(analysed=np.asarray(analysed, dtype=bool), arm=np.asarray(arm, dtype=np.int8),
                          y=np.asarray(y, dtype=np.int8),
                          X=covariate_matrix(np.asarray(baseline, dtype=float), BASELINE_COVARIATES, a.adjust_for),
                          names=tuple(a.adjust_for), variance=a.adjustment_variance)
