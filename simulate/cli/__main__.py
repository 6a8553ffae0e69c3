"""``python -m simulate.cli``: the ``trialsim`` command."""

import sys

from simulate.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
