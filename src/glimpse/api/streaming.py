"""Bridges between the event loop and the synchronous core for streamed bodies.

Upload bodies arrive as many small ASGI messages; the service consumes a
synchronous iterator in a worker thread. ``BodyBridge`` gathers the messages
into blocks of about ``block_size`` bytes and hands them over through a
thread-safe queue, at most ``depth`` blocks ahead of the reader, so the thread
hop costs once per block and memory stays at a few blocks whatever the image
size. A slow body is handed over at least every ``flush_interval`` seconds
while it flows, however little has come: the upload's lease is renewed as
blocks reach the service, and must hold while bytes flow.

Blocks are small (256 KiB, where Granian delivers up to 408 KiB per message
when the length is known and 60 KiB per chunk of a chunked body): a message
that fills a block alone passes without a copy, and a worker's memory during
an upload grows by about 3 MiB instead of 10 with 1 MiB blocks. That is
affordable because a hop is cheap: the reader takes a block from a
``SimpleQueue`` and gives its place back with one ``call_soon_threadsafe``,
where a coroutine per block run with ``run_coroutine_threadsafe`` cost 0.4-0.8 s
more CPU per GiB with blocks this small (measured in-process, feeding 1 GiB through
the bridge and the digest into the file store). Small blocks still cost more than
1 MiB ones, 0.3-0.6 s of CPU per GiB on the project machine: the price of the memory.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterator

from starlette.requests import ClientDisconnect

from glimpse.errors import ClientGone

BLOCK_SIZE = 1 << 18
QUEUE_DEPTH = 2
#: Seconds at most between hand-overs while data comes (well under the shortest lease's third).
FLUSH_INTERVAL = 1.0


class BodyBridge:
    """Pump an async byte stream into a synchronous iterator of blocks."""

    def __init__(
        self,
        stream: AsyncIterator[bytes],
        block_size: int = BLOCK_SIZE,
        depth: int = QUEUE_DEPTH,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self._stream = stream
        self._block_size = block_size
        self._flush_interval = flush_interval
        self._handed: queue.SimpleQueue[bytes | BaseException | None] = queue.SimpleQueue()
        #: Places for blocks handed over and not yet taken by the reader.
        self._room = asyncio.Semaphore(depth)
        self._loop = asyncio.get_running_loop()

    async def pump(self) -> None:
        """Run on the event loop until the body ends; errors travel to the reader."""
        parts: list[bytes] = []
        size = 0
        handed = self._loop.time()
        try:
            async for chunk in self._stream:
                if not chunk:
                    continue
                parts.append(chunk)
                size += len(chunk)
                if size >= self._block_size or self._loop.time() - handed >= self._flush_interval:
                    await self._hand(parts[0] if len(parts) == 1 else b"".join(parts))
                    parts, size = [], 0
                    handed = self._loop.time()
            if parts:
                await self._hand(b"".join(parts))
            self._handed.put(None)
        except ClientDisconnect:
            self._handed.put(ClientGone("The client closed the connection during the upload"))
        except asyncio.CancelledError:
            # A reader still waiting must not wait for ever.
            self._handed.put(ClientGone("The upload was cancelled"))
            raise
        except BaseException as exc:  # delivered to the reader, which fails the upload
            self._handed.put(exc)

    async def _hand(self, block: bytes) -> None:
        await self._room.acquire()
        self._handed.put(block)

    def blocks(self) -> Iterator[bytes]:
        """Blocking iterator for a worker thread; raises what the pump met."""
        while True:
            item = self._handed.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            self._loop.call_soon_threadsafe(self._room.release)
            yield item
