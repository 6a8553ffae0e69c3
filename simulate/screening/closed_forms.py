"""The parts of the screen's pass probabilities that are closed forms, written once for the
exact probabilities (:mod:`simulate.screening.probabilities`) and the quick feasibility bounds
(:mod:`simulate.screening.feasibility`). Plain arithmetic: a function of numbers works with
:mod:`math` alone, the same function of arrays with numpy, so validating a scenario imports
neither numpy nor scipy.
"""

from __future__ import annotations

import math
from typing import Callable

from simulate.design import parameters
from simulate.design import scenario as sc
from simulate.screening.criteria import BY_NAME, GROUPS, flag_fraction


def reproductive_pass_probability(c: sc.Cohort, postmenopausal):
    """P(the ``contraception`` and ``not_pregnant`` rules pass | age), given P(post-menopausal
    | age) (a number or an array): men are exempt from both; a woman past her menopause is
    neither pregnant nor of child-bearing potential; a pre-menopausal woman passes when she uses
    contraception (or is sterile) and is not pregnant, independently
    (:func:`simulate.population.covariates.reproductive_status`)."""
    women_ok = flag_fraction(c, "contraception_or_sterile") * (1.0 - flag_fraction(c, "pregnant_or_breastfeeding"))
    male = flag_fraction(c, "male")
    return male + (1.0 - male) * (postmenopausal + (1.0 - postmenopausal) * women_ok)


def egfr_pass_probability(c: sc.Cohort, e: sc.Eligibility, age, normal_cdf: Callable):
    """P(the ``egfr`` rule passes | age) (a number or an array of ages): eGFR is normal around
    its age line, clipped to [EGFR_MIN_ML_MIN, EGFR_MAX_ML_MIN], so a threshold outside that
    range decides alone. ``normal_cdf`` is the standard normal CDF for the kind of ``age``
    (math's for a number, scipy's for an array)."""
    threshold = BY_NAME["egfr"].threshold(e, ">=")
    if threshold <= parameters.EGFR_MIN_ML_MIN:
        return 1.0
    if threshold > parameters.EGFR_MAX_ML_MIN:
        return 0.0
    centre = parameters.egfr_centre(c, age)
    resid = parameters.egfr_residual_sd(c)
    if resid == 0.0:
        return (centre >= threshold) * 1.0
    return normal_cdf((centre - threshold) / resid)


def conditions_pass_probability(c: sc.Cohort) -> float:
    """P(every rule of the ``conditions`` group passes): each fails on one independent yes/no
    covariate (a secondary cause, active infection, diabetes). Exact."""
    p = 1.0
    for name in GROUPS["conditions"]:
        for flag in BY_NAME[name].absent:
            p *= 1.0 - flag_fraction(c, flag)
    return p


def history_pass_probability(c: sc.Cohort, e: sc.Eligibility) -> float:
    """P(no prior resistance, or only a late relapse): exact. Resistance to each drug is an
    independent yes/no covariate; an earlier relapse came after a CNI (a share of relapses) or
    after RTX or an alkylating agent, an exponential number of months off the drug, and is late
    when it came after more than the rule's threshold for that drug."""
    rule = BY_NAME["no_prior_resistance"]
    free = 1.0
    for flag in rule.absent:
        free *= 1.0 - flag_fraction(c, flag)
    m = c.months_off_drug_at_relapse_mean
    cni, rtx = c.prior_relapse_drug_cni_fraction, c.prior_relapse_drug_rtx_fraction
    after_cni, after_rtx, after_alkylating = (rule.threshold(e, ">", among=d) for d in (1, 2, 3))
    if after_rtx == after_alkylating:
        late = cni * math.exp(-after_cni / m) + (1.0 - cni) * math.exp(-after_rtx / m)
    else:
        late = (cni * math.exp(-after_cni / m) + rtx * math.exp(-after_rtx / m)
                + (1.0 - cni - rtx) * math.exp(-after_alkylating / m))
    return free * ((1.0 - c.prior_relapse_fraction) + c.prior_relapse_fraction * late)
