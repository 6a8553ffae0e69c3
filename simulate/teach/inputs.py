"""The teaching lab's inputs: each one a ``--set`` override of the scenario file, validated by the
loader as ``trialsim`` validates a file and its overrides, with each problem shown under the
input it is about; the command line that gives the same answer; and the design exported as a
scenario file.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any


from simulate.design import loader
from simulate.design import scenario as sc
from simulate.design.assumed import primary_arm
from simulate.design.choices import IMPUTATION_STRATEGIES
from simulate.errors import ScenarioError
from simulate.teach.lab import plan_problems


INPUTS: dict[str, str] = {
    "n_per_arm": "trial.n_per_arm",
    "remission_control": "arms.{control}.remission_at_endpoint",
    "remission_experimental": "arms.{experimental}.remission_at_endpoint",
    "dropout": "dropout.probability_by_endpoint",
    "dropout_mechanism": "dropout.mechanism",
    "mar_hazard_ratio": "dropout.mar_hazard_ratio_not_in_remission",
    "mnar_hazard_ratio": "dropout.informative_hazard_ratio",
    "hypothesis": "analysis.hypothesis",
    "margin": "analysis.margin",
    "alternative": "analysis.alternative",
    "test": "analysis.test",
    "adjust": "analysis.adjustment",
    "missing": "analysis.missing",
    "imputations": "analysis.imputations",
    "alpha": "analysis.alpha",
    "rate_per_site_month": "recruitment.rate_per_site_month",
    "sure_control": "arms.{control}.design_prior",
    "sure_experimental": "arms.{experimental}.design_prior",
    "replicates": "simulation.replicates",
    "seed": "simulation.seed",
}
"""The lab's inputs (element ids) and the scenario field each sets ({control}: the control arm's
id; {experimental}: the experimental arm the closed forms speak of, :func:`primary_arm`)."""

ADJUST_FOR = ("log2(pla2r_titre_ru_ml)", "proteinuria_g_day")
"""What the switch "Adjust for baseline covariates" adjusts for: the covariates of the outcome
model (``adjust`` on: g-computation over them, the registered analysis ``g_computation``; the
test input is then not used)."""
PRIOR_INPUTS = {"sure_control": "remission_control", "sure_experimental": "remission_experimental"}
"""How sure the class is of each assumed rate, as patients' worth (0: taken as known): the arm's
design prior is then Beta(rate x N, (1 - rate) x N), centred on the rate input beside it."""

USED_WITH: dict[str, tuple[str, tuple[str, ...]]] = {
    "mar_hazard_ratio": ("dropout_mechanism", ("mar",)),
    "mnar_hazard_ratio": ("dropout_mechanism", ("mnar",)),
    "imputations": ("missing", IMPUTATION_STRATEGIES),
    "margin": ("hypothesis", ("non_inferiority",)),
}
"""The inputs used only with some values of another (the page shows them only then): input id ->
(the input it depends on, the values that use it). With any other value the field is left at its
default, as a file that leaves it out has it (the loader refuses a MAR hazard ratio with another
mechanism: "set the mechanism to mar or leave the ratio out")."""


def field_paths(scenario: sc.Scenario) -> dict[str, str]:
    """Input id -> the dotted scenario path it sets, with the scenario's arm ids."""
    arms = {"control": scenario.control_arm, "experimental": primary_arm(scenario)}
    return {key: path.format(**arms) for key, path in INPUTS.items()}


def input_values(scenario: sc.Scenario) -> dict[str, Any]:
    """Each input's value in the scenario (where the lab starts)."""
    dumped = scenario.model_dump(mode="json")
    out = {key: loader.value_at(dumped, path) for key, path in field_paths(scenario).items()}
    for key in PRIOR_INPUTS:
        out[key] = _worth(out[key])
    out["adjust"] = out["adjust"] != "none"
    if out["adjust"]:                            # the test box offers unadjusted tests only
        from simulate.run.adjustment_gain import unadjusted_test

        out["test"] = unadjusted_test(scenario)
    return out


def _worth(prior: dict | None) -> int:
    """A design prior as patients' worth: a + b (a mixture's, weighted); 0 without one."""
    if not prior:
        return 0
    if prior.get("beta"):
        return int(round(sum(prior["beta"])))
    return int(round(sum(w * (a + b) for w, a, b in prior.get("mixture") or ())))


def _prior_text(path: str, worth: Any, rate: Any) -> str | None:
    """``arms.<id>.design_prior={ beta = [a, b] }`` for ``worth`` patients around ``rate``; None
    for 0 (the rate taken as known) or a rate that is no number (its own box says so)."""
    worth = _number(worth) if isinstance(worth, str) else worth
    if not _is_number(worth):
        return f"{path}={str(worth).strip() or chr(39) * 2}"
    rate = _number(rate) if isinstance(rate, str) else rate
    if worth == 0 or not _is_number(rate):
        return None
    return f"{path}={{ beta = [{round(rate * worth, 6):g}, {round((1 - rate) * worth, 6):g}] }}"


