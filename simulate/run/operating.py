"""Operating characteristics beside the power: the same design in its null world, and a power
curve over the true effect (an OC curve).

The null world is the design's own (:func:`simulate.design.null_world.null_scenario`): every
experimental arm at the control's rate (for non-inferiority, at the margin), every other part of
the model as in the power run, and the same seed's trials (common random numbers), so the two
runs differ by the effect alone. Its chance of success is the type I error; with several arms the
family-wise error (any comparison rejects) and each comparison's; with interim looks the overall
alpha of the group-sequential design, its stopping per look, and the expected number randomised
and duration under H0.

The OC curve moves every experimental arm's rate the same fraction of the way from its null rate
to its assumed rate (0: the null world, 1: the assumed effect) and simulates the same trials at
each point; with several arms and a multiplicity adjustment, the same trials analysed without it
are beside every point.
"""

from __future__ import annotations

import dataclasses
import math

from simulate.design import loader
from simulate.design import scenario as sc
from simulate.design.assumed import null_rate, primary_arm
from simulate.errors import ScenarioError
from simulate.run.record import Float, Record, frame
from simulate.run.results import PowerResult, against_alpha

OC_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
"""The points of the OC curve: the fraction of the assumed effect (beyond-null distance) each
experimental arm is given; 0 is the null world and 1 the assumed effect."""


# ----------------------------------------------------------------------------- the null world


def fixed_rates(scenario: sc.Scenario) -> sc.Scenario:
    """The scenario at its assumed rates (a run drawing its rates from design priors fixes them:
    a type I error or an OC curve is a property of fixed rates)."""
    if scenario.outcome.rates_from == "design_prior":
        return loader.with_overrides(scenario, {"outcome.rates_from": "assumed"})
    return scenario


def null_world_of(scenario: sc.Scenario) -> tuple[sc.Scenario, str]:
    """The scenario's null world and how it was made (for a run drawing its rates from design
    priors, the null world fixes them: a type I error is a property of fixed rates)."""
    from simulate.design.null_world import null_scenario

    scenario = fixed_rates(scenario)
    null, note = null_scenario(scenario)
    rate = null_rate(scenario)
    if not note:
        labels = ", ".join(scenario.arm(a).label for a in scenario.experimental_arms)
        control = scenario.arm(scenario.control_arm).label
        where = (f"{control}'s rate less the margin {scenario.analysis.margin:g}"
                 if scenario.analysis.hypothesis == "non_inferiority" else f"{control}'s rate")
        note = f"{labels} at {where}, {rate:.3f}; everything else as in the design."
    return null, note


JUDGED = {1: "above", -1: "below", 0: "within 2 Monte Carlo SE of"}
"""How :func:`judged`'s answer is said."""


def judged(rate: float, mc_se: float, alpha: float) -> int:
    """:func:`~simulate.run.results.against_alpha` of a null world's error; a rate whose Monte
    Carlo SE is 0 (no trial, or every trial, succeeded) is above alpha only if it exceeds it."""
    return against_alpha(rate, mc_se, alpha) if mc_se > 0 else (0 if rate <= alpha else 1)


def headline_error(null: dict) -> tuple[float, float]:
    """The error a null world is judged by, with its Monte Carlo SE: the family-wise error with
    several arms, else the type I error."""
    if "family_wise_error" in null:
        return null["family_wise_error"], null["family_wise_error_mc_se"]
    return null["type1_error"], null["mc_se"]


def null_world_record(scenario: sc.Scenario, null: sc.Scenario, r: PowerResult, note: str) -> dict:
    """What ``power --json`` reports of the null world ``r`` (a power run of ``null``)."""
    looks = bool(r.looks)
    out = {
        "type1_error": r.power, "mc_se": r.mc_se, "ci_low": r.ci_low, "ci_high": r.ci_high,
        "rejections": r.rejections, "replicates": r.replicates, "alpha": r.alpha,
        "against_alpha": judged(r.power, r.mc_se, r.alpha),
        "expected_randomised": r.expected_randomised, "expected_randomised_mc_se": r.expected_randomised_mc_se,
        "expected_duration_months": r.expected_duration_months if looks else r.mean_duration_months,
        "expected_duration_months_mc_se": r.expected_duration_months_mc_se if looks else r.mean_duration_months_mc_se,
        "rates": {a: null.arm(a).remission_at_endpoint for a in null.arm_names},
        "design": note,
        "comparisons": [{"arm": c.arm, "type1_error": c.power, "mc_se": c.mc_se, "true_difference": c.true_difference}
                        for c in r.comparisons],
    }
    if len(r.comparisons) > 1:
        out.update(family_wise_error=r.power_any, family_wise_error_mc_se=r.power_any_mc_se)
    if looks:
        out["looks"] = [{"information_fraction": k.information_fraction, "p_stop_efficacy": k.p_stop_efficacy,
                         "p_stop_efficacy_se": k.p_stop_efficacy_se, "p_stop_futility": k.p_stop_futility,
                         "p_stop_futility_se": k.p_stop_futility_se, "p_held": k.p_held,
                         "mean_randomised": k.mean_randomised} for k in r.looks]
    return out


