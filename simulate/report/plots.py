"""One function per figure: plain data in, a :class:`matplotlib.figure.Figure` out.

Figures are built with the object-oriented API (``Figure`` directly, no pyplot state), inside
:func:`theme`, so drawing them changes nothing global. They show results; the only arithmetic
here is what a picture needs (the median of the accrual fan, bar lengths of the swimmer plot).
"""

from __future__ import annotations

import math
import textwrap
from contextlib import contextmanager
from functools import wraps
from typing import Iterator

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

ARM_COLOURS = {"rtx": "#4C72B0", "rtx_csa": "#DD8452"}
CR_COLOUR, PR_COLOUR, RELAPSE_COLOUR = "#1B7837", "#74C476", "#C0392B"


@contextmanager
def theme() -> Iterator[None]:
    """The house look (seaborn whitegrid), confined to the ``with`` block."""
    with mpl.rc_context():
        sns.set_theme(style="whitegrid", context="notebook")
        mpl.rcParams.update({"axes.titleweight": "bold", "figure.titlesize": 14, "figure.titleweight": "bold",
                             "legend.framealpha": 0.92})
        yield


def _themed(fn):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        with theme():
            return fn(*args, **kwargs)
    return wrapper


def _colour(arm: str, i: int) -> str:
    return ARM_COLOURS.get(arm, mpl.colors.to_hex(sns.color_palette("deep")[i % 10]))


# ----------------------------------------------------------------------------- 1. power curve


