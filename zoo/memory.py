"""Resident memory of this process, as the kernel's OOM killer sees it, and the budgets the suite keeps.

Peaks are per test: writing ``5`` to ``/proc/self/clear_refs`` resets the kernel's high-water mark
(``VmHWM``), so the peak read after a test is that test's own, not the worker's lifetime maximum
(``ru_maxrss`` never goes down, and one heavy test would mark every later test of its worker).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

MIB = 2**20
GIB = 2**30

# a test's peak resident memory may not exceed its budget (the run guard fails it, naming both).
# 6 GB per test keeps two workers under half of the 24 GiB target machine, with room for the OS,
# the controller and page cache; published cases hold full datasets' loaders and published-size
# models, and run on machines sized for them.
DEFAULT_BUDGET_GB = 6.0
PUBLISHED_BUDGET_GB = 32.0
# what -n auto leaves to the controller, the OS and page cache before dividing memory into workers
RESERVED_GB = 2.0

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_MEMINFO = Path("/proc/meminfo")


def _kib_field(path: Path, name: str) -> int | None:
    try:
        match = re.search(rf"^{name}:\s+(\d+) kB", path.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def rss_bytes() -> int | None:
    """Resident memory now (None where /proc is not Linux's)."""
    return _kib_field(_STATUS, "VmRSS")


def peak_bytes() -> int | None:
    """Resident high-water mark since the last ``reset_peak()`` (or since the process started)."""
    return _kib_field(_STATUS, "VmHWM")


def reset_peak() -> bool:
    """Restart the high-water mark at the current resident size; False where the kernel refuses."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def release() -> None:
    """Collect reference cycles and hand freed heap pages back to the kernel (glibc's malloc_trim):
    without it a worker keeps the high-water mark of its largest test as resident memory, and every
    later test starts from there."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def total_bytes() -> int | None:
    return _kib_field(_MEMINFO, "MemTotal")


def available_bytes() -> int | None:
    return _kib_field(_MEMINFO, "MemAvailable")


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def auto_worker_count(cpus: int, available: int | None, budget_gb: float = DEFAULT_BUDGET_GB,
                      reserved_gb: float = RESERVED_GB) -> int:
    """Workers for ``-n auto``: one per core, but no more than the available memory holds at one
    test budget each after the reserve (a 16 GiB laptop gets 2 workers, not 8 that OOM together)."""
    if available is None:
        return max(1, cpus)
    by_memory = int((available / GIB - reserved_gb) // budget_gb)
    return max(1, min(cpus, by_memory))


def mb(value: int | None) -> float | None:
    return None if value is None else round(value / MIB, 1)
