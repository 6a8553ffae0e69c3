"""The batch engine: the discrete-event trial's semantics as array arithmetic over a block.

From the same fates as the DES (simulate/engines/des.py) it computes, for every trial of a
block at once, who is randomised and when, to which arm and stratum, and what happens to them.
It relies on one property of the model: a candidate's randomisation attempt happens at its
*eligible month* (referral + screening + any deferral), and enrolment closes at the
target-th such attempt or at the hard stop. The fates already hold each trial's randomisable
candidates in order of eligible month (the pool), so, with one row per trial:

1. the first ``min(n_target, randomisable)`` pool slots are randomised; enrolment closes at the
   last of them if the target is reached, else at the hard stop;
2. within each stratum, the j-th randomised patient takes arm ``allocation[trial, stratum, j]``;
3. each patient's outcome is their potential outcome under that arm (of any number of arms);
4. counts are aggregated per (trial, stratum, arm); CONSORT counts are the referrals (excluded
   and candidates) referred before enrolment closed.

Referrals arriving after enrolment closed were never referred (sites stop referring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulate.analysis import interim, rules
from simulate.design import scenario as sc
from simulate.engines.block_outcomes import BlockOutcomes, PatientData, needs_patients
from simulate.fates.record import Fates
from simulate.fates.referrals import sum_by_trial
from simulate.population.dropout import mar_months

if TYPE_CHECKING:
    from simulate.run.prepared import PreparedDesign


def randomise_block(scenario: sc.Scenario, fates: Fates, n_trials: int) -> dict:
    """Who is randomised in the first ``n_trials`` trials of a block, when, to what.

    Arrays are (n_trials, min(n_target, pool width)), one column per pool slot; ``randomised`` masks the slots
    that were randomised (the first ``n_randomised`` of each row).
    """
    t_cfg = scenario.trial
    target = scenario.n_target
    width = min(target, fates.randomisable_month.shape[1])    # the pool may be narrower than the target
    n_rand = np.minimum(fates.n_randomisable[:n_trials], target)
    randomised = np.arange(width)[None, :] < n_rand[:, None]
    month = fates.randomisable_month[:n_trials, :width]
    full = n_rand == target
    closed = np.where(full, month[:, width - 1], float(t_cfg.hard_stop_months))
    strat = fates.stratum[:n_trials, :width].astype(np.intp)
    n_s = fates.allocation.shape[1]
    if n_s == 1:
        pos = np.broadcast_to(np.arange(width), (n_trials, width))
    else:
        hits = (strat[..., None] == np.arange(n_s)) & randomised[..., None]
        pos = np.take_along_axis(np.cumsum(hits, axis=1), strat[..., None], axis=2)[..., 0] - 1
        pos = np.maximum(pos, 0)
    alloc = fates.allocation[:n_trials]
    arm = np.take_along_axis(alloc.reshape(n_trials, -1), strat * alloc.shape[2] + pos, axis=1).astype(np.intp)
    return {"randomised": randomised, "n_randomised": n_rand, "stratum": strat, "arm": arm,
            "month": np.where(randomised, month, np.nan), "closed": closed, "n_trials": n_trials}


def patient_outcomes(scenario: sc.Scenario, fates: Fates, r: dict) -> dict:
    """What happens to each pool slot under the arm it was randomised to, (n_trials, n_target)
    arrays: ``dropout_month`` (months after randomisation), ``dropped`` (missed the endpoint
    visit: dropped out in its month or before), ``remission`` (seen in remission at the endpoint
    visit), ``complete`` (the type of a remission), ``locf`` (in remission at the last attended
    visit up to the endpoint) and ``visits_seen``: (first, stop), the scheduled visits
    ``first <= j < stop`` at which the patient is seen in the endpoint state (none if
    ``stop <= first``). Meaningful where ``r["randomised"]`` (from :func:`randomise_block`)."""
    t_cfg = scenario.trial
    n_trials, target = r["n_trials"], scenario.n_target
    arm = r["arm"]
    if len(fates.outcomes) == 2:
        po0, po1 = fates.outcomes
        on1 = arm == 1

        def pick(name: str) -> np.ndarray:
            return np.where(on1, getattr(po1, name)[:n_trials, :target], getattr(po0, name)[:n_trials, :target])
    else:
        def pick(name: str) -> np.ndarray:
            stacked = np.stack([getattr(po, name)[:n_trials, :target] for po in fates.outcomes])
            return np.take_along_axis(stacked, arm[None], axis=0)[0]

    end = t_cfg.endpoint_month
    drop, rem, rel = pick("dropout_month"), pick("remission_month"), pick("relapse_month")
    complete = pick("complete")
    cr_only = t_cfg.endpoint == "cr"
    visits = np.asarray(t_cfg.visit_months, dtype=float)
    mar = None
    if fates.outcomes[0].dropout_budget is not None:    # mar: the hazard hangs on the status seen
        hazards = np.array([po.mar_hazards for po in fates.outcomes])[arm]
        mar = (pick("dropout_budget"), hazards[..., 0], hazards[..., 1])
    if fates.outcomes[0].intercurrent is not None:
        return _with_intercurrent(scenario, fates, arm, n_trials, target, drop, rem, rel, complete, mar)
    if mar is not None:
        drop = mar_months(_in_remission_at(rem[None], rel[None], visits), visits, *mar)
    # a dropout in a visit's month misses it; one at or after the end of follow-up is no dropout
    dropped = (drop <= end) & (drop < t_cfg.max_follow_up_months)
    last = np.where(dropped, np.searchsorted(visits, drop, side="left"), np.searchsorted(visits, end, side="right")) - 1
    last_visit = visits[np.maximum(last, 0)]
    remission = (rem <= end) & (rel > end) & ~dropped
    locf = (last >= 0) & (rem <= last_visit) & (rel > last_visit)
    # seen in remission at visit v: remission <= v < relapse, and v < dropout unless the dropout
    # is at or after the end of follow-up (none); the visits seen are a run of the schedule
    first_seen = np.searchsorted(visits, rem, side="left")
    gone = np.minimum(rel, np.where(drop >= t_cfg.max_follow_up_months, np.inf, drop))
    after_seen = np.searchsorted(visits, gone, side="left")
    if cr_only:
        remission, locf = remission & complete, locf & complete
        after_seen = np.where(complete, after_seen, 0)

    def status_at(month: float) -> np.ndarray:
        return (rem <= month) & (month < rel) & (complete if cr_only else True)

    return {"dropout_month": drop, "dropped": dropped, "remission": remission, "complete": complete,
            "locf": locf, "visits_seen": [(first_seen, after_seen)], "finish": np.where(dropped, drop, end),
            "status_at": status_at, "seen_until": np.where(drop < t_cfg.max_follow_up_months, drop, np.inf),
            "deciding": np.inf}


def _in_remission_at(start: np.ndarray, end: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """(..., visits) bool: in remission (complete or partial) at each visit, from the remission
    episodes ``[start, end)`` (episodes, ...)."""
    return ((start[..., None] <= visits) & (visits < end[..., None])).any(axis=0)


def _with_intercurrent(scenario: sc.Scenario, fates: Fates, arm: np.ndarray, n_trials: int, target: int,
                       drop: np.ndarray, rem: np.ndarray, rel: np.ndarray, complete: np.ndarray,
                       mar: tuple | None) -> dict:
    """:func:`patient_outcomes` with intercurrent events: each patient's path with every event
    (:func:`simulate.population.intercurrent.follow`) and the estimand's variable as the trial
    observes it (``dropped``: missing, by a dropout or a hypothetical strategy; ``remission``:
    the variable where known; ``locf``: the variable, or the last observed status where missing).
    ``mar``: (budget, hazard after a visit in remission, after one not) with mar dropout, whose
    months follow the status on the path."""
    from simulate.population.intercurrent import Events, Intercurrent, follow, seen_runs, variable

    t_cfg = scenario.trial
    stacked = [po.intercurrent for po in fates.outcomes]
    ice = Intercurrent(*(np.take_along_axis(np.stack([getattr(x, f)[:, :n_trials, :target] for x in stacked]),
                                            arm[None, None], axis=0)[0]
                         for f in ("month", "remission_gap", "relapse_gap", "complete")))
    events = Events.of(scenario)
    path = follow(rem, rel, complete, ice, events, (True,) * len(events.kinds))
    visits = np.asarray(t_cfg.visit_months, dtype=float)
    if mar is not None:
        drop = mar_months(_in_remission_at(path.start, path.end, visits), visits, *mar)
    seen_until = np.where(drop < t_cfg.max_follow_up_months, drop, np.inf)
    cr_only = t_cfg.endpoint == "cr"
    v = variable(path, events, visits, t_cfg.endpoint_month, cr_only, seen_until)
    death = events.index("kidney_failure_or_death")
    gone = np.minimum(seen_until, path.occurred[death[0]]) if death else seen_until
    return {"dropout_month": drop, "dropped": v.missing, "remission": v.value, "complete": complete,
            "locf": v.carried, "visits_seen": seen_runs(path, visits, gone, cr_only), "finish": v.finish,
            "intercurrent": path.occurred, "status_at": lambda month: path.in_remission(month, cr_only),
            "lost": (drop <= t_cfg.endpoint_month) & (drop < t_cfg.max_follow_up_months) & (drop <= gone),
            "seen_until": gone, "deciding": v.deciding}


def _counted(scenario: sc.Scenario, p: dict, among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(responder, analysed) per patient slot of the patients ``among`` as the analysis counts
    them (the missing-data strategy)."""
    missing = scenario.analysis.missing
    x = p["locf"] if missing == "locf" else p["remission"]
    return x, (among & ~p["dropped"] if missing == "complete_case" else among)


