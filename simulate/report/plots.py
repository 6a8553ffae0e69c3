"""One function per figure: results in (the types of :mod:`simulate.results`, or plain values), a
:class:`matplotlib.figure.Figure` out.

Figures are built with the object-oriented API (``Figure`` directly, no pyplot state), inside
:func:`theme`, so drawing them changes nothing global. They show results; the only arithmetic
here is what a picture needs (the median of the accrual fan, bar lengths of the swimmer plot).
"""

from __future__ import annotations

import math
import textwrap
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Iterator, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.transforms import offset_copy

if TYPE_CHECKING:
    from simulate.results import (Accrual, ClosedFormPoint, Consort, KaplanMeierStep, Look, PatientCourse,
                                  PowerResult, SampleSizePoint, VisitRemission)
    from simulate.scenario import ObservedRemission

ARM_PALETTE = ("#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#009E73", "#D55E00", "#000000", "#F0E442")
"""One colour per arm, by the arm's place: the control first, then the experimental arms in the
scenario's order (Okabe and Ito's colour-blind-safe palette; green, which the swimmer plot's remission
markers use, fifth, and yellow, the faintest on white, last)."""
CR_COLOUR, PR_COLOUR, RELAPSE_COLOUR = "#1B7837", "#74C476", "#C0392B"


def arm_colours(arms: Sequence[str], control: str | None = None) -> dict[str, str]:
    """{arm: colour}: the control (default: the first arm) gets the first colour of
    :data:`ARM_PALETTE`, the other arms the next ones in their order; the same arms always get
    the same colours, in every figure."""
    control = control if control in arms else (arms[0] if arms else None)
    order = [control, *(a for a in arms if a != control)] if control is not None else []
    return {arm: ARM_PALETTE[i % len(ARM_PALETTE)] for i, arm in enumerate(order)}


@contextmanager
def theme() -> Iterator[None]:
    """The house look (seaborn whitegrid), confined to the ``with`` block."""
    with mpl.rc_context():
        sns.set_theme(style="whitegrid", context="notebook")
        mpl.rcParams.update({"axes.titleweight": "bold", "figure.titlesize": 14, "figure.titleweight": "bold",
                             "legend.framealpha": 0.92})
        yield


