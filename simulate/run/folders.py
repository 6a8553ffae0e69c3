"""Whose files are in a results folder: the manifest, the default folders, and the claim a
command makes on its folder before any work.

Every folder trialsim fills by itself (``trialsim run``'s folder, ``trialsim trial``'s folder
and ``trialsim sweep``'s default folder) holds ``manifest.json``: the command that wrote it, the
effective scenario's name and hash, the run settings, the ``--set`` overrides and the files the
command wrote (paths relative to the folder). It is written when the work starts
(``"complete": false``, listing the files the command is about to write, so that a command
killed midway leaves a folder the next one recognises) and again last (``"complete": true``,
listing exactly the files written).

Before any work (:func:`claim`), a command takes its folder only if

* the folder does not exist yet or is empty, or
* it holds the manifest of the same command for the same scenario content (a rerun: finished
  pieces are reused; a rerun with other run settings replaces the earlier results, with a note).

Anything else is refused: a folder holding files that no manifest lists, a manifest of another
command or of another scenario content, or a file the command would write that the manifest
does not list. A rerun deletes only files the previous manifest lists that it does not write
again, and the atomic writer's temporary files (``.<name>.<8 random>.tmp``) of names the
manifest lists or the command writes; no other file is deleted or overwritten. A subfolder
holding a manifest of its own (a ``trial-<seed>/`` or ``sweep/`` inside a run's folder) is left
alone.

Default folders (:func:`default_folder`): ``results/<name>/`` for the scenario as its file says;
``results/<name>-<hash>/`` (the first :data:`HASH_CHARS` hex characters of the effective
scenario's hash) when ``--set`` overrides change it, or when ``results/<name>/`` already holds
results of another scenario content (an edited copy that kept the name).

Folders written by versions of trialsim before the manifest are recognised by their
``run.json`` (a run, with its scenario hash) or ``trial.json`` (a trial, its scenario not
recorded).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from simulate.errors import OutputError
from simulate.io import RUN_MARKER, json_ready, temporary_of, write_json_atomic
from simulate.design.scenario import Scenario, scenario_hash

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
"""The file listing what a trialsim command wrote into its folder."""
KINDS = ("run", "trial", "sweep")
"""The commands that fill a folder of their own."""
HASH_CHARS = 8
"""Hex characters of the scenario hash in a folder name (``results/<name>-<hash>/``)."""
RESULTS = Path("results")
"""Where the default folders are, relative to the working directory."""
SHOWN = 3
"""Files named in a refusal before '... and N more'."""
CACHE_DIR = ".pieces"
"""The run's cache of finished pieces: listed files in it are kept by a rerun (they are reused)."""
RUN_TABLES = ("funnel.csv", "power.csv", "comparisons.csv", "remission_by_visit.csv", "samplesize.csv",
              "samplesize_targets.csv", "consort.csv", "remission_model.csv", "operating_characteristics.csv",
              "oc_curve.csv")
"""The tables of every run (:func:`simulate.report.tables.write_tables`)."""
SWEEP_TABLE = "sweep.csv"
"""The table of a run whose scenario has a [sweep] grid."""
INTERIM_TABLES = ("looks.csv", "fixed_design.csv", "boundaries.csv")
"""The tables written only with interim looks."""
ADJUSTMENT_TABLE = "adjustment.csv"
"""The table of a run whose analysis adjusts for covariates (``analysis.adjustment``)."""
TIPPING_TABLE = "tipping_point.csv"
"""The table of a run whose analysis has a tipping-point grid (``analysis.tipping_point_deltas``)."""
TRIAL_FILES = ("patients.csv", "visits.csv", "events.csv", "trial.json")
"""What ``trialsim trial`` writes into its folder."""
SWEEP_FILES = ("sweep.csv",)
"""What ``trialsim sweep`` writes into its default folder."""


@dataclass(frozen=True)
class Manifest:
    """What a command wrote into a folder, and for which scenario content and settings."""

    kind: str
    scenario: str
    scenario_hash: str | None
    """None for a folder of an earlier trialsim that did not record it."""
    settings: dict = field(default_factory=dict)
    files: tuple[str, ...] = ()
    complete: bool = True
    overrides: tuple[str, ...] = ()
    legacy: bool = False
    """Recognised from an earlier trialsim's files (no manifest.json)."""

    def to_json(self) -> dict:
        return {"written_by": "trialsim", "kind": self.kind, "complete": self.complete, "scenario": self.scenario,
                "scenario_hash": self.scenario_hash, "settings": json_ready(self.settings),
                "overrides": list(self.overrides), "files": sorted(self.files)}


