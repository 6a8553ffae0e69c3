"""Closed-form and exact sample sizes for comparing two proportions (equal arms).

Notation: p_c = control rate (RTX alone), p_t = treatment rate (RTX + CsA), q = 1 - p,
pbar = (p_c + p_t) / 2, d = p_t - p_c, z_a = z_{1 - alpha/2} (two-sided) or z_{1 - alpha}
("greater": treatment better), z_b = z_{power}.  Two-sided formulas use |d|; "greater" needs
d > 0.  Sample sizes are per arm and rounded up (after removing floating-point noise of 1e-9).

* pooled normal (Fleiss without continuity correction; R's power.prop.test):
  n' = (z_a sqrt(2 pbar qbar) + z_b sqrt(p_c q_c + p_t q_t))^2 / d^2.
* Fleiss with continuity correction (Fleiss, Tytun & Ury 1980):
  n = n'/4 (1 + sqrt(1 + 4 / (n' |d|)))^2.
* arcsine (Cohen's h = 2 asin sqrt(p_t) - 2 asin sqrt(p_c)): n = 2 ((z_a + z_b) / h)^2,
  as statsmodels NormalIndPower with effect size h and equal arms.
* exact: power summed over every 2x2 table, see :func:`exact_power`.
* non-inferiority on the risk difference (Farrington & Manning 1990), margin M, one-sided
  alpha: n = (z_a sqrt(V0) + z_b sqrt(V1))^2 / (d + M)^2, V1 = p_c q_c + p_t q_t and V0 the
  same at the rates restricted to p_t - p_c = -M, see :func:`n_per_arm_farrington_manning`.
* several arms against one control, with a multiplicity adjustment: the exact chance of each
  rejection, of any and of all, see :func:`exact_rejection_probabilities`.

For 60% vs 85%, two-sided alpha 0.05: pooled 49 / 65, Fleiss cc 57 / 73, arcsine 48 / 64 at
80% / 90% power.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from simulate.analysis import registry
from simulate.analysis.base import check_choice, check_margin
from simulate.design.choices import ALTERNATIVES, MISSING_STRATEGIES, MULTIPLICITY

_ROUNDING_SLACK = 1e-9


def _check(p_control, p_treat, alpha, alternative, power=None):
    check_choice(alternative, ALTERNATIVES, "alternative")
    for name, p in (("p_control", p_control), ("p_treat", p_treat)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {p!r}")
    if p_control == p_treat:
        raise ValueError("p_control equals p_treat: no effect to detect")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if power is not None and not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power!r}")
    d = p_treat - p_control
    if alternative == "greater" and power is not None and d <= 0:
        raise ValueError("alternative 'greater' needs p_treat > p_control")
    z_a = special.ndtri(1 - alpha / 2) if alternative == "two-sided" else special.ndtri(1 - alpha)
    return (abs(d) if alternative == "two-sided" else d), z_a


def _ceil(n: float) -> int:
    return int(math.ceil(n - _ROUNDING_SLACK))


def _n_pooled_raw(p_control, p_treat, alpha, power, alternative) -> float:
    d, z_a = _check(p_control, p_treat, alpha, alternative, power)
    pbar = (p_control + p_treat) / 2
    spread_h0 = math.sqrt(2 * pbar * (1 - pbar))
    spread_h1 = math.sqrt(p_control * (1 - p_control) + p_treat * (1 - p_treat))
    return (z_a * spread_h0 + special.ndtri(power) * spread_h1) ** 2 / d**2


def n_per_arm_pooled_normal(p_control, p_treat, alpha=0.05, power=0.8,
                            alternative="two-sided", margin=0.0) -> int:
    """Pooled-variance normal approximation (variance pooled under H0, unpooled under H1)."""
    _no_margin(margin)
    return _ceil(_n_pooled_raw(p_control, p_treat, alpha, power, alternative))


def n_per_arm_fleiss_cc(p_control, p_treat, alpha=0.05, power=0.8,
                        alternative="two-sided", margin=0.0) -> int:
    """Fleiss with continuity correction: n'/4 (1 + sqrt(1 + 4/(n'|d|)))^2, n' unrounded."""
    _no_margin(margin)
    n = _n_pooled_raw(p_control, p_treat, alpha, power, alternative)
    d = abs(p_treat - p_control)
    return _ceil(n / 4 * (1 + math.sqrt(1 + 4 / (n * d))) ** 2)


