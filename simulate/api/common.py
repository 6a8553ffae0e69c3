"""What the API's functions share: loading a scenario (with overrides as Python values), the
notes logger, the arguments' checks, planning the work before it starts, and claiming the
folder or file a function writes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulate.api import arguments as args
from simulate.design.choices import ENGINES
from simulate.errors import UsageError
from simulate.run.parallel import BACKENDS

if TYPE_CHECKING:
    from simulate.design.scenario import Scenario

notes = logging.getLogger("simulate.notes")
"""Where the API's notes go: warnings (``extra={"kind": "warning"}`` for a warning proper,
otherwise a note) and, at info, the plan of the work and the main job's progress."""





def load_scenario(scenario: str | Path, *settings: str | dict[str, Any], **overrides: Any) -> Scenario:
    """Read and validate a scenario: a TOML file, or the name of a shipped one.

    Overrides are given as ``--set`` texts (``"dropout.probability_by_endpoint=0.2"``), as a
    dict of dotted paths (``{"arms.rtx_csa.remission_at_endpoint": 0.8}``), or as keywords
    whose name is a path (``**{"trial.n_per_arm": 70}``); they apply in that order.

    Returns the frozen ``Scenario``. Raises
    ``ScenarioError``, one line per problem, naming the field, the value
    and what is allowed.

    >>> import simulate
    >>> sc = simulate.load_scenario("nct04743739", {"dropout.probability_by_endpoint": 0.2})
    >>> sc.dropout.probability_by_endpoint
    0.2
    """
    from simulate.design.loader import load_scenario as load, locate_scenario

    sets = args.set_texts(settings, overrides)
    found, note = locate_scenario(scenario)
    sc = load(found, sets)
    if note:
        notes.warning("%s", note)
    return args.remember(sc, Path(scenario), sets)


def shipped_scenarios() -> dict[str, str]:
    """The shipped scenarios: name -> its one-line description (give a name to any function)."""
    from simulate.design.loader import scenario_description, shipped_scenarios as shipped

    return {name: scenario_description(path) for name, path in shipped().items()}


def resolve(scenario: Scenario | str | Path, **changes: Any) -> Scenario:
    """A scenario given as a Scenario, a file or a shipped name, with ``changes`` (dotted paths
    -> values, None left out) applied."""
    from simulate.design.scenario import Scenario

    changes = {k: v for k, v in changes.items() if v is not None}
    if isinstance(scenario, Scenario):
        if not changes:
            return scenario
        from simulate.design.loader import with_overrides

        return with_overrides(scenario, changes)
    if not isinstance(scenario, (str, Path)):
        raise UsageError(f"scenario: got {type(scenario).__name__}; allowed: a Scenario, a scenario file or the name "
                         "of a shipped scenario")
    return load_scenario(scenario, changes)


# ----------------------------------------------------------------------------- planning


@contextlib.contextmanager
def planned(make_plan, max_memory: str | int | None, max_minutes: str | float | None) -> Iterator[None]:
    """Set the limits, plan the work and refuse what cannot fit (one line), all before anything
    is drawn; the plan is told at info level on ``simulate.notes``."""
    from simulate.run import plan

    with plan.limits(max_memory, max_minutes):
        budget, limit = plan.current_limits()
        p = plan.check(make_plan(), budget, limit)
        notes.info("plan: %s (memory budget %s)", p.describe(), plan.format_bytes(budget[0]))
        yield


def where_to_run(backend: str, jobs: int | None, scheduler: str | None):
    from simulate.run.parallel import Backend

    args.chosen("backend", backend, BACKENDS)
    return Backend(backend, args.checked("jobs", jobs), scheduler)


def common_args(replicates, seed, engine) -> tuple[int | None, int | None, str]:
    return args.checked("replicates", replicates), args.checked("seed", seed), args.chosen("engine", engine, ENGINES)


def warn_few(replicates: int, mc_se: float | None = None) -> None:
    """A warning when so few trials were simulated that the figures are rough."""
    from simulate.run.plan import FEW_REPLICATES

    if replicates < FEW_REPLICATES:
        from simulate.report.sentences.common import few_replicates_warning

        notes.warning("%s", few_replicates_warning(replicates, FEW_REPLICATES, mc_se), extra={"kind": "warning"})




def claim_folder(kind: str, sc: Scenario, out: str | Path | None, settings: dict, planned_files,
                 sub: str | None = None):
    """Before any work: the folder ``kind`` writes (``out``, else the default folder of
    ``simulate.run.folders.default_folder``) can be written and holds nothing it may not
    replace. Notes (another scenario content in results/<name>/, earlier results replaced) are
    warnings once every check has passed."""
    from simulate.io import check_writable
    from simulate.run.folders import claim, default_folder, overridden

    path, sets = args.origin(sc)
    if out is None:
        changed = overridden(path, sets, sc) if path is not None else _changed(sc)
        folder, note = default_folder(sc, changed, sub)
        where = f"--out not given: the default folder '{folder}'"
    else:
        folder, note, where = Path(out), None, f"--out: got '{out}'"
    check_writable(folder, "--out")
    taken = claim(folder, kind, sc, settings, planned_files, where, sets)
    for line in (note, taken.note):
        if line:
            notes.warning("%s", line)
    return taken


def _changed(sc: Scenario) -> bool:
    """A scenario not read from a file (e.g. ``model_copy``): changed unless it is the shipped
    scenario of its name."""
    from simulate.design.loader import load_scenario as load, shipped_scenarios as shipped
    from simulate.design.scenario import scenario_hash

    file = shipped().get(sc.name)
    return file is None or scenario_hash(load(file)) != scenario_hash(sc)


def out_file(out: str | Path) -> Path:
    """Before any work: ``out`` is a .csv file that can be written and is not one of a folder
    trialsim filled (a run's, a trial's, a sweep's)."""
    from simulate.io import check_writable
    from simulate.run.folders import refuse_run_file

    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise UsageError(f"--out: got '{out}'; must be a .csv file name")
    check_writable(out.parent, "--out", shown=out)
    return refuse_run_file(out, "--out")


