"""The report's section "Uncertainty in the assumptions": what the design gives when its assumed
rates may be wrong (design priors: the assurance beside the power, over n where the grid varies
it, and how the power spreads over the prior) and, for a Bayesian design, its decision rule,
its analysis priors (a borrowed one with the trials it rests on) and its type I error and power
where the control's true rate moves away from what the priors say (prior-data conflict).

Shown only where the run has design priors or a Bayesian analysis; every figure comes from the
run's own results (``power.json``: ``assurance_detail`` and ``bayes``; ``sweep.csv``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulate.report.formatting import _f, _pm, _table
from simulate.run.assurance import ceiling_words
from simulate.report.words import label

if TYPE_CHECKING:
    from simulate.run.results import RunResults


OVER_N = "assurance_over_n"
"""The section's figure: assurance beside power against n."""
AXES = ("outcome.rates_from", "trial.n_per_arm")
"""The grid's axes the figure needs: where the rates come from, and n."""


def scenario_figures(scenario) -> tuple[str, ...]:
    """The section's figures a run of ``scenario`` may draw (before any result: for the files it
    may write)."""
    return (OVER_N,) if all(a in scenario.sweep_grid for a in AXES) else ()


def figure_names(results: RunResults) -> tuple[str, ...]:
    """The section's figures for these results: assurance and power against n where the grid
    varies both."""
    return (OVER_N,) if results.power.assurance_detail and over_n_points(results) else ()


def uncertainty(results: RunResults, images: dict[str, bytes] | None = None, scale: float = 1.0) -> dict | None:
    """The section as the template draws it, or None when it does not apply."""
    p = results.power
    if not p.assurance_detail and not p.bayes:
        return None
    text, tables, figures = [], [], []
    if p.assurance_detail:
        text += _assurance_text(results)
        tables.append(_priors_table(results))
        tables.append(_conditional_table(results))
        over_n = _over_n_table(results)
        if over_n is not None:
            tables.append(over_n)
        if images and OVER_N in images:
            figures.append(_over_n_figure(results, images[OVER_N], scale))
    if p.bayes:
        text += _bayes_text(results)
        tables.append(_analysis_priors_table(results))
        if p.bayes.get("historical"):
            tables.append(_historical_table(results))
        conflict = _conflict_table(results)
        if conflict is not None:
            text.append("Where the grid moves the control's true rate, the rule meets prior-data conflict: a control "
                        "doing better than its prior says makes a trial without a true difference look like a "
                        "benefit (the type I error rises); one doing worse hides a true benefit (the power falls).")
            tables.append(conflict)
    return {"text": text, "tables": tables, "figures": figures}


def _assurance_text(results: RunResults) -> list[str]:
    p = results.power
    d = p.assurance_detail
    cp = d["conditional_power"]
    q = cp["quantiles"]
    first = ("Every trial of this run drew its true rates from the design priors. " if p.rates_from == "design_prior"
             else f"The power, {p.power:.3f} ± {p.mc_se:.3f}, is the chance of success if the assumed rates are right. ")
    return [
        first + f"The design priors say how wrong they may be; over trials that each draw their true rates from them the chance "
        f"of success, the assurance, is {p.assurance:.3f} ± {p.assurance_mc_se:.3f} ({d['replicates']:,} trials, "
        f"95% interval {d['ci_low']:.3f}-{d['ci_high']:.3f}). The priors give a true benefit a probability of "
        f"{d['prior_probability_of_benefit']:.3f}: {ceiling_words(results.scenario)}.",
        f"How the power spreads over what may be true (the normal approximation at each drawn pair of rates): its "
        f"median is {q['0.5']:.2f}, the middle "
        f"half of the priors' draws lies between {q['0.25']:.2f} and {q['0.75']:.2f}, and in "
        f"{100 * cp['share_below_half']:.0f}% of them the trial is more likely to fail than to succeed.",
    ]


