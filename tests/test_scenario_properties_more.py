"""Property (continued from test_scenario_properties.py, whose drawing, commands and checks these
are): a scenario that ``trialsim validate`` accepts runs to the end. In a file of its own so that
a second test process shares the drawn scenarios (``pytest -n``, each file on one process)."""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings

from test_scenario_properties import (EXAMPLES, MANY, PROPERTY, Command, forked, scenario_overrides,  # noqa: F401
                                      validate_then_run)


@pytest.mark.slow
@settings(max_examples=15, **PROPERTY)
@given(overrides=scenario_overrides())
def test_a_valid_scenario_runs_to_the_end(overrides: list[str], tmp_path_factory, forked: Command) -> None:
    event(validate_then_run(overrides, tmp_path_factory.mktemp("run"), trialsim=forked))


@pytest.mark.slow
@settings(max_examples=max(1, EXAMPLES // 2), **PROPERTY)
@given(**MANY)
def test_more_valid_scenarios_run_to_the_end(overrides: list[str], main_job: bool, tmp_path_factory,
                                             forked: Command) -> None:
    """The other half of the longer run (test_a_valid_scenario_runs_to_the_end_many), a quarter
    of them also through the main job."""
    event(validate_then_run(overrides, tmp_path_factory.mktemp("run"), main_job, trialsim=forked))