def _safe(rel: object) -> bool:
    """A path a manifest may list: relative, inside the folder, at most one subfolder deep."""
    if not isinstance(rel, str) or not rel or "\\" in rel:
        return False
    parts = PurePosixPath(rel).parts
    return (not PurePosixPath(rel).is_absolute() and 1 <= len(parts) <= 2 and ".." not in parts
            and "." not in parts and (len(parts) == 1 or parts[0] == CACHE_DIR))


def _from_json(data: object) -> Manifest | None:
    if not isinstance(data, dict) or data.get("written_by") != "trialsim" or data.get("kind") not in KINDS:
        return None
    files, h = data.get("files"), data.get("scenario_hash")
    if not isinstance(files, list) or not all(_safe(f) for f in files) or not isinstance(h, (str, type(None))):
        return None                        # not a manifest to trust with deleting files
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    overrides = data.get("overrides") if isinstance(data.get("overrides"), list) else []
    return Manifest(kind=data["kind"], scenario=str(data.get("scenario", "")), scenario_hash=h,
                    settings=settings, files=tuple(files), complete=data.get("complete") is True,
                    overrides=tuple(str(o) for o in overrides))


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _legacy(folder: Path) -> Manifest | None:
    """The files an earlier trialsim (before manifest.json) wrote into a folder, from its run.json
    or trial.json."""
    run = _read_json(folder / RUN_MARKER) if (folder / RUN_MARKER).is_file() else None
    if isinstance(run, dict) and isinstance(run.get("scenario_hash"), str):
        scenario = run.get("scenario") if isinstance(run.get("scenario"), dict) else {}
        figures = run.get("figures") if isinstance(run.get("figures"), dict) else {}
        analysis = scenario.get("analysis") if isinstance(scenario.get("analysis"), dict) else {}
        names = {*run_tables(bool(scenario.get("sweep")), scenario.get("interim") is not None,
                             bool(analysis.get("tipping_point_deltas")),
                             analysis.get("adjustment", "none") != "none"),
                 *(f for f in figures.values() if _safe(f)), "report.html", RUN_MARKER}
        pieces = folder / CACHE_DIR
        if pieces.is_dir():
            names |= {f"{CACHE_DIR}/{p.name}" for p in pieces.glob("*.json") if p.is_file()}
        return Manifest(kind="run", scenario=str(scenario.get("name", "")), scenario_hash=run["scenario_hash"],
                        settings={k: run.get(k) for k in ("seed", "replicates", "engine")},
                        files=tuple(sorted(n for n in names if (folder / n).is_file())), legacy=True)
    trial = _read_json(folder / "trial.json") if (folder / "trial.json").is_file() else None
    if isinstance(trial, dict) and "consort" in trial and "seed" in trial:
        return Manifest(kind="trial", scenario=str(trial.get("scenario", "")), scenario_hash=None,
                        settings={"seed": trial.get("seed")},
                        files=tuple(n for n in TRIAL_FILES if (folder / n).is_file()), legacy=True)
    return None


