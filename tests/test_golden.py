"""Back tests: each shipped scenario, run small with a fixed seed, reproduces its golden file.

A golden file records what the model produced when it was last deliberately changed. A failure
means the trials changed: if that was intended (a model or seed-tree change), regenerate with
``python tests/test_golden.py --update`` and commit the new files with the change.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulate.engines.des import example_trial  # noqa: E402
from simulate.run.power import estimate_power  # noqa: E402
from simulate.design.loader import load_scenario  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
SETTINGS = ["simulation.block_size=50"]
REPLICATES, SEED = 100, 1
KEYS = ("power", "rejections", "mean_randomised", "mean_dropouts", "p_recruitment_on_time", "p_terminated",
        "mean_duration_months", "mean_risk_difference", "ci_coverage")


def produce(path: Path) -> dict:
    s = load_scenario(path, SETTINGS)
    r = estimate_power(s, REPLICATES, SEED, 1, "batch").to_dict()
    trial = example_trial(s, SEED)
    return {
        "settings": {"overrides": SETTINGS, "replicates": REPLICATES, "seed": SEED, "engine": "batch"},
        "power": {k: r[k] for k in KEYS},
        "example_trial": {"consort": trial.consort, "n_events": len(trial.events), "n_visits": len(trial.visits),
                          "calendar": trial.calendar},
    }


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_reproduces_its_golden_file(path: Path) -> None:
    golden = GOLDEN / f"{path.stem}.json"
    assert golden.is_file(), f"no golden file for {path.name}: run python tests/test_golden.py --update"
    expected = json.loads(golden.read_text())
    got = json.loads(json.dumps(produce(path)))
    assert _close(got, expected), (
        f"{path.stem} no longer reproduces {golden.name}; if the change is intended, run "
        f"python tests/test_golden.py --update\ngot {got}\nexpected {expected}")


if __name__ == "__main__":
    if "--update" not in sys.argv:
        sys.exit("usage: python tests/test_golden.py --update")
    GOLDEN.mkdir(exist_ok=True)
    for p in SCENARIOS:
        (GOLDEN / f"{p.stem}.json").write_text(json.dumps(produce(p), indent=2) + "\n")
        print(f"wrote {GOLDEN / (p.stem + '.json')}")
