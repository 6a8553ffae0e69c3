"""Figures of a design with interim looks: the boundaries with the simulated trials' z paths, and
how often each look stops the trial with what the looks save in patients and time.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Sequence

import matplotlib as mpl
import numpy as np

from simulate.report.style import Figure, themed

if TYPE_CHECKING:
    from simulate.run.results import Look, PowerResult

EFFICACY_COLOUR, FUTILITY_COLOUR, FINAL_COLOUR = "#1B7837", "#C0392B", "#4C72B0"
"""Stopped for efficacy, for futility, went to the final analysis (boundaries and paths alike)."""


def _finite(values) -> np.ndarray:
    """Floats, with None and infinities (no bound) as nan."""
    out = np.array([np.nan if v is None else v for v in values], dtype=float)
    out[~np.isfinite(out)] = np.nan
    return out


def _draw_paths(ax, paths: Sequence, last: float) -> None:
    """The simulated trials' z paths on the boundary plot, coloured by what happened to each;
    ``last`` is the final look's information fraction."""
    colours = {"efficacy": EFFICACY_COLOUR, "futility": FUTILITY_COLOUR, "final": FINAL_COLOUR}
    counts = {o: sum(p.outcome == o for p in paths) for o in colours}
    words = {"efficacy": "Stopped for efficacy at an interim look", "futility": "Stopped for futility at an "
             "interim look", "final": "Went to the final analysis (filled: H0 rejected)"}
    labelled: set[str] = set()
    short = False
    for p in paths:
        if not p.z:
            continue
        c = colours.get(p.outcome, "0.4")
        label = None
        if p.outcome not in labelled:
            labelled.add(p.outcome)
            label = f"{words.get(p.outcome, p.outcome)}: {counts[p.outcome]} of {len(paths)} trials"
        ax.plot(p.information, p.z, "-", color=c, lw=1.0, alpha=0.65, zorder=2, label=label)
        ax.plot(p.information[:-1], p.z[:-1], "o", color=c, ms=3.5, alpha=0.8, zorder=3)
        ax.plot(p.information[-1:], p.z[-1:], "o", ms=6.5, zorder=5, mec=c, mew=1.3,
                color=c if p.rejected else "white")
        if p.outcome == "efficacy" and np.isfinite(p.overrun_z):
            ax.plot([p.information[-1], p.overrun_information], [p.z[-1], p.overrun_z], ":", color=c, lw=1.0,
                    alpha=0.8, zorder=2)
            ax.plot([p.overrun_information], [p.overrun_z], "d", ms=6, color="white", mec=c, mew=1.2, zorder=5,
                    label=None if "overrun" in labelled else
                    "Overrun analysis after an efficacy stop")
            labelled.add("overrun")
        if np.isfinite(p.final_bound) and p.information[-1] < last - 1e-9:
            ax.plot(p.information[-1:], [p.final_bound], "_", color="0.3", ms=14, mew=2, zorder=5,
                    label=None if short else "Final bound of a trial short of its target")
            short = True