def with_null_world(scenario: sc.Scenario, result: PowerResult, replicates: int | None = None,
                    seed: int | None = None, jobs=None, engine: str | None = None,
                    progress: bool = False) -> PowerResult:
    """``result`` (a power run of ``scenario``) with its null world's operating characteristics
    (:func:`null_world_record`), simulated on the same seed's trials. A design that is already
    its own null world (no true benefit) reuses ``result``."""
    from simulate.run.power import estimate_power

    null, note = null_world_of(scenario)
    if sc.scenario_hash(null) == sc.scenario_hash(scenario):
        r = result
    else:
        r = estimate_power(null, replicates or result.replicates, result.seed if seed is None else seed, jobs,
                           engine or result.engine, progress)
    return dataclasses.replace(result, null_world=null_world_record(scenario, null, r, note))


# ----------------------------------------------------------------------------- the design stage


def design_rates(scenario: sc.Scenario) -> dict[str, float]:
    """Each arm's rate at the design stage (``arms.<id>.design_rate``, else its own), where the
    arms' rates are published results and some arm gives one; else empty."""
    arms = [scenario.arm(a) for a in scenario.arm_names]
    if scenario.outcome.rates_are != "published" or all(a.design_rate is None for a in arms):
        return {}
    return {name: a.design_rate if a.design_rate is not None else a.remission_at_endpoint
            for name, a in zip(scenario.arm_names, arms)}


def with_design_stage(scenario: sc.Scenario, result: PowerResult, replicates: int | None = None,
                      seed: int | None = None, jobs=None, engine: str | None = None,
                      progress: bool = False) -> PowerResult:
    """``result`` with the power at the rates the design assumed (:func:`design_rates`), on the
    same seed's trials; unchanged without them. Where the arms' outcome model cannot hold a
    design rate, the reason is recorded instead of a power."""
    from simulate.run.power import estimate_power

    rates = design_rates(scenario)
    if not rates:
        return result
    try:
        design = loader.with_overrides(scenario, {"outcome.rates_are": "assumed",
                                                  **{f"arms.{a}.remission_at_endpoint": r for a, r in rates.items()},
                                                  **{f"arms.{a}.design_rate": None for a in rates}})
    except ScenarioError as err:
        return dataclasses.replace(result, design_stage={"rates": rates, "refused": err.problems[0]})
    r = estimate_power(design, replicates or result.replicates, result.seed if seed is None else seed, jobs,
                       engine or result.engine, progress)
    return dataclasses.replace(result, design_stage={
        "rates": rates, "power": r.power, "mc_se": r.mc_se, "ci_low": r.ci_low, "ci_high": r.ci_high,
        "replicates": r.replicates, "true_difference": r.true_difference})


# ----------------------------------------------------------------------------- the OC curve


@dataclasses.dataclass(frozen=True)
class OCPoint(Record):
    """One point of the OC curve: the chance of success at a fraction of the assumed effect."""

    fraction: Float
    """0: the null world; 1: the assumed effect."""
    true_difference: Float
    """The primary comparison's true difference (experimental minus control) at this point."""
    power: Float
    mc_se: Float
    adjusted: bool = True
    """False for the same trials analysed without the multiplicity adjustment."""
    comparisons: dict = dataclasses.field(default_factory=dict)
    """Each experimental arm's chance of rejecting and its true difference."""
    power_any: Float = math.nan
    """P(at least one comparison rejects): under the global null, the family-wise error."""
    power_any_mc_se: Float = math.nan


@dataclasses.dataclass(frozen=True)
class OCCurve(Record):
    """The OC curve of a design (:data:`OC_FRACTIONS`), and the fractions its model could not reach."""

    points: tuple[OCPoint, ...]
    replicates: int
    multiplicity: str
    skipped: tuple[float, ...] = ()

    def to_frame(self):
        rows = []
        for p in self.points:
            row = {"fraction_of_assumed_effect": p.fraction, "true_difference": p.true_difference,
                   "analysis": "adjusted" if p.adjusted else "unadjusted", "power": p.power, "mc_se": p.mc_se,
                   "power_any": p.power_any, "power_any_mc_se": p.power_any_mc_se}
            for arm, c in p.comparisons.items():
                row[f"power_{arm}"], row[f"true_difference_{arm}"] = c["power"], c["true_difference"]
            rows.append(row)
        return frame(rows)


