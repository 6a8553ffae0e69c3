"""Everything random about a block of trials, drawn once, as arrays.

:func:`draw_fates` is the only place a trial's randomness is drawn. Both engines (the
discrete-event reference in :mod:`simulate.engines.des` and the vectorised batch engine) only
read these arrays, so for the same seed they simulate the same trials, patient by patient.

For every trial of the block (arrays have one row per trial; ragged parts are padded):

* each site's activation month (uniform on [0, ``site_activation_months_max``]) and its referral
  rate (gamma with mean ``rate_per_site_month`` and shape ``rate_gamma_shape``: Poisson-gamma);
* the site's referrals up to the hard stop, a Poisson process on [activation, hard stop] split
  by exact thinning (:mod:`simulate.selection`) into two independent Poisson processes:
  referrals **excluded** at screening (rate x (1 - P(candidate))), of which only the referral
  month matters, and **candidates**, who pass every permanent rule (rate x P(candidate));
* every candidate's screening duration, ACEI/ARB intolerance (given a pass), months on
  ACEI/ARB, washout clocks and whether they would be lost if deferred: hence their deferral
  and the month they become randomisable (*eligible month*);
* the **pool**: the first ``n_max`` candidates of each trial in order of eligible month (those
  that could be randomised, whatever happens) get the rest of their covariates (the
  proteinuria group given a pass, anti-PLA2R, hence stratum and covariate score) and their
  potential outcomes under either arm (:func:`simulate.outcomes.potential_outcomes`). Pool
  draws are made slot-row by slot-row across trials (``k``-major), so a larger ``n_max`` only
  appends slots: the patients of a smaller target are a prefix of those of a larger one;
* for each randomisation stratum, an allocation sequence of permuted blocks (block sizes drawn
  from ``block_sizes``) long enough for the whole target.

What only the story of one trial shows (the rule that excluded each referral, a randomised
patient's age, sex, eGFR, albumin and treatment history) is drawn per trial on demand from the
trial's own streams (:func:`trial_patients`, :func:`trial_exclusions`); nothing a power run
counts depends on it.

Arms are indexed 0 = RTX alone (control), 1 = RTX + CsA.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np

from simulate import scenario as sc
from simulate.cohort import Patients, draw_cohort
from simulate.eligibility import RULE_NAMES, RULES, screen
from simulate.outcomes import PotentialOutcomes, calibrate, covariate_score, potential_outcomes
from simulate.seeding import child_sequence, stream
from simulate.selection import GROUPS, draw_proteinuria_given_pass, pass_probabilities, reduction_from_uniform

DAYS_PER_MONTH = 365.25 / 12.0
"""Unit conversion: the mean Gregorian month."""

_TIME_RULE = {name: RULE_NAMES.index(name) for name in ("washout_steroid_mmf", "washout_alkylating", "acei_arb_run_in")}


@dataclass(frozen=True)
class Fates:
    n_trials: int
    seed_sequence: np.random.SeedSequence
    n_max: int
    """Pool length: the largest target these fates serve."""
    site_activation_months: np.ndarray
    """(n_trials, n_sites)."""
    site_rate_per_month: np.ndarray
    """(n_trials, n_sites)."""
    excluded_offsets: np.ndarray
    """(n_trials + 1,) referrals excluded at screening: trial t's are rows offsets[t]:offsets[t+1]."""
    excluded_month: np.ndarray
    """Referral month of each excluded referral (flat, trial by trial, site by site)."""
    excluded_site: np.ndarray
    site: np.ndarray
    """(n_trials, C) candidate's site (-1 = padding); columns are not in time order."""
    referral_month: np.ndarray
    """(n_trials, C) candidate's referral month (inf = padding)."""
    screening_months: np.ndarray
    acei_arb_intolerant: np.ndarray
    """(n_trials, C) given a pass. Here and below, values in padding columns mean nothing."""
    u_clocks: np.ndarray
    """(3, n_trials, C) uniforms of ACEI/ARB (intolerance, months on), steroid/MMF and alkylating
    exposure (exposure, months since): see :func:`candidate_clocks`."""
    lost_if_deferred: np.ndarray
    qualifies_in_months: np.ndarray
    """(n_trials, C) 0 eligible at screening, > 0 deferred that long (inf = padding)."""
    first_failure: np.ndarray
    """(n_trials, C) first failing (time-dependent) rule, index into RULES; -1 if none."""
    eligible_month: np.ndarray
    """(n_trials, C) calendar month the candidate becomes randomisable (inf if lost or padding)."""
    n_randomisable: np.ndarray
    """(n_trials,) candidates randomisable before the hard stop."""
    order: np.ndarray
    """(n_trials, n_max) candidate column of the k-th randomisable candidate (-1 past the last)."""
    randomisable_month: np.ndarray
    """(n_trials, n_max) eligible month of each pool slot, ascending (inf past the last)."""
    slot: np.ndarray
    """(n_trials, C) pool slot of each candidate (-1 if not in the pool): the inverse of order."""
    pool: dict
    """Pool covariates, each (n_trials, n_max): z, true, c1, c2, u_reduction (see
    :func:`simulate.selection.reduction_from_uniform`), pla2r_positive, titre."""
    stratum: np.ndarray
    """(n_trials, n_max) randomisation stratum of each pool slot."""
    u_outcome: np.ndarray
    """(3, n_trials, n_max) uniforms: response, time to remission, complete vs partial."""
    e_outcome: np.ndarray
    """(2, n_trials, n_max) unit exponentials: relapse, dropout."""
    u_withdrawal: np.ndarray
    withdrawal: np.ndarray
    """(n_trials, n_max) if this patient drops out, it is a withdrawal of consent."""
    outcomes: tuple[PotentialOutcomes, PotentialOutcomes]
    """Potential outcomes of each pool slot under arm 0 and arm 1, each (n_trials, n_max)."""
    allocation: np.ndarray
    """(n_trials, n_strata, length) int8: the permuted-block arm sequence of each stratum."""



