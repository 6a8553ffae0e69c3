"""The batch engine: the discrete-event trial's semantics as array arithmetic over a block.

From the same fates as the DES (simulate/engines/des.py) it computes, for every trial of a
block at once, who is randomised and when, to which arm and stratum, and what happens to them.
It relies on one property of the model: a referral's randomisation attempt happens at its
*eligible month* (referral + screening + any deferral), and enrolment closes at the
target-th such attempt or at the hard stop. So, per trial:

1. sort the randomisable referrals (finite eligible month before the hard stop) by eligible month;
2. the first ``n_target`` are randomised; enrolment closes at the last of them, or at the hard stop;
3. within each stratum, the j-th randomised patient takes arm ``allocation[trial, stratum, j]``;
4. each patient's outcome is their potential outcome under that arm;
5. counts are aggregated per (trial, stratum, arm).

Referrals arriving after enrolment closed were never referred (sites stop referring).
"""

from __future__ import annotations

import numpy as np

from simulate import scenario as sc
from simulate.engines import BlockOutcomes
from simulate.fates import Fates


def randomise_block(scenario: sc.Scenario, fates: Fates, n_trials: int) -> dict:
    """Who is randomised in the first ``n_trials`` trials of a block, when, to what."""
    t_cfg = scenario.trial
    end_row = int(fates.offsets[n_trials])
    trial = np.repeat(np.arange(n_trials), np.diff(fates.offsets[: n_trials + 1]))
    em = fates.eligible_month[:end_row]
    valid = em < t_cfg.hard_stop_months
    key = np.where(valid, em, np.inf)
    order = np.lexsort((key, trial))
    starts = fates.offsets[:n_trials]
    rank = np.arange(end_row) - starts[trial[order]]
    n_valid = np.bincount(trial, weights=valid, minlength=n_trials).astype(int)
    target = t_cfg.n_target
    chosen = order[valid[order] & (rank < target)]          # referral rows, trial-major, time order
    ch_trial = trial[chosen]
    # enrolment closes at the target-th randomisation, else at the hard stop
    closed = np.full(n_trials, float(t_cfg.hard_stop_months))
    full = n_valid >= target
    last_of_target = order[starts[full] + target - 1] if full.any() else np.array([], dtype=int)
    closed[full] = em[last_of_target]
    # position within (trial, stratum), in randomisation order
    strat = fates.stratum[chosen].astype(np.int64)
    n_s = fates.allocation.shape[1]
    group = ch_trial * n_s + strat
    o2 = np.lexsort((np.arange(len(chosen)), group))
    g_sorted = group[o2]
    first = np.r_[True, g_sorted[1:] != g_sorted[:-1]] if len(g_sorted) else np.array([], dtype=bool)
    idx = np.arange(len(g_sorted))
    group_start = np.maximum.accumulate(np.where(first, idx, 0)) if len(g_sorted) else idx
    pos = np.empty(len(chosen), dtype=np.int64)
    pos[o2] = idx - group_start
    arm = fates.allocation[ch_trial, strat, pos].astype(np.int64)
    return {"rows": chosen, "trial": ch_trial, "stratum": strat, "arm": arm, "month": em[chosen],
            "closed": closed, "n_trials": n_trials, "end_row": end_row, "trial_of_row": trial}


def outcomes_from_batch(scenario: sc.Scenario, fates: Fates, n_trials: int) -> BlockOutcomes:
    t_cfg = scenario.trial
    r = randomise_block(scenario, fates, n_trials)
    rows, trial, strat, arm = r["rows"], r["trial"], r["stratum"], r["arm"]
    po0, po1 = fates.outcomes
    pick = lambda name: np.where(arm == 1, getattr(po1, name)[rows], getattr(po0, name)[rows])  # noqa: E731
    end = t_cfg.endpoint_month
    drop, rem, rel = pick("dropout_month"), pick("remission_month"), pick("relapse_month")
    dropped = drop < end
    in_rem = (rem <= end) & (rel > end)
    visits = np.asarray(t_cfg.visit_months, dtype=float)
    last_visit = visits[np.maximum(np.searchsorted(visits, np.minimum(drop, end), side="right") - 1, 0)]
    locf = (rem <= last_visit) & (rel > last_visit)

    n_s = fates.allocation.shape[1]
    cell = (trial * n_s + strat) * 2 + arm
    size = n_trials * n_s * 2

    def count(mask):
        return np.bincount(cell, weights=mask, minlength=size).astype(np.int32).reshape(n_trials, n_s, 2)

    ones = np.ones(len(rows))
    n_rand = count(ones)
    n_comp = count(~dropped)
    x_end = count(in_rem & ~dropped)
    x_locf = count(locf)
    total = n_rand.sum(axis=(1, 2))
    month = r["month"]
    last = np.full(n_trials, np.nan)
    np.fmax.at(last, trial, month)
    finish = np.full(n_trials, -np.inf)
    np.maximum.at(finish, trial, month + np.minimum(drop, end))
    closed = r["closed"]
    duration = np.where(total > 0, finish, closed)
    terminated = total < t_cfg.n_target
    on_time = ~terminated & (last <= t_cfg.recruitment_months)

    # CONSORT: referrals before closure
    tr = r["trial_of_row"]
    ref = fates.referral_month[: r["end_row"]] < closed[tr]
    q = fates.qualifies_in_months[: r["end_row"]]
    deferred = ref & np.isfinite(q) & (q > 0)
    lost = deferred & fates.lost_if_deferred[: r["end_row"]]
    came = ref & np.isfinite(fates.eligible_month[: r["end_row"]])
    per_trial = lambda mask: np.bincount(tr, weights=mask, minlength=n_trials).astype(np.int32)  # noqa: E731
    return BlockOutcomes(
        n_randomised=n_rand, n_completed=n_comp, x_endpoint=x_end, x_locf=x_locf,
        recruitment_months=last, duration_months=duration, terminated=terminated, on_time=on_time,
        referred=per_trial(ref), excluded_total=per_trial(ref & np.isinf(q)), deferred=per_trial(deferred),
        lost_during_deferral=per_trial(lost), not_randomised_enrolment_closed=per_trial(came) - total.astype(np.int32),
    )
