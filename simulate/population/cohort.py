"""A synthetic population of patients referred with membranous nephropathy.

:func:`draw_cohort` draws N patients at once, as arrays, from named sub-streams of one seed
(see :mod:`simulate.seeding`): each covariate has its own stream, so changing one parameter
leaves every other covariate of every patient unchanged. The streams' draws become covariates
through the transforms of :mod:`simulate.population.covariates`, the same ones the fates and the story of
a trial use.

How each quantity is drawn (all parameters are fields of the scenario's ``[cohort]`` section):

* **age**: normal(``age_mean_years``, ``age_sd_years``) truncated to
  [``age_min_years``, ``age_max_years``] (exact inverse-CDF truncation, no pile-up at the bounds).
* **sex**: male with probability ``male_fraction``.
* **menopause**: a woman's age at natural menopause is normal(``menopause_age_mean_years``,
  ``menopause_age_sd_years``); she is post-menopausal once her age passes it, so the chance
  rises smoothly with age: P = Phi((age - mean) / sd).
* **contraception or sterility**, **pregnancy or breast feeding**: among pre-menopausal women,
  with probabilities ``contraception_or_sterile_fraction`` and ``pregnant_or_breastfeeding_fraction``.
* **proteinuria**: the current true 24-h level is lognormal with mean ``proteinuria_mean_g_day``
  and sd ``proteinuria_sd_g_day`` (moment-matched). Its standard-normal score ``z`` drives the
  correlated covariates below. ACEI/ARB have lowered it from a pre-treatment baseline by a
  fraction r ~ beta(mean ``acei_arb_reduction_mean_fraction``, sd ``acei_arb_reduction_sd_fraction``)
  (r = 0 for patients intolerant of ACEI/ARB), so baseline = current / (1 - r). Two 24-h
  collections are the current level times independent lognormal errors with coefficient of
  variation ``collection_cv`` (mean one).
* **serum albumin**: normal(``albumin_mean_g_l``, ``albumin_sd_g_l``) with correlation
  ``albumin_log_proteinuria_correlation`` to ``z`` (albumin falls as proteinuria rises),
  clipped to the physiological range [``ALBUMIN_MIN_G_L``, ``ALBUMIN_MAX_G_L``] of
  :mod:`simulate.design.parameters`.
* **eGFR**: ``egfr_mean_ml_min`` + ``egfr_change_per_year_of_age_ml_min`` x (age - mean age) + a
  normal residual whose sd keeps the marginal sd at ``egfr_sd_ml_min``; clipped to
  [``EGFR_MIN_ML_MIN``, ``EGFR_MAX_ML_MIN``].
* **anti-PLA2R**: positive with probability ``pla2r_positive_fraction``. Among positives the log
  titre is normal(log ``pla2r_titre_median_ru_ml``, ``pla2r_titre_log_sd``) with correlation
  ``pla2r_log_titre_log_proteinuria_correlation`` to ``z`` (titre rises with proteinuria), and
  at least the positivity threshold; negatives have a titre uniform below the threshold.
* **diabetes, active infection, a secondary cause of MN**: independent Bernoulli draws.
* **time since last steroid/MMF** and **since last alkylating agent**: exposed with probability
  ``prior_*_fraction``, then exponential with mean ``months_since_*_mean``; never exposed = inf.
* **ACEI/ARB**: intolerant with probability ``acei_arb_intolerant_fraction``; otherwise months on
  treatment at referral exponential with mean ``months_on_acei_arb_mean``; blood pressure
  controlled with probability ``bp_controlled_fraction``.
* **treatment history**: resistance to CNI, RTX and alkylating agents (independent), and an
  earlier remission followed by relapse (``prior_relapse_fraction``) after a CNI, RTX or an
  alkylating agent, relapsing ``months_off_drug_at_relapse`` (exponential) after stopping it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from simulate.design import scenario as sc
from simulate.population.covariates import (
    age_years, albumin, collection_errors, collections, draw_acei_arb_reduction, egfr,
    mean_of_collections, months_on_acei_arb, months_since, pla2r, prior_relapse,
    proteinuria_baseline, proteinuria_level, reproductive_status,
)
from simulate.seeding import stream

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RELAPSE_DRUGS", "Patients", "draw_cohort"]

RELAPSE_DRUGS = ("none", "cni", "rtx", "alkylating")


@dataclass(frozen=True)
class Patients:
    """N patients as parallel arrays (one element per patient)."""

    age_years: np.ndarray
    male: np.ndarray
    postmenopausal: np.ndarray
    contraception_or_sterile: np.ndarray
    pregnant_or_breastfeeding: np.ndarray
    proteinuria_baseline_g_day: np.ndarray
    proteinuria_true_g_day: np.ndarray
    proteinuria_collection_1_g_day: np.ndarray
    proteinuria_collection_2_g_day: np.ndarray
    albumin_g_l: np.ndarray
    egfr_ml_min: np.ndarray
    pla2r_positive: np.ndarray
    pla2r_titre_ru_ml: np.ndarray
    diabetes: np.ndarray
    active_infection: np.ndarray
    secondary_cause: np.ndarray
    months_since_steroid_mmf: np.ndarray
    months_since_alkylating: np.ndarray
    acei_arb_intolerant: np.ndarray
    months_on_acei_arb: np.ndarray
    bp_controlled: np.ndarray
    resistant_cni: np.ndarray
    resistant_rtx: np.ndarray
    resistant_alkylating: np.ndarray
    prior_relapse_drug: np.ndarray
    """Index into :data:`RELAPSE_DRUGS` (0 = no earlier remission followed by relapse)."""
    months_off_drug_at_relapse: np.ndarray

    def __len__(self) -> int:
        return len(self.age_years)

    @property
    def proteinuria_mean_g_day(self) -> np.ndarray:
        """Mean of the two screening collections (the registered criterion's measure)."""
        return mean_of_collections(self.proteinuria_collection_1_g_day, self.proteinuria_collection_2_g_day)

    @property
    def proteinuria_reduction_fraction(self) -> np.ndarray:
        """Observed fall from the pre-ACEI/ARB baseline: 1 - mean of collections / baseline."""
        return 1.0 - self.proteinuria_mean_g_day / self.proteinuria_baseline_g_day

    def take(self, index: np.ndarray) -> "Patients":
        """The patients at ``index`` (an integer or boolean array)."""
        return Patients(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["prior_relapse_drug"] = np.asarray(RELAPSE_DRUGS, dtype=object)[self.prior_relapse_drug]
        frame = pd.DataFrame(data)
        frame.insert(6, "proteinuria_mean_g_day", self.proteinuria_mean_g_day)
        frame.insert(7, "proteinuria_reduction_fraction", self.proteinuria_reduction_fraction)
        return frame


def _exposure(rng: np.random.Generator, fraction: float, mean_months: float, n: int) -> np.ndarray:
    exposed = rng.random(n) < fraction
    return months_since(exposed, rng.standard_exponential(n), mean_months)


def draw_cohort(params: sc.Cohort, n: int, seed: np.random.SeedSequence | int) -> Patients:
    """Draw ``n`` referred patients. ``seed`` is a SeedSequence (a node of the seed tree) or an int."""
    if n < 0:
        raise ValueError(f"n: got {n}; must be >= 0")
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    p = params

    def rng(name: str) -> np.random.Generator:
        return stream(seq, name)

    age = age_years(p, rng("age").random(n))
    male = rng("sex").random(n) < p.male_fraction
    post, contraception, pregnant = reproductive_status(p, male, age, rng("reproductive").random((3, n)))

    # proteinuria and its correlates
    z = rng("proteinuria").standard_normal(n)
    true_level = proteinuria_level(p, z)
    acei = rng("acei_arb").random((2, n))
    intolerant = acei[0] < p.acei_arb_intolerant_fraction
    months_on = months_on_acei_arb(p, intolerant, -np.log1p(-acei[1]))
    reduction = np.where(intolerant, 0.0, draw_acei_arb_reduction(p, rng("acei_arb_reduction"), n))
    baseline = proteinuria_baseline(true_level, reduction)
    collected = collections(true_level, collection_errors(p, rng("collections").standard_normal((2, n))))
    alb = albumin(p, z, rng("albumin").standard_normal(n))
    gfr = egfr(p, age, rng("egfr").standard_normal(n))
    t = rng("pla2r").random(2 * n).reshape(2, n)
    positive, titre = pla2r(p, z, t[0], t[1], rng("pla2r_titre").standard_normal(n))

    c = rng("conditions").random((4, n))
    diabetes = c[0] < p.diabetes_fraction
    infection = c[1] < p.active_infection_fraction
    secondary = c[2] < p.secondary_cause_fraction
    bp_controlled = c[3] < p.bp_controlled_fraction

    since_steroid = _exposure(rng("steroid_mmf"), p.prior_steroid_mmf_fraction, p.months_since_steroid_mmf_mean, n)
    since_alkyl = _exposure(rng("alkylating"), p.prior_alkylating_fraction, p.months_since_alkylating_mean, n)

    h = rng("history").random((6, n))
    res_cni = h[0] < p.resistant_cni_fraction
    res_rtx = h[1] < p.resistant_rtx_fraction
    res_alk = h[2] < p.resistant_alkylating_fraction
    drug, months_off = prior_relapse(p, h[3], h[4], h[5])

    return Patients(
        age_years=age,
        male=male,
        postmenopausal=post,
        contraception_or_sterile=contraception,
        pregnant_or_breastfeeding=pregnant,
        proteinuria_baseline_g_day=baseline,
        proteinuria_true_g_day=true_level,
        proteinuria_collection_1_g_day=collected[0],
        proteinuria_collection_2_g_day=collected[1],
        albumin_g_l=alb,
        egfr_ml_min=gfr,
        pla2r_positive=positive,
        pla2r_titre_ru_ml=titre,
        diabetes=diabetes,
        active_infection=infection,
        secondary_cause=secondary,
        months_since_steroid_mmf=since_steroid,
        months_since_alkylating=since_alkyl,
        acei_arb_intolerant=intolerant,
        months_on_acei_arb=months_on,
        bp_controlled=bp_controlled,
        resistant_cni=res_cni,
        resistant_rtx=res_rtx,
        resistant_alkylating=res_alk,
        prior_relapse_drug=drug,
        months_off_drug_at_relapse=months_off,
    )
