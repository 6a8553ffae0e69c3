"""Figures of remission over time: each arm's first remission in the example trial (1 −
Kaplan–Meier) against the model and the assumed endpoint rates, each arm's share in the endpoint
state at each visit over the simulated trials, and the example trial's patients one bar each
(the swimmer plot).
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.transforms import offset_copy

from simulate.report.style import _colours, Figure, themed

if TYPE_CHECKING:
    from simulate.run.results import VisitRemission
    from simulate.run.trial_results import KaplanMeierStep, PatientCourse
    from simulate.design.scenario import ObservedRemission

CR_COLOUR, PR_COLOUR, RELAPSE_COLOUR = "#1B7837", "#74C476", "#C0392B"
"""The swimmer plot's marks of a remission (CR, PR at the endpoint) and of a relapse."""


def dodge(values: Sequence[float], gap: float, low: float = -math.inf, high: float = math.inf) -> list[float]:
    """Positions near ``values`` (in their order) that are at least ``gap`` apart, kept within
    [``low``, ``high``] where there is room: labels that would overlap are pushed apart as
    little as possible (each cluster spreads evenly around its mean, moved inside the range)."""
    def first(cluster: list[int]) -> float:
        span = (len(cluster) - 1) * gap
        start = sum(values[j] for j in cluster) / len(cluster) - span / 2
        return min(max(start, low), high - span) if high - low >= span else start

    clusters: list[list[int]] = []  # runs of labels (by index) that would touch, in value order
    for i in sorted(range(len(values)), key=lambda i: values[i]):
        clusters.append([i])
        while len(clusters) > 1 and first(clusters[-1]) - (first(clusters[-2]) + (len(clusters[-2]) - 1) * gap) < gap:
            clusters[-2:] = [clusters[-2] + clusters[-1]]
    out = [0.0] * len(values)
    for c in clusters:
        for k, j in enumerate(c):
            out[j] = first(c) + k * gap
    return out


END_LABEL_POINTS = 10
"""Font size of the end-of-curve labels of :func:`time_to_remission`."""
DIAMOND_POINTS = 7
"""Size of its diamonds (the assumed endpoint rates)."""


@themed
def time_to_remission(km: dict[str, Sequence[KaplanMeierStep]], arm_labels: dict[str, str], endpoint_month: float,
                      assumed: dict[str, float] | None = None, colours: dict[str, str] | None = None,
                      endpoint: str = "CR/PR", first_remission: dict[str, float] | None = None,
                      complete_only: bool = False) -> Figure:
    """Cumulative first remission per arm (1 - Kaplan-Meier, dropouts censored) in the example
    trial, each curve's end value beside it (the labels pushed apart where the curves end close
    together), the ``first_remission`` by the endpoint that the outcome model implies (dashed
    lines) and the ``assumed`` rate of the primary endpoint (``endpoint``: what it counts, e.g.
    'CR'; ``complete_only``: partial remissions do not count) per arm (diamonds, side by side where
    they coincide)."""
    colours = _colours(arm_labels, colours)
    first_remission = first_remission or {}
    ncol = 2 if len(arm_labels) <= 2 else 1
    entries = len(arm_labels) * (1 + bool(first_remission) + bool(assumed))
    fig = Figure(figsize=(9, 5.5 + 0.22 * math.ceil(entries / ncol)), layout="constrained")  # the axes keep ~4.6 in
    ax = fig.add_subplot()
    ends: dict[str, float] = {}
    diamonds = {}
    for arm in arm_labels:
        steps = km.get(arm) or ()
        xs = [0.0, *(s.month for s in steps[1:]), endpoint_month]
        ys = [0.0, *(s.cumulative_remission for s in steps[1:])]
        ys.append(ys[-1])
        n = steps[0].at_risk if steps else 0
        colour = colours[arm]
        ax.step(xs, ys, where="post", color=colour, lw=2.2, label=f"{arm_labels[arm]}: example trial (n = {n})")
        ends[arm] = ys[-1]
        if arm in first_remission:
            ax.axhline(first_remission[arm], color=colour, lw=1.3, ls=(0, (5, 3)), alpha=0.9,
                       label=f"{arm_labels[arm]}: first remission by month {endpoint_month:g} in the model "
                             f"({first_remission[arm]:.0%})")
        if assumed and arm in assumed:
            diamonds[arm], = ax.plot([endpoint_month], [assumed[arm]], "D", color=colour, mec="black",
                                     ms=DIAMOND_POINTS, clip_on=False, zorder=5,
                                     label=f"{arm_labels[arm]}: assumed {endpoint} at month {endpoint_month:g} "
                                           f"({assumed[arm]:.0%})")
    ax.set_xlim(0, endpoint_month)
    ax.set_ylim(0, 1.0)
    ax.set_xticks(np.arange(0, endpoint_month + 0.01, 3 if endpoint_month <= 36 else 6))
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_xlabel("Months since randomisation")
    ax.set_ylabel("Reached first remission (CR or PR)")
    ax.set_title("Time to first remission in the example trial (1 − Kaplan–Meier)")
    note = []
    if first_remission:
        note.append(f"Dashed: first remission by month {endpoint_month:g} in the model, which the example trial's "
                    "curves estimate (dropouts censored).")
    if diamonds:
        note.append(f"Diamonds: {endpoint} at month {endpoint_month:g} as assumed, lower: it counts only "
                    + ("complete remissions " if complete_only else "remissions ") + "not yet lost to relapse.")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=ncol, fontsize=9,
              frameon=False, title="\n".join(note) or None, title_fontsize=9)
    fig.draw_without_rendering()  # the axes' final size, to space the labels in data units
    height_points = ax.get_window_extent().height * 72 / fig.dpi  # the y axis spans 0-1
    gap = 1.3 * END_LABEL_POINTS / height_points                 # a line of text, in data units
    arms = list(ends)
    placed = dodge([ends[a] for a in arms], gap, low=gap / 2, high=1.0 - gap / 2)
    beside = offset_copy(ax.transData, fig=fig, x=2 * DIAMOND_POINTS, y=0, units="points")
    for arm, y in zip(arms, placed):
        ax.text(endpoint_month, y, f"{ends[arm]:.0%}", transform=beside, color=colours[arm], fontweight="bold",
                va="center", ha="left", fontsize=END_LABEL_POINTS, clip_on=False)
    # diamonds closer than their own height sit side by side across the endpoint
    level = [diamonds[a].get_ydata()[0] for a in diamonds]
    if level:
        marker_gap = 1.2 * DIAMOND_POINTS / height_points
        for cluster in _clusters(level, marker_gap):
            shifts = dodge([0.0] * len(cluster), 1.2 * DIAMOND_POINTS)
            for k, dx in zip(cluster, shifts):
                arm = list(diamonds)[k]
                diamonds[arm].set_transform(offset_copy(ax.transData, fig=fig, x=dx, y=0,
                                                                       units="points"))
    return fig


