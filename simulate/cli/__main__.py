"""``python -m simulate.cli``: the ``trialsim`` command."""

import sys

from simulate.cli.commands import main

sys.exit(main())
