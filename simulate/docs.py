"""The scenario reference, generated from the models and the shipped scenario's comments.

``python -m simulate.docs`` prints a Markdown table of every scenario field: its dotted path,
default, meaning (the field's docstring) and, from ``scenarios/nct04743739.toml``, the value and
source used for the registered trial. The README's field reference is this output.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import tomllib
import typing
from functools import cache
from pathlib import Path

from pydantic import BaseModel

from simulate.loader import FILE_DEFAULTS
from simulate.scenario import Scenario
from simulate.sources import scenario_comments

DEFAULT = Path(__file__).resolve().parents[1] / "scenarios" / "nct04743739.toml"


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


def field_rows(model: type[BaseModel] = Scenario, prefix: str = "") -> list[tuple[str, str, str]]:
    rows = []
    docs = field_docstrings(model)
    for name, field in model.model_fields.items():
        ann = field.annotation
        path = f"{prefix}{name}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(field_rows(ann, path + "."))
            continue
        inner = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        if typing.get_origin(ann) is dict and inner:          # the arms: one table per arm
            rows.extend(field_rows(inner[-1], path + ".<arm>."))
            continue
        if typing.get_origin(ann) is tuple and inner:         # an arm's courses: a list of tables
            rows.append((path, "[]", docs.get(name, field.description or "").replace("\n", " ")))
            rows.extend(field_rows(inner[-1], path + "[]."))
            continue
        if path in FILE_DEFAULTS:
            default = FILE_DEFAULTS[path]
        else:
            default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        rows.append((path, default, docs.get(name, field.description or "").replace("\n", " ")))
    return rows


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

    lines = ["| field | default | meaning | NCT04743739 value and source |", "|---|---|---|---|"]
    for path, default, doc in field_rows():
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
            source = f"`{v}` {comments.get(path, '')}".strip() if v is not None else ""
        esc = lambda t: str(t).replace("|", "\\|")  # noqa: E731
        lines.append(f"| `{path}` | `{esc(default)}` | {esc(doc)} | {esc(source)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT) + "\n")
