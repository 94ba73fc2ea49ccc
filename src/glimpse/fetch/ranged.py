"""Reading an object by byte ranges: one resumable stream, or parallel parts.

A ``RangeReader`` opens ``[start, end)`` of the object (``end`` None: to its end,
and a read from 0 to the end is a plain GET) as a context of chunks; it raises
RangeUnsupported when the answer does not start at ``start``. Errors of the types in
``transient`` (a connection cut, a timeout, a 503) are interruptions: the stream is
opened again where it stopped (``Range: bytes=<offset>-``), up to
``Transfer.retries`` times with doubling pauses. A stream that ends early without
an error counts as an interruption too. A first read that cannot even be opened
(connection refused, no route) is no interruption: the handler fails at once and
the next one is tried; only a busy answer (``Busy``) is asked again then.

Large images are split into ``Transfer.parallel`` parts read at once, each resumed
on its own, all written into the preallocated temporary file; see ``sink.Assembly``
for how they are hashed in order. The first part is opened before the others: a
server that ignores ``Range`` answers it with the whole object, and the image is then
read in one stream instead.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Protocol

from glimpse.fetch.base import Transfer
from glimpse.fetch.errors import FetchError, RangeUnsupported
from glimpse.fetch.sink import Assembly, Sink

log = logging.getLogger(__name__)

#: Parts are at least this large...
PART_MIN = 8 << 20
#: ...and start on this alignment.
PART_ALIGN = 1 << 20


class RangeReader(Protocol):
    def __call__(self, start: int, end: int | None) -> AbstractContextManager[Iterator[bytes]]:
        """Bytes ``start`` to ``end - 1`` (to the end when ``end`` is None), as chunks."""


class Busy(Exception):
    """The server is busy or restarting (HTTP 429, 5xx): asked again like a cut connection."""


class _Stopped(Exception):
    """Another part failed; this one stops without an error of its own."""


def download(
    read: RangeReader,
    sink: Sink,
    size: int | None,
    transfer: Transfer,
    transient: tuple[type[BaseException], ...],
    what: str,
) -> str:
    """Read the whole object into ``sink``; how (``1 stream`` or ``N parts``)."""
    if size is not None and transfer.parallel > 1 and size >= transfer.parallel_min_size:
        parts = split(size, transfer.parallel)
        if len(parts) > 1:
            stack = contextlib.ExitStack()
            try:
                first = stack.enter_context(_open(read, 0, parts[0][1], False, transient, what))
            except RangeUnsupported:
                stack.close()
                log.info("%s does not serve byte ranges; reading one stream", what)
            else:
                _parallel(read, sink, parts, (stack, first), transfer, transient, what)
                return f"{len(parts)} parts"
    _stream(read, sink, size, transfer, transient, what)
    return "1 stream"


def split(size: int, parallel: int) -> list[tuple[int, int]]:
    """``[start, end)`` parts of about equal size, aligned, at least PART_MIN each."""
    count = max(1, min(parallel, size // PART_MIN))
    step = -(-size // count)
    step = -(-step // PART_ALIGN) * PART_ALIGN
    bounds = [*list(range(0, size, step)), size]
    return list(itertools.pairwise(bounds))


def _stream(
    read: RangeReader,
    sink: Sink,
    size: int | None,
    transfer: Transfer,
    transient: tuple[type[BaseException], ...],
    what: str,
) -> None:
    failures = 0
    while True:
        offset = sink.written
        try:
            with _open(read, offset, None, failures > 0 or offset > 0, transient, what) as chunks:
                for chunk in chunks:
                    sink.append(chunk)
        except transient as exc:
            failures = _interrupted(failures, transfer, what, offset, sink.written, exc)
            continue
        if size is None or sink.written >= size:
            return
        failures = _interrupted(failures, transfer, what, offset, sink.written, None)


def _parallel(
    read: RangeReader,
    sink: Sink,
    parts: list[tuple[int, int]],
    opened: tuple[contextlib.ExitStack, Iterator[bytes]],
    transfer: Transfer,
    transient: tuple[type[BaseException], ...],
    what: str,
) -> None:
    try:
        assembly = sink.assembly(parts)
    except BaseException:
        opened[0].close()
        raise
    stop = threading.Event()
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            _part(read, assembly, index, opened if index == 0 else None, stop, transfer, transient)
        except _Stopped:
            pass
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    try:
        with ThreadPoolExecutor(len(parts), "glimpse-fetch-part") as pool:
            for index in range(len(parts)):
                pool.submit(run, index)
    except BaseException:
        stop.set()
        assembly.stop()
        raise
    if errors:
        assembly.stop()
        error = errors[0]
        if isinstance(error, transient):
            raise FetchError(f"{what}: {describe(error)}") from None
        raise error
    assembly.finish()


def _part(
    read: RangeReader,
    assembly: Assembly,
    index: int,
    opened: tuple[contextlib.ExitStack, Iterator[bytes]] | None,
    stop: threading.Event,
    transfer: Transfer,
    transient: tuple[type[BaseException], ...],
) -> None:
    start, end = assembly.parts[index]
    failures = 0
    while assembly.cursors[index] < end:
        offset = assembly.cursors[index]
        try:
            with contextlib.ExitStack() as stack:
                if opened is not None:
                    stack.push(opened[0])
                    chunks, opened = opened[1], None
                else:
                    resuming = failures > 0 or offset > start
                    chunks = stack.enter_context(
                        _open(read, offset, end, resuming, transient, f"part {index}")
                    )
                for chunk in chunks:
                    if stop.is_set():
                        raise _Stopped
                    assembly.write(index, chunk)
        except transient as exc:
            failures = _interrupted(
                failures, transfer, f"part {index}", offset, assembly.cursors[index], exc
            )
            continue
        if assembly.cursors[index] < end:
            failures = _interrupted(
                failures, transfer, f"part {index}", offset, assembly.cursors[index], None
            )


@contextlib.contextmanager
def _open(
    read: RangeReader,
    start: int,
    end: int | None,
    resuming: bool,
    transient: tuple[type[BaseException], ...],
    what: str,
) -> Iterator[Iterator[bytes]]:
    """``read(start, end)``; a transient failure to open a first read is a FetchError."""
    try:
        opened = read(start, end)
        chunks = opened.__enter__()
    except transient as exc:
        if resuming or isinstance(exc, Busy):
            raise
        raise FetchError(f"{what}: {describe(exc)}") from None
    try:
        yield chunks
    except BaseException as exc:
        if not opened.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        opened.__exit__(None, None, None)


def _interrupted(
    failures: int,
    transfer: Transfer,
    what: str,
    began: int,
    reached: int,
    exc: BaseException | None,
) -> int:
    """Count an interruption; FetchError when there were too many, else wait and go on."""
    reason = describe(exc) if exc is not None else "the answer ended early"
    if reached > began:
        failures = 0  # progress was made: this is a new interruption, not a repeated one
    failures += 1
    if failures > transfer.retries:
        raise FetchError(f"{what}: {reason} (at byte {reached}; {transfer.retries} retries)")
    log.info("%s: %s at byte %d; resuming", what, reason, reached)
    time.sleep(transfer.backoff * (2 ** (failures - 1)))
    return failures


def describe(exc: BaseException) -> str:
    """A short reason: the exception's class and message, on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
