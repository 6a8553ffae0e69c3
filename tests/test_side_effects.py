"""Importing or calling simulate leaves the caller's process as it was: the modules it had
(none replaced, no stand-ins), numpy's attributes and error state, the warnings filters, the
logging handlers, the signal handlers and the environment. New real modules may be imported.

A library imported for the first time may add a warnings filter for a warning class of its own
(scipy.special does): that is the library's doing, and allowed; any other change of the filters
is reported."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

PROBE = r"""
import json, logging, os, signal, sys, types, warnings
import numpy

def state():
    return {
        "modules": dict(sys.modules),
        "numpy": dict(vars(numpy)),
        "numpy_errors": numpy.geterr(),
        "filters": list(warnings.filters),
        "handlers": list(logging.getLogger().handlers),
        "level": logging.getLogger().level,
        "signals": {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)},
        "environ": dict(os.environ),
    }

def own_filter(f, before):
    # a filter for a warning class of a library imported since `before` (not simulate)
    home = getattr(f[2], "__module__", "builtins")
    return not home.startswith(("simulate", "builtins", "warnings")) and home not in before["modules"]

def changes(before, after, when):
    out = []
    for name, module in before["modules"].items():
        if after["modules"].get(name) is not module:
            out.append(f"{when}: sys.modules[{name!r}] replaced or removed")
    for name, module in after["modules"].items():
        new = before["modules"].get(name) is not module
        if type(module).__module__.startswith("simulate") or (new and not isinstance(module, types.ModuleType)):
            out.append(f"{when}: sys.modules[{name!r}] is a stand-in ({type(module).__qualname__})")
    for name, value in before["numpy"].items():
        if after["numpy"].get(name, object()) is not value:
            out.append(f"{when}: numpy.{name} replaced or removed")
    kept = [f for f in after["filters"] if f in before["filters"]]
    added = [f for f in after["filters"] if f not in before["filters"]]
    if kept != before["filters"] or any(own_filter(f, before) is False for f in added):
        out.append(f"{when}: filters changed")
    for key in ("numpy_errors", "handlers", "level", "signals", "environ"):
        if before[key] != after[key]:
            out.append(f"{when}: {key} changed")
    return out

start = state()
import simulate
from simulate.design.loader import load_scenario
from simulate.run.power import estimate_power
imported = state()
problems = changes(start, imported, "import")
scenario = load_scenario("nct04743739")
for jobs in (1, None):                       # one thread; this process's threads
    result = estimate_power(scenario, replicates=40, seed=7, jobs=jobs)
ran = state()
problems += changes(imported, ran, "estimate_power")
shiny = False
try:
    import shiny  # noqa: F401
    shiny = True
except ImportError:
    pass
if shiny:
    from simulate.design.loader import resolve_scenario
    from simulate.teach.app import build_app
    before_app = state()
    build_app(resolve_scenario("nct04743739"), scenario)
    problems += changes(before_app, state(), "build_app")
print(json.dumps({"problems": problems, "power": result.power, "shiny": shiny}))
"""


def test_importing_and_running_simulate_changes_nothing_process_wide() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    assert 0.0 <= report["power"] <= 1.0                 # the run did run


def test_the_probe_sees_a_stand_in_and_a_filter() -> None:
    """The check above can fail: a stand-in module and a process-wide warnings filter, put in
    place by the probe itself, are both reported."""
    planted = PROBE.replace("start = state()\n", "start = state()\n"
                            "class Standin(types.ModuleType): pass\n"
                            "Standin.__module__ = 'simulate.standin'\n"
                            "sys.modules['numpy.planted'] = Standin('numpy.planted')\n"
                            "warnings.filterwarnings('ignore', message='planted')\n")
    out = subprocess.run([sys.executable, "-c", planted], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    problems = json.loads(out.stdout.strip().splitlines()[-1])["problems"]
    assert "import: sys.modules['numpy.planted'] is a stand-in (Standin)" in problems
    assert "import: filters changed" in problems