def _analysed(scenario: sc.Scenario, p: dict, among: np.ndarray, arm: np.ndarray) -> tuple[np.ndarray, ...]:
    """(x_c, n_c, x_t, n_t) per trial of the patients ``among`` as the analysis counts them
    (:func:`_counted`), control and experimental arm."""
    x, n = _counted(scenario, p, among)
    c = scenario.control_index
    on_c, on_t = arm == c, arm != c
    return ((x & n & on_c).sum(axis=1), (n & on_c).sum(axis=1), (x & n & on_t).sum(axis=1), (n & on_t).sum(axis=1))


def _look_patients(scenario: sc.Scenario, p: dict, among: np.ndarray, arm: np.ndarray):
    """The patients ``among`` one by one as :func:`_analysed` counts them, for a look statistic
    that reads covariates (``p["baseline"]`` present: :func:`simulate.analysis.adjusted.patients_of`);
    None otherwise."""
    if "baseline" not in p:
        return None
    from simulate.analysis.adjusted import patients_of

    x, n = _counted(scenario, p, among)
    return patients_of(n, arm != scenario.control_index, x, p["baseline"], scenario)


def group_sequential(scenario: sc.Scenario, design: rules.Sequential, r: dict, p: dict) -> dict:
    """The interim looks of every trial of the block, from arrays: each look at the calendar
    month its count of determined endpoints is reached, its z and decision, the first stop and
    its decision month (inf without a stop). The final look is left to the caller."""
    n_trials = r["n_trials"]
    rnd, month = r["randomised"], r["month"]
    det = np.where(rnd, month + p["finish"], np.inf)
    ordered = np.sort(det, axis=1)
    L = design.looks
    look_month = np.full((n_trials, L), np.nan)
    look_randomised = np.zeros((n_trials, L), dtype=np.int32)
    look_z = np.full((n_trials, L), np.nan)
    stop_look = np.full(n_trials, -1, dtype=np.int8)
    stop_reason = np.zeros(n_trials, dtype=np.int8)
    active = np.ones(n_trials, dtype=bool)
    total = r["n_randomised"]
    closed = r["closed"]
    for k in range(L - 1):
        m = design.counts[k]
        if m > ordered.shape[1]:                   # more endpoints than any trial of the block randomises
            break
        cut = ordered[:, m - 1]
        # held when its count of endpoints is reached before the final analysis: enrolment is
        # still open then, or some randomised patient's endpoint is still to come
        held = active & np.isfinite(cut) & ((m < total) | (closed > cut))
        if not held.any():
            break
        among = det <= cut[:, None]
        z, decision = design.look(k, *_analysed(scenario, p, among, r["arm"]),
                                  patients=_look_patients(scenario, p, among, r["arm"]))
        look_month[held, k] = cut[held]
        look_randomised[held, k] = (rnd & (month < cut[:, None])).sum(axis=1)[held]
        look_z[held, k] = z[held]
        stops = held & (decision != interim.NONE)
        stop_look[stops], stop_reason[stops] = k, decision[stops]
        active &= ~stops
    at_stop = np.take_along_axis(look_month, np.maximum(stop_look, 0)[:, None].astype(np.intp), axis=1)[:, 0]
    decision_month = np.where(stop_look >= 0, at_stop + design.lag_months, np.inf)
    # a decision that would come after the final analysis (every endpoint in, enrolment closed)
    # comes too late to stop anything: the final look decides
    natural_final = np.maximum(np.where(rnd, det, -np.inf).max(axis=1), closed)
    late = (stop_look >= 0) & (decision_month >= natural_final)
    stop_look[late], stop_reason[late], decision_month[late] = -1, interim.NONE, np.inf
    return {"look_month": look_month, "look_randomised": look_randomised, "look_z": look_z,
            "stop_look": stop_look, "stop_reason": stop_reason, "decision_month": decision_month}


