"""The figures' shared look: one colour per arm (the same arms always get the same colours, in
every figure) and the house theme (seaborn whitegrid).

Each figure function (in :mod:`~simulate.report.power_plots`, :mod:`~simulate.report.flow_plots`,
:mod:`~simulate.report.remission_plots` and :mod:`~simulate.report.interim_plots`) takes results in
(the types of :mod:`simulate.run.results`, or plain values) and gives a
:class:`matplotlib.figure.Figure` out. Figures are built with the object-oriented API (``Figure``
directly, no pyplot state), inside :func:`theme`, so drawing them changes nothing global. They show
results; the only arithmetic there is what a picture needs (the median of the accrual fan, bar
lengths of the swimmer plot).
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import wraps
from typing import Iterator, Sequence

import io

import matplotlib as mpl
import matplotlib.figure
import seaborn as sns

NOTEBOOK_DPI = 110
"""Pixels per inch of a figure shown in a notebook: the report's display size."""


class Figure(matplotlib.figure.Figure):
    """The report's figures: matplotlib Figures that a notebook shows as a PNG when one is a
    cell's value, whatever matplotlib's backend (the report draws off screen, so its figures are
    never attached to pyplot's inline display)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=NOTEBOOK_DPI, facecolor="white")
        return buffer.getvalue()

ARM_PALETTE = ("#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#009E73", "#D55E00", "#000000", "#F0E442")
"""One colour per arm, by the arm's place: the control first, then the experimental arms in the
scenario's order (Okabe and Ito's colour-blind-safe palette; green, which the swimmer plot's remission
markers use, fifth, and yellow, the faintest on white, last)."""


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
