"""A block of trials through an engine: its fates drawn once, then the batch engine or the DES
turns them into one :class:`~simulate.engines.block_outcomes.BlockOutcomes` per design."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from simulate.design import scenario as sc
from simulate.design.choices import DEFAULT_ENGINE, ENGINES
from simulate.engines.block_outcomes import CONSORT_FIELDS, BlockOutcomes, PatientData, needs_patients
from simulate.fates.draw import draw_fates, with_outcomes
from simulate.fates.allocation import n_strata
from simulate.run.plan import trials_per_block
from simulate.seeding import block_sequence

if TYPE_CHECKING:
    from simulate.run.prepared import PreparedDesign


def outcomes_from_des(scenario: sc.Scenario, fates, n_trials: int,
                      prepared: PreparedDesign | None = None) -> BlockOutcomes:
    """Run the first ``n_trials`` trials of a block through the discrete-event engine.
    ``prepared``: the scenario's per-design values (its group-sequential design), computed by
    the engine if not given."""
    from simulate.engines.des import simulate_trial

    from simulate.engines.trial import COMPLETE, NONE

    S, K, V = n_strata(scenario), len(scenario.arms), len(scenario.trial.visit_months)
    shape = (n_trials, S, K)
    n_rand, n_comp, x_end, x_locf = (np.zeros(shape, dtype=np.int32) for _ in range(4))
    x_visits = np.zeros((n_trials, K, V), dtype=np.int32)
    state = COMPLETE if scenario.trial.endpoint == "cr" else NONE + 1   # the lowest status that counts
    scalars = {k: np.zeros(n_trials) for k in ("recruitment_months", "duration_months")}
    flags = {k: np.zeros(n_trials, dtype=bool) for k in ("terminated", "on_time")}
    consort = {k: np.zeros(n_trials, dtype=np.int32) for k in CONSORT_FIELDS if k != "randomised"}
    seq: list[dict] = []
    results = []
    for i in range(n_trials):
        res = simulate_trial(scenario, fates, i, detail=False, prepared=prepared)
        results.append(res)
        p = res.randomised  # statuses as codes: < 0 not seen (dropped out), 0 none, > 0 in remission
        cell = p.stratum.astype(np.intp) * K + p.arm

        def tally(weights):
            return np.bincount(cell, weights=weights, minlength=K * S).reshape(S, K)

        n_rand[i] = tally(None)
        if p.endpoint_value is not None:             # intercurrent events: the estimand's variable
            n_comp[i] = tally(p.endpoint_value >= 0)
            x_end[i] = tally(p.endpoint_value > 0)
            x_locf[i] = tally(p.carried_value > 0)
        else:
            n_comp[i] = tally(p.endpoint_status >= 0)
            x_end[i] = tally(p.endpoint_status >= state)
            x_locf[i] = tally(p.locf_status >= state)
        for v in range(V):
            x_visits[i, :, v] = np.bincount(p.arm, weights=p.visit_status[:, v] >= state, minlength=K)
        cal = res.calendar
        scalars["recruitment_months"][i] = np.nan if cal["recruitment_months"] is None else cal["recruitment_months"]
        scalars["duration_months"][i] = cal["duration_months"]
        flags["terminated"][i] = cal["terminated"]
        flags["on_time"][i] = cal["recruited_on_time"]
        for k in consort:
            consort[k][i] = res.consort[k]
        if res.sequential is not None:
            seq.append(res.sequential)
    sequential = {k: np.array([row[k] for row in seq]) for k in seq[0]} if seq else {}
    if sequential:
        for k, dtype in (("stop_look", np.int8), ("stop_reason", np.int8), ("sequential_reject", bool),
                         ("decision_month", float), ("look_randomised", np.int32)):
            sequential[k] = sequential[k].astype(dtype)
    if needs_patients(scenario, prepared):
        sequential["patients"] = _patient_data(scenario, fates, [r.randomised for r in results])
    if scenario.intercurrent:
        sequential["dropped_out"] = np.array([sum(r.consort["discontinued_per_arm"].values()) for r in results])
    return BlockOutcomes(n_randomised=n_rand, n_completed=n_comp, x_endpoint=x_end, x_locf=x_locf,
                         x_visits=x_visits, **scalars, **flags, **consort, **sequential)


def _patient_data(scenario: sc.Scenario, fates, trials: list) -> PatientData:
    """The DES's randomised patients one by one, as the batch engine lays them out (slots in
    order of randomisation, as wide as the design's pool): what the trials recorded at their
    visits, up to the endpoint's and before any deciding intercurrent event."""
    from simulate.engines.batch import pool_baseline, pool_covariates
    from simulate.engines.trial import COMPLETE, NOT_SEEN, PARTIAL

    t_cfg = scenario.trial
    state = COMPLETE if t_cfg.endpoint == "cr" else PARTIAL
    months = np.array([float(v) for v in t_cfg.visit_months if v <= t_cfg.endpoint_month])
    n, width = len(trials), min(scenario.n_target, fates.randomisable_month.shape[1])
    randomised = np.zeros((n, width), dtype=bool)
    arm = np.zeros((n, width), dtype=np.int8)
    value = np.full((n, width), -1, dtype=np.int8)
    carried = np.zeros((n, width), dtype=np.int8)
    history = np.full((n, width, len(months)), -1, dtype=np.int8)
    for i, p in enumerate(trials):
        k = p.slot
        deciding = p.deciding_month if p.deciding_month is not None else np.full(len(p), np.inf)
        seen = (p.visit_status[:, : len(months)] != NOT_SEEN) & (months[None, :] <= deciding[:, None])
        randomised[i, k], arm[i, k] = True, p.arm
        history[i, k] = np.where(seen, p.visit_status[:, : len(months)] >= state, -1)
        value[i, k] = p.endpoint_value if p.endpoint_value is not None else np.where(
            p.endpoint_status == NOT_SEEN, -1, p.endpoint_status >= state)
        carried[i, k] = (p.carried_value > 0) if p.carried_value is not None else p.locf_status >= state
    return PatientData(randomised=randomised, arm=arm, value=value, history=history,
                       covariates=pool_covariates(fates, n, width), segments=((fates.seed_sequence, fates.n_trials, 0, n),),
                       baseline=pool_baseline(fates, n, width), carried=carried)


