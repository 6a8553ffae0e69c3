"""Multiple imputation of the endpoint visit by visit, for every trial of a block at once.

A patient's endpoint is missing after a dropout (no data after it), or after an intercurrent
event whose strategy is hypothetical (the data after it do not answer the question). The
missingness is *monotone*: a patient's statuses are seen up to a last visit, and none after. So
the imputation follows the visit schedule (the sequential regression of Rubin 1987, ch. 5.4, and
of Carpenter & Kenward 2013, *Multiple Imputation and its Application*, ch. 3 and 4, on
monotone data):

1. For each step from visit j to visit j + 1 up to the endpoint visit, a logistic model of the
   status at j + 1 (in the endpoint state or not) on the arm, the baseline covariates and the
   status at j is fitted per trial to the patients seen at both visits (the batched, weakly
   penalised fit of :mod:`simulate.analysis.logistic`).
2. For each of M imputations, every step's coefficients are drawn from their posterior
   (beta* = beta_hat + L z, the Gaussian approximation: proper imputation), and each patient
   with a missing endpoint is carried forward from their last seen visit: the status at j + 1
   drawn as Bernoulli(expit(x' beta*)) given the status at j (seen, or drawn the step before).
   So the imputation conditions on everything that decided the dropout under MAR (the
   status last seen, the covariates, the arm).
3. Jump to reference (J2R, Carpenter, Roger & Kenward 2013, J Biopharm Stat 23:1352-1371): the
   experimental arm's missing patients follow the control arm's model from their last visit
   (their arm indicator set to 0), their own history kept.
4. A tipping-point shift ``delta`` of the patient's arm is added to the log-odds of the last
   step (remission at the endpoint) of an imputed patient: the shift a regulator asks about.
5. Each completed data set gives the risk difference and its Wald variance; Rubin's rules
   combine them (:mod:`simulate.analysis.imputation`: Barnard-Rubin degrees of freedom).

The random numbers come from the block's own seed (:func:`simulate.seeding.stream`, two streams
per imputation, drawn missing patient by missing patient), so a trial's imputations do not
depend on the jobs, the block's other trials, or the engine that ran it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from simulate.analysis.imputation import ImputedEstimates, _Pool, wald_risk_difference
from simulate.analysis.logistic import LogisticFit, fit_logistic
from simulate.seeding import stream

METHODS = ("mar", "j2r")


@dataclass(frozen=True)
class VisitData:
    """One comparison over a block of trials; (trials, patients) arrays padded to the widest.

    ``analysed``: the slot holds an analysed patient; ``arm``: 1 experimental, 0 control;
    ``value`` int8: the endpoint (1, 0, or -1 missing); ``history`` int8 (trials, patients,
    visits up to the endpoint's): the status seen at each visit (1 in the endpoint state, 0 not,
    -1 not seen or not usable); ``covariates`` (trials, patients, q) baseline covariates;
    ``seed``: the block's seed sequence and ``block_trials`` its size (the random numbers'
    shape); ``first_trial``: the block row of the first trial here."""

    analysed: np.ndarray
    arm: np.ndarray
    value: np.ndarray
    history: np.ndarray
    covariates: np.ndarray
    seed: np.random.SeedSequence
    block_trials: int
    visit_months: tuple[float, ...]
    """The months of the history's visits (0, then up to the endpoint's)."""
    first_trial: int = 0

    @property
    def missing(self) -> np.ndarray:
        return self.analysed & (self.value < 0)


def _design(data: VisitData, status: np.ndarray, ever: np.ndarray, month: float, gap: float) -> np.ndarray:
    """(trials, patients, 7 + q) the predictors of the status at a visit ``month`` (``gap``
    months after the previous one): intercept, in the endpoint state at the previous visit,
    relapsed (seen in it before, not now: a relapse's future differs from a patient who never
    remitted), log month and its interaction with the status, log gap and its interaction with
    the status, and the covariates for patients not yet seen in remission (they predict whether
    and when a patient remits, not how long a remission lasts)."""
    shape = status.shape + (1,)
    s = status[..., None].astype(float)
    relapsed = (ever & (status == 0))[..., None].astype(float)
    lm, lg = np.full(shape, np.log(month)), np.full(shape, np.log(gap))
    return np.concatenate([np.ones(shape), s, relapsed, lm, s * lm, lg, s * lg, data.covariates * ~ever[..., None]],
                          axis=2)


def _steps(data: VisitData) -> list[tuple[float, float]]:
    """(month, gap) of each step's later visit."""
    months = data.visit_months
    return [(months[j + 1], months[j + 1] - months[j]) for j in range(len(months) - 1)]


