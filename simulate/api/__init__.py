"""trialsim's public API: every name here is re-exported by ``simulate`` and is stable
within a major version (see the documentation's "API stability"); the modules beneath are the
package's own."""

from simulate.api.common import load_scenario, shipped_scenarios
from simulate.api.figures import power_curve, report_figure
from simulate.api.functions import calibrate, power, sample_size, validate
from simulate.api.results import (CalibrationResult, CohortResult, PowerResult, Result, RunResult, SampleSizeResult,
                                  SweepResult, TrialResult)
from simulate.api.writing import cohort, run, sweep, trial

__all__ = [
    "load_scenario", "shipped_scenarios", "validate", "power", "sample_size", "sweep", "trial", "cohort", "run", "calibrate",
    "power_curve", "report_figure",
    "Result", "PowerResult", "SampleSizeResult", "SweepResult", "TrialResult", "CohortResult", "RunResult",
    "CalibrationResult",
]
