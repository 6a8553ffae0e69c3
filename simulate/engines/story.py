"""The story of one trial: what only a trial's story shows, drawn on demand.

A power run counts nothing of an excluded referral but its referral month (the discrete-event
engine also waits out its screening, whose length is drawn here), and needs nothing of a
randomised patient beyond the pool's covariates (:mod:`simulate.fates`). The story of a trial
also shows the rule that excluded each referral, each randomised patient's age, sex, eGFR,
albumin, blood pressure and treatment history, and the lab values at their visits. These are
drawn here, per trial, from the trial's own streams (``story/<trial>`` and
``visit_labs/<trial>`` of the block's seed), through the same transforms as the cohort
(:mod:`simulate.population.covariates`), and given what the fates already fixed: a pool patient passed the
screen, an excluded referral failed it. Nothing a power run counts depends on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from simulate.design import scenario as sc
from simulate.population.cohort import Patients, draw_cohort
from simulate.screening.criteria import GROUPS, RULE_NAMES
from simulate.screening.screen import PERMANENT, Screening, screen
from simulate.fates.referrals import DAYS_PER_MONTH, candidate_clocks, rows_of
from simulate.population.covariates import acei_arb_reduction, albumin, proteinuria_baseline
from simulate.seeding import child_sequence, stream

if TYPE_CHECKING:
    from simulate.fates.record import Fates


def lab_uniforms(fates: Fates, trial: int, n_visits: int) -> np.ndarray:
    """(n_max, n_visits, 2) uniforms for the lab values shown at visits of each pool slot
    (story mode only), from the trial's own stream."""
    return stream(fates.seed_sequence, f"visit_labs/{trial}").random((fates.n_max, n_visits, 2))


def _first_passing(scenario: sc.Scenario, seq: np.random.SeedSequence, n: int,
                   keep: Callable[[Patients, Screening], np.ndarray]) -> Patients:
    """The first ``n`` patients of a cohort stream for whom ``keep(patients, screening)`` holds
    (rejection sampling: exact draws from the cohort given that condition)."""
    parts, have, batch, r = [draw_cohort(scenario.cohort, 0, seq)], 0, max(2 * n, 16), 0
    while have < n:
        p = draw_cohort(scenario.cohort, batch, child_sequence(seq, f"batch/{r}"))
        ok = keep(p, screen(p, scenario.eligibility))
        parts.append(p.take(np.flatnonzero(ok)))
        have += int(ok.sum())
        batch, r = min(batch * 2, 1 << 20), r + 1
        if r > 60:
            raise RuntimeError("rejection sampling of story covariates did not finish")
    cat = {name: np.concatenate([getattr(x, name) for x in parts])[:n] for name in Patients.__dataclass_fields__}
    return Patients(**cat)


def _group_passes(group: str) -> Callable[[Patients, Screening], np.ndarray]:
    idx = [RULE_NAMES.index(r) for r in GROUPS[group]]
    return lambda p, s: s.passes[idx].all(axis=0)


