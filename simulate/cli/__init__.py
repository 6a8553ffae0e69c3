"""The ``trialsim`` command (:mod:`.commands`): parse, load, run, print. Nothing else."""

from simulate.cli.commands import cli, main  # noqa: F401
