"""Figures of the estimand and the missing data: each analysis's mean estimate against the
estimand's true value (a dot plot, one row per point of the sensitivity grid where the
missing-data method or the dropout varies), and the tipping-point grid (a heatmap of power
over the shifts of the imputed patients' log-odds of remission, one panel per comparison).
"""

from __future__ import annotations

import math
import textwrap
from typing import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle

from simulate.report.style import Figure, themed

TRUTH_COLOUR, PLANNED_COLOUR, OTHER_COLOUR = "#222222", "#C0392B", "#4C72B0"
"""The estimand's true value, the planned analysis and the other analyses."""


@themed
def methods_dotplot(rows: Sequence[dict], xlabel: str, planned_note: str = "the planned design") -> Figure | None:
    """One row per analysis (``rows``: dicts with label, estimate, se, truth, truth_se, bias,
    bias_se, coverage, coverage_se, planned), top to bottom in the given order: the mean estimate
    with ±2 Monte Carlo SE bars against the estimand's true value (a vertical line, its own ±2 SE
    band where it has one; a tick on each row where the rows' truths differ), and beside the plot
    each row's bias and coverage. No rows: ``None``."""
    if not rows:
        return None
    n = len(rows)
    fig = Figure(figsize=(10.5, max(3.6, 0.62 * n + 2.2)), layout="constrained")
    ax, side = fig.subplots(1, 2, width_ratios=[3.0, 1.35], sharey=True)
    y = np.arange(n)[::-1]
    truths = [r["truth"] for r in rows]
    one_truth = all(math.isclose(t, truths[0], abs_tol=1e-12) for t in truths)
    if one_truth:
        t, se = truths[0], rows[0].get("truth_se") or 0.0
        if se > 0:
            ax.axvspan(t - 2 * se, t + 2 * se, color=TRUTH_COLOUR, alpha=0.12, lw=0)
        ax.axvline(t, color=TRUTH_COLOUR, lw=2, ls="--", label=f"The estimand's true value: {t:.3f}"
                   + (f" ± {se:.3f}" if se > 0 else ""))
    else:
        ax.plot(truths, y, "|", color=TRUTH_COLOUR, ms=22, mew=2.5, label="The estimand's true value at that point")
    for yi, r in zip(y, rows):
        colour = PLANNED_COLOUR if r.get("planned") else OTHER_COLOUR
        ax.errorbar([r["estimate"]], [yi], xerr=[[2 * r["se"]], [2 * r["se"]]], fmt="o", ms=9, color=colour,
                    ecolor=colour, elinewidth=2, capsize=5, mec="white", zorder=4)
        ax.annotate(f"{r['estimate']:.3f}", (r["estimate"], yi), xytext=(0, 9), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9, color=colour,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.85))
    ax.plot([], [], "o", color=OTHER_COLOUR, label="Mean estimate over the simulated trials (±2 Monte Carlo SE)")
    if any(r.get("planned") for r in rows):
        ax.plot([], [], "o", color=PLANNED_COLOUR, label=f"The same, {planned_note}")
    values = [v for r in rows for v in (r["estimate"] - 2 * r["se"], r["estimate"] + 2 * r["se"], r["truth"])
              if np.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max(0.02, 0.12 * (hi - lo))
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_yticks(y, [textwrap.fill(r["label"], 24) for r in rows])
    for tick, r in zip(ax.get_yticklabels(), rows):
        if r.get("planned"):
            tick.set_fontweight("bold")
    ax.set_xlabel(textwrap.fill(xlabel, 80))
    ax.set_title("Mean estimate against the estimand's true value", fontsize=12)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=1, fontsize=9, frameon=False)
    side.set_xlim(0, 1)
    side.set_axis_off()
    side.set_title("Bias; coverage of the 95% CI\n(± Monte Carlo SE)", fontsize=10)
    for yi, r in zip(y, rows):
        side.text(0.02, yi, f"bias {r['bias']:+.3f} ± {r['bias_se']:.3f}\ncoverage {r['coverage']:.3f}"
                  + (f" ± {r['coverage_se']:.3f}" if np.isfinite(r.get("coverage_se", np.nan)) else ""),
                  va="center", ha="left", fontsize=9.5,
                  fontweight="bold" if r.get("planned") else "normal")
    return fig


def _tick(v: float) -> str:
    return f"{v:g}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


@themed
def tipping_heatmap(rows: Sequence[dict], arm_labels: dict[str, str], axis_labels: tuple[str, str],
                    target: float | None = 0.8) -> Figure | None:
    """Power over the tipping-point grid (``rows``: the power result's ``tipping_point``), one
    panel per comparison: the control's shift down the side, the experimental arm's along the
    bottom, each cell's power to two decimals on one colour scale from 0 to 1; white outlines mark
    at least ``target`` power and the red one the unshifted analysis (0, 0). No rows: ``None``."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return None
    arms = list(dict.fromkeys(frame["arm"]))
    nx, ny = frame["delta_experimental"].nunique(), frame["delta_control"].nunique()
    w, h = max(5.0, 0.95 * nx + 2.2), max(3.6, 0.62 * ny + 1.9)
    fig = Figure(figsize=(max(8.0, w * len(arms) + 1.6), h + 0.9), layout="constrained")
    grid = fig.subplots(1, len(arms), squeeze=False)
    cmap = sns.color_palette("viridis", as_cmap=True)
    for ax, arm in zip(grid.flat, arms):
        part = frame[frame["arm"] == arm]
        table = part.pivot_table(index="delta_control", columns="delta_experimental", values="power",
                                 aggfunc="mean").sort_index(ascending=False)
        sns.heatmap(table, ax=ax, vmin=0, vmax=1, cmap=cmap, annot=True, fmt=".2f", cbar=False, linewidths=0.6,
                    linecolor="white", annot_kws={"fontsize": 10},
                    xticklabels=[_tick(v) for v in table.columns], yticklabels=[_tick(v) for v in table.index])
        for i, yv in enumerate(table.index):
            for j, xv in enumerate(table.columns):
                if target is not None and table.iloc[i, j] >= target:
                    ax.add_patch(Rectangle((j + 0.06, i + 0.06), 0.88, 0.88, fill=False, ec="white", lw=2))
                if yv == 0 and xv == 0:
                    ax.add_patch(Rectangle((j, i), 1, 1, fill=False, ec="#E41A1C", lw=3.5, clip_on=False))
        ax.set_xlabel(textwrap.fill(_capital(axis_labels[1]), 40))
        ax.set_ylabel(textwrap.fill(_capital(axis_labels[0]), 30) if ax is grid.flat[0] else "")
        ax.set_title(arm_labels.get(arm, arm), fontsize=11)
        ax.tick_params(rotation=0)
    sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, 1), cmap=cmap)
    fig.colorbar(sm, ax=grid, shrink=0.9, label="Simulated power", format=mpl.ticker.FormatStrFormatter("%.2f"))
    mark = f"white outline: at least {target:.2f}; " if target is not None else ""
    fig.suptitle(f"Tipping point: power as the imputed patients' outcomes are shifted\n({mark}red: no shift)")
    return fig