def cohens_h(p_control, p_treat) -> float:
    """Cohen's h = 2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c)) (0.574 for 60% vs 85%)."""
    return 2 * math.asin(math.sqrt(p_treat)) - 2 * math.asin(math.sqrt(p_control))


def n_per_arm_arcsine(p_control, p_treat, alpha=0.05, power=0.8, alternative="two-sided",
                      margin=0.0) -> int:
    """Arcsine (variance-stabilising) approximation: n = 2 ((z_a + z_b) / h)^2."""
    _no_margin(margin)
    _, z_a = _check(p_control, p_treat, alpha, alternative, power)
    h = cohens_h(p_control, p_treat)
    h = abs(h) if alternative == "two-sided" else h
    return _ceil(2 * ((z_a + special.ndtri(power)) / h) ** 2)


def power_pooled_normal(n_per_arm, p_control, p_treat, alpha=0.05, alternative="two-sided"):
    """Inverse of :func:`n_per_arm_pooled_normal` (R's power.prop.test, strict=FALSE):
    Phi((sqrt(n) d - z_a sqrt(2 pbar qbar)) / sqrt(p_c q_c + p_t q_t)); the far tail of the
    two-sided test is ignored.  ``n_per_arm`` may be an array."""
    d, z_a = _check(p_control, p_treat, alpha, alternative)
    return _power_normal(np.sqrt(np.asarray(n_per_arm, dtype=float)) * d, p_control, p_treat, z_a)


def power_fleiss_cc(n_per_arm, p_control, p_treat, alpha=0.05, alternative="two-sided"):
    """Inverse of the Fleiss continuity-corrected formula: the pooled power at
    n' = (n - 1/|d|)^2 / n, i.e. with sqrt(n') |d| = (n |d| - 1) / sqrt(n)."""
    d, z_a = _check(p_control, p_treat, alpha, alternative)
    n = np.asarray(n_per_arm, dtype=float)
    return _power_normal((n * d - 1) / np.sqrt(n), p_control, p_treat, z_a)


def _power_normal(signal, p_control, p_treat, z_a):
    pbar = (p_control + p_treat) / 2
    spread_h0 = math.sqrt(2 * pbar * (1 - pbar))
    spread_h1 = math.sqrt(p_control * (1 - p_control) + p_treat * (1 - p_treat))
    with np.errstate(divide="ignore", invalid="ignore"):
        return special.ndtr((signal - z_a * spread_h0) / spread_h1)


def _two_arm_test(test, alternative, margin):
    """The checks of :func:`simulate.analysis.compare.analyse` for a two-arm test (not a
    stratified one such as cmh)."""
    if registry.get(test).strata:
        raise ValueError(f"test {test!r} needs stratified counts: exact enumeration covers two-arm tests")
    check_choice(alternative, ALTERNATIVES, "alternative")
    check_margin(test, alternative, margin)


def _no_margin(margin) -> None:
    if margin != 0:
        raise ValueError(f"this closed form is for superiority: margin must be 0, got {margin!r}")


def closed_form_n(test, p_control, p_treat, alpha=0.05, power=0.8, alternative="two-sided",
                  margin=0.0) -> int | None:
    """The registered closed-form n per arm of ``test``
    (:attr:`simulate.analysis.registry.Entry.sample_size`), or None when it has none."""
    formula = registry.get(test).sample_size_formula()
    if formula is None:
        return None
    return formula(p_control=p_control, p_treat=p_treat, alpha=alpha, power=power, alternative=alternative,
                   margin=margin)


def _binomial_pmf(n: int, p: float) -> np.ndarray:
    """P(X = x), x = 0..n, for X ~ Binomial(n, p)."""
    from scipy import stats             # slow to import: only exact power needs it

    return stats.binom.pmf(np.arange(n + 1), n, p)