def fit_steps(data: VisitData) -> dict[int, LogisticFit]:
    """Each arm's transition model (0 the control, 1 the experimental), fitted to every step
    from one visit to the next that its patients were seen at both ends of, pooled over the
    steps (a status rarely changes between two visits, and a model of its own per step would
    often meet separation). Each arm has its own model: the treatment may change every
    coefficient (how fast patients remit, how long remissions last)."""
    h = data.history
    rows, outcome, seen_both = [], [], []
    ever = np.zeros(h.shape[:2], dtype=bool)
    for j, (month, gap) in enumerate(_steps(data)):
        ever |= h[..., j] == 1
        rows.append(_design(data, np.maximum(h[..., j], 0), ever, month, gap))
        outcome.append(h[..., j + 1] == 1)
        seen_both.append(data.analysed & (h[..., j] >= 0) & (h[..., j + 1] >= 0))
    X, y, seen = (np.concatenate(a, axis=1) for a in (rows, outcome, seen_both))
    arm = np.tile(data.arm, (1, len(rows)))
    fits = {}
    for a in (0, 1):                      # each arm's rows only, packed to the left: half the work
        index, valid = _packed(seen & (arm == a))
        fits[a] = fit_logistic(np.take_along_axis(X, index[..., None], axis=1), np.take_along_axis(y, index, axis=1),
                               valid, tol=FIT_TOLERANCE)
    return fits


FIT_TOLERANCE = 1e-9
"""Newton's decrement at which an imputation model's fit stops: its coefficients then sit within
about 1e-5 of their standard error of the mode, far inside the draws' spread."""


def _packed(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, valid), (trials, k): the columns where ``mask`` holds, packed to the left in
    their order (k the most in any trial), and which of the k are real."""
    k = max(1, int(mask.sum(axis=1).max()))
    index = np.argsort(~mask, axis=1, kind="stable")[:, :k]
    return index, np.take_along_axis(mask, index, axis=1)


def _draws(data: VisitData, m: int, steps: int, p: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Imputation ``m``'s normals (arms, trials, p) and uniforms (trials, k, steps) of this
    block's trials, for each trial's first ``k`` missing patients: drawn missing patient by
    missing patient (k-major), so a trial's numbers do not depend on the block's other trials."""
    rows = slice(data.first_trial, data.first_trial + data.value.shape[0])
    z = stream(data.seed, f"imputation.{m}.coefficients").standard_normal((2, data.block_trials, p))
    u = stream(data.seed, f"imputation.{m}.uniforms").random((k, steps, data.block_trials))
    return z[:, rows], u[:, :, rows].transpose(2, 0, 1)


def _last_seen(history: np.ndarray) -> np.ndarray:
    """(trials, patients) the index of each patient's last visit seen (the history is monotone)."""
    seen = history >= 0
    return np.where(seen.any(axis=2), seen.shape[2] - 1 - np.argmax(seen[..., ::-1], axis=2), 0)