CHECKED_WITH = {**{key: other for key, (other, _) in USED_WITH.items()}, "missing": "test", "test": "missing"}
"""Input id -> the input it is checked with when it is refused alone: the one it is used with
(:data:`USED_WITH`), and the missing-data method and the test each other's (an imputation
needs a test that combines imputed data sets); a line the other input's value alone gives is
that input's."""


def field_default(path: str) -> Any:
    """The default of the scenario field at a dotted path through its tables
    (``dropout.informative_hazard_ratio`` -> 2.0): what a file that leaves it out has."""
    model: Any = sc.Scenario
    *tables, name = path.split(".")
    for table in tables:
        model = model.model_fields[table].annotation
    return model.model_fields[name].default


def applies(key: str, values: dict[str, Any], start: dict[str, Any]) -> bool:
    """Whether input ``key`` is used with these ``values`` (:data:`USED_WITH`; an input not
    among ``values`` has its value in the scenario file, ``start``)."""
    if key not in USED_WITH:
        return True
    other, used = USED_WITH[key]
    return values.get(other, start[other]) in used


def override_text(path: str, value: Any) -> str:
    """``path=value`` as it would be given to ``--set``. An empty box gives ``path=''`` (the
    empty text, which the loader refuses as it refuses any text where a number belongs)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"{path}=''"
    if isinstance(value, bool):
        return f"{path}={'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"{path}={value!r}"
    return f"{path}={str(value).strip()}"


def overrides(scenario: sc.Scenario, values: dict[str, Any]) -> dict[str, str]:
    """Input id -> its ``--set`` text, for the inputs given. A number box's text is read as a
    number where it is one (anything else goes to the loader as typed, so that it answers as
    it answers ``--set``); a whole number in a box whose field holds a decimal (6 for 6.0) is
    written as the decimal."""
    paths, start = field_paths(scenario), input_values(scenario)
    out = {}
    for key, value in values.items():
        if key not in paths:
            continue
        if key == "adjust":
            continue                               # below, with the test it replaces
        if key in PRIOR_INPUTS:                    # unchanged: the file's own prior (a mixture stays one)
            rate = values.get(PRIOR_INPUTS[key], start[PRIOR_INPUTS[key]])
            if _number(str(value)) == start[key] and _number(str(rate)) == start[PRIOR_INPUTS[key]]:
                continue
            text = _prior_text(paths[key], value, rate)
            if text is not None:
                out[key] = text
            continue
        if not applies(key, values, start):          # hidden in the page: the file leaves it out
            value = field_default(paths[key])
        if _is_number(start[key]) and isinstance(value, str):
            value = _number(value)
        if isinstance(start[key], float) and _is_number(value) and isinstance(value, int):
            value = float(value)
        out[key] = override_text(paths[key], value)
    _adjustment(out, values.get("adjust", start["adjust"]), start["adjust"], paths["adjust"])
    return out


def _adjustment(out: dict[str, str], on: Any, was_on: bool, path: str) -> None:
    """The switch "Adjust for baseline covariates". Left as the file has it, nothing changes (a
    file's own adjustment stays as it is; the test input is then unused). Turned on, g-computation
    over :data:`ADJUST_FOR`; turned off in a file that adjusts, no adjustment and the test input's
    test."""
    on = on is True or on == "true"
    if on and was_on:
        out.pop("test", None)
    elif on:
        out["adjust"] = f'{path}="g_computation"'
        out["test"] = 'analysis.test="g_computation"'
        out["adjust_for"] = "analysis.adjust_for=[" + ", ".join(f'"{c}"' for c in ADJUST_FOR) + "]"
    elif was_on:
        out["adjust"] = f'{path}="none"'
        out["adjust_for"] = "analysis.adjust_for=[]"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(text: str) -> int | float | str:
    """The number a box's text spells (``'63'``, ``'0.6'``, ``'1e3'``), else the text itself."""
    for kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class Checked:
    """The lab's inputs validated by the loader, as ``trialsim`` validates ``--set`` overrides."""

    scenario: sc.Scenario | None
    """The validated design (None if any input is rejected)."""
    overrides: tuple[str, ...]
    """The ``--set`` texts of the inputs, in :data:`INPUTS` order."""
    problems: dict[str, tuple[str, ...]]
    """Input id -> the command line's error lines for it (``error: ...``), only inputs with one."""
    other: tuple[str, ...] = ()
    """Error lines that belong to no single input (values that clash together)."""
    changed: tuple[str, ...] = ()
    """The ``--set`` texts of the inputs that differ from the scenario file's values."""

    @property
    def ok(self) -> bool:
        return self.scenario is not None


def check(data: dict, base: sc.Scenario, values: dict[str, Any]) -> Checked:
    """Validate the inputs as ``--set`` overrides of the scenario file read as ``data``
    (:func:`simulate.design.loader.read_scenario_data`; ``base`` is its validated form) by
    :func:`simulate.design.loader.scenario_from_dict`, as ``trialsim`` validates a file and its
    overrides. A rejected design is checked input by input too, so each message sits beside the
    input it is about; what only the inputs together contradict is left in ``other``."""
    texts = overrides(base, values)
    keys = (*INPUTS, "adjust_for")                   # adjust_for: set with the switch (:func:`_adjustment`)
    ordered = tuple(texts[k] for k in keys if k in texts)
    start = overrides(base, input_values(base))
    changed = tuple(texts[k] for k in keys if k in texts and texts[k] != start.get(k))
    try:
        design = loader.scenario_from_dict(data, ordered)
    except ScenarioError as err:
        together = err.problems
    else:
        too_big = plan_problems(design, base, values)
        if too_big:
            return Checked(None, ordered, too_big, changed=changed)
        return Checked(design, ordered, {}, changed=changed)
    problems: dict[str, tuple[str, ...]] = {}
    for key, text in texts.items():
        lines = _alone(data, (text,))
        if key in CHECKED_WITH and lines:            # checked with the input it goes with
            other = texts.get(CHECKED_WITH[key])
            if other is not None:
                lines = tuple(line for line in _alone(data, (other, text)) if line not in _alone(data, (other,)))
        if lines:
            problems[key] = lines
    _owned(problems, field_paths(base), {f"error: {line}" for line in together})
    seen = {line for lines in problems.values() for line in lines}
    paths = field_paths(base)
    other = []
    for line in together:
        shown = f"error: {line}"
        if shown in seen:
            continue
        key = next((k for k, p in paths.items() if line.startswith((f"{p}:", f"--set '{p}="))), None)
        if key is None:
            other.append(shown)
        else:
            problems[key] = problems.get(key, ()) + (shown,)
    return Checked(None, ordered, problems, tuple(other), changed)


def _owned(problems: dict[str, tuple[str, ...]], paths: dict[str, str], together: set[str]) -> None:
    """A line an input gets when checked alone that is about another input's field (the
    hypothesis alone, with the file's margin of 0, gives the margin's line) is a clash of the
    two: it goes under both if the inputs together still give it, and is dropped if they do not
    (the margin box already holds a margin)."""
    for key in list(problems):
        kept = []
        for line in problems[key]:
            other = next((k for k, p in paths.items() if k != key and line.startswith(f"error: {p}:")), None)
            if other is None or paths[key] == paths[other]:
                kept.append(line)
            elif line in together:
                kept.append(line)
                if line not in problems.get(other, ()):
                    problems[other] = problems.get(other, ()) + (line,)
        if kept:
            problems[key] = tuple(kept)
        else:
            del problems[key]


def _alone(data: dict, texts: tuple[str, ...]) -> tuple[str, ...]:
    """The error lines of the scenario file with just these overrides (none if it is valid)."""
    try:
        loader.scenario_from_dict(data, texts)
    except ScenarioError as err:
        return tuple(f"error: {line}" for line in err.problems)
    return ()


def command(scenario_arg: str, checked: Checked, what: str = "power") -> str:
    """The command line that gives the same answer, e.g. ``trialsim power nct04743739 --set
    trial.n_per_arm=50``: the inputs changed from the scenario file, as ``--set`` overrides."""
    sets = (f"--set {shlex.quote(t)}" for t in checked.changed)
    return " ".join(["trialsim", what, shlex.quote(scenario_arg), *sets])


def _without_none(value: Any) -> Any:
    """``value`` with every None left out of its tables (TOML has no null: an absent optional
    field reads back as None)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def to_toml(scenario: sc.Scenario, header: str = "") -> str:
    """The scenario as a self-contained TOML file (written by tomli_w) that ``trialsim
    validate`` accepts and :func:`simulate.design.loader.load_scenario` reads back as the same
    scenario; ``header`` becomes its opening comment."""
    import tomli_w

    data = _without_none(scenario.model_dump(mode="json"))
    sweep = data.pop("sweep", [])
    if sweep:                                   # written as the file gives it: dotted path -> values
        data["sweep"] = {axis["path"]: axis["values"] for axis in sweep}
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + tomli_w.dumps(data)


EXPORT_SUFFIX = "-lab"
"""Added to an exported design's name, so that its results never land in the folder of the
scenario it came from."""


def export_design(scenario: sc.Scenario, changed: tuple[str, ...] = ()) -> sc.Scenario:
    """The design as the lab exports it: named ``<name>-lab``, its description saying what the
    lab changed (the ``--set`` texts ``changed``)."""
    name = scenario.name[: 80 - len(EXPORT_SUFFIX)] + EXPORT_SUFFIX
    described = scenario.description + (f" (changed in the teaching lab: {'; '.join(changed)})" if changed else "")
    return scenario.model_copy(update={"name": name, "description": described})


def export_name(scenario: sc.Scenario) -> str:
    """The file name of an exported design (:func:`export_design`)."""
    return f"{scenario.name}.toml"