def _priors_table(results: RunResults):
    s, d = results.scenario, results.power.assurance_detail
    rows = []
    for arm, a in d["arms"].items():
        prior = a["design_prior"]
        said = "none: the rate is taken as known" if prior is None else mixture_words(prior)
        rows.append([label(s, arm), _f(s.arm(arm).remission_at_endpoint), said, _f(a["mean_rate"]),
                     f"{100 * a['mass_above_reach']:.2f}%"])
    return _table(["Arm", "Assumed rate", "Design prior", "Mean rate drawn", "Prior mass cut off"], rows,
                  numeric={1, 3, 4}, caption="Each arm's design prior (power.json: assurance_detail.arms)")


def _conditional_table(results: RunResults):
    d = results.power.assurance_detail
    q = d["conditional_power"]["quantiles"]
    rows = [[f"{100 * float(k):g}%", _f(v)] for k, v in q.items()]
    return _table(["Share of the priors' draws", "Power at or below"], rows, numeric={1},
                  caption="The power at the drawn rates, quantiles over the design priors (normal approximation)")


def over_n_points(results: RunResults) -> list[tuple[int, object, object]]:
    """(n per arm, the sweep point at the assumed rates or None, the one over the design priors
    or None) at each n of the grid, the grid's other axes at the planned design; empty unless
    the grid varies both where the rates come from and n."""
    sweep = results.sweep
    if sweep is None or not all(a in sweep.axes for a in AXES):
        return []
    others = [a for a in sweep.axes if a not in AXES]
    s = results.scenario
    by: dict = {}
    for point in sweep.points:
        v = point.values
        if any(v[a] != _planned(s, a) for a in others):
            continue
        by.setdefault(v["trial.n_per_arm"], {})[v["outcome.rates_from"]] = point
    return [(n, by[n].get("assumed"), by[n].get("design_prior")) for n in sorted(by)]


def _over_n_table(results: RunResults):
    """Power and assurance side by side at each n of the grid, where it varies both."""
    points = over_n_points(results)
    if not points:
        return None
    s = results.scenario
    rows = [[f"{n}" + (" (planned)" if n == s.trial.n_per_arm else ""),
             _pm(a.power, a.mc_se) if a else "—", _pm(d.power, d.mc_se) if d else "—"] for n, a, d in points]
    return _table(["Patients per arm", "Power at the assumed rates ± MC SE", "Assurance over the design priors ± MC SE"],
                  rows, numeric={1, 2}, caption="Power and assurance against n (as sweep.csv)")


def _over_n_figure(results: RunResults, png: bytes, scale: float) -> dict:
    from simulate.report.captions import _figure

    points = over_n_points(results)
    last_n, last_a, last_d = points[-1]
    caption = ("Blue: the power at the assumed rates, the share of trials that succeed if those rates are true; "
               "orange: the assurance, the share that succeed when each trial draws its true rates from the design "
               "priors; each at the n per arm of the grid (sweep.csv), with ±2 Monte Carlo SE bands. The dashed "
               "line is the planned n, the dotted one 80%. Power climbs towards 1 with n; assurance levels off "
               "below the priors' probability of a true benefit, "
               f"{results.power.assurance_detail['prior_probability_of_benefit']:.2f}, which no n can pass.")
    alt = (f"Line chart of power and assurance against patients per arm from {points[0][0]} to {last_n}: "
           + (f"power {last_a.power:.2f} and " if last_a else "") + (f"assurance {last_d.power:.2f} " if last_d else "")
           + f"at {last_n} per arm.")
    return _figure(OVER_N, png, caption, alt, scale)


def over_n_frame(results: RunResults) -> list[dict]:
    """The figure's rows: n, which curve, the estimate and its Monte Carlo SE."""
    rows = []
    for n, a, d in over_n_points(results):
        for what, point in (("power", a), ("assurance", d)):
            if point is not None:
                rows.append({"n_per_arm": n, "measure": what, "value": point.power, "mc_se": point.mc_se})
    return rows


