"""Where the report's numbers come from and how to make them again: the scenario's values with
their sources (the scenario file's comments, assumptions and ``--set`` overrides flagged), the
command that reproduces the run, its settings and the versions of the code, and the line under
the title (when the run was made and by which code).
"""

from __future__ import annotations

import platform
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

import simulate
from simulate.design import scenario as sc
from simulate.design.choices import DEFAULT_ENGINE
from simulate.design.loader import parse_override
from simulate.report.formatting import Table, _table, _value
from simulate.run.results import RunResults
from simulate.run.trial_results import ScenarioSource

MAIN_SECTIONS = ("trial", "arms", "outcome", "dropout", "analysis", "recruitment")
OTHER_SECTIONS = ("randomisation", "cohort", "eligibility", "definitions", "observed")
SHIPPED = Path(simulate.__file__).resolve().parents[1] / "scenarios"


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def _override_paths(overrides: tuple[str, ...]) -> set[str]:
    """The dotted paths that ``--set PATH=VALUE`` texts set."""
    return {".".join(parse_override(text)[0]) for text in overrides}


def _assumptions(scenario: sc.Scenario, source: ScenarioSource | None, overrides: tuple[str, ...]) -> dict:
    header, comments = (source.header, source.comments) if source is not None else ("", {})
    values = _flatten(scenario.model_dump(mode="json"))
    set_here = _override_paths(overrides)
    if source is None:
        intro = Markup("The scenario file was not given, so sources cannot be shown; they are the comments of the "
                       "scenario file.")
    else:
        intro = Markup("Values as simulated; sources are the comments of <code>{}</code>. Rows marked "
                       '<span class="badge">assumption</span> rest on an assumption rather than a published figure '
                       'or the registry; rows marked <span class="badge set">set</span> were overridden for this '
                       "run.").format(source.path)

    def overridden(key: str) -> bool:
        return any(key == path or key.startswith(path + ".") for path in set_here)

    def table(sections: tuple[str, ...], caption: str) -> tuple[Table, int, int]:
        rows, classes, n_assumed = [], [], 0
        for key, v in values.items():
            if key.split(".", 1)[0] not in sections:
                continue
            note = comments.get(key, "")
            assumed = "[assumption" in note.lower()
            is_set = overridden(key)
            flag = Markup("".join(b for b, on in (('<span class="badge set">set</span>', is_set),
                                                   ('<span class="badge">assumption</span>', assumed)) if on))
            if is_set:
                note = f"set for this run with --set. {note}".strip()
            rows.append([key, _value(v), flag, note or "—"])
            classes.append("overridden" if is_set else "assumption" if assumed else "")
            n_assumed += assumed
        return _table(["Parameter", "Value", "Flag", "Source (scenario file comment)"], rows,
                      row_classes=classes, caption=caption), n_assumed, len(rows)

    main, k, n = table(MAIN_SECTIONS + (("interim",) if scenario.interim is not None else ()),
                       "Design and model values with their sources")
    rest, k2, n2 = table(OTHER_SECTIONS, "Randomisation, population, eligibility, definitions and the real trial")
    return {"intro": intro, "header": header,
            "count": f"{k} of these {n} design and model values are marked as assumptions." if comments else "",
            "main": main, "more": rest,
            "more_title": f"Randomisation, referred population, eligibility thresholds, remission definitions and "
                          f"the real trial ({n2} values, {k2} assumptions)"}


def _reproduce(results: RunResults) -> dict:
    scenario, seed, replicates, engine = results.scenario, results.seed, results.replicates, results.engine
    path = results.source.path if results.source is not None else None
    shown = path if path is not None else f"scenarios/{scenario.name}.toml"
    cmd = ["trialsim", "run", shown, "--seed", str(seed), "--replicates", str(replicates)]
    if engine != DEFAULT_ENGINE:
        cmd += ["--engine", engine]
    for text in results.overrides:
        cmd += ["--set", text]
    notes = []
    if path is None:
        notes.append("The scenario file was not recorded; use the file this scenario was loaded from.")
    if results.overrides:
        from simulate.run.folders import HASH_CHARS

        notes.append(f"Overrides that change the scenario send the command's results to results/{scenario.name}-"
                     f"{sc.scenario_hash(scenario)[:HASH_CHARS]}/ (the scenario hash's first {HASH_CHARS} "
                     f"characters) unless --out names a folder, never to the scenario file's own "
                     f"results/{scenario.name}/.")
    make_ok = (not results.overrides and seed == scenario.simulation.seed
               and replicates == scenario.simulation.replicates and engine == DEFAULT_ENGINE)
    default = path is None or Path(path).resolve() == (SHIPPED / "nct04743739.toml").resolve()
    versions = [["trialsim", simulate.__version__], ["Python", platform.python_version()],
                ["numpy", np.__version__], ["pandas", pd.__version__],
                *([name, installed_version(name)] for name in ("matplotlib", "seaborn"))]
    if getattr(results, "code_hash", ""):
        versions.insert(1, ["trialsim code hash (of its source files)", results.code_hash])
    settings = [["Seed", str(seed)], ["Replicates per design point", f"{replicates:,}"], ["Engine", engine],
                ["Trials per seeded block", _block_note(scenario)],
                ["Scenario hash", sc.scenario_hash(scenario)]]
    if results.overrides:
        settings.append(["Overrides of the scenario file", " ".join(f"--set {shlex.quote(t)}"
                                                                    for t in results.overrides)])
    if getattr(results, "folder", ""):
        settings.append(["Results folder", f"{results.folder}/"])
    if getattr(results, "created", ""):
        settings.append(["Run on", results.created])
    return {"command": " ".join(shlex.quote(c) for c in cmd), "make_ok": make_ok,
            "make": "make run" if default else f"make run SCENARIO={shlex.quote(shown)}",
            "own_seed": scenario.simulation.seed, "own_replicates": f"{scenario.simulation.replicates:,}",
            "notes": notes, "settings": _table(["Setting", "Value"], settings, caption="Run settings"),
            "versions": _table(["Package", "Version"], versions, caption="Versions of the code that ran")}


def _meta(results: RunResults) -> str:
    """The line under the title: when the run was made and by which code."""
    parts = []
    if getattr(results, "created", ""):
        parts.append(f"Run on {results.created}")
    code = f"trialsim {simulate.__version__}"
    if getattr(results, "code_hash", ""):
        code += f" (code {results.code_hash})"
    parts.append(code)
    parts.append(f"seed {results.seed}, {results.replicates:,} simulated trials per design point")
    return "; ".join(parts) + "."


def _block_note(scenario) -> str:
    """The trials per seeded block, and why if fewer than the scenario's ``simulation.block_size``."""
    from simulate.run.plan import BLOCK_MEMORY_BYTES, format_bytes, trials_per_block

    size = trials_per_block(scenario)
    if size == scenario.simulation.block_size:
        return str(size)
    return (f"{size} (simulation.block_size {scenario.simulation.block_size}: a block of this design's trials "
            f"would need more than {format_bytes(BLOCK_MEMORY_BYTES)})")


def installed_version(distribution: str) -> str:
    """The installed version of a package, read from its metadata (the figures' libraries are
    not imported where the page is written)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"
