"""The lab's own figures: how the answers of many trials spread, and each test's type I error.
Like the report's figures (:mod:`simulate.report`), they draw results and compute nothing else."""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure

from simulate.analysis.registry import Labels
from simulate.report.style import ARM_PALETTE, themed
from simulate.report.words import MISSING_WORDS
from simulate.teach.lab import ManyTrials, MethodsComparison, NullWorld

SIGNIFICANT, NOT_SIGNIFICANT = ARM_PALETTE[1], "#9AA5B1"


@themed
def estimates(many: ManyTrials, what: str) -> Figure:
    """The estimated differences of every trial, significant ones highlighted, with the true
    difference and the mean of the significant estimates (the winner's curse)."""
    s, p = many.spread, many.power
    fig = Figure(figsize=(7.5, 4.4), layout="constrained")
    ax = fig.add_subplot()
    centres, width = (s.edges[:-1] + s.edges[1:]) / 2, np.diff(s.edges)
    ax.bar(centres, s.not_significant, width, color=NOT_SIGNIFICANT, label="Not significant")
    ax.bar(centres, s.significant, width, bottom=s.not_significant, color=SIGNIFICANT, label="Significant")
    ax.axvline(many.true_difference, color="black", lw=2, label=f"True difference {many.true_difference:+.2f}")
    if np.isfinite(p.mean_risk_difference):
        ax.axvline(p.mean_risk_difference, color="black", lw=1.4, ls=":",
                   label=f"Mean estimate {p.mean_risk_difference:+.2f}")
    if np.isfinite(p.mean_abs_risk_difference_if_significant):
        mean_sig = p.mean_abs_risk_difference_if_significant * (-1 if many.true_difference < 0 else 1)
        ax.axvline(mean_sig, color=SIGNIFICANT, lw=2, ls="--",
                   label=f"Significant trials: mean size {p.mean_abs_risk_difference_if_significant:.2f}")
    marks = [many.true_difference]
    if p.hypothesis == "non_inferiority":
        ax.axvline(-p.margin, color=SIGNIFICANT, lw=1.6, ls="-.",
                   label=f"Margin −{p.margin:g}: H0 says the experimental arm is this much worse, or more")
        marks.append(-p.margin)
    filled = np.flatnonzero(s.significant + s.not_significant)
    if filled.size:
        lo, hi = s.edges[filled[0]], s.edges[filled[-1] + 1]
        pad = 0.05 * (hi - lo) + 0.02
        ax.set_xlim(min(lo, *marks) - pad, max(hi, *marks) + pad)
    ax.set_xlabel(f"Estimated difference in {what} (experimental − control)")
    ax.set_ylabel("Simulated trials")
    ax.set_title(f"What {p.replicates:,} trials of the same design estimate")
    fig.legend(loc="outside lower center", ncol=2, fontsize=8.5)      # below the axes: never over the bars
    return fig


@themed
def p_values(many: ManyTrials, alpha: float, title: str = "p-values of the simulated trials") -> Figure:
    """The p-values of every trial, the bins below alpha highlighted (alpha is a bin edge:
    :func:`simulate.teach.lab.p_value_edges`)."""
    s = many.spread
    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    centres, width = (s.p_edges[:-1] + s.p_edges[1:]) / 2, np.diff(s.p_edges)
    colours = [SIGNIFICANT if hi <= alpha + 1e-12 else NOT_SIGNIFICANT for hi in s.p_edges[1:]]
    ax.bar(centres, s.p_counts, width, color=colours, edgecolor="white", lw=0.6)
    ax.axvline(alpha, color="black", lw=1.6, ls="--", label=f"α = {alpha:g}")
    ax.set_xlim(0, 1)
    ax.set_xlabel("p-value")
    ax.set_ylabel("Simulated trials")
    ax.set_title(title)
    from matplotlib.patches import Patch

    below = int(s.p_counts[s.p_edges[1:] <= alpha + 1e-12].sum())
    handles = [*ax.get_legend_handles_labels()[0], Patch(color=SIGNIFICANT, label=f"Significant (p < α): {below:,}"),
               Patch(color=NOT_SIGNIFICANT, label="Not significant")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9)
    return fig


