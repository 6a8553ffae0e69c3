"""Results folders belong to one scenario content, and trialsim replaces or deletes only what it
wrote: ``--set`` runs and edited copies get folders of their own, ``--out`` refuses folders of
other files, a rerun keeps a user's files, every folder lists its files in manifest.json; and a
copy of a shipped scenario works in any folder.

One small run (``results/tiny/`` in a work folder) is shared; each test works on its own copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from simulate.errors import OutputError
from simulate.design.loader import load_scenario
from simulate.design.scenario import scenario_hash

from conftest import DEFAULT_SCENARIO, SHIPPED_SCENARIOS
from test_cli_safety import assert_user_error, call, files_under

FAST = ["--jobs", "1"]
TINY = f'''# a small version of the registered design, for the tests' speed
base = "{DEFAULT_SCENARIO.as_posix()}"
name = "tiny"

[simulation]
replicates = 20
block_size = 20

[sweep]
"trial.n_per_arm" = [40]
'''
OTHER_DROPOUT = ["--set", "dropout.probability_by_endpoint=0.2"]
MANIFEST = "manifest.json"
HASH_CHARS = 8


def short_hash(path: Path, overrides: list[str] = ()) -> str:
    return scenario_hash(load_scenario(path, tuple(overrides[1::2])))[:HASH_CHARS]


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("note: ")]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> tuple[Path, str]:
    """A work folder with tiny.toml and its run in results/tiny/; and what the run printed."""
    folder = tmp_path_factory.mktemp("work")
    (folder / "tiny.toml").write_text(TINY, encoding="utf-8")
    code, out, err = call(["run", "tiny.toml", *FAST], folder)
    assert code == 0, err
    return folder, out


@pytest.fixture
def here(work, tmp_path: Path) -> Path:
    """A copy of the work folder, for a test to change."""
    return Path(shutil.copytree(work[0], tmp_path / "work"))


# --------------------------------------------------------------------------- one folder, one scenario content


def test_the_manifest_lists_exactly_what_the_run_wrote(work) -> None:
    folder, out = work
    run = folder / "results" / "tiny"
    manifest = json.loads((run / MANIFEST).read_text())
    present = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(manifest["files"]) == present
    assert {"run.json", "report.html", "power.csv", ".pieces/power.json"} <= present
    assert manifest["kind"] == "run" and manifest["complete"] is True and manifest["overrides"] == []
    assert manifest["scenario_hash"] == json.loads((run / "run.json").read_text())["scenario_hash"]
    assert manifest["settings"] == {"seed": 20210414, "replicates": 20, "engine": "batch"}
    # the scenario as its file says, in results/<name>/: the summary says nothing of folders
    assert "results are in" not in out and "results/tiny/" in out


def test_a_run_with_set_overrides_goes_to_a_folder_of_its_own(here: Path) -> None:
    before = snapshot(here / "results" / "tiny")
    code, out, err = call(["run", "tiny.toml", *FAST, *OTHER_DROPOUT], here)
    assert code == 0, err
    short = short_hash(here / "tiny.toml", OTHER_DROPOUT)
    own = here / "results" / f"tiny-{short}"
    assert snapshot(here / "results" / "tiny") == before, "the file's own run is untouched"
    manifest = json.loads((own / MANIFEST).read_text())
    assert manifest["scenario_hash"][:8] == short and manifest["overrides"] == [OTHER_DROPOUT[1]]
    # the summary and the report name the override and the folder
    line = f"--set {OTHER_DROPOUT[1]} (scenario hash {short}); its results are in results/tiny-{short}/."
    assert line in out
    page = (own / "report.html").read_text(encoding="utf-8")
    assert line in page and f"results/tiny-{short}/</td>" in page and "Overrides of the scenario file" in page


def test_an_edited_copy_that_keeps_the_name_never_replaces_the_run(here: Path) -> None:
    before = snapshot(here / "results" / "tiny")
    text = (here / "tiny.toml").read_text().replace("replicates = 20", "replicates = 20\nseed = 5")
    (here / "edited.toml").write_text(text)
    code, out, err = call(["run", "edited.toml", *FAST], here)
    assert code == 0, err
    short = short_hash(here / "edited.toml")
    assert snapshot(here / "results" / "tiny") == before
    assert (here / "results" / f"tiny-{short}" / "report.html").is_file()
    (line,) = notes(err)
    assert "results/tiny/" in line and f"results/tiny-{short}/" in line
    assert f"The results of this run are in results/tiny-{short}/" in out


def test_a_rerun_reuses_its_pieces_and_keeps_every_file_it_did_not_write(here: Path) -> None:
    run = here / "results" / "tiny"
    mine = {"stopping.png": b"my figure", "boundaries.png": b"mine too", "looks.csv": b"a,b\n",
            "fixed_design.csv": b"c\n", "notes.txt": b"notes", ".notes.txt.abcdefgh.tmp": b"my editor's",
            "drafts/plan.txt": b"plan"}
    for name, data in mine.items():
        (run / name).parent.mkdir(exist_ok=True)
        (run / name).write_bytes(data)
    leftover = run / ".power.csv.x1y2z3w4.tmp"            # the run's own, from a run killed mid-write
    leftover.write_bytes(b"half")
    code, _, err = call(["run", "tiny.toml", *FAST], here)
    assert code == 0, err
    assert notes(err) == []
    for name, data in mine.items():
        assert (run / name).read_bytes() == data, name
    assert not leftover.exists()
    timings = json.loads((run / "run.json").read_text())["timings"]
    assert all(timings[p]["reused"] for p in ("power", "samplesize", "sweep", "example_trial"))
    assert not set(mine) & set(json.loads((run / MANIFEST).read_text())["files"])


def test_a_rerun_with_other_settings_replaces_it_and_says_so(here: Path) -> None:
    code, _, err = call(["run", "tiny.toml", *FAST, "--seed", "7"], here)
    assert code == 0, err
    (line,) = notes(err)
    assert "results/tiny/" in line and "seed 20210414" in line and "seed 7" in line
    assert json.loads((here / "results" / "tiny" / "run.json").read_text())["seed"] == 7


def test_out_into_a_folder_of_other_files_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "stopping.png").write_bytes(b"my figure")
    (theirs / "power.csv").write_text("my table\n")
    before = files_under(tmp_path)
    for command in ("run", "trial"):
        code, out, err = call([command, "tiny.toml", "--out", theirs, *(FAST if command == "run" else [])], tmp_path)
        assert_user_error(code, err, "--out", str(theirs), "stopping.png", "power.csv")
        assert len(err.splitlines()) == 1 and out == "" and "Running" not in err
    assert files_under(tmp_path) == before
    assert (theirs / "stopping.png").read_bytes() == b"my figure"
    # an empty folder is taken
    (tmp_path / "empty").mkdir()
    code, _, err = call(["trial", "tiny.toml", "--out", tmp_path / "empty"], tmp_path)
    assert code == 0, err


def test_a_default_folder_of_other_files_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    theirs = tmp_path / "results" / "tiny"
    theirs.mkdir(parents=True)
    (theirs / "notes.txt").write_text("mine")
    before = files_under(tmp_path)
    code, out, err = call(["run", "tiny.toml", *FAST], tmp_path)
    assert_user_error(code, err, "--out not given", "results/tiny", "notes.txt", "choose another folder with --out")
    assert files_under(tmp_path) == before and out == ""


def test_out_into_results_of_another_scenario_content_or_command_is_refused(here: Path) -> None:
    run = here / "results" / "tiny"
    before = snapshot(run)
    code, _, err = call(["run", "tiny.toml", *FAST, *OTHER_DROPOUT, "--out", run], here)
    assert_user_error(code, err, "--out", str(run), "another scenario content",
                      short_hash(here / "tiny.toml", OTHER_DROPOUT))
    code, _, err = call(["trial", "tiny.toml", "--out", run], here)
    assert_user_error(code, err, "--out", str(run), "trialsim run")
    assert snapshot(run) == before


def test_a_killed_run_is_recognised_by_its_first_manifest(here: Path) -> None:
    """The manifest is written before the first file: a run killed midway leaves a folder the
    next run of the same scenario completes (and says so)."""
    from simulate.run import folders

    run = here / "results" / "tiny"
    manifest = json.loads((run / MANIFEST).read_text())
    manifest["complete"] = False
    (run / MANIFEST).write_text(json.dumps(manifest))
    (run / "report.html").unlink()
    scenario = load_scenario(here / "tiny.toml")
    taken = folders.claim(run, "run", scenario, manifest["settings"], manifest["files"], "--out")
    assert "completing the run" in taken.note


# --------------------------------------------------------------------------- trial and sweep


def test_trial_and_sweep_default_folders_follow_the_scenario_content(here: Path) -> None:
    from simulate.run import folders

    seed = "20210414"
    code, _, err = call(["trial", "tiny.toml"], here)               # the run's own scenario: beside it
    assert code == 0, err
    trial = here / "results" / "tiny" / f"trial-{seed}"
    assert json.loads((trial / MANIFEST).read_text())["kind"] == "trial"
    first = snapshot(trial)
    code, _, err = call(["trial", "tiny.toml"], here)               # a rerun: the same trial, no note
    assert code == 0 and notes(err) == [] and snapshot(trial) == first
    changed = ["--set", "trial.n_per_arm=30"]
    code, _, err = call(["trial", "tiny.toml", *changed], here)
    assert code == 0, err
    changed_folder = here / "results" / f"tiny-{short_hash(here / 'tiny.toml', changed)}"
    assert (changed_folder / f"trial-{seed}" / "trial.json").is_file()
    code, _, err = call(["sweep", "tiny.toml", "--replicates", "20", *FAST, *OTHER_DROPOUT], here)
    assert code == 0, err
    sweep = here / "results" / f"tiny-{short_hash(here / 'tiny.toml', OTHER_DROPOUT)}" / "sweep"
    assert (sweep / "sweep.csv").is_file() and (sweep / MANIFEST).is_file()
    assert not (here / "results" / "tiny" / "sweep").exists()
    # the run's folder with its trial beside it is still the run's, for a rerun
    assert folders.claim(here / "results" / "tiny", "run", load_scenario(here / "tiny.toml"),
                         {"seed": 20210414, "replicates": 20, "engine": "batch"}, (), "--out").note is None


def test_a_standalone_command_never_replaces_a_file_of_a_trial(here: Path) -> None:
    out = here / "t"
    assert call(["trial", "tiny.toml", "--out", out], here)[0] == 0
    before = snapshot(out)
    code, _, err = call(["cohort", "tiny.toml", "--n", "10", "--out", out / "patients.csv"], here)
    assert_user_error(code, err, "--out", str(out / "patients.csv"), "trialsim trial")
    assert snapshot(out) == before


# --------------------------------------------------------------------------- the manifest itself


def test_a_folder_of_an_earlier_trialsim_is_recognised_by_its_run_json(here: Path) -> None:
    from simulate.run import folders

    run = here / "results" / "tiny"
    (run / MANIFEST).unlink()
    (run / "stopping.png").write_bytes(b"mine")
    legacy = folders.read_manifest(run)
    assert legacy.legacy and legacy.kind == "run" and "power.csv" in legacy.files
    assert "stopping.png" not in legacy.files and ".pieces/power.json" in legacy.files
    scenario = load_scenario(here / "tiny.toml")
    settings = {"seed": 20210414, "replicates": 20, "engine": "batch"}
    with pytest.raises(OutputError, match="stopping.png there is not trialsim's"):
        folders.claim(run, "run", scenario, settings, {"stopping.png", "power.csv"}, "--out")
    taken = folders.claim(run, "run", scenario, settings, {"power.csv"}, "--out")
    assert "power.csv" in taken.owned and taken.note is None


def test_a_manifest_that_points_outside_its_folder_is_not_trusted(tmp_path: Path) -> None:
    from simulate.run import folders

    folder = tmp_path / "out"
    folder.mkdir()
    (tmp_path / "precious.txt").write_text("keep")
    (folder / MANIFEST).write_text(json.dumps({
        "written_by": "trialsim", "kind": "trial", "scenario": "x", "scenario_hash": None, "settings": {},
        "files": ["../precious.txt"]}))
    assert folders.read_manifest(folder) is None
    with pytest.raises(OutputError, match="manifest.json"):        # a file trialsim cannot vouch for
        folders.claim(folder, "trial", load_scenario(DEFAULT_SCENARIO), {"seed": 1}, folders.TRIAL_FILES, "--out")
    assert (tmp_path / "precious.txt").read_text() == "keep"


# --------------------------------------------------------------------------- shipped scenarios anywhere


@pytest.mark.parametrize("shipped", SHIPPED_SCENARIOS, ids=[p.stem for p in SHIPPED_SCENARIOS])
def test_a_copy_of_a_shipped_scenario_works_in_an_empty_folder(shipped: Path, tmp_path: Path) -> None:
    copy = tmp_path / shipped.name
    shutil.copyfile(shipped, copy)
    code, out, err = call(["validate", copy.name], tmp_path)
    assert (code, out.strip()) == (0, "OK"), err
    code, out, err = call(["power", copy.name, "--replicates", "20", "--set", "simulation.block_size=20",
                           *FAST, "--json"], tmp_path)
    assert code == 0, err
    assert 0 <= json.loads(out)["power"] <= 1
    assert load_scenario(copy) == load_scenario(shipped)


def test_the_shipped_scenarios_name_their_base_by_name() -> None:
    for path in SHIPPED_SCENARIOS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("base"):
                assert line.split("#")[0].strip() == 'base = "nct04743739"', path.name


def test_a_missing_base_names_the_field_the_file_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('# my variant\n\nbase = "nct0474373.toml"\nname = "mine"\n[trial]\nn_per_arm = 50\n')
    code, out, err = call(["validate", path], tmp_path)
    assert_user_error(code, err, f"base = 'nct0474373.toml' ({path} line 3): no such file or shipped scenario",
                      "nct04743739")
    assert len(err.splitlines()) == 1


def test_a_base_file_beside_the_scenario_comes_before_the_shipped_one(tmp_path: Path) -> None:
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8").replace("n_per_arm = 63", "n_per_arm = 50", 1)
    (tmp_path / "nct04743739.toml").write_text(text)
    (tmp_path / "mine.toml").write_text('base = "nct04743739.toml"\nname = "mine"\n')
    (tmp_path / "shipped.toml").write_text('base = "nct04743739"\nname = "shipped"\n')
    assert load_scenario(tmp_path / "mine.toml").trial.n_per_arm == 50
    assert load_scenario(tmp_path / "shipped.toml").trial.n_per_arm == 63     # no file named "nct04743739" here


def test_a_folder_named_like_a_shipped_scenario_does_not_hide_it(tmp_path: Path) -> None:
    (tmp_path / "nct04743739").mkdir()
    code, out, err = call(["validate", "nct04743739"], tmp_path)
    assert (code, out.strip()) == (0, "OK"), err
    (line,) = err.splitlines()
    assert line.startswith("note: ./nct04743739 is a folder") and "shipped scenario 'nct04743739'" in line
    (tmp_path / "mine").mkdir()                                        # no shipped scenario of that name
    code, _, err = call(["validate", "mine"], tmp_path)
    assert_user_error(code, err, "mine: is a folder, not a scenario file")