def _planned(s, path: str):
    from simulate.design.loader import value_at

    return value_at(s.model_dump(mode="json"), path)


def _bayes_text(results: RunResults) -> list[str]:
    b = results.power.bayes
    out = [f"The analysis is Bayesian: a comparison succeeds when the posterior probability that the experimental "
           f"arm is better than the control{' by more than minus the margin' if results.power.margin else ''} "
           f"exceeds {b['threshold']:g}, under each arm's analysis prior below (trialsim calibrate gives the "
           "threshold whose type I error under the null is a chosen level)."]
    for arm, m in (b.get("map") or {}).items():
        out.append(f"{label(results.scenario, arm)}'s prior borrows the earlier trials below: their meta-analytic-"
                   f"predictive prior has mean {m['mean']:.3f} and SD {m['sd']:.3f} (the between-trial SD of the logit "
                   f"rate has posterior median {m['tau_median']:.2f}) and is worth about {m['map_ess']:.0f} patients; "
                   f"a vague component of weight {m['robust_weight']:g} keeps a conflicting trial from being "
                   "overruled by the history.")
    return out


def _analysis_priors_table(results: RunResults):
    s, b = results.scenario, results.power.bayes
    rows = [[label(s, arm), mixture_words(comps), f"{b['prior_ess'][arm]:.1f}"] for arm, comps in b["prior"].items()]
    return _table(["Arm", "Analysis prior", "Effective sample size"], rows, numeric={2},
                  caption="Each arm's analysis prior (power.json: bayes)")


def _historical_table(results: RunResults):
    rows = [[h["name"], f"{h['responders']} / {h['n']}", _f(h["responders"] / h["n"]),
             "—" if h.get("month") is None else f"{h['month']:g}", h.get("source") or "—"]
            for h in results.power.bayes["historical"]]
    return _table(["Earlier trial", "Responders / n", "Rate", "Month", "Source"], rows, numeric={2, 3},
                  caption="The earlier trials the control's prior borrows from ([[historical]])")


def _conflict_table(results: RunResults):
    """Type I error (where the arms' rates are equal) and power, at each true control rate of the
    grid, where it varies the control's and the experimental arm's rates."""
    sweep, s = results.sweep, results.scenario
    if sweep is None or not results.power.bayes:
        return None
    control = f"arms.{s.control_arm}.remission_at_endpoint"
    arm = s.experimental_arms[0]
    other = f"arms.{arm}.remission_at_endpoint"
    axes = list(sweep.axes)
    if control not in axes or other not in axes:
        return None
    planned = s.arm(arm).remission_at_endpoint
    rows = []
    for rate in sorted({p.values[control] for p in sweep.points}):
        null = next((p for p in sweep.points if p.values[control] == rate and np.isclose(p.values[other], rate)), None)
        effect = next((p for p in sweep.points if p.values[control] == rate and np.isclose(p.values[other], planned)),
                      None)
        rows.append([_f(rate), _pm(null.power, null.mc_se) if null else "—",
                     _pm(effect.power, effect.mc_se) if effect else "—"])
    null_words = ("Type I error (equal rates) ± MC SE" if s.analysis.hypothesis != "non_inferiority" else
                  "Success with equal rates ± MC SE (a true difference inside the margin: not a type I error)")
    return _table([f"{label(s, s.control_arm)}'s true rate", null_words,
                   f"Power ({label(s, arm)} at {planned:g}) ± MC SE"], rows, numeric={0, 1, 2},
                  caption="Operating characteristics as the control's true rate moves (as sweep.csv)")


def mixture_words(components) -> str:
    """A beta or a beta mixture in words: 'Beta(24, 16)', '0.70 Beta(17, 3) + 0.30 Beta(40, 27)'."""
    comps = [tuple(c) for c in components]
    if len(comps) == 1:
        _, a, b = comps[0]
        return f"Beta({a:.4g}, {b:.4g})"
    return " + ".join(f"{w:.2f} Beta({a:.4g}, {b:.4g})" for w, a, b in comps)
