"""The piece cache of the main job: each finished piece stored under ``.pieces/`` as its JSON,
keyed by the scenario's hash, the seed, the replicate count, the engine, trialsim's version and
a hash of its source. A re-run with the same inputs reuses finished pieces; a run killed midway
leaves no half-written file (every write is a rename); a different scenario, seed or code never
reuses a stale piece."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Callable, TypeVar

from simulate import __version__
from simulate.version import code_hash
from simulate.design import scenario as sc
from simulate.io import write_json_atomic
from simulate.run.results import Record

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)

PIECES = ("screening", "power", "oc_curve", "samplesize", "example_trial", "accrual", "remission_model")
"""The pieces of every run, each cached as ``.pieces/<piece>.json``; ``sweep``, ``interim`` and
``adjustment`` when the scenario has them."""


def piece_key(scenario: sc.Scenario, piece: str, seed: int, replicates: int, engine: str) -> str:
    text = json.dumps({"piece": piece, "scenario": sc.scenario_hash(scenario), "seed": seed,
                       "replicates": replicates, "engine": engine, "version": __version__,
                       "code": code_hash()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached(folder: Path, piece: str, key: str, kind: type[R], compute: Callable[[], R], timings: dict,
            what: str, tell: Callable[[str], None]) -> R:
    """The piece stored under ``folder/.pieces/`` if its key matches, else computed and stored.
    Either way the value is read back from its JSON, so a reused piece and a fresh one give the
    same tables byte for byte."""
    path = folder / ".pieces" / f"{piece}.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
            if stored["key"] == key:
                value = kind.from_json(stored["data"])
                log.info("reusing %s (key %s)", piece, key)
                tell(f"{what}: reused from an earlier run")
                timings[piece] = {"seconds": stored.get("seconds", 0.0), "reused": True}
                return value
        except (json.JSONDecodeError, OSError, KeyError, TypeError, ValueError) as err:
            log.info("not reusing %s: %s", piece, err)
    tell(f"{what} ...")
    log.info("computing %s", what)
    t0 = time.perf_counter()
    data = json.loads(json.dumps(compute().to_json(), allow_nan=False))
    seconds = time.perf_counter() - t0
    write_json_atomic(path, {"key": key, "seconds": seconds, "data": data})
    timings[piece] = {"seconds": seconds, "reused": False}
    return kind.from_json(data)
