"""No input breaks out: a user's mistake is one ``error:`` line, exit code 2 and nothing written;
names never leave results/; a standalone command never replaces a run's files; signals end a
command cleanly and its workers with it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


from conftest import DEFAULT_SCENARIO, PLAIN_SCENARIO, ROOT, call, edit_scenario_text, trialsim_executable

COMMANDS = ("validate", "cohort", "trial", "power", "samplesize", "sweep", "run")


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def assert_user_error(code: int, err: str, *named: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert lines and all(line.startswith("error: ") for line in lines), err
    assert "Traceback" not in err
    for text in named:
        assert any(text in line for line in lines), (text, lines)


def scenario_copy(folder: Path, text: str | None = None, name: str = "s.toml") -> Path:
    path = folder / name
    path.write_text(DEFAULT_SCENARIO.read_text(encoding="utf-8") if text is None else text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- names and folders


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "../up", "a/b", "/abs"])
@pytest.mark.parametrize("how", ["file", "set"])
def test_a_name_never_resolves_outside_results(tmp_path: Path, name: str, how: str) -> None:
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    if how == "file":
        path = scenario_copy(tmp_path, edit_scenario_text(text, "name", f'"{name}"'))
        extra = []
    else:
        path = scenario_copy(tmp_path)
        extra = ["--set", f"name={name}"]
    before = files_under(tmp_path)
    for command in ("validate", "run"):
        code, out, err = call([command, path, *extra, "--replicates", "10"] if command == "run"
                              else [command, path, *extra], tmp_path)
        assert_user_error(code, err, "name", repr(name))
        assert out == ""
    assert files_under(tmp_path) == before


def test_name_defaults_to_the_file_stem_and_a_bom_is_accepted(tmp_path: Path) -> None:
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("name ="))
    path = tmp_path / "my-variant.toml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    from simulate.design.loader import load_scenario

    assert load_scenario(path).name == "my-variant"
    assert call(["validate", path], tmp_path)[0] == 0


@pytest.mark.parametrize("edit, hidden", [
    (("trial", None, None), "instance of"),
    (("visit_months", "3", None), "valid tuple"),
    (("n_per_arm", '"many"', None), "valid integer"),
])
def test_messages_speak_of_the_scenario_not_the_validator(tmp_path: Path, edit, hidden: str) -> None:
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    key, value, _ = edit
    if key == "trial":
        text = text.replace("[trial]\n", "trial = 5\n[trial_unused]\n", 1)
    else:
        text = edit_scenario_text(text, key, value)
    code, _, err = call(["validate", scenario_copy(tmp_path, text)], tmp_path)
    assert code == 2
    assert hidden not in err and "Input should" not in err, err


def test_out_under_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    before = files_under(tmp_path)
    for args in (["run", DEFAULT_SCENARIO, "--out", blocker / "sub", "--replicates", "10"],
                 ["trial", DEFAULT_SCENARIO, "--out", blocker],
                 ["cohort", DEFAULT_SCENARIO, "--out", blocker / "c.csv", "--n", "10"],
                 ["sweep", DEFAULT_SCENARIO, "--out", blocker / "s.csv", "--replicates", "10"]):
        code, _, err = call(args, tmp_path)
        assert_user_error(code, err, "--out", str(blocker))
    assert files_under(tmp_path) == before


def test_out_on_a_read_only_location_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root may write anywhere the file system allows: use a place no file can be created
        target = Path("/proc/self/trialsim-results")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked / "results"
    code, _, err = call(["trial", DEFAULT_SCENARIO, "--out", target], tmp_path)
    assert_user_error(code, err, str(target))


def test_check_writable_names_a_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simulate.errors import OutputError
    from simulate.io import check_writable

    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match="is not writable"):
        check_writable(tmp_path / "new", "--out")
    assert not (tmp_path / "new").exists()


def test_a_standalone_sweep_never_replaces_a_runs_files(tmp_path: Path) -> None:
    run_folder = tmp_path / "results" / "nct04743739"
    run_folder.mkdir(parents=True)
    (run_folder / "run.json").write_text("{}")
    (run_folder / "sweep.csv").write_text("the run's own\n")
    small = ["--replicates", "10", "--jobs", "1",
             "--set", 'sweep={"trial.n_per_arm" = [10]}', "--set", "simulation.block_size=10"]
    code, _, err = call(["sweep", DEFAULT_SCENARIO, *small, "--out", run_folder / "sweep.csv"], tmp_path)
    assert_user_error(code, err, "trialsim run", str(run_folder / "sweep.csv"))
    code, out, err = call(["sweep", DEFAULT_SCENARIO, *small], tmp_path)
    assert code == 0, err
    assert (run_folder / "sweep.csv").read_text() == "the run's own\n"
    # --set changes the scenario: its sweep goes to a folder of its own content
    from simulate.design.loader import load_scenario
    from simulate.design.scenario import scenario_hash

    short = scenario_hash(load_scenario(DEFAULT_SCENARIO, small[5::2]))[:8]
    assert (tmp_path / "results" / f"nct04743739-{short}" / "sweep" / "sweep.csv").is_file()
    assert not (run_folder / "sweep").exists()


# --------------------------------------------------------------------------- the scheduler


def test_a_malformed_scheduler_address_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    code, _, err = call(["power", DEFAULT_SCENARIO, "--replicates", "10", "--backend", "dask",
                         "--scheduler", "notanaddress"], tmp_path)
    assert_user_error(code, err, "--scheduler", "notanaddress")


def test_a_scheduler_address_that_is_not_dask_fails_within_the_timeout(tmp_path: Path, monkeypatch) -> None:
    """The command gives up after the connection timeout (shortened here), and says so."""
    pytest.importorskip("distributed")
    from simulate.run import parallel

    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_SECONDS", 1.5)

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None: ...

    server = HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = f"tcp://127.0.0.1:{server.server_port}"
        code, _, err = call(["power", DEFAULT_SCENARIO, "--replicates", "10", "--backend", "dask",
                             "--scheduler", address], tmp_path)
        assert_user_error(code, err, "--scheduler", address, "no Dask scheduler answered within 1.5 s")
    finally:
        server.shutdown()


def test_a_closed_port_fails_with_one_line(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("distributed")
    from simulate.run import parallel

    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_SECONDS", 1.5)        # the test's speed only
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = call(["power", DEFAULT_SCENARIO, "--replicates", "10", "--backend", "dask",
                         "--scheduler", f"tcp://127.0.0.1:{port}"], tmp_path)
    assert_user_error(code, err, "--scheduler")


# --------------------------------------------------------------------------- signals


def _children(pid: int) -> set[int]:
    """Live descendants of ``pid`` (from /proc)."""
    parent_of = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent_of[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parent_of.items() if p in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_long_power(*extra: str) -> subprocess.Popen:
    """A power run long enough to be interrupted (started in its own process group)."""
    return subprocess.Popen([str(trialsim_executable()), "power", str(DEFAULT_SCENARIO), "--replicates",
                             "5000000", "--jobs", "2", *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_workers(proc: subprocess.Popen, n: int, seconds: float = 60) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        kids = _children(proc.pid)
        if len(kids) >= n:
            time.sleep(2.0)                   # let them take their first tasks
            return _children(proc.pid)
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"workers did not start: {proc.communicate()}")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_workers_exit_when_the_command_is_killed() -> None:
    proc = _start_long_power()
    try:
        workers = _wait_for_workers(proc, 2)          # two workers (on Linux forked; elsewhere loky's, and its trackers)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [w for w in workers if _alive(w)]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert not left, f"orphaned workers still running: {left}"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_sigterm_ends_the_command_like_ctrl_c() -> None:
    proc = _start_long_power()
    try:
        workers = _wait_for_workers(proc, 2)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == "terminated" and "Traceback" not in err and "leaked" not in err, err
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if _alive(w)]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_ctrl_c_on_dask_is_one_line() -> None:
    pytest.importorskip("distributed")
    proc = _start_long_power("--backend", "dask")
    try:
        _wait_for_workers(proc, 3, seconds=90)
        time.sleep(10.0)                          # past the cluster's start, when Ctrl-C is ignored
        os.killpg(proc.pid, signal.SIGINT)        # as a terminal does: the whole process group
        out, err = proc.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["aborted"], err


# --------------------------------------------------------------------------- fuzz

NUMBER_FIELDS = ("trial.n_per_arm", "trial.endpoint_month", "recruitment.rate_per_site_month",
                 "dropout.probability_by_endpoint", "analysis.alpha", "cohort.male_fraction",
                 "arms.rtx.remission_at_endpoint", "recruitment.sites", "simulation.replicates")
CHOICE_FIELDS = ("analysis.test", "analysis.missing", "dropout.mechanism", "analysis.alternative")
OUT_OF_RANGE = {
    "trial.n_per_arm": ["0", "-1", "100001", "1.5"], "analysis.alpha": ["0", "1", "-0.1", "1.5"],
    "dropout.probability_by_endpoint": ["1", "-0.01", "2"], "cohort.male_fraction": ["1.01", "-1"],
    "arms.rtx.remission_at_endpoint": ["1.2", "-0.5"], "recruitment.rate_per_site_month": ["-1", "inf", "nan"],
    "recruitment.sites": ["0", "1001"], "trial.endpoint_month": ["0", "-3", "99"],
    "simulation.replicates": ["0"], "simulation.seed": ["-1"],
}
wrong_type_for_number = st.sampled_from(['"x"', "[1, 2]", "{a = 1}", "true", '""'])
wrong_value_for_choice = st.sampled_from(["1", "[1]", '"nope"', "{a = 1}", "true"])


@st.composite
def bad_overrides(draw) -> list[str]:
    kind = draw(st.sampled_from(["type", "choice", "range", "syntax", "path"]))
    if kind == "type":
        return ["--set", f"{draw(st.sampled_from(NUMBER_FIELDS))}={draw(wrong_type_for_number)}"]
    if kind == "choice":
        return ["--set", f"{draw(st.sampled_from(CHOICE_FIELDS))}={draw(wrong_value_for_choice)}"]
    if kind == "range":
        path = draw(st.sampled_from(sorted(OUT_OF_RANGE)))
        return ["--set", f"{path}={draw(st.sampled_from(OUT_OF_RANGE[path]))}"]
    if kind == "path":
        key = draw(st.from_regex(r"[a-z]{1,8}(\.[a-z_]{1,10}){0,2}", fullmatch=True))
        return ["--set", f"{key}.zz_unknown=1"]
    text = draw(st.text(alphabet=st.characters(blacklist_characters="=\x00", blacklist_categories=("Cs",)),
                        max_size=20))
    return ["--set", text]                    # no '=': not path=value


@st.composite
def malformed_toml(draw) -> str:
    base = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    junk = draw(st.sampled_from(["[trial\n", "n_per_arm = = 3\n", "x = [1, 2\n", "= 4\n", "[arms.rtx]\n",
                                 'name = "a\n', "trial = 1\n", "\x00\n", "a.b = 1\na = 2\n"]))
    cut = draw(st.integers(0, len(base)))
    cut = base.rfind("\n", 0, cut) + 1
    return base[:cut] + junk + base[cut:]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(COMMANDS), overrides=bad_overrides())
def test_fuzz_bad_overrides_exit_2_and_write_nothing(tmp_path_factory, command: str, overrides: list[str]) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = scenario_copy(folder)
    before = files_under(folder)
    code, out, err = call([command, path, *overrides], folder)
    assert_user_error(code, err)
    assert files_under(folder) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(COMMANDS), text=malformed_toml())
def test_fuzz_malformed_files_exit_2_and_write_nothing(tmp_path_factory, command: str, text: str) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = scenario_copy(folder, text)
    before = files_under(folder)
    code, out, err = call([command, path], folder)
    assert_user_error(code, err)
    assert files_under(folder) == before


def test_the_repository_gains_no_results_from_the_fuzz() -> None:
    """Runs last in this file: the fuzz above ran from temporary folders only."""
    assert not (ROOT / "results" / "s").exists()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_a_recruitment_rate_of_zero_says_nobody_was_randomised(tmp_path: Path) -> None:
    zero = ["--set", "recruitment.rate_per_site_month=0"]
    code, out, err = call(["power", DEFAULT_SCENARIO, *zero, "--replicates", "50", "--jobs", "1"], tmp_path)
    assert code == 0, err
    assert "no patient was randomised" in out and "nan" not in out
    code, out, err = call(["trial", DEFAULT_SCENARIO, *zero, "--out", tmp_path / "t"], tmp_path)
    assert code == 0, err
    assert "none randomised" in out and "nan" not in out


def test_a_path_that_cannot_be_looked_into_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a user without permission on a folder sees it: stat() fails with EACCES."""
    locked = tmp_path / "locked"
    real_exists = Path.exists

    def exists(self: Path, *args, **kwargs) -> bool:
        if str(self).startswith(str(locked)):
            raise PermissionError(13, "Permission denied", str(self))
        return real_exists(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    code, _, err = call(["validate", locked / "s.toml"], tmp_path)
    assert_user_error(code, err, str(locked / "s.toml"), "cannot be read")
    code, _, err = call(["trial", DEFAULT_SCENARIO, "--out", locked / "out"], tmp_path)
    assert_user_error(code, err, "--out", "cannot be reached")


def test_a_sample_size_search_above_n_max_says_so(tmp_path: Path) -> None:
    code, out, err = call(["samplesize", DEFAULT_SCENARIO, "--n-max", "20", "--replicates", "20", "--jobs", "1"],
                          tmp_path)
    assert code == 0, err
    assert "raise n_max" in out and "Traceback" not in err


def test_main_leaves_the_sigterm_handler_as_it_found_it(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert call(["validate", DEFAULT_SCENARIO], tmp_path)[0] == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_sweep_point_whose_values_clash_is_found_at_load_time(tmp_path: Path) -> None:
    path = scenario_copy(tmp_path, PLAIN_SCENARIO.read_text(encoding="utf-8") + (
        '[sweep]\n"trial.endpoint_month" = [12.0, 24.0]\n'
        '"trial.visit_months" = [[0, 1, 3, 6, 9, 12, 15, 18, 21, 24], [0, 1, 3, 6, 9, 15, 18, 21, 24]]\n'))
    code, _, err = call(["validate", path], tmp_path)
    assert_user_error(code, err, "sweep point trial.endpoint_month = 12.0", "must include trial.endpoint_month")


def test_a_sweep_value_that_clashes_with_the_design_is_found_at_load_time(tmp_path: Path) -> None:
    """The registered rescue is at month 12: an endpoint at month 12 leaves it no time."""
    path = scenario_copy(tmp_path, DEFAULT_SCENARIO.read_text(encoding="utf-8").split("[sweep]")[0] + (
        '[sweep]\n"trial.endpoint_month" = [12.0, 24.0]\n'))
    code, _, err = call(["validate", path], tmp_path)
    assert_user_error(code, err, "sweep.trial.endpoint_month = 12.0",
                      "intercurrent.rescue.at_month: got 12.0; must come before the endpoint")


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`trialsim power ... | head -1`: the reader leaves early; no traceback, the shell's 141."""
    import subprocess
    import sys

    cmd = (f"{sys.executable} -m simulate.cli power {DEFAULT_SCENARIO} --replicates 200 --set simulation.block_size=50"
           " | head -1")
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.stdout.startswith("Power of"), out.stdout
    assert "Traceback" not in out.stderr and "Error" not in out.stderr, out.stderr
    assert out.returncode in (0, 141)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (Linux)")
def test_out_where_no_folder_can_be_made_is_one_line_before_any_work(tmp_path: Path) -> None:
    """/proc allows a new folder by its permission bits but refuses it: the run says so at once,
    naming the folder given (not a file inside it), and starts nothing."""
    target = Path("/proc/trialsim-results") / "nested"
    code, out, err = call(["run", DEFAULT_SCENARIO, "--out", target, "--replicates", "10"], tmp_path)
    assert_user_error(code, err, "--out", str(target))
    assert "Running" not in err and ".pieces" not in err and out == ""
