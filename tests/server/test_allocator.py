"""The allocator thresholds a worker sets: buffers below the mmap threshold come from the
heap and stay there for the next render, instead of being mapped and unmapped each time.

Each case runs in a fresh interpreter: glibc's thresholds are per process and slide with
what the process has done so far.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

MiB = 1 << 20

#: Allocates and frees ten buffers of 4 MiB and more, each half a MiB larger than the last
#: (as renders of larger pictures ask for larger buffers); reports how many were mapped
#: whole (mallinfo2's hblks while each is held) and the page faults the loop took.
PROBE = textwrap.dedent(
    """
    import ctypes, json, resource, sys
    from glimpse.server import allocator

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.mallinfo2.restype = MallInfo2
    tuned = allocator.tune(int(sys.argv[1]), int(sys.argv[2]))
    mapped = 0
    held = libc.mallinfo2().hblks
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for step in range(10):
        size = (4 << 20) + step * (512 << 10)
        block = libc.malloc(size)
        ctypes.memset(block, 1, size)
        mapped += libc.mallinfo2().hblks - held
        libc.free(block)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(json.dumps({"tuned": tuned, "mapped": mapped, "faults": faults}))
    """
)


def probe(mmap_threshold: int, trim_threshold: int) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(mmap_threshold), str(trim_threshold)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module", autouse=True)
def glibc() -> None:
    if "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""):
        pytest.skip("mallopt and mallinfo2 are glibc's")


PAGES = (4 * MiB + 9 * MiB // 2) // 4096  # of the largest buffer


def test_with_glibcs_defaults_each_larger_buffer_is_mapped_and_faulted_in_whole() -> None:
    found = probe(0, 0)
    assert found["tuned"]
    # glibc's sliding threshold only rises to the size of a mapped buffer once it is
    # freed, so each larger one is mapped again, and unmapped again when freed.
    assert found["mapped"] == 10
    assert found["faults"] > 5 * PAGES


def test_raised_thresholds_keep_the_buffers_in_the_heap() -> None:
    found = probe(16 * MiB, 64 * MiB)
    assert found["tuned"]
    assert found["mapped"] == 0
    # The heap grows to the largest buffer once; the others reuse its pages.
    assert found["faults"] < 1.5 * PAGES