def _clusters(values: Sequence[float], gap: float) -> list[list[int]]:
    """Indices of ``values`` grouped into runs whose neighbours (in value order) are closer than ``gap``."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out: list[list[int]] = []
    for i in order:
        if out and values[i] - values[out[-1][-1]] < gap:
            out[-1].append(i)
        else:
            out.append([i])
    return out


@themed
def remission_by_visit(points: Sequence[VisitRemission], arm_labels: dict[str, str], endpoint_month: float,
                       endpoint: str = "remission", replicates: int | None = None,
                       observed: Sequence[ObservedRemission] = (), colours: dict[str, str] | None = None
                       ) -> Figure | None:
    """Each arm's mean share of randomised patients in the endpoint state (``endpoint``, e.g.
    'complete remission') at each scheduled visit, over the simulated trials, with a band and
    bars of ±2 Monte Carlo SE; the endpoint visit marked, and published figures (``observed``)
    as black-edged stars in their arm's colour. ``None`` when there is nothing to draw."""
    if not points:
        return None
    colours = _colours(arm_labels, colours)
    frame = pd.DataFrame(points)
    fig = Figure(figsize=(10, 6.4), layout="constrained")
    ax = fig.add_subplot()
    for arm, label in arm_labels.items():
        mine = frame[frame.arm == arm].sort_values("month")
        if mine.empty:
            continue
        m, y, se = mine.month.to_numpy(float), mine.remission.to_numpy(float), mine.mc_se.to_numpy(float)
        se = np.where(np.isfinite(se), se, 0.0)
        ax.fill_between(m, y - 2 * se, y + 2 * se, color=colours[arm], alpha=0.2, lw=0)
        ax.errorbar(m, y, yerr=2 * se, fmt="o-", color=colours[arm], ms=4.5, lw=1.8, capsize=3,
                    label=f"{label}: simulated mean ± 2 Monte Carlo SE")
    for arm, label in arm_labels.items():
        pts = [o for o in observed if o.arm == arm]
        if pts:
            ax.scatter([o.month for o in pts], [o.remission for o in pts], marker="*", s=230, color=colours[arm],
                       edgecolors="black", linewidths=1.1, zorder=6, label=f"{label}: published")
    ax.axvline(endpoint_month, color="0.2", lw=1.2, ls="--", label=f"Primary endpoint (month {endpoint_month:g})")
    months = sorted(set(frame.month)) + [o.month for o in observed]
    ax.set_xlim(0, max(months) * 1.02 if months else endpoint_month)
    ax.set_xticks(sorted(set(frame.month)))
    ax.set_ylim(0, 1.0)
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_xlabel("Months since randomisation (scheduled visits)")
    ax.set_ylabel(textwrap.fill(f"In {endpoint}: share of randomised patients", 48))
    trials = f"mean over {replicates:,} simulated trials" if replicates else "mean over the simulated trials"
    ax.set_title(f"{endpoint[:1].upper()}{endpoint[1:]} at each visit, per arm ({trials})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=9, frameon=False)
    return fig


SWIMMER_MAX_HEIGHT = 10.0
"""Inches (1,100 CSS px on the page): more patients make thinner rows, not a taller figure."""
DROPOUT_MARKERS = {
    "withdrew consent": dict(marker="X", s=46, color="black"),
    "lost to follow-up": dict(marker="s", s=30, facecolors="white", edgecolors="black", linewidths=1.2),
}
"""The swimmer plot's dropout markers, one shape per reason: a black cross for consent withdrawn,
an open square for lost to follow-up (other reasons: a grey cross)."""


@themed
def swimmer(patients: Sequence[PatientCourse], arm_labels: dict[str, str], endpoint_month: float,
            colours: dict[str, str] | None = None,
            title: str = "Example trial: follow-up of each randomised patient (one bar per patient)") -> Figure:
    """One bar per patient of the example trial, from randomisation to the endpoint or dropout,
    with remission, relapse and dropout marked; one group (and colour) per arm."""
    colours = _colours(arm_labels, colours)
    gap, rows, centres, ticks, y = 3, [], [], [], 0  # rows: (patient, bar row, end of bar)
    for arm in arm_labels:
        mine = [(p, float(np.nanmin([endpoint_month, p.dropout_month]))) for p in patients if p.arm == arm]
        mine.sort(key=lambda pe: (math.inf if math.isnan(pe[0].remission_month) else pe[0].remission_month, -pe[1]))
        rows += [(p, y + k, end) for k, (p, end) in enumerate(mine)]
        centres.append(y + (len(mine) - 1) / 2)
        ticks.append(f"{arm_labels[arm]}\n(n = {len(mine)})")
        y += len(mine) + gap
    height = min(SWIMMER_MAX_HEIGHT, max(4.0, 0.12 * y + 2.0))
    # rows shrink to fit the capped height; markers shrink with them (area with the row pitch)
    pitch = 72 * (height - 2.0) / max(y, 1)  # points per row
    k = min(1.0, pitch / (72 * 0.12))
    fig = Figure(figsize=(10, height), layout="constrained")
    ax = fig.add_subplot()
    if not rows:
        ax.text(0.5, 0.5, "No patients were randomised in the example trial", ha="center", va="center",
                transform=ax.transAxes, fontsize=12)
    for arm in arm_labels:
        mine = [(row, end) for p, row, end in rows if p.arm == arm]
        ax.barh([row for row, _ in mine], [end for _, end in mine], height=0.72, color=colours[arm], alpha=0.45,
                lw=0, label=f"Follow-up, {arm_labels[arm]}")
    status = lambda *ok: lambda p, end: p.endpoint_status in ok  # noqa: E731
    reason = lambda *ok: lambda p, end: p.dropout_reason in ok  # noqa: E731
    reasons = ("withdrew consent", "lost to follow-up")
    layers = [
        ("remission_month", status("complete"),
         dict(marker="*", s=70 * k, color=CR_COLOUR, label="First remission; CR at the endpoint")),
        ("remission_month", status("partial"), dict(marker="^", s=34 * k, color=PR_COLOUR, edgecolors=CR_COLOUR,
                                                    linewidths=0.6, label="First remission; PR at the endpoint")),
        ("remission_month", lambda p, end: not status("complete", "partial")(p, end),
         dict(marker="o", s=26 * k, facecolors="white", edgecolors=CR_COLOUR, linewidths=1.2,
              label="First remission; not in remission at the endpoint")),
        ("relapse_month", lambda p, end: p.relapse_month <= end,
         dict(marker="v", s=34 * k, color=RELAPSE_COLOUR, label="Relapse")),
        *((key, keep, {**DROPOUT_MARKERS[r], "s": DROPOUT_MARKERS[r]["s"] * k, "label": f"Dropout: {r}"})
          for key, keep, r in (("dropout_month", reason(reasons[0]), reasons[0]),
                               ("dropout_month", reason(reasons[1]), reasons[1]))),
        ("dropout_month", lambda p, end: not reason(*reasons)(p, end),
         dict(marker="X", s=40 * k, color="0.4", label="Dropout")),
    ]
    for key, keep, style in layers:
        pts = [(getattr(p, key), row) for p, row, end in rows if not math.isnan(getattr(p, key)) and keep(p, end)]
        if pts:
            ax.scatter(*zip(*pts), zorder=4, **style)
    ax.axvline(endpoint_month, color="0.2", lw=1.2, ls="--", label=f"Primary endpoint (month {endpoint_month:g})")
    ax.set_yticks(centres, ticks)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="y", visible=False)
    ax.set_ylim(max(y - gap, 0) + 0.5, -1.0)
    ax.set_xlim(-0.02 * endpoint_month, endpoint_month * 1.02)
    ax.set_xticks(np.arange(0, endpoint_month + 0.01, 3 if endpoint_month <= 36 else 6))
    ax.set_xlabel("Months since randomisation")
    ax.set_title(title)
    legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.9 / height), ncol=3, fontsize=9, frameon=False)
    for handle in legend.legend_handles:  # full-size markers in the legend, whatever the rows
        if hasattr(handle, "set_sizes") and k < 1:
            handle.set_sizes(np.asarray(handle.get_sizes()) / k)
    return fig
