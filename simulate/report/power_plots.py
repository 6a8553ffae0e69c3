"""Figures of power: simulated power (or a null scenario's type I error) against n per arm with the
closed forms and the targets, and over the sensitivity grid (a heatmap, one panel per n per arm;
a line for a single axis).
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING, Sequence

import matplotlib as mpl
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle

from simulate.report.style import Figure, themed

if TYPE_CHECKING:
    from simulate.run.results import ClosedFormPoint, PowerResult, SampleSizePoint


def power_ylim(curve: Sequence[SampleSizePoint], closed_form: Sequence[ClosedFormPoint] = (),
               planned: PowerResult | None = None, alpha: float | None = None, null: bool = False
               ) -> tuple[float, float]:
    """The y limits of :func:`power_curve`: every simulated point with its interval, the closed
    forms and the planned design (its interval too) inside them. Power: from a round tenth below
    the lowest of these to 1. A null scenario (the power is a type I error): from 0 to a little
    above the largest of alpha and the data."""
    planned_values = [planned.power, planned.ci_low, planned.ci_high] if planned is not None else []
    if null:
        highs = [v for v in [*(c.ci_high for c in curve), *(c.power for c in curve), *planned_values,
                             *(r.pooled_normal_with_dropout for r in closed_form), alpha or 0.0]
                 if v is not None and not math.isnan(v)]
        top = max(highs, default=0.05)
        return 0.0, min(1.0, max(0.01, top * 1.15 + 0.002))
    lows = [v for v in [*(c.ci_low for c in curve), *(r.pooled_normal_with_dropout for r in closed_form),
                        *planned_values] if v is not None and not math.isnan(v)]
    return max(0.0, math.floor(10 * (min(lows, default=0.5) - 0.03)) / 10), 1.0


@themed
def power_curve(curve: Sequence[SampleSizePoint], closed_form: Sequence[ClosedFormPoint],
                chosen: dict[float, int | None], planned_n: int, replicates: int | None = None,
                planned: PowerResult | None = None, alpha: float | None = None, null: bool = False,
                searched: dict[float, int] | None = None) -> Figure:
    """Simulated power against n per arm with its 95% Monte Carlo band, the closed-form curves,
    the power targets, the n chosen for each target and the planned n (with its simulated power
    and interval, ``planned``, if given). ``searched``: the largest n each target's search
    evaluated (what "not reached" refers to; default: the largest n of ``curve``).

    ``null`` (no true effect: :func:`simulate.report.verdict.is_null`): the curve is a type I
    error curve: the y axis from 0 to a little above alpha and the data, three decimals, the alpha
    line and no power targets."""
    fig = Figure(figsize=(10, 7.2), layout="constrained")
    ax = fig.add_subplot()
    sim = pd.DataFrame(curve).sort_values("n_per_arm") if curve else pd.DataFrame(  # no n simulated: no points
        {k: pd.Series(dtype=float) for k in ("n_per_arm", "power", "ci_low", "ci_high")})
    each = f", {replicates:,} trials per point" if replicates else ""
    what = "type I error" if null else "power"
    ax.fill_between(sim.n_per_arm, sim.ci_low, sim.ci_high, color="C0", alpha=0.22, lw=0,
                    label="Simulated: 95% Monte Carlo interval")
    ax.plot(sim.n_per_arm, sim.power, "o-", color="C0", ms=3.5, lw=1.6,
            label=f"Simulated {what} (recruitment, dropout, analysis{each})")
    if closed_form:
        cf = pd.DataFrame(closed_form).sort_values("n_per_arm")
        ax.plot(cf.n_per_arm, cf.pooled_normal, "--", color="0.35", lw=1.4,
                label="Closed form, pooled normal, no dropout")
        ax.plot(cf.n_per_arm, cf.pooled_normal_with_dropout, ":", color="0.15", lw=1.8,
                label="Closed form, pooled normal, with dropout")
    bottom, top = power_ylim(curve, closed_form, planned, alpha, null)
    ax.set_ylim(bottom, top)
    if alpha is not None and bottom <= alpha <= top:
        at = (f"at the margin (true difference −{planned.margin:g})"
              if planned is not None and planned.hypothesis == "non_inferiority" else "with no true difference")
        ax.axhline(alpha, color="C3" if null else "0.3", lw=1.6 if null else 1.2, ls=(0, (4, 2, 1, 2)),
                   label=(f"α = {alpha:.3f}: the nominal level, the most a valid test rejects {at}" if null
                          else f"α = {alpha:g}: the nominal level, the most a valid test rejects {at}"))
    marks = {0.8: "C2", 0.9: "C4"}
    largest = int(sim.n_per_arm.max()) if len(sim) else None
    for target, n in ([] if null else sorted(chosen.items())):
        colour = marks.get(target, "C3")
        ax.axhline(target, color=colour, lw=1.2, alpha=0.9, label=f"{target:.0%} power target")
        if n is not None:
            ax.vlines(n, bottom, target, color=colour, lw=1.4, ls="-.")
            ax.plot([n], [target], "D", color=colour, ms=8, mec="white",
                    label=f"{target:.0%} power reached at n = {n} per arm")
        else:
            upto = (searched or {}).get(target, largest)
            where = f" (searched up to n = {upto} per arm)" if upto else ""
            ax.plot([], [], " ", label=f"{target:.0%} power not reached{where}")
    ax.axvline(planned_n, color="0.2" if null else "C3", lw=2, ls="--", label=f"Planned design: n = {planned_n} per arm")
    if planned is not None:
        # the Wilson interval can sit a rounding error off a power of exactly 0 or 1
        err = [[max(planned.power - planned.ci_low, 0.0)], [max(planned.ci_high - planned.power, 0.0)]]
        value = f"{planned.power:.3f}" if null else f"{planned.power:.2f}"
        ax.errorbar([planned_n], [planned.power], yerr=err, fmt="o", color="0.2" if null else "C3", ecolor="0.15",
                    ms=8, mec="white", capsize=4, zorder=5,
                    label=f"Planned design: simulated {what} {value} (95% interval)")
    ax.set_xlabel("Patients randomised per arm (n)")
    if null:
        ax.set_ylabel("Type I error (probability of a significant result\nwith no true difference)")
        ax.yaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%.3f"))
        ax.set_title("Type I error vs sample size: simulated (with 95% Monte Carlo band)"
                     + (" and closed form" if closed_form else ""))
    else:
        ax.set_ylabel("Power (probability of a significant result)")
        ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
        ax.set_title("Power vs sample size: simulated (with 95% Monte Carlo band)"
                     + (" and closed form" if closed_form else ""))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=9, frameon=False)
    return fig


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _tick(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def _heatmap_panel(ax, part: pd.DataFrame, x: str, y: str, vmax: float, cmap, digits: int,
                   alpha: float | None, planned: dict | None) -> tuple[int, bool]:
    """One panel of :func:`power_heatmap`: the cells, outlined where power reaches 0.8 (a null
    grid, ``alpha`` given: where the type I error passes alpha), and the planned cell in red.
    Returns (cells outlined, whether the planned cell is here)."""
    null = alpha is not None
    swept_alpha = "analysis.alpha" in part.columns
    table = part.pivot_table(index=y, columns=x, values="power", aggfunc="mean").sort_index(ascending=False)
    if null and swept_alpha:
        level = part.pivot_table(index=y, columns=x, values="analysis.alpha", aggfunc="mean").reindex_like(table)
    else:
        level = None
    sns.heatmap(table, ax=ax, vmin=0, vmax=vmax, cmap=cmap, annot=True, fmt=f".{digits}f", cbar=False,
                linewidths=0.6, linecolor="white", annot_kws={"fontsize": 10},
                xticklabels=[_tick(v) for v in table.columns], yticklabels=[_tick(v) for v in table.index])
    flagged, shown = 0, False
    for i, yv in enumerate(table.index):
        for j, xv in enumerate(table.columns):
            limit = (level.iloc[i, j] if level is not None else alpha) if null else 0.8
            if table.iloc[i, j] > limit if null else table.iloc[i, j] >= limit:
                flagged += 1
                ax.add_patch(Rectangle((j + 0.06, i + 0.06), 0.88, 0.88, fill=False, ec="white", lw=2))
            if planned is not None and _same(planned[x], xv) and _same(planned[y], yv):
                shown = True
                ax.add_patch(Rectangle((j, i), 1, 1, fill=False, ec="#E41A1C", lw=3.5, clip_on=False))
    return flagged, shown


def _heatmap_legend(fig: Figure, grid, vmax: float, cmap, digits: int, alpha: float | None, swept_alpha: bool,
                    averaged: list[str], shown_planned: bool) -> None:
    """The heatmap's colour bar (alpha marked on a null grid) and its title, naming the outlines."""
    null = alpha is not None
    sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, vmax), cmap=cmap)
    if null:
        label = f"Simulated type I error (scale 0-{vmax:.{digits}f})"
    else:
        label = "Simulated power" if vmax == 1.0 else f"Simulated power (scale 0-{vmax:.{digits}f})"
    bar = fig.colorbar(sm, ax=grid, shrink=0.9, label=label, format=mpl.ticker.FormatStrFormatter(f"%.{digits}f"))
    if null and not swept_alpha:
        bar.ax.axhline(alpha, color="#E41A1C", lw=2)
    what = ("Simulated type I error across the sensitivity grid" if null
            else "Simulated power across the sensitivity grid")
    if averaged:
        what += ", averaged over " + ", ".join(a for a in averaged)
    mark = ("white outline: above alpha" + ("" if swept_alpha else f" = {alpha:.3f}") if null
            else "white outline: at least 0.80")
    what += f"\n({mark}" + ("; red: the planned design)" if shown_planned else ")")
    fig.suptitle(what)


