"""The budget work is planned against: memory (``--max-memory``) and wall time (``--max-minutes``).

The memory budget is a share of the memory available when the command starts, never above the
same share of a limit set on the process (a container's cgroup, ``ulimit -v``); the time limit
is a default a user raises. Both may come from the environment instead of a flag.
"""

from __future__ import annotations

import math
import os

from simulate.errors import ResourceError

MEMORY_SHARE = 0.5
"""Default budget: this share of the memory available when the command starts."""
FALLBACK_MEMORY_BYTES = 4 << 30
"""Budget where the available memory cannot be read."""
MEMORY_ENV = "TRIALSIM_MAX_MEMORY"
TIME_ENV = "TRIALSIM_MAX_MINUTES"
DEFAULT_MAX_MINUTES = 30.0
"""Work estimated to take longer is refused until the limit is raised (--max-minutes)."""

def _available_bytes() -> int | None:
    """Memory available now (Linux: MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_bytes() -> int | None:
    """The memory limit of this process's control group (a container's), if any."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path, encoding="ascii").read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def _rlimit_bytes() -> int | None:
    """This process's own address-space or data limit (``ulimit -v``, ``prlimit``), if set."""
    try:
        import resource
    except ImportError:                        # not a Unix system
        return None
    limits = []
    for which in (resource.RLIMIT_AS, getattr(resource, "RLIMIT_DATA", None)):
        if which is None:
            continue
        soft, _ = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    return min(limits) if limits else None


def parse_bytes(text: str, label: str) -> int:
    """``"2G"``, ``"512M"``, ``"1.5GiB"``, ``"2000000000"`` -> bytes (powers of 1024)."""
    units = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    s = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    number = s.rstrip("KMGT")
    unit = s[len(number):]
    try:
        value = float(number) * units[unit]
    except (ValueError, KeyError):
        value = math.nan
    if not math.isfinite(value) or value < 64 << 20 or value > 1 << 50:
        raise ResourceError(f"{label}: got {text!r}; must be a size such as 2G, 512M or 1.5GiB, at least 64M")
    return int(value)


def parse_minutes(text: str, label: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ResourceError(f"{label}: got {text!r}; must be a number of minutes > 0, e.g. 120")
    return value


def memory_budget(max_memory: str | int | None = None) -> tuple[int, str]:
    """(bytes, where it comes from): ``--max-memory``, else :data:`MEMORY_ENV`, else
    :data:`MEMORY_SHARE` of the memory available now; never above a limit set on the process."""
    if max_memory is not None:
        budget = max_memory if isinstance(max_memory, int) else parse_bytes(max_memory, "--max-memory")
        source = "--max-memory"
    elif os.environ.get(MEMORY_ENV):
        budget, source = parse_bytes(os.environ[MEMORY_ENV], MEMORY_ENV), MEMORY_ENV
    else:
        available = _available_bytes()
        budget = int(MEMORY_SHARE * available) if available else FALLBACK_MEMORY_BYTES
        source = f"{MEMORY_SHARE:.0%} of the memory available"
    for cap, what in ((_cgroup_bytes(), "the container's memory limit"), (_rlimit_bytes(), "the process's memory limit")):
        if cap is not None and cap * MEMORY_SHARE < budget:
            budget, source = int(cap * MEMORY_SHARE), f"{MEMORY_SHARE:.0%} of {what}"
    return budget, source


def time_limit(max_minutes: str | float | None = None) -> tuple[float, str]:
    """(seconds, where it comes from): ``--max-minutes``, else :data:`TIME_ENV`, else the default."""
    if max_minutes is not None:
        return 60 * parse_minutes(max_minutes, "--max-minutes"), "--max-minutes"
    if os.environ.get(TIME_ENV):
        return 60 * parse_minutes(os.environ[TIME_ENV], TIME_ENV), TIME_ENV
    return 60 * DEFAULT_MAX_MINUTES, "the default"
