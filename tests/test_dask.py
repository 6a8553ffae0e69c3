"""The same runs on a Dask cluster: identical to loky, also when a worker dies midway."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow       # clusters of worker processes: left out of the quick lane

from simulate.run.parallel import Backend, session  # noqa: E402
from simulate.run.power import estimate_power, simulate_replicates
from simulate.run.sweep import sweep  # noqa: E402
from simulate.design.loader import load_scenario  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1] / "scenarios" / "nct04743739.toml"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as c:
        yield c


def strip(result) -> dict:
    d = result.to_dict()
    d.pop("elapsed_seconds")
    return d


def test_power_on_dask_equals_loky(cluster):
    s = load_scenario(DEFAULT, ["simulation.block_size=40"])
    with session(Backend("dask", scheduler=cluster.scheduler_address)):
        on_dask = estimate_power(s, 200, 5, Backend("dask", scheduler=cluster.scheduler_address), "batch")
    on_loky = estimate_power(s, 200, 5, 2, "batch")
    assert strip(on_dask) == strip(on_loky)


def test_sweep_on_dask_equals_loky(cluster):
    s = load_scenario(DEFAULT, ["simulation.block_size=30"])
    backend = Backend("dask", scheduler=cluster.scheduler_address)
    a = sweep(s, 60, 3, backend, "batch")
    b = sweep(s, 60, 3, 1, "batch")
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


def test_a_local_cluster_is_started_and_closed_without_a_scheduler():
    s = load_scenario(DEFAULT, ["simulation.block_size=25"])
    a = estimate_power(s, 50, 2, Backend("dask", jobs=2), "batch")
    assert strip(a) == strip(estimate_power(s, 50, 2, 1, "batch"))


def test_run_survives_a_lost_worker(cluster):
    # the DES, so the run lasts a few seconds: long enough to lose a worker in the middle of it
    s = load_scenario(DEFAULT, ["simulation.block_size=50"])
    backend = Backend("dask", scheduler=cluster.scheduler_address)
    expected = simulate_replicates(s, 800, 9, 2, "des")
    killed = {}
    with session(backend):
        from simulate.run import parallel

        client = parallel._CLIENT
        pids = client.run(os.getpid)                 # worker address -> process id
        victim = sorted(pids)[0]

        def kill_one():
            time.sleep(1.0)
            killed["at_unfinished_run"] = not done.is_set()
            os.kill(pids[victim], signal.SIGKILL)

        done = threading.Event()
        t = threading.Thread(target=kill_one)
        t.start()
        got = simulate_replicates(s, 800, 9, backend, "des")
        done.set()
        t.join()
    assert killed["at_unfinished_run"], "the worker died while the run was still going"
    for name in ("n_randomised", "x_endpoint", "x_locf", "recruitment_months", "duration_months", "referred"):
        pd.testing.assert_series_equal(pd.Series(getattr(got, name).ravel()),
                                       pd.Series(getattr(expected, name).ravel()))


def test_missing_dask_gives_a_one_line_error(monkeypatch, capsys):
    import builtins

    from simulate.cli import main

    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name == "dask" or name.startswith("dask.") or name == "distributed":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    code = main(["power", str(DEFAULT), "--backend", "dask", "--replicates", "10"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'trialsim[distributed]'" in err and len(err.strip().splitlines()) == 1