@themed
def boundaries(looks: Sequence[Look], paths: Sequence = (), favours: str = "",
               futility_conditional_power: float | None = None) -> Figure:
    """The efficacy (and any futility) z boundaries against the information fraction, markers at
    the looks and lines between, the final look's bound, and the z paths of simulated trials
    (``paths``: the pipeline's ``ZPath`` records, read by their fields information, z, outcome,
    rejected, final_bound, overrun_information and overrun_z) coloured by what happened to them:
    stopped for efficacy, for futility, or went to the final analysis (filled: H0 rejected
    there). An efficacy stop's overrun analysis is an open diamond; a trial short of its target
    has its own final bound (grey dash). ``favours`` says what a higher z means.

    A Bayesian design's looks (their bounds are posterior probabilities) are drawn on that scale,
    from 0 to 1, with the paths of the posterior probability of benefit; its predictive-probability
    futility has no bound there and is named in the legend."""
    fig = Figure(figsize=(10, 7.0), layout="constrained")
    ax = fig.add_subplot()
    f = np.array([k.information_fraction for k in looks], dtype=float)
    bayes = any(k.efficacy_z is None for k in looks)
    eff = _finite(k.bound for k in looks)
    fut = _finite(k.futility_z for k in looks)
    zs = [z for p in paths for z in (*p.z, p.overrun_z)]
    values = _finite([*eff, *fut, *zs])
    if bayes:
        lo, hi = -0.02, 1.02
    else:
        lo = min(-1.0, np.nanmin(values) - 0.5) if np.isfinite(values).any() else -1.0
        hi = max(4.0, np.nanmax(values) + 0.5) if np.isfinite(values).any() else 4.0
    word = "succeed" if bayes else "reject H0"
    at = "above" if bayes else "at or above"
    digits = ".3f" if bayes else ".2f"
    infos = [x for p in paths for x in (*p.information, p.overrun_information) if np.isfinite(x)]
    left = max(0.0, min([*f, *infos]) - 0.12)
    ok = np.isfinite(eff)
    ax.fill_between(f[ok], eff[ok], hi, color=EFFICACY_COLOUR, alpha=0.08, lw=0)
    ax.plot(f[ok], eff[ok], "o-", color=EFFICACY_COLOUR, lw=2.6, ms=9, mec="white", zorder=4,
            label=f"Efficacy boundary: stop and {word} {at} it")
    interim_fut = np.isfinite(fut[:-1])
    if interim_fut.any():
        ff, zf = f[:-1][interim_fut], fut[:-1][interim_fut]
        if ok[-1]:  # at the final look the futility bound meets the efficacy bound
            ff, zf = np.append(ff, f[-1]), np.append(zf, eff[-1])
        ax.fill_between(ff, lo, zf, color=FUTILITY_COLOUR, alpha=0.07, lw=0)
        ax.plot(ff, zf, "s-", color=FUTILITY_COLOUR, lw=2.6, ms=8, mec="white", zorder=4,
                label="Futility boundary: stop below it")
    elif futility_conditional_power is not None:
        ax.plot([], [], " ", label=f"Futility: conditional power below {futility_conditional_power:.0%} "
                                   "(no z bound)")
    elif bayes and looks[0].futility_predictive is not None:
        ax.plot([], [], " ", label=f"Futility: predictive probability of success below "
                                   f"{looks[0].futility_predictive:g} (no bound on this scale)")
    box = dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85)
    for x, z in zip(f[ok], eff[ok]):  # left of the look, clear of the paths' markers on it
        ax.annotate(f"{z:{digits}}", (x, z), xytext=(-13, 0), textcoords="offset points", ha="right", va="center",
                    color=EFFICACY_COLOUR, fontweight="bold", fontsize=10, bbox=box, zorder=7)
    for x, z in zip(f[:-1][interim_fut], fut[:-1][interim_fut]):
        ax.annotate(f"{z:.2f}", (x, z), xytext=(-10, 0), textcoords="offset points", ha="right", va="center",
                    color=FUTILITY_COLOUR, fontweight="bold", fontsize=10, bbox=box, zorder=7)
    if ok[-1]:
        ax.plot([f[-1]], [eff[-1]], "D", color="black", ms=10, mec="white", zorder=6,
                label=(f"Final analysis: succeed above {eff[-1]:.3f}" if bayes else
                       f"Final analysis: reject H0 at z ≥ {eff[-1]:.2f} (the target randomised)"))
    _draw_paths(ax, paths, f[-1])
    if not bayes:
        ax.axhline(0, color="0.4", lw=0.8)
    ax.set_xlim(left, 1.04 * max(1.0, *infos) if infos else 1.04)
    ax.set_ylim(lo, hi)
    ax.set_xticks(f)
    ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_xlabel("Information fraction: share of the planned patients whose endpoint is determined")
    name = "Posterior probability of benefit" if bayes else "Test statistic z"
    ax.set_ylabel(textwrap.fill(name + (f" (higher: {favours})" if favours else ""), 50))
    ax.set_title(f"Interim boundaries and the {'posterior probability' if bayes else 'z'} paths of {len(paths)} "
                 "simulated trials" if paths else "Interim boundaries")
    handles, labels = ax.get_legend_handles_labels()
    order = ("Efficacy boundary", "Futility", "Final analysis:", "Stopped for efficacy", "Stopped for futility",
             "Went to the final", "Overrun", "Final bound of a trial")
    rank = lambda lab: next((i for i, o in enumerate(order) if lab.startswith(o)), len(order))  # noqa: E731
    pairs = sorted(zip(handles, labels), key=lambda hl: rank(hl[1]))
    ax.legend([h for h, _ in pairs], [lab for _, lab in pairs], loc="upper center", bbox_to_anchor=(0.5, -0.11),
              ncol=2, fontsize=9, frameon=False)
    return fig