def _cut(r: dict, stop: np.ndarray) -> dict:
    """The randomisation of a block once trials that stopped at a look close enrolment at their
    decision month: patients randomised after it never were."""
    randomised = r["randomised"] & (r["month"] < stop[:, None])
    return {**r, "randomised": randomised, "n_randomised": randomised.sum(axis=1),
            "month": np.where(randomised, r["month"], np.nan), "closed": np.minimum(r["closed"], stop)}


def outcomes_from_batch(scenario: sc.Scenario, fates: Fates, n_trials: int,
                        prepared: PreparedDesign | None = None) -> BlockOutcomes:
    """The first ``n_trials`` trials of a block, from the fates, as arrays. ``prepared``: the
    scenario's per-design values (its group-sequential design), computed here if not given."""
    t_cfg = scenario.trial
    target = scenario.n_target
    r = randomise_block(scenario, fates, n_trials)
    p = patient_outcomes(scenario, fates, r)
    design = interim.design_for(scenario) if prepared is None else prepared.sequential
    looks = None
    if design is not None:
        if getattr(design, "analysis", None) is not None and design.analysis.covariates:
            p = {**p, "baseline": pool_baseline(fates, n_trials, r["randomised"].shape[1])}
        looks = group_sequential(scenario, design, r, p)
        r = _cut(r, looks["decision_month"])
    rnd, strat, arm = r["randomised"], r["stratum"], r["arm"]
    dropped, locf = p["dropped"], p["locf"]

    n_s, K = fates.allocation.shape[1], len(scenario.arms)
    cell = (np.arange(n_trials)[:, None] * n_s + strat) * K + arm
    cell = cell[rnd]
    size = n_trials * n_s * K

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=mask[rnd], minlength=size).astype(np.int32).reshape(n_trials, n_s, K)

    x_visits = _seen_at_visits(p["visits_seen"], rnd, arm, K, len(t_cfg.visit_months))

    n_rand = count(np.ones_like(dropped))
    n_comp = count(~dropped)
    x_end = count(p["remission"])
    x_locf = count(locf)
    total = r["n_randomised"]
    month = r["month"]
    has = total > 0
    last = np.full(n_trials, np.nan)
    last[has] = month[has, total[has] - 1]
    finish = np.where(rnd, month + p["finish"], -np.inf).max(axis=1)
    closed = r["closed"]
    duration = np.where(has, finish, closed)
    stopped = np.zeros(n_trials, dtype=bool) if looks is None else looks["stop_look"] >= 0
    terminated = (total < target) & ~stopped
    on_time = (total == target) & (last <= t_cfg.recruitment_months)

    sequential = {}
    if looks is not None:
        sequential = _final_look(scenario, design, looks, p, r, finish)
    if needs_patients(scenario, prepared):
        sequential["patients"] = _patient_data(scenario, fates, r, p)
    if "lost" in p:
        sequential["dropped_out"] = (rnd & p["lost"]).sum(axis=1)
    return BlockOutcomes(**sequential,
        n_randomised=n_rand, n_completed=n_comp, x_endpoint=x_end, x_locf=x_locf, x_visits=x_visits,
        recruitment_months=last, duration_months=duration, terminated=terminated, on_time=on_time,
        **_consort(fates, closed, total),
    )


