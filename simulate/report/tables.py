"""The main job's CSV tables: the funnel, power (one row), each comparison (with the estimand's
true value), remission by visit, the sample-size curve, the sweep, CONSORT counts, the outcome
model per arm, with interim looks each look and the fixed design beside them, and with a
tipping-point grid its power at each pair of shifts."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import pandas as pd

from simulate.design import scenario as sc
from simulate.engines.block_outcomes import CONSORT_FIELDS
from simulate.run.folders import ADJUSTMENT_TABLE, SWEEP_TABLE, TIPPING_TABLE
from simulate.io import write_csv_atomic
from simulate.run.results import Comparison, Look, PowerResult, RunResults, VisitRemission
from simulate.run.trial_results import ExampleTrial


def consort_table(example: ExampleTrial, power: PowerResult, arms: tuple[str, ...]) -> pd.DataFrame:
    """The example trial's CONSORT counts beside their means over the replicates."""
    ex = example.consort
    rows = [{"count": k, "example_trial": getattr(ex, k), "mean_over_replicates": power.mean_consort[k]}
            for k in CONSORT_FIELDS]
    rows += [{"count": f"excluded_{k}", "example_trial": v, "mean_over_replicates": None}
             for k, v in ex.excluded.items()]
    for arm in arms:
        for k in ("randomised_per_arm", "discontinued_per_arm", "analysed_per_arm"):
            rows.append({"count": f"{k.replace('_per_arm', '')}_{arm}", "example_trial": getattr(ex, k)[arm],
                         "mean_over_replicates": None})
    return pd.DataFrame(rows)


REMISSION_COLUMNS = tuple(f.name for f in fields(VisitRemission))
"""Columns of ``remission_by_visit.csv``: arm, month, remission, mc_se."""


def remission_table(power: PowerResult) -> pd.DataFrame:
    """Each arm's mean share in the endpoint state at each scheduled visit, one row per arm and
    visit (arms in the scenario's order), as the power piece computed it."""
    return pd.DataFrame([asdict(v) for v in power.remission_by_visit], columns=list(REMISSION_COLUMNS))


ESTIMAND_COLUMNS = ("true_control", "true_treatment")
"""Columns of ``comparisons.csv`` from the estimand's true values beside ``true_difference``: the
share with the estimand's variable in the control arm and in the experimental arm."""


def comparisons_table(power: PowerResult, scenario: sc.Scenario) -> pd.DataFrame:
    """One row per experimental arm against the control (its fields of
    :class:`~simulate.run.results.Comparison`, with both arms' labels and the estimand's true
    shares, :data:`ESTIMAND_COLUMNS`)."""
    truths = {t["arm"]: t for t in (power.estimand or {}).get("true_values", ())}
    rows = [{**asdict(c), "arm_label": scenario.arm(c.arm).label, "control_label": scenario.arm(c.control).label,
             **{k: truths.get(c.arm, {}).get(k) for k in ESTIMAND_COLUMNS}} for c in power.comparisons]
    return pd.DataFrame(rows, columns=[*(f.name for f in fields(Comparison)), "arm_label", "control_label",
                                       *ESTIMAND_COLUMNS])


LOOK_COLUMNS = tuple(f.name for f in fields(Look))
"""Columns of ``looks.csv``: the fields of :class:`~simulate.run.results.Look`."""
def looks_table(power: PowerResult) -> pd.DataFrame:
    """One row per planned look of a group-sequential design, as the power piece computed it."""
    return pd.DataFrame([asdict(k) for k in power.looks], columns=list(LOOK_COLUMNS))


TIPPING_COLUMNS = ("arm", "arm_label", "control", "control_label", "delta_control", "delta_experimental", "power",
                   "mc_se", "mean_estimate", "mean_estimate_mc_se")
"""Columns of ``tipping_point.csv``: the comparison, the pair of shifts of the imputed patients'
log-odds of remission, the power with its Monte Carlo SE and the mean estimate with its."""


def tipping_table(power: PowerResult, scenario: sc.Scenario) -> pd.DataFrame:
    """The tipping-point grid, one row per comparison and pair of shifts, as the power piece
    computed it (with both arms' labels)."""
    control = scenario.control_arm
    rows = [{**r, "arm_label": scenario.arm(r["arm"]).label, "control": control,
             "control_label": scenario.arm(control).label} for r in power.tipping_point]
    return pd.DataFrame(rows, columns=list(TIPPING_COLUMNS))


OPERATING_COLUMNS = ("quantity", "kind", "null_world", "null_world_mc_se", "assumed_effect", "assumed_effect_mc_se")
"""Columns of ``operating_characteristics.csv``: each quantity in the null world and under the
assumed effect, with its Monte Carlo SE (kind: a share or a mean)."""


def write_tables(folder: Path, results: RunResults) -> list[str]:
    """The run's CSVs: funnel, power (one row), comparisons (one row per experimental arm),
    remission_by_visit (one row per arm and visit), samplesize, sweep and consort; with interim
    looks also looks (one row per look) and fixed_design (the power row of the same scenario
    without the looks); with a tipping-point grid tipping_point (one row per comparison and pair
    of shifts); and justification.md, the protocol's sample-size justification
    (:mod:`simulate.report.justification`). Returns the names written; nothing else in the folder
    is touched."""
    written = []

    def write(name: str, frame: pd.DataFrame) -> None:
        write_csv_atomic(folder / name, frame)
        written.append(name)

    write("funnel.csv", results.screening.to_frame())
    # timings go to run.json: the tables hold results only, so a resumed run writes the same bytes
    write("power.csv", results.power.to_frame(consort=False, elapsed=False))
    write("comparisons.csv", comparisons_table(results.power, results.scenario))
    write("remission_by_visit.csv", remission_table(results.power))
    write("samplesize.csv", results.samplesize.to_frame())
    write("samplesize_targets.csv", results.samplesize.targets_frame())
    if results.sweep is not None:
        write(SWEEP_TABLE, results.sweep.to_frame())
    write("consort.csv", consort_table(results.example_trial, results.power, results.scenario.arm_names))
    if results.remission_model is not None:
        write("remission_model.csv", results.remission_model.to_frame())
    detail = getattr(results, "interim", None)
    if results.power.looks:
        write("looks.csv", looks_table(results.power))
    if results.power.looks:
        from simulate.report.boundary_table import BOUNDARY_COLUMNS, boundary_rows

        write("boundaries.csv", pd.DataFrame(boundary_rows(results), columns=list(BOUNDARY_COLUMNS)))
    if results.power.looks and detail is not None:
        write("fixed_design.csv", detail.fixed.to_frame(consort=False, elapsed=False))
    if results.power.tipping_point:
        write(TIPPING_TABLE, tipping_table(results.power, results.scenario))
    from simulate.io import write_text_atomic
    from simulate.report.justification import JUSTIFICATION_FILE, markdown

    write_text_atomic(folder / JUSTIFICATION_FILE, markdown(results))
    written.append(JUSTIFICATION_FILE)
    from simulate.report.operating_section import oc_rows, operating_rows

    write("operating_characteristics.csv", pd.DataFrame(operating_rows(results), columns=list(OPERATING_COLUMNS)))
    write("oc_curve.csv", pd.DataFrame(oc_rows(results)))
    if getattr(results, "adjustment", None) is not None:
        from simulate.report.adjustment_section import adjustment_rows

        write(ADJUSTMENT_TABLE, pd.DataFrame(adjustment_rows(results)))
    return written