def themed(fn):
    """A figure function drawn in the house look (:func:`theme`)."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        with theme():
            return fn(*args, **kwargs)
    return wrapper


def _colours(arm_labels: dict[str, str], colours: dict[str, str] | None) -> dict[str, str]:
    """The given colours, any arm they miss coloured by :func:`arm_colours` (first arm = control)."""
    default = arm_colours(list(arm_labels))
    return {arm: (colours or {}).get(arm, default[arm]) for arm in arm_labels}


# ----------------------------------------------------------------------------- 1. power curve


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
    sim = pd.DataFrame(curve).sort_values("n_per_arm") if curve else pd.DataFrame(
        columns=["n_per_arm", "power", "ci_low", "ci_high"])
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


# ----------------------------------------------------------------------------- 2. sweep heatmap


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _tick(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


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
        table = part.pivot_table(index=y, columns=x, values="power", aggfunc="mean").sort_index(ascending=False)
        if null and swept_alpha:
            level = part.pivot_table(index=y, columns=x, values="analysis.alpha", aggfunc="mean").reindex_like(table)
        else:
            level = None
        sns.heatmap(table, ax=ax, vmin=0, vmax=vmax, cmap=cmap, annot=True, fmt=f".{digits}f", cbar=False,
                    linewidths=0.6, linecolor="white", annot_kws={"fontsize": 10},
                    xticklabels=[_tick(v) for v in table.columns], yticklabels=[_tick(v) for v in table.index])
        here = all(_same(planned.get(a), v) for a, v in ((col, cv), (row, rv)) if a)
        for i, yv in enumerate(table.index):
            for j, xv in enumerate(table.columns):
                limit = (level.iloc[i, j] if level is not None else alpha) if null else 0.8
                if table.iloc[i, j] > limit if null else table.iloc[i, j] >= limit:
                    flagged += 1
                    ax.add_patch(Rectangle((j + 0.06, i + 0.06), 0.88, 0.88, fill=False, ec="white", lw=2))
                if here and _same(planned.get(x), xv) and _same(planned.get(y), yv):
                    shown_planned = True
                    ax.add_patch(Rectangle((j, i), 1, 1, fill=False, ec="#E41A1C", lw=3.5, clip_on=False))
        ax.set_title(", ".join(facet(a, v) for a, v in ((col, cv), (row, rv)) if a), fontsize=11)
        last_in_column = k + ncol >= len(panels)
        ax.set_xlabel(textwrap.fill(name(x), 40) if last_in_column else "")
        ax.set_ylabel(textwrap.fill(name(y), 26) if k % ncol == 0 else "")
        ax.tick_params(rotation=0)
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
        what += ", averaged over " + ", ".join(name(a) for a in averaged)
    mark = ("white outline: above alpha" + ("" if swept_alpha else f" = {alpha:.3f}") if null
            else "white outline: at least 0.80")
    what += f"\n({mark}" + ("; red: the planned design)" if shown_planned else ")")
    fig.suptitle(what)
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


# ----------------------------------------------------------------------------- 3. CONSORT


_LINE = 1.3 / 72  # inches per point of font size, line spacing included


def _box(ax, x: float, y_top: float, width: float, lines: list[tuple[str, float, str, str]],
         face: str = "white", edge: str = "0.3", align: str = "center") -> tuple[float, float]:
    """A rounded box with ``lines`` of (text, size, weight, colour), top at ``y_top`` (inches);
    returns (top, bottom)."""
    pad = 0.09
    height = 2 * pad + sum(size * _LINE for _, size, _, _ in lines)
    ax.add_patch(FancyBboxPatch((x - width / 2, y_top - height), width, height,
                                boxstyle="round,pad=0,rounding_size=0.08", fc=face, ec=edge, lw=1.1))
    y = y_top - pad
    tx = x if align == "center" else x - width / 2 + 0.15
    for text, size, weight, colour in lines:
        ax.text(tx, y - size * _LINE / 2, text, fontsize=size, fontweight=weight, color=colour,
                ha=align, va="center")
        y -= size * _LINE
    return y_top, y_top - height


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], head: bool = True) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>" if head else "-", color="0.3", lw=1.2, shrinkA=0, shrinkB=0))


def _mean(means: dict[str, float], key: str, n_trials: int | None, *more: tuple[str, str], what: str = ""
          ) -> list[tuple[str, float, str, str]]:
    """'mean over N simulated trials: 43.2 deferred, 8.7 lost' (keys absent from ``means`` are left out)."""
    parts = [f"{means[k]:,.1f}{(' ' + w) if w else ''}" for k, w in ((key, what), *more) if k in means]
    if not parts:
        return []
    trials = f"{n_trials:,} " if n_trials else ""
    return [(f"mean over {trials}simulated trials: {', '.join(parts)}", 8.5, "normal", "0.4")]


@themed
def consort(counts: Consort, means: dict[str, float], n_trials: int | None, arm_labels: dict[str, str],
            exclusion_labels: dict[str, str], analysis_note: str, n_target: int | None = None,
            colours: dict[str, str] | None = None,
            title: str = "CONSORT flow of one simulated trial (the example trial)") -> Figure:
    """The example trial's CONSORT flow: referred, excluded (by reason), deferred and lost,
    randomised, then per arm (in ``arm_labels``' order, coloured by ``colours``): allocated,
    dropped out, analysed. The page widens with the number of arms, so each arm's boxes keep a
    readable width."""
    colours = _colours(arm_labels, colours)
    W = max(10.0, 3.4 * len(arm_labels))
    fig = Figure(figsize=(W, 10))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    main_x, main_w, side_l, side_w = 2.5, 3.4, 4.7, 5.1
    side_x = side_l + side_w / 2
    big, mid, small = 11.5, 10.0, 9.0

    T = lambda text, size=mid, weight="normal", colour="black": (text, size, weight, colour)  # noqa: E731
    c = lambda k: f"{getattr(counts, k):,}"  # noqa: E731
    ax.text(W / 2, -0.35, title, fontsize=14,
            fontweight="bold", ha="center", va="center")
    _, spine_top = _box(ax, main_x, -0.7, main_w, [T("Referred and screened", big, "bold"),
                                                  T(f"n = {c('referred')}", big), *_mean(means, "referred", n_trials)])
    reasons = sorted(((n, r) for r, n in counts.excluded.items() if n), reverse=True)
    deferred_back = counts.deferred > counts.lost_during_deferral
    sides = [
        [T(f"Excluded: criteria not met (n = {c('excluded_total')})", weight="bold"),
         *[T("•  " + textwrap.shorten(exclusion_labels.get(r, r.replace("_", " ")), 70, placeholder="…")
             + f": {n:,}", small, colour="0.15") for n, r in reasons],
         *_mean(means, "excluded_total", n_trials)],
        [T(f"Deferred for washout or ACEI/ARB run-in (n = {c('deferred')})", weight="bold"),
         T(f"lost while waiting, never randomised: n = {c('lost_during_deferral')}", small, colour="0.15"),
         *([T("the others returned once eligible", small, colour="0.15")] if deferred_back else []),
         *_mean(means, "deferred", n_trials, ("lost_during_deferral", "lost"), what="deferred")],
        [T("Eligible, not randomised: enrolment closed", weight="bold"),
         T(f"n = {c('not_randomised_enrolment_closed')}"), *_mean(means, "not_randomised_enrolment_closed", n_trials)],
    ]
    y = spine_top - 0.35
    for lines in sides:
        top, bottom = _box(ax, side_x, y, side_w, lines, face="#F4F4F4", align="left")
        _arrow(ax, (main_x, (top + bottom) / 2), (side_l, (top + bottom) / 2))
        y = bottom - 0.25
    y -= 0.15
    planned = f" of {n_target:,} planned" if n_target else ""
    top, bottom = _box(ax, main_x, y, main_w, [T("Randomised", big, "bold"), T(f"n = {c('randomised')}{planned}", big),
                                               *_mean(means, "randomised", n_trials)], face="#EAF2E3")
    _arrow(ax, (main_x, spine_top), (main_x, top))
    split = bottom - 0.3
    arms = list(arm_labels)
    centres = [W * (2 * i + 1) / (2 * len(arms)) for i in range(len(arms))]
    _arrow(ax, (main_x, bottom), (main_x, split), head=False)
    ax.plot([min(centres + [main_x]), max(centres + [main_x])], [split, split], color="0.3", lw=1.2)
    arm_w = W / len(arms) - 0.6
    lowest = split
    for arm, cx in zip(arms, centres):
        face = mpl.colors.to_hex(mpl.colors.to_rgba(colours[arm], 0.18), keep_alpha=True)
        get = lambda k: getattr(counts, k).get(arm, 0)  # noqa: E731
        wrap = lambda text, size=mid, **kw: [  # noqa: E731  (lines that fit the arm's box)
            T(line, size, **kw) for line in textwrap.wrap(text, max(12, int(arm_w * 120 / size)))]
        stages = [[*wrap(f"Allocated to {arm_labels[arm]}", weight="bold"), T(f"n = {get('randomised_per_arm'):,}")],
                  [*wrap("Dropped out before the endpoint", weight="bold"),
                   T(f"n = {get('discontinued_per_arm'):,}")],
                  [T("Analysed", weight="bold"), T(f"n = {get('analysed_per_arm'):,}"),
                   *wrap(analysis_note, small, colour="0.3")]]
        y = split - 0.3
        prev = None
        for lines in stages:
            top, bottom = _box(ax, cx, y, arm_w, lines, face=face, edge=colours[arm])
            _arrow(ax, (cx, split if prev is None else prev), (cx, top))
            prev, y = bottom, bottom - 0.3
        lowest = min(lowest, prev)
    H = -lowest + 0.25
    ax.set_xlim(0, W)
    ax.set_ylim(-H, 0)
    fig.set_size_inches(W, H)
    return fig


# ----------------------------------------------------------------------------- 4. accrual


FAN_ALPHA = 0.15
"""Opacity of each simulated trial's line in the accrual fan (its legend swatch is drawn opaque)."""


def _accrual_steps(months: Sequence[float], hard_stop_months: float) -> tuple[np.ndarray, np.ndarray]:
    """A trial's cumulative randomisations as step coordinates, held flat to the hard stop."""
    last = months[-1] if len(months) else 0.0
    return (np.concatenate([[0.0], months, [max(hard_stop_months, last)]]),
            np.concatenate([[0], np.arange(1, len(months) + 1), [len(months)]]))


@themed
def accrual(fan: Accrual, highlight: Sequence[float] | None = None, highlight_label: str = "This trial") -> Figure:
    """Cumulative randomisations of each simulated trial (thin), their median (bold), the plan,
    the target and hard stop, and the real trial (a star, joined to the origin by a dotted line:
    its average pace); ``highlight``, one trial's randomisation months in increasing order, drawn
    over the fan. Every line has a legend entry, each entry drawn opaque."""
    curves, n_target, observed = fan.curves, fan.n_target, fan.observed
    recruitment_months, hard_stop_months = fan.recruitment_months, fan.hard_stop_months
    fig = Figure(figsize=(10, 6.6), layout="constrained")
    ax = fig.add_subplot()
    end = max([hard_stop_months] + [c[-1] for c in curves if c]
              + ([observed.months] if observed else []))
    for i, c in enumerate(curves):
        ax.step(*_accrual_steps(c, hard_stop_months), where="post", color="C0", alpha=FAN_ALPHA, lw=0.8,
                label=f"One simulated trial ({len(curves)} shown)" if i == 0 else None)
    if curves:
        grid = np.linspace(0.0, end, 600)
        counts = np.array([np.searchsorted(np.asarray(c, dtype=float), grid, side="right") for c in curves])
        ax.plot(grid, np.median(counts, axis=0), color="#1F3A68", lw=2.8, label="Median of the simulated trials")
    if highlight is not None:
        ax.step(*_accrual_steps(highlight, hard_stop_months), where="post", color="#E69F00", lw=2.6, label=f"{highlight_label}: {len(highlight)} randomised")
    ax.plot([0, recruitment_months], [0, n_target], color="C3", lw=2, ls="--",
            label=f"Plan: {n_target} patients in {recruitment_months:g} months")
    ax.axhline(n_target, color="0.35", lw=1.4, ls=":", zorder=3, label=f"Target: {n_target} randomised")
    ax.axvline(hard_stop_months, color="0.1", lw=1.4, ls="-.",
               label=f"Hard stop: enrolment closes at month {hard_stop_months:g}, whatever the count")
    handles, labels = ax.get_legend_handles_labels()
    if observed:
        m, n = observed.months, observed.n_randomised
        pace, = ax.plot([0, m], [0, n], color="black", lw=1.2, ls=(0, (1, 2)))
        star, = ax.plot([m], [n], "*", color="black", ms=17, mec="white", zorder=5)
        handles.append((pace, star))
        labels.append(f"Real trial: {n} randomised in {m:g} months (dotted: its average pace)")
        ax.annotate(f"Real trial: {n} in {m:g} months", (m, n), xytext=(-12, 18), textcoords="offset points",
                    ha="right", fontsize=10, fontweight="bold",
                    bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="0.6", alpha=0.9))
    ax.set_xlim(0, end * 1.03)
    ax.set_ylim(0, n_target * 1.08)
    ax.set_xlabel("Months since the trial opened")
    ax.set_ylabel("Patients randomised (cumulative)")
    ax.set_title("Recruitment: simulated trials vs the plan and the real trial")
    legend = ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=9,
                       frameon=False, handler_map={tuple: HandlerTuple(ndivide=None)})
    for handle in legend.legend_handles:  # the faint fan line, drawn solid in the legend
        if handle is not None and (handle.get_alpha() or 1.0) < 1.0:
            handle.set_alpha(1.0)
            handle.set_linewidth(max(handle.get_linewidth(), 1.6))
    return fig


