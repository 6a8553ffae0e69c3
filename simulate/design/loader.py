"""Loading scenarios: TOML and ``--set`` overrides in, a validated and frozen Scenario out.

This module sits above the scenario models (:mod:`simulate.design.scenario`) and the models that can
see contradictions the field validators cannot (the outcome model's calibration, the screen's
pass probability). Everything is checked here, once: past :func:`load_scenario` (or
:func:`scenario_from_dict`, :func:`with_overrides`) no simulation raises a user's error.

Every problem is one line naming the field path, the value received and what is allowed.
"""

from __future__ import annotations

import copy
import itertools
import logging
import pickle
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulate.design import parameters
from simulate.screening import feasibility
from simulate.errors import ScenarioError
from simulate.design.messages import format_errors, show
from simulate.design.scenario import Scenario

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` -> (["a", "b", "c"], value). The value is read as a TOML value
    (``0.6``, ``true``, ``[1, 2]``, ``"x"``), or as a bare string if it is not one."""
    if "=" not in text:
        raise ScenarioError(f"--set {text!r}: expected path=value, e.g. trial.n_per_arm=70")
    path, raw = text.split("=", 1)
    path, raw = path.strip(), raw.strip()
    keys = path.split(".")
    if not path or any(not k.strip() for k in keys):
        raise ScenarioError(f"--set {text!r}: the path before '=' must be dotted names, e.g. dropout.mechanism")
    if raw == "":
        raise ScenarioError(f"--set {text!r}: no value after '='")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return keys, value


def _apply(data: dict, keys: list[str], value: Any, label: str) -> None:
    node = data
    for k in keys[:-1]:
        if node.get(k, 0) is None:            # an optional section left out ([interim], [observed])
            node[k] = {}
        nxt = node.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise ScenarioError(f"{label}: '{k}' is a value, not a section")
        node = nxt
    node[keys[-1]] = value


def _tuples(value: Any) -> Any:
    """TOML arrays arrive as lists; the frozen models hold tuples (strict validation)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- validation


_MOVED = {
    ("trial", "allocation_ratio"): "replaced by each arm's allocation (e.g. arms.rtx.allocation = 1)",
    ("outcome", "relapse_hazard_per_month"): "now each arm's own: arms.<id>.relapse_hazard_per_month",
    ("outcome", "relapse_hazard_multiplier_after_csa"):
        "replaced by each arm's hazard once off a CNI: arms.<id>.relapse_hazard_off_cni_per_month",
}
_MOVED_ARM = {
    "csa_course_months": "replaced by the arm's courses: a course with drug_class = \"cni\" and its months",
    "rtx_dose_days": "replaced by the arm's courses: a course with drug_class = \"anti_cd20\" and its dose_days",
}


def _moved_fields(data: dict) -> list[str]:
    """Lines for fields of earlier versions of the format, saying where they went."""
    lines = [f"{sec}.{key}: {why}" for (sec, key), why in _MOVED.items()
             if isinstance(data.get(sec), dict) and key in data[sec]]
    arms = data.get("arms")
    if isinstance(arms, dict):
        lines += [f"arms.{arm}.{key}: {why}" for arm, table in arms.items() if isinstance(table, dict)
                  for key, why in _MOVED_ARM.items() if key in table]
    return lines


def _validate(data: dict, prefix: str = "") -> Scenario:
    """The models' validation, then what only the models can see (one line per problem)."""
    moved = _moved_fields(data)
    if moved:
        raise ScenarioError([prefix + line for line in moved])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(format_errors(err, prefix)) from None
    problems = feasibility_problems(scenario)
    if problems:
        raise ScenarioError([prefix + p for p in problems])
    return scenario


def feasibility_problems(scenario: Scenario) -> list[str]:
    """One line per contradiction the outcome model or the screen can see (empty if none).

    The closed-form bounds of :mod:`simulate.screening.feasibility` decide most scenarios at once; only a
    scenario near a limit needs the exact values (and scipy)."""
    out: list[str] = []
    if any(parameters.remission_target(scenario, name) > feasibility.remission_lower_bound(scenario, name)
           or scenario.arm(name).design_prior is not None for name in scenario.arm_names):
        from simulate.population.outcomes import check_outcome_model

        out.extend(check_outcome_model(scenario))
    if scenario.interim is not None and scenario.interim.looks > 1:
        from simulate.analysis.interim import design_for

        try:
            design_for(scenario)
        except ValueError as err:               # e.g. no design effect gives beta-spending bounds
            out.append(f"interim: the group-sequential design cannot be built: {err}")
    if feasibility.screen_lower_bound(scenario.cohort, scenario.eligibility) < feasibility.MIN_CANDIDATE_PROBABILITY:
        from simulate.screening.probabilities import pass_probabilities

        p = pass_probabilities(scenario.cohort, scenario.eligibility).candidate
        if p < feasibility.MIN_CANDIDATE_PROBABILITY:
            out.append(
                f"eligibility: only {100 * p:.3g}% of the scenario's referred cohort pass the screen "
                f"(at least {100 * feasibility.MIN_CANDIDATE_PROBABILITY:g}% needed); the cohort and the "
                "eligibility thresholds contradict each other"
            )
    return out


def _check_sweep(scenario: Scenario, data: dict) -> None:
    """Each value of each axis, then every grid point (values valid alone may clash together,
    e.g. an earlier endpoint with a visit schedule that lacks it)."""
    problems = []
    base = {k: v for k, v in data.items() if k != "sweep"}
    for axis in scenario.sweep:
        path, values = axis.path, axis.values
        if not values:
            problems.append(f"sweep.{path}: got []; give at least one value")
        for value in values:
            point = _copied(base)
            label = f"sweep.{path} = {show(value)}: "
            try:
                _apply(point, path.split("."), value, f"sweep.{path}")
                _validate(point, label)
            except ScenarioError as err:
                problems.extend(p if p.startswith(label) else label + p for p in err.problems)
    if problems:
        raise ScenarioError(_unique(problems) + [SWEEP_HINT])
    for combination in itertools.product(*(axis.values for axis in scenario.sweep)):
        if len(combination) < 2:
            break
        point = _copied(base)
        for axis, value in zip(scenario.sweep, combination):
            _apply(point, axis.path.split("."), value, f"sweep.{axis.path}")
        label = "sweep point " + ", ".join(f"{a.path} = {show(v)}" for a, v in zip(scenario.sweep, combination)) + ": "
        try:
            _validate(point, label)
        except ScenarioError as err:
            problems.extend(err.problems)
    if problems:
        raise ScenarioError(_unique(problems) + [SWEEP_HINT])


def _copied(data: dict) -> dict:
    """A copy of a scenario's data (nested dicts, lists, tuples and scalars, as read from TOML)
    for one sweep point to change: pickle's round trip, the same copy as ``copy.deepcopy``'s
    for such data at a fraction of its cost (a grid of 48 points is copied 59 times)."""
    return pickle.loads(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))


SWEEP_HINT = ("sweep: the scenario's [sweep] grid no longer fits the design; give it one that does, e.g. "
              "--set 'sweep={\"trial.n_per_arm\" = [40, 60]}', or none with --set 'sweep={}'")


def _unique(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))


def scenario_from_dict(data: dict, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Validate a plain dict (as read from TOML) plus ``path=value`` overrides."""
    data = _tuples(copy.deepcopy(data))
    for text in overrides:
        keys, value = parse_override(text)
        _apply(data, keys, _tuples(value), f"--set {'.'.join(keys)}")
    scenario = _validate(data)
    _check_sweep(scenario, data)
    return scenario


def with_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """A new scenario with dotted-path values replaced (sweep points, sample-size candidates),
    validated again like a file."""
    data = scenario.model_dump(mode="python")
    data.pop("sweep", None)
    for path, value in overrides.items():
        _apply(data, path.split("."), _tuples(value), path)
    return _validate(data)


# --------------------------------------------------------------------------- files

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "scenarios"
"""The scenarios shipped with trialsim (package data: the repository's scenarios/ folder)."""
FILE_DEFAULTS = {"name": "the file's stem"}
"""Fields a scenario file may leave out although the model requires them, and what they take."""



def shipped_scenarios() -> dict[str, Path]:
    """Name -> file of every shipped scenario, in name order."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.toml"))}


def value_at(tree: dict, path: str):
    """The value at a dotted path (``arms.rtx.remission_at_endpoint``) of a dumped scenario, or
    None where the path leads nowhere."""
    for part in path.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def scenario_description(path: Path) -> str:
    """A scenario file's one-line description, read without validating it ('' if none)."""
    try:
        value = tomllib.loads(path.read_text(encoding="utf-8-sig")).get("description", "")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    return value if isinstance(value, str) else ""


def _kind_of(p: Path) -> str:
    """What a path that is not a regular file is, in a user's words."""
    if p.is_dir():
        return "a folder"
    if p.is_symlink() and not p.exists():
        return "a link to nothing"
    return "not a regular file"


def locate_scenario(path: str | Path) -> tuple[Path, str | None]:
    """The scenario file a command means, and a note if something in the way was passed over.

    A path that is a file is that file. A bare name (no folder: ``nct04743739``, with or without
    ``.toml``) that is not a file here is the shipped scenario of that name; if a folder (or
    anything else that is not a file) of that name is here, the note says it was passed over
    for the shipped scenario, so it never hides the shipped one silently."""
    p = Path(path)
    try:
        is_file = p.is_file()
        here = is_file or p.exists() or p.is_symlink()
        kind = "" if is_file or not here else _kind_of(p)
    except OSError as err:                     # a folder on the way that may not be looked into
        raise ScenarioError(f"{p}: cannot be read ({err.strerror or err})") from None
    if is_file:
        return p, None
    shipped = shipped_scenarios()
    name = p.name.removesuffix(".toml")
    if p.parent == Path(".") and name in shipped:
        note = None if not here else (f"./{p} is {kind}, not a scenario file; using the shipped scenario "
                                      f"'{name}' ({shipped[name]})")
        return shipped[name], note
    if here:
        raise ScenarioError(f"{p}: is {kind}, not a scenario file"
                            + (", and no shipped scenario has that name" if p.parent == Path(".") else ""))
    if p.parent != Path("."):
        return p, None                         # _read_toml says it is not found
    raise ScenarioError(f"{p}: scenario file not found, and no shipped scenario has that name "
                        f"(shipped: {', '.join(shipped)}; see `trialsim scenarios`)")


def resolve_scenario(path: str | Path) -> Path:
    """A scenario given by path, or by the name of a shipped scenario (``nct04743739``, with or
    without ``.toml``) when no such file exists here (:func:`locate_scenario`)."""
    found, note = locate_scenario(path)
    if note:
        log.info("%s", note)
    return found


def locate_base(scenario_file: Path, base: str) -> Path | None:
    """The file a ``base = "..."`` of ``scenario_file`` names: a file of that name relative to
    the scenario file if there is one, else the shipped scenario of that name (with or without
    ``.toml``), else None."""
    beside = Path(scenario_file).parent / base
    try:
        if beside.is_file():
            return beside
    except OSError:
        pass
    if Path(base).parent != Path("."):
        return None                            # a path, not a name: only the file itself
    return shipped_scenarios().get(Path(base).name.removesuffix(".toml"))


def top_level_line(text: str, key: str) -> int | None:
    """The line number (from 1) of a top-level ``key = ...`` in a TOML text, or None."""
    pattern = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("["):
            return None                        # past the top-level keys
        if pattern.match(line):
            return number
    return None


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, merge ``--set`` overrides into, and validate a scenario file (a path, or the name
    of a shipped scenario).

    ``name`` defaults to the file's stem. Raises :class:`ScenarioError` with one line per problem.
    """
    return scenario_from_dict(read_scenario_data(path), overrides)


def read_scenario_data(path: str | Path) -> dict:
    """A scenario file (a path, or the name of a shipped scenario) as the plain dict
    :func:`scenario_from_dict` validates: its ``base`` merged in, ``name`` defaulted to the
    file's stem. Raises :class:`ScenarioError` if it cannot be read."""
    p = resolve_scenario(path)
    data = _read_with_base(p, seen=())
    data.setdefault("name", p.stem)          # FILE_DEFAULTS
    return data


def _read_toml(p: Path) -> dict:
    return _read_toml_text(p)[0]


def _read_toml_text(p: Path) -> tuple[dict, str]:
    try:
        if not p.is_file():
            what = "is a folder, not a scenario file" if p.is_dir() else "scenario file not found"
            raise ScenarioError(f"{p}: {what}")
        raw = p.read_bytes()
    except OSError as err:
        raise ScenarioError(f"{p}: cannot be read ({err.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")          # a byte-order mark is allowed
    except UnicodeDecodeError:
        raise ScenarioError(f"{p}: not a UTF-8 text file") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{p}: malformed TOML: {err}") from None


def _read_with_base(p: Path, seen: tuple[Path, ...]) -> dict:
    """Read a scenario; a top-level ``base = "..."`` is read first and this file's values are
    merged over it, section by section (an arm over the base's arm of the same id). The base is
    a file relative to this one if there is one, else a shipped scenario of that name
    (``base = "nct04743739"``), so a copy of a shipped scenario works in any folder.
    ``replace = ["arms", "observed"]`` names sections of the base this file replaces whole (a
    trial with other arms); a [sweep] always replaces the base's."""
    data, text = _read_toml_text(p)
    base = data.pop("base", None)
    if base is None:
        if "replace" in data:
            raise ScenarioError(f"{p}: replace: got {data['replace']!r}; it names sections of a base scenario to "
                                "replace, so it needs base = \"nct04743739\" (a file or a shipped scenario)")
        return data
    line = top_level_line(text, "base")
    where = f"base = {base!r} ({p}" + (f" line {line})" if line else ")")
    if not isinstance(base, str) or not base:
        raise ScenarioError(f"{where}: must be a scenario file relative to this one or the name of a shipped "
                            "scenario, such as \"nct04743739\"")
    found = locate_base(p, base)
    if found is None:
        raise ScenarioError(f"{where}: no such file or shipped scenario; allowed: a file relative to "
                            f"{p.parent}/, or a shipped scenario: {', '.join(shipped_scenarios())}")
    base_path = found.resolve()
    if base_path in seen or base_path == p.resolve():
        raise ScenarioError(f"{where}: includes itself")
    replace = data.pop("replace", [])
    sections = sorted(Scenario.model_fields)
    if not isinstance(replace, list) or any(not isinstance(r, str) or r not in sections for r in replace):
        raise ScenarioError(f"{p}: replace: got {replace!r}; must be a list of sections of the base to replace "
                            f"whole rather than merge over, from: {', '.join(sections)}")
    merged = _read_with_base(base_path, seen + (p.resolve(),))
    merged.pop("name", None)
    merged.pop("description", None)
    for section in {*replace, *(["sweep"] if "sweep" in data else [])}:
        merged.pop(section, None)
    return _merge(merged, data)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
