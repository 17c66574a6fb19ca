"""Giving freed memory back to the operating system after a burst (1,000 SSE clients leaving).

CPython's small-object allocator keeps each of its 1 MiB arenas while a single object in it
lives, so after a burst of short-lived objects most of their memory stays with the process (it
is reused by the next burst, not lost). What the C allocator (glibc) holds free can be returned
with `malloc_trim`, after a full collection has emptied Python's free lists and any cycles the
burst left. With `PYTHONMALLOC=malloc` in the server's environment every Python object comes from
glibc, and this returns nearly all of a burst's memory (measured in bench/events.py).
"""

from __future__ import annotations

import ctypes
import functools
import gc
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:  # the symbols the process already has (no library search: that would start ldconfig)
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc: nothing to do
    return trim


def release_free_memory() -> None:
    """A full collection, then return what the C allocator holds free to the system. Stalls
    the event loop as long as a full collection takes (tens of milliseconds with 10,000 jobs):
    call it once after a crowd has gone, never per request."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