def _patient_data(scenario: sc.Scenario, fates: Fates, r: dict, p: dict) -> PatientData:
    """The randomised patients one by one (:class:`~simulate.engines.block_outcomes.PatientData`),
    slots in order of randomisation: the statuses seen at the visits up to the endpoint's that
    the analysis may use, the estimand's variable, and the covariates."""
    t_cfg = scenario.trial
    n_trials, width = r["randomised"].shape
    visits = [float(v) for v in t_cfg.visit_months if v <= t_cfg.endpoint_month]
    history = np.full((n_trials, width, len(visits)), -1, dtype=np.int8)
    for j, v in enumerate(visits):
        seen = (v < p["seen_until"]) & (v <= p["deciding"])
        history[..., j] = np.where(seen, p["status_at"](v), -1)
    rnd = r["randomised"]
    value = np.where(p["dropped"], -1, p["remission"]).astype(np.int8)
    return PatientData(randomised=rnd, arm=np.where(rnd, r["arm"], 0).astype(np.int8), value=np.where(rnd, value, -1),
                       history=np.where(rnd[..., None], history, -1),
                       covariates=pool_covariates(fates, n_trials, width),
                       segments=((fates.seed_sequence, fates.n_trials, 0, n_trials),),
                       baseline=pool_baseline(fates, n_trials, width),
                       carried=np.where(rnd, p["locf"], 0).astype(np.int8))