@themed
def power_heatmap(rows: list[dict] | pd.DataFrame, axes: list[str], labels: dict[str, str],
                  planned: dict[str, object] | None = None, alpha: float | None = None) -> Figure | None:
    """Power over the sweep grid: a heatmap of the first two non-n axes, one facet per n per arm
    (and per value of a further axis); any axes beyond that are averaged. One axis: a line plot.
    No grid: ``None``. Cells with power >= 0.8 are outlined in white, the ``planned`` design
    ({axis: value}) in red.

    ``alpha`` given: a null scenario, where the power is a type I error. Cells show three
    decimals on a colour scale from 0 to a little above alpha and the data (the colour bar in the
    same decimals), and the cells above alpha (a swept ``analysis.alpha`` counts per cell) are
    outlined instead."""
    frame = pd.DataFrame(rows)
    if frame.empty or not axes:
        return None
    planned = planned or {}
    name = lambda a: labels.get(a, a)  # noqa: E731
    n_axes = [a for a in axes if a.rsplit(".", 1)[-1] == "n_per_arm"]
    others = [a for a in axes if a not in n_axes]
    order = others[:2] + n_axes + others[2:]  # heatmap over two non-n axes, then one panel per n
    if len(order) == 1:
        return _sweep_line(frame, order[0], name(order[0]), alpha)
    x, y, *facets = order
    col, row, averaged = (facets + [None, None])[0], (facets + [None, None])[1], facets[2:]
    cols = sorted(frame[col].unique()) if col else [None]
    rws = sorted(frame[row].unique()) if row else [None]
    panels = [(rv, cv) for rv in rws for cv in cols]
    ncol = len(cols) if row else (len(cols) if len(cols) <= 3 else 2 if len(cols) == 4 else 3)
    nrow = math.ceil(len(panels) / ncol)
    nx, ny = frame[x].nunique(), frame[y].nunique()
    w, h = max(4.2, 0.85 * nx + 1.6), max(2.8, 0.6 * ny + 1.3)
    fig = Figure(figsize=(max(7.0, w * ncol + 1.4), h * nrow + 0.8), layout="constrained")
    grid = fig.subplots(nrow, ncol, squeeze=False)
    cmap = sns.color_palette("viridis", as_cmap=True)
    # a grid where nothing has power (a null scenario: these are type I errors) gets a scale that
    # shows differences of a few percent instead of a uniformly dark map
    top = float(frame["power"].max())
    null = alpha is not None
    swept_alpha = "analysis.alpha" in frame.columns
    if null:
        top = max(top, float(frame["analysis.alpha"].max()) if swept_alpha else alpha)
        vmax = max(0.01, math.ceil(top * 1.2 * 100) / 100)
    else:
        vmax = 1.0 if top > 0.3 else max(0.1, math.ceil(top * 20) / 20)
    digits = 3 if null else 2
    flagged = 0
    shown_planned = False
    facet = lambda a, v: f"n = {_tick(v)} per arm" if a in n_axes else f"{name(a)} = {_tick(v)}"  # noqa: E731
    for k, ax in enumerate(grid.flat):
        if k >= len(panels):
            ax.set_visible(False)
            continue
        rv, cv = panels[k]
        keep = pd.Series(True, index=frame.index)
        for a, v in ((col, cv), (row, rv)):
            keep &= (frame[a] == v) if a else True
        part = frame[keep]
        here = all(_same(planned.get(a), v) for a, v in ((col, cv), (row, rv)) if a)
        marked, planned_here = _heatmap_panel(ax, part, x, y, vmax, cmap, digits, alpha if null else None,
                                              {x: planned.get(x), y: planned.get(y)} if here else None)
        flagged += marked
        shown_planned |= planned_here
        ax.set_title(", ".join(facet(a, v) for a, v in ((col, cv), (row, rv)) if a), fontsize=11)
        last_in_column = k + ncol >= len(panels)
        ax.set_xlabel(textwrap.fill(name(x), 40) if last_in_column else "")
        ax.set_ylabel(textwrap.fill(name(y), 26) if k % ncol == 0 else "")
        ax.tick_params(rotation=0)
    _heatmap_legend(fig, grid, vmax, cmap, digits, alpha if null else None, swept_alpha,
                    [name(a) for a in averaged], shown_planned)
    fig.trialsim_marked = flagged  # the number of outlined cells, for tests and captions
    return fig