@themed
def stopping(looks: Sequence[Look], expected_randomised: float, expected_decision_month: float,
             mean_duration_months: float, n_target: int, fixed: PowerResult | None = None,
             futility: bool = True) -> Figure:
    """Left: P(stop for efficacy) and P(stop for futility) at each look with ±2 Monte Carlo SE
    (at the final look: H0 rejected or not). Middle: patients randomised, expected with the looks
    against the fixed design (``fixed``: the same trials without looks) or, without it, the planned
    ``n_target``. Right: the mean month of the decision with the looks, the mean month of the last
    endpoint visit with the looks (overrun included) and without them."""
    fig = Figure(figsize=(13, 6.4), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[2.3, 1.0, 1.45])
    ax = fig.add_subplot(grid[0])
    x = np.arange(len(looks))
    w = 0.38
    se = lambda v: np.nan_to_num(_finite(v), nan=0.0)  # noqa: E731
    eff, eff_se = [k.p_stop_efficacy for k in looks], se(k.p_stop_efficacy_se for k in looks)
    fut, fut_se = [k.p_stop_futility for k in looks], se(k.p_stop_futility_se for k in looks)
    ax.bar(x - w / 2, eff, w, yerr=2 * eff_se, capsize=4, color=EFFICACY_COLOUR, alpha=0.85,
           label="Stop for efficacy (final look: H0 rejected)")
    ax.bar(x + w / 2, fut, w, yerr=2 * fut_se, capsize=4, color=FUTILITY_COLOUR, alpha=0.85,
           label=("Stop for futility" if futility else "No futility stop") + " (final look: H0 not rejected)")
    for dx, v, e in ((-w / 2, eff, eff_se), (w / 2, fut, fut_se)):
        for xi, p, s in zip(x + dx, v, e):  # above the error bar
            ax.annotate(f"{100 * p:.1f}%", (xi, p + 2 * s), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=9)
    ticks = []
    for i, k in enumerate(looks):
        name = "Final analysis" if i == len(looks) - 1 else f"Look {i + 1}"
        month = f"month {k.mean_month:.1f}" if np.isfinite(k.mean_month) else "not held"
        ticks.append(f"{name}\n{k.information_fraction:.0%} of endpoints\n{month}")
    ax.set_xticks(x, ticks)
    tops = [p + 2 * e for p, e in zip([*eff, *fut], [*eff_se, *fut_se])]
    ax.set_ylim(0, max(1.0, max(tops, default=0.0) + 0.08))
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_ylabel("Share of simulated trials (±2 Monte Carlo SE)")
    ax.set_title("Stopping at each look", fontsize=12)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=9, frameon=False)

    ax2 = fig.add_subplot(grid[1])
    names = ["With looks\n(expected)"] + (["Fixed design\n(mean)"] if fixed is not None else [])
    vals = [expected_randomised] + ([fixed.mean_randomised] if fixed is not None else [])
    bars = ax2.bar(names, vals, color=[FINAL_COLOUR, "0.55"][: len(vals)], width=0.6)
    ax2.bar_label(bars, labels=[f"{v:.1f}" for v in vals], label_type="center", color="white", fontsize=11,
                  fontweight="bold")
    ax2.axhline(n_target, color="C3", ls="--", lw=1.5, label=f"Planned: {n_target}")
    ax2.set_ylim(0, n_target * 1.18)
    ax2.set_ylabel("Patients randomised")
    ax2.set_title("Patients", fontsize=12)
    ax2.legend(loc="lower center", fontsize=9)

    ax3 = fig.add_subplot(grid[2])
    names = ["With looks:\ndecision", "With looks:\nlast endpoint\nvisit"]
    vals = [expected_decision_month, mean_duration_months]
    colours = [FINAL_COLOUR, "#8FAADC"]
    if fixed is not None:
        names.append("Fixed design:\nlast endpoint\nvisit (analysis)")
        vals.append(fixed.mean_duration_months)
        colours.append("0.55")
    bars = ax3.bar(names, vals, color=colours, width=0.62)
    ax3.bar_label(bars, labels=[f"{v:.1f}" for v in vals], label_type="center", color="white", fontsize=11,
                  fontweight="bold")
    top = max([v for v in vals if np.isfinite(v)], default=1.0)
    ax3.set_ylim(0, top * 1.18)
    ax3.set_ylabel("Months since the trial opened (mean)")
    ax3.set_title("Time", fontsize=12)
    ax3.tick_params(axis="x", labelsize=9)
    fig.suptitle("Interim looks: how often each stops the trial, and what the looks save")
    return fig