def pool_baseline(fates: Fates, n_trials: int, width: int) -> np.ndarray:
    """(trials, slots, 2): the :data:`~simulate.design.choices.BASELINE_COVARIATES` of the pool's
    first ``width`` slots as ``patients.csv`` gives them: the anti-PLA2R titre (RU/mL) and the
    screening proteinuria (g/24h, the mean of its two collections)."""
    from simulate.fates.draw import proteinuria_mean

    return np.stack([fates.pool["titre"][:n_trials, :width], proteinuria_mean(fates)[:n_trials, :width]], axis=2)


def pool_covariates(fates: Fates, n_trials: int, width: int) -> np.ndarray:
    """(trials, slots, 2): log2 of the anti-PLA2R titre (at least 1 RU/mL) and the screening
    proteinuria of the pool's first ``width`` slots: the covariates an imputation model uses."""
    from simulate.fates.draw import proteinuria_mean

    titre = np.log2(np.maximum(fates.pool["titre"][:n_trials, :width], 1.0))
    return np.stack([titre, proteinuria_mean(fates)[:n_trials, :width]], axis=2)


TRIALS_AT_ONCE = 32
"""Trials whose referrals are counted together: small work arrays, reused from chunk to chunk."""


def _consort(fates: Fates, closed: np.ndarray, n_randomised: np.ndarray) -> dict:
    """The CONSORT counts of each trial (int32): the referrals (excluded and candidates) referred
    before enrolment closed at ``closed``, the deferred and the lost among the candidates, and
    those who became randomisable but were not randomised (``n_randomised`` were)."""
    n_trials = len(closed)
    names = ("referred", "excluded_total", "deferred", "lost_during_deferral", "not_randomised_enrolment_closed")
    out = {name: np.zeros(n_trials, dtype=np.int32) for name in names}
    for lo in range(0, n_trials, TRIALS_AT_ONCE):
        trials = slice(lo, min(lo + TRIALS_AT_ONCE, n_trials))
        excluded = _sum_before(fates.excluded_offsets, trials, closed, fates.excluded_month)
        off = fates.candidate_offsets[trials.start: trials.stop + 1]
        rows = slice(off[0], off[-1])
        ref = fates.referral_month[rows] < np.repeat(closed[trials], np.diff(off))
        deferred = ref & (fates.qualifies_in_months[rows] > 0)
        off = off - off[0]
        out["referred"][trials] = excluded + sum_by_trial(ref, off)
        out["excluded_total"][trials] = excluded
        out["deferred"][trials] = sum_by_trial(deferred, off)
        out["lost_during_deferral"][trials] = sum_by_trial(deferred & fates.lost_if_deferred[rows], off)
        came = ref & np.isfinite(fates.eligible_month[rows])
        out["not_randomised_enrolment_closed"][trials] = sum_by_trial(came, off) - n_randomised[trials]
    return out


