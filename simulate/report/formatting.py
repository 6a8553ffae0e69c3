"""Formatting shared by the report's sections: numbers as text (``_f``; ``_pm``, a value with its
Monte Carlo SE; ``_value``, a scenario value as the TOML shows it) and the shapes the template
draws (:class:`Table` of :class:`Row` of :class:`Cell`, built by ``_table``; :class:`Block`, a
part of the tables section, with its paragraphs from ``_p``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from markupsafe import Markup

Raw = Markup
"""Markup built from escaped parts (a badge): a table cell inserts it as is."""


def _e(value: Any) -> Markup:
    return Markup.escape(value)


def _f(value: Any, fmt: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return format(value, fmt)
    return str(value)


def _pm(value: Any, se: Any, fmt: str = ".3f") -> str:
    return _f(value, fmt) if se is None else f"{_f(value, fmt)} ± {_f(se, fmt)}"


def exact_bound(value: float, trials: int, level: float = 0.95) -> float:
    """The exact (Clopper-Pearson) two-sided ``level`` bound of a share seen in all ``trials``
    (``value`` 1: the lower bound ((1 - level) / 2) ** (1 / n)) or in none (0: the upper bound
    1 - that), where the Monte Carlo SE is 0 and says nothing."""
    tail = ((1 - level) / 2) ** (1 / trials)
    return tail if value >= 1 else 1 - tail


def share_pm(value: Any, se: Any, trials: int | None, fmt: str = ".3f") -> str:
    """A simulated share with its Monte Carlo SE, as :func:`_pm`; a share of 0 or 1 over
    ``trials`` (SE 0) with its exact 95% bound instead of ± 0.000."""
    try:
        extreme = trials and se == 0 and value in (0, 1)
    except (TypeError, ValueError):
        extreme = False
    if extreme:
        bound = exact_bound(float(value), int(trials))
        return f"{_f(value, fmt)} (exact 95% bound {'≥' if value >= 1 else '≤'} {bound:.4f})"
    return _pm(value, se, fmt)


@dataclass(frozen=True)
class Cell:
    text: str
    cls: str = ""


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    cls: str = ""


@dataclass(frozen=True)
class Table:
    """A table as the template draws it: a caption, column headers, rows of cells (plain text,
    escaped by the template, or :class:`Markup`)."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[Row, ...]


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset(),
           row_classes: list[str] | None = None, cell_classes: dict[tuple[int, int], str] | None = None,
           caption: str = "") -> Table:
    """A :class:`Table`; pass plain text (the template escapes it) or Markup."""
    out = []
    for i, row in enumerate(rows):
        cells = tuple(Cell(cell if isinstance(cell, Markup) else str(cell),
                           " ".join(c for c in ("num" if j in numeric else "", (cell_classes or {}).get((i, j), ""))
                                    if c))
                      for j, cell in enumerate(row))
        out.append(Row(cells, (row_classes[i] if row_classes and row_classes[i] else "")))
    return Table(caption or (headers[0] if headers else ""), tuple(str(h) for h in headers), tuple(out))


@dataclass(frozen=True)
class Block:
    """A part of the tables section: an optional heading, paragraphs (``(text, is_note)``) and tables."""

    heading: str = ""
    paragraphs: tuple[dict, ...] = ()
    tables: tuple[Table, ...] = ()


def _p(text: str, note: bool = True) -> dict:
    return {"text": text, "note": note}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):        # an inline table (a course, a published remission figure)
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        return "—"
    return str(v)
