"""Figures of the patients' flow: the example trial's CONSORT diagram, and recruitment of the
simulated trials against the plan and the real trial.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.legend_handler import HandlerTuple
from matplotlib.patches import FancyBboxPatch

from simulate.report.style import _colours, Figure, themed

if TYPE_CHECKING:
    from simulate.run.trial_results import Accrual, Consort

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
