"""A scenario's validation errors as one line each: the field path, the value received, what is allowed.

pydantic reports each problem with a kind (``less_than_equal``, ``literal_error``, ``extra_forbidden``, ...)
and its context; these functions turn that into the sentence a user reads, naming the allowed
fields (with the closest match) for a misspelt key.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from simulate.design.scenario import Scenario


def _allowed(ctx: dict | None, kind: str) -> str:
    """pydantic's constraint context as a plain rule, e.g. ``must be >= 0``."""
    ctx = ctx or {}
    for key, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if key in ctx:
            return f"must be {op} {ctx[key]}"
    if "expected" in ctx:
        return f"must be one of {ctx['expected'].replace(' or ', ', ')}"
    return ""


_PLAIN = {
    "model_type": "must be a table (a [section] or {{key = value}})",
    "dict_type": "must be a table (a [section] or {{key = value}})",
    "tuple_type": "must be a list, e.g. [1, 2]",
    "list_type": "must be a list, e.g. [1, 2]",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text in quotes",
    "string_too_short": "must not be empty",
    "string_too_long": "must have at most {max_length} characters",
    "too_short": "must have at least {min_length} value(s)",
    "too_long": "must have at most {max_length} value(s)",
    "string_pattern_mismatch": "must start with a letter or digit and use only letters, digits, _ . -",
}


def _rule(kind: str, msg: str, ctx: dict | None) -> str:
    """What is allowed, in the scenario's own terms (never pydantic's wording)."""
    rule = _allowed(ctx, kind)
    if rule:
        return rule
    if kind in _PLAIN:
        return _PLAIN[kind].format(**(ctx or {}))
    text = msg.removeprefix("Input should be ").removeprefix("Value error, ")
    return "must be " + text if msg.startswith("Input should be") else text[0].lower() + text[1:]


def format_errors(err: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem, each starting with ``prefix`` (e.g. the sweep point)."""
    lines = []
    for e in err.errors(include_url=False):
        path = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-after")) or "scenario"
        kind, msg, value = e["type"], e["msg"], e.get("input")
        if kind == "value_error":
            # our own cross-field checks name their fields from their section on; a check of a
            # table inside a list or table of tables (an arm, a course) gets its place in front
            where = [str(p) for p in e["loc"] if not str(p).startswith("function-after")]
            for line in msg.removeprefix("Value error, ").split("\n"):
                lines.append(line if not where or line.startswith(where[0] + ".") or line.startswith(where[0] + ":")
                             else ".".join(where) + "." + line)
        elif kind == "extra_forbidden":
            lines.append(_unknown_field_line(path))
        elif kind == "missing":
            lines.append(f"{path}: missing; this field is required")
        elif kind in ("too_short", "too_long") and isinstance(value, dict):    # a table of tables (arms)
            ctx = e.get("ctx") or {}
            rule = f"at least {ctx['min_length']}" if kind == "too_short" else f"at most {ctx['max_length']}"
            lines.append(f"{path}: got {_tables(len(value))} ({', '.join(value) or 'none'}); must have {rule} "
                         f"[{path}.<id>] tables")
        else:
            lines.append(f"{path}: got {show(value)}; {_rule(kind, msg, e.get('ctx'))}")
    return [prefix + line for line in lines]


def show(value: Any) -> str:
    """A value as the scenario file writes it (TOML: true, [1, 2], "text")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _tables(n: int) -> str:
    return f"{n} table" + ("" if n == 1 else "s")


def _unknown_field_line(path: str) -> str:
    parts = path.split(".")
    model: Any = Scenario
    skip = False                      # the part after a table of tables (arms) or a list (courses)
    for p in parts[:-1]:
        if skip:
            skip = False
            continue
        field = model.model_fields.get(p) if isinstance(model, type) and issubclass(model, BaseModel) else None
        model = field.annotation if field else None
        if typing.get_origin(model) in (typing.Union, types.UnionType):   # an optional section: X | None
            model = next((a for a in typing.get_args(model) if a is not type(None)), None)
        if typing.get_origin(model) in (dict, tuple, list):
            args = [a for a in typing.get_args(model) if a is not Ellipsis]
            model, skip = (args[-1] if args else None), True
    allowed = sorted(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    hint = difflib.get_close_matches(parts[-1], allowed, n=1)
    tip = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"{path}: unknown field{tip}; allowed here: {', '.join(allowed)}"