# ----------------------------------------------------------------------------- 5. time to remission


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


# ----------------------------------------------------------------------------- 5b. remission by visit


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


# ----------------------------------------------------------------------------- 6. swimmer


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


# ----------------------------------------------------------------------------- 7. interim looks


EFFICACY_COLOUR, FUTILITY_COLOUR, FINAL_COLOUR = "#1B7837", "#C0392B", "#4C72B0"
"""Stopped for efficacy, for futility, went to the final analysis (boundaries and paths alike)."""


def _finite(values) -> np.ndarray:
    """Floats, with None and infinities (no bound) as nan."""
    out = np.array([np.nan if v is None else v for v in values], dtype=float)
    out[~np.isfinite(out)] = np.nan
    return out


@themed
def boundaries(looks: Sequence[Look], paths: Sequence = (), favours: str = "",
               futility_conditional_power: float | None = None) -> Figure:
    """The efficacy (and any futility) z boundaries against the information fraction, markers at
    the looks and lines between, the final look's bound, and the z paths of simulated trials
    (``paths``: the pipeline's ``ZPath`` records, read by their fields information, z, outcome,
    rejected, final_bound, overrun_information and overrun_z) coloured by what happened to them:
    stopped for efficacy, for futility, or went to the final analysis (filled: H0 rejected
    there). An efficacy stop's overrun analysis is an open diamond; a trial short of its target
    has its own final bound (grey dash). ``favours`` says what a higher z means."""
    fig = Figure(figsize=(10, 7.0), layout="constrained")
    ax = fig.add_subplot()
    f = np.array([k.information_fraction for k in looks], dtype=float)
    eff = _finite(k.efficacy_z for k in looks)
    fut = _finite(k.futility_z for k in looks)
    zs = [z for p in paths for z in (*p.z, p.overrun_z)]
    values = _finite([*eff, *fut, *zs])
    lo = min(-1.0, np.nanmin(values) - 0.5) if np.isfinite(values).any() else -1.0
    hi = max(4.0, np.nanmax(values) + 0.5) if np.isfinite(values).any() else 4.0
    infos = [x for p in paths for x in (*p.information, p.overrun_information) if np.isfinite(x)]
    left = max(0.0, min([*f, *infos]) - 0.12)
    ok = np.isfinite(eff)
    ax.fill_between(f[ok], eff[ok], hi, color=EFFICACY_COLOUR, alpha=0.08, lw=0)
    ax.plot(f[ok], eff[ok], "o-", color=EFFICACY_COLOUR, lw=2.6, ms=9, mec="white", zorder=4,
            label="Efficacy boundary: stop and reject H0 at or above it")
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
    box = dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85)
    for x, z in zip(f[ok], eff[ok]):  # left of the look, clear of the paths' markers on it
        ax.annotate(f"{z:.2f}", (x, z), xytext=(-13, 0), textcoords="offset points", ha="right", va="center",
                    color=EFFICACY_COLOUR, fontweight="bold", fontsize=10, bbox=box, zorder=7)
    for x, z in zip(f[:-1][interim_fut], fut[:-1][interim_fut]):
        ax.annotate(f"{z:.2f}", (x, z), xytext=(-10, 0), textcoords="offset points", ha="right", va="center",
                    color=FUTILITY_COLOUR, fontweight="bold", fontsize=10, bbox=box, zorder=7)
    if ok[-1]:
        ax.plot([f[-1]], [eff[-1]], "D", color="black", ms=10, mec="white", zorder=6,
                label=f"Final analysis: reject H0 at z ≥ {eff[-1]:.2f} (the target randomised)")
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
        if np.isfinite(p.final_bound) and p.information[-1] < f[-1] - 1e-9:
            ax.plot(p.information[-1:], [p.final_bound], "_", color="0.3", ms=14, mew=2, zorder=5,
                    label=None if short else "Final bound of a trial short of its target")
            short = True
    ax.axhline(0, color="0.4", lw=0.8)
    ax.set_xlim(left, 1.04 * max(1.0, *infos) if infos else 1.04)
    ax.set_ylim(lo, hi)
    ax.set_xticks(f)
    ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_xlabel("Information fraction: share of the planned patients whose endpoint is determined")
    ax.set_ylabel(textwrap.fill("Test statistic z" + (f" (higher: {favours})" if favours else ""), 50))
    ax.set_title(f"Interim boundaries and the z paths of {len(paths)} simulated trials" if paths
                 else "Interim boundaries")
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
