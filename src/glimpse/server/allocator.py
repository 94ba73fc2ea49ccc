"""glibc's allocator, told to keep the memory a worker keeps asking for.

A rendition allocates and frees a few megabytes of pixel buffers on several
threads. With glibc's defaults each thread's arena gives the free top of its
heap back to the kernel and buffers past the (sliding) mmap threshold are
mapped and unmapped whole, so the next render faults the same pages in again:
about 600 page faults and several milliseconds of CPU per rendition, measured
on a worker rendering JPEGs. Raising both thresholds keeps that memory in the
heap for reuse. What is kept is bounded by what the worker already used at its
busiest, plus at most ``trim_threshold`` free at the top of each arena.

Only glibc has ``mallopt``; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

#: mallopt's parameter numbers, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def tune(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc's mmap and trim thresholds (bytes; 0 leaves that one as glibc has it).
    True when both asked-for values were set."""
    if not mmap_threshold and not trim_threshold:
        return True
    try:
        # The symbols already loaded into the process, libc's among them: looking the
        # library up by name would run ldconfig in every worker that starts.
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        log.debug("no mallopt here (not glibc); the allocator keeps its defaults")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = True
    for parameter, value in (
        (M_MMAP_THRESHOLD, mmap_threshold),
        (M_TRIM_THRESHOLD, trim_threshold),
    ):
        if value and mallopt(parameter, value) != 1:
            log.warning("the allocator refused threshold %d for parameter %d", value, parameter)
            done = False
    return done
