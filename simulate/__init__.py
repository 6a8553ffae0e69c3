"""trialsim: simulate randomised clinical trials, from synthetic patients to Monte Carlo power.

The public API (stable within a major version)::

    import simulate
    sc = simulate.load_scenario("nct04743739")
    simulate.power(sc, replicates=2000)          # a PowerResult: .power, .to_frame(), .summary()

Every error trialsim raises on purpose is a :class:`TrialSimError` whose message is the line
the ``trialsim`` command prints.
"""

__version__ = "0.2.0"

from simulate.api import (CalibrationResult, CohortResult, PowerResult, Result, RunResult,  # noqa: E402
                          SampleSizeResult, SweepResult, TrialResult, calibrate, cohort, load_scenario, power,
                          power_curve, report_figure, run, sample_size, shipped_scenarios, sweep, trial,
                          validate)
from simulate.design.scenario import Scenario  # noqa: E402
from simulate.errors import (OutputError, ResourceError, ScenarioError, TrialSimError,  # noqa: E402
                             UsageError)
from simulate.version import code_hash, version_line  # noqa: E402

__all__ = [
    "__version__", "load_scenario", "shipped_scenarios", "validate", "power", "sample_size", "sweep", "trial", "cohort", "run",
    "calibrate", "power_curve", "report_figure", "Scenario", "Result", "PowerResult", "SampleSizeResult",
    "SweepResult", "TrialResult", "CohortResult", "RunResult", "CalibrationResult", "TrialSimError",
    "ScenarioError", "UsageError", "OutputError", "ResourceError", "code_hash", "version_line",
]
