"""Dropout: each mechanism's hazards, their calibration, and the months of dropout at random.

Every patient carries a unit exponential ``e`` (the fates' dropout draw) and drops out when
their cumulative dropout hazard reaches it. ``dropout.mechanism`` says what the hazard depends on
(ICH E9(R1): the missing-data assumptions a sensitivity analysis varies):

* ``mcar`` (missing completely at random): nothing; the hazard is ``lambda_a`` throughout and the
  month is ``e / lambda_a``.
* ``mnar`` (missing not at random; ``informative`` is its earlier name): the endpoint outcome,
  which a dropout hides: ``lambda_a`` for patients in remission at the endpoint, ``HR lambda_a``
  for the others (``informative_hazard_ratio``), constant in time.
* ``mar`` (missing at random): what was observed. Between consecutive scheduled visits
  v_j < v_{j+1} the hazard h_j is ``lambda_a`` if the patient was in remission (complete or
  partial) at v_j, ``HR lambda_a`` if not (``mar_hazard_ratio_not_in_remission``); nobody is in
  remission at baseline (v_0 = 0), and after the last visit its status holds. The status is
  that of the patient's actual path (with intercurrent events, when the scenario has them).

**The month of a mar dropout** (:func:`mar_months`; the DES reaches it visit by visit,
:mod:`simulate.engines.des_dropout`). With S_0 = 0 and S_{j+1} = S_j + h_j (v_{j+1} - v_j), summed
in visit order, the patient drops out in the first interval j with S_{j+1} >= e, at
``v_j + (e - S_j) / h_j``, kept strictly after v_j (the visit whose status set the hazard was
attended) and at most v_{j+1} (where rounding would carry it past); the last interval has no
end. Both engines add the same terms in the same order, so their months agree bit for bit.

**Calibration.** ``lambda_a`` is solved per arm so that P(dropout before the endpoint) is
``dropout.probability_by_endpoint``: for mcar and mnar in closed form (:func:`closed_form_rates`);
for mar over the outcome model's reference sample of eligible patients
(:data:`simulate.population.outcomes.CALIBRATION_PATIENTS`), with each patient's status at the
visits on the arm's path *without* intercurrent events (:func:`exposure`, :func:`mar_rate`). A
patient with cumulative hazard ``lambda_a A`` by the endpoint drops out before it with chance
``1 - exp(-lambda_a A)``: the chance is averaged exactly over the dropout draw and by the sample
over the paths. With intercurrent events a switch changes who is in remission at later visits,
so the realised share of dropouts moves a little from the target.
"""

from __future__ import annotations

import math

import numpy as np

from simulate.numerics import find_root


def closed_form_rates(d: float, end: float, mechanism: str, hr: float, remission: float) -> tuple[float, float]:
    """(lambda_a, HR lambda_a) for mcar and mnar with P(dropout by ``end``) = ``d``, where
    ``remission`` is the arm's chance of remission at the endpoint (mnar's responders). mar's
    are calibrated on the reference sample once the response model is (:func:`mar_rate`): (0, 0)
    here."""
    if d == 0 or mechanism == "mar":
        return 0.0, 0.0
    if mechanism == "mcar" or hr == 1.0:
        lam = -math.log1p(-d) / end
        return lam, lam

    def gap(lam: float) -> float:
        return remission * -math.expm1(-lam * end) + (1 - remission) * -math.expm1(-hr * lam * end) - d

    lam = find_root(gap, 0.0, -math.log1p(-d) / end * 10 + 1.0, xtol=1e-15)
    return lam, hr * lam


def exposure(seen_in_remission: np.ndarray, visits: np.ndarray, end: float, hr: float) -> np.ndarray:
    """Each patient's cumulative mar dropout hazard by the endpoint ``end`` (a visit) per unit of
    ``lambda_a``: the sum over the intervals before it of their length times 1 (in remission at
    the interval's first visit) or ``hr`` (not). ``seen_in_remission``: (..., visits) bool."""
    before = visits[1:] <= end
    length = np.diff(visits)[before]
    factor = np.where(seen_in_remission[..., :-1][..., before], 1.0, hr)
    factor[..., 0] = hr                                     # nobody is in remission at baseline
    return factor @ length


def mar_rate(exposures: np.ndarray, d: float) -> float:
    """lambda_a with mean(1 - exp(-lambda_a A)) = ``d`` over the patients' ``exposures`` A. Every
    A is at least the endpoint month times min(1, HR), which bounds the root from above."""
    if d == 0:
        return 0.0

    def gap(lam: float) -> float:
        return float(np.mean(-np.expm1(-lam * exposures))) - d

    hi = -math.log1p(-d) / float(exposures.min()) * (1 + 1e-9)
    if not gap(hi) > 0:           # d so small (subnormal) that the bound underflows: the first-order root
        return d / float(np.mean(exposures))
    return find_root(gap, 0.0, hi, xtol=1e-15)


def mar_months(seen_in_remission: np.ndarray, visits: np.ndarray, budget: np.ndarray, hazard_in: np.ndarray,
               hazard_out: np.ndarray) -> np.ndarray:
    """Months from randomisation to a mar dropout (rule in the module's text; every hazard > 0).
    ``seen_in_remission`` (..., visits): the status at each scheduled visit ``visits``; ``budget``
    (...): the unit exponentials; ``hazard_in``, ``hazard_out`` (...): the hazards after a visit in
    remission and after one not (``lambda_a`` and ``HR lambda_a`` of the patient's arm)."""
    V = len(visits)
    bounds = np.append(visits, np.inf)                      # the last interval has no end
    hazard = np.where(seen_in_remission, hazard_in[..., None], hazard_out[..., None])
    hazard[..., 0] = hazard_out                             # nobody is in remission at baseline
    spent = np.cumsum(hazard * np.diff(bounds), axis=-1)    # S_{j+1}, added in visit order
    j = np.minimum((spent < budget[..., None]).sum(axis=-1), V - 1)[..., None]
    before = np.where(j > 0, np.take_along_axis(spent, np.maximum(j - 1, 0), axis=-1), 0.0)[..., 0]
    start, h = visits[j[..., 0]], np.take_along_axis(hazard, j, axis=-1)[..., 0]
    with np.errstate(divide="ignore", over="ignore"):       # a hazard of 0 (or subnormal): never before the bound
        month = np.maximum(start + (budget - before) / h, np.nextafter(start, np.inf))
    return np.minimum(month, bounds[j[..., 0] + 1])
