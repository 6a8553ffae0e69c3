"""The benchmark runner (benchmarks/run.py) reports what it promises: engine, size, seconds,
rate, memory of the process tree, goals; heavy benchmarks only on request."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_runner():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_small_run_reports_time_rate_and_memory(capsys) -> None:
    run = load_runner()
    code = run.main(["--only", "power_batch", "--only", "power_des", "--size", "100", "--repeat", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1)
    rows = {r["benchmark"]: r for r in out["results"]}
    assert rows["power_batch"]["engine"] == "batch" and rows["power_des"]["engine"] == "des"
    for r in rows.values():
        assert r["size"] == 100 and r["seconds"] > 0
        assert abs(r["rate_per_second"] - 100 / r["seconds"]) < 1e-6 * r["rate_per_second"]
        assert r["rss_peak_mb"] is None or r["rss_peak_mb"] > 10
    assert out["machine"]["cores"] >= 1


def test_heavy_benchmarks_run_only_on_request(capsys) -> None:
    run = load_runner()
    heavy = [n for n, b in run.BENCHMARKS.items() if b.heavy]
    assert heavy == ["power_batch_million", "cold_teach"]   # the lab's cold start needs the teach extra
    assert run.BENCHMARKS["power_batch_million"].goal_mb == 1024.0
    run.main(["--list"])
    listing = capsys.readouterr().out
    assert "power_batch_million" in listing and "heavy" in listing


def test_a_missed_memory_goal_fails() -> None:
    run = load_runner()
    r = run.Result("x", "batch", 10, "trials", 1.0, None, 2048.0, 5.0, 1024.0)
    assert not r.passed
    assert run.Result("x", "batch", 10, "trials", 1.0, None, 512.0, 5.0, 1024.0).passed
