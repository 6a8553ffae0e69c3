"""The scenario reference, generated from the models and the shipped scenario's comments.

``python -m simulate.design.reference`` prints a Markdown table of every scenario field: its dotted path,
default, what it allows (its bounds, choices or number of values, read from the model), meaning
(the field's docstring; for a field naming a registered analysis, each analysis's one-line
description, read from :mod:`simulate.analysis.registry`) and, from ``scenarios/nct04743739.toml``, the value and source used for
the registered trial; then the bounds several fields share, each with its reason. The
documentation's scenario field reference is this output (generated at every build).
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
import tomllib
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from simulate.design import fields
from simulate.analysis.registry import RegisteredName, entries
from simulate.design.loader import FILE_DEFAULTS
from simulate.design.scenario import Scenario
from simulate.design.sources import scenario_comments

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "nct04743739.toml"


@cache
def field_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The docstring written under each field of a model (and of the models it extends), read
    from their source. pydantic can collect these itself (``use_attribute_docstrings``), but it
    then reads every model's source whenever trialsim starts, for this page alone."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
        for stmt, after in zip(body, body[1:]):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[stmt.target.id] = inspect.cleandoc(after.value.value)
    return docs


@dataclass(frozen=True)
class Rule:
    """What a field accepts, read from its model: a number within bounds, one of a few
    choices, or a list of either (``many``, with at most ``max_length`` values)."""

    kind: type | None
    """int, float, bool or str; None for a table."""
    lower: float | None = None
    lower_open: bool = False
    """The lower bound itself is excluded (gt rather than ge)."""
    upper: float | None = None
    upper_open: bool = False
    choices: tuple = ()
    many: bool = False
    min_length: int | None = None
    max_length: int | None = None

    @property
    def numeric(self) -> bool:
        return self.kind in (int, float)

    def text(self) -> str:
        """The rule as the field reference shows it, e.g. ``0 to 1`` or ``each >= 0; at most 250``."""
        if self.choices:
            one = "one of " + ", ".join(f"`{c}`" if isinstance(c, str) else str(c) for c in self.choices)
        elif self.numeric:
            lo, hi = self.lower, self.upper
            if lo is not None and hi is not None and not self.lower_open and not self.upper_open:
                one = f"{_number(lo)} to {_number(hi)}"
            else:
                parts = [f"{'>' if self.lower_open else '>='} {_number(lo)}" if lo is not None else "",
                         f"{'<' if self.upper_open else '<='} {_number(hi)}" if hi is not None else ""]
                one = ", ".join(p for p in parts if p)
        elif self.kind is bool:
            one = "true or false"
        else:
            one = ""
        if not self.many:
            return one
        count = _count(self.min_length, self.max_length, "value")
        return "; ".join(p for p in (f"each {one}" if one else "", count) if p)


def _number(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _count(lo: int | None, hi: int | None, what: str) -> str:
    if lo and hi:
        return f"{lo} to {hi} {what}s"
    if hi is not None:
        return f"at most {hi} {what}{'s' if hi != 1 else ''}"
    if lo:
        return f"at least {lo} {what}{'s' if lo != 1 else ''}"
    return ""


def _bounds(metadata) -> dict:
    out: dict = {}
    for m in metadata:
        for key, attr, is_open in (("lower", "ge", False), ("lower", "gt", True), ("upper", "le", False),
                                   ("upper", "lt", True)):
            if getattr(m, attr, None) is not None:
                out[key], out[key + "_open"] = getattr(m, attr), is_open
        for attr in ("min_length", "max_length"):
            if getattr(m, attr, None) is not None:
                out[attr] = getattr(m, attr)
    return out


def _unwrap(ann) -> tuple[Any, list]:
    """The type inside Optional[...] and Annotated[...], and the Annotated metadata."""
    metadata: list = []
    while True:
        origin = typing.get_origin(ann)
        if origin in (typing.Union, types.UnionType):
            ann = next(a for a in typing.get_args(ann) if a is not type(None))
        elif origin is typing.Annotated:
            ann, *extra = typing.get_args(ann)
            for x in extra:
                metadata.extend(getattr(x, "metadata", [x]))
        else:
            return ann, metadata


def rule_of(field: FieldInfo) -> Rule:
    """What a scenario field accepts (its bounds, choices and number of values)."""
    ann, metadata = _unwrap(field.annotation)
    metadata = [*field.metadata, *metadata]
    many = typing.get_origin(ann) is tuple
    outer = _bounds(metadata) if many else {}
    if many:
        ann, metadata = _unwrap(typing.get_args(ann)[0])
    if typing.get_origin(ann) is typing.Literal:
        return Rule(kind=str, choices=typing.get_args(ann), many=many, **outer)
    registered = next((m for m in metadata if isinstance(m, RegisteredName)), None)
    if registered is not None:                              # a registered analysis: the registry's ids
        return Rule(kind=str, choices=registered.choices(), many=many, **outer)
    kind = ann if ann in (int, float, bool, str) else None
    inner = {k: v for k, v in _bounds(metadata).items() if k not in ("min_length", "max_length")}
    return Rule(kind=kind, many=many, **(inner if kind in (int, float) else {}), **outer)


def _section(ann) -> type[BaseModel] | None:
    """The model of a section, optional section ([interim], [observed]) or table of tables."""
    inner, _ = _unwrap(ann)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    return None


def walk_fields(model: type[BaseModel] = Scenario, prefix: str = ""):
    """Every field of the scenario as (dotted path, the model that holds it, its name, the
    field), sections expanded in place: a table of tables (the arms) and a list of tables (an
    arm's courses) come first as a field of their own, then their tables' fields under
    ``<path>.<arm>.`` (``<path>.<id>.`` for another table of tables) and ``<path>[].``."""
    for name, field in model.model_fields.items():
        ann = field.annotation
        path = f"{prefix}{name}"
        section = _section(ann)
        if section is not None:                                # a section, or an optional one
            yield from walk_fields(section, path + ".")
            continue
        yield path, model, name, field
        inner = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        if typing.get_origin(ann) is dict and inner:          # the arms, the intercurrent events: one table each
            yield from walk_fields(inner[-1], path + (".<arm>." if name == "arms" else ".<id>."))
        elif typing.get_origin(ann) is tuple and inner:       # an arm's courses: a list of tables
            yield from walk_fields(inner[-1], path + "[].")


def field_rows() -> list[tuple[str, str, str, str]]:
    """(dotted path, default, what is allowed, meaning) of every field, sections expanded."""
    rows = []
    for path, model, name, field in walk_fields():
        doc = field_docstrings(model).get(name, field.description or "").replace("\n", " ")
        ann = field.annotation
        tables = any(isinstance(a, type) and issubclass(a, BaseModel) for a in typing.get_args(ann))
        if typing.get_origin(ann) is dict and tables:
            count = _bounds(field.metadata)
            allowed = _count(count.get("min_length"), count.get("max_length"), "table").replace(
                "tables", f"[{path}.<id>] tables")
            rows.append((path, "required" if field.is_required() else "{}", allowed, doc))
        elif typing.get_origin(ann) is tuple and tables:
            rows.append((path, "[]", "", doc))
        else:
            if path in FILE_DEFAULTS:
                default = FILE_DEFAULTS[path]
            else:
                default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
            if any(isinstance(m, RegisteredName) for m in field.metadata):
                doc = " ".join([doc, *(f"{e.name}: {e.description}" for e in entries())])
            rows.append((path, default, rule_of(field).text(), doc))
    return rows


def constant_docstrings(module=fields) -> dict[str, str]:
    """The docstring written under each module-level constant of a module."""
    body = ast.parse(inspect.getsource(module)).body
    return {stmt.targets[0].id: inspect.cleandoc(after.value.value)
            for stmt, after in zip(body, body[1:])
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
            and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)}


SHARED_BOUNDS = re.compile(r"^(\w+_(MIN|MAX)|M(IN|AX)_\w+)$")
"""Names of the scenario module's constants that bound fields (the reasons listed under the table)."""


def markdown(scenario_path: Path = DEFAULT) -> str:
    comments = scenario_comments(scenario_path)[1]
    values = tomllib.loads(scenario_path.read_text(encoding="utf-8"))

    def value_of(path):
        node = values
        for k in path.split("."):
            if not isinstance(node, dict) or k not in node:
                return None
            node = node[k]
        return node

    lines = ["| field | default | allowed | meaning | NCT04743739 value and source |", "|---|---|---|---|---|"]
    for path, default, allowed, doc in field_rows():
        if path == "sweep" or path.startswith("sweep["):
            continue
        if path.startswith("arms.<arm>."):
            parts = []
            for arm in values.get("arms", {}):
                p = path.replace("<arm>", arm)
                v = value_of(p) if "[]" not in p else None
                if v is not None:
                    shown = f"{len(v)} course(s)" if isinstance(v, list) and v and isinstance(v[0], dict) else f"`{v}`"
                    parts.append(f"{arm}: {shown} {comments.get(p, '')}".strip())
            source = "; ".join(parts)
        else:
            v = value_of(path)
            if isinstance(v, dict):                           # a table of tables: its ids
                v = ", ".join(v)
            source = f"`{v}` {comments.get(path, '')}".strip() if v is not None else ""
        esc = lambda t: str(t).replace("|", "\\|")  # noqa: E731
        lines.append(f"| `{path}` | `{esc(default)}` | {esc(allowed)} | {esc(doc)} | {esc(source)} |")
    lines += ["", "Bounds shared by several fields, and why:", ""]
    for name, doc in constant_docstrings().items():
        if SHARED_BOUNDS.match(name):
            lines.append(f"* `{name}` = {_number(getattr(fields, name))}: {' '.join(doc.split())}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT) + "\n")