def imputed_endpoints(data: VisitData, fits: dict[int, LogisticFit], m: int, method: str,
                      index: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Imputation ``m`` of the missing patients at ``index`` (trials, k; ``valid`` the real
    ones, :func:`_packed`): the last step's linear predictor of each, carried forward from their
    last seen visit by their arm's model (the control's under J2R), and the last step's
    uniforms; the caller compares them with each shift."""
    h = np.take_along_axis(data.history, index[..., None], axis=1)
    steps = h.shape[2] - 1
    if not steps:
        return np.zeros(index.shape), np.zeros(index.shape)
    z, u = _draws(data, m, steps, fits[0].beta.shape[1], index.shape[1])
    beta = [fits[a].beta + np.einsum("tpq,tq->tp", fits[a].factor, z[a]) for a in (0, 1)]
    arm = np.take_along_axis(data.arm, index, axis=1)
    model = np.zeros_like(arm) if method == "j2r" else arm
    sub = VisitData(valid, arm, np.full(index.shape, -1, dtype=np.int8), h,
                    np.take_along_axis(data.covariates, index[..., None], axis=1), data.seed, data.block_trials,
                    data.visit_months, data.first_trial)
    last = _last_seen(h)
    status = np.zeros(index.shape)
    ever = np.zeros(index.shape, dtype=bool)
    for j, (month, gap) in enumerate(_steps(data)):
        status = np.where(last >= j, np.maximum(h[..., j], 0), status)       # seen: as seen
        ever |= status == 1
        X = _design(sub, status, ever, month, gap)
        eta = np.where(model == 1, np.einsum("tnp,tp->tn", X, beta[1]), np.einsum("tnp,tp->tn", X, beta[0]))
        if j < steps - 1:
            status = np.where(last <= j, u[..., j] < special.expit(eta), status)
    return eta, u[..., steps - 1]


def analyse(data: VisitData, imputations: int, confidence: float, alternative: str, margin: float = 0.0,
            method: str = "mar", deltas_control=(0.0,), deltas_experimental=(0.0,)) -> ImputedEstimates:
    """Multiple imputation and Rubin's rules for every trial over a grid of tipping-point shifts:
    arrays (trials, len(deltas_control), len(deltas_experimental)); one fit and one set of
    random numbers serve every pair. The interval is two-sided at ``confidence``."""
    if method not in METHODS:
        raise ValueError(f"method: got {method!r}; allowed: {', '.join(METHODS)}")
    d_c, d_t = np.asarray(deltas_control, dtype=float), np.asarray(deltas_experimental, dtype=float)
    fits = fit_steps(data)
    missing = data.missing
    index, valid = _packed(missing)
    arm = np.take_along_axis(data.arm, index, axis=1)
    counts = {}
    for a in (0, 1):
        in_arm = data.analysed & (data.arm == a)
        counts[a] = (in_arm.sum(axis=1), (in_arm & (data.value == 1)).sum(axis=1), valid & (arm == a))
    (n_c, x_c0, miss_c), (n_t, x_t0, miss_t) = counts[0], counts[1]
    usable = fits[0].usable & fits[1].usable
    blank = (missing.any(axis=1) & ~usable)[:, None, None]
    pool = _Pool()
    for m in range(imputations):
        eta, u = imputed_endpoints(data, fits, m, method, index, valid)
        x_c = x_c0[:, None] + np.stack([(miss_c & (u < special.expit(eta + d))).sum(axis=1) for d in d_c], axis=1)
        x_t = x_t0[:, None] + np.stack([(miss_t & (u < special.expit(eta + d))).sum(axis=1) for d in d_t], axis=1)
        q, v = wald_risk_difference(x_c[:, :, None], n_c[:, None, None], x_t[:, None, :], n_t[:, None, None])
        pool.add(np.where(blank, np.nan, q), np.where(blank, np.nan, v))
    combined = pool.combine((n_c + n_t - 2.0)[:, None, None])
    low, high = combined.interval(confidence)
    converged = fits[0].converged & fits[1].converged
    return ImputedEstimates(combined.estimate, combined.se, combined.df, low, high,
                            combined.p_value(alternative, margin), converged)
