"""Which trialsim this is: its version (semantic: a result that moves at a fixed seed is a new
minor version at least, listed in CHANGELOG.md) and a hash of its own source, which tells two
copies of the same version apart (an edited checkout, a development build)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from simulate import __version__


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """A hash of trialsim's own source (every ``.py`` file of the package, with its path): the
    main job never reuses a piece computed by other code, and ``run.json`` records it."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent       # the simulate package
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def version_line() -> str:
    """What ``trialsim --version`` prints: ``trialsim 0.2.0 (code 1a2b3c4d5e6f7a8b)``."""
    return f"trialsim {__version__} (code {code_hash()})"