def _sweep_line(frame: pd.DataFrame, x: str, label: str, alpha: float | None = None) -> Figure:
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    frame = frame.sort_values(x)
    what = "type I error" if alpha is not None else "power"
    ax.errorbar(frame[x], frame.power, yerr=1.96 * frame.mc_se, fmt="o-", capsize=3,
                label=f"Simulated {what} ± 1.96 Monte Carlo SE")
    if alpha is not None:
        top = max(alpha, float((frame.power + 1.96 * frame.mc_se).max()))
        ax.axhline(alpha, color="C3", lw=1.4, ls=(0, (4, 2, 1, 2)), label=f"α = {alpha:.3f}")
        ax.set_ylim(0, min(1.0, top * 1.15 + 0.002))
        ax.yaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%.3f"))
        ax.set_ylabel("Type I error (probability of a significant result)")
    else:
        ax.axhline(0.8, color="C2", lw=1, label="80% target")
        ax.axhline(0.9, color="C4", lw=1, label="90% target")
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
        ax.set_ylabel("Power (probability of a significant result)")
    ax.set_xlabel(label)
    ax.set_title(f"Simulated {what} across the sensitivity grid")
    ax.legend(loc="best")
    return fig


@themed
def assurance_over_n(rows: Sequence[dict], planned_n: int, benefit_probability: float) -> Figure:
    """Power at the assumed rates and assurance over the design priors against n per arm, each
    with a ±2 Monte Carlo SE band (``rows``: n_per_arm, measure "power" or "assurance", value,
    mc_se), the 80% line, the planned n, and the design priors' probability of a true benefit,
    the ceiling of the assurance."""
    fig = Figure(figsize=(10, 6.4), layout="constrained")
    ax = fig.add_subplot()
    frame = pd.DataFrame(rows)
    names = {"power": ("C0", "o-", "Power at the assumed rates"),
             "assurance": ("C1", "s-", "Assurance: success over the design priors")}
    for measure, (colour, style, name) in names.items():
        part = frame[frame.measure == measure].sort_values("n_per_arm") if len(frame) else frame
        if not len(part):
            continue
        ax.fill_between(part.n_per_arm, (part.value - 2 * part.mc_se).clip(0, 1), (part.value + 2 * part.mc_se).clip(0, 1),
                        color=colour, alpha=0.2, lw=0)
        ax.plot(part.n_per_arm, part.value, style, color=colour, ms=6, lw=1.8, label=f"{name} (±2 Monte Carlo SE)")
    ax.axhline(benefit_probability, color="C1", lw=1.2, ls=":",
               label=f"The priors' probability of a true benefit ({benefit_probability:.2f}): the most assurance can reach")
    ax.axhline(0.8, color="0.45", lw=1.0, ls=(0, (1, 2)), label="80%")
    ax.axvline(planned_n, color="C3", lw=2, ls="--", label=f"Planned design: n = {planned_n} per arm")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_xlabel("Patients randomised per arm (n)")
    ax.set_ylabel("Probability that the trial succeeds")
    ax.set_title("Assurance and power against sample size")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=9, frameon=False)
    return fig


