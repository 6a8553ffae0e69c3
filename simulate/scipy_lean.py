"""scipy.special, imported without loading the numpy submodules a run never uses.

Importing scipy.special (scipy 1.17) builds an array-API copy of the numpy namespace, which reads
every attribute numpy exports and so imports numpy.f2py (Fortran wrapping), numpy.testing,
numpy.ma and others that a power run never uses: up to 50 ms of every cold start. Those not
imported yet are first put in place as stand-ins that import the real module the first time
anything reads from them, and hand every read on to it; the real module then replaces the
stand-in in ``sys.modules`` and on numpy, so nothing changes for code that does use them.

The standard library's :class:`importlib.util.LazyLoader` does the same but is not thread-safe
before Python 3.12.3 (a second thread can find the module half loaded), and the teaching lab
loads libraries that read numpy.ma on background threads; hence this small stand-in, whose
first read imports through the ordinary import system, which makes other threads wait.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

import numpy

DEFERRED = ("numpy.f2py", "numpy.testing", "numpy.ma", "numpy.polynomial", "numpy.ctypeslib", "numpy.char",
            "numpy.rec", "numpy.strings")
"""numpy submodules the array-API copy touches that a power run does not otherwise need."""

_LOCK = threading.Lock()


class Deferred(types.ModuleType):
    """Stands in for a module not imported yet; the first attribute read imports it."""

    def __getattr__(self, attr: str):
        return getattr(self._load(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def _load(self) -> types.ModuleType:
        name = self.__name__
        with _LOCK:                               # the first reader takes the stand-in out
            if sys.modules.get(name) is self:
                del sys.modules[name]
        # the import system's own per-module lock makes any other thread wait for this import
        module = importlib.import_module(name)
        parent, _, child = name.rpartition(".")
        if getattr(sys.modules[parent], child, None) is self:
            setattr(sys.modules[parent], child, module)
        return module


def _defer(name: str) -> None:
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    stand_in = Deferred(name)
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, stand_in)   # numpy.<child> finds it, as after a real import


for _name in DEFERRED:
    _defer(_name)

from scipy import special  # noqa: E402

__all__ = ["special"]