@_themed
def power_curve(curve: list[dict], closed_form: list[dict], chosen: dict[float, int | None],
                planned_n: int, replicates: int | None = None) -> Figure:
    """Simulated power against n per arm with its 95% Monte Carlo band, the closed-form curves,
    the power targets, the n chosen for each target and the planned n."""
    fig = Figure(figsize=(10, 6), layout="constrained")
    ax = fig.add_subplot()
    sim = pd.DataFrame(curve).sort_values("n_per_arm") if curve else pd.DataFrame(
        columns=["n_per_arm", "power", "ci_low", "ci_high"])
    each = f", {replicates:,} trials per point" if replicates else ""
    ax.fill_between(sim.n_per_arm, sim.ci_low, sim.ci_high, color="C0", alpha=0.22, lw=0,
                    label="Simulated: 95% Monte Carlo interval")
    ax.plot(sim.n_per_arm, sim.power, "o-", color="C0", ms=3.5, lw=1.6,
            label=f"Simulated power (recruitment, dropout, analysis{each})")
    if closed_form:
        cf = pd.DataFrame(closed_form).sort_values("n_per_arm")
        ax.plot(cf.n_per_arm, cf.pooled_normal, "--", color="0.35", lw=1.4,
                label="Closed form, pooled normal, no dropout")
        if "pooled_normal_with_dropout" in cf:
            ax.plot(cf.n_per_arm, cf.pooled_normal_with_dropout, ":", color="0.15", lw=1.8,
                    label="Closed form, pooled normal, with dropout")
    lows = [v for v in list(sim.ci_low) + ([] if not closed_form else list(cf.pooled_normal_with_dropout))
            if v is not None and not math.isnan(v)]
    bottom = max(0.0, math.floor(10 * (min(lows, default=0.5) - 0.03)) / 10)
    ax.set_ylim(bottom, 1.0)
    marks = {0.8: "C2", 0.9: "C4"}
    for target, n in sorted(chosen.items()):
        colour = marks.get(target, "C3")
        ax.axhline(target, color=colour, lw=1, alpha=0.8)
        ax.text(0.005, target + 0.004, f"{target:.0%} target", color=colour, transform=ax.get_yaxis_transform(),
                fontsize=9, va="bottom", ha="left")
        if n is not None:
            ax.vlines(n, bottom, target, color=colour, lw=1.4, ls="-.")
            ax.plot([n], [target], "D", color=colour, ms=8, mec="white",
                    label=f"{target:.0%} power reached at n = {n} per arm")
    ax.axvline(planned_n, color="C3", lw=2, ls="--", label=f"Planned design: n = {planned_n} per arm")
    ax.set_xlabel("Patients randomised per arm (n)")
    ax.set_ylabel("Power (probability of a significant result)")
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_title("Power vs sample size: simulated (with 95% Monte Carlo band) and closed form")
    ax.legend(loc="lower right", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- 2. sweep heatmap


def _tick(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


@_themed
def power_heatmap(rows: list[dict], axes: list[str], labels: dict[str, str]) -> Figure | None:
    """Power over the sweep grid: a heatmap of the first two non-n axes, one facet per n per arm
    (and per value of a further axis); any axes beyond that are averaged. One axis: a line plot.
    No grid: ``None``."""
    if not rows or not axes:
        return None
    frame = pd.DataFrame(rows)
    name = lambda a: labels.get(a, a)  # noqa: E731
    n_axes = [a for a in axes if a.rsplit(".", 1)[-1] == "n_per_arm"]
    order = [a for a in axes if a not in n_axes] + n_axes
    if len(order) == 1:
        return _sweep_line(frame, order[0], name(order[0]))
    x, y, *facets = order
    col, row, averaged = (facets + [None, None])[0], (facets + [None, None])[1], facets[2:]
    cols = sorted(frame[col].unique()) if col else [None]
    rws = sorted(frame[row].unique()) if row else [None]
    nx, ny = frame[x].nunique(), frame[y].nunique()
    w, h = 0.8 * nx + 1.3, 0.55 * ny + 1.2
    fig = Figure(figsize=(max(6.5, w * len(cols) + 1.2), h * len(rws) + 1.2), layout="constrained")
    grid = fig.subplots(len(rws), len(cols), squeeze=False, sharex=True, sharey=True)
    cmap = sns.color_palette("viridis", as_cmap=True)
    for i, rv in enumerate(rws):
        for j, cv in enumerate(cols):
            ax = grid[i][j]
            part = frame
            if col:
                part = part[part[col] == cv]
            if row:
                part = part[part[row] == rv]
            table = part.pivot_table(index=y, columns=x, values="power", aggfunc="mean").sort_index(ascending=False)
            sns.heatmap(table, ax=ax, vmin=0, vmax=1, cmap=cmap, annot=True, fmt=".2f", cbar=False,
                        linewidths=0.6, linecolor="white", annot_kws={"fontsize": 10},
                        xticklabels=[_tick(v) for v in table.columns], yticklabels=[_tick(v) for v in table.index])
            title = []
            if col:
                title.append(f"n = {_tick(cv)} per arm" if col in n_axes else f"{name(col)} = {_tick(cv)}")
            if row:
                title.append(f"n = {_tick(rv)} per arm" if row in n_axes else f"{name(row)} = {_tick(rv)}")
            ax.set_title(", ".join(title), fontsize=11)
            ax.set_xlabel(name(x) if i == len(rws) - 1 else "")
            ax.set_ylabel(name(y) if j == 0 else "")
            ax.tick_params(axis="y", rotation=0)
    sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, 1), cmap=cmap)
    fig.colorbar(sm, ax=grid, shrink=0.9, label="Simulated power", format=mpl.ticker.PercentFormatter(1.0))
    what = "Simulated power across the sensitivity grid"
    if averaged:
        what += " (averaged over " + ", ".join(name(a) for a in averaged) + ")"
    fig.suptitle(what)
    return fig


def _sweep_line(frame: pd.DataFrame, x: str, label: str) -> Figure:
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    frame = frame.sort_values(x)
    ax.errorbar(frame[x], frame.power, yerr=1.96 * frame.mc_se, fmt="o-", capsize=3,
                label="Simulated power ± 1.96 Monte Carlo SE")
    ax.axhline(0.8, color="C2", lw=1, label="80% target")
    ax.axhline(0.9, color="C4", lw=1, label="90% target")
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_xlabel(label)
    ax.set_ylabel("Power (probability of a significant result)")
    ax.set_title(f"Simulated power by {label}")
    ax.legend(loc="lower right")
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


def _mean(means: dict, key: str, n_trials: int | None) -> list[tuple[str, float, str, str]]:
    v = means.get(key)
    if v is None:
        return []
    trials = f"{n_trials:,} " if n_trials else ""
    return [(f"mean over {trials}simulated trials: {v:,.1f}", 8.5, "normal", "0.4")]