def excluded_of(fates: Fates, trial: int) -> tuple[np.ndarray, np.ndarray]:
    """(referral months, sites) of one trial's excluded referrals."""
    rows = slice(int(fates.excluded_offsets[trial]), int(fates.excluded_offsets[trial + 1]))
    return fates.excluded_month[rows], fates.excluded_site[rows]


def n_strata(scenario: sc.Scenario) -> int:
    return 2 ** len(scenario.randomisation.stratify_by)


def strata_from(scenario: sc.Scenario, titre: np.ndarray, proteinuria: np.ndarray) -> np.ndarray:
    """Stratum index: bit k set when stratification factor k is 'high'."""
    r = scenario.randomisation
    index = np.zeros(np.shape(titre), dtype=np.int16)
    for k, factor in enumerate(r.stratify_by):
        if factor == "pla2r_titre_high":
            high = titre >= r.pla2r_titre_high_ru_ml
        else:
            high = proteinuria >= r.proteinuria_high_g_day
        index |= (high.astype(np.int16) << k)
    return index


def _allocation(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int,
                n_target: int | None = None) -> np.ndarray:
    """Permuted blocks for every (trial, stratum), each at least the target long.

    Blocks are drawn block-position-major (all groups' first blocks, then all second blocks,
    ...) from two streams, so a larger target only appends blocks: the sequences of a smaller
    target are a prefix of those of a larger one (common random numbers across n per arm).
    Each block is filled slot by slot, slot j taking arm 1 with probability (arm-1 places
    left) / (places left): every arrangement with the ratio's numbers is equally likely.
    """
    ratio = scenario.trial.allocation_ratio
    unit = sum(ratio)
    sizes = np.asarray(scenario.randomisation.block_sizes)
    target = scenario.trial.n_target if n_target is None else max(n_target, scenario.trial.n_target)
    n_blocks = -(-target // int(sizes.min()))
    groups = n_trials * n_strata(scenario)
    bmax = int(sizes.max())
    chosen = sizes[stream(block_seq, "allocation_sizes").integers(0, len(sizes), size=(n_blocks, groups))].T
    keys = stream(block_seq, "allocation_keys").random((n_blocks, groups, bmax)).transpose(1, 0, 2)
    slot = np.arange(bmax)
    valid = slot < chosen[..., None]
    # a uniformly random arrangement of each block, slot by slot: slot j takes arm 1 with
    # probability (arm-1 places left) / (places left)
    left1 = chosen - chosen * ratio[0] // unit
    arms = np.zeros((groups, n_blocks, bmax), dtype=np.int8)
    for j in range(bmax):
        places = chosen - j
        with np.errstate(divide="ignore", invalid="ignore"):
            take = keys[..., j] * places < left1                      # u < left1 / places
        take &= places > 0
        arms[..., j] = take
        left1 = left1 - take
    length = target
    # valid slots are the first `chosen` of each block: flatten them in order, per group
    flat = arms[valid]
    starts = np.concatenate([[0], np.cumsum(chosen.sum(axis=1))[:-1]])
    seqs = flat[starts[:, None] + np.arange(length)]
    return seqs.reshape(n_trials, n_strata(scenario), length)


def _poisson_referrals(rng_count: np.random.Generator, rng_time: np.random.Generator, activation: np.ndarray,
                       rates: np.ndarray, window: np.ndarray, padded: bool):
    """Poisson processes on each (trial, site) window: a Poisson count, then uniform times.

    Flat (``padded=False``): (month, site, offsets), trial by trial, site by site, with
    ``offsets`` (n_trials + 1). Padded: (month, site, count), one row per trial with inf months
    and site -1 past the trial's count; site s owns the columns [sum of counts of sites < s,
    + its count). Times within a site are not sorted.
    """
    n_trials, n_sites = rates.shape
    counts = rng_count.poisson(rates * window)
    flat = counts.ravel()
    total = counts.sum(axis=1)
    if not padded:
        u = rng_time.random(int(flat.sum()))
        month = np.repeat(activation.ravel(), flat) + u * np.repeat(window.ravel(), flat)
        site = np.repeat(np.tile(np.arange(n_sites, dtype=np.int16), n_trials), flat)
        return month, site, np.concatenate([[0], np.cumsum(total)])
    width = int(total.max()) if n_trials else 0
    row = np.repeat(np.arange(n_trials), total)
    col = np.arange(len(row)) - np.repeat(np.cumsum(total) - total, total)
    u = rng_time.random((n_trials, width))
    month = np.full((n_trials, width), np.inf)
    site = np.full((n_trials, width), -1, dtype=np.int16)
    month[row, col] = np.repeat(activation.ravel(), flat) + u[row, col] * np.repeat(window.ravel(), flat)
    site[row, col] = np.repeat(np.tile(np.arange(n_sites, dtype=np.int16), n_trials), flat)
    return month, site, total


def draw_fates(scenario: sc.Scenario, block_seq: np.random.SeedSequence, n_trials: int,
               n_target: int | None = None) -> Fates:
    """Draw everything random for ``n_trials`` trials from the block's seed.

    ``n_target`` lengthens the pool and the allocation sequences so the same fates serve every
    design up to that many randomised patients (those of smaller targets are prefixes of
    them); this is how a sample-size search evaluates every n on the same trials.
    """
    rec, trial, cohort, rules = scenario.recruitment, scenario.trial, scenario.cohort, scenario.eligibility
    n_sites = rec.sites
    rng = lambda name: stream(block_seq, name)  # noqa: E731
    probs = pass_probabilities(cohort, rules)
    p_cand = probs.candidate
    n_max = trial.n_target if n_target is None else max(n_target, trial.n_target)

    activation = rng("site_activation").random((n_trials, n_sites)) * rec.site_activation_months_max
    shape = rec.rate_gamma_shape
    rates = rng("site_rate").gamma(shape, rec.rate_per_site_month / shape, size=(n_trials, n_sites))
    window = np.maximum(trial.hard_stop_months - activation, 0.0)
    ex_month, ex_site, ex_offsets = _poisson_referrals(rng("excluded_count"), rng("excluded_time"), activation,
                                                       rates * (1.0 - p_cand), window, padded=False)
    month, site, _ = _poisson_referrals(rng("candidate_count"), rng("candidate_time"), activation,
                                             rates * p_cand, window, padded=True)
    pad = site < 0
    width = month.shape[1]

    # candidates: screening, deferral, loss. One uniform each decides exposure and its clock:
    # exposed iff u < f, then months since = mean * -log(u / f) (u / f is uniform given u < f);
    # intolerant iff u < p, else months on ACEI/ARB = mean * -log((1 - u) / (1 - p)).
    u = rng("candidate_uniforms").random((5, n_trials, width))
    days = rec.screening_days_min + (rec.screening_days_max - rec.screening_days_min) * u[0]
    screening_months = days / DAYS_PER_MONTH
    p_int = probs.intolerant_given_pass
    intolerant = u[1] < p_int
    clocks = (
        (u[2], cohort.prior_steroid_mmf_fraction, cohort.months_since_steroid_mmf_mean,
         rules.washout_steroid_mmf_months),
        (u[3], cohort.prior_alkylating_fraction, cohort.months_since_alkylating_mean,
         rules.washout_alkylating_months),
    )
    # the rules in reverse CONSORT order, so the first failing rule is written last
    run_in = rules.acei_arb_run_in_months
    fail = (u[1] >= p_int) & (u[1] < p_int + (1.0 - p_int) * -np.expm1(-run_in / cohort.months_on_acei_arb_mean))
    with np.errstate(divide="ignore", invalid="ignore"):             # (intolerant: not used)
        months_on = cohort.months_on_acei_arb_mean * -np.log((1.0 - u[1]) / (1.0 - p_int))
    wait = np.where(fail, run_in - months_on, 0.0)                     # a common deferral: dense
    first = np.where(fail, _TIME_RULE["acei_arb_run_in"], -1).astype(np.int8)
    for (uu, frac, mean, thr), rule in zip(reversed(clocks), ("washout_alkylating", "washout_steroid_mmf")):
        fail = (uu < frac) & (uu >= frac * np.exp(-thr / mean))           # exposed, since <= threshold
        since = mean * -np.log(uu[fail] / frac)
        wait[fail] = np.maximum(wait[fail], thr - since)
        first[fail] = _TIME_RULE[rule]
    # failed at the exact threshold (strict >): qualifies straight after screening (as screen())
    wait[(first >= 0) & (wait == 0.0)] = np.finfo(float).tiny
    wait[pad] = np.inf
    lost = u[4] < rec.loss_during_deferral_probability
    eligible_month = month + screening_months + wait                 # padding: inf
    eligible_month[lost & (wait > 0.0)] = np.inf

    # the pool: randomisable candidates in order of eligible month, the first n_max of each trial
    n_randomisable = (eligible_month < trial.hard_stop_months).sum(axis=1)
    key = eligible_month             # the randomisable (before the hard stop) sort first
    if width > n_max:
        part = np.argpartition(key, n_max - 1, axis=1)[:, :n_max]
        within = np.argsort(np.take_along_axis(key, part, axis=1), axis=1, kind="stable")
        order = np.take_along_axis(part, within, axis=1)
    else:
        order = np.argsort(key, axis=1, kind="stable")
        order = np.concatenate([order, np.zeros((n_trials, n_max - width), dtype=order.dtype)], axis=1)
    in_pool = np.arange(n_max)[None, :] < np.minimum(n_randomisable, n_max)[:, None]
    order = np.where(in_pool, order, -1)
    slot = np.full((n_trials, width), -1, dtype=np.int32)
    tt, kk = np.nonzero(in_pool)
    slot[tt, order[tt, kk]] = kk
    pool_month = np.full((n_trials, n_max), np.inf)
    pool_month[tt, kk] = eligible_month[tt, order[tt, kk]]

    pool = _draw_pool(scenario, block_seq, intolerant, order, in_pool)
    fates = Fates(
        n_trials=n_trials, seed_sequence=block_seq, n_max=n_max, site_activation_months=activation,
        site_rate_per_month=rates, excluded_offsets=ex_offsets, excluded_month=ex_month, excluded_site=ex_site,
        site=site, referral_month=month, screening_months=screening_months,
        acei_arb_intolerant=intolerant, u_clocks=u[1:4], lost_if_deferred=lost, qualifies_in_months=wait,
        first_failure=first, eligible_month=eligible_month, n_randomisable=n_randomisable, order=order,
        randomisable_month=pool_month, slot=slot, pool=pool["covariates"], stratum=pool["stratum"],
        u_outcome=pool["u_outcome"], e_outcome=pool["e_outcome"], u_withdrawal=pool["u_withdrawal"],
        withdrawal=np.zeros((n_trials, n_max), dtype=bool), outcomes=(),
        allocation=_allocation(scenario, block_seq, n_trials, n_target),
    )
    return with_outcomes(fates, scenario)


def _draw_pool(scenario: sc.Scenario, block_seq: np.random.SeedSequence, intolerant: np.ndarray,
               order: np.ndarray, in_pool: np.ndarray) -> dict:
    """Covariates and outcome draws of the pool slots, slot-row by slot-row (k-major)."""
    cohort = scenario.cohort
    n_trials, n_max = order.shape
    # valid slots in k-major order: (k, trial) for k < the trial's pool length
    kk, tt = np.nonzero(in_pool.T)
    slot_intolerant = intolerant[tt, order[tt, kk]]
    g3 = draw_proteinuria_given_pass(cohort, scenario.eligibility, slot_intolerant, block_seq, "pool_proteinuria")
    covariates = {}
    for name, fill in (("z", 0.0), ("true", 1.0), ("c1", 1.0), ("c2", 1.0), ("u_reduction", 0.0)):
        a = np.full((n_trials, n_max), fill)
        a[tt, kk] = g3[name]
        covariates[name] = a
    # the other pool draws: one row of (trial) values per slot row, so rows are prefixes too
    u = stream(block_seq, "pool_uniforms").random((n_max, 6, n_trials)).transpose(1, 2, 0)
    e = stream(block_seq, "pool_exponentials").standard_exponential((n_max, 2, n_trials)).transpose(1, 2, 0)
    nz = stream(block_seq, "pool_normals").standard_normal((n_max, n_trials)).T
    rho = cohort.pla2r_log_titre_log_proteinuria_correlation
    zt = rho * covariates["z"] + np.sqrt(1.0 - rho**2) * nz
    positive = u[0] < cohort.pla2r_positive_fraction
    titre_pos = np.maximum(np.exp(np.log(cohort.pla2r_titre_median_ru_ml) + cohort.pla2r_titre_log_sd * zt),
                           cohort.pla2r_positive_threshold_ru_ml)
    covariates["pla2r_positive"] = positive
    covariates["titre"] = np.where(positive, titre_pos, u[1] * cohort.pla2r_positive_threshold_ru_ml)
    mean = 0.5 * (covariates["c1"] + covariates["c2"])
    return {"covariates": covariates, "stratum": strata_from(scenario, covariates["titre"], mean),
            "u_outcome": u[2:5], "e_outcome": e, "u_withdrawal": u[5]}


def candidate_clocks(scenario: sc.Scenario, fates: Fates, trial: int) -> dict[str, np.ndarray]:
    """Months on ACEI/ARB (0 if intolerant) and months since steroid/MMF and alkylating agents
    (inf if never exposed) of one trial's candidates, from the fates' uniforms."""
    c = scenario.cohort
    p_int = pass_probabilities(c, scenario.eligibility).intolerant_given_pass
    u = fates.u_clocks[:, trial]
    with np.errstate(divide="ignore", invalid="ignore"):
        on = np.where(u[0] < p_int, 0.0, c.months_on_acei_arb_mean * -np.log((1.0 - u[0]) / (1.0 - p_int)))
        steroid = np.where(u[1] < c.prior_steroid_mmf_fraction,
                           c.months_since_steroid_mmf_mean * -np.log(u[1] / c.prior_steroid_mmf_fraction), np.inf)
        alkyl = np.where(u[2] < c.prior_alkylating_fraction,
                         c.months_since_alkylating_mean * -np.log(u[2] / c.prior_alkylating_fraction), np.inf)
    return {"months_on_acei_arb": on, "months_since_steroid_mmf": steroid, "months_since_alkylating": alkyl}


def proteinuria_mean(fates: Fates) -> np.ndarray:
    """(n_trials, n_max) mean of the two screening collections of each pool slot."""
    return 0.5 * (fates.pool["c1"] + fates.pool["c2"])


def population_key(scenario: sc.Scenario) -> str:
    """Scenarios with equal keys share referrals, patients and allocation sequences: only their
    outcome model (arms, outcome, dropout) and the target may differ."""
    data = scenario.model_dump(mode="json")
    trial = {k: v for k, v in data["trial"].items() if k != "n_per_arm"}
    return json.dumps({"trial": trial, "block_size": scenario.simulation.block_size,
                       **{k: data[k] for k in ("recruitment", "cohort", "eligibility", "randomisation")}},
                      sort_keys=True)


def with_outcomes(fates: Fates, scenario: sc.Scenario) -> Fates:
    """The same trials' potential outcomes under ``scenario``'s outcome model (arms, outcome,
    dropout), from the fates' own uniforms: a sweep over effects or dropout re-uses its patients."""
    models = calibrate(scenario)
    score = covariate_score(scenario, fates.pool["titre"], proteinuria_mean(fates))
    u, e = fates.u_outcome, fates.e_outcome
    outcomes = tuple(potential_outcomes(models[name], score, u[0], u[1], e[0], u[2], e[1]) for name in sc.ARMS)
    return replace(fates, outcomes=outcomes, withdrawal=fates.u_withdrawal < scenario.dropout.withdrawal_share)


# --------------------------------------------------------------------------- the story of one trial


def lab_uniforms(fates: Fates, trial: int, n_visits: int) -> np.ndarray:
    """(n_max, n_visits, 2) uniforms for the lab values shown at visits of each pool slot
    (story mode only), from the trial's own stream."""
    return stream(fates.seed_sequence, f"visit_labs/{trial}").random((fates.n_max, n_visits, 2))


def _first_passing(scenario: sc.Scenario, seq: np.random.SeedSequence, n: int, keep) -> Patients:
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


def _group_passes(group: str):
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
    rho = cohort.albumin_log_proteinuria_correlation
    z = fates.pool["z"][trial]
    za = rho * z + np.sqrt(1.0 - rho**2) * rng.standard_normal(n)
    albumin = np.clip(cohort.albumin_mean_g_l + cohort.albumin_sd_g_l * za, 8.0, 55.0)
    cols = np.maximum(fates.order[trial], 0)
    if fates.site.shape[1] == 0:            # no candidate at all: the pool slots are unused
        cols = np.zeros(0, dtype=int)
        n = 0
        albumin, z = albumin[:0], z[:0]
    intolerant = fates.acei_arb_intolerant[trial, cols]
    bp = np.where(intolerant, rng.random(n) < cohort.bp_controlled_fraction, True)
    pool = {k: v[trial][:n] for k, v in fates.pool.items()}
    clocks = candidate_clocks(scenario, fates, trial)
    demo, hist = demo.take(np.arange(n)), hist.take(np.arange(n))
    false = np.zeros(n, dtype=bool)
    return Patients(
        age_years=demo.age_years, male=demo.male, postmenopausal=demo.postmenopausal,
        contraception_or_sterile=demo.contraception_or_sterile,
        pregnant_or_breastfeeding=demo.pregnant_or_breastfeeding,
        proteinuria_baseline_g_day=pool["true"] / (1.0 - reduction_from_uniform(cohort, pool["u_reduction"])),
        proteinuria_true_g_day=pool["true"],
        proteinuria_collection_1_g_day=pool["c1"], proteinuria_collection_2_g_day=pool["c2"],
        albumin_g_l=albumin, egfr_ml_min=demo.egfr_ml_min, pla2r_positive=pool["pla2r_positive"],
        pla2r_titre_ru_ml=pool["titre"], diabetes=false, active_infection=false, secondary_cause=false,
        months_since_steroid_mmf=clocks["months_since_steroid_mmf"][cols],
        months_since_alkylating=clocks["months_since_alkylating"][cols],
        acei_arb_intolerant=intolerant, months_on_acei_arb=clocks["months_on_acei_arb"][cols],
        bp_controlled=bp, resistant_cni=hist.resistant_cni, resistant_rtx=hist.resistant_rtx,
        resistant_alkylating=hist.resistant_alkylating, prior_relapse_drug=hist.prior_relapse_drug,
        months_off_drug_at_relapse=hist.months_off_drug_at_relapse,
    )


def trial_exclusions(scenario: sc.Scenario, fates: Fates, trial: int) -> tuple[np.ndarray, np.ndarray]:
    """(screening months, first failing rule) of each excluded referral of one trial (in the
    order of :func:`excluded_of`), drawn given exclusion from the trial's own stream (story mode only)."""
    n = int(fates.excluded_offsets[trial + 1] - fates.excluded_offsets[trial])
    seq = child_sequence(fates.seed_sequence, f"story/{trial}")
    permanent = np.array([not r.time_dependent for r in RULES])
    excluded = _first_passing(scenario, child_sequence(seq, "excluded"), n,
                              lambda p, s: (~s.passes[permanent]).any(axis=0))
    first = screen(excluded, scenario.eligibility).first_failure
    rec = scenario.recruitment
    days = stream(seq, "excluded_screening").uniform(rec.screening_days_min, rec.screening_days_max, n)
    return days / DAYS_PER_MONTH, first