def trial_patients(scenario: sc.Scenario, fates: Fates, trial: int) -> Patients:
    """Full covariates of the pool slots of one trial (story and patient tables).

    The proteinuria group and anti-PLA2R are the pool's own (what the outcomes and strata were
    computed from); the conditions are those of a candidate (no secondary cause, infection or
    diabetes); demography, history, albumin and blood pressure are drawn given a pass from the
    trial's own stream, as are nothing a power run counts.
    """
    n = fates.n_max
    seq = child_sequence(fates.seed_sequence, f"story/{trial}")
    demo = _first_passing(scenario, child_sequence(seq, "demography"), n, _group_passes("demography"))
    hist = _first_passing(scenario, child_sequence(seq, "history"), n, _group_passes("history"))
    cohort = scenario.cohort
    rng = stream(seq, "albumin_bp")
    z = fates.pool["z"][trial]
    alb = albumin(cohort, z, rng.standard_normal(n))
    cols = np.maximum(fates.order[trial], 0)
    rows = rows_of(fates.candidate_offsets, trial)
    if rows.stop == rows.start:              # no candidate at all: the pool slots are unused
        cols = np.zeros(0, dtype=int)
        n = 0
        alb = alb[:0]
    intolerant = fates.acei_arb_intolerant[rows][cols]
    bp = np.where(intolerant, rng.random(n) < cohort.bp_controlled_fraction, True)
    pool = {k: v[trial][:n] for k, v in fates.pool.items()}
    clocks = candidate_clocks(scenario, fates, trial)
    demo, hist = demo.take(np.arange(n)), hist.take(np.arange(n))
    false = np.zeros(n, dtype=bool)
    return Patients(
        age_years=demo.age_years, male=demo.male, postmenopausal=demo.postmenopausal,
        contraception_or_sterile=demo.contraception_or_sterile,
        pregnant_or_breastfeeding=demo.pregnant_or_breastfeeding,
        proteinuria_baseline_g_day=proteinuria_baseline(pool["true"], acei_arb_reduction(cohort, pool["u_reduction"])),
        proteinuria_true_g_day=pool["true"],
        proteinuria_collection_1_g_day=pool["c1"], proteinuria_collection_2_g_day=pool["c2"],
        albumin_g_l=alb, egfr_ml_min=demo.egfr_ml_min, pla2r_positive=pool["pla2r_positive"],
        pla2r_titre_ru_ml=pool["titre"], diabetes=false, active_infection=false, secondary_cause=false,
        months_since_steroid_mmf=clocks["months_since_steroid_mmf"][cols],
        months_since_alkylating=clocks["months_since_alkylating"][cols],
        acei_arb_intolerant=intolerant, months_on_acei_arb=clocks["months_on_acei_arb"][cols],
        bp_controlled=bp, resistant_cni=hist.resistant_cni, resistant_rtx=hist.resistant_rtx,
        resistant_alkylating=hist.resistant_alkylating, prior_relapse_drug=hist.prior_relapse_drug,
        months_off_drug_at_relapse=hist.months_off_drug_at_relapse,
    )


def excluded_screening_months(scenario: sc.Scenario, fates: Fates, trial: int) -> np.ndarray:
    """How long screening takes (months) for each excluded referral of one trial (in the order
    of :func:`simulate.fates.draw.excluded_of`), from the trial's own stream. The discrete-event
    engine screens every referral as an event, in both modes; no count depends on these."""
    n = int(fates.excluded_offsets[trial + 1] - fates.excluded_offsets[trial])
    seq = child_sequence(fates.seed_sequence, f"story/{trial}")
    rec = scenario.recruitment
    days = stream(seq, "excluded_screening").uniform(rec.screening_days_min, rec.screening_days_max, n)
    return days / DAYS_PER_MONTH


def excluded_first_failures(scenario: sc.Scenario, fates: Fates, trial: int) -> np.ndarray:
    """The first failing rule (index into RULES) of each excluded referral of one trial (in the
    order of :func:`simulate.fates.draw.excluded_of`), drawn given exclusion from the trial's own
    stream (story mode only)."""
    n = int(fates.excluded_offsets[trial + 1] - fates.excluded_offsets[trial])
    seq = child_sequence(fates.seed_sequence, f"story/{trial}")
    excluded = _first_passing(scenario, child_sequence(seq, "excluded"), n,
                              lambda p, s: (~s.passes[PERMANENT]).any(axis=0))
    return screen(excluded, scenario.eligibility).first_failure


def trial_exclusions(scenario: sc.Scenario, fates: Fates, trial: int) -> tuple[np.ndarray, np.ndarray]:
    """(screening months, first failing rule) of each excluded referral of one trial."""
    return excluded_screening_months(scenario, fates, trial), excluded_first_failures(scenario, fates, trial)