@_themed
def consort(counts: dict, means: dict, n_trials: int | None, arm_labels: dict[str, str],
            exclusion_labels: dict[str, str], analysis_note: str) -> Figure:
    """The example trial's CONSORT flow: referred, excluded (by reason), deferred and lost,
    randomised, then per arm: allocated, dropped out, analysed."""
    fig = Figure(figsize=(10, 10))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    W, main_x, main_w, side_l, side_w = 10.0, 2.3, 3.4, 4.6, 5.1
    side_x = side_l + side_w / 2
    big, mid, small = 11.5, 10.0, 9.0

    y = -0.7
    ax.text(W / 2, -0.35, "CONSORT flow of one simulated trial (the example trial)", fontsize=14,
            fontweight="bold", ha="center", va="center")
    _, bottom = _box(ax, main_x, y, main_w, [("Referred and screened", big, "bold", "black"),
                                             (f"n = {counts.get('referred', 0):,}", big, "normal", "black"),
                                             *_mean(means, "referred", n_trials)])
    spine_top = bottom
    y = bottom - 0.35

    reasons = sorted(((n, r) for r, n in (counts.get("excluded") or {}).items() if n), reverse=True)
    lines = [(f"Excluded: criteria not met (n = {counts.get('excluded_total', 0):,})", mid, "bold", "black")]
    for n, r in reasons:
        text = textwrap.shorten(exclusion_labels.get(r, r.replace("_", " ")), 62, placeholder="…")
        lines.append((f"•  {text}: {n:,}", small, "normal", "0.15"))
    lines += _mean(means, "excluded_total", n_trials)
    sides = [lines,
             [(f"Deferred for washout or ACEI/ARB run-in (n = {counts.get('deferred', 0):,})", mid, "bold", "black"),
              (f"lost while waiting, never randomised: n = {counts.get('lost_during_deferral', 0):,}",
               small, "normal", "0.15"),
              ("the others returned once eligible", small, "normal", "0.15"),
              *_mean(means, "deferred", n_trials), *_mean(means, "lost_during_deferral", n_trials)],
             [("Eligible, not randomised: enrolment closed", mid, "bold", "black"),
              (f"n = {counts.get('not_randomised_enrolment_closed', 0):,}", mid, "normal", "black"),
              *_mean(means, "not_randomised_enrolment_closed", n_trials)]]
    for lines in sides:
        top, bottom = _box(ax, side_x, y, side_w, lines, face="#F4F4F4", align="left")
        _arrow(ax, (main_x, (top + bottom) / 2), (side_l, (top + bottom) / 2))
        y = bottom - 0.25
    y -= 0.15
    top, bottom = _box(ax, main_x, y, main_w, [("Randomised", big, "bold", "black"),
                                               (f"n = {counts.get('randomised', 0):,}", big, "normal", "black"),
                                               *_mean(means, "randomised", n_trials)], face="#EAF2E3")
    _arrow(ax, (main_x, spine_top), (main_x, top))
    split = bottom - 0.3
    arms = list(arm_labels)
    centres = [W * (2 * i + 1) / (2 * len(arms)) for i in range(len(arms))]
    _arrow(ax, (main_x, bottom), (main_x, split), head=False)
    ax.plot([min(centres), max(centres)], [split, split], color="0.3", lw=1.2)
    arm_w = W / len(arms) - 0.6
    lowest = split
    for i, (arm, cx) in enumerate(zip(arms, centres)):
        face = mpl.colors.to_hex(mpl.colors.to_rgba(_colour(arm, i), 0.18), keep_alpha=True)
        get = lambda k: (counts.get(k) or {}).get(arm, 0)  # noqa: E731
        stages = [
            [(f"Allocated to {arm_labels[arm]}", mid, "bold", "black"), (f"n = {get('randomised_per_arm'):,}",
                                                                         mid, "normal", "black")],
            [("Dropped out before the endpoint", mid, "bold", "black"),
             (f"n = {get('discontinued_per_arm'):,}", mid, "normal", "black")],
            [("Analysed", mid, "bold", "black"), (f"n = {get('analysed_per_arm'):,}", mid, "normal", "black"),
             (analysis_note, small, "normal", "0.3")],
        ]
        y = split - 0.3
        prev = None
        for lines in stages:
            top, bottom = _box(ax, cx, y, arm_w, lines, face=face, edge=_colour(arm, i))
            _arrow(ax, (cx, split if prev is None else prev), (cx, top))
            prev, y = bottom, bottom - 0.3
        lowest = min(lowest, prev)
    H = -lowest + 0.25
    ax.set_xlim(0, W)
    ax.set_ylim(-H, 0)
    fig.set_size_inches(W, H)
    return fig


# ----------------------------------------------------------------------------- 4. accrual


