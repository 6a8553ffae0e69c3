"""The public API's arguments: the allowed range of every number a command takes (the CLI's
options read the same bounds, so the two cannot differ), scenario overrides given as Python
values, and where a loaded scenario came from (its file and its ``--set`` texts, which name a
run's default folder and the command that reproduces it)."""

from __future__ import annotations

import math
import numbers
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulate.errors import ScenarioError, UsageError

if TYPE_CHECKING:
    from simulate.design.scenario import Scenario

BOUNDS: dict[str, tuple[float, float]] = {
    "replicates": (1, 100_000_000),
    "seed": (0, 2**63 - 1),
    "jobs": (1, 512),
    "n_per_arm": (1, 100_000),
    "n": (1, 20_000_000),
    "window": (0, 200),
    "n_max": (2, 100_000),
    "precision": (1, 100),
    "target": (0.01, 0.999),
    "target_assurance": (0.01, 0.999),
    "target_type1": (0.0001, 0.5),
    "port": (1, 65535),
}
"""Every numeric argument's allowed range (inclusive), by its keyword; the CLI option of the
same name (``n_per_arm`` is ``--n-per-arm``) takes the same range."""

FLOATS = frozenset({"target", "target_assurance", "target_type1"})
"""The arguments of ``BOUNDS`` that are real numbers; the others are integers."""


def option(name: str) -> str:
    """The CLI's name of an argument: ``n_per_arm`` -> ``--n-per-arm``, ``target_type1`` ->
    ``--target-type1``."""
    return "--" + name.replace("_", "-")


def checked(name: str, value: Any) -> Any:
    """``value`` if it lies in ``name``'s range (None passes: the scenario's own value), else a
    ``UsageError`` naming the option, the value and what is allowed."""
    if value is None:
        return None
    low, high = BOUNDS[name]
    real = name in FLOATS
    kind = "a number" if real else "a whole number"
    # numpy's numbers count (a value read from a frame's column), booleans do not
    ok = isinstance(value, numbers.Real if real else numbers.Integral) and not isinstance(value, bool)
    if ok and real:
        ok = math.isfinite(value)
    if not ok or not low <= value <= high:
        shown = f"{low:g} to {high:g}" if real else f"{low:,} to {high:,}"
        raise UsageError(f"{option(name)}: got {value!r}; allowed: {kind} from {shown}")
    return float(value) if real else int(value)


def chosen(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else a one-line ``UsageError``."""
    if value not in allowed:
        raise UsageError(f"{option(name)}: got {value!r}; allowed: {', '.join(allowed)}")
    return value


# ----------------------------------------------------------------------------- overrides


def toml_value(value: Any, path: str) -> str:
    """A Python value as the TOML text a ``--set PATH=VALUE`` gives it: numbers, booleans,
    strings, lists and (inline) tables. A value TOML cannot hold is a one-line error."""
    import tomli_w

    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v, f'{path}.{k}')}" for k, v in value.items()) + " }"
    if getattr(value, "ndim", 0) and hasattr(value, "tolist"):        # a numpy array: its values
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v, path) for v in value) + "]"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):       # a numpy scalar
        value = value.item()
    if value is None or not isinstance(value, (bool, int, float, str)):
        raise ScenarioError(f"--set {path}: got {value!r}; allowed: a number, true/false, a string, a list or a "
                            "table ({} empties an optional section)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(f"--set {path}: got {value!r}; allowed: a finite number")
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _key(key: Any) -> str:
    text = str(key)
    return text if text.replace("_", "").replace("-", "").isalnum() else '"' + text.replace('"', '\\"') + '"'


def set_texts(settings: tuple[Any, ...], overrides: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``--set`` texts of ``simulate.load_scenario``'s arguments, in order: each
    positional ``"path=value"`` string or ``{path: value}`` mapping, then the keywords."""
    texts: list[str] = []
    for item in settings:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, Mapping):
            texts += [f"{path}={toml_value(value, path)}" for path, value in item.items()]
        else:
            raise ScenarioError(f"overrides: got {item!r}; allowed: 'path=value' strings or a {{path: value}} dict")
    texts += [f"{path}={toml_value(value, path)}" for path, value in overrides.items()]
    return tuple(texts)


# ----------------------------------------------------------------------------- where a scenario came from

_ORIGINS: dict[int, tuple[weakref.ref, Path, tuple[str, ...]]] = {}


def remember(scenario: Scenario, path: Path, sets: tuple[str, ...]) -> Scenario:
    """Note that ``scenario`` was read from ``path`` with the ``--set`` texts ``sets``."""
    key = id(scenario)

    def forget(_: weakref.ref) -> None:         # the scenario is gone: its id may be reused
        _ORIGINS.pop(key, None)

    _ORIGINS[key] = (weakref.ref(scenario, forget), path, sets)
    return scenario


def origin(scenario: Scenario) -> tuple[Path | None, tuple[str, ...]]:
    """The file and ``--set`` texts ``scenario`` was loaded from (``(None, ())`` for a scenario
    built otherwise, e.g. by ``model_copy``)."""
    entry = _ORIGINS.get(id(scenario))
    if entry is None or entry[0]() is not scenario:
        return None, ()
    return entry[1], entry[2]
