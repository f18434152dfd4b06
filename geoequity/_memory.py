"""Giving a process' freed memory back to the OS (one rule for every place a run lets a
large part of its data go)."""

from __future__ import annotations

__all__ = ["trim_memory"]


def trim_memory() -> None:
    """Give the heap's free pages back to the OS (glibc's ``malloc_trim``; elsewhere
    nothing). The partitions' pieces arrive in the client's network thread as many
    buffers of a few MB; freed, they stay in that thread's heap and count towards the
    client's memory through the global steps that follow. Likewise the cells a run hands
    to the workers (:func:`geoequity.scenario.run`: 767 -> 489 MB on 561,000 cells)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):   # not glibc (macOS, Windows, musl)
        pass