@themed
def oc_curve(rows: Sequence[dict], alpha: float, xlabel: str, boundary: float = 0.0) -> Figure:
    """The OC curve: the chance of success against the true difference (``rows``: true_difference,
    power, mc_se, adjusted, fraction), ±2 Monte Carlo SE bars, alpha and 80% lines, H0's boundary
    (0, or minus the margin) and the assumed effect; the same trials without the multiplicity
    adjustment in grey where ``rows`` have them."""
    fig = Figure(figsize=(10, 6.0), layout="constrained")
    ax = fig.add_subplot()
    frame = pd.DataFrame(rows).sort_values("true_difference")
    for adjusted, (colour, style, name) in ((False, ("0.55", "s--", "Without the multiplicity adjustment")),
                                            (True, ("C0", "o-", "The planned analysis"))):
        part = frame[frame.adjusted == adjusted]
        if not len(part):
            continue
        ax.errorbar(part.true_difference, part.power, yerr=2 * part.mc_se, fmt=style, color=colour, ms=6, lw=1.8,
                    capsize=3, label=f"{name} (±2 Monte Carlo SE)")
    ax.axhline(alpha, color="C3", lw=1.2, ls="--", label=f"α = {alpha:g}")
    ax.axhline(0.8, color="0.45", lw=1.0, ls=(0, (1, 2)), label="80% power")
    ax.axvline(boundary, color="0.3", lw=1.0, ls="-.", label=f"H0's boundary ({boundary:+.2f})")
    assumed = frame[(frame.fraction == 1.0) & frame.adjusted]
    if len(assumed):
        ax.plot(assumed.true_difference, assumed.power, "D", color="C3", ms=10, zorder=5,
                label=f"Assumed effect ({float(assumed.true_difference.iloc[0]):+.3f})")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Probability that the trial succeeds")
    ax.set_title("Power over the true effect (OC curve)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=9, frameon=False)
    return fig