def read_manifest(folder: str | Path) -> Manifest | None:
    """The manifest of a folder trialsim filled (or what an earlier trialsim's files tell), else None."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return None
        if (folder / MANIFEST).is_file():
            return _from_json(_read_json(folder / MANIFEST))
        return _legacy(folder)
    except OSError:
        return None


def run_tables(sweep: bool, looks: bool, tipping: bool = False, adjusted: bool = False) -> tuple[str, ...]:
    """The tables a run writes, for a scenario with or without a [sweep] grid, interim looks, a
    tipping-point grid and a covariate-adjusted analysis."""
    return (RUN_TABLES + ((SWEEP_TABLE,) if sweep else ()) + (INTERIM_TABLES if looks else ())
            + ((TIPPING_TABLE,) if tipping else ()) + ((ADJUSTMENT_TABLE,) if adjusted else ()))


# ----------------------------------------------------------------------------- what is in a folder


@dataclass(frozen=True)
class Survey:
    """A folder's entries: trialsim's (listed by its manifest), its temporary leftovers, and the rest."""

    manifest: Manifest | None
    owned: frozenset[str] = frozenset()
    """Files the manifest lists that are there."""
    leftovers: tuple[str, ...] = ()
    """Temporary files of the atomic writer for names the manifest lists or the command writes."""
    foreign: tuple[str, ...] = ()
    """Everything else (a folder with a trailing '/'), except subfolders with a manifest of their own."""


def survey(folder: str | Path, planned: Iterable[str] = ()) -> Survey:
    """What is in ``folder`` and whose it is (an empty survey if it does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return Survey(None)
    m = read_manifest(folder)
    listed = set(m.files) if m is not None else set()
    names = listed | set(planned)
    owned, leftovers, foreign = set(), [], []

    def classify(entry: Path, rel: str) -> None:
        if entry.is_dir() and not entry.is_symlink():
            if rel == CACHE_DIR:
                for child in sorted(entry.iterdir()):
                    classify(child, f"{CACHE_DIR}/{child.name}")
            elif "/" in rel or read_manifest(entry) is None:
                foreign.append(rel + "/")
            return                             # a trialsim folder of its own: left alone
        if rel in listed and entry.is_file():
            owned.add(rel)
        elif rel == MANIFEST and m is not None and not m.legacy:
            pass
        elif (t := temporary_of(entry.name)) is not None and str(PurePosixPath(rel).with_name(t)) in names:
            leftovers.append(rel)
        else:
            foreign.append(rel)

    for entry in sorted(folder.iterdir()):
        classify(entry, entry.name)
    return Survey(m, frozenset(owned), tuple(leftovers), tuple(foreign))


def _some(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _settings_text(settings: dict) -> str:
    words = {"seed": "seed {}", "replicates": "{} replicates", "engine": "engine {}"}
    return ", ".join(words.get(k, k + " {}").format(f"{v:,}" if k == "replicates" and isinstance(v, int) else v)
                     for k, v in settings.items())


# ----------------------------------------------------------------------------- the claim


@dataclass
class Claim:
    """A folder a command may write, checked before any work: :meth:`begin` when the work
    starts, :meth:`finish` when it is done."""

    folder: Path
    kind: str
    scenario: str
    scenario_hash: str
    settings: dict
    planned: frozenset[str]
    overrides: tuple[str, ...] = ()
    previous: Manifest | None = None
    owned: frozenset[str] = frozenset()
    leftovers: tuple[str, ...] = ()
    note: str | None = None
    """One line for the user (a rerun with other settings replaces the earlier results), or None."""

    def _write(self, files: Iterable[str], complete: bool) -> None:
        write_json_atomic(self.folder / MANIFEST, Manifest(
            kind=self.kind, scenario=self.scenario, scenario_hash=self.scenario_hash, settings=self.settings,
            files=tuple(sorted(set(files))), complete=complete, overrides=self.overrides).to_json())

    def begin(self) -> None:
        """Remove the temporary leftovers of a command killed mid-write and record, before the
        first file, what this command is about to write."""
        for rel in self.leftovers:
            (self.folder / rel).unlink(missing_ok=True)
        self._write(self.owned | self.planned, complete=False)

    def finish(self, written: Iterable[str]) -> None:
        """Delete what the previous manifest listed and this command did not write again (a
        stale figure or table; cached pieces are kept), then write the final manifest."""
        written = set(written)
        kept = set()
        for rel in sorted(self.owned - written):
            path = self.folder / rel
            if rel.startswith(CACHE_DIR + "/"):
                if path.is_file():
                    kept.add(rel)
            else:
                log.info("removing %s, written by the earlier %s and not by this one", path, self.kind)
                path.unlink(missing_ok=True)
        self._write(written | kept, complete=True)


def claim(folder: str | Path, kind: str, scenario: Scenario, settings: dict, planned: Iterable[str],
          where: str, overrides: Iterable[str] = ()) -> Claim:
    """Check, before any work, that ``kind`` may write ``planned`` into ``folder`` (see the
    module's rules); raises :class:`OutputError` with one line starting with ``where`` (e.g.
    ``--out: got 'DIR'``) if not. Nothing is written."""
    folder = Path(folder)
    planned = frozenset(planned)
    h = scenario_hash(scenario)
    try:
        s = survey(folder, planned)
    except OSError as err:
        raise OutputError(f"{where}; cannot be read ({err.strerror or err})") from None
    m, note = s.manifest, None
    if m is None:
        if s.foreign:
            raise OutputError(f"{where}; it holds files trialsim did not write ({_some(s.foreign)}); trialsim writes "
                              "only into a new or empty folder or one holding its own results: choose another folder "
                              "with --out, or move those files")
    else:
        if m.kind != kind:
            raise OutputError(f"{where}; it holds the results of `trialsim {m.kind}`"
                              + (f" for '{m.scenario}'" if m.scenario else "") + f", which this {kind} would mix "
                              "with its own: choose another folder with --out")
        if m.scenario_hash is not None and m.scenario_hash != h:
            raise OutputError(f"{where}; it holds a {m.kind} of another scenario content ('{m.scenario}', "
                              f"scenario hash {m.scenario_hash[:HASH_CHARS]}; this is '{scenario.name}', "
                              f"{h[:HASH_CHARS]}), which "
                              "this one would replace: choose another folder with --out")
        clash = sorted(planned & set(s.foreign))
        if clash:
            verb = "is" if len(clash) == 1 else "are"
            raise OutputError(f"{where}; {_some(clash)} there {verb} not trialsim's (not in its {MANIFEST}) and this "
                              f"{kind} would replace {'it' if len(clash) == 1 else 'them'}: move "
                              f"{'it' if len(clash) == 1 else 'them'}, or choose another folder with --out")
        if m.scenario_hash is None:
            note = (f"replacing the {m.kind} in {folder}/, written by an earlier trialsim that did not record its "
                    "scenario")
        elif {k: m.settings.get(k) for k in settings} != settings:
            note = (f"replacing this scenario's {m.kind} in {folder}/ ({_settings_text(m.settings)}) with this one "
                    f"({_settings_text(settings)})")
        elif not m.complete:
            note = f"completing the {m.kind} in {folder}/ that stopped before it finished"
    return Claim(folder=folder, kind=kind, scenario=scenario.name, scenario_hash=h, settings=dict(settings),
                 planned=planned, overrides=tuple(overrides), previous=m, owned=s.owned, leftovers=s.leftovers,
                 note=note)


# ----------------------------------------------------------------------------- default folders


def overridden(scenario_path: str | Path, overrides: Iterable[str], scenario: Scenario) -> bool:
    """Do the ``--set`` overrides change the scenario its file describes? (A file that is not
    valid without them counts as changed.)"""
    overrides = tuple(overrides)
    if not overrides:
        return False
    from simulate.errors import TrialSimError
    from simulate.design.loader import load_scenario

    try:
        own = load_scenario(scenario_path)
    except TrialSimError:
        return True
    return scenario_hash(own) != scenario_hash(scenario)


def _contents(folder: Path) -> list[Manifest]:
    """The manifests of a results folder and of its subfolders (a run's, its trials', its sweep's)."""
    found = [read_manifest(folder)]
    try:
        found += [read_manifest(d) for d in sorted(folder.iterdir()) if d.is_dir() and d.name != CACHE_DIR]
    except OSError:
        pass
    return [m for m in found if m is not None]


def default_folder(scenario: Scenario, changed: bool, sub: str | None = None,
                   root: Path = RESULTS) -> tuple[Path, str | None]:
    """The folder a command writes when ``--out`` is not given, and a one-line note if it is not
    ``results/<name>/`` for a reason the user did not give (another scenario content is there).

    ``changed``: ``--set`` overrides change the scenario (:func:`overridden`). ``sub`` is the
    command's subfolder (``trial-<seed>``, ``sweep``), None for a run."""
    h = scenario_hash(scenario)
    plain, hashed = root / scenario.name, root / f"{scenario.name}-{h[:HASH_CHARS]}"
    parent, note = (hashed if changed else plain), None
    if not changed:
        other = next((m for m in _contents(plain) if m.scenario_hash not in (None, h)), None)
        if other is not None:
            parent = hashed
            note = (f"{plain}/ holds results of another scenario content named '{scenario.name}' (scenario hash "
                    f"{other.scenario_hash[:HASH_CHARS]}); these go to {hashed}/ (hash {h[:HASH_CHARS]})")
    return (parent / sub if sub else parent), note


def refuse_run_file(path: str | Path, label: str) -> Path:
    """A standalone command (``--out FILE``) never replaces a file of a folder trialsim filled
    (a run's, a trial's, a sweep's)."""
    path = Path(path)
    try:
        belongs = path.exists() and ((path.parent / RUN_MARKER).is_file() or read_manifest(path.parent) is not None)
    except OSError as err:
        raise OutputError(f"{label}: got '{path}'; cannot be reached ({err.strerror or err})") from None
    if belongs:
        m = read_manifest(path.parent)
        whose = f"`trialsim {m.kind}`" if m is not None else "`trialsim run`"
        raise OutputError(f"{label}: got '{path}'; that file belongs to the {whose} results in "
                          f"'{path.parent}'; choose another file name or folder")
    return path