TEST_LABELS = Labels("label")
"""How the lab names each registered analysis (:mod:`simulate.analysis.registry`)."""


@themed
def type_one_errors(null: NullWorld, alpha: float) -> Figure:
    """Each test's type I error with ±2 Monte Carlo SE, against the nominal alpha."""
    tests = list(null.results)
    errors = np.array([null.results[t].power.power for t in tests])
    se = np.array([null.results[t].power.mc_se for t in tests])
    fig = Figure(figsize=(7.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    colours = [SIGNIFICANT if e - 2 * s > alpha else ARM_PALETTE[0] for e, s in zip(errors, se)]
    ax.bar(range(len(tests)), errors, 0.6, yerr=2 * se, capsize=5, color=colours, ecolor="0.2")
    for i, e in enumerate(errors):
        ax.annotate(f"{e:.3f}", (i, e), xytext=(0, 14), textcoords="offset points", ha="center", fontsize=10,
                    fontweight="bold")
    ax.axhline(alpha, color="black", lw=1.6, ls="--", label=f"Nominal α = {alpha:g}")
    ax.set_xticks(range(len(tests)), [TEST_LABELS.get(t, t) for t in tests])
    top = max([alpha, *(errors + 2 * se)]) if tests else alpha
    ax.set_ylim(0, top * 1.3)
    ax.set_ylabel("Type I error (± 2 Monte Carlo SE)")
    replicates = next(iter(null.results.values())).power.replicates if tests else 0
    ax.set_title(f"No true difference: how often each test says there is one ({replicates:,} trials)")
    ax.legend(loc="upper right", fontsize=9)
    return fig


@themed
def missing_methods(comparison: MethodsComparison, arm: str, level: float) -> Figure:
    """Each missing-data method's mean estimate (± 2 Monte Carlo SE) of comparison ``arm``
    against the true difference, with its intervals' coverage written beside it."""
    methods = [m for m, many in comparison.results.items()
               if any(c.arm == arm for c in many.power.comparisons)]
    rows = [next(c for c in comparison.results[m].power.comparisons if c.arm == arm) for m in methods]
    fig = Figure(figsize=(7.5, 0.65 * len(rows) + 1.7), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    means = np.array([c.mean_risk_difference for c in rows])
    ses = np.array([c.risk_difference_bias_se for c in rows])
    off = np.array([abs(c.risk_difference_bias) > 2 * c.risk_difference_bias_se for c in rows])
    colours = [SIGNIFICANT if o else ARM_PALETTE[0] for o in off]
    ax.errorbar(means, y, xerr=2 * ses, fmt="none", ecolor="0.2", capsize=4)
    ax.scatter(means, y, s=60, c=colours, zorder=3)
    if rows:
        ax.axvline(rows[0].true_difference, color="black", lw=2, label=f"True difference {rows[0].true_difference:+.3f}")
        ax.scatter([], [], s=40, c=SIGNIFICANT, label="Biased (more than 2 Monte Carlo SE off)")
    for yi, c in zip(y, rows):
        ax.annotate(f"mean {c.mean_risk_difference:+.3f}\ncovers {100 * c.ci_coverage:.1f}%", (1.0, yi),
                    xycoords=("axes fraction", "data"), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize=9)
    ax.set_yticks(y, [textwrap.fill(MISSING_WORDS.get(m, m), 24) for m in methods], fontsize=9)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    lo = min([*means - 2 * ses, *(r.true_difference for r in rows)]) if rows else 0.0
    hi = max([*means + 2 * ses, *(r.true_difference for r in rows)]) if rows else 1.0
    pad = 0.15 * (hi - lo) + 0.005
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(f"Mean estimated difference (± 2 Monte Carlo SE); at right, how often the {level:.0%} "
                  "intervals cover the truth", fontsize=9)
    replicates = next(iter(comparison.results.values())).power.replicates if rows else 0
    ax.set_title(f"The same {replicates:,} trials, analysed by each method", fontsize=11)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8.5)
    return fig
