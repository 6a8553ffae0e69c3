"""scipy.special, imported without loading the numpy submodules a run never uses.

Importing scipy.special (scipy 1.17) builds an array-API copy of the numpy namespace, which reads
every attribute numpy exports and so imports numpy.f2py (Fortran wrapping), numpy.testing,
numpy.ma and others that a power run never uses: up to 50 ms of every cold start. Those not
imported yet are registered first as lazy modules (the standard library's
:class:`importlib.util.LazyLoader`): each is loaded in full the first time anything reads from it,
so nothing changes for code that does use them.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy

_UNUSED = ("numpy.f2py", "numpy.ctypeslib")
"""numpy submodules the array-API copy touches that nothing trialsim runs (or imports) uses."""
_USED_BY_OTHERS = ("numpy.testing", "numpy.ma", "numpy.polynomial", "numpy.char", "numpy.rec", "numpy.strings")
"""Those that pandas, matplotlib or statsmodels read when they load, possibly on two threads at
once (the teaching lab loads them in the background): deferred only where the standard
library's lazy loading is thread-safe (Python 3.12.3 on; on 3.11 a second thread can find the
module half loaded)."""
THREAD_SAFE_LAZY_LOADING = sys.version_info >= (3, 12, 3)


def _defer(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)   # what a real import does, so numpy.<child> finds it


for _name in _UNUSED + (_USED_BY_OTHERS if THREAD_SAFE_LAZY_LOADING else ()):
    if _name not in sys.modules:
        _defer(_name)

from scipy import special  # noqa: E402

__all__ = ["special"]