@_themed
def accrual(curves: list[list[float]], n_target: int, recruitment_months: float, hard_stop_months: float,
            observed: dict | None) -> Figure:
    """Cumulative randomisations of each simulated trial (thin), their median (bold), the plan,
    the target and hard stop, and the real trial."""
    fig = Figure(figsize=(10, 6), layout="constrained")
    ax = fig.add_subplot()
    end = max([hard_stop_months] + [c[-1] for c in curves if c]
              + ([observed["months"]] if observed else []))
    for i, c in enumerate(curves):
        xs = np.concatenate([[0.0], c, [max(hard_stop_months, c[-1] if c else 0.0)]])
        ys = np.concatenate([[0], np.arange(1, len(c) + 1), [len(c)]])
        ax.step(xs, ys, where="post", color="C0", alpha=0.15, lw=0.8,
                label=f"One simulated trial ({len(curves)} shown)" if i == 0 else None)
    if curves:
        grid = np.linspace(0.0, end, 600)
        counts = np.array([np.searchsorted(np.asarray(c, dtype=float), grid, side="right") for c in curves])
        ax.step(grid, np.median(counts, axis=0), where="post", color="#1F3A68", lw=2.8,
                label="Median of the simulated trials")
    ax.plot([0, recruitment_months], [0, n_target], color="C3", lw=2, ls="--",
            label=f"Plan: {n_target} patients in {recruitment_months:g} months")
    ax.axhline(n_target, color="0.35", lw=1, ls=":", label=f"Target: {n_target} randomised")
    ax.axvline(hard_stop_months, color="0.1", lw=1.4, ls="-.",
               label=f"Hard stop: enrolment closes at month {hard_stop_months:g}")
    if observed:
        m, n = observed["months"], observed["n_randomised"]
        ax.plot([0, m], [0, n], color="black", lw=1, ls=(0, (1, 2)))
        ax.plot([m], [n], "*", color="black", ms=17, mec="white", zorder=5,
                label=f"Real trial: {n} randomised in {m:g} months")
        ax.annotate(f"Real trial: {n} in {m:g} months", (m, n), xytext=(-12, 18), textcoords="offset points",
                    ha="right", fontsize=10, fontweight="bold",
                    bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="0.6", alpha=0.9))
    ax.set_xlim(0, end * 1.03)
    ax.set_ylim(0, n_target * 1.08)
    ax.set_xlabel("Months since the trial opened")
    ax.set_ylabel("Patients randomised (cumulative)")
    ax.set_title("Recruitment: simulated trials vs the plan and the real trial")
    ax.legend(loc="upper left", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- 5. time to remission


@_themed
def time_to_remission(km: dict[str, list[dict]], arm_labels: dict[str, str], endpoint_month: float,
                      assumed: dict[str, float] | None = None) -> Figure:
    """Cumulative first remission per arm (1 - Kaplan-Meier) in the example trial."""
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.add_subplot()
    for i, arm in enumerate(arm_labels):
        steps = km.get(arm) or [{"month": 0.0, "cumulative_remission": 0.0, "at_risk": 0}]
        xs = [s["month"] for s in steps] + [endpoint_month]
        ys = [s["cumulative_remission"] for s in steps] + [steps[-1]["cumulative_remission"]]
        colour = _colour(arm, i)
        ax.step(xs, ys, where="post", color=colour, lw=2.2,
                label=f"{arm_labels[arm]} (n = {steps[0].get('at_risk', 0)})")
        ax.annotate(f"{ys[-1]:.0%}", (endpoint_month, ys[-1]), xytext=(5, 0), textcoords="offset points",
                    color=colour, fontweight="bold", va="center", fontsize=10)
        if assumed and arm in assumed:
            ax.plot([endpoint_month], [assumed[arm]], "D", color=colour, mec="black", ms=7, clip_on=False,
                    label=f"{arm_labels[arm]}: assumed CR/PR at month {endpoint_month:g} ({assumed[arm]:.0%})")
    ax.set_xlim(0, endpoint_month)
    ax.set_ylim(0, 1.0)
    ax.set_xticks(np.arange(0, endpoint_month + 0.01, 3 if endpoint_month <= 36 else 6))
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_xlabel("Months since randomisation")
    ax.set_ylabel("Reached first remission (CR or PR)")
    ax.set_title("Time to first remission in the example trial (1 − Kaplan–Meier)")
    ax.legend(loc="lower right", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- 6. swimmer


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


@_themed
def swimmer(patients: list[dict], arm_labels: dict[str, str], endpoint_month: float) -> Figure:
    """One bar per patient of the example trial, from randomisation to the endpoint or dropout,
    with remission, relapse and dropout marked."""
    frame = pd.DataFrame(patients)
    arms = list(arm_labels)
    gap = 3
    rows: list[dict] = []
    centres, ticks = [], []
    y = 0
    for arm in arms:
        part = frame[frame.arm == arm] if len(frame) else frame
        recs = part.to_dict(orient="records")
        recs.sort(key=lambda p: (not _present(p["remission_month"]),
                                 p["remission_month"] if _present(p["remission_month"]) else 0.0,
                                 -(p["dropout_month"] if _present(p["dropout_month"]) else endpoint_month)))
        start = y
        for p in recs:
            rows.append({**p, "y": y})
            y += 1
        centres.append((start + y - 1) / 2 if recs else start)
        ticks.append(f"{arm_labels[arm]}\n(n = {len(recs)})")
        y += gap
    n = len(rows)
    height = min(40.0, max(4.0, 0.12 * (n + gap * len(arms)) + 2.0))
    fig = Figure(figsize=(10, height), layout="constrained")
    ax = fig.add_subplot()
    if not rows:
        ax.text(0.5, 0.5, "No patients were randomised in the example trial", ha="center", va="center",
                transform=ax.transAxes, fontsize=12)
    for i, arm in enumerate(arms):
        mine = [r for r in rows if r["arm"] == arm]
        ends = [min(endpoint_month, r["dropout_month"]) if _present(r["dropout_month"]) else endpoint_month
                for r in mine]
        ax.barh([r["y"] for r in mine], ends, left=0, height=0.72, color=_colour(arm, i), alpha=0.45, lw=0,
                label=f"Follow-up, {arm_labels[arm]}")
    markers = {
        "complete": dict(marker="*", s=70, color=CR_COLOUR, label="First remission; CR at the endpoint"),
        "partial": dict(marker="^", s=34, color=PR_COLOUR, edgecolors=CR_COLOUR, linewidths=0.6,
                        label="First remission; PR at the endpoint"),
        "other": dict(marker="o", s=26, facecolors="white", edgecolors=CR_COLOUR, linewidths=1.2,
                      label="First remission; not in remission at the endpoint"),
    }
    for kind, style in markers.items():
        pts = [(r["remission_month"], r["y"]) for r in rows if _present(r["remission_month"])
               and (r["endpoint_status"] == kind or (kind == "other" and r["endpoint_status"] not in markers))]
        if pts:
            ax.scatter(*zip(*pts), zorder=3, **style)
    rel = [(r["relapse_month"], r["y"]) for r in rows if _present(r["relapse_month"])
           and (not _present(r["dropout_month"]) or r["relapse_month"] <= r["dropout_month"])]
    if rel:
        ax.scatter(*zip(*rel), marker="v", s=34, color=RELAPSE_COLOUR, zorder=4, label="Relapse")
    for reason, style in (("withdrew consent", dict(marker="X", color="black")),
                          ("lost to follow-up", dict(marker="X", facecolors="white", edgecolors="black"))):
        pts = [(r["dropout_month"], r["y"]) for r in rows if _present(r["dropout_month"])
               and (r.get("dropout_reason") or "") == reason]
        if pts:
            ax.scatter(*zip(*pts), s=40, zorder=4, linewidths=0.9, label=f"Dropout: {reason}", **style)
    other = [(r["dropout_month"], r["y"]) for r in rows if _present(r["dropout_month"])
             and (r.get("dropout_reason") or "") not in ("withdrew consent", "lost to follow-up")]
    if other:
        ax.scatter(*zip(*other), marker="X", s=40, color="0.4", zorder=4, label="Dropout")
    ax.axvline(endpoint_month, color="0.2", lw=1.2, ls="--", label=f"Primary endpoint (month {endpoint_month:g})")
    ax.set_yticks(centres, ticks)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="y", visible=False)
    ax.set_ylim(max(y - gap, 0) + 0.5, -1.0)
    ax.set_xlim(0, endpoint_month * 1.02)
    ax.set_xticks(np.arange(0, endpoint_month + 0.01, 3 if endpoint_month <= 36 else 6))
    ax.set_xlabel("Months since randomisation")
    ax.set_title("Example trial: follow-up of each randomised patient (one bar per patient)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.9 / height), ncol=3, fontsize=9, frameon=False)
    return fig