def _sum_before(offsets: np.ndarray, trials: slice, closed: np.ndarray, months: np.ndarray) -> np.ndarray:
    """How many of each of ``trials``' rows of a flat array of months fall before its ``closed``."""
    off = offsets[trials.start: trials.stop + 1]
    before = months[off[0]: off[-1]] < np.repeat(closed[trials], np.diff(off))
    return sum_by_trial(before, off - off[0])


def _seen_at_visits(visits_seen: list[tuple[np.ndarray, np.ndarray]], rnd: np.ndarray, arm: np.ndarray, K: int,
                    V: int) -> np.ndarray:
    """(trials, arms, visits) int32: the randomised patients seen in the endpoint state at each
    visit, from each patient's runs of such visits (one per remission; +1 where a run starts,
    -1 where it stops, summed along the schedule)."""
    n_trials = len(rnd)
    # one cell per (arm, visit, trial): the layout of a stack of per-arm (visit, trial) counts
    base = arm * ((V + 1) * n_trials) + np.arange(n_trials)[:, None]
    size = K * (V + 1) * n_trials
    marks = np.zeros(size, dtype=np.int64)
    for first, stop in visits_seen:
        counted = rnd & (stop > first)
        marks += (np.bincount((base + first * n_trials)[counted], minlength=size)
                  - np.bincount((base + stop * n_trials)[counted], minlength=size))
    seen = np.cumsum(marks.reshape(K, V + 1, n_trials), axis=1)[:, :V].astype(np.int32)
    return seen.transpose(2, 0, 1)


def _final_look(scenario: sc.Scenario, design: rules.Sequential, looks: dict, p: dict, r: dict,
                finish: np.ndarray) -> dict:
    """The final analysis of every trial (all randomised patients, the overrun included) and
    the group-sequential decision: an efficacy stop at a look, or rejection at the final look
    (the design's ``decide_final`` at the information reached:
    :meth:`simulate.analysis.interim.Design.decide_final`)."""
    total = r["n_randomised"]
    z = design.statistic(*_analysed(scenario, p, r["randomised"], r["arm"]),
                         patients=_look_patients(scenario, p, r["randomised"], r["arm"]))
    stop_look, stop_reason = looks["stop_look"], looks["stop_reason"]
    reached = np.where(stop_look >= 0, stop_look, (~np.isnan(looks["look_month"][:, :-1])).sum(axis=1))
    last = stop_look < 0
    has = total > 0
    look_month, look_z, look_randomised = looks["look_month"].copy(), looks["look_z"].copy(), looks["look_randomised"].copy()
    # the final analysis: every randomised patient's endpoint determined, and enrolment closed
    final_month = np.maximum(finish, r["closed"])
    look_month[last & has, -1] = final_month[last & has]
    look_z[last & has, -1] = z[last & has]
    look_randomised[last, -1] = total[last]
    reject = np.where(last, design.decide_final(z, reached, total) == interim.EFFICACY,
                      stop_reason == interim.EFFICACY)
    decision = np.where(last, np.where(has, final_month, np.nan), looks["decision_month"])
    return {"look_month": look_month, "look_z": look_z, "look_randomised": look_randomised, "stop_look": stop_look,
            "stop_reason": stop_reason, "decision_month": decision, "sequential_reject": reject, "overrun_z": z}
