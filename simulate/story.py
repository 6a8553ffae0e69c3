"""The story of one trial: what only a trial's story shows, drawn on demand.

A power run counts nothing of an excluded referral but its referral month (the discrete-event
engine also waits out its screening, whose length is drawn here), and needs nothing of a
randomised patient beyond the pool's covariates (:mod:`simulate.fates`). The story of a trial
also shows the rule that excluded each referral, each randomised patient's age, sex, eGFR,
albumin, blood pressure and treatment history, and the lab values at their visits. These are
drawn here, per trial, from the trial's own streams (``story/<trial>`` and
``visit_labs/<trial>`` of the block's seed), through the same transforms as the cohort
(:mod:`simulate.population`), and given what the fates already fixed: a pool patient passed the
screen, an excluded referral failed it. Nothing a power run counts depends on them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np

from simulate import scenario as sc
from simulate.cohort import Patients, draw_cohort
from simulate.eligibility import PERMANENT, RULE_NAMES, Screening, screen
from simulate.fates.referrals import DAYS_PER_MONTH, candidate_clocks, rows_of
from simulate.population import acei_arb_reduction, albumin, proteinuria_baseline
from simulate.seeding import child_sequence, stream
from simulate.selection import GROUPS

if TYPE_CHECKING:
    from simulate.fates import Fates


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
    of :func:`simulate.fates.excluded_of`), from the trial's own stream. The discrete-event
    engine screens every referral as an event, in both modes; no count depends on these."""
    n = int(fates.excluded_offsets[trial + 1] - fates.excluded_offsets[trial])
    seq = child_sequence(fates.seed_sequence, f"story/{trial}")
    rec = scenario.recruitment
    days = stream(seq, "excluded_screening").uniform(rec.screening_days_min, rec.screening_days_max, n)
    return days / DAYS_PER_MONTH


def excluded_first_failures(scenario: sc.Scenario, fates: Fates, trial: int) -> np.ndarray:
    """The first failing rule (index into RULES) of each excluded referral of one trial (in the
    order of :func:`simulate.fates.excluded_of`), drawn given exclusion from the trial's own
    stream (story mode only)."""
    n = int(fates.excluded_offsets[trial + 1] - fates.excluded_offsets[trial])
    seq = child_sequence(fates.seed_sequence, f"story/{trial}")
    excluded = _first_passing(scenario, child_sequence(seq, "excluded"), n,
                              lambda p, s: (~s.passes[PERMANENT]).any(axis=0))
    return screen(excluded, scenario.eligibility).first_failure


def story_lines(scenario: sc.Scenario, seed: int, result) -> list[str]:
    """The story of one trial (a :class:`~simulate.engines.trial.TrialResult`) as ``trialsim trial``
    prints it, one line per item."""
    lines: list[str] = []
    echo = lines.append
    c, cal = result.consort, result.calendar
    arms = {a: scenario.arm(a).label for a in scenario.arm_names}
    fmt = lambda x: "-" if x is None else f"{x:.1f}"  # noqa: E731
    echo(f"One simulated trial of '{scenario.name}' (seed {seed})\n")
    echo(f"  referred and screened      {c['referred']}")
    echo(f"  excluded                   {c['excluded_total']}")
    for rule, n in c["excluded"].items():
        if n:
            echo(f"    {rule:<24} {n}")
    echo(f"  deferred (washout/run-in)  {c['deferred']}  (lost meanwhile {c['lost_during_deferral']})")
    echo(f"  eligible, enrolment closed {c['not_randomised_enrolment_closed']}")
    echo(f"  randomised                 {c['randomised']} of {scenario.n_target}")
    for a, label in arms.items():
        echo(f"    {label:<24} {c['randomised_per_arm'][a]} randomised, "
             f"{c['discontinued_per_arm'][a]} dropped out, {c['analysed_per_arm'][a]} analysed")
    echo("")
    echo(f"  first / last randomisation month {fmt(cal['first_randomisation_month'])} / "
         f"{fmt(cal['last_randomisation_month'])} (planned window {scenario.trial.recruitment_months:g})")
    echo(f"  enrolment closed at month {fmt(cal['enrolment_closed_month'])}: {cal['enrolment_close_reason']}")
    echo(f"  trial duration {fmt(cal['duration_months'])} months"
         + ("   TERMINATED for slow accrual" if cal["terminated"] else ""))
    seq = result.sequential
    if seq is not None:
        from simulate.interim import design_for

        design = design_for(scenario)
        for k, (month, z, n) in enumerate(zip(seq["look_month"], seq["look_z"], seq["look_randomised"])):
            if month == month:                                  # held (not nan)
                final = k == len(seq["look_month"]) - 1
                if final:
                    held = sum(m == m for m in seq["look_month"][:-1])
                    bound = f"efficacy bound {design.final_bound(held, n):.3f}"
                    verdict = "rejects H0" if seq["sequential_reject"] else "does not reject H0"
                else:
                    bound = f"efficacy bound {design.efficacy[k]:.3f}" + (
                        f", futility bound {design.futility[k]:.3f}" if design.futility is not None else "")
                    verdict = ("stops for efficacy" if seq["stop_look"] == k and seq["stop_reason"] == 1 else
                               "stops for futility" if seq["stop_look"] == k else "continues")
                echo(f"  {'final analysis' if final else f'interim look {k + 1}'} at month {month:.1f}: "
                     f"z = {z:.3f} ({bound}) with {n} randomised: {verdict}")
        if seq["stop_look"] >= 0:
            why = "efficacy" if seq["stop_reason"] == 1 else "futility"
            echo(f"  stopped for {why} at look {seq['stop_look'] + 1}, decided at month "
                 f"{seq['decision_month']:.1f}; the overrun analysis of all randomised gives z = "
                 f"{seq['overrun_z']:.3f}")
        echo(f"  H0 {'rejected' if seq['sequential_reject'] else 'not rejected'}")
    rem = result.remission_at_endpoint(scenario.trial.endpoint == "cr")
    what = "complete remission" if scenario.trial.endpoint == "cr" else "remission (CR or PR)"
    echo(f"  {what} at month "
         f"{scenario.trial.endpoint_month:g}, dropouts as failures: "
         + ", ".join(f"{arms[a]} {rem[a]:.2f}" if math.isfinite(rem[a]) else f"{arms[a]} - (none randomised)"
                     for a in scenario.arm_names))
    return lines
