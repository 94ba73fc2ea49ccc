"""Bridges between the event loop and the synchronous core for streamed bodies.

Upload bodies arrive as many small ASGI messages; the service consumes a
synchronous iterator in a worker thread. ``BodyBridge`` gathers the messages
into blocks of about ``block_size`` bytes and hands them over through a bounded
queue, so the thread hop costs once per block and memory stays at a few blocks
whatever the image size. A slow body is handed over at least every
``flush_interval`` seconds while it flows, however little has come: the upload's
lease is renewed as blocks reach the service, and must hold while bytes flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from starlette.requests import ClientDisconnect

from glimpse.errors import ClientGone

BLOCK_SIZE = 1 << 20
QUEUE_DEPTH = 4
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
        self._queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(depth)
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
                    await self._queue.put(parts[0] if len(parts) == 1 else b"".join(parts))
                    parts, size = [], 0
                    handed = self._loop.time()
            if parts:
                await self._queue.put(b"".join(parts))
            await self._queue.put(None)
        except ClientDisconnect:
            await self._queue.put(ClientGone("The client closed the connection during the upload"))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # delivered to the reader, which fails the upload
            await self._queue.put(exc)

    def blocks(self) -> Iterator[bytes]:
        """Blocking iterator for a worker thread; raises what the pump met."""
        while True:
            item = asyncio.run_coroutine_threadsafe(self._queue.get(), self._loop).result()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
