"""Large network reads for the image data the client and the fetcher stream.

httpcore reads a response 64 KiB at a time, and each read costs its HTTP/1.1
state machine tens of microseconds of Python: receiving a 1 GiB image took 1.9 s
of CPU that way, against 0.8 s with 1 MiB reads (loopback, same server). httpcore
has no option for it, so ``enlarge`` raises the read size of its HTTP/1.1
connections, process-wide. The size only caps what one read may return, so other
uses of httpx in the process see nothing but fewer, larger reads.
"""

from __future__ import annotations

import httpcore

READ_SIZE = 1 << 20


def enlarge() -> None:
    """Let httpcore's HTTP/1.1 connections read up to ``READ_SIZE`` bytes at a time."""
    for connection in (httpcore.HTTP11Connection, httpcore.AsyncHTTP11Connection):
        if connection.READ_NUM_BYTES < READ_SIZE:
            connection.READ_NUM_BYTES = READ_SIZE
