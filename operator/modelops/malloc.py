"""glibc malloc settings for the operator: a long-running process that churns through numpy temporaries.

Why: glibc serves every allocation above 128 KB with a fresh mmap and hands freed heap back
to the kernel as soon as 128 KB sit free at its top. A DriftMonitor evaluation of 1,000
features x 20 buckets makes a few dozen 160 KB temporaries, so each was fresh memory: about
240 page faults, a third of the evaluation's time (bench/drift.py prints both figures).
Fixed thresholds keep them in the heap. The arena count is capped too: every arena keeps its
own free memory, and an asyncio operator needs few (kopf's thread pool, the API client).

glibc only; elsewhere (musl, macOS) nothing changes. A setting the user made through the
environment (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) is left as is.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

SETTINGS: dict[str, tuple[int, int]] = {  # environment variable: (mallopt parameter, value)
    "MALLOC_MMAP_THRESHOLD_": (M_MMAP_THRESHOLD, 4 * 1024 * 1024),  # larger blocks still get their own mapping
    "MALLOC_TRIM_THRESHOLD_": (M_TRIM_THRESHOLD, 16 * 1024 * 1024),  # at most this much free heap is kept
    "MALLOC_ARENA_MAX": (M_ARENA_MAX, 2),
}


def tune() -> dict[str, int]:
    """Apply SETTINGS through mallopt; returns what was set (empty when not on glibc)."""
    libc = _libc()
    if libc is None:
        return {}
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied: dict[str, int] = {}
    for variable, (parameter, value) in SETTINGS.items():
        if variable in os.environ:
            continue
        if mallopt(parameter, value) == 1:
            applied[variable] = value
        else:
            log.warning("mallopt(%s=%d) was refused", variable, value)
    return applied


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError on other C libraries
    except (OSError, AttributeError):
        return None
    return libc
