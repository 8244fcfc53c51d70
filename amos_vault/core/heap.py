"""The process's heap, where the C library is glibc: freed memory handed back to the system.

A long-lived process (the daemon, an application holding `ActiveMirror`) allocates and frees
arrays of a few MB with every commit, and glibc would otherwise keep what they leave. Where
the C library is not glibc these functions do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from typing import Any

# glibc's mallopt parameter for the size from which a block is mapped on its own.
M_MMAP_THRESHOLD = -3
# Blocks of this size or more are mapped apart and given back when freed.
LARGE_BLOCK = 1 << 20


@functools.cache
def _libc() -> Any:
    """The C library the process runs on (None when it cannot be loaded)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def return_freed_memory() -> None:
    """Give the heap's free pages back to the system.

    Loading the model frees about 60 MB of graph-building memory that glibc would otherwise
    keep for the life of the process (measured); a sync frees what its changes took.
    """
    with contextlib.suppress(AttributeError):
        _libc().malloc_trim(0)


def map_large_blocks_apart() -> None:
    """Have glibc map every block of `LARGE_BLOCK` or more on its own.

    glibc raises that threshold each time such a block is freed, up to 32 MB, and then puts
    the index's per-commit arrays (a few MB each at 120k chunks) in the heap, where the holes
    they leave pile up: a daemon at 120k chunks grew from 257 to 810 MB over 200 one-message
    saves. With the threshold fixed, and the heap trimmed after each sync that changed
    something, the same saves leave it near 300 MB (measured; scripts/bench_daemon.py).
    """
    with contextlib.suppress(AttributeError):
        _libc().mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
