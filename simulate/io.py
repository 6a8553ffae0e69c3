"""Writes that lose nothing: every file goes to a temporary name beside it, then is renamed.

An output location that cannot be written is the user's to fix: it raises
:class:`~simulate.errors.OutputError` (one line naming the path), checked before any work
starts by :func:`check_writable` and again by every write.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from simulate.errors import OutputError

RUN_MARKER = "run.json"
"""The file ``trialsim run`` writes with its results: a folder holding it belongs to a run."""
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")
"""The name :func:`write_bytes_atomic` gives a file while writing it: ``.<final name>.<8 random>.tmp``."""


def temporary_of(name: str) -> str | None:
    """The final file name a temporary file of the atomic writer was written for, or None if
    ``name`` is not one of its temporary names."""
    m = TEMPORARY.match(name)
    return m["name"] if m else None


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def check_writable(folder: str | Path, label: str, shown: str | Path | None = None) -> Path:
    """Fail now, with one line, if files cannot be written into ``folder`` (created later if
    missing): a path under a file, a folder that is a file, or a read-only location. The line
    quotes ``shown`` (the path the user gave, e.g. a file in that folder) if given."""
    folder = Path(folder)
    given = Path(shown) if shown is not None else folder
    try:
        probe = folder
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            where = "is a file" if probe == given else f"is under '{probe}', which is a file"
            raise OutputError(f"{label}: got '{given}'; it {where}, not a folder")
        readonly = hasattr(os, "statvfs") and bool(os.statvfs(probe).f_flag & getattr(os, "ST_RDONLY", 1))
    except OSError as err:                     # e.g. a folder on the way that may not be looked into
        raise OutputError(f"{label}: got '{given}'; cannot be reached ({err.strerror or err})") from None
    if readonly or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{label}: got '{given}'; '{probe}' is not writable; choose another location")
    _try_to_create(folder, probe, label, given)
    return folder


def _try_to_create(folder: Path, existing: Path, label: str, given: Path) -> None:
    """Create the missing folders from ``existing`` down to ``folder`` and remove them again: some
    places refuse new folders that the permission bits allow (/proc, /sys), so only trying tells."""
    missing = []
    part = folder
    while part != existing and part.parent != part:
        missing.append(part)
        part = part.parent
    made = []
    try:
        for part in reversed(missing):
            part.mkdir()
            made.append(part)
    except OSError as err:
        raise OutputError(f"{label}: got '{given}'; cannot create '{part}' ({err.strerror or err}); "
                          "choose another location") from None
    finally:
        for part in reversed(made):
            part.rmdir()


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    try:
        return _write_bytes_atomic(path, data)
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({err.strerror or err})") from None


def _write_bytes_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def write_csv_atomic(path: str | Path, frame) -> Path:
    """A DataFrame as CSV (no index)."""
    return write_text_atomic(path, frame.to_csv(index=False))


def json_ready(obj: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN and infinities to None (null)."""
    import math

    import numpy as np

    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    return obj


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