def oc_designs(scenario: sc.Scenario) -> tuple[list[tuple[float, sc.Scenario]], tuple[float, ...]]:
    """(fraction, design) for each OC point the arms' models can reach, and the fractions they
    cannot (a rate above 1, or one the arm's model refuses)."""
    base = fixed_rates(scenario)
    start = null_rate(base)
    points, skipped = [], []
    flat = all(abs(base.arm(a).remission_at_endpoint - start) < 1e-12 for a in base.experimental_arms)
    for f in (0.0,) if flat else OC_FRACTIONS:      # a design with no assumed effect has one point
        if f == 0.0:
            points.append((f, null_world_of(base)[0]))
            continue
        rates = {a: start + f * (base.arm(a).remission_at_endpoint - start) for a in base.experimental_arms}
        if any(not 0.0 <= r <= 1.0 for r in rates.values()):
            skipped.append(f)
            continue
        try:
            points.append((f, base if f == 1.0 else loader.with_overrides(
                base, {f"arms.{a}.remission_at_endpoint": r for a, r in rates.items()})))
        except ScenarioError:
            skipped.append(f)
    return points, tuple(skipped)


def compute_oc_curve(scenario: sc.Scenario, seed: int, replicates: int, jobs, engine: str,
                     progress: bool = False, power: PowerResult | None = None) -> OCCurve:
    """The OC curve, every point on the same seed's trials (and, with several arms and a
    multiplicity adjustment, each point analysed without it too). ``power``: the power run of
    ``scenario`` with its null world (:func:`with_null_world`) on the same trials, whose points
    (the null world and the assumed effect) are then not simulated again."""
    from simulate.run.power import summarise, tally_designs

    points, skipped = oc_designs(scenario)
    primary = primary_arm(scenario)
    known: dict[float, OCPoint] = {}
    if power is not None and power.null_world and scenario.outcome.rates_from == "assumed" and power.seed == seed \
            and power.replicates == replicates:
        known = {0.0: _null_point(power.null_world, primary), 1.0: _point(1.0, power, primary, True)}
    plain = len(scenario.experimental_arms) > 1 and scenario.analysis.multiplicity != "none"
    todo = [(f, d, True) for f, d in points if f not in known]
    if plain:
        todo += [(f, loader.with_overrides(d, {"analysis.multiplicity": "none"}), False) for f, d in points]
    totals = tally_designs([d for _, d, _ in todo], replicates, seed, jobs, engine, progress,
                           f"OC curve: {len(todo)} designs, {replicates:,} trials each") if todo else []
    found = {(f, adjusted): _point(f, summarise(d, t, seed, engine), primary, adjusted)
             for (f, d, adjusted), t in zip(todo, totals)}
    found.update({(f, True): p for f, p in known.items()})
    order = [(f, True) for f, _ in points] + ([(f, False) for f, _ in points] if plain else [])
    return OCCurve(points=tuple(found[k] for k in order), replicates=replicates,
                   multiplicity=scenario.analysis.multiplicity, skipped=skipped)


def _point(fraction: float, r: PowerResult, primary: str, adjusted: bool) -> OCPoint:
    comps = {c.arm: {"power": c.power, "mc_se": c.mc_se, "true_difference": c.true_difference} for c in r.comparisons}
    return OCPoint(fraction=fraction, true_difference=comps[primary]["true_difference"], power=r.power, mc_se=r.mc_se,
                   adjusted=adjusted, comparisons=comps, power_any=r.power_any, power_any_mc_se=r.power_any_mc_se)


def _null_point(null: dict, primary: str) -> OCPoint:
    comps = {c["arm"]: {"power": c["type1_error"], "mc_se": c["mc_se"], "true_difference": c["true_difference"]}
             for c in null["comparisons"]}
    return OCPoint(fraction=0.0, true_difference=comps[primary]["true_difference"], power=null["type1_error"],
                   mc_se=null["mc_se"], adjusted=True, comparisons=comps,
                   power_any=null.get("family_wise_error", null["type1_error"]),
                   power_any_mc_se=null.get("family_wise_error_mc_se", null["mc_se"]))


def crossing(curve: OCCurve, level: float) -> float | None:
    """The primary comparison's true difference at which the adjusted curve first reaches
    ``level`` (linear between points), or None if it never does."""
    pts = [p for p in curve.points if p.adjusted]
    for a, b in zip(pts, pts[1:]):
        if a.power < level <= b.power:
            return a.true_difference + (level - a.power) / (b.power - a.power) * (b.true_difference - a.true_difference)
    return None