def simulate_block(scenario: sc.Scenario, seed: int, block: int, n_trials: int | None = None,
                   engine: str = DEFAULT_ENGINE) -> BlockOutcomes:
    """Trials ``block * size ...`` of the seed tree (``size``: :func:`simulate.run.plan.trials_per_block`),
    the first ``n_trials`` of the block.

    The block's fates are always drawn for the full block size, so a trial's fate does not
    depend on how many trials of its block are run.
    """
    return simulate_block_designs([scenario], seed, block, n_trials, engine)[0]


def simulate_block_designs(designs: Sequence[sc.Scenario | PreparedDesign], seed: int, block: int,
                           n_trials: int | None = None, engine: str = DEFAULT_ENGINE) -> list[BlockOutcomes]:
    """The same block of trials under several designs (common random numbers).

    Designs that share their population (recruitment, cohort, eligibility, randomisation and
    trial calendar; see :func:`simulate.fates.keys.population_key`) share one draw of fates, made for
    the largest target; the potential outcomes are computed once for each outcome model among
    them (:func:`simulate.fates.keys.outcome_key`), and the designs of one model that differ only
    in their target (a sample-size search's, a sweep's over n) and have no interim looks are
    followed in one pass (:func:`simulate.engines.by_target.outcomes_by_target`). Every design's
    trials are exactly those it would get on its own.

    Each design is a scenario or a :class:`~simulate.run.prepared.PreparedDesign` (a run's
    blocks receive them prepared; a scenario is prepared here).
    """
    from simulate.run.prepared import prepared as as_prepared

    if engine not in ENGINES:
        raise ValueError(f"engine: got {engine!r}; allowed: {', '.join(ENGINES)}")
    if engine == "batch":
        from simulate.engines.batch import outcomes_from_batch as run
        from simulate.engines.by_target import outcomes_by_target
    else:
        run = outcomes_from_des
    ready = [as_prepared(d) for d in designs]
    designs = [p.scenario for p in ready]
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(ready):
        groups.setdefault(p.population_key, []).append(i)
    results: list[BlockOutcomes | None] = [None] * len(designs)
    size = trials_per_block(*designs)
    for members in groups.values():
        first = designs[members[0]]
        n = size if n_trials is None else n_trials
        fates = draw_fates(first, block_sequence(seed, block), size,
                           max(designs[i].n_target for i in members), prepared=ready[members[0]])
        # designs with the first's outcome model use its outcomes; each other model's outcomes
        # are computed once; designs of one model that differ only in their target (and have no
        # looks) are followed in one pass
        shared: dict = {}                     # what every outcome model's pass shares (by_target)
        models: dict[str, list[int]] = {}
        for i in members:
            models.setdefault(ready[i].outcome_key, []).append(i)
        for same in models.values():
            f = fates if same[0] == members[0] else with_outcomes(fates, designs[same[0]], ready[same[0]])
            passed = [i for i in same if engine == "batch" and ready[i].sequential is None
                      and not needs_patients(designs[i], ready[i])]
            if len(passed) > 1:
                for i, o in zip(passed, outcomes_by_target([designs[i] for i in passed], f, n, shared)):
                    results[i] = o
            for i in same:
                if results[i] is None:
                    results[i] = run(designs[i], f, n, ready[i])
    return results  # type: ignore[return-value]