def exact_power(test, n_control, n_treat, p_control, p_treat, alpha=0.05,
                alternative="two-sided", margin=0.0) -> float:
    """Exact power: the binomial probability of every table (x_c, x_t) in 0..n_c x 0..n_t
    whose p-value from :func:`simulate.analysis.compare.p_values` is below alpha, summed:
    sum Binom(x_c; n_c, p_c) Binom(x_t; n_t, p_t) 1[p(x_c, x_t) < alpha].

    ``margin`` is the non-inferiority margin of test "farrington_manning" (which needs
    alternative "greater", as in :func:`simulate.analysis.compare.analyse`); with p_treat = p_control -
    margin the result is the exact size of that test.  Other tests need margin 0."""
    _two_arm_test(test, alternative, margin)
    x_c, x_t = np.meshgrid(np.arange(n_control + 1), np.arange(n_treat + 1), indexing="ij")
    from simulate.analysis.compare import p_values

    reject = p_values(test, x_c, n_control, x_t, n_treat, alternative, margin=margin) < alpha
    prob_c, prob_t = _binomial_pmf(n_control, p_control), _binomial_pmf(n_treat, p_treat)
    return float(prob_c @ (reject @ prob_t))


def n_per_arm_farrington_manning(p_control, p_treat, margin, alpha=0.025, power=0.8,
                                 alternative="greater") -> int:
    """Farrington & Manning (1990, Stat Med 9:1447-1454, section 3) sample size per arm (1:1)
    for non-inferiority on the risk difference: H0 p_t - p_c <= -margin, one-sided ``alpha``::

        n = (z_{1-alpha} sqrt(V0) + z_{power} sqrt(V1))^2 / (p_t - p_c + margin)^2,
        V1 = p_t (1 - p_t) + p_c (1 - p_c),   V0 = p~_t (1 - p~_t) + p~_c (1 - p~_c),

    where (p~_c, p~_t) are the rates restricted to p_t - p_c = -margin that the score test
    would estimate from a sample with observed rates (p_c, p_t) (the closed form of
    :func:`simulate.analysis.noninferiority.farrington_manning_statistic`, in which the arm size
    cancels).
    Rounded up.  This is rpact's getSampleSizeRates(getDesignGroupSequential(kMax = 1,
    alpha = alpha, sided = 1, beta = 1 - power), pi1 = p_treat, pi2 = p_control,
    thetaH0 = -margin, normalApproximation = TRUE) with ``nFixed1`` rounded up, and PASS's
    "Non-Inferiority Tests for the Difference Between Two Proportions" (Farrington-Manning).
    margin = 0 gives :func:`n_per_arm_pooled_normal` with alternative "greater".
    """
    from simulate.analysis.noninferiority import _restricted_rates

    check_margin("farrington_manning", alternative, margin)
    for name, p in (("p_control", p_control), ("p_treat", p_treat)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {p!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"one-sided alpha must lie in (0, 0.5), got {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power!r}")
    gap = p_treat - p_control + margin
    if gap <= 0:
        raise ValueError(f"p_treat - p_control must exceed -margin, got {p_treat - p_control!r} "
                         f"with margin {margin!r}")
    r_c, r_t = _restricted_rates(p_control, 1.0, p_treat, 1.0, -float(margin))
    spread_h0 = math.sqrt(r_c * (1 - r_c) + r_t * (1 - r_t))
    spread_h1 = math.sqrt(p_control * (1 - p_control) + p_treat * (1 - p_treat))
    z_a, z_b = special.ndtri(1 - alpha), special.ndtri(power)
    return _ceil((z_a * spread_h0 + z_b * spread_h1) ** 2 / gap**2)


#: Largest number of tables :func:`exact_rejection_probabilities` enumerates.
MAX_EXACT_TABLES = 20_000_000


@dataclass(frozen=True)
class RejectionProbabilities:
    """Exact chances for m experimental arms compared with one shared control.

    ``per_comparison[k]``: P(comparison k rejects), after the multiplicity adjustment.
    ``any_rejected``: P(at least one rejects), the family-wise error rate when every rate
    equals the control's.  ``all_rejected``: P(every comparison rejects)."""

    per_comparison: tuple[float, ...]
    any_rejected: float
    all_rejected: float


def exact_rejection_probabilities(test, n_control, n_arms, p_control, p_arms, alpha, alternative,
                                  multiplicity, margin=0.0) -> RejectionProbabilities:
    """Enumerate every outcome (x_c, x_1, ..., x_m) of a control arm and m experimental arms
    sharing it, independent binomials; each table is decided as a trial would be (p-values from
    :func:`simulate.analysis.compare.p_values` for each arm against the control, then
    :func:`simulate.analysis.rules.adjust_rejections`), and the decisions are weighted by
    Binom(x_c; n_c, p_c) prod_k Binom(x_k; n_k, p_k) and summed.

    The comparisons are dependent through the shared control, which is why this is summed over
    the whole (m + 1)-dimensional table: given x_c the arms are independent, so the sum runs
    over x_c outside and over the arms' joint outcomes inside.  At most
    :data:`MAX_EXACT_TABLES` tables (e.g. n <= 40 per arm for m = 2 is 41^3 = 68,921,
    n <= 15 for m = 3 is 16^4 = 65,536).
    """
    from simulate.analysis.compare import p_values
    from simulate.analysis.rules import adjust_rejections

    _two_arm_test(test, alternative, margin)
    check_choice(multiplicity, MULTIPLICITY, "multiplicity")
    n_arms, p_arms = [int(n) for n in n_arms], [float(p) for p in p_arms]
    if not n_arms or len(n_arms) != len(p_arms):
        raise ValueError(f"n_arms and p_arms need one entry per experimental arm, got "
                         f"{len(n_arms)} and {len(p_arms)}")
    if min([n_control] + n_arms) < 0:
        raise ValueError("arm sizes must be >= 0")
    for p in [p_control] + p_arms:
        if not 0 <= p <= 1:
            raise ValueError(f"rates must lie in [0, 1], got {p!r}")
    grid = tuple(n + 1 for n in n_arms)
    if (n_control + 1) * math.prod(grid) > MAX_EXACT_TABLES:
        raise ValueError(f"{(n_control + 1) * math.prod(grid):,} tables: more than "
                         f"MAX_EXACT_TABLES = {MAX_EXACT_TABLES:,}")
    m = len(n_arms)
    x_c = np.arange(n_control + 1)[:, None]
    # p_k[x_c, x_k]: each comparison's p-value, by the control's and the arm's responders
    p_k = [p_values(test, x_c, n_control, np.arange(n + 1)[None, :], n, alternative,
                             margin=margin) for n in n_arms]
    weight = np.ones(grid)
    for k, (n, p) in enumerate(zip(n_arms, p_arms)):
        weight = weight * _binomial_pmf(n, p).reshape([-1 if j == k else 1 for j in range(m)])
    each, any_, all_ = np.zeros(m), 0.0, 0.0
    for x, prob in enumerate(_binomial_pmf(n_control, p_control)):
        p = np.stack(np.broadcast_arrays(
            *(pk[x].reshape([-1 if j == k else 1 for j in range(m)]) for k, pk in enumerate(p_k))),
            axis=-1)
        reject = adjust_rejections(p, alpha, multiplicity)
        each += prob * np.tensordot(weight, reject, axes=m)
        any_ += prob * float(np.sum(weight * reject.any(axis=-1)))
        all_ += prob * float(np.sum(weight * reject.all(axis=-1)))
    return RejectionProbabilities(tuple(float(v) for v in each), float(any_), float(all_))


@dataclass(frozen=True)
class ExactSampleSize:
    """Exact sample size per arm for a saw-toothed power curve.

    ``first_n``: smallest n whose exact power reaches the target.  ``stable_n``: smallest n
    from which every n up to ``checked_to`` (n_max, or n + window) reaches it.  Either is None
    when not reached by n_max.  ``powers[i]`` is the exact power at n = ``n_min + i``.
    """

    test: str
    target_power: float
    first_n: int | None
    stable_n: int | None
    first_power: float | None
    stable_power: float | None
    checked_to: int
    n_min: int
    powers: tuple = field(repr=False, default=())


def n_per_arm_exact(test, p_control, p_treat, alpha=0.05, power=0.8, alternative="two-sided",
                    n_max=500, window=None, n_min=2) -> ExactSampleSize:
    """Scan n = n_min..n_max (equal arms) with :func:`exact_power`.

    With ``window=None`` every n up to n_max is computed (Fisher at n_max = 500 takes
    seconds); with a window the scan stops as soon as ``window + 1`` consecutive n reach the
    target, and ``stable_n`` is the first of them.
    """
    _check(p_control, p_treat, alpha, alternative, power)
    if not 1 <= n_min <= n_max:
        raise ValueError(f"need 1 <= n_min <= n_max, got n_min={n_min!r}, n_max={n_max!r}")
    if window is not None and window < 0:
        raise ValueError(f"window must be >= 0 or None, got {window!r}")
    powers, first, run_start = [], None, None
    for n in range(n_min, n_max + 1):
        pw = exact_power(test, n, n, p_control, p_treat, alpha, alternative)
        powers.append(pw)
        if pw >= power:
            first = n if first is None else first
            run_start = n if run_start is None else run_start
            if window is not None and n - run_start >= window:
                break
        else:
            run_start = None
    checked_to = n_min + len(powers) - 1

    def at(k):
        return None if k is None else powers[k - n_min]

    return ExactSampleSize(test=test, target_power=power, first_n=first, stable_n=run_start,
                           first_power=at(first), stable_power=at(run_start),
                           checked_to=checked_to, n_min=n_min, powers=tuple(powers))


def analytic_references(p_control, p_treat, alpha=0.05, power=0.8,
                        alternative="two-sided") -> dict[str, int]:
    """Per-arm n from the three closed forms: keys "pooled_normal", "fleiss_cc", "arcsine"."""
    args = (p_control, p_treat, alpha, power, alternative)
    return {
        "pooled_normal": n_per_arm_pooled_normal(*args),
        "fleiss_cc": n_per_arm_fleiss_cc(*args),
        "arcsine": n_per_arm_arcsine(*args),
    }


# ----------------------------------------------------------------------------- dropout


@dataclass(frozen=True)
class DropoutAdjustment:
    """What the analysis sees of two arms once dropout is accounted for: the responder rate
    among analysed patients in each arm, and the expected share of randomised patients analysed.
    A closed form for the analysis then uses these rates with ``analysed_fraction * n`` patients
    per arm."""

    p_control: float
    p_treat: float
    analysed_fraction: float
    missing: str
    rule: str
    """The rule and its rates, in words."""

    def n_randomised(self, n_analysed: float) -> int:
        """Patients to randomise per arm so that ``n_analysed`` are analysed on average."""
        return _ceil(n_analysed / self.analysed_fraction)


def adjust_for_dropout(p_control: float, p_treat: float, dropout: float, missing: str,
                       dropout_if_in_remission: tuple[float, float] | None = None) -> DropoutAdjustment:
    """The one dropout rule of every closed-form reference (power curve, n with dropout, the
    first guess of the sample-size search).

    ``dropout`` is the chance that a randomised patient drops out before the endpoint (the same
    in both arms). ``dropout_if_in_remission`` is that chance for a patient who would be in
    remission at the endpoint, per arm (control, treatment); it equals ``dropout`` when dropout
    is unrelated to the outcome (MCAR, the default) and is lower when non-responders drop out
    faster (MNAR, or MAR with patients not seen in remission leaving faster). With ``s`` = 1 -
    that chance:

    * ``nonresponder``: all randomised are analysed and a responder is a patient in remission at
      the endpoint who did not drop out, so the rates are ``p * s`` (``p (1 - d)`` under MCAR).
      Exact: each patient is an independent Bernoulli trial with that probability.
    * ``complete_case``: a share ``1 - d`` is analysed, with rates ``p * s / (1 - d)`` among them
      (``p`` under MCAR). Approximate only in that the analysed count, Binomial(n, 1 - d), is
      replaced by its mean.
    * ``locf``: treated as ``nonresponder``. A dropout is counted with the status of their last
      attended visit, which can only add responders to the nonresponder count, patient by
      patient; how many depends on when remissions, relapses, visits and dropouts happen, which a
      two-proportion formula cannot see. So the closed form takes the conservative end: its
      rates are a lower bound of LOCF's.
    """
    check_choice(missing, MISSING_STRATEGIES, "missing")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
    d_c, d_t = (dropout, dropout) if dropout_if_in_remission is None else dropout_if_in_remission
    stays_c, stays_t = 1 - d_c, 1 - d_t
    if missing == "complete_case":
        kept = 1 - dropout
        rates = (p_control * (stays_c / kept), p_treat * (stays_t / kept))  # exactly p under MCAR
        rule = (f"complete cases only, {100 * kept:.0f}% of those randomised analysed, "
                f"rates {rates[0]:.3f} vs {rates[1]:.3f}")
        return DropoutAdjustment(*rates, kept, missing, rule)
    rates = (p_control * stays_c, p_treat * stays_t)
    counted = "LOCF at its lower bound, dropouts counted as no remission" if missing == "locf" \
        else "dropouts counted as no remission"
    rule = f"{counted}, all randomised analysed, rates {rates[0]:.3f} vs {rates[1]:.3f}"
    return DropoutAdjustment(*rates, 1.0, missing, rule)
