"""The exceptions trialsim raises: one root, specific subclasses.

The CLI turns any ``TrialSimError`` into one line per problem on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TrialSimError(Exception):
    """Root of every error trialsim raises on purpose."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ScenarioError(TrialSimError):
    """A scenario file, an override or a sweep grid is not valid. One line per problem."""


class UsageError(TrialSimError):
    """A command-line option has a value outside its allowed range."""


class OutputError(TrialSimError):
    """An output location cannot be written (read-only, under a file, or another run's file)."""


class ResourceError(TrialSimError):
    """Work that cannot fit the memory budget, or would pass the time limit: refused before it
    starts (see ``simulate.run.plan``)."""
